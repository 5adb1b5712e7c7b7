"""Identities as guests meet them through the real CLI and their real `letswork channel`
(issue 16): a name held by an offline identity, `kick` on a guest's changes and locks, and two
people on one `--uses 2` invite."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.channel.mcp_support import mcp_channel
from tests.cli.test_people import host, join, new_invite
from tests.support.hubs import make_project
from tests.support.processes import hub_process


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def test_join_under_the_name_of_an_offline_identity_is_refused_with_exit_1(
    project: Path,
) -> None:
    with hub_process(project, "--auto-admit"):
        code = new_invite(project, "--uses", "2")
        assert join(code, "alice", "a")[0] == 0  # join returns: alice is offline now
        squat = join(code, "Alice", "b")
        back = join(code, "alice", "a")  # alice herself, with her stored session
        status = json.loads(host(project, "status", "--json")[1])
    assert squat[0] == 1, squat[1]
    assert "someone in this session is already called 'Alice'" in squat[1]
    assert "invite accepted" not in squat[1]
    assert back[0] == 0, back[1]
    assert [p["name"] for p in status["offline"]] == ["alice"]


async def test_kick_through_the_cli_rejects_the_guests_changes_with_the_reason_and_frees_locks(
    project: Path,
) -> None:
    with hub_process(project, "--auto-admit"):
        code = new_invite(project)
        assert join(code, "alice", "a")[0] == 0
        async with mcp_channel("--session", "a") as alice:
            await alice.ok(
                "edit_file", {"path": "notes.txt", "old_string": "beta", "new_string": "B"}
            )
            await alice.ok("lock_file", {"path": "README.md"})
        before = await asyncio.to_thread(host, project, "pending", "--json")
        locked = await asyncio.to_thread(host, project, "status", "--json")
        kicked = await asyncio.to_thread(host, project, "kick", "alice", "--reason", "wrong one")
        after = await asyncio.to_thread(host, project, "pending", "--json")
        status = await asyncio.to_thread(host, project, "status", "--json")
        (change,) = json.loads(before[1])
        shown = await asyncio.to_thread(host, project, "diff", str(change["id"]))
    assert change["author"] == "alice" and change["path"] == "notes.txt"
    # her own lock, and the lock her pending change holds on its file
    assert sorted(lock["path"] for lock in json.loads(locked[1])["locks"]) == [
        "README.md",
        "notes.txt",
    ]
    assert kicked[0] == 0, kicked[2]
    assert json.loads(after[1]) == []
    assert json.loads(status[1])["locks"] == []
    assert " rejected " in shown[1]
    assert "reason: alice was removed from the session: wrong one" in shown[1]
    assert (project / "notes.txt").read_text() == "alpha\nbeta\ngamma\n"


async def test_two_people_joining_on_one_invite_for_two_each_get_only_their_own_messages(
    project: Path,
) -> None:
    with hub_process(project, "--auto-admit"):
        code = new_invite(project, "--uses", "2")
        assert join(code, "alice", "a")[0] == 0
        assert join(code, "bob", "b")[0] == 0
        offline = json.loads(host(project, "status", "--json")[1])["offline"]
        async with mcp_channel("--host", "--project", str(project)) as me:
            # both are offline: the hub keeps each message for its own person
            await me.ok("send_message", {"to": "alice", "body": "for alice only"})
            await me.ok("send_message", {"to": "bob", "body": "for bob only"})
        async with mcp_channel("--session", "a") as alice:
            await alice.ok("lock_file", {"path": "notes.txt"})
            alice_inbox = await alice.ok("get_messages")
            async with mcp_channel("--session", "b") as bob:
                bob_inbox = await bob.ok("get_messages")
                refused = await bob.call(
                    "edit_file", {"path": "notes.txt", "old_string": "beta", "new_string": "B"}
                )
    assert sorted(p["name"] for p in offline) == ["alice", "bob"]
    assert len({p["peer_id"] for p in offline}) == 2
    assert "for alice only" in alice_inbox and "for bob only" not in alice_inbox
    assert "for bob only" in bob_inbox and "for alice only" not in bob_inbox
    assert refused.is_error and "alice" in refused.text, refused.text
