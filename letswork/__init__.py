"""letswork: real-time collaboration on one codebase through each person's AI assistant.

The package has these parts (see ``docs/architecture.md``); imports only run downwards, in
this order, and ``tests/test_imports.py`` holds that:

- :mod:`letswork.cli`: the ``letswork`` command.
- :mod:`letswork.ui`: the host's terminal (dashboard, the one printer);
  :mod:`letswork.hub`: the host's WebSocket server and workspace;
  :mod:`letswork.channel`: the per-user stdio MCP server.
- :mod:`letswork.client`: the protocol client every local tool uses;
  :mod:`letswork.local`: this machine's state directory and the running hub's address.
- :mod:`letswork.shared`: the pure protocol core (invite codes, handshake and record layer,
  message catalogue, errors, limits). No I/O.
"""

__version__ = "4.0.0"
