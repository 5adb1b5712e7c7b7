"""The per-user stdio MCP server."""
