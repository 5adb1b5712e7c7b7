"""The presence group over real connections: list_peers, capability cards, the activity log
and leaving."""

from __future__ import annotations

import pytest

from letswork.shared.errors import ErrorCode
from tests.hub.ops.helpers import error_code, task_changed
from tests.support.hubs import HubFixture

# ---------------------------------------------------------------------------- presence


async def test_list_peers_shows_roles_locks_claimed_tasks_and_cards(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    vera = await hub.guest("vera", "viewer")
    await alice.call("lock_file", path="notes.txt")
    task = (await alice.call("add_task", title="t"))["task"]
    await alice.call("claim_task", id=task["id"])
    card = {"opt_in": True, "client": "claude-code 2.1", "mcp_servers": ["github", "sentry"]}
    await alice.call("publish_card", **card)
    peers = {p["name"]: p for p in (await vera.call("list_peers"))["peers"]}
    assert set(peers) == {"alice", "vera"}
    me = peers["alice"]
    assert (me["role"], me["state"], me["idle_minutes"]) == ("editor", "online", 0)
    assert me["locks"] == ["notes.txt"]
    assert me["tasks"] == [task["id"]]
    assert me["card"] == {"client": "claude-code 2.1", "mcp_servers": ["github", "sentry"]}
    assert peers["vera"].get("card") is None
    assert peers["vera"]["role"] == "viewer"


async def test_idle_and_away_follow_the_time_of_the_last_request(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    bob = await hub.guest("bob")
    core = hub.hub.core
    assert core is not None
    [peer] = [p for p in core.peers.values() if p.name == "bob"]
    now = (await alice.call("ping"))["now"]
    peer.last_active = now - 5 * 60 - 1
    state = {p["name"]: p for p in (await alice.call("list_peers"))["peers"]}["bob"]
    assert (state["state"], state["idle_minutes"]) == ("idle", 5)
    peer.last_active = now - 16 * 60
    state = {p["name"]: p for p in (await alice.call("list_peers"))["peers"]}["bob"]
    assert state["state"] == "away"
    await bob.call("ping")  # a ping is not activity
    state = {p["name"]: p for p in (await alice.call("list_peers"))["peers"]}["bob"]
    assert state["state"] == "away"
    await bob.call("board")
    state = {p["name"]: p for p in (await alice.call("list_peers"))["peers"]}["bob"]
    assert state["state"] == "online"


async def test_a_card_needs_the_opt_in_flag(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    card = {"client": "claude-code", "mcp_servers": ["github"]}
    assert await error_code(alice.call("publish_card", opt_in=False, **card)) == ErrorCode.INVALID
    peers = (await alice.call("list_peers"))["peers"]
    assert peers[0].get("card") is None


@pytest.mark.parametrize(
    "servers",
    [["/home/me/mcp/server.js"], ["~/bin/tool"], ["C:\\Users\\me\\x"], ["fs --root /srv/data"]],
)
async def test_a_card_with_an_absolute_path_is_refused(hub: HubFixture, servers: list[str]) -> None:
    alice = await hub.guest("alice")
    code = await error_code(
        alice.call("publish_card", opt_in=True, client="x", mcp_servers=servers)
    )
    assert code == ErrorCode.INVALID


# ---------------------------------------------------------------------------- activity log


async def test_the_activity_log_hides_unshared_paths_from_guests(hub: HubFixture) -> None:
    host = await hub.host()
    alice = await hub.guest("alice")
    await host.call("write_file", path=".env", content="API_KEY=rotated\n")
    await alice.call("write_file", path="notes.txt", content="changed\n")
    await alice.call("add_task", title="visible to guests")
    host_view = await host.call("activity_log")
    assert {".env", "notes.txt"} <= {e.get("path") for e in host_view["entries"]}
    guest_view = await alice.call("activity_log")
    kinds = [(e["kind"], e.get("path")) for e in guest_view["entries"]]
    assert ("write_proposed", "notes.txt") in kinds
    assert ("task_add", None) in kinds
    assert all(path != ".env" for _, path in kinds)
    assert all(kind not in ("invite", "message") for kind, _ in kinds)
    filtered = await host.call("activity_log", actor="alice", kind="write_proposed", limit=1)
    [entry] = filtered["entries"]
    assert (entry["actor"], entry["path"]) == ("alice", "notes.txt")


# ---------------------------------------------------------------------------- leaving


async def test_leave_summarises_releases_locks_and_claims_and_closes_normally(
    hub: HubFixture,
) -> None:
    alice = await hub.guest("alice")
    host = await hub.host()
    await alice.call("write_file", path="notes.txt", content="proposal\n")
    await alice.call("write_file", path="README.md", content="rejected\n")
    pending = (await host.call("pending_changes"))["changes"]
    rejected = next(c["id"] for c in pending if c["path"] == "README.md")
    await host.call("reject_change", id=rejected)
    await alice.call("lock_file", path="src/app.py")
    task = (await alice.call("add_task", title="half done"))["task"]
    await alice.call("claim_task", id=task["id"])
    finished = (await alice.call("add_task", title="finished"))["task"]
    await alice.call("update_task", id=finished["id"], status="done")
    await alice.call("send_message", to="host", body="bye soon")

    summary = await alice.call("leave")
    assert summary == {
        "changes_proposed": 2,
        "changes_applied": 0,
        "changes_rejected": 1,
        "messages_sent": 1,
        "tasks_done": 1,
        "locks_released": 1,
        "tasks_released": 1,
    }
    await alice.conn.wait_disconnected()
    assert alice.conn.close_code == 1000
    released = await task_changed(host, task["id"], "released")
    assert released.data["task"]["status"] == "open"
    assert released.data["task"].get("assignee") is None
    await host.wait_event("lock_released", lambda d: d["reason"] == "left")
    left = await host.wait_event("peer_left", lambda d: d["name"] == "alice")
    assert left.data["reason"] == "left"
    locks = (await host.call("status"))["locks"]
    assert [lock["path"] for lock in locks] == ["notes.txt"]  # the pending change keeps its lock
