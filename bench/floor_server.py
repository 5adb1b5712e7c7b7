"""The floor: a plain stdio MCP server on the same ``mcp`` SDK that answers from memory.

It offers the same tool names as ``letswork channel`` and returns, for each, the exact text
letswork returned for the same call (captured by the harness into a JSON file), so the only
difference measured is what letswork adds: the channel's work, encryption, the hub and the disk.

Run: ``python bench/floor_server.py PAYLOADS.json``
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        payloads: dict[str, str] = json.load(f)

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        schema = {"type": "object", "additionalProperties": True}
        return types.ListToolsResult(
            tools=[types.Tool(name=k, input_schema=schema) for k in payloads]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        key = str((params.arguments or {}).get("_key", params.name))
        return types.CallToolResult(content=[types.TextContent(text=payloads[key])])

    server: Server[Any] = Server("floor", on_list_tools=list_tools, on_call_tool=call_tool)

    async def run() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    asyncio.run(run())


if __name__ == "__main__":
    main()
