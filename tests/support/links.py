"""A TCP proxy on loopback that can delay, go dead or refuse, for the link tests and
``bench/slow_link.py`` (issue 15).

netem is not in this kernel, so a dead link (a closed laptop lid, a Wi-Fi change) is made
here: in ``dead`` mode the proxy keeps every socket open and drops every byte, which is what
a client sees when the path to the hub vanishes without a FIN or RST. In ``refuse`` mode it
closes the connections it has and every new one at once, as a hub that is down. In
``stalled`` mode it stops reading, so TCP's flow control fills the client's buffers: a link
that died while the client was sending, or a hub that holds its receive window shut. With
``delay`` (seconds, one way) every byte arrives that much later in each direction, in order,
so a round trip costs ``2 * delay`` more: a slow link without netem. With ``rate`` (bytes a
second) it reads from each side no faster than that: a narrow link.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator


class TcpLink:
    """Forward TCP between clients and ``upstream`` (host, port) while ``mode`` is
    ``"forward"``; see the module docstring for ``"dead"`` and ``"refuse"``."""

    def __init__(
        self, upstream: tuple[str, int], *, delay: float = 0.0, rate: float | None = None
    ) -> None:
        self.upstream = upstream
        self.delay = delay
        self.rate = rate  # bytes a second each way, or None: as fast as loopback
        self.mode = "forward"
        self.accepted = 0
        #: Client-to-hub flights, over all connections: each run of bytes from a client that
        #: follows bytes from the hub on its connection (or opens it). What a client sends
        #: only after the hub answered starts a new one, so before a reply this counts the
        #: round trips it cost (TCP's own handshake aside), whatever the timing.
        self.flights = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A fixed receive buffer (no autotuning up to tcp_rmem's 32 MiB): a stalled link fills
        # as a real one does, after a few MB at most.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.bind(("127.0.0.1", 0))
        self._server = await asyncio.start_server(self._handle, sock=sock)

    def go_dead(self) -> None:
        self.mode = "dead"
        self._flowing.set()

    def stall(self) -> None:
        """Read nothing more from either side, and keep every socket open."""
        self.mode = "stalled"
        self._flowing.clear()

    def refuse(self) -> None:
        """Be a hub that is down: close what is open, and close every new connection."""
        self.mode = "refuse"
        for writer in list(self._writers):
            writer.transport.abort()

    def forward(self) -> None:
        self.mode = "forward"
        self._flowing.set()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "refuse":
            writer.transport.abort()
            return
        # asyncio turns Nagle off only for sockets made with proto IPPROTO_TCP, and the
        # listening socket above (so the ones it accepts) has proto 0: without this, a reply
        # written right behind another waited for the client's delayed ACK, ~40 ms.
        client_sock = writer.get_extra_info("socket")
        if client_sock is not None:
            client_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        turn = ["hub"]  # who sent last on this connection; a client's flight follows the hub's
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, turn, "client")),
            asyncio.create_task(self._pump(up_reader, writer, turn, "hub")),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._tasks.difference_update(pumps)
            for w in (writer, up_writer):
                self._writers.discard(w)
                if self.mode not in ("dead", "stalled"):
                    w.transport.abort()

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, turn: list[str], side: str
    ) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    dst.transport.abort()
                    return
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())  # the link's latency
                if self.mode == "forward":
                    dst.write(data)
                    await dst.drain()

        deliverer = asyncio.create_task(deliver())
        try:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while True:
                    await self._flowing.wait()
                    if not (data := await src.read(16384 if self.rate else 65536)):
                        break
                    if turn[0] != side:
                        turn[0] = side
                        self.flights += side == "client"
                    queue.put_nowait((loop.time() + self.delay, data))
                    if self.rate:  # a narrow link: read no faster than it carries
                        await asyncio.sleep(len(data) / self.rate)
            queue.put_nowait((loop.time() + self.delay, b""))
            with contextlib.suppress(OSError):
                await deliverer
        finally:
            deliverer.cancel()


@contextlib.asynccontextmanager
async def tcp_link(
    upstream_url: str, *, delay: float = 0.0, rate: float | None = None
) -> AsyncIterator[TcpLink]:
    """A :class:`TcpLink` in front of the hub at ``ws://host:port``."""
    host, port = upstream_url.removeprefix("ws://").rstrip("/").rsplit(":", 1)
    link = TcpLink((host, int(port)), delay=delay, rate=rate)
    await link.start()
    try:
        yield link
    finally:
        await link.stop()
