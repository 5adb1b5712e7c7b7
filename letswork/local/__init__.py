"""This machine's state: the state directory and its secret files
(:mod:`letswork.local.statedir`), and the running hub's address (:mod:`letswork.local.hubinfo`)."""
