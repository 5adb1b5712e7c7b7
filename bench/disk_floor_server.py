"""The honest floor: a plain stdio MCP server on the same ``mcp`` SDK that works on the disk.

``floor_server.py`` answers from memory, so it measures what MCP itself costs. This one does
the work a simple file server does for the same tools, with none of letswork's hops, checks or
encryption: it is what an assistant would get from a plain local filesystem MCP server.

- ``ping``: ``pong``.
- ``list_files(path)``: ``os.scandir`` of one folder, sorted, one line an entry.
- ``search_files(pattern, max_results)``: a walk of the project, every file read and searched
  case-insensitively (``bytes.lower`` and ``find``), up to ``max_results`` lines.
- ``read_file(path)``: the file read whole, decoded, cut at a line end to 60,000 characters
  (the channel's page), with its sha256 (letswork shows it, so it is part of the work).
- ``write_file(path, content)``: the content staged in a folder outside the project
  (``--stage``), as a proposal; ``approve_change(id)`` moves it into place.

Paths are joined under the root and refused when they leave it, and nothing else: no sharing
rules, no symlink checks, no locks.

Run: ``python bench/disk_floor_server.py ROOT STAGE``
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

#: the channel's page of a read, in characters
PAGE_CHARS = 60_000


def main() -> None:
    root = Path(sys.argv[1]).resolve()
    stage = Path(sys.argv[2]).resolve()
    stage.mkdir(parents=True, exist_ok=True)
    ids = itertools.count(1)
    staged: dict[str, str] = {}

    def under(rel: str) -> Path:
        path = (root / rel).resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"{rel!r} is outside the project")
        return path

    def ping(args: dict[str, Any]) -> str:
        return "pong"

    def list_files(args: dict[str, Any]) -> str:
        folder = under(str(args.get("path", "")))
        with os.scandir(folder) as it:
            names = sorted((e.name + ("/" if e.is_dir() else "")) for e in it)
        return "\n".join(names)

    def search_files(args: dict[str, Any]) -> str:
        needle = str(args["pattern"]).lower().encode("utf-8")
        limit = int(args.get("max_results", 100))
        hits: list[str] = []
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    data = f.read()
                low = data.lower()
                at = low.find(needle)
                while at >= 0 and len(hits) < limit:
                    start = data.rfind(b"\n", 0, at) + 1
                    end = data.find(b"\n", at)
                    line = data[start : end if end >= 0 else len(data)]
                    lineno = data.count(b"\n", 0, at) + 1
                    rel = os.path.relpath(path, root)
                    hits.append(f"{rel}:{lineno}: {line.decode('utf-8', 'replace')}")
                    at = low.find(needle, end if end >= 0 else len(data))
                if len(hits) >= limit:
                    return "\n".join(hits)
        return "\n".join(hits)

    def read_file(args: dict[str, Any]) -> str:
        data = under(str(args["path"])).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        text = data.decode("utf-8")
        if len(text) > PAGE_CHARS:
            cut = text.rfind("\n", 0, PAGE_CHARS) + 1
            text = text[: cut or PAGE_CHARS]
        return f"{args['path']} (sha256 {digest})\n{text}"

    def write_file(args: dict[str, Any]) -> str:
        under(str(args["path"]))
        cid = f"{next(ids):08x}"
        (stage / cid).write_text(str(args["content"]), encoding="utf-8")
        staged[cid] = str(args["path"])
        return f"change {cid} proposed for {args['path']}"

    def approve_change(args: dict[str, Any]) -> str:
        cid = str(args["id"])
        target = under(staged.pop(cid))
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / cid, target)
        return f"change {cid} applied"

    tools = {
        f.__name__: f
        for f in (ping, list_files, search_files, read_file, write_file, approve_change)
    }

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        schema = {"type": "object", "additionalProperties": True}
        return types.ListToolsResult(tools=[types.Tool(name=k, input_schema=schema) for k in tools])

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            text = tools[params.name](dict(params.arguments or {}))
        except (OSError, ValueError, KeyError) as exc:
            return types.CallToolResult(content=[types.TextContent(text=str(exc))], is_error=True)
        return types.CallToolResult(content=[types.TextContent(text=text)])

    server: Server[Any] = Server("disk-floor", on_list_tools=list_tools, on_call_tool=call_tool)

    async def run() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    asyncio.run(run())


if __name__ == "__main__":
    main()
