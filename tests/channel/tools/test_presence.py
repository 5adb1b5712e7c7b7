"""The presence tools through real channels (``channel/tools/presence.py``): ``publish_card``
needs the user's opt-in; ``leave`` ends the session for good."""

from __future__ import annotations

from pathlib import Path

from tests.channel.mcp_support import (
    guest_channel,
    invite_code,
    joined,
    mcp_channel,
    number_in,
    observer,
)
from tests.support.hubs import make_project, running_hub


async def test_publish_card_is_refused_without_the_users_opt_in_flag_and_sends_nothing(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub, guest_channel(hub, "alice", "editor") as alice:
        answer = await alice.call(
            "publish_card", {"opt_in": True, "client": "claude-code", "mcp_servers": ["gh"]}
        )
        peers = await alice.observer.call("list_peers")
        log = await alice.observer.call("activity_log", kind="card")
    assert answer.is_error
    assert answer.text.startswith("invalid: publishing a capability card needs the user's opt-in")
    assert "--publish-card" in answer.text
    assert all(p.get("card") is None for p in peers["peers"])
    assert log["entries"] == []


async def test_publish_card_with_the_flag_shows_the_card_and_refuses_absolute_paths(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        watcher = await observer(hub)
        code = await invite_code(hub, "editor", "alice")
        async with mcp_channel("--name", "alice", "--publish-card", invite_code=code) as alice:
            await joined(watcher, "alice")
            with_path = await alice.call(
                "publish_card", {"client": "claude-code", "mcp_servers": ["/home/alice/srv"]}
            )
            published = await alice.ok(
                "publish_card", {"client": "claude-code", "mcp_servers": ["github", "sentry"]}
            )
            peers = await watcher.call("list_peers")
            listed = await alice.ok("list_peers")
    assert with_path.is_error and with_path.text.startswith("invalid: ")
    assert "absolute path" in with_path.text
    assert "client claude-code; MCP servers: github, sentry" in published
    [card] = [p["card"] for p in peers["peers"] if p["name"] == "alice"]
    assert card == {"client": "claude-code", "mcp_servers": ["github", "sentry"]}
    assert "- alice (editor, you) · online · card: client claude-code" in listed


async def test_leave_summarises_and_the_channel_stays_disconnected(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub, guest_channel(hub, "alice", "editor") as alice:
        task = number_in(r"#(\d+)", await alice.ok("add_task", {"title": "half done"}))
        await alice.ok("claim_task", {"id": task})
        await alice.ok("lock_file", {"path": "notes.txt"})
        await alice.ok("send_message", {"body": "bye"})
        summary = await alice.ok("leave")
        left = await alice.observer.wait_event("peer_left", lambda d: d["name"] == "alice")
        after = await alice.call("ping")
        peers = await alice.observer.call("list_peers", offline=True)
        board = await alice.observer.call("board")
    assert summary.startswith("You left the letswork session.")
    assert "sent 1 message" in summary
    assert "Released now: 1 lock and 1 claimed task (back on the board)" in summary
    assert "will not reconnect" in summary
    assert left.data["reason"] == "left"
    assert after.is_error and after.text.startswith("unavailable: you left the letswork session")
    # Still a known person: listed as offline, no longer as a connection.
    assert [p["state"] for p in peers["peers"] if p["name"] == "alice"] == ["offline"]
    assert [t["id"] for t in board["open"]] == [task]
    joins = [
        e for e in alice.observer.events if e.name == "peer_joined" and e.data["name"] == "alice"
    ]
    assert len(joins) == 1
    assert not any(n.meta.get("state") == "disconnected" for n in alice.pushes.notes)


async def test_list_peers_tells_the_assistant_who_is_offline_and_since_when(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub, guest_channel(hub, "bob", "editor") as bob:
        alice = await hub.guest("alice")
        alice_id = alice.conn.hello["peer_id"]
        await alice.conn.close()
        await bob.observer.wait_event("peer_left", lambda d: d["peer_id"] == alice_id)
        listed = await bob.ok("list_peers")
    assert ", and 1 known guest offline:" in listed
    assert "- alice (editor) · offline since " in listed
    assert "(messages wait for them)" in listed
