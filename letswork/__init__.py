"""letswork: real-time collaboration on one codebase through each person's AI assistant.

The package has three parts (see ``docs/architecture.md``):

- :mod:`letswork.shared`: the pure protocol core (invite codes, handshake and record layer,
  message catalogue, errors, limits). No I/O.
- :mod:`letswork.hub`: the host's WebSocket server and workspace.
- :mod:`letswork.channel`: the per-user stdio MCP server.
"""

__version__ = "0.1.0"
