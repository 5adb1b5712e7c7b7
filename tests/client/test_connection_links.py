"""HubConnection on links that die or go away (issue 15, item 5).

A dead link is made by :class:`tests.support.links.TcpLink` (bytes dropped, sockets kept), a
hub that is down by its ``refuse`` mode. The limits are shrunk so the tests run in a fraction
of a second; the defaults are checked by value in ``test_the_default_limits_notice_a_dead_link
_within_ten_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import math
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from letswork.client import connection
from letswork.client.connection import HubConnection, reconnect_delay
from letswork.shared import crypto, limits
from letswork.shared.errors import ErrorCode, OpError, TransportError
from letswork.shared.limits import Limits
from tests.support.fake_hub import FakeLink, fake_hub, good_result
from tests.support.hubs import make_project, running_hub
from tests.support.links import TcpLink, tcp_link

WAIT = 30.0  # seconds: a guard against hangs, never a measurement
QUICK = Limits(stall_ping_seconds=0.2, pong_timeout_seconds=0.5)


async def until(condition: Callable[[], bool], changed: asyncio.Event) -> None:
    """Wait until ``condition()`` holds, re-checking each time ``changed`` is set."""
    while not condition():
        await changed.wait()
        changed.clear()


@dataclasses.dataclass
class Guest:
    conn: HubConnection
    link: TcpLink
    states: list[str]
    changed: asyncio.Event


@contextlib.asynccontextmanager
async def guest_through_a_link(tmp_path: Path, rate: float | None = None) -> AsyncIterator[Guest]:
    async with (
        running_hub(make_project(tmp_path / "p")) as fx,
        tcp_link(fx.url, rate=rate) as link,
    ):
        states: list[str] = []
        changed = asyncio.Event()

        def on_state(state: str) -> None:
            states.append(state)
            changed.set()

        conn = HubConnection(
            link.url, fx.invite_secret, name="alice", limits=QUICK, on_state_change=on_state
        )
        runner = asyncio.create_task(conn.run_forever())
        try:
            await asyncio.wait_for(until(lambda: conn.state == "connected", changed), WAIT)
            yield Guest(conn, link, states, changed)
        finally:
            await conn.close()
            await asyncio.wait_for(runner, WAIT)


async def test_a_request_on_a_dead_link_fails_as_a_dead_link_not_as_a_timeout(
    tmp_path: Path,
) -> None:
    async with guest_through_a_link(tmp_path) as guest:
        guest.link.go_dead()
        with pytest.raises(TransportError) as caught:
            await asyncio.wait_for(guest.conn.request("ping"), WAIT)
    assert caught.value.code != ErrorCode.TIMEOUT
    assert "went dead" in caught.value.message
    assert "no ping within 0.5s" in caught.value.message
    assert guest.conn.link_checks == 1


async def test_after_a_dead_link_the_connection_comes_back_when_the_link_does(
    tmp_path: Path,
) -> None:
    async with guest_through_a_link(tmp_path) as guest:
        guest.link.go_dead()
        with pytest.raises(TransportError):
            await asyncio.wait_for(guest.conn.request("ping"), WAIT)
        guest.link.forward()
        await asyncio.wait_for(until(lambda: guest.conn.state == "connected", guest.changed), WAIT)
        result = await asyncio.wait_for(guest.conn.request("ping"), WAIT)
    assert "now" in result
    assert "disconnected" in guest.states
    assert guest.link.accepted >= 2


async def test_a_hub_slow_to_answer_on_a_live_link_is_waited_for_and_kept() -> None:
    secret = secrets.token_bytes(16)
    release = asyncio.Event()
    asked = asyncio.Event()

    async def script(link: FakeLink) -> None:
        hello = await link.request()
        await link.reply(hello, good_result("hello"))
        request = await link.request()
        asked.set()
        await release.wait()  # busy: the WebSocket layer still answers pings meanwhile
        await link.reply(request, good_result("ping"))
        await link.serve_good()

    async with fake_hub([secret, bytes.fromhex("0f" * 32)], script) as hub:
        conn = HubConnection(hub.url, secret, name="alice", limits=QUICK)
        try:
            await conn.connect()
            call = asyncio.create_task(conn.request("ping"))
            await asyncio.wait_for(asked.wait(), WAIT)
            # the stall ping went out and its pong came back
            await asyncio.wait_for(conn.link_alive.wait(), WAIT)
            release.set()
            result = await asyncio.wait_for(call, WAIT)
        finally:
            await conn.close()
    assert result == good_result("ping")
    assert conn.link_checks == 1
    assert hub.connections == 1


async def test_a_hub_that_comes_back_is_retried_at_most_a_second_apart(tmp_path: Path) -> None:
    async with guest_through_a_link(tmp_path) as guest:
        guest.link.refuse()  # the hub goes down
        await asyncio.wait_for(until(lambda: guest.link.accepted >= 6, guest.changed), WAIT)
        guest.link.forward()  # and comes back
        await asyncio.wait_for(until(lambda: guest.conn.state == "connected", guest.changed), WAIT)
    waits = [float(s.split("next in ")[1].rstrip("s)")) for s in guest.states if "next in" in s]
    assert len(waits) >= 5
    assert max(waits) <= limits.FAST_RECONNECT_MAX_DELAY_SECONDS


def test_the_backoff_grows_past_a_second_only_after_the_fast_window() -> None:
    window = limits.FAST_RECONNECT_WINDOW_SECONDS
    early = [reconnect_delay(n, window - 1, base=0.1, ceiling=30, jitter=1.0) for n in range(1, 12)]
    late = [reconnect_delay(n, window, base=0.1, ceiling=30, jitter=1.0) for n in range(1, 12)]
    assert early[:3] == pytest.approx([0.2, 0.4, 0.8])
    assert max(early) == limits.FAST_RECONNECT_MAX_DELAY_SECONDS
    assert late[-1] == 30


def test_a_hub_that_broke_the_protocol_gets_no_fast_window() -> None:
    assert reconnect_delay(8, math.inf, base=0.1, ceiling=30, jitter=1.0) == pytest.approx(25.6)


def test_full_jitter_never_waits_less_than_half_the_base_delay() -> None:
    assert reconnect_delay(3, 0.0, base=0.1, ceiling=30, jitter=0.0) == pytest.approx(0.05)


def test_the_default_limits_notice_a_dead_link_within_ten_seconds() -> None:
    assert limits.STALL_PING_SECONDS + limits.PONG_TIMEOUT_SECONDS <= 10
    assert limits.STALL_PING_SECONDS < limits.REQUEST_TIMEOUT_SECONDS


async def test_a_hub_that_refuses_hello_is_retried_with_growing_gaps_not_once_a_second() -> None:
    secret = secrets.token_bytes(16)
    states: list[str] = []
    fifth = asyncio.Event()

    async def script(link: FakeLink) -> None:
        hello = await link.request()
        await link.send_obj(
            {"id": hello["id"], "ok": False, "error": {"code": "forbidden", "message": "no"}}
        )
        await link.ws.wait_closed()

    def on_state(state: str) -> None:
        states.append(state)
        if "attempt 5, next in" in state:
            fifth.set()

    async with fake_hub([secret, bytes.fromhex("0f" * 32)], script) as hub:
        conn = HubConnection(hub.url, secret, name="alice", on_state_change=on_state)
        task = asyncio.create_task(conn.run_forever(base_delay=0.05, rng=lambda: 1.0))
        try:
            await asyncio.wait_for(fifth.wait(), WAIT)
        finally:
            await conn.close()
            await asyncio.wait_for(task, WAIT)
    waits = [s.split("next in ")[1] for s in states if "next in" in s]
    assert waits == ["0.1s)", "0.2s)", "0.4s)", "0.8s)", "1.6s)"], states


BIG = "x" * 900_000  # one write_file of 0.9 MB: more than a stalled link's buffers hold


def wan_sized_send_buffer(conn: HubConnection) -> None:
    """Give the client's socket a 64 KiB send buffer, as on a WAN path; on loopback the
    kernel grows it to 4 MiB, which would hold a whole request."""
    assert conn._ws is not None
    sock = conn._ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)


async def test_requests_on_a_link_that_stopped_reading_fail_as_a_dead_link(
    tmp_path: Path,
) -> None:
    # Found attacking issue 15: a send waiting on TCP flow control was outside the request's
    # timeout and the stall check, and held the send lock, so a link that stopped reading (a
    # dead one, or a hub holding its receive window shut) hung this request and all others.
    unread: list[dict[str, object]] = []  # "Future exception was never retrieved"
    asyncio.get_running_loop().set_exception_handler(lambda _, context: unread.append(context))
    async with guest_through_a_link(tmp_path) as guest:
        wan_sized_send_buffer(guest.conn)
        guest.link.stall()
        write = guest.conn.request("write_file", {"path": "big.txt", "content": BIG}, timeout=20)
        calls = [asyncio.ensure_future(write), asyncio.ensure_future(guest.conn.request("ping"))]
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), WAIT)
        assert all(isinstance(r, TransportError) for r in results), results
        assert "went dead" in str(results[0])
        del calls, results  # their tracebacks hold the requests' futures
        gc.collect()
        assert unread == []
        assert guest.conn.link_checks == 1
        guest.link.forward()
        await asyncio.wait_for(until(lambda: guest.conn.state == "connected", guest.changed), WAIT)


async def test_a_request_on_a_link_that_stopped_reading_fails_within_its_timeout(
    tmp_path: Path,
) -> None:
    async with guest_through_a_link(tmp_path) as guest:
        wan_sized_send_buffer(guest.conn)
        guest.link.stall()
        write = guest.conn.request("write_file", {"path": "big.txt", "content": BIG}, timeout=0.1)
        with pytest.raises(TransportError) as caught:
            await asyncio.wait_for(write, WAIT)
        assert caught.value.code == ErrorCode.TIMEOUT
        assert guest.conn.link_checks == 0  # the timeout is shorter than the stall
        guest.link.forward()


async def test_close_returns_on_a_link_that_stopped_reading(tmp_path: Path) -> None:
    # Found attacking issue 15: ws.close() waits for the send buffer to drain before its own
    # close timeout starts, so close() took until the next keepalive ping (20 s) on a link
    # that stopped reading, and forever with keepalive off.
    async with guest_through_a_link(tmp_path) as guest:
        wan_sized_send_buffer(guest.conn)
        guest.link.stall()
        assert guest.conn._ws is not None
        ws = guest.conn._ws
        full = asyncio.Event()
        pause_writing = ws.pause_writing

        def on_full() -> None:  # the transport's buffer went over its high-water mark
            full.set()
            pause_writing()

        ws.pause_writing = on_full  # type: ignore[method-assign]
        write = guest.conn.request("write_file", {"path": "big.txt", "content": BIG})
        call = asyncio.ensure_future(write)
        await asyncio.wait_for(full.wait(), WAIT)
        # The bound is the property under test: the close timeout, with room to spare.
        await asyncio.wait_for(guest.conn.close(), 3 * connection.CLOSE_TIMEOUT_SECONDS)
        with pytest.raises(TransportError):
            await asyncio.wait_for(call, WAIT)


async def test_a_live_link_busy_sending_a_large_request_is_not_dropped(tmp_path: Path) -> None:
    # Attacking issue 15: with the send inside the stall check, the ping of a request that
    # takes long to upload waits behind it; a link still moving bytes out is alive.
    async with guest_through_a_link(tmp_path, rate=400_000) as guest:  # 0.9 MB: ~2.3 s
        wan_sized_send_buffer(guest.conn)
        with contextlib.suppress(OpError):  # the hub read it and answered: all this is about
            await asyncio.wait_for(
                guest.conn.request("write_file", {"path": "big.txt", "content": BIG}), WAIT
            )
        assert guest.conn.link_checks == 1
        assert guest.link.accepted == 1


async def test_a_hub_that_refuses_for_too_many_attempts_gets_growing_gaps() -> None:
    # Found attacking issue 15: the close code 4429 ("wait a minute") was taken for an
    # unreachable hub, so the client knocked ~60 times in the fast window's 30 s.
    states: list[str] = []
    fifth = asyncio.Event()

    async def refuse(ws: ServerConnection) -> None:
        await ws.recv()  # the ClientHello
        await ws.close(crypto.CloseCode.TOO_MANY_ATTEMPTS, "too many failed attempts")

    def on_state(state: str) -> None:
        states.append(state)
        if "attempt 5, next in" in state:
            fifth.set()

    async with serve(refuse, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        conn = HubConnection(f"ws://127.0.0.1:{port}", b"k" * 16, on_state_change=on_state)
        task = asyncio.create_task(conn.run_forever(base_delay=0.05, rng=lambda: 1.0))
        try:
            await asyncio.wait_for(fifth.wait(), WAIT)
        finally:
            await conn.close()
            await asyncio.wait_for(task, WAIT)
    assert "wait a minute" in (conn.last_error or "")
    waits = [s.split("next in ")[1] for s in states if "next in" in s]
    assert waits == ["0.1s)", "0.2s)", "0.4s)", "0.8s)", "1.6s)"], states


async def test_a_live_link_busy_receiving_a_large_reply_is_not_dropped(tmp_path: Path) -> None:
    # Found attacking issue 15: the pong waits behind a large reply on a slow link, and the
    # check took that for a dead link, so such a file could never be read over it.
    async with guest_through_a_link(tmp_path, rate=400_000) as guest:  # 0.9 MB: ~2.3 s
        text = "".join(f"{i:07d} {'y' * 90}\n" for i in range(9000))
        (tmp_path / "p" / "big.txt").write_text(text, "utf-8")
        result = await asyncio.wait_for(guest.conn.request("read_file", {"path": "big.txt"}), WAIT)
        assert result["text"] == text
        assert guest.conn.link_checks == 1
        assert guest.link.accepted == 1
