"""The terminal: the host's dashboard (:mod:`letswork.ui.dashboard`), the one printer every
command writes through (:mod:`letswork.ui.printer`), and Claude Code set-up
(:mod:`letswork.ui.claude`)."""
