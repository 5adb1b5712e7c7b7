"""Structured tool results (issue 18): the tools a model or program acts on give an
``outputSchema`` (from the catalogue's result models) and ``structuredContent`` that validates
against it, through a real MCP client over stdio; their text content stays as it was."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import mcp_types as types

from letswork.channel.structured import STRUCTURED, output_schema, structured_content
from letswork.channel.tools.catalogue import TOOLS
from letswork.channel.tools.changes import MAX_DIFF_CHARS
from letswork.shared.protocol.catalogue import OPS
from letswork.shared.protocol.files import ReadFileResult, SearchFilesResult, SearchMatch
from letswork.shared.sanitize import MARKER
from tests.channel.mcp_support import WAIT, ChannelClient, guest_channel, mcp_channel
from tests.support.hubs import make_project, running_hub

#: One call of each structured tool, and the channel (host or editor) that makes it.
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "read_file": ("host", {"path": "notes.txt"}),
    "search_files": ("host", {"pattern": "return"}),
    "find_files": ("host", {"glob": "*.py"}),
    "list_files": ("host", {"recursive": True}),
    "get_status": ("host", {}),
    "get_pending_changes": ("host", {}),
    "my_pending_changes": ("editor", {}),
    "board": ("host", {}),
    "list_peers": ("host", {}),
}


async def _structured(client: ChannelClient, name: str, args: dict[str, Any]) -> Any:
    # The SDK's client checks structuredContent against the tool's outputSchema itself (it
    # raises otherwise); the test checks again with jsonschema, on the schema as listed.
    return await asyncio.wait_for(client.session.call_tool(name, args), WAIT)


async def test_each_structured_result_validates_against_the_output_schema_listed_for_it(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    results: dict[str, types.CallToolResult] = {}
    async with (
        running_hub(project) as hub,
        guest_channel(hub, "eddie", "editor") as editor,
        mcp_channel("--host", "--project", str(project)) as host,
    ):
        await editor.ok("write_file", {"path": "new.txt", "content": "x\n"})
        await host.ok("add_task", {"title": "Ship it"})
        schemas = {
            tool.name: tool.output_schema for tool in (await host.session.list_tools()).tools
        }
        for name, (who, args) in CALLS.items():
            results[name] = await _structured(host if who == "host" else editor, name, args)
    assert set(CALLS) == set(STRUCTURED)
    for name, result in results.items():
        assert result.is_error is False, name
        schema = schemas[name]
        assert schema is not None, name
        assert result.structured_content is not None, name
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.validate(result.structured_content, schema)
    assert [c["path"] for c in results["my_pending_changes"].structured_content["changes"]] == [
        "new.txt"
    ]
    assert results["board"].structured_content["open"][0]["title"] == "Ship it"
    assert "src/app.py" in results["find_files"].structured_content["paths"]


async def test_read_file_gives_path_lines_total_lines_sha256_and_truncated_and_its_text_as_before(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    (project / "long.txt").write_text("".join(f"line {i}\n" for i in range(10)), "utf-8")
    async with running_hub(project) as hub, guest_channel(hub, "vera", "viewer") as viewer:
        page = await _structured(viewer, "read_file", {"path": "long.txt", "limit": 4})
        text = await viewer.ok("read_file", {"path": "long.txt", "limit": 4})
    data = page.structured_content
    assert data is not None
    expected_sha = hashlib.sha256((project / "long.txt").read_bytes()).hexdigest()
    assert {k: data[k] for k in ("path", "lines", "total_lines", "sha256", "truncated")} == {
        "path": "long.txt",
        "lines": 4,
        "total_lines": 10,
        "sha256": expected_sha,
        "truncated": True,
    }
    assert "text" not in data  # the file's text is the text content, not sent twice
    assert page.content[0].text == text  # type: ignore[union-attr]
    assert text.startswith("long.txt · lines 1-4 of 10")
    assert text.endswith("line 3\n")


async def test_peer_text_in_structured_content_passes_through_the_cleaner(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    async with (
        running_hub(project),
        mcp_channel("--host", "--project", str(project)) as host,
    ):
        await host.ok("add_task", {"title": "Ship\u202eit\u200b now"})
        board = await _structured(host, "board", {})
    title = board.structured_content["open"][0]["title"]
    assert "\u202e" not in title and "\u200b" not in title
    assert title == f"Ship{MARKER}it{MARKER} now"


def test_every_output_schema_is_made_from_the_ops_result_model() -> None:
    for name in STRUCTURED:
        spec = TOOLS[name]
        schema = output_schema(spec)
        assert schema is not None and spec.op is not None
        model_fields = set(OPS[spec.op].result.model_fields)
        assert set(schema["properties"]) == model_fields - STRUCTURED[name], name
    assert output_schema(TOOLS["write_file"]) is None  # text only


def test_a_whole_page_from_an_older_hub_is_counted_as_the_text_shows_it() -> None:
    line = "x" * 99 + "\n"
    page = ReadFileResult(
        path="big.txt", text=line * 1000, sha256="0" * 64, offset=0, lines=1000,
        total_lines=1000, size=100_000, truncated=False,
    )  # fmt: skip
    data = structured_content(TOOLS["read_file"], page)
    assert data is not None
    assert data["lines"] == 600  # 60,000 characters of 100-character lines
    assert data["truncated"] is True


async def test_a_big_pending_diff_is_no_bigger_in_structured_content_than_in_the_text(
    tmp_path: Path,
) -> None:
    # The text cuts each diff to what one result shows (MAX_DIFF_LINES, MAX_DIFF_CHARS); the
    # structured copy of the same result must not carry the whole diff past that cut into
    # the assistant's context.
    project = make_project(tmp_path / "project")
    content = "".join(f"line {i} {'x' * 60}\n" for i in range(13_000))  # about 0.9 MB
    async with (
        running_hub(project) as hub,
        guest_channel(hub, "eddie", "editor") as editor,
        mcp_channel("--host", "--project", str(project)) as host,
    ):
        await editor.ok("write_file", {"path": "big.txt", "content": content})
        pending = await _structured(host, "get_pending_changes", {})
        mine = await _structured(editor, "my_pending_changes", {})
    [change] = pending.structured_content["changes"]
    assert change["diff"].startswith("--- ")
    assert len(change["diff"]) <= MAX_DIFF_CHARS + 200
    assert change["diff"].endswith("more diff lines not shown)")  # as the text says it
    [own] = mine.structured_content["changes"]
    assert own["diff"] is None or len(own["diff"]) <= MAX_DIFF_CHARS + 200
    text_size = sum(len(c.text) for c in pending.content)
    assert len(json.dumps(pending.structured_content)) < text_size + 10_000


def test_a_hostile_hubs_long_search_line_is_cut_in_structured_content_as_in_the_text() -> None:
    hidden = "a\u200b" * 200_000
    found = SearchFilesResult(
        matches=[SearchMatch(path="a.txt", line=1, text=hidden)], truncated=False, files_scanned=1
    )
    data = structured_content(TOOLS["search_files"], found)
    assert data is not None
    text = data["matches"][0]["text"]
    assert len(text) <= 300 and "\u200b" not in text
