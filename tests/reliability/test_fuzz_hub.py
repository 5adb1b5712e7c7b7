"""Fuzzing a running hub over real loopback connections (issue 8, item 1).

Each case opens its own WebSocket (or raw TCP) connection to an in-process hub, except family
(c), which reuses three authenticated sessions (host, editor, viewer) and opens a new one only
for ops sent before ``hello``. The hub must close every offending connection with 4400 or 4401
(never send a ServerHello to a mutated hello, never answer a record after a bad finished tag),
answer every bad message with an error reply on a connection that stays open, change nothing
(store rows, audit log, files, locks, peers) and keep serving a legitimate client afterwards.

Tiers: the default run makes 600 cases. ``pytest --slow`` makes 102,000 (30,000 + 2,000 +
30,000 + 40,000), all over real connections; CI runs the slow tier at its CI size
(``LETSWORK_SLOW_SIZE=ci``: 1,500 + 300 + 1,500 + 3,000). The pure core
(``test_fuzz_core.py``) adds 100,000 more without sockets. ``docs/security.md`` has the
figures of the full run::

    pytest --slow -s tests/reliability/test_fuzz_hub.py -k slow
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from letswork.client.connection import HubConnection
from letswork.shared import crypto
from letswork.shared.protocol.wire import decode_request, encode_request
from tests.reliability import fuzzing
from tests.reliability.support import (
    UNLIMITED,
    HubLoop,
    audit_kinds,
    hub_loop,
    report,
    snapshot,
    tiers,
)
from tests.reliability.test_fuzz_core import add_hostile_fixtures, fuzz, low_order_hello
from tests.support.hubs import HubFixture

#: 1009 (message too big): a hello frame longer than a ClientHello is refused from its header.
REFUSED = frozenset(
    {crypto.CloseCode.PROTOCOL_VIOLATION, crypto.CloseCode.AUTH_FAILED, CloseCode.MESSAGE_TOO_BIG}
)
NOTES = "alpha\nbeta\ngamma\n"


@dataclass
class RawSession:
    """An authenticated connection driven by hand: seal, send, open, skip events."""

    ws: ClientConnection
    session: crypto.Session

    async def send(self, plaintext: bytes) -> None:
        await self.ws.send(self.session.seal(plaintext))

    async def reply(self) -> dict[str, Any]:
        while True:
            frame = await self.ws.recv()
            assert isinstance(frame, bytes)
            message: dict[str, Any] = json.loads(self.session.open(frame))
            if "event" not in message:
                return message

    async def call(self, plaintext: bytes) -> dict[str, Any]:
        await self.send(plaintext)
        return await self.reply()


async def open_ws(url: str) -> ClientConnection:
    return await connect(url, compression=None, max_size=None, close_timeout=2)


async def handshake(ws: ClientConnection, secret: bytes) -> tuple[bytes, bytes, crypto.Session]:
    """A valid handshake on ``ws``: (the hello, the finished, the client session)."""
    client = crypto.ClientHandshake(secret)
    await ws.send(client.client_hello())
    reply = await ws.recv()
    assert isinstance(reply, bytes) and len(reply) == crypto.SERVER_HELLO_LEN
    finished, session = client.receive_server_hello(reply)
    await ws.send(finished)
    return client.client_hello(), finished, session


async def raw_session(url: str, secret: bytes, name: str) -> RawSession:
    ws = await open_ws(url)
    _, _, session = await handshake(ws, secret)
    raw = RawSession(ws, session)
    hello = await raw.call(encode_request(1, "hello", {"name": name}))
    assert hello["ok"] is True, hello
    return raw


async def refused(ws: ClientConnection) -> int:
    """Read until the hub closes; fail if it sends anything first. Returns the close code."""
    try:
        frame = await ws.recv()
    except ConnectionClosed as closed:
        received = closed.rcvd
    else:
        raise AssertionError(f"the hub answered instead of closing: {frame!r:.120}")
    assert received is not None, "the hub dropped the connection without a close frame"
    return received.code


async def send_all(ws: ClientConnection, frames: tuple[bytes | str, ...]) -> None:
    with contextlib.suppress(ConnectionClosed):
        for frame in frames:
            await ws.send(frame)


class Target:
    """The hub under fuzz, with one credential of every kind and three open sessions."""

    def __init__(self, runner: HubLoop, fx: HubFixture) -> None:
        self.runner = runner
        self.fx = fx
        self.url = fx.url
        self.secrets: dict[str, bytes] = {}
        self.sessions: dict[str, RawSession] = {}
        runner.run(self._setup())
        self.before = self.state()

    async def _setup(self) -> None:
        fx = self.fx
        resume: dict[str, bytes] = {}
        self.secrets["host"] = fx.host_secret
        self.secrets["editor"] = fx.invite_secret
        self.secrets["viewer"] = await fx.invite("viewer", "viewers")
        self.secrets["revoked"] = await fx.invite("editor", "old")
        host = await fx.host()
        await host.call("revoke_invite", label="old")
        alice = await fx.connect(
            fx.invite_secret, "alice", on_resume_secret=lambda s: resume.update(alice=s)
        )
        await alice.call("write_file", path="src/new.txt", content="new\n")
        await fx.connect(
            self.secrets["viewer"], "vera", on_resume_secret=lambda s: resume.update(vera=s)
        )
        await fx.close_clients()
        self.secrets["resume"] = resume["alice"]
        self.sessions["host"] = await raw_session(self.url, fx.host_secret, "host")
        self.sessions["editor"] = await raw_session(self.url, resume["alice"], "alice")
        self.sessions["viewer"] = await raw_session(self.url, resume["vera"], "vera")

    def state(self) -> dict[str, Any]:
        return {**snapshot(self.fx), "audit": audit_kinds(self.fx.hub.state.db_path)}

    async def legit_client_still_works(self) -> None:
        for raw in self.sessions.values():
            pong = await raw.call(encode_request(2, "ping", {}))
            assert pong["ok"] is True
        conn = HubConnection(self.url, self.secrets["resume"], name="alice")
        await conn.connect()
        try:
            page = await conn.request("read_file", {"path": "notes.txt"})
            assert page["text"] == NOTES
        finally:
            await conn.close()

    def finish(self) -> None:
        async def close_all() -> None:
            for raw in self.sessions.values():
                await raw.ws.close()

        self.runner.run(close_all())


@pytest.fixture
def target(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    add_hostile_fixtures(project, tmp_path / "outside")
    with hub_loop(project, monkeypatch, limits=UNLIMITED) as runner:
        assert runner.fx is not None
        t = Target(runner, runner.fx)
        try:
            yield t
        finally:
            t.finish()


def check_unchanged_and_alive(target: Target) -> None:
    assert target.state() == target.before
    target.runner.run(target.legit_client_still_works())


@pytest.mark.parametrize("cases", tiers(100, 30_000, "LETSWORK_FUZZ_HUB_A", ci=1500))
def test_random_bytes_before_and_during_the_handshake_are_refused_without_a_session(
    target: Target, cases: int
) -> None:
    outcomes: collections.Counter[str] = collections.Counter()

    async def one(case: fuzzing.GarbageCase) -> None:
        ws = await open_ws(target.url)
        try:
            if case.position == "first":
                await ws.send(case.frames[0])
            elif case.position == "after_hello":
                client = crypto.ClientHandshake(target.secrets[case.credential])
                await ws.send(client.client_hello())
                reply = await ws.recv()
                assert isinstance(reply, bytes) and len(reply) == crypto.SERVER_HELLO_LEN
                await ws.send(case.frames[0])
            else:
                await handshake(ws, target.secrets[case.credential])
                await send_all(ws, case.frames)
            code = await refused(ws)
        finally:
            await ws.close()
        expected = {crypto.CloseCode.PROTOCOL_VIOLATION}
        if case.position != "after_finished":
            expected.add(crypto.CloseCode.AUTH_FAILED)
        if case.position == "first":
            expected.add(CloseCode.MESSAGE_TOO_BIG)  # over a ClientHello's 98 bytes
        assert code in expected, (case, code)
        outcomes[f"{case.position}:{code}"] += 1

    @fuzz(cases)
    @given(case=fuzzing.garbage_cases)
    def run(case: fuzzing.GarbageCase) -> None:
        target.runner.run(one(case))

    run()
    check_unchanged_and_alive(target)
    assert sum(outcomes.values()) >= cases
    report("fuzz_hub_garbage", cases=sum(outcomes.values()), outcomes=dict(outcomes))


@pytest.mark.parametrize("cases", tiers(100, 2000, "LETSWORK_FUZZ_HUB_RAW", ci=300))
def test_random_bytes_instead_of_a_websocket_upgrade_are_refused(
    target: Target, cases: int
) -> None:
    outcomes: collections.Counter[str] = collections.Counter()
    port = target.fx.hub.port

    async def one(data: bytes) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(data)
            writer.write_eof()
            answer = await asyncio.wait_for(reader.read(), timeout=15)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        status = answer.split(b"\r\n", 1)[0]
        assert answer == b"" or status.startswith(b"HTTP/1.1 4"), status
        outcomes[status.decode("latin-1")[:12] or "closed"] += 1

    http_like = st.builds(
        lambda method, path, junk: method + b" " + path + b" HTTP/1.1\r\n" + junk + b"\r\n\r\n",
        st.sampled_from((b"GET", b"POST", b"\x00ET", b"CONNECT")),
        st.binary(max_size=40),
        st.binary(max_size=300),
    )

    @fuzz(cases)
    @given(data=st.one_of(st.binary(max_size=2000), http_like))
    def run(data: bytes) -> None:
        target.runner.run(one(data))

    run()
    check_unchanged_and_alive(target)
    report("fuzz_hub_raw_tcp", cases=sum(outcomes.values()), outcomes=dict(outcomes))


@pytest.mark.parametrize("cases", tiers(100, 30_000, "LETSWORK_FUZZ_HUB_B", ci=1500))
def test_handshakes_with_a_mutated_field_are_closed_without_a_session(
    target: Target, cases: int
) -> None:
    outcomes: collections.Counter[str] = collections.Counter()

    async def complete(secret: bytes) -> tuple[bytes, bytes]:
        ws = await open_ws(target.url)
        try:
            hello, finished, _ = await handshake(ws, secret)
        finally:
            await ws.close()
        return hello, finished

    async def one(case: fuzzing.HandshakeCase) -> None:
        old: tuple[bytes, bytes] | None = None
        if case.kind in ("replay", "old_finished"):
            old = await complete(target.secrets[case.credential])
        ws = await open_ws(target.url)
        try:
            if case.kind in ("finished", "old_finished"):
                client = crypto.ClientHandshake(target.secrets[case.credential])
                await ws.send(client.client_hello())
                reply = await ws.recv()
                assert isinstance(reply, bytes)
                finished, session = client.receive_server_hello(reply)
                if old is not None:
                    finished = old[1]
                else:
                    assert case.mutation is not None
                    finished = case.mutation.apply(finished, fuzzing.FINISHED_FIELDS)
                # A record right behind the bad finished tag must never be answered.
                ping = session.seal(encode_request(1, "ping", {}))
                await send_all(ws, (finished, ping))
            else:
                if case.kind == "hello":
                    assert case.mutation is not None
                    hello = crypto.ClientHandshake(target.secrets[case.credential]).client_hello()
                    hello = case.mutation.apply(hello, fuzzing.HELLO_FIELDS)
                elif case.kind == "revoked":
                    hello = crypto.ClientHandshake(
                        target.secrets["revoked"], nonce=case.nonce
                    ).client_hello()
                elif case.kind == "low_order":
                    hello = low_order_hello(target.secrets[case.credential], case.point, case.nonce)
                elif case.kind == "stranger":
                    hello = crypto.ClientHandshake(case.secret).client_hello()
                else:
                    assert old is not None
                    hello = old[0]
                await ws.send(hello)
            code = await refused(ws)
        finally:
            await ws.close()
        assert code in REFUSED, (case, code)
        outcomes[f"{case.kind}:{code}"] += 1

    @fuzz(cases)
    @given(case=fuzzing.handshake_cases)
    def run(case: fuzzing.HandshakeCase) -> None:
        target.runner.run(one(case))

    run()
    check_unchanged_and_alive(target)
    assert sum(outcomes.values()) >= cases
    report("fuzz_hub_handshake", cases=sum(outcomes.values()), outcomes=dict(outcomes))


@pytest.mark.parametrize("cases", tiers(300, 40_000, "LETSWORK_FUZZ_HUB_C", ci=3000))
def test_bad_messages_in_valid_records_get_error_replies_on_a_connection_that_stays_open(
    target: Target, cases: int
) -> None:
    outcomes: collections.Counter[str] = collections.Counter()

    async def malformed(role: str, body: bytes) -> None:
        reply = await target.sessions[role].call(body)
        assert reply["ok"] is False, (body[:200], reply)
        assert reply["error"]["code"] in fuzzing.DECODE_CODES
        outcomes[f"malformed:{reply['error']['code']}"] += 1

    async def request(case: fuzzing.RequestCase) -> None:
        if case.kind == "before_hello":
            ws = await open_ws(target.url)
            try:
                _, _, session = await handshake(ws, target.secrets[case.role])
                reply = await RawSession(ws, session).call(case.body())
            finally:
                await ws.close()
        else:
            reply = await target.sessions[case.role].call(case.body())
        assert fuzzing.acceptable_refusal(case, reply), (case, reply)
        code = reply["error"]["code"] if reply["ok"] is False else "no-op"
        outcomes[f"{case.kind}:{code}"] += 1

    @fuzz(cases)
    @given(
        bad=fuzzing.malformed_messages(),
        case=fuzzing.request_cases(),
        role=st.sampled_from(("host", "editor", "viewer")),
        pick=st.integers(0, 9),
    )
    def run(bad: tuple[str, bytes, bool], case: fuzzing.RequestCase, role: str, pick: int) -> None:
        kind, body, certain = bad
        if pick < 6:  # most cases are malformed messages; the rest are well-formed refusals
            try:
                decode_request(body)
            except Exception:
                target.runner.run(malformed(role, body))
            else:
                assert not certain, kind
            return
        if case.kind == "before_hello" and pick != 9:
            case = fuzzing.RequestCase("hello_again", "host", "hello", {"name": "x"}, 3)
        target.runner.run(request(case))

    run()
    check_unchanged_and_alive(target)
    assert sum(outcomes.values()) >= cases * 0.99
    report("fuzz_hub_messages", cases=sum(outcomes.values()), outcomes=dict(outcomes))
