"""The tool list follows the role table; the hub, not the list, enforces it."""

from __future__ import annotations

from pathlib import Path

from tests.channel.mcp_support import invite_code, mcp_channel
from tests.support.hubs import make_project, running_hub

READING = {
    "ping",
    "get_status",
    "get_notifications",
    "list_files",
    "read_file",
    "search_files",
    "find_files",
    "stat_file",
    "set_display_name",
    # the collaboration layer, open to viewers
    "send_message",
    "get_messages",
    "mark_read",
    "board",
    "get_task",
    "get_var",
    "list_peers",
    "publish_card",
    "activity_log",
    "leave",
    # the host's commands: a command's roles decide who may run it (the hub checks)
    "list_commands",
    "run_command",
    "get_run",
    "list_runs",
    "cancel_run",
}
CHANGING = {
    "add_task",
    "plan",
    "claim_task",
    "unclaim_task",
    "update_task",
    "set_var",
    "delete_var",
    "write_file",
    "edit_file",
    "delete_file",
    "move_file",
    "lock_file",
    "unlock_file",
    "my_pending_changes",
    "update_change",
    "get_change",
}
DECIDING = {
    "get_pending_changes",
    "approve_change",
    "reject_change",
    "force_unlock",
    "approve_run",
    "deny_run",
}


async def test_viewer_editor_and_host_are_offered_the_tools_of_their_role(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        viewer_code = await invite_code(hub, "viewer", "vera")
        editor_code = await invite_code(hub, "editor", "eddie")
        async with (
            mcp_channel("--name", "vera", invite_code=viewer_code) as viewer,
            mcp_channel("--name", "eddie", invite_code=editor_code) as editor,
            mcp_channel("--host", "--project", str(project)) as host,
        ):
            assert await viewer.tool_names() == READING
            assert await editor.tool_names() == READING | CHANGING
            assert await host.tool_names() == READING | CHANGING | DECIDING


async def test_every_tool_has_a_description_a_closed_schema_and_annotations(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with (
        running_hub(project),
        mcp_channel("--host", "--project", str(project)) as host,
    ):
        tools = (await host.session.list_tools()).tools
    for tool in tools:
        assert tool.description and len(tool.description) > 40, tool.name
        assert tool.input_schema["type"] == "object"
        assert tool.input_schema["additionalProperties"] is False, tool.name
        assert tool.annotations is not None
        # issue 18: only what differs from the spec's defaults; a writer says if it destroys
        assert tool.annotations.open_world_hint is False
        if not tool.annotations.read_only_hint:
            assert tool.annotations.destructive_hint is not None, tool.name
    by_name = {t.name: t for t in tools}
    assert by_name["read_file"].annotations.read_only_hint is True  # type: ignore[union-attr]
    assert by_name["delete_file"].annotations.destructive_hint is True  # type: ignore[union-attr]
    assert by_name["read_file"].input_schema["properties"]["limit"]["maximum"] == 100_000


async def test_a_guest_calling_host_or_editor_tools_by_name_is_refused_by_the_hub(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        editor_code = await invite_code(hub, "editor", "eddie")
        viewer_code = await invite_code(hub, "viewer", "vera")
        async with (
            mcp_channel("--name", "eddie", invite_code=editor_code) as editor,
            mcp_channel("--name", "vera", invite_code=viewer_code) as viewer,
        ):
            assert "approve_change" not in await editor.tool_names()
            assert "write_file" not in await viewer.tool_names()
            approve = await editor.call("approve_change", {"id": "abcd1234"})
            unlock = await editor.call("force_unlock", {"path": "notes.txt"})
            write = await viewer.call("write_file", {"path": "notes.txt", "content": "x\n"})
    for answer in (approve, unlock, write):
        assert answer.is_error
        assert answer.text.startswith("forbidden: ")
        assert "Next step:" in answer.text
    assert (project / "notes.txt").read_text(encoding="utf-8") == "alpha\nbeta\ngamma\n"
