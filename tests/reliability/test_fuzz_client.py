"""Fuzzing the client with a hostile hub over real loopback connections (issue 13, item 11).

The mirror of ``test_fuzz_hub.py``. A fake hub (:mod:`tests.support.fake_hub`) runs the real
handshake and record layer, then answers one request per connection with a case of
:mod:`tests.reliability.client_fuzzing` (mutated results and ``hello`` replies, bad envelopes,
bad and unknown events, frames that are not records, mangled ServerHellos), followed by the
valid answer. Each case checks that the client either returns what the catalogue allows or
raises the library's error for it (:class:`HubProtocolError` for a message that breaks the
catalogue), never another exception, never a hang, and never adopts a malformed credential.
Then the channel's supervisor meets a row of hostile hubs and must survive them all and
connect to a good one.

Tiers: the default run makes 600 cases; ``pytest --slow`` makes 20,000 (CI: 2,000)::

    pytest --slow -s tests/reliability/test_fuzz_client.py -k slow
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given

from letswork.channel.config import ChannelConfig
from letswork.channel.server import Channel
from letswork.client import connection as connection_module
from letswork.client.connection import HubConnection
from letswork.shared.errors import (
    HubProtocolError,
    LetsworkError,
    OpError,
    TransportError,
)
from letswork.shared.limits import KiB, Limits
from letswork.shared.protocol.catalogue import EVENTS
from letswork.shared.protocol.wire import Event, parse_event_data
from tests.reliability import client_fuzzing as cf
from tests.reliability.support import report, tiers
from tests.reliability.test_fuzz_core import fuzz
from tests.support.fake_hub import FakeHub, FakeLink, good_result

#: The client's limits in the fuzz: a small frame limit (oversized frames are cheap) and a
#: request timeout that only a bug could reach (every case ends with a valid answer).
LIMITS = Limits(
    max_frame_bytes=cf.CLIENT_MAX_FRAME,
    max_file_bytes=cf.CLIENT_MAX_FRAME - 64 * KiB,
    request_timeout_seconds=20.0,
)
WAIT = 30.0  # seconds: a guard against hangs, never a measurement


class Target:
    """A fake hub on its own event loop, serving the case set before each connection."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.secret = secrets.token_bytes(16)
        self.case: cf.ClientCase | None = None
        self.hub = FakeHub([self.secret], self._script, server_hello=self._server_hello)
        self.run(self.hub.start())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        try:
            self.run(self.hub.stop())
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    def _server_hello(self, number: int, real: bytes) -> bytes | None:
        case = self.case
        if case is None or case.mangle is None:
            return None
        return cf.mangle_server_hello(case, real)

    async def _script(self, link: FakeLink) -> None:
        case = self.case
        assert case is not None
        hello = await link.request()
        if case.family == "hello":
            await send_frames(link, case.frames)
            await link.reply(hello, good_result("hello"))  # late: same id, must be ignored
        else:
            await link.reply(hello, good_result("hello"))
            request = await link.request()
            assert request["id"] == cf.REQUEST_ID, request
            await send_frames(link, case.frames)
            await link.reply(request, good_result(request["op"]))
        await link.serve_good()


async def send_frames(link: FakeLink, frames: tuple[cf.Frame, ...]) -> None:
    for frame in frames:
        if frame.kind == "plain":
            await link.send(frame.data)
        elif frame.kind == "raw":
            await link.ws.send(frame.data)
        elif frame.kind == "text":
            await link.ws.send(frame.data.decode("utf-8"))
        elif frame.kind == "replay":
            record = link.session.seal(frame.data)
            await link.ws.send(record)
            await link.ws.send(record)
        elif frame.kind == "flip":
            record = bytearray(link.session.seal(frame.data))
            bit = frame.number % (8 * len(record))
            record[bit // 8] ^= 1 << (bit % 8)
            await link.ws.send(bytes(record))
        elif frame.kind == "big":
            await link.ws.send(secrets.token_bytes(frame.number))
        else:  # pragma: no cover - a typo in the strategies
            raise AssertionError(frame.kind)


@pytest.fixture
def target() -> Iterator[Target]:
    t = Target()
    try:
        yield t
    finally:
        t.close()


async def run_case(target: Target, case: cf.ClientCase, events: list[Event]) -> str:
    """Run one case; returns its outcome. Fails on any exception outside the library's."""
    conn = HubConnection(
        target.hub.url, target.secret, name="alice", on_event=events.append, limits=LIMITS
    )
    try:
        try:
            hello = await asyncio.wait_for(conn.connect(), WAIT)
        except LetsworkError as exc:
            return check_failure(case, exc, during="hello")
        if case.family == "hello":
            return check_hello(case, conn, hello)
        try:
            result = await asyncio.wait_for(conn.request(case.op, case.args), WAIT)
        except LetsworkError as exc:
            return check_failure(case, exc, during="request")
        return check_success(case, result, events)
    finally:
        await conn.close()


def check_failure(case: cf.ClientCase, exc: LetsworkError, *, during: str) -> str:
    expect = case.expect
    if case.family in ("hello", "server_hello"):
        assert during == "hello", (case, exc)
    elif expect != "any":
        assert during == "request", (case, exc)  # the handshake and hello were valid
    if expect == "fault":
        assert isinstance(exc, HubProtocolError), (case, exc)
        assert exc.message.startswith("the hub sent "), exc.message
        assert exc.code.value == "unavailable"
    elif expect == "transport":
        assert isinstance(exc, TransportError), (case, exc)
    elif expect == "op_error":
        assert isinstance(exc, OpError), (case, exc)
    else:
        assert expect == "any", (case, exc)
    return f"{case.family}:{type(exc).__name__}"


def check_hello(case: cf.ClientCase, conn: HubConnection, hello: dict[str, Any]) -> str:
    assert case.expect == "mutated", (case, hello)
    assert hello == case.mutated
    secret = hello.get("resume_secret")
    if secret is not None:
        assert conn._secret == bytes.fromhex(secret)  # adopted, and only a well-formed one
    return "hello:ok"


def check_success(case: cf.ClientCase, result: dict[str, Any], events: list[Event]) -> str:
    assert case.expect in ("mutated", "good", "any", "op_error") or case.family == "event", case
    if case.expect == "mutated":
        assert result == case.mutated
    else:
        assert case.expect in ("good", "any"), (case, result)
        assert result == good_result(case.op)
    if case.family == "event":
        names = [e.name for e in events]
        assert (case.event in names) == case.delivered, (case, names)
    for event in events:  # whatever reached on_event fits the catalogue, or is unknown to it
        if event.name in EVENTS:
            parse_event_data(event.name, event.data)
    return f"{case.family}:ok"


@pytest.mark.parametrize("cases", tiers(600, 20_000, "LETSWORK_FUZZ_CLIENT", ci=2000))
def test_hostile_hub_frames_give_the_library_error_or_a_valid_result(
    target: Target, cases: int
) -> None:
    outcomes: collections.Counter[str] = collections.Counter()

    @fuzz(cases)
    @given(case=cf.client_cases)
    def run(case: cf.ClientCase) -> None:
        target.case = case
        events: list[Event] = []
        outcomes[target.run(run_case(target, case, events))] += 1

    run()
    assert sum(outcomes.values()) >= cases
    assert any(k.endswith("HubProtocolError") for k in outcomes)
    report("fuzz_client", cases=sum(outcomes.values()), outcomes=dict(outcomes))


# ------------------------------------------------------------------------------ the supervisor


def _hostile_scripts() -> list[Any]:
    """One hostile hub per family, as scripts for successive connections."""

    async def bad_hello(link: FakeLink) -> None:
        hello = await link.request()
        await link.reply(hello, {**good_result("hello"), "resume_secret": "zz" * 32})
        await link.ws.wait_closed()

    def after_hello(frames: tuple[cf.Frame, ...]) -> Any:
        async def script(link: FakeLink) -> None:
            hello = await link.request()
            await link.reply(hello, good_result("hello"))
            await send_frames(link, frames)
            await link.ws.wait_closed()

        return script

    return [
        bad_hello,
        after_hello((cf.Frame("plain", b'{"event":"admitted","seq":1,"data":{"name":5}}'),)),
        after_hello((cf.Frame("plain", b'{"id":99,"ok":true,"result":{}}'),)),
        after_hello((cf.Frame("plain", b"\xff\xfe not utf-8"),)),
        after_hello((cf.Frame("plain", cf._deep(100_000)),)),
        after_hello((cf.Frame("raw", b"not a record"),)),
        after_hello((cf.Frame("text", b"a text frame"),)),
        after_hello((cf.Frame("big", number=cf.CLIENT_MAX_FRAME + 1),)),
        bad_hello,
    ]


class WatchedChannel(Channel):
    """A Channel that lets the test wait for the link to come up on the good hub."""

    def __init__(self, config: ChannelConfig, good: Callable[[], bool]) -> None:
        super().__init__(config)
        self.states: list[str] = []
        self.connected = asyncio.Event()
        self._good = good

    def _on_state(self, state: str) -> None:
        super()._on_state(state)
        self.states.append(state)
        if state == "connected" and self._good():
            self.connected.set()


async def test_the_channel_supervisor_survives_every_hostile_hub_and_reconnects_to_a_good_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = HubConnection.run_forever

    async def quick(self: HubConnection, **_: Any) -> None:  # the backoff, shortened
        await original(self, base_delay=0.002, max_delay=0.02)

    monkeypatch.setattr(connection_module.HubConnection, "run_forever", quick)
    scripts = _hostile_scripts()
    secret = secrets.token_bytes(16)

    async def script(link: FakeLink) -> None:
        if link.index < len(scripts):
            await scripts[link.index](link)
        else:
            await link.serve_good()

    async with contextlib.AsyncExitStack() as stack:
        resume = bytes.fromhex(good_result("hello")["resume_secret"])  # what hello hands out
        hub = FakeHub([secret, resume], script)
        await hub.start()
        stack.push_async_callback(hub.stop)
        config = ChannelConfig(secret=secret, url=hub.url, name="alice", limits=LIMITS)
        channel = WatchedChannel(config, good=lambda: hub.connections > len(scripts))
        stack.push_async_callback(channel.close)
        supervisor = asyncio.create_task(channel.supervise())
        await hub.wait_connections(len(scripts) + 1, timeout=WAIT)
        await asyncio.wait_for(channel.connected.wait(), WAIT)
        answer = await channel.call_tool("read_file", {"path": "src/app.py"})
        assert not supervisor.done()
        await channel.close()
        await asyncio.wait_for(supervisor, WAIT)
    assert not answer.is_error, answer
    assert channel.conn is not None and channel.conn._secret == resume
    # Every hostile hub was met and survived: the last one before the good hub was too.
    assert hub.connections == len(scripts) + 1
