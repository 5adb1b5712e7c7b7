"""Invariants of the hub that no other test held (issue 13, "Tests that must exist").

A mutation check of the security-critical code found that removing each of these checks left
the whole suite green. Each test here names the check it holds; docs/security.md has the
table of mutations and the tests that kill them. Real hubs on loopback port 0, real SQLite,
real protocol clients (and, for the gates before ``hello``, a client driven by hand).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from letswork.hub.core import HubCore, Job, Peer
from letswork.shared import crypto, invite
from letswork.shared.errors import ErrorCode, HandshakeError, OpError
from letswork.shared.limits import Limits
from letswork.shared.protocol.wire import Request, decode_request, encode_request
from tests.support.hubs import Client, HubFixture, running_hub

NOTES = "alpha\nbeta\ngamma\n"


async def refusal(client: Client, op: str, **args: Any) -> OpError:
    with pytest.raises(OpError) as info:
        await client.call(op, **args)
    return info.value


async def propose(client: Client, path: str, content: str) -> str:
    """A write proposal's change id."""
    result = await client.call("write_file", path=path, content=content)
    change_id: str = result["change"]["id"]
    return change_id


def db(fx: HubFixture) -> contextlib.closing[sqlite3.Connection]:
    """A second SQLite connection to the hub's state.db (the hub keeps its own open)."""
    return contextlib.closing(sqlite3.connect(fx.hub.state.db_path, isolation_level=None))


def statuses(fx: HubFixture) -> dict[str, str]:
    with db(fx) as conn:
        return dict(conn.execute("SELECT id, status FROM changes").fetchall())


# ---------------------------------------------------------------- one guest, another's change


async def test_a_guest_gets_not_found_for_another_guests_change_and_sees_its_own(
    hub: HubFixture,
) -> None:
    alice = await hub.guest("alice")
    bob = await hub.guest("bob")
    theirs = await propose(alice, "notes.txt", "alice's secret plan\n")
    mine = await propose(bob, "README.md", "bob\n")
    refused = await refusal(bob, "get_change", id=theirs)
    own = await bob.call("get_change", id=mine)
    assert refused.code == ErrorCode.NOT_FOUND
    assert "alice's secret plan" not in refused.message
    assert own["change"]["author"] == "bob" and "+bob" in own["change"]["diff"]


@pytest.mark.parametrize("op", ["reject_change", "approve_change"])
async def test_a_guest_cannot_decide_another_guests_change(hub: HubFixture, op: str) -> None:
    alice = await hub.guest("alice")
    bob = await hub.guest("bob")
    change_id = await propose(alice, "notes.txt", "alice\n")
    args: dict[str, Any] = {"id": change_id}
    if op == "reject_change":
        args["reason"] = "bob says no"
    refused = await refusal(bob, op, **args)
    assert refused.code == ErrorCode.FORBIDDEN
    assert statuses(hub) == {change_id: "pending"}
    assert (hub.project / "notes.txt").read_text() == NOTES


async def test_a_guests_list_and_count_of_changes_hold_only_its_own(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    bob = await hub.guest("bob")
    for path in ("notes.txt", "README.md"):
        await alice.call("write_file", path=path, content="alice\n")
    mine = await propose(bob, "src/app.py", "bob\n")
    listed = await bob.call("my_changes")
    status = await bob.call("status")
    queue = await refusal(bob, "pending_changes")
    assert [c["id"] for c in listed["changes"]] == [mine]
    assert status["pending"] == 1
    assert queue.code == ErrorCode.FORBIDDEN


async def test_a_conflict_of_one_guests_change_shows_its_diff_to_no_other_guest(
    hub: HubFixture,
) -> None:
    alice = await hub.guest("alice")
    bob = await hub.guest("bob")
    host = await hub.host()
    proposed = await alice.call("write_file", path="notes.txt", content="alice's secret plan\n")
    (hub.project / "notes.txt").write_text("the host moved on\n", encoding="utf-8")
    decided = await host.call("approve_change", id=proposed["change"]["id"])
    assert decided["change"]["status"] == "conflict"
    seen_by_bob = await bob.wait_event("change_decided")
    seen_by_alice = await alice.wait_event("change_decided")
    assert seen_by_bob.data["change"].get("diff") is None
    assert "alice's secret plan" not in json.dumps(seen_by_bob.data)
    assert "alice's secret plan" in seen_by_alice.data["change"]["diff"]


# ---------------------------------------------------------------- crash recovery and conflicts


async def propose_then_stop(project: Path, content: str) -> str:
    """A guest's pending change on notes.txt, in a hub that is then stopped; its id."""
    async with running_hub(project) as fx:
        alice = await fx.guest("alice")
        return await propose(alice, "notes.txt", content)


def mark_approved(state_db: Path, change_id: str) -> None:
    """What a crash between approve's commit and its write leaves: status ``approved``."""
    with contextlib.closing(sqlite3.connect(state_db, isolation_level=None)) as conn:
        conn.execute(
            "UPDATE changes SET status = 'approved', decided_at = 1, decided_by = 'host'"
            " WHERE id = ?",
            (change_id,),
        )


@contextlib.asynccontextmanager
async def crashed_mid_approval(
    project: Path, proposed: str, on_disk: str
) -> AsyncIterator[tuple[HubFixture, str]]:
    """A hub restarted after a crash left a change on notes.txt ``approved`` but unwritten,
    with ``on_disk`` in the file meanwhile."""
    change_id = await propose_then_stop(project, proposed)
    async with running_hub(project) as fx:
        state_db = fx.hub.state.db_path
    mark_approved(state_db, change_id)
    (project / "notes.txt").write_text(on_disk, encoding="utf-8")
    async with running_hub(project) as fx:
        yield fx, change_id


async def test_recovery_marks_an_approved_change_a_conflict_when_the_file_changed_meanwhile(
    project: Path,
) -> None:
    async with crashed_mid_approval(project, "alice\n", "the host moved on\n") as (fx, cid):
        host = await fx.host()
        change = (await host.call("get_change", id=cid))["change"]
    assert change["status"] == "conflict"
    assert "the host moved on" in change["diff"]
    assert (project / "notes.txt").read_text() == "the host moved on\n"


async def test_recovery_applies_an_approved_change_whose_file_still_has_its_base(
    project: Path,
) -> None:
    async with crashed_mid_approval(project, "alice\n", NOTES) as (fx, cid):
        host = await fx.host()
        change = (await host.call("get_change", id=cid))["change"]
    assert change["status"] == "applied"
    assert (project / "notes.txt").read_text() == "alice\n"


async def test_recovery_of_an_approved_change_already_on_disk_does_not_write_it_again(
    project: Path,
) -> None:
    change_id = await propose_then_stop(project, "alice\n")
    async with running_hub(project) as fx:
        state_db = fx.hub.state.db_path
    mark_approved(state_db, change_id)
    (project / "notes.txt").write_text("alice\n", encoding="utf-8")  # the write did happen
    inode = (project / "notes.txt").stat().st_ino
    async with running_hub(project) as fx:
        host = await fx.host()
        change = (await host.call("get_change", id=change_id))["change"]
    assert change["status"] == "applied"
    assert (project / "notes.txt").stat().st_ino == inode  # an atomic write makes a new inode


async def test_approving_a_conflict_again_writes_nothing_and_it_stays_a_conflict(
    hub: HubFixture,
) -> None:
    alice = await hub.guest("alice")
    host = await hub.host()
    change_id = await propose(alice, "notes.txt", "alice\n")
    (hub.project / "notes.txt").write_text("the host moved on\n", encoding="utf-8")
    first = await host.call("approve_change", id=change_id)
    # The file is back at the change's base: were the conflict treated as pending or
    # approved, approving again would now write it.
    (hub.project / "notes.txt").write_text(NOTES, encoding="utf-8")
    again = await host.call("approve_change", id=change_id)
    assert first["change"]["status"] == again["change"]["status"] == "conflict"
    assert statuses(hub) == {change_id: "conflict"}
    assert (hub.project / "notes.txt").read_text() == NOTES


# ---------------------------------------------------------------- protocol gates


@contextlib.asynccontextmanager
async def unhelloed(url: str, secret: bytes) -> AsyncIterator[tuple[ClientConnection, Any]]:
    """A connection past the handshake that has not sent ``hello``: (socket, session)."""
    async with connect(url, compression=None, max_size=None) as ws:
        hs = crypto.ClientHandshake(secret)
        await ws.send(hs.client_hello())
        reply = await ws.recv()
        assert isinstance(reply, bytes)
        finished, session = hs.receive_server_hello(reply)
        await ws.send(finished)
        yield ws, session


async def raw_call(ws: ClientConnection, session: Any, rid: int, op: str, **args: Any) -> Any:
    await ws.send(session.seal(encode_request(rid, op, args)))
    while True:
        frame = await ws.recv()
        assert isinstance(frame, bytes)
        message = json.loads(session.open(frame))
        if "event" not in message:
            assert message["id"] == rid
            return message


@pytest.mark.parametrize(
    ("op", "args"),
    [
        ("read_file", {"path": "notes.txt"}),
        ("write_file", {"path": "notes.txt", "content": "before hello\n"}),
        ("status", {}),
        ("ping", {}),
    ],
)
async def test_a_request_before_hello_is_refused_and_does_nothing(
    hub: HubFixture, op: str, args: dict[str, Any]
) -> None:
    async with unhelloed(hub.url, hub.invite_secret) as (ws, session):
        reply = await raw_call(ws, session, 1, op, **args)
        hello = await raw_call(ws, session, 2, "hello", name="late")
    assert reply["ok"] is False, reply
    assert reply["error"]["code"] == ErrorCode.INVALID
    assert "hello" in reply["error"]["message"]
    assert hello["ok"] is True  # the connection stays usable
    assert statuses(hub) == {}
    assert (hub.project / "notes.txt").read_text() == NOTES


async def test_the_host_key_too_must_say_hello_first(hub: HubFixture) -> None:
    async with unhelloed(hub.url, hub.host_secret) as (ws, session):
        reply = await raw_call(ws, session, 1, "create_invite", role="editor", label="x")
    assert reply["ok"] is False and reply["error"]["code"] == ErrorCode.INVALID
    host = await hub.host()
    assert [i["label"] for i in (await host.call("list_invites"))["invites"]] == ["first"]


@pytest.mark.parametrize(
    ("op", "args"),
    [
        ("read_file", {"path": "notes.txt"}),
        ("list_files", {"path": ""}),
        ("write_file", {"path": "notes.txt", "content": "while waiting\n"}),
        ("status", {}),
        ("send_message", {"body": "let me in"}),
        ("lock_file", {"path": "notes.txt"}),
    ],
)
async def test_ops_of_a_guest_awaiting_admission_are_refused_until_it_is_admitted(
    project: Path, op: str, args: dict[str, Any]
) -> None:
    async with running_hub(project, auto_admit=False) as fx:
        host = await fx.host()
        code = (await host.call("create_invite", role="editor", label="w"))["code"]
        waiting = await fx.connect(invite.parse(code).secret, "w")
        await host.wait_event("awaiting_admission", lambda d: d["name"] == "w")
        refused = await refusal(waiting, op, **args)
        pong = await waiting.call("ping")
        host_status = await host.call("status")
        messages = await host.call("get_messages")
    assert refused.code == ErrorCode.NOT_ADMITTED
    assert "now" in pong
    assert statuses(fx) == {}
    assert host_status["locks"] == []
    assert messages["messages"] == []
    assert (project / "notes.txt").read_text() == NOTES


async def test_a_resume_credential_is_refused_once_its_invite_is_revoked(hub: HubFixture) -> None:
    resume: list[bytes] = []
    host = await hub.host()
    code = (await host.call("create_invite", role="editor", label="alice"))["code"]
    alice = await hub.connect(invite.parse(code).secret, "alice", on_resume_secret=resume.append)
    await alice.conn.close()
    await host.call("revoke_invite", label="alice")
    with pytest.raises(HandshakeError):
        await hub.connect(resume[-1], "alice")


async def test_a_resume_credential_is_refused_when_only_its_parent_invite_is_marked_revoked(
    project: Path,
) -> None:
    """A hub that stopped between a revoke's two commits (the invite, then its guests) left
    the guest ``admitted`` under a revoked invite: the parent invite alone must refuse it."""
    resume: list[bytes] = []
    async with running_hub(project) as fx:
        host = await fx.host()
        code = (await host.call("create_invite", role="editor", label="alice"))["code"]
        await fx.connect(invite.parse(code).secret, "alice", on_resume_secret=resume.append)
        state_db = fx.hub.state.db_path
        invite_id = crypto.derive_invite_id(invite.parse(code).secret)
    with contextlib.closing(sqlite3.connect(state_db, isolation_level=None)) as conn:
        conn.execute("UPDATE invites SET revoked_at = 1 WHERE invite_id = ?", (invite_id,))
        [(state,)] = conn.execute("SELECT state FROM guests WHERE name = 'alice'").fetchall()
    assert state == "admitted"
    async with running_hub(project) as fx:
        with pytest.raises(HandshakeError):
            await fx.connect(resume[-1], "alice")


async def test_a_resume_credential_of_a_kicked_guest_is_refused(hub: HubFixture) -> None:
    resume: list[bytes] = []
    host = await hub.host()
    code = (await host.call("create_invite", role="editor", label="alice"))["code"]
    await hub.connect(invite.parse(code).secret, "alice", on_resume_secret=resume.append)
    await host.call("kick", name="alice")
    with pytest.raises(HandshakeError):
        await hub.connect(resume[-1], "alice")


@pytest.mark.parametrize("who", ["host", "guest"])
@pytest.mark.parametrize(
    ("op", "args"),
    [
        ("write_file", {"path": "link.txt", "content": "through the link\n"}),
        ("edit_file", {"path": "link.txt", "old_string": "beta", "new_string": "LINK"}),
        ("delete_file", {"path": "link.txt"}),
        ("move_file", {"path": "link.txt", "new_path": "moved.txt"}),
    ],
)
async def test_a_change_through_a_symlink_is_refused_and_its_target_is_untouched(
    hub: HubFixture, who: str, op: str, args: dict[str, Any]
) -> None:
    os.symlink("notes.txt", hub.project / "link.txt")
    client = await (hub.host() if who == "host" else hub.guest("alice"))
    refused = await refusal(client, op, **args)
    assert refused.code == ErrorCode.INVALID
    assert "symlink" in refused.message
    assert statuses(hub) == {}
    assert (hub.project / "notes.txt").read_text() == NOTES
    assert os.readlink(hub.project / "link.txt") == "notes.txt"
    assert not (hub.project / "moved.txt").exists()


@pytest.mark.parametrize("who", ["host", "guest"])
@pytest.mark.parametrize(
    ("op", "args"),
    [
        ("write_file", {"path": "src", "content": "a file now\n"}),
        ("write_file", {"path": "src/", "content": "a file now\n"}),
        ("edit_file", {"path": "src", "old_string": "x", "new_string": "y"}),
        ("delete_file", {"path": "src"}),
        ("move_file", {"path": "src", "new_path": "elsewhere"}),
    ],
)
async def test_a_change_to_a_folder_path_is_refused_and_the_folder_is_untouched(
    hub: HubFixture, who: str, op: str, args: dict[str, Any]
) -> None:
    client = await (hub.host() if who == "host" else hub.guest("alice"))
    refused = await refusal(client, op, **args)
    assert refused.code == ErrorCode.NOT_A_FILE
    assert statuses(hub) == {}
    assert (hub.project / "src" / "app.py").read_text().startswith("def main")
    assert not (hub.project / "elsewhere").exists()


async def test_approving_a_write_whose_path_became_a_folder_writes_nothing(
    hub: HubFixture,
) -> None:
    alice = await hub.guest("alice")
    host = await hub.host()
    change_id = await propose(alice, "new.txt", "alice\n")
    (hub.project / "new.txt").mkdir()
    (hub.project / "new.txt" / "inside.txt").write_text("host\n", encoding="utf-8")
    with pytest.raises(OpError) as info:
        await host.call("approve_change", id=change_id)
    assert info.value.code in (ErrorCode.NOT_A_FILE, ErrorCode.INVALID)
    assert statuses(hub)[change_id] != "applied"
    assert (hub.project / "new.txt" / "inside.txt").read_text() == "host\n"


# ---------------------------------------------------------------- found by the mutation pass
# Each test below kills a mutant that survived every other test (bench/mutants.py).


def core_of(fx: HubFixture) -> HubCore:
    core = fx.hub.core
    assert core is not None
    return core


def peer_named(fx: HubFixture, name: str) -> Peer:
    return next(p for p in core_of(fx).peers.values() if p.name == name)


def request(op: str, args: dict[str, Any]) -> Request:
    return decode_request(encode_request(1, op, args))


@pytest.mark.parametrize(
    ("op", "args"),
    [
        ("lock_file", {"path": "notes.txt"}),
        ("add_task", {"title": "after the kick"}),
        ("set_var", {"key": "after", "value": "the kick"}),
    ],
)
async def test_a_request_without_file_work_dispatched_after_a_kick_applies_nothing(
    hub: HubFixture, op: str, args: dict[str, Any]
) -> None:
    """The write of test_hub_event_loop.py is refused again after its file work; an op with
    no file work is refused only at dispatch, so only this holds that check."""
    host = await hub.host()
    await hub.guest("eve")
    core = core_of(hub)
    eve = peer_named(hub, "eve")
    await host.call("kick", name="eve")  # eve's request was already read from its socket
    with pytest.raises(OpError) as caught:
        core.handle(eve, request(op, args), 0.0)
    status = await host.call("status")
    board = await host.call("board")
    missing = await refusal(host, "get_var", key="after")
    assert caught.value.code == ErrorCode.FORBIDDEN
    assert status["locks"] == []
    assert json.dumps(board).count("after the kick") == 0
    assert missing.code == ErrorCode.NOT_FOUND


async def test_a_message_whose_quotes_were_read_before_its_sender_was_kicked_is_not_stored(
    hub: HubFixture,
) -> None:
    """The job's file work (reading the quoted lines) ends after the kick: resuming it on the
    loop must refuse. Driven step by step, since the server also cancels a removed peer's
    task, which would hide a missing check whenever the cancel came first."""
    host = await hub.host()
    await hub.guest("eve")
    core = core_of(hub)
    eve = peer_named(hub, "eve")
    refs = [{"path": "notes.txt", "start_line": 1}]
    job = core.begin(eve, request("send_message", {"body": "sent in flight", "refs": refs}), 0.0)
    assert isinstance(job, Job)
    quoted = await asyncio.to_thread(job.work)
    await host.call("kick", name="eve")
    with pytest.raises(OpError) as caught:
        job.resume(quoted)
    messages = await host.call("get_messages", include_read=True)
    assert caught.value.code == ErrorCode.FORBIDDEN
    assert all(m["body"] != "sent in flight" for m in messages["messages"])


async def test_a_revoked_invite_cannot_connect_again(hub: HubFixture) -> None:
    host = await hub.host()
    code = (await host.call("create_invite", role="editor", label="gone"))["code"]
    await host.call("revoke_invite", label="gone")
    with pytest.raises(HandshakeError):
        await hub.connect(invite.parse(code).secret, "late")


async def test_a_resuming_guest_is_refused_when_the_session_is_full(project: Path) -> None:
    resume: list[bytes] = []
    async with running_hub(project, auto_admit=False, limits=Limits(max_peers=1)) as fx:
        host = await fx.host()
        alice_code = (await host.call("create_invite", role="editor", label="a"))["code"]
        alice = await fx.connect(
            invite.parse(alice_code).secret, "alice", on_resume_secret=resume.append
        )
        await host.wait_event("awaiting_admission", lambda d: d["name"] == "alice")
        await host.call("admit", name="alice")
        await alice.conn.wait_admitted(timeout=10)
        peer_id = alice.conn.hello["peer_id"]
        await alice.conn.close()
        await host.wait_event("peer_left", lambda d: d["peer_id"] == peer_id)
        bob_code = (await host.call("create_invite", role="editor", label="b"))["code"]
        bob = await fx.connect(invite.parse(bob_code).secret, "bob")
        await host.wait_event("awaiting_admission", lambda d: d["name"] == "bob")
        await host.call("admit", name="bob")
        await bob.conn.wait_admitted(timeout=10)
        with pytest.raises(OpError) as full:
            await fx.connect(resume[-1], "alice")
    assert full.value.code == ErrorCode.QUOTA_EXCEEDED


async def test_a_guest_over_its_pending_change_count_is_refused(project: Path) -> None:
    limits = Limits(max_pending_per_guest=2, max_pending_total=4)
    async with running_hub(project, limits=limits) as fx:
        alice = await fx.guest("alice")
        bob = await fx.guest("bob")
        for i in range(2):
            await propose(alice, f"a{i}.txt", "x\n")
        over = await refusal(alice, "write_file", path="a2.txt", content="x\n")
        other = await propose(bob, "b.txt", "x\n")  # a per-guest cap: bob still may
    assert over.code == ErrorCode.QUOTA_EXCEEDED
    assert sorted(statuses(fx).values()) == ["pending"] * 3
    assert other in statuses(fx)


async def test_a_guest_over_its_pending_bytes_is_refused(project: Path) -> None:
    limits = Limits(max_pending_bytes_per_guest=64 * 1024)
    async with running_hub(project, limits=limits) as fx:
        alice = await fx.guest("alice")
        await propose(alice, "a.txt", "x" * 40_000)
        over = await refusal(alice, "write_file", path="b.txt", content="y" * 40_000)
        small = await propose(alice, "c.txt", "z\n")
    assert over.code == ErrorCode.QUOTA_EXCEEDED
    assert len(statuses(fx)) == 2 and small in statuses(fx)


async def test_a_guest_does_not_see_guests_waiting_for_admission(project: Path) -> None:
    async with running_hub(project, auto_admit=False) as fx:
        host = await fx.host()
        code = (await host.call("create_invite", role="editor", label="a"))["code"]
        alice = await fx.connect(invite.parse(code).secret, "alice")
        await host.wait_event("awaiting_admission", lambda d: d["name"] == "alice")
        await host.call("admit", name="alice")
        await alice.conn.wait_admitted(timeout=10)
        other = (await host.call("create_invite", role="editor", label="w"))["code"]
        await fx.connect(invite.parse(other).secret, "waiting-one")
        await host.wait_event("awaiting_admission", lambda d: d["name"] == "waiting-one")
        seen_by_alice = await alice.call("status")
        seen_by_host = await host.call("status")
    assert "waiting-one" not in [p["name"] for p in seen_by_alice["peers"]]
    assert "waiting-one" in [p["name"] for p in seen_by_host["peers"]]


async def test_rejecting_an_applied_change_is_refused_and_the_file_stays(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    host = await hub.host()
    change_id = await propose(alice, "notes.txt", "alice\n")
    await host.call("approve_change", id=change_id)
    refused = await refusal(host, "reject_change", id=change_id, reason="too late")
    assert refused.code == ErrorCode.ALREADY_DECIDED
    assert statuses(hub) == {change_id: "applied"}
    assert (hub.project / "notes.txt").read_text() == "alice\n"


async def test_a_guest_gets_no_event_about_an_unshared_path(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    host = await hub.host()
    await host.call("write_file", path="debug.log", content="ignored by .gitignore\n")
    await host.call("lock_file", path=".env")
    await host.call("write_file", path="notes.txt", content="shared\n")
    await alice.wait_event("file_changed", lambda d: d["path"] == "notes.txt")
    await host.wait_event("file_changed", lambda d: d["path"] == "debug.log")
    paths = [json.dumps(e.data) for e in alice.events]
    assert not [p for p in paths if "debug.log" in p or ".env" in p]


async def test_a_viewer_cannot_be_trusted(hub: HubFixture) -> None:
    await hub.guest("vera", role="viewer")
    host = await hub.host()
    refused = await refusal(host, "trust", name="vera")
    assert refused.code == ErrorCode.INVALID
    assert core_of(hub).store.list_guests()[0].trusted is False


async def test_a_guests_move_onto_an_existing_file_is_refused_at_once(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    refused = await refusal(alice, "move_file", path="notes.txt", new_path="README.md")
    assert refused.code == ErrorCode.EXISTS
    assert statuses(hub) == {}


async def test_a_replayed_client_hello_gets_no_server_hello(hub: HubFixture) -> None:
    hs = crypto.ClientHandshake(hub.invite_secret)
    async with connect(hub.url, compression=None) as first:
        await first.send(hs.client_hello())
        assert isinstance(await first.recv(), bytes)
    async with connect(hub.url, compression=None) as replay:
        await replay.send(hs.client_hello())
        try:
            frame = await replay.recv()
        except ConnectionClosed as closed:
            received = closed.rcvd
        else:
            raise AssertionError(f"the hub answered a replayed hello: {frame!r:.60}")
    assert received is not None
    assert received.code == crypto.CloseCode.AUTH_FAILED


async def test_a_hello_refused_for_a_full_session_closes_and_nothing_behind_it_is_answered(
    project: Path,
) -> None:
    # Found attacking issue 15: the hub kept the connection open after this refusal (docs/
    # protocol.md says it closes), answering each request piled up behind it, a second
    # hello included, until the hello timeout.
    async with running_hub(project, limits=Limits(max_peers=1)) as fx:
        await fx.connect(fx.invite_secret, "alice")
        async with unhelloed(fx.url, fx.invite_secret) as (ws, session):
            piled = [
                ("hello", {"name": "bob"}),
                ("write_file", {"path": "notes.txt", "content": "behind a refusal\n"}),
                ("hello", {"name": "carol"}),
            ]
            for rid, (op, args) in enumerate(piled, 1):
                await ws.send(session.seal(encode_request(rid, op, args)))
            replies = []
            try:
                while True:
                    frame = await asyncio.wait_for(ws.recv(), 30)
                    assert isinstance(frame, bytes)
                    replies.append(json.loads(session.open(frame)))
            except ConnectionClosed as exc:
                closed = exc
    assert [(r["id"], r["error"]["code"]) for r in replies] == [(1, ErrorCode.QUOTA_EXCEEDED)]
    assert closed.rcvd is not None and closed.rcvd.code == 1000
    assert (project / "notes.txt").read_text() == NOTES
