"""A man in the middle between a channel's hub connection and the hub (issue 8, item 2).

A loopback WebSocket proxy (the ``websockets`` server and client) forwards every frame and can
tamper with the next record in one direction: flip a bit, replay it, swap it with the next one,
drop it, truncate it, or delay it. The client is a :class:`HubConnection` kept up by
``run_forever``, as the channel runs it.

Every tampered record must end that connection cleanly (close code 4400 from whichever side
detected it), the connection must come back by itself (a resumed guest session), and no request
may ever get a wrong answer: each one either fails with :class:`TransportError` or returns
exactly the content of the file it asked for. A delay is not tampering: it costs time only,
unless it exceeds the request timeout, and then the late reply is never given to another
request.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from letswork.client.connection import HubConnection
from letswork.shared import crypto
from letswork.shared.errors import ErrorCode, TransportError
from tests.support.hubs import HubFixture, running_hub

FILES = {f"mitm/f{i}.txt": f"file {i}\n" + "x" * (100 * i) for i in range(6)}
# Frames before the first record in each direction: ClientHello + ClientFinished / ServerHello.
HANDSHAKE_FRAMES = {"c2s": 2, "s2c": 1}


@dataclasses.dataclass(frozen=True)
class Fault:
    direction: str  # "c2s" (client to hub) or "s2c"
    kind: str  # "flip", "replay", "reorder", "drop", "truncate", "delay"
    #: which frame of the connection, counted in that direction from 0 (handshake included)
    frame: int
    #: which connection through the proxy, counted from 1
    connection: int
    delay: float = 0.0


class Proxy:
    """Forward frames between a client and the hub; tamper with the frames it is told to."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.connections = 0
        self.fired: list[Fault] = []
        #: close codes as they crossed the proxy: ("from hub" | "from client", code)
        self.closes: list[tuple[str, int]] = []
        self._counts: dict[str, int] = {"c2s": 0, "s2c": 0}
        self._server: Server | None = None
        self.changed = asyncio.Event()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None, max_size=None)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def arm(self, direction: str, kind: str, *, delay: float = 0.0) -> None:
        """Tamper with the next record in ``direction`` of the current connection."""
        frame = max(self._counts[direction], HANDSHAKE_FRAMES[direction])
        self.faults.append(Fault(direction, kind, frame, self.connections, delay))

    async def _handle(self, client: ServerConnection) -> None:
        self.connections += 1
        number = self.connections
        self._counts = counts = {"c2s": 0, "s2c": 0}
        self.changed.set()
        async with connect(self.upstream, compression=None, max_size=None) as hub:
            pumps = [
                asyncio.create_task(self._pump(client, hub, "c2s", number, counts)),
                asyncio.create_task(self._pump(hub, client, "s2c", number, counts)),
            ]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            await asyncio.gather(*pumps, return_exceptions=True)

    async def _pump(
        self,
        src: ServerConnection | ClientConnection,
        dst: Any,
        direction: str,
        number: int,
        counts: dict[str, int],
    ) -> None:
        held: bytes | str | None = None
        try:
            async for frame in src:
                index = counts[direction]
                counts[direction] += 1
                out: list[bytes | str] = [frame]
                fault = Fault(direction, "", index, number)
                match = [
                    f for f in self.faults if dataclasses.replace(f, kind="", delay=0.0) == fault
                ]
                if match:
                    self.faults.remove(match[0])
                    self.fired.append(match[0])
                    out = await self._tamper(match[0], frame)
                    if match[0].kind == "reorder":
                        held, out = frame, []
                elif held is not None:
                    out, held = [frame, held], None
                for item in out:
                    await dst.send(item)
        except ConnectionClosed:
            pass
        finally:
            code = src.close_code or 1000
            if code in (1005, 1006):
                code = 1000
            self.closes.append(("from hub" if direction == "s2c" else "from client", code))
            with contextlib.suppress(Exception):
                await dst.close(code, src.close_reason or "")
            self.changed.set()

    @staticmethod
    async def _tamper(fault: Fault, frame: bytes | str) -> list[bytes | str]:
        assert isinstance(frame, bytes)
        if fault.kind == "flip":
            damaged = bytearray(frame)
            damaged[len(damaged) // 2] ^= 0x10
            return [bytes(damaged)]
        if fault.kind == "replay":
            return [frame, frame]
        if fault.kind == "drop":
            return []
        if fault.kind == "truncate":
            return [frame[: len(frame) - 5]]
        if fault.kind == "delay":
            await asyncio.sleep(fault.delay)
            return [frame]
        return []  # reorder: the caller holds the frame back


@dataclasses.dataclass
class Link:
    fx: HubFixture
    proxy: Proxy
    conn: HubConnection
    states: list[str]
    changed: asyncio.Event

    async def until(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait (event-driven) until ``condition`` holds after a state change."""

        async def loop() -> None:
            while not condition():
                self.changed.clear()
                self.proxy.changed.clear()
                waiters = [
                    asyncio.create_task(self.changed.wait()),
                    asyncio.create_task(self.proxy.changed.wait()),
                ]
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()

        await asyncio.wait_for(loop(), timeout)

    async def connected(self, connections: int) -> None:
        await self.until(lambda: self.conn.connected and self.proxy.connections == connections)

    async def read(self, path: str) -> dict[str, Any] | TransportError:
        try:
            return await self.conn.request("read_file", {"path": path})
        except TransportError as exc:
            return exc


def check_answers(results: list[Any], paths: list[str]) -> tuple[int, int]:
    """Every answer is right or a TransportError; returns (right, failed)."""
    right = failed = 0
    for path, result in zip(paths, results, strict=True):
        if isinstance(result, TransportError):
            assert result.code in (ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT)
            failed += 1
            continue
        assert isinstance(result, dict), result
        assert result["text"] == FILES[path], f"wrong answer for {path}"
        assert result["sha256"] == hashlib.sha256(FILES[path].encode()).hexdigest()
        right += 1
    return right, failed


@contextlib.asynccontextmanager
async def link(project: Path, **conn_kw: Any) -> AsyncIterator[Link]:
    for path, text in FILES.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text, encoding="utf-8")
    async with running_hub(project) as fx:
        proxy = Proxy(fx.url)
        await proxy.start()
        states: list[str] = []
        changed = asyncio.Event()

        def on_state(state: str) -> None:
            states.append(state)
            changed.set()

        conn = HubConnection(
            proxy.url, fx.invite_secret, name="alice", on_state_change=on_state, **conn_kw
        )
        runner = asyncio.create_task(conn.run_forever(base_delay=0.02, max_delay=0.1))
        lk = Link(fx, proxy, conn, states, changed)
        try:
            await lk.connected(1)
            yield lk
        finally:
            await conn.close()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            await proxy.stop()


TAMPERING = [
    (direction, kind)
    for direction in ("c2s", "s2c")
    for kind in ("flip", "replay", "reorder", "drop", "truncate")
]


@pytest.mark.parametrize(("direction", "kind"), TAMPERING)
async def test_a_tampered_record_closes_cleanly_reconnects_and_never_gives_a_wrong_answer(
    project: Path, direction: str, kind: str
) -> None:
    async with link(project) as lk:
        lk.proxy.arm(direction, kind)
        paths = sorted(FILES)[:4]
        results = await asyncio.gather(*(lk.read(p) for p in paths))
        _, failed = check_answers(results, paths)
        assert failed >= 1  # the tampering was detected: the connection went down
        assert [f.kind for f in lk.proxy.fired] == [kind]
        # The side that received the bad record closed with 4400 (protocol violation).
        receiver = "from hub" if direction == "c2s" else "from client"
        assert (receiver, crypto.CloseCode.PROTOCOL_VIOLATION) in lk.proxy.closes
        await lk.connected(2)  # it came back by itself, with its resume credential
        again = await asyncio.gather(*(lk.read(p) for p in sorted(FILES)))
        assert check_answers(again, sorted(FILES)) == (len(FILES), 0)
        assert "disconnected" in lk.states


@pytest.mark.parametrize("direction", ["c2s", "s2c"])
async def test_delayed_records_arrive_late_but_right_without_a_reconnect(
    project: Path, direction: str
) -> None:
    async with link(project) as lk:
        lk.proxy.arm(direction, "delay", delay=0.3)
        paths = sorted(FILES)
        results = await asyncio.gather(*(lk.read(p) for p in paths))
        assert check_answers(results, paths) == (len(paths), 0)
        assert lk.proxy.connections == 1
        assert [f.kind for f in lk.proxy.fired] == ["delay"]


async def test_a_reply_delayed_past_the_timeout_is_never_given_to_a_later_request(
    project: Path,
) -> None:
    async with link(project) as lk:
        lk.proxy.arm("s2c", "delay", delay=0.5)
        with pytest.raises(TransportError) as late:
            await lk.conn.request("read_file", {"path": "mitm/f0.txt"}, timeout=0.1)
        assert late.value.code == ErrorCode.TIMEOUT
        # f1 goes out while f0's reply is still held back; that late reply reaches the client
        # first, and f1 must get f1's content, never f0's.
        second = await lk.conn.request("read_file", {"path": "mitm/f1.txt"}, timeout=10)
        assert check_answers([second], ["mitm/f1.txt"]) == (1, 0)
        assert [f.kind for f in lk.proxy.fired] == ["delay"]
        assert lk.proxy.connections == 1


async def test_a_tampered_server_hello_is_retried_not_taken_for_a_revoked_invite(
    project: Path,
) -> None:
    async with link(project) as lk:
        # Drop connection 1 with a bad record, then break connection 2's ServerHello.
        lk.proxy.faults.append(Fault("s2c", "flip", 0, 2))
        lk.proxy.arm("c2s", "flip")
        await lk.read("mitm/f0.txt")
        await lk.connected(3)
        assert Fault("s2c", "flip", 0, 2) in lk.proxy.fired
        assert "revoked" not in lk.states
        result = await lk.read("mitm/f1.txt")
        assert check_answers([result], ["mitm/f1.txt"]) == (1, 0)


@pytest.mark.parametrize("frame", [0, 1], ids=["client_hello", "client_finished"])
async def test_a_tampered_client_handshake_frame_is_refused_and_opens_no_session(
    project: Path, frame: int
) -> None:
    async with link(project) as lk:
        lk.proxy.faults.append(Fault("c2s", "flip", frame, 2))
        lk.proxy.arm("c2s", "flip")
        await lk.read("mitm/f0.txt")
        await lk.until(lambda: lk.proxy.connections == 2 and "revoked" in lk.states)
        assert ("from hub", crypto.CloseCode.AUTH_FAILED) in lk.proxy.closes
        assert not lk.conn.connected
        core = lk.fx.hub.core
        assert core is not None
        assert list(core.peers.values()) == []  # no session: nobody said hello again
