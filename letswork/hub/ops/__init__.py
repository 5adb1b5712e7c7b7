"""The hub's handlers, one module per op group of :mod:`letswork.shared.protocol`; each
exports ``HANDLERS`` (op name -> handler), which :mod:`letswork.hub.core` assembles."""
