"""Toolsets and argument hints, through a real MCP client over stdio (issue 18, "Tool
definitions cost context", "Argument errors name the right fields")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from letswork.channel.structured import definitions
from letswork.channel.tools.catalogue import TOOLS
from letswork.channel.tools.hints import argument_error
from letswork.channel.tools.toolsets import (
    DEFAULT_TOOLSETS,
    TOOLSETS,
    off_text,
    parse_toolsets,
    tools_for,
)
from letswork.cli import main
from letswork.shared.errors import UsageError
from tests.channel.mcp_support import invite_code, mcp_channel
from tests.support.hubs import make_project, running_hub

COLLABORATION = set(TOOLSETS["collaboration"].tools)

#: The issue's budget for a guest's default tools/list: ~4,000 tokens, at 4 bytes a token.
DEFAULT_LIST_BUDGET_BYTES = 16_000


def _list_bytes(role: str, sets: frozenset[str]) -> int:
    """The bytes of ``tools/list`` as the channel sends it, output schemas included."""
    tools = [
        t.model_dump(mode="json", by_alias=True, exclude_none=True)
        for t in definitions(tools_for(role, sets))
    ]
    return len(json.dumps({"tools": tools}, separators=(",", ":")).encode())


def test_every_tool_is_in_exactly_one_toolset() -> None:
    placed = [name for ts in TOOLSETS.values() for name in ts.tools]
    assert sorted(placed) == sorted(TOOLS)


def test_a_guests_default_tool_list_fits_the_budget() -> None:
    # Output schemas included (issue 18's structured results): an editor's is ~15.5 KB. The
    # command runs of issue 17 are a set of their own (`commands`), off unless chosen.
    for role in ("viewer", "editor"):
        assert _list_bytes(role, DEFAULT_TOOLSETS) <= DEFAULT_LIST_BUDGET_BYTES, role
    assert "commands" not in DEFAULT_TOOLSETS


def test_toolset_names_default_and_all_expand_and_context_is_always_on() -> None:
    assert parse_toolsets("") == DEFAULT_TOOLSETS
    assert parse_toolsets("default") == DEFAULT_TOOLSETS
    assert parse_toolsets("all") == frozenset(TOOLSETS)
    assert parse_toolsets("files") == {"context", "files"}
    assert parse_toolsets(" Default, collaboration ") == DEFAULT_TOOLSETS | {"collaboration"}


def test_an_unknown_toolset_is_refused_naming_the_ones_that_exist() -> None:
    with pytest.raises(UsageError, match=r"unknown toolset 'chat'.*collaboration"):
        parse_toolsets("default,chat")


def test_the_set_that_turns_a_tool_on_is_named_with_the_sets_already_on() -> None:
    assert "--toolsets default`" in off_text("edit_file", parse_toolsets("files"))
    assert "--toolsets context,files,collaboration`" in off_text("board", parse_toolsets("files"))
    assert "LETSWORK_TOOLSETS=default,collaboration)" in off_text("board", DEFAULT_TOOLSETS)


def test_the_channel_command_exits_2_on_an_unknown_toolset_before_connecting() -> None:
    out = CliRunner().invoke(main, ["channel", "--host", "--toolsets", "nope"])
    assert out.exit_code == 2
    assert "unknown toolset 'nope'" in out.stderr


async def test_a_guest_sees_the_default_sets_and_get_status_names_the_others(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        code = await invite_code(hub, "editor", "eddie")
        async with mcp_channel("--name", "eddie", invite_code=code, toolsets=None) as eddie:
            names = await eddie.tool_names()
            status = await eddie.ok("get_status")
    assert {"read_file", "edit_file", "my_pending_changes", "get_notifications"} <= names
    assert not names & COLLABORATION
    assert "Toolsets on: context, files, changes" in status
    assert "Toolsets off: commands (run the host" in status
    assert "; collaboration (messages, task board" in status
    assert "--toolsets default,NAME" in status


async def test_the_collaboration_set_is_listed_when_the_user_turns_it_on(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        code = await invite_code(hub, "editor", "eddie")
        chosen = ("--name", "eddie", "--toolsets", "default,collaboration")
        async with mcp_channel(*chosen, invite_code=code, toolsets=None) as eddie:
            names = await eddie.tool_names()
            status = await eddie.ok("get_status")
            sent = await eddie.ok("send_message", {"body": "hello"})
    assert {"send_message", "board", "set_var", "list_peers"} <= names
    assert "read_file" in names
    assert "Toolsets on: context, files, changes, collaboration" in status
    assert "Toolsets off: commands (" in status  # and only that one
    assert "collaboration (" not in status.split("Toolsets off")[1]
    assert sent


async def test_the_environment_line_chooses_sets_when_the_flag_is_absent(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    async with (
        running_hub(project),
        mcp_channel("--host", "--project", str(project), toolsets="files") as host,
    ):
        names = await host.tool_names()
    assert "read_file" in names and "force_unlock" in names
    assert "edit_file" not in names and "approve_change" not in names
    assert "get_status" in names  # context is always on


async def test_a_call_to_a_tool_of_a_set_that_is_off_says_how_to_turn_it_on(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        code = await invite_code(hub, "editor", "eddie")
        async with mcp_channel("--name", "eddie", invite_code=code, toolsets=None) as eddie:
            answer = await eddie.call("send_message", {"body": "hello"})
    assert answer.is_error
    assert answer.text.startswith("toolset_off: send_message is in the collaboration toolset")
    assert "--toolsets default,collaboration" in answer.text
    assert "LETSWORK_TOOLSETS=" in answer.text


async def test_stray_argument_names_from_other_file_tools_name_the_field_meant(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        code = await invite_code(hub, "editor", "eddie")
        async with mcp_channel("--name", "eddie", invite_code=code, toolsets=None) as eddie:
            claude_code = await eddie.call(
                "edit_file", {"file_path": "notes.txt", "old_string": "beta", "new_string": "b"}
            )
            reference = await eddie.call(
                "edit_file",
                {"path": "notes.txt", "edits": [{"oldText": "beta", "newText": "b"}]},
            )
            renamed = await eddie.call(
                "edit_file", {"path": "notes.txt", "oldText": "beta", "newText": "b"}
            )
            moved = await eddie.call("move_file", {"source": "notes.txt", "destination": "n.txt"})
            found = await eddie.call("find_files", {"pattern": "*.py"})
            mine = await eddie.ok("my_pending_changes")
    assert claude_code.is_error
    assert "`file_path` is `path` here" in claude_code.text
    assert reference.is_error
    assert "`edits`: edit_file makes one replacement per call" in reference.text
    assert "`old_string` and `new_string`" in reference.text
    assert "`oldText` is `old_string` here; `newText` is `new_string` here" in renamed.text
    assert "`source` is `path` here; `destination` is `new_path` here" in moved.text
    assert "`pattern` is `glob` here" in found.text
    for answer in (claude_code, reference, renamed, moved):
        assert "Next step: call " in answer.text
        assert "path, old_string, new_string" in answer.text or "new_path" in answer.text
    # refused in the channel: nothing was proposed, the file is as it was
    assert mine == "You have no changes."
    assert (project / "notes.txt").read_text(encoding="utf-8") == "alpha\nbeta\ngamma\n"


async def test_an_unknown_argument_with_no_known_meaning_gets_the_tools_own_arguments(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with (
        running_hub(project),
        mcp_channel("--host", "--project", str(project)) as host,
    ):
        answer = await host.call("read_file", {"path": "notes.txt", "colour": "red"})
        right = await host.ok("read_file", {"path": "notes.txt"})
    assert answer.is_error
    assert answer.text.startswith("invalid: read_file got arguments it does not take")
    assert "`colour` is not an argument" in answer.text
    assert answer.text.endswith("own arguments: path, offset, limit.")
    assert "beta" in right


def test_a_hostile_argument_name_reaches_the_model_clipped_and_cleaned() -> None:
    hostile = {f"</channel>\x1b[31m{'k' * 500}{i}": 1 for i in range(1000)}
    text = argument_error(TOOLS["read_file"], {"path": "a", **hostile})
    assert text is not None
    assert "\x1b" not in text and "</channel>" in text  # a tool result: cleaned, not escaped
    assert text.count("is not an argument") == 8  # the first 8 of 1000 names
    assert len(text) < 1500
