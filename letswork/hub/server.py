"""The hub's WebSocket adapter: handshake, record layer and dispatch on the ``websockets`` API.

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

The host's own tools (dashboard, admin commands, host channel) may connect over a Unix socket
in the 0600/0700 state directory instead (``socket_path``): the same handshake, but none of the
limits above, which are for strangers, so that strangers cannot lock the host out
(docs/security.md, issue 13 item 5).

A peer's crash or bad frame closes that connection only; the hub logs it and carries on.
Frames are binary only; compression is off (it achieves nothing on ciphertext).

The event loop only routes: guests' walks and searches run in one thread pool
(``limits.search_workers``), their reads (with their hashes), diffs and quoted lines in another
(``limits.file_workers``), so searches never hold up reads and writes; the host's file work has
its own (``limits.host_workers``), so no guest's work delays it. Each peer's requests
are answered one at a time, in order, by that peer's own task, so one peer's long search
delays only that peer, and its ``ping`` is answered at once even then. When the peer goes,
its task is cancelled and its file work stops at the next file (``Peer.gone``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import http
import ipaddress
import logging
import os
import stat
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve, unix_serve
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from websockets.http11 import Request, Response
from websockets.protocol import State

from letswork.hub.core import Credential, HubCore, Job, Peer, describe_error
from letswork.hub.ratelimit import FailureWindow, InProgress
from letswork.shared import crypto
from letswork.shared.errors import (
    ErrorCode,
    HandshakeError,
    LetsworkError,
    ProtocolError,
    RecordError,
    UsageError,
    op_error,
)
from letswork.shared.limits import (
    MAX_HANDSHAKE_FRAME_BYTES,
    MAX_QUEUED_REQUESTS_PER_PEER,
    MAX_UNSENT_BYTES_PER_PEER,
    MAX_UNSENT_REPLY_BYTES,
    MAX_UPGRADE_REQUEST_BYTES,
    REPLY_BYTES_PER_REQUEST,
    Limits,
)
from letswork.shared.protocol import wire

log = logging.getLogger("letswork.hub")

#: Every failed handshake is answered no earlier than this after its ClientHello arrived, so
#: the cause (unknown id, revoked, bad MAC) cannot be told apart by timing.
FAILURE_DELAY_SECONDS = 0.1
#: Events queued for one slow peer before the hub gives up on it.
MAX_QUEUED_FRAMES = 10_000
#: How soon a thread that asks for the GIL gets it (CPython's default is 5 ms). Worker threads
#: run Python code between files (walking, sharing rules); with 1 ms the event loop waits at
#: most about that long each time it wants the GIL back, so pings stay fast during searches.
GIL_SWITCH_SECONDS = 0.001
_CLOSE = object()


def _open_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


@dataclass(eq=False)
class _Conn:
    ws: ServerConnection
    session: crypto.Session
    peer: Peer
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    event_seq: int = 0
    #: bytes of the frames in ``queue`` (their socket has not taken them yet)
    unsent: int = 0
    #: set while ``unsent`` is under MAX_UNSENT_REPLY_BYTES; the peer's next request waits
    room: asyncio.Event = field(default_factory=_open_event)
    #: dropped for not reading: nothing more is queued
    dropped: bool = False


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
        self._in_progress = InProgress(
            per_key=self.limits.max_handshakes_in_progress_per_source,
            total=self.limits.max_handshakes_in_progress,
        )
        self._local_server: Server | None = None
        self._failures = FailureWindow(
            per_key=self.limits.handshake_fails_per_source_per_minute,
            total=self.limits.handshake_fails_total_per_minute,
        )
        self._replay = crypto.ReplayCache()
        self._conns: dict[str, _Conn] = {}
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.stopped = asyncio.Event()
        self.stats = {
            "handshake_failures": 0,
            "handshake_timeouts": 0,
            "refused_rate_limited": 0,
            "refused_busy": 0,
            "refused_origin": 0,
            "refused_oversized": 0,
            "connections": 0,
        }
        self._search_pool = ThreadPoolExecutor(
            max_workers=self.limits.search_workers, thread_name_prefix="letswork-search"
        )
        self._file_pool = ThreadPoolExecutor(
            max_workers=self.limits.file_workers, thread_name_prefix="letswork-files"
        )
        #: per guest identity: the bytes of replies it may still be sent at once
        self._reply_budgets: dict[str, _ReplyBudget] = {}
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # tests record it
        self._host_pool = ThreadPoolExecutor(
            max_workers=self.limits.host_workers, thread_name_prefix="letswork-host"
        )
        core._emit = self._emit
        core._close = self._close_peer

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> int:
        """Start listening (TCP, and the Unix socket if given); returns the bound port.

        Raises:
            OSError: the port cannot be bound.
            UsageError: the Unix socket cannot be made (something else is at its path).
        """
        if sys.getswitchinterval() > GIL_SWITCH_SECONDS:
            sys.setswitchinterval(GIL_SWITCH_SECONDS)  # process-wide; see the constant
        hub = self

        class _Counted(ServerConnection):
            """A TCP connection that holds a handshake slot from accept until it is admitted
            to the record layer or closed; none free: closed before anything is read."""

            #: bytes received while the HTTP upgrade request was still being read
            upgrade_bytes = 0

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                if not hub._in_progress.enter(self):
                    hub.stats["refused_busy"] += 1
                    self.transport.abort()

            def connection_lost(self, exc: Exception | None) -> None:
                hub._in_progress.leave(self)
                super().connection_lost(exc)

            def data_received(self, data: bytes) -> None:
                # websockets allows 128 header lines of 8 KiB and holds several copies while
                # parsing: such requests in the 64 slots took the hub to 299 MiB.
                if self.protocol.state is State.CONNECTING:
                    self.upgrade_bytes += len(data)
                    if self.upgrade_bytes > MAX_UPGRADE_REQUEST_BYTES:
                        hub.stats["refused_oversized"] += 1
                        self.transport.abort()
                        return
                else:
                    # Upgraded: out of the data path for good, websockets' own method from now.
                    self.data_received = super().data_received  # type: ignore[method-assign]
                super().data_received(data)

        # Frames stay at a ClientHello's size until _handshake judges the hello: a stranger's
        # 4 MiB frame is refused from its header (1009), before its payload is buffered.
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
            process_request=self._process_request,
            create_connection=_Counted,
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
        self._ticker = asyncio.create_task(self._tick_loop())
        return self.port

    async def _start_local(self, path: Path, options: dict[str, Any]) -> None:
        """Listen on the host's Unix socket at ``path`` (a stale socket file is replaced)."""
        _unlink_socket(path)
        try:
            self._local_server = await unix_serve(
                self._local_handler,
                str(path),
                process_request=self._process_local_request,
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
        for conn in list(self._conns.values()):
            conn.queue.put_nowait((_CLOSE, crypto.CloseCode.GOING_AWAY, "hub stopped"))
        # Strangers still in their handshake get no grace period: shutdown must not wait out
        # their handshake timeout.
        for holder in self._in_progress.holders():
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
        self._search_pool.shutdown(wait=False, cancel_futures=True)
        self._file_pool.shutdown(wait=False, cancel_futures=True)
        self._host_pool.shutdown(wait=False, cancel_futures=True)
        self._server = None
        self.stopped.set()

    async def _tick_loop(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(1.0)
            ticks += 1
            if ticks % 10 == 0:
                _trim_heap()
            try:
                self.core.tick(self._clock())
            except Exception:  # pragma: no cover - housekeeping must never kill the hub
                log.exception("housekeeping failed")

    # ------------------------------------------------------------------ events

    def _emit(self, peer: Peer, name: str, data: Mapping[str, Any]) -> None:
        conn = self._conns.get(peer.peer_id)
        if conn is None:
            return
        if conn.dropped:
            return
        if conn.queue.qsize() >= MAX_QUEUED_FRAMES:
            self._drop(conn)
            return
        payload = wire.encode_event(name, conn.event_seq, data)
        conn.event_seq += 1
        self._put(conn, payload)

    def _put(self, conn: _Conn, payload: bytes) -> None:
        """Queue one frame for the peer's socket. Past MAX_UNSENT_REPLY_BYTES unsent its next
        request waits (:meth:`_wait_for_room`); past MAX_UNSENT_BYTES_PER_PEER it is dropped."""
        if conn.dropped:
            return
        conn.unsent += len(payload)
        conn.queue.put_nowait(payload)
        if conn.unsent >= MAX_UNSENT_REPLY_BYTES:
            conn.room.clear()
        if conn.unsent > MAX_UNSENT_BYTES_PER_PEER:
            self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        """End a connection that does not read what the hub sends it: a close frame would
        wait behind the frames it does not read, so the socket is cut. The core forgets the
        peer when its reader ends (not here: this may run inside one of the core's loops)."""
        log.warning("peer %s is not reading what the hub sends; dropping it", conn.peer.peer_id)
        conn.dropped = True
        conn.peer.close()  # nothing more of it is applied, its file work stops
        while not conn.queue.empty():
            conn.queue.get_nowait()
        conn.unsent = 0
        conn.ws.transport.abort()

    def _close_peer(self, peer: Peer, code: int, reason: str) -> None:
        conn = self._conns.get(peer.peer_id)
        if conn is not None:
            conn.queue.put_nowait((_CLOSE, code, reason))

    # ------------------------------------------------------------------ connections

    def _source(self, ws: ServerConnection, request: Request | None = None) -> str:
        request = request if request is not None else ws.request
        remote = ws.remote_address[0] if ws.remote_address else "?"
        if self.behind_tunnel and _is_loopback(remote) and request is not None:
            forwarded = request.headers.get("CF-Connecting-IP")
            if forwarded:
                return "cf:" + forwarded.strip()[:64]
        return str(remote)

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """The opening handshake of a TCP connection: browsers refused, then the per-source
        cap on handshakes in progress (the source is known only now, from the headers)."""
        refused = self._process_local_request(ws, request)
        if refused is not None:
            return refused
        source = self._source(ws, request)
        if not self._in_progress.assign(ws, source):
            self.stats["refused_busy"] += 1
            log.warning("refused %s: too many handshakes in progress", source)
            return ws.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "too many handshakes\n")
        return None

    def _process_local_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """Refuse an upgrade that carries ``Origin``: only browsers send it (our client and
        cloudflared do not), and a web page must never reach the hub (issue 13 item 5)."""
        if "Origin" in request.headers:
            self.stats["refused_origin"] += 1
            log.warning("refused a WebSocket upgrade from a browser page")
            return ws.respond(http.HTTPStatus.FORBIDDEN, "browsers may not connect\n")
        return None

    def _allowed(self, source: str, now: float) -> bool:
        """Whether ``source`` is under the failed-handshake limits.

        A loopback source without a tunnel header (another local process, or a local guest)
        is held to its own per-source limit only; the global cap is for the tunnel. The host's
        own tools use the Unix socket, which no limit applies to, and a ClientHello naming the
        host key from loopback is exempt from this limit too (docs/security.md).
        """
        if _is_loopback(source):
            return self._failures.failures(source, now) < self._failures.per_key
        return self._failures.allowed(source, now)

    async def _handler(self, ws: ServerConnection) -> None:
        """A TCP connection: a stranger until its handshake completes."""
        try:
            await self._run(ws, self._source(ws), limited=True)
        finally:
            self._in_progress.leave(ws)

    async def _local_handler(self, ws: ServerConnection) -> None:
        """A connection on the host's Unix socket: the handshake, but no strangers' limits."""
        await self._run(ws, "local", limited=False)

    async def _run(self, ws: ServerConnection, source: str, *, limited: bool) -> None:
        self.stats["connections"] += 1
        now = self._clock()
        # A loopback source is judged on its ClientHello instead (_handshake): the host key's
        # hello must get through even when local strangers used up the loopback bucket.
        if limited and not _is_loopback(source) and not self._allowed(source, now):
            self.stats["refused_rate_limited"] += 1
            log.warning("refused %s: too many failed handshakes in the last minute", source)
            await ws.close(crypto.CloseCode.TOO_MANY_ATTEMPTS, "too many failed attempts")
            return
        try:
            conn = await asyncio.wait_for(
                self._handshake(ws, source, limited=limited),
                timeout=self.limits.handshake_timeout_seconds,
            )
        except asyncio.TimeoutError:
            # A stalled handshake costs the hub a slot for the whole timeout: it counts as a
            # failure, so one source cannot hold slots forever by reconnecting.
            self.stats["handshake_timeouts"] += 1
            if limited:
                self._failures.record_failure(source, self._clock())
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
                self._failures.record_failure(source, self._clock())
            log.info("handshake from %s broke off: %s", source, closed)
            return
        except _HandshakeFailed as failed:
            limited_out = failed.code == crypto.CloseCode.TOO_MANY_ATTEMPTS
            self.stats["refused_rate_limited" if limited_out else "handshake_failures"] += 1
            if failed.count and limited:
                self._failures.record_failure(source, self._clock())
            log.warning("handshake from %s failed: %s", source, failed.reason)
            delay = failed.started + FAILURE_DELAY_SECONDS - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await ws.close(failed.code, "authentication failed")
            return
        self._in_progress.leave(ws)
        await self._serve_peer(conn)

    async def _handshake(self, ws: ServerConnection, source: str, *, limited: bool) -> _Conn:
        frame = await ws.recv()
        started = time.monotonic()
        # The limits are checked again now that the hello is here, and a failed hello is
        # counted before the next await: hellos of connections opened in parallel are judged
        # one after another against current counts. (The check at accept time alone let a burst
        # of parallel guesses all through.)
        if (
            limited
            and not self._allowed(source, self._clock())
            and not (_is_loopback(source) and self._is_host_hello(frame))
        ):
            raise _HandshakeFailed(
                "too many failed handshakes in the last minute",
                started,
                crypto.CloseCode.TOO_MANY_ATTEMPTS,
            )
        try:
            server, credential, reply = self._judge_hello(frame, started)
        except _HandshakeFailed as failed:
            if failed.count and limited:
                self._failures.record_failure(source, self._clock())
            failed.count = False
            raise
        # The hello proved a credential: normal frames from here. Not later: our client sends
        # its first request right behind ClientFinished, and the parser sizes the next frame
        # as soon as its first byte is in, so raising the limit after ClientFinished would race.
        ws.protocol.max_message_size = self.limits.max_frame_bytes
        await ws.send(reply)
        finished = await ws.recv()
        if not isinstance(finished, bytes):
            raise _HandshakeFailed("text frame", started, crypto.CloseCode.PROTOCOL_VIOLATION)
        try:
            session = server.receive_client_finished(finished)
        except HandshakeError as exc:
            raise _HandshakeFailed(exc.message, started, crypto.close_code_for(exc)) from None
        session.max_record_bytes = self.limits.max_frame_bytes
        peer = self.core.new_peer(credential, self._clock(), source=source)
        return _Conn(ws=ws, session=session, peer=peer)

    def _is_host_hello(self, frame: bytes | str) -> bool:
        """Whether ``frame`` is a well-formed ClientHello naming the host key (MAC unchecked)."""
        if not isinstance(frame, bytes):
            return False
        try:
            hello = crypto.parse_client_hello(frame)
        except HandshakeError:
            return False
        return self.core.is_host_invite_id(hello.invite_id)

    def _judge_hello(
        self, frame: bytes | str, started: float
    ) -> tuple[crypto.ServerHandshake, Credential, bytes]:
        """Check a ClientHello (no await): the server side of the handshake and the reply."""
        if not isinstance(frame, bytes):
            raise _HandshakeFailed("text frame", started, crypto.CloseCode.PROTOCOL_VIOLATION)
        try:
            hello = crypto.parse_client_hello(frame)
        except HandshakeError as exc:
            raise _HandshakeFailed(
                f"malformed ClientHello ({exc.message})", started, crypto.close_code_for(exc)
            ) from None
        credential = self.core.lookup_credential(hello.invite_id)
        if credential is None:
            raise _HandshakeFailed("unknown or revoked invite id", started)
        server = crypto.ServerHandshake()
        try:
            reply = server.respond(hello, credential.psk)
        except HandshakeError as exc:
            raise _HandshakeFailed(exc.message, started) from None
        if not self._replay.check_and_add(hello, self._clock()):
            raise _HandshakeFailed("replayed ClientHello", started)
        return server, credential, reply

    async def _serve_peer(self, conn: _Conn) -> None:
        """Read the peer's records; its requests go to its own task (:meth:`_answer_in_order`),
        except ``ping``, answered here at once. Stops reading once the core closed the peer."""
        peer = conn.peer
        self._conns[peer.peer_id] = conn
        writer = asyncio.create_task(self._writer(conn))
        requests: asyncio.Queue[wire.Request] = asyncio.Queue(MAX_QUEUED_REQUESTS_PER_PEER)
        answerer = asyncio.create_task(self._answer_in_order(conn, requests))
        code, reason = crypto.CloseCode.NORMAL, ""
        try:
            async for frame in conn.ws:
                if peer.closed or answerer.done() or writer.done():
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
                    self._put(conn, wire.encode_response_error(rid, exc))
                    continue
                finally:
                    del plaintext
                if request.op == "ping" and peer.state != "handshaken":
                    # Never behind the peer's own search: a ping shows the hub is alive.
                    self._put(conn, await self._answer(peer, request))
                elif requests.full():
                    # Refused rather than awaited: this task must keep reading, to see the
                    # peer go (which stops its file work) however many requests it piles up.
                    self._put(conn, _too_many_in_flight(request.id))
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
            answerer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await answerer
            if not writer.done():
                conn.queue.put_nowait((_CLOSE, code, reason))
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer, timeout=5)
            writer.cancel()
            self._conns.pop(peer.peer_id, None)
            with contextlib.suppress(Exception):
                await conn.ws.close(code, reason)

    async def _answer_in_order(self, conn: _Conn, requests: asyncio.Queue[wire.Request]) -> None:
        """Answer one peer's requests one at a time, in the order they came."""
        peer = conn.peer
        while True:
            await self._wait_for_room(conn)
            request = await requests.get()
            reply = await self._answer(peer, request)
            self._put(conn, reply)
            size = len(reply)
            del request, reply  # not pinned while the next one is awaited
            if self._after_reply(peer):
                # The session ended in this request (leave) or the peer was removed: reply,
                # then close (a kick's 4403 is already queued ahead of this 1000).
                conn.queue.put_nowait((_CLOSE, crypto.CloseCode.NORMAL, ""))
                return
            await self._pace(peer, size)

    async def _pace(self, peer: Peer, size: int) -> None:
        """Hold a guest's next request while its replies run ahead of its byte rate
        (REPLY_BYTES_PER_REQUEST per request its rate limit allows): encoding them holds the
        GIL, so unpaced large replies would keep the loop busy for everyone."""
        if peer.is_host or not peer.admitted:
            return
        rate = self.limits.rate_per_second * REPLY_BYTES_PER_REQUEST
        budget = self._reply_budgets.setdefault(peer.guest_id, _ReplyBudget(rate))
        wait = budget.spend(size, time.monotonic())
        if wait > 0:
            await self._sleep(wait)

    async def _wait_for_room(self, conn: _Conn) -> None:
        """Until the peer's socket has taken enough of what is queued for it: a peer that
        stops reading gets no more answers, so its replies cannot pile up in the hub."""
        await conn.room.wait()

    def _after_reply(self, peer: Peer) -> bool:
        """What follows a reply (queued events such as messages that waited for this peer);
        True when the core ended the peer's session. Never raises."""
        try:
            return self.core.after_reply(peer, self._clock())
        except Exception:  # pragma: no cover - a bug must only cost this connection
            log.exception("after-reply work for %s failed", peer.peer_id)
            return False

    async def _answer(self, peer: Peer, request: wire.Request) -> bytes:
        """Run and encode one decoded request; never raises. File work runs in the pool."""
        try:
            outcome = self.core.begin(peer, request, self._clock())
            while isinstance(outcome, Job):
                outcome = await self._run_work(outcome)
            return wire.encode_response_ok(request.id, outcome)
        except LetsworkError as exc:
            return wire.encode_response_error(request.id, exc)
        except Exception as exc:
            log.exception("request from %s failed", peer.peer_id)
            return wire.encode_response_error(request.id, describe_error(exc))

    async def _run_work(self, job: Job) -> Mapping[str, Any] | Job:
        """One piece of a job's file work in its pool, then its next step on the loop."""
        loop = asyncio.get_running_loop()
        if job.peer.is_host:
            pool = self._host_pool  # never behind guests' work
        else:
            pool = self._search_pool if job.search else self._file_pool
        try:
            value = await loop.run_in_executor(pool, job.work)
        except Exception as exc:
            return job.fail(exc)
        return job.resume(value)

    async def _writer(self, conn: _Conn) -> None:
        while True:
            item = await conn.queue.get()
            if isinstance(item, tuple) and item and item[0] is _CLOSE:
                _, code, reason = item
                with contextlib.suppress(Exception):
                    await conn.ws.close(code, reason)
                return
            try:
                await conn.ws.send(conn.session.seal(item))
            except (ConnectionClosed, RecordError):
                return
            finally:
                if not conn.dropped:
                    conn.unsent -= len(item)
                    if conn.unsent < MAX_UNSENT_REPLY_BYTES:
                        conn.room.set()


class _ReplyBudget:
    """Bytes of replies refilled at ``rate`` a second, up to two seconds' worth; spending
    more than there is leaves a debt, which the guest waits out."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.left = 2 * rate
        self.last: float | None = None

    def spend(self, size: int, now: float) -> float:
        """Spend ``size`` bytes; returns the seconds to wait before the next request."""
        if self.last is not None:
            self.left = min(2 * self.rate, self.left + (now - self.last) * self.rate)
        self.last = now
        self.left -= size
        return -self.left / self.rate if self.left < 0 else 0.0


def _too_many_in_flight(request_id: int) -> bytes:
    return wire.encode_response_error(
        request_id,
        op_error(
            ErrorCode.RATE_LIMITED,
            f"more than {MAX_QUEUED_REQUESTS_PER_PEER} of your requests are waiting for an "
            "answer; wait for some replies, then retry",
            retry_after=1.0,
        ),
    )


class _HandshakeFailed(Exception):
    def __init__(
        self, reason: str, started: float, code: int = crypto.CloseCode.AUTH_FAILED
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.started = started
        self.code = code
        #: whether the handler still has to count this failure against the limits
        self.count = code != crypto.CloseCode.TOO_MANY_ATTEMPTS


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
        # Buffers of 256 KiB and more (1 MiB proposals) get their own mappings, which go back
        # to the OS the moment they are freed (M_MMAP_THRESHOLD is -3 in glibc's malloc.h).
        libc.mallopt(-3, 256 * 1024)
    except (OSError, AttributeError):
        return None
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def _trim_heap() -> None:
    """Hand freed heap back to the OS: glibc keeps it after large proposals are decided, so
    the hub's RSS would stay at its peak (measured in docs/performance.md)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _unlink_socket(path: Path) -> None:
    """Remove the Unix socket at ``path`` if there is one (never another kind of file)."""
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
