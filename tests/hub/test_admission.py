"""Admission (issue 13, item 6): waiting guests have their own caps, a deny turns the invite away
for a while, nothing is stored before admission, and a reconnect loop leaves the database bounded.

Real hubs on loopback (``running_hub(project, auto_admit=False)``) with a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from letswork.shared import crypto, invite
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.limits import (
    DENY_COOLDOWN_SECONDS,
    HELLO_TIMEOUT_SECONDS,
    KNOCKS_PER_INVITE_PER_MINUTE,
    MAX_GUESTS_PER_INVITE,
    MAX_WAITING_PER_INVITE,
    MAX_WAITING_TOTAL,
    Limits,
)
from tests.support.hubs import Client, HubFixture, running_hub


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


_COUNTS = {
    "guests": "SELECT COUNT(*) FROM guests",
    "audit": "SELECT COUNT(*) FROM audit",
}


def rows(fx: HubFixture, table: str) -> int:
    """Rows of ``table`` in the hub's state.db, read through a second SQLite connection."""
    with contextlib.closing(sqlite3.connect(fx.hub.state.db_path)) as db:
        return int(db.execute(_COUNTS[table]).fetchone()[0])


async def knock(fx: HubFixture, secret: bytes, name: str, host: Client) -> Client:
    """Connect a guest that waits for admission, once the host has seen it waiting."""
    guest = await fx.connect(secret, name)
    assert guest.conn.hello is not None and guest.conn.hello["state"] == "awaiting_admission"
    await host.wait_event("awaiting_admission", lambda d: d["name"] == name)
    return guest


async def leave(fx: HubFixture, guest: Client, host: Client) -> None:
    """Close ``guest`` and wait until the hub has processed its disconnect."""
    assert guest.conn.hello is not None
    peer_id = guest.conn.hello["peer_id"]
    await guest.conn.close()
    fx.clients.remove(guest)
    await host.wait_event("peer_left", lambda d: d["peer_id"] == peer_id)


async def new_invite(host: Client, label: str, role: str = "editor") -> bytes:
    """An invite's secret, made by a host connection that stays open (``fx.invite`` opens and
    closes one, whose audit rows land asynchronously)."""
    result = await host.call("create_invite", role=role, label=label)
    return invite.parse(result["code"]).secret


async def refused(fx: HubFixture, secret: bytes, name: str) -> OpError:
    with pytest.raises(OpError) as info:
        await fx.connect(secret, name)
    return info.value


# ---------------------------------------------------------------------------- caps


async def test_waiting_guests_do_not_count_towards_max_guests(project: Path) -> None:
    async with running_hub(project, auto_admit=False, limits=Limits(max_peers=1)) as fx:
        host = await fx.host()
        await knock(fx, await new_invite(host, "a"), "waiter", host)
        bob = await knock(fx, await new_invite(host, "b"), "bob", host)
        await host.call("admit", name="bob")
        await bob.conn.wait_admitted(timeout=10)
        read = await bob.call("read_file", path="notes.txt")
        late = await knock(fx, await new_invite(host, "c"), "carol", host)
        full = None
        try:
            await host.call("admit", name="carol")
        except OpError as exc:
            full = exc
    assert read["text"].startswith("alpha")
    assert late.conn.hello is not None  # waiting is allowed while the session is full...
    assert full is not None and full.code == ErrorCode.QUOTA_EXCEEDED  # ...admitting is not
    assert "session is full" in full.message


async def test_a_guest_over_the_per_invite_waiting_cap_gets_quota_exceeded(project: Path) -> None:
    async with running_hub(project, auto_admit=False) as fx:
        host = await fx.host()
        code = await new_invite(host, "shared")
        for i in range(MAX_WAITING_PER_INVITE):
            await knock(fx, code, f"w{i}", host)
        over = await refused(fx, code, "one-more")
        other = await knock(fx, await new_invite(host, "other"), "bob", host)
    assert over.code == ErrorCode.QUOTA_EXCEEDED
    assert "of this invite are already waiting" in over.message
    assert other.conn.hello is not None


async def test_a_guest_over_the_total_waiting_cap_gets_quota_exceeded_but_resumes_get_in(
    project: Path,
) -> None:
    async with running_hub(project, auto_admit=False) as fx:
        host = await fx.host()
        resume: list[bytes] = []
        alice = await fx.connect(
            await new_invite(host, "alice"), "alice", on_resume_secret=resume.append
        )
        await host.call("admit", name="alice")
        await alice.conn.wait_admitted(timeout=10)
        await leave(fx, alice, host)
        for i in range(MAX_WAITING_TOTAL):
            if i % MAX_WAITING_PER_INVITE == 0:
                code = await new_invite(host, f"invite-{i}")
            await knock(fx, code, f"w{i}", host)
        over = await refused(fx, await new_invite(host, "late"), "late")
        back = await fx.connect(resume[-1], "alice")
    assert over.code == ErrorCode.QUOTA_EXCEEDED
    assert f"{MAX_WAITING_TOTAL} guests are already waiting" in over.message
    assert back.conn.hello is not None and back.conn.hello["state"] == "admitted"


# ---------------------------------------------------------------------------- deny


async def test_deny_refuses_every_waiting_guest_of_the_invite_and_keeps_other_invites_waiting(
    project: Path,
) -> None:
    async with running_hub(project, auto_admit=False) as fx:
        host = await fx.host()
        code = await new_invite(host, "pest")
        first = await knock(fx, code, "p1", host)
        second = await knock(fx, code, "p2", host)
        bystander = await knock(fx, await new_invite(host, "bob"), "bob", host)
        await host.call("deny", name="p1", reason="no thanks")
        denied = await second.wait_event("denied")
        await first.wait_event("denied")
        status = await host.call("status")
    assert denied.data["reason"] == "no thanks"
    waiting = [p["name"] for p in status["peers"] if p["state"] == "awaiting_admission"]
    assert waiting == ["bob"]
    assert bystander.conn.hello is not None


async def test_a_denied_invite_cannot_knock_again_until_the_cooldown_ends(project: Path) -> None:
    clock = FakeClock()
    async with running_hub(project, auto_admit=False, clock=clock) as fx:
        host = await fx.host()
        code = await new_invite(host, "pest")
        await knock(fx, code, "p1", host)
        await host.call("deny", name="p1")
        again = await refused(fx, code, "p1-renamed")
        clock.now += DENY_COOLDOWN_SECONDS - 1
        still = await refused(fx, code, "p1-again")
        clock.now += 2
        later = await knock(fx, code, "p1-later", host)
    assert again.code == ErrorCode.FORBIDDEN
    assert "turned this invite away" in again.message
    assert again.data["retry_after"] == pytest.approx(DENY_COOLDOWN_SECONDS)
    assert still.code == ErrorCode.FORBIDDEN and still.data["retry_after"] == pytest.approx(1)
    assert later.conn.hello is not None


async def test_a_deny_leaves_the_invites_admitted_guests_connected_and_able_to_resume(
    project: Path,
) -> None:
    async with running_hub(project, auto_admit=False) as fx:
        host = await fx.host()
        code = await new_invite(host, "team")
        resume: list[bytes] = []
        alice = await fx.connect(code, "alice", on_resume_secret=resume.append)
        await host.call("admit", name="alice")
        await alice.conn.wait_admitted(timeout=10)
        await knock(fx, code, "stranger", host)
        await host.call("deny", name="stranger")
        still = await alice.call("read_file", path="notes.txt")
        await leave(fx, alice, host)
        back = await fx.connect(resume[-1], "alice")
    assert still["text"].startswith("alpha")
    assert back.conn.hello is not None and back.conn.hello["state"] == "admitted"


async def test_a_denied_holder_with_eight_new_names_does_not_lock_out_another_invites_guest(
    project: Path,
) -> None:
    """The issue's scenario, with the default limits (8 guests)."""
    async with running_hub(project, auto_admit=False) as fx:
        host = await fx.host()
        pest = await new_invite(host, "pest")
        await knock(fx, pest, "pest", host)
        await host.call("deny", name="pest")
        refusals = []
        for i in range(8):
            with contextlib.suppress(OpError):
                await fx.connect(pest, f"new-name-{i}")
                continue
            refusals.append(i)
        bob = await knock(fx, await new_invite(host, "bob"), "bob", host)
        await host.call("admit", name="bob")
        await bob.conn.wait_admitted(timeout=10)
        read = await bob.call("read_file", path="notes.txt")
    assert refusals == list(range(8))
    assert read["text"].startswith("alpha")


async def test_eight_waiting_connections_of_one_undenied_invite_do_not_lock_out_another(
    project: Path,
) -> None:
    async with running_hub(project, auto_admit=False) as fx:
        host = await fx.host()
        pest = await new_invite(host, "pest")
        got_in = 0
        for i in range(8):
            with contextlib.suppress(OpError):
                await fx.connect(pest, f"pest-{i}")
                got_in += 1
        bob = await knock(fx, await new_invite(host, "bob"), "bob", host)
        await host.call("admit", name="bob")
        await bob.conn.wait_admitted(timeout=10)
    assert got_in == MAX_WAITING_PER_INVITE


# ---------------------------------------------------------------------------- storage


async def test_a_waiting_guest_stores_nothing_until_the_host_admits_it(project: Path) -> None:
    async with running_hub(project, auto_admit=False) as fx:
        host = await fx.host()
        code = await new_invite(host, "alice")
        guests0, audit0 = rows(fx, "guests"), rows(fx, "audit")
        resume: list[bytes] = []
        alice = await fx.connect(code, "alice", on_resume_secret=resume.append)
        await host.wait_event("awaiting_admission", lambda d: d["name"] == "alice")
        while_waiting = rows(fx, "guests"), rows(fx, "audit")
        await host.call("admit", name="alice")
        await alice.conn.wait_admitted(timeout=10)
        stored = fx.hub.store.list_guests() if fx.hub.store else []
        invites = await host.call("list_invites")
    assert while_waiting == (guests0, audit0)
    assert [(g.name, g.state, g.role) for g in stored] == [("alice", "admitted", "editor")]
    assert stored[0].resume_id is not None and resume
    uses = {i["label"]: i["uses"] for i in invites["invites"]}
    assert uses["alice"] == 1


async def test_a_reconnect_loop_of_waiting_guests_adds_no_guest_or_audit_rows(
    project: Path,
) -> None:
    loops = 25
    clock = FakeClock()
    async with running_hub(project, auto_admit=False, clock=clock) as fx:
        host = await fx.host()
        code = await new_invite(host, "loop")
        before = rows(fx, "guests"), rows(fx, "audit")
        for i in range(loops):
            clock.now += 60 / KNOCKS_PER_INVITE_PER_MINUTE  # at the knock rate limit
            guest = await knock(fx, code, "looper" if i % 2 else f"looper-{i}", host)
            await leave(fx, guest, host)
        after = rows(fx, "guests"), rows(fx, "audit")
    assert after == before  # bound: 0 rows per waiting connection


async def test_an_invite_knocking_faster_than_the_knock_limit_gets_rate_limited(
    project: Path,
) -> None:
    clock = FakeClock()
    async with running_hub(project, auto_admit=False, clock=clock) as fx:
        host = await fx.host()
        code = await new_invite(host, "loop")
        for i in range(KNOCKS_PER_INVITE_PER_MINUTE):
            await leave(fx, await knock(fx, code, f"k{i}", host), host)
        limited = await refused(fx, code, "one-more")
        other = await knock(fx, await new_invite(host, "other"), "bob", host)
        clock.now += 60 / KNOCKS_PER_INVITE_PER_MINUTE
        later = await knock(fx, code, "later", host)
    assert limited.code == ErrorCode.RATE_LIMITED
    assert limited.data["retry_after"] > 0
    assert other.conn.hello is not None and later.conn.hello is not None


async def test_an_admitted_guests_resume_loop_adds_no_guest_rows(project: Path) -> None:
    async with running_hub(project, auto_admit=False) as fx:
        host = await fx.host()
        resume: list[bytes] = []
        alice = await fx.connect(
            await new_invite(host, "alice"), "alice", on_resume_secret=resume.append
        )
        await host.call("admit", name="alice")
        await alice.conn.wait_admitted(timeout=10)
        await leave(fx, alice, host)
        for i in range(10):
            again = await fx.connect(resume[-1], f"alice-{i}")
            await leave(fx, again, host)
        stored = fx.hub.store.list_guests() if fx.hub.store else []
    assert [(g.name, g.state) for g in stored] == [("alice-9", "admitted")]


async def test_an_auto_admit_loop_under_new_names_keeps_at_most_the_per_invite_guest_rows(
    project: Path,
) -> None:
    keep = MAX_GUESTS_PER_INVITE
    async with running_hub(project) as fx:
        host = await fx.host()
        code = await new_invite(host, "loop")
        resume: list[bytes] = []
        for i in range(keep + 8):
            guest = await fx.connect(code, f"loop-{i}", on_resume_secret=resume.append)
            await leave(fx, guest, host)
        newest = await fx.connect(resume[-1], "loop-newest")
        stored = fx.hub.store.list_guests() if fx.hub.store else []
    assert len(stored) == keep
    assert {g.name for g in stored} >= {"loop-newest"}
    assert newest.conn.hello is not None and newest.conn.hello["state"] == "admitted"


async def test_a_forgotten_identity_with_a_pending_change_is_kept(project: Path) -> None:
    async with running_hub(project, limits=Limits(max_guests_per_invite=2)) as fx:
        host = await fx.host()
        code = await new_invite(host, "loop")
        author = await fx.connect(code, "author")
        await author.call("write_file", path="new.txt", content="hi\n")
        await leave(fx, author, host)
        for i in range(4):
            guest = await fx.connect(code, f"loop-{i}")
            await leave(fx, guest, host)
        stored = fx.hub.store.list_guests() if fx.hub.store else []
    assert "author" in {g.name for g in stored}


async def test_a_kicked_identity_is_forgotten_before_an_older_offline_one(project: Path) -> None:
    async with running_hub(project, limits=Limits(max_guests_per_invite=2)) as fx:
        host = await fx.host()
        code = await new_invite(host, "team")
        await leave(fx, await fx.connect(code, "older"), host)
        kicked = await fx.connect(code, "kicked")
        await host.call("kick", name="kicked")
        await kicked.wait_event("kicked")
        # After a kick the invite no longer auto-admits: the host lets the next one in.
        newest = await knock(fx, code, "newest", host)
        await host.call("admit", name="newest")
        await newest.conn.wait_admitted(timeout=10)
        await leave(fx, newest, host)
        stored = fx.hub.store.list_guests() if fx.hub.store else []
    assert sorted(g.name for g in stored) == ["newest", "older"]


async def test_admission_trust_and_names_survive_a_restart(project: Path) -> None:
    resume: list[bytes] = []
    async with running_hub(project, auto_admit=False) as fx:
        host = await fx.host()
        alice = await fx.connect(
            await new_invite(host, "alice"), "alice", on_resume_secret=resume.append
        )
        await host.call("admit", name="alice")
        await alice.conn.wait_admitted(timeout=10)
        await host.call("trust", name="alice")
    async with running_hub(project, auto_admit=False) as fx:
        back = await fx.connect(resume[-1], "alice")
        result = await back.call("write_file", path="notes.txt", content="trusted\n")
        status = await back.call("status")
    assert back.conn.hello is not None and back.conn.hello["state"] == "admitted"
    assert result["status"] == "applied"  # still trusted: no approval needed
    assert status["you"]["trusted"] is True


async def test_rows_an_older_hub_wrote_for_unadmitted_guests_are_dropped_at_start(
    project: Path,
) -> None:
    async with running_hub(project, auto_admit=False) as fx:
        await new_invite(await fx.host(), "old")
        assert fx.hub.store is not None
        invite_id = fx.hub.store.list_invites()[-1].invite_id
        waiting = fx.hub.store.add_guest("old-waiting", "editor", invite_id, now=1.0)
        denied = fx.hub.store.add_guest("old-denied", "editor", invite_id, now=2.0)
        fx.hub.store.set_guest_state(denied.guest_id, "denied")
        assert waiting.state == "awaiting_admission"
    async with running_hub(project, auto_admit=False) as fx:
        left = rows(fx, "guests")
    assert left == 0


# ---------------------------------------------------------------------------- names, kick


async def test_a_new_guest_cannot_take_an_offline_guests_name_and_she_comes_back_to_it(
    project: Path,
) -> None:
    async with running_hub(project, auto_admit=False) as fx:
        host = await fx.host()
        resume: list[bytes] = []
        alice = await fx.connect(
            await new_invite(host, "alice"), "alice", on_resume_secret=resume.append
        )
        await host.call("admit", name="alice")
        await alice.conn.wait_admitted(timeout=10)
        await leave(fx, alice, host)
        with pytest.raises(OpError) as squat:
            await fx.connect(await new_invite(host, "squat"), "Alice")
        back = await fx.connect(resume[-1], "alice")
    assert squat.value.code == ErrorCode.NAME_TAKEN
    # a knock the host has not admitted is not told when she was last seen
    assert "someone in this session is already called 'Alice'" in squat.value.message
    assert "since" not in squat.value.message
    assert back.conn.hello is not None and back.conn.hello["state"] == "admitted"


async def test_kicking_a_waiting_guest_disconnects_it(project: Path) -> None:
    async with running_hub(project, auto_admit=False) as fx:
        host = await fx.host()
        waiting = await knock(fx, await new_invite(host, "w"), "w", host)
        await host.call("kick", name="w")
        kicked = await waiting.wait_event("kicked")
        status = await host.call("status")
    assert kicked.name == "kicked"
    assert [p["name"] for p in status["peers"] if p["name"] == "w"] == []


# ---------------------------------------------------------------------------- hello deadline


async def test_a_connection_that_never_says_hello_is_closed_after_the_hello_timeout(
    project: Path,
) -> None:
    clock = FakeClock()
    async with running_hub(project, auto_admit=False, clock=clock) as fx:
        host = await fx.host()
        code = await new_invite(host, "silent")
        async with connect(fx.url, compression=None) as raw:
            hs = crypto.ClientHandshake(code)
            await raw.send(hs.client_hello())
            reply = await raw.recv()
            assert isinstance(reply, bytes)
            finished, _ = hs.receive_server_hello(reply)
            await raw.send(finished)
            await host.call("ping")  # the hub has registered the connection by now
            clock.now += HELLO_TIMEOUT_SECONDS
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(raw.recv(), timeout=10)
        still = await host.call("ping")
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == crypto.CloseCode.HANDSHAKE_TIMEOUT
    assert "now" in still
