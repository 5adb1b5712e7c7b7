"""The hub's WebSocket adapter: accepts connections, drives their handshake, then moves frames
between each peer's socket and the core, on the ``websockets`` API.

One task per connection. Everything a peer sends goes through, in order::

    handshakes in progress (global), at TCP accept     -> connection closed, nothing read
    opening handshake over 16 KiB                      -> connection closed
    opening handshake: browser Origin header           -> HTTP 403
    handshakes in progress (per source)                -> HTTP 503
    failed-handshake limit (per source, then global)  -> 4429, before reading anything
                          (loopback: on its ClientHello; the host key's is exempt)
    frames larger than a ClientHello                   -> 1009, until the hello is judged
    ClientHello -> credential lookup -> MAC -> DH      -> 4401 after a uniform delay on failure
    ClientFinished                                      -> 4401 on a bad tag
    no ClientFinished within the handshake timeout      -> 4408, counted as a failure
    records: Session.open                               -> 4400 on any record error
    wire.decode_request                                 -> error reply, connection stays open
    HubCore.begin                                       -> result or error reply, or a Job:
      Job.work in a worker thread, Job.resume on the loop, until the result

This module accepts, drives and reads; the jobs on the way are the other modules of
``letswork.hub``: the limits before the handshake in ``strangers.py``, the handshake (the
limits again on the ClientHello, credentials, replays) in ``handshake.py``, each peer's
answers (worker pools, pacing) in ``answering.py``, and what is sent to each peer (send queue,
events, flow control) in ``connections.py``; ``housekeeping.py`` ticks the core.

The host's own tools (dashboard, admin commands, host channel) may connect over a Unix socket
in the 0600/0700 state directory instead (``socket_path``): the same handshake, but none of the
limits above, which are for strangers, so that strangers cannot lock the host out
(docs/security.md, issue 13 item 5).

A peer's crash or bad frame closes that connection only; the hub logs it and carries on.
Frames are binary only; compression is off (it achieves nothing on ciphertext).

Each peer's requests are answered one at a time, in order, by that peer's own task, so one
peer's long search delays only that peer, and its ``ping`` is answered at once even then. When
the peer goes, its task is cancelled and its file work stops at the next file (``Peer.gone``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve, unix_serve
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK

from letswork.hub.answering import Answerer, shorten_gil_switch, too_many_in_flight
from letswork.hub.connections import Connection, Connections
from letswork.hub.core import HubCore
from letswork.hub.handshake import HandshakeFailed, Handshakes
from letswork.hub.housekeeping import tick_loop
from letswork.hub.strangers import StrangerGate, is_loopback
from letswork.shared import crypto
from letswork.shared.errors import ProtocolError, RecordError, UsageError
from letswork.shared.limits import MAX_HANDSHAKE_FRAME_BYTES, MAX_QUEUED_REQUESTS_PER_PEER, Limits
from letswork.shared.protocol import wire

log = logging.getLogger("letswork.hub")

#: Every failed handshake is answered no earlier than this after its ClientHello arrived, so
#: the cause (unknown id, revoked, bad MAC) cannot be told apart by timing.
FAILURE_DELAY_SECONDS = 0.1


class HubServer:
    """Serve a :class:`HubCore` over WebSockets.

    Args:
        core: the hub's rules.
        bind: interface to listen on (default loopback only).
        port: TCP port; 0 picks a free one (read :attr:`port` after :meth:`start`).
        behind_tunnel: trust ``CF-Connecting-IP`` as the source of a connection whose TCP peer
            is loopback (cloudflared runs on this machine); never otherwise.
        clock: wall clock in seconds; injectable for tests.
        socket_path: also listen on this Unix socket (made 0600; its folder must be private)
            for the host's own tools, outside the limits strangers are held to. POSIX only.
    """

    def __init__(
        self,
        core: HubCore,
        *,
        bind: str = "127.0.0.1",
        port: int = 0,
        behind_tunnel: bool = False,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
        socket_path: Path | None = None,
    ) -> None:
        self.core = core
        self.limits = limits or core.limits
        self.bind = bind
        self.port = port
        self.behind_tunnel = behind_tunnel
        self._clock = clock
        self.socket_path = socket_path
        self.stats = {
            "handshake_failures": 0,
            "handshake_timeouts": 0,
            "refused_rate_limited": 0,
            "refused_busy": 0,
            "refused_origin": 0,
            "refused_oversized": 0,
            "connections": 0,
        }
        self._gate = StrangerGate(self.limits, self.stats, behind_tunnel=behind_tunnel)
        self._handshakes = Handshakes(core, self._gate, self.limits, clock)
        self._conns = Connections()
        self._answerer = Answerer(core, self.limits, clock)
        self._local_server: Server | None = None
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.stopped = asyncio.Event()
        core._emit = self._conns.emit
        core._close = self._conns.close_peer

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> int:
        """Start listening (TCP, and the Unix socket if given); returns the bound port.

        Raises:
            OSError: the port cannot be bound.
            UsageError: the Unix socket cannot be made (something else is at its path).
        """
        shorten_gil_switch()
        # Frames stay at a ClientHello's size until the hello is judged (hub/handshake.py): a
        # stranger's 4 MiB frame is refused from its header (1009), before its payload is
        # buffered.
        options: dict[str, Any] = {
            "compression": None,
            "max_size": MAX_HANDSHAKE_FRAME_BYTES,
            "ping_interval": self.limits.ping_interval_seconds,
            "ping_timeout": self.limits.ping_interval_seconds,
            "open_timeout": self.limits.handshake_timeout_seconds,
            "close_timeout": 5,
            "max_queue": 64,
            "server_header": None,
        }
        self._server = await serve(
            self._handler,
            self.bind,
            self.port,
            process_request=self._gate.process_request,
            create_connection=self._gate.connection_class(),
            **options,
        )
        sock = next(iter(self._server.sockets))
        self.port = int(sock.getsockname()[1])
        if self.socket_path is not None:
            try:
                await self._start_local(self.socket_path, options)
            except BaseException:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
                raise
        self._ticker = asyncio.create_task(tick_loop(self.core, self._clock))
        return self.port

    async def _start_local(self, path: Path, options: dict[str, Any]) -> None:
        """Listen on the host's Unix socket at ``path`` (a stale socket file is replaced)."""
        _unlink_socket(path)
        try:
            self._local_server = await unix_serve(
                self._local_handler,
                str(path),
                process_request=self._gate.process_local_request,
                **options,
            )
        except OSError as exc:
            raise UsageError(
                f"cannot listen on the host socket {path}: {exc.strerror or exc}"
            ) from None
        # The folder is 0700 already; 0600 on the socket keeps it the host's even if not.
        os.chmod(path, 0o600)

    async def stop(self) -> None:
        """Graceful shutdown: events out, locks released, every connection closed with 1001."""
        if self._server is None:
            return
        self.core.shutdown(self._clock())
        for conn in self._conns.values():
            conn.close(crypto.CloseCode.GOING_AWAY, "hub stopped")
        # Strangers still in their handshake get no grace period: shutdown must not wait out
        # their handshake timeout.
        for holder in self._gate.in_progress.holders():
            if isinstance(holder, ServerConnection):
                holder.transport.abort()
        servers = [s for s in (self._server, self._local_server) if s is not None]
        for server in servers:
            server.close(close_connections=False)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*(s.wait_closed() for s in servers)), timeout=5)
        for server in servers:
            server.close(close_connections=True)
            await server.wait_closed()
        self._local_server = None
        if self.socket_path is not None:
            _unlink_socket(self.socket_path)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        # Every peer is gone, so running file work stops at its next file.
        self._answerer.shutdown()
        self._server = None
        self.stopped.set()

    # ------------------------------------------------------------------ connections

    async def _handler(self, ws: ServerConnection) -> None:
        """A TCP connection: a stranger until its handshake completes."""
        try:
            await self._run(ws, self._gate.source(ws), limited=True)
        finally:
            self._gate.in_progress.leave(ws)

    async def _local_handler(self, ws: ServerConnection) -> None:
        """A connection on the host's Unix socket: the handshake, but no strangers' limits."""
        await self._run(ws, "local", limited=False)

    async def _run(self, ws: ServerConnection, source: str, *, limited: bool) -> None:
        self.stats["connections"] += 1
        now = self._clock()
        # A loopback source is judged on its ClientHello instead (hub/handshake.py): the host
        # key's hello must get through even when local strangers used up the loopback bucket.
        if limited and not is_loopback(source) and not self._gate.allowed(source, now):
            self.stats["refused_rate_limited"] += 1
            log.warning("refused %s: too many failed handshakes in the last minute", source)
            await ws.close(crypto.CloseCode.TOO_MANY_ATTEMPTS, "too many failed attempts")
            return
        try:
            conn = await asyncio.wait_for(
                self._handshakes.run(ws, source, limited=limited),
                timeout=self.limits.handshake_timeout_seconds,
            )
        except asyncio.TimeoutError:
            # A stalled handshake costs the hub a slot for the whole timeout: it counts as a
            # failure, so one source cannot hold slots forever by reconnecting.
            self.stats["handshake_timeouts"] += 1
            if limited:
                self._gate.record_failure(source, self._clock())
            log.info("handshake from %s timed out", source)
            await ws.close(crypto.CloseCode.HANDSHAKE_TIMEOUT, "handshake timeout")
            return
        except ConnectionClosedOK:
            return
        except ConnectionClosedError as closed:
            # An oversized frame (1009), a protocol error or a dropped connection before the
            # handshake completed: a failed handshake, or slots could be churned for free.
            self.stats["handshake_failures"] += 1
            if limited:
                self._gate.record_failure(source, self._clock())
            log.info("handshake from %s broke off: %s", source, closed)
            return
        except HandshakeFailed as failed:
            limited_out = failed.code == crypto.CloseCode.TOO_MANY_ATTEMPTS
            self.stats["refused_rate_limited" if limited_out else "handshake_failures"] += 1
            if failed.count and limited:
                self._gate.record_failure(source, self._clock())
            log.warning("handshake from %s failed: %s", source, failed.reason)
            delay = failed.started + FAILURE_DELAY_SECONDS - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await ws.close(failed.code, "authentication failed")
            return
        self._gate.in_progress.leave(ws)
        await self._serve_peer(conn)

    async def _serve_peer(self, conn: Connection) -> None:
        """Read the peer's records; its requests go to its own task
        (:meth:`Answerer.answer_in_order`), except ``ping``, answered here at once. Stops
        reading once the core closed the peer."""
        peer = conn.peer
        answerer = self._answerer
        self._conns.add(conn)
        writer = asyncio.create_task(conn.write())
        requests: asyncio.Queue[wire.Request] = asyncio.Queue(MAX_QUEUED_REQUESTS_PER_PEER)
        in_order = asyncio.create_task(answerer.answer_in_order(conn, requests))
        code, reason = crypto.CloseCode.NORMAL, ""
        try:
            async for frame in conn.ws:
                if peer.closed or in_order.done() or writer.done():
                    break  # kicked or left: what is still buffered is never served
                if not isinstance(frame, bytes):
                    code, reason = crypto.CloseCode.PROTOCOL_VIOLATION, "binary frames only"
                    break
                try:
                    plaintext = conn.session.open(frame)
                except RecordError as exc:
                    log.warning("peer %s (%s): %s", peer.peer_id, peer.name, exc.message)
                    code, reason = crypto.CloseCode.PROTOCOL_VIOLATION, "bad record"
                    break
                # An idle peer must not pin its last request (a 1 MiB proposal is ~2 MiB as
                # frame and plaintext) while the loop waits for the next one.
                del frame
                try:
                    request = wire.decode_request(plaintext)
                except ProtocolError as exc:
                    rid = exc.data.get("id")
                    rid = rid if isinstance(rid, int) else None
                    conn.put(wire.encode_response_error(rid, exc))
                    continue
                finally:
                    del plaintext
                if request.op == "ping" and peer.state != "handshaken":
                    # Never behind the peer's own search: a ping shows the hub is alive.
                    conn.put(await answerer.answer(peer, request))
                elif requests.full():
                    # Refused rather than awaited: this task must keep reading, to see the
                    # peer go (which stops its file work) however many requests it piles up.
                    conn.put(too_many_in_flight(request.id))
                else:
                    requests.put_nowait(request)
                del request
        except ConnectionClosed:
            pass
        except Exception:  # pragma: no cover - a bug must only cost this connection
            log.exception("peer %s crashed its connection", peer.peer_id)
            code, reason = crypto.CloseCode.INTERNAL_ERROR, "internal error"
        finally:
            # Marks the peer gone first: its file work in a worker stops at the next file.
            self.core.disconnect(peer, self._clock(), "disconnected")
            in_order.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await in_order
            if not writer.done():
                conn.close(code, reason)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer, timeout=5)
            writer.cancel()
            self._conns.remove(conn)
            with contextlib.suppress(Exception):
                await conn.ws.close(code, reason)


def _unlink_socket(path: Path) -> None:
    """Remove the Unix socket at ``path`` if there is one (never another kind of file)."""
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()
