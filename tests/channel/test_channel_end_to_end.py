"""End to end: real MCP clients over stdio, `letswork channel` subprocesses, a real hub.

The project is a temporary copy of a real source tree: the installed `click` package.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import click

from tests.channel.mcp_support import change_id, invite_code, joined, mcp_channel, observer
from tests.support.hubs import copy_tree, running_hub


def _unique_line(text: str) -> str:
    """A line of ``text`` that occurs exactly once in it (as a substring, as edit_file needs)."""
    for line in text.splitlines(keepends=True):
        if len(line.strip()) > 30 and text.count(line) == 1:
            return line
    raise AssertionError("no unique line")


async def test_a_guest_reads_proposes_and_the_host_approves_one_change_and_rejects_the_other(
    tmp_path: Path,
) -> None:
    project = copy_tree(Path(click.__file__).parent, tmp_path / "click")
    core = (project / "core.py").read_text(encoding="utf-8")
    decorators_before = (project / "decorators.py").read_text(encoding="utf-8")
    async with running_hub(project) as hub:
        watcher = await observer(hub)
        code = await invite_code(hub, "editor", "alice")
        async with (
            mcp_channel("--name", "alice", invite_code=code) as guest,
            mcp_channel("--host", "--project", str(project)) as host,
        ):
            await joined(watcher, "alice")
            await joined(watcher, "host")

            listing = await guest.ok("list_files", {})
            assert "file  core.py" in listing
            assert "file  decorators.py" in listing

            page = await guest.ok("read_file", {"path": "core.py", "offset": 10, "limit": 5})
            header, body = page.split("\n", 1)
            lines = core.splitlines(keepends=True)
            assert f"lines 11-15 of {len(lines)}" in header
            assert f"sha256 {hashlib.sha256(core.encode()).hexdigest()}" in header
            assert "more lines follow: read_file offset=15" in header
            assert body == "".join(lines[10:15])

            found = await guest.ok("search_files", {"pattern": "class Context", "glob": "*.py"})
            assert "core.py:" in found
            names = await guest.ok("find_files", {"glob": "*.py"})
            assert "decorators.py" in names.splitlines()

            wrote = await guest.ok("write_file", {"path": "NOTES.md", "content": "hello\n"})
            assert "Proposed change" in wrote
            write_id = change_id(wrote)
            old = _unique_line(decorators_before)
            sha = hashlib.sha256(decorators_before.encode()).hexdigest()
            edited = await guest.ok(
                "edit_file",
                {
                    "path": "decorators.py",
                    "old_string": old,
                    "new_string": "# replaced by alice\n",
                    "base_sha256": sha,
                },
            )
            edit_id = change_id(edited)
            assert not (project / "NOTES.md").exists()

            pending = await host.ok("get_pending_changes", {})
            assert f"Change {write_id}: a write of NOTES.md by alice" in pending
            assert f"Change {edit_id}: an edit of decorators.py by alice" in pending
            assert "+hello" in pending
            assert "+# replaced by alice" in pending

            approved = await host.ok("approve_change", {"id": write_id})
            assert f"Change {write_id} is applied" in approved
            rejected = await host.ok("reject_change", {"id": edit_id, "reason": "not now"})
            assert f"Change {edit_id} is rejected" in rejected

            assert (project / "NOTES.md").read_text(encoding="utf-8") == "hello\n"
            assert (project / "decorators.py").read_text(encoding="utf-8") == decorators_before

            mine = await guest.ok("my_pending_changes", {})
            assert f"{write_id} [applied] a write of NOTES.md" in mine
            assert f"{edit_id} [rejected] an edit of decorators.py" in mine
            assert "reason: not now" in mine


async def test_twenty_concurrent_calls_from_one_client_each_get_their_own_answer(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for i in range(20):
        (project / f"f{i:02}.txt").write_text(f"file {i}\n" * (i + 1), encoding="utf-8")
    async with running_hub(project) as hub:
        code = await invite_code(hub, "viewer", "carol")
        async with mcp_channel("--name", "carol", invite_code=code) as guest:
            await guest.tool_names()  # returns once the hub has said hello back
            answers = await asyncio.gather(
                *(guest.call("read_file", {"path": f"f{i:02}.txt"}) for i in range(20))
            )
    for i, answer in enumerate(answers):
        assert not answer.is_error, answer.text
        header, body = answer.text.split("\n", 1)
        assert header.startswith(f"f{i:02}.txt · lines 1-{i + 1} of {i + 1}")
        assert body == f"file {i}\n" * (i + 1)
