"""Events sent while a channel is down reach it when it reconnects, once (issue 16, item 1).

A real hub on loopback, real :class:`HubConnection` clients reconnecting on their own
(``run_forever``) through a :class:`tests.support.links.TcpLink` that is cut and restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from letswork.client.connection import HubConnection
from letswork.hub.eventlog import EventLog, EventLogs
from letswork.shared import invite
from letswork.shared.limits import Limits
from letswork.shared.protocol.wire import Event
from tests.support.fake_hub import FakeLink, fake_hub, good_result
from tests.support.hubs import Client, HubFixture, check_event, make_project, running_hub
from tests.support.links import TcpLink, tcp_link

WAIT = 30.0  # seconds: a guard against hangs, never a measurement


@dataclasses.dataclass
class Remote:
    """A client that reconnects by itself through ``link``, recording what it receives."""

    conn: HubConnection
    link: TcpLink
    events: list[Event]
    changed: asyncio.Event

    async def until(self, condition: Callable[[], bool]) -> None:
        async def check() -> None:
            while not condition():
                await self.changed.wait()
                self.changed.clear()

        await asyncio.wait_for(check(), WAIT)

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]

    def var_keys(self) -> list[str]:
        return [e.data["key"] for e in self.named("var_changed")]

    async def cut(self, others: Client, name: str) -> None:
        """Cut the link and keep it down until the hub has told ``others`` it left."""
        self.link.refuse()
        await self.until(lambda: self.conn.state != "connected")
        await others.wait_event("peer_left", lambda d: d["name"] == name, timeout=WAIT)

    async def restore(self) -> None:
        self.link.forward()
        await self.until(lambda: self.conn.state == "connected")


@contextlib.asynccontextmanager
async def remote(fx: HubFixture, secret: bytes, name: str) -> AsyncIterator[Remote]:
    async with tcp_link(fx.url) as link:
        events: list[Event] = []
        changed = asyncio.Event()

        def on_event(event: Event) -> None:
            check_event(event.name, event.data)
            events.append(event)
            changed.set()

        conn = HubConnection(
            link.url,
            secret,
            name=name,
            on_event=on_event,
            on_state_change=lambda _state: changed.set(),
        )
        runner = asyncio.create_task(conn.run_forever())
        try:
            box = Remote(conn, link, events, changed)
            await box.until(lambda: conn.state == "connected")
            yield box
        finally:
            await conn.close()
            await asyncio.wait_for(runner, WAIT)


async def set_vars(client: Client, *keys: str) -> None:
    for key in keys:
        await client.call("set_var", key=key, value="1")


async def test_a_guest_that_reconnects_receives_each_event_it_missed_once(
    tmp_path: Path,
) -> None:
    async with running_hub(make_project(tmp_path / "p")) as fx:
        host = await fx.host()
        code = await host.call("create_invite", role="editor", label="alice")
        async with remote(fx, invite.parse(code["code"]).secret, "alice") as alice:
            await set_vars(host, "before")
            await alice.until(lambda: alice.var_keys() == ["before"])
            await alice.cut(host, "alice")
            await set_vars(host, "gone1", "gone2", "gone3")
            await alice.restore()
            await set_vars(host, "after")
            await alice.until(lambda: "after" in alice.var_keys())
            seqs = [e.seq for e in alice.named("var_changed")]
    assert alice.var_keys() == ["before", "gone1", "gone2", "gone3", "after"]
    assert seqs == sorted(set(seqs))  # in order, none twice
    assert alice.named("events_missed") == []


async def test_the_host_that_reconnects_receives_what_a_guest_did_meanwhile(
    tmp_path: Path,
) -> None:
    async with running_hub(make_project(tmp_path / "p")) as fx:
        bob = await fx.guest("bob")
        async with remote(fx, fx.host_secret, "host") as host:
            # The host's other connection (this test's) watches bob's events, not its own.
            watcher = await fx.host()
            await host.cut(watcher, "host")
            await set_vars(bob, "while-away")
            await bob.call("lock_file", path="notes.txt")
            await host.restore()
            await set_vars(bob, "back")
            await host.until(lambda: "back" in host.var_keys())
    assert host.var_keys() == ["while-away", "back"]
    assert [e.data["lock"]["path"] for e in host.named("lock_taken")] == ["notes.txt"]


async def test_a_reconnect_past_the_log_bound_is_told_how_many_events_it_lost(
    tmp_path: Path,
) -> None:
    small = Limits(event_log_entries=3)
    async with running_hub(make_project(tmp_path / "p"), limits=small) as fx:
        host = await fx.host()
        code = await host.call("create_invite", role="editor", label="alice")
        async with remote(fx, invite.parse(code["code"]).secret, "alice") as alice:
            await alice.cut(host, "alice")
            await set_vars(host, *(f"k{i}" for i in range(5)))
            await alice.restore()
            await set_vars(host, "after")
            await alice.until(lambda: "after" in alice.var_keys())
    names = [e.name for e in alice.events]
    missed = alice.named("events_missed")
    assert [e.data for e in missed] == [{"lost": 2}]
    assert names.index("events_missed") < names.index("var_changed")
    assert alice.var_keys() == ["k2", "k3", "k4", "after"]


async def test_a_reconnect_whose_log_the_hub_dropped_is_told_it_lost_events(
    tmp_path: Path,
) -> None:
    async with running_hub(make_project(tmp_path / "p"), limits=Limits(event_logs=2)) as fx:
        host = await fx.host()
        code = await host.call("create_invite", role="editor", label="alice")
        async with remote(fx, invite.parse(code["code"]).secret, "alice") as alice:
            await alice.cut(host, "alice")
            await fx.guest("bob")  # a third identity: alice's log, offline longest, goes
            await alice.restore()
            await set_vars(host, "after")
            await alice.until(lambda: "after" in alice.var_keys())
    assert [e.data.get("lost") for e in alice.named("events_missed")] == [None]  # unknown


async def test_a_new_connection_without_a_cursor_is_sent_nothing_from_before(
    tmp_path: Path,
) -> None:
    async with running_hub(make_project(tmp_path / "p")) as fx:
        host = await fx.host()
        await set_vars(host, "old")
        late = await fx.host()
        await set_vars(host, "new")
        await late.wait_event("var_changed", lambda d: d["key"] == "new")
    assert [e.data["key"] for e in late.events if e.name == "var_changed"] == ["new"]


def _entries(log: EventLog) -> list[tuple[int, str]]:
    return [(e.seq, e.name) for e in log.entries]


def test_an_event_log_keeps_the_newest_events_within_its_entry_and_byte_caps() -> None:
    log = EventLog(max_entries=3, max_bytes=100, token="a.b")
    for i in range(5):
        log.record(f"e{i}", {}, 10)
    assert _entries(log) == [(3, "e2"), (4, "e3"), (5, "e4")]
    log.record("big", {}, 91)
    assert _entries(log) == [(6, "big")]
    assert log.since(2) == (3, list(log.entries))  # 3, 4 and 5 went
    assert log.since(6) == (0, [])
    assert log.since(99) == (0, [])  # a cursor ahead of the log gets nothing


def test_past_the_cap_on_logs_the_identity_offline_longest_loses_its_log() -> None:
    logs = EventLogs(Limits(event_logs=2))
    logs.open("g1", online=set())
    logs.open("g2", online=set())
    logs.open("g1", online=set())  # g1 reconnected: g2 is now the longest offline
    logs.open("g3", online={"g1"})
    assert sorted(logs.idents()) == ["g1", "g3"]


def test_a_log_that_is_full_of_connected_identities_keeps_them_all() -> None:
    logs = EventLogs(Limits(event_logs=1))
    logs.open("host", online=set())
    logs.open("g1", online={"host"})
    assert sorted(logs.idents()) == ["g1", "host"]


async def test_a_cursor_naming_another_identitys_log_replays_nothing_of_it(
    tmp_path: Path,
) -> None:
    async with running_hub(make_project(tmp_path / "p")) as fx:
        host = await fx.host()
        bob = await fx.guest("bob")
        mallory = await fx.guest("mallory")
        await set_vars(host, "seen-by-all")
        await mallory.wait_event("var_changed")
        await mallory.conn.close()
        # mallory comes back naming bob's log, from before everything bob was sent
        mallory.conn.events_log, mallory.conn.events_seen = bob.conn.events_log, 0
        mallory.events.clear()
        await mallory.conn.connect()
        await set_vars(host, "after")
        await mallory.wait_event("var_changed", lambda d: d["key"] == "after")
    assert bob.conn.events_log != mallory.conn.events_log
    assert [e.data["key"] for e in mallory.events if e.name == "var_changed"] == ["after"]
    assert not [e for e in mallory.events if e.name == "events_missed"]


async def test_a_hub_older_than_the_event_log_is_greeted_again_without_a_cursor() -> None:
    secret = secrets.token_bytes(16)
    hellos: list[dict[str, Any]] = []

    async def older_hub(link: FakeLink) -> None:
        first = await link.request()
        hellos.append(first["args"])
        await link.send_obj(
            {
                "id": first["id"],
                "ok": False,
                "error": {
                    "code": "invalid",
                    "message": "args.events: unknown field",
                    "data": {"reason": "extra_field", "field": "args.events"},
                },
            }
        )
        second = await link.request()
        hellos.append(second["args"])
        older = {k: v for k, v in good_result("hello").items() if k != "events_log"}
        await link.reply(second, older)
        await link.serve_good()

    async with fake_hub([secret, bytes.fromhex("0f" * 32)], older_hub) as fake:
        conn = HubConnection(fake.url, secret, name="alice")
        try:
            await asyncio.wait_for(conn.connect(), WAIT)
        finally:
            await conn.close()
    assert "log" not in hellos[0]["events"] and "events" not in hellos[1]
    assert conn.events_log is None


async def test_a_guest_replaying_its_log_again_and_again_runs_out_of_replay_budget(
    tmp_path: Path,
) -> None:
    # Burst 2 x 3000 bytes, and no refill to speak of while the test runs.
    tight = Limits(event_log_bytes=3000, replay_bytes_per_second=1e-6)
    async with running_hub(make_project(tmp_path / "p"), limits=tight) as fx:
        host = await fx.host()
        mallory = await fx.guest("mallory")
        for key in ("a", "b", "c"):  # ~1 KB of data each
            await host.call("set_var", key=key, value="v" * 900)
        await mallory.wait_event("var_changed", lambda d: d["key"] == "c")
        replays: list[tuple[list[str], list[Any]]] = []
        for _ in range(3):
            await mallory.conn.close()
            mallory.conn.events_seen = 0  # asks for the whole log, every time
            mallory.events.clear()
            await mallory.conn.connect()
            await set_vars(host, "marker")
            await mallory.wait_event("var_changed", lambda d: d["key"] == "marker")
            keys = [e.data["key"] for e in mallory.events if e.name == "var_changed"]
            lost = [e.data.get("lost") for e in mallory.events if e.name == "events_missed"]
            replays.append((keys, lost))
            await host.call("delete_var", key="marker")
    assert replays[0] == (["a", "b", "c", "marker"], [])
    # Each later replay holds what the budget has left, the newest first (the markers, set and
    # deleted, are ~0.1 KB each): a is lost, then a, b and c.
    assert replays[1] == (["b", "c", "marker", "marker", "marker"], [1])
    assert replays[2] == (["marker"] * 5, [3])
