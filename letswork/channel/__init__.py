"""The per-user stdio MCP server and its hub connection."""
