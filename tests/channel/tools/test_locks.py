"""The lock tools through real channels (``channel/tools/locks.py``): the reply to
``lock_file`` says until when the lock lasts and what ends it sooner (issue 16, item 2)."""

from __future__ import annotations

from pathlib import Path

from tests.channel.mcp_support import guest_channel, mcp_channel
from tests.support.hubs import make_project, running_hub


async def test_a_guests_lock_reply_says_the_lock_outlives_a_disconnect(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub, guest_channel(hub, "alice", "editor") as alice:
        text = await alice.ok("lock_file", {"path": "notes.txt"})
    assert text.startswith("You hold the lock on notes.txt until ")
    assert "It stays yours across a disconnect" in text
    assert "unlock_file or leave, or when the host breaks it or removes you" in text


async def test_the_hosts_lock_reply_says_the_lock_ends_with_its_connection(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with (
        running_hub(project),
        mcp_channel("--host", "--project", str(project)) as host,
    ):
        text = await host.ok("lock_file", {"path": "notes.txt"})
    assert "when this connection to the hub closes" in text
