"""A client connection to the hub: handshake, request ids, events, reconnect.

Used by the channel (the MCP server), the admin CLI, the dashboard, tests and the benchmark.

- Any number of requests may be in flight: each gets its own id and future, and responses are
  matched by id (never a single "current request" slot).
- Every request has a timeout (:data:`letswork.shared.limits.REQUEST_TIMEOUT_SECONDS`).
- Events are handed to ``on_event`` in order.
- :meth:`HubConnection.run_forever` reconnects with exponential backoff and full jitter,
  resuming with the stored resume credential once the host has admitted this guest.
- :attr:`HubConnection.state` is a short text the tools report: ``connected``,
  ``connecting (attempt 3, next in 4.0s)``, ``awaiting admission``, ``disconnected``,
  ``revoked``, ``closed``; ``on_state_change`` is told of every change.
- No request is sent before ``hello`` (the hub would refuse it). While :meth:`HubConnection.
  connect` runs, a request made with ``early=True`` is sent right behind ``hello`` without
  waiting for its answer (a cold start costs one round trip less; the hub answers a peer's
  requests in order, so it answers that one after ``hello``); any other request made while
  not connected fails at once with ``unavailable``.
- Nothing from the hub is trusted: every response is checked against the result model of the
  op it answers (:func:`parse_result`), every catalogue event against
  its data model, and a response must answer a request this connection sent. A message that
  fails is the hub's protocol error: the connection is closed with 4400, every request in
  flight fails with :class:`HubProtocolError`, and :meth:`HubConnection.run_forever` backs off
  before it reconnects. Events the catalogue does not know are passed on (a newer hub).

Errors: :class:`TransportError` (hub unreachable, closed, timeout), its subclass
:class:`HubProtocolError` (the hub broke the catalogue), :class:`HandshakeError` (the hub
refused the credential, close code 4401), :class:`OpError` (an error reply).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection, connect, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

# The link check, the reading side and the small helpers live in their own modules; the names
# that were always importable from here stay so (re-exported).
from letswork.client.faults import _close_text, _why
from letswork.client.faults import reconnect_delay as reconnect_delay
from letswork.client.link import CLOSE_TIMEOUT_SECONDS as CLOSE_TIMEOUT_SECONDS
from letswork.client.link import LinkCheck, _close_soon
from letswork.client.link import log as log
from letswork.client.reading import FATAL_CLOSE_CODES as FATAL_CLOSE_CODES
from letswork.client.reading import EventHandler as EventHandler
from letswork.client.reading import Reader
from letswork.client.reading import Reply as Reply
from letswork.shared import crypto
from letswork.shared.errors import (
    ErrorCode,
    HandshakeError,
    HubProtocolError,
    LetsworkError,
    OpError,
    TransportError,
)
from letswork.shared.limits import Limits
from letswork.shared.protocol.session import HelloResult
from letswork.shared.protocol.wire import encode_request

__all__ = [
    "CLOSE_TIMEOUT_SECONDS",
    "FATAL_CLOSE_CODES",
    "STABLE_CONNECTION_SECONDS",
    "UNIX_URL_PREFIX",
    "EventHandler",
    "HandshakeError",
    "HubConnection",
    "HubProtocolError",
    "OpError",
    "Reply",
    "TransportError",
    "reconnect_delay",
]

#: A connection that ends sooner than this after ``hello`` counts towards the backoff, as a
#: fault does: a hub that answers ``hello`` and hangs up at once cannot make the client
#: reconnect at full speed. A longer-lived connection reconnects at once (a hub restart).
STABLE_CONNECTION_SECONDS = 10.0
#: A hub URL of this form names the hub's Unix socket (the host's own tools; see hub.json).
UNIX_URL_PREFIX = "ws+unix:"
#: Why a request that joined a :meth:`HubConnection.connect` fails when that is cancelled.
_CANCELLED_TEXT = "the connection attempt was cancelled"


class HubConnection(LinkCheck, Reader):
    """One logical connection to a hub, surviving reconnects.

    Args:
        url: ``ws://`` or ``wss://`` URL of the hub.
        secret: the credential secret (invite, host key or resume secret).
        name: display name sent in ``hello``.
        client: client description sent in ``hello`` (e.g. ``"claude-code"``).
        on_event: called for each event, in order.
        on_resume_secret: called with a new resume secret (bytes) when the hub admits us, so
            the caller can store it (0600) and reconnect with it.
        limits: frame size and request timeout.
        headers: extra HTTP headers for the WebSocket opening handshake.
        on_state_change: called with the new :attr:`state` each time it changes (from inside
            the connection's tasks: it must not block).
    """

    def __init__(
        self,
        url: str,
        secret: bytes,
        *,
        name: str = "guest",
        client: str | None = None,
        on_event: EventHandler | None = None,
        on_resume_secret: Callable[[bytes], None] | None = None,
        limits: Limits | None = None,
        headers: Mapping[str, str] | None = None,
        on_state_change: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self.name = name
        self.client = client
        self.limits = limits or Limits()
        self._on_event = on_event
        self._on_resume_secret = on_resume_secret
        self._headers = dict(headers or {})
        self._on_state_change = on_state_change
        self._state = "closed"
        self._ws: ClientConnection | None = None
        self._session: crypto.Session | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, asyncio.Future[Reply]]] = {}
        self._last_id = 0  # the highest request id sent on this object
        self._reader: asyncio.Task[None] | None = None
        self._link_check: asyncio.Task[None] | None = None
        self._dead_link: ClientConnection | None = None  # dropped for a missing pong
        #: Pings sent because a request went unanswered for ``limits.stall_ping_seconds``,
        #: and the round trip in seconds of the last one answered.
        self.link_checks = 0
        self.latency: float | None = None
        #: Set each time a link check's pong arrives, so a caller can wait on one.
        self.link_alive = asyncio.Event()
        #: Bytes received from the hub, on all connections.
        self.received = 0
        self._send_lock = asyncio.Lock()
        self._connected = asyncio.Event()
        self._admitted = asyncio.Event()
        self._closed_by_user = False
        #: False: :meth:`run_forever` returns when the current connection ends instead of
        #: reconnecting (set before ``leave``, after which the hub closes the link).
        self.reconnect = True
        self.hello: dict[str, Any] = {}
        #: The hub's event log of this identity (its token) and the ``seq`` of the last event
        #: received from it: sent in the next ``hello``, the hub replays what came after.
        self.events_log: str | None = None
        self.events_seen = 0
        self._send_events = True  # False for a hub older than the event log
        self.last_error: str | None = None
        self.close_code: int | None = None
        self.attempt = 0
        #: Connections in a row that this side dropped because the hub broke the protocol
        #: (a bad record or message), or that ended soon after ``hello``; :meth:`run_forever`
        #: backs off on it. Reset by a connection that lasted and ended any other way.
        self.faults = 0
        self._faulted = False  # the current connection was dropped for a protocol fault
        self._up_since = 0.0  # loop time at which the current connection's hello succeeded
        #: The :meth:`connect` under way or last run: its outcome (None, or the error raised).
        self._opening: asyncio.Future[None] | None = None
        #: While :meth:`connect` runs and ``hello`` is not sent yet: the (id, message) of the
        #: requests that joined it, sent right behind ``hello``; None otherwise.
        self._behind_hello: list[tuple[int, bytes]] | None = None

    @property
    def state(self) -> str:
        """A short text for people and tools: ``connected``, ``connecting (...)``, ..."""
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        if value == self._state:
            return
        self._state = value
        if self._on_state_change is not None:
            try:
                self._on_state_change(value)
            except Exception:
                log.exception("the on_state_change callback failed")

    # ------------------------------------------------------------------ connect

    async def connect(self, *, timeout: float = 10.0) -> dict[str, Any]:
        """Open the WebSocket, run the handshake and ``hello``; returns the hello result.

        While it runs, a request made with ``early=True`` joins it: it is sent right behind
        ``hello``, without waiting for hello's answer (see :meth:`request`).

        Raises:
            TransportError: the hub is unreachable or closed the connection, or its handshake
                reply did not verify (tampered with, or not the real hub).
            HubProtocolError: the hub's reply to ``hello`` (or an event before it) breaks the
                catalogue, a non-hex ``resume_secret`` for example.
            HandshakeError: the hub refused the credential (4401).
            OpError: ``hello`` was refused (name taken, session full).
        """
        opening: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._opening, self._behind_hello = opening, []
        try:
            hello = await self._open(timeout)
        except BaseException as exc:
            failure = exc if isinstance(exc, Exception) else TransportError(_CANCELLED_TEXT)
            opening.set_exception(failure)
            opening.exception()  # read here: joined requests may be none
            raise
        finally:
            self._behind_hello = None
        opening.set_result(None)
        return hello

    @property
    def opening(self) -> bool:
        """True while :meth:`connect` runs: a request made with ``early=True`` joins it."""
        return self._opening is not None and not self._opening.done()

    async def _open(self, timeout: float) -> dict[str, Any]:
        # ``ws+unix:<path>`` is the hub's Unix socket for the host's own tools (hub.json).
        opener = (
            partial(unix_connect, self.url.removeprefix(UNIX_URL_PREFIX), "ws://localhost/")
            if self.url.startswith(UNIX_URL_PREFIX)
            else partial(connect, self.url)
        )
        try:
            ws = await asyncio.wait_for(
                opener(
                    compression=None,
                    max_size=self.limits.max_frame_bytes,
                    ping_interval=self.limits.ping_interval_seconds,
                    ping_timeout=self.limits.ping_interval_seconds,
                    open_timeout=timeout,
                    close_timeout=2,
                    additional_headers=self._headers or None,
                    user_agent_header=None,
                ),
                timeout=timeout,
            )
        except (OSError, asyncio.TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise TransportError(f"cannot reach the hub at {self.url}: {_why(exc)}") from None
        try:
            session = await asyncio.wait_for(self._handshake(ws), timeout=timeout)
        except ConnectionClosed as exc:
            await ws.close()
            code = exc.rcvd.code if exc.rcvd is not None else None
            self.close_code = code
            if code == crypto.CloseCode.AUTH_FAILED:
                raise HandshakeError(
                    "the hub refused this invite: it is unknown, revoked or mistyped"
                ) from None
            if code == crypto.CloseCode.TOO_MANY_ATTEMPTS:
                raise TransportError(
                    "the hub is refusing connections from here after too many failed attempts; "
                    "wait a minute",
                    code=ErrorCode.RATE_LIMITED,
                ) from None
            raise TransportError(f"the hub closed the connection ({_close_text(exc)})") from None
        except asyncio.TimeoutError:
            await ws.close()
            raise TransportError("the hub did not complete the handshake in time") from None
        except HandshakeError as exc:
            await ws.close(crypto.CloseCode.AUTH_FAILED)
            # Our check of the hub's reply failed: it was altered on the way, or this is not
            # the real hub. Nothing says the credential is bad (unlike a 4401 from the hub), so
            # run_forever retries with backoff instead of giving up as "revoked".
            raise TransportError(
                f"the hub's handshake reply did not verify ({exc.message}): the connection "
                "was tampered with, or this is not the real hub"
            ) from None
        self._ws, self._session = ws, session
        self._count_received(ws)
        self._faulted = False
        self._reader = asyncio.create_task(self._read_loop(ws, session))
        try:
            hello, model = await self._hello()
        except BaseException:
            await self._drop()
            raise
        assert isinstance(model, HelloResult)
        self.hello = hello
        self.name = model.name
        if model.resume_secret:
            # The catalogue's pattern guarantees an even number of hex digits.
            self._adopt_resume_secret(bytes.fromhex(model.resume_secret))
        if model.state == "admitted":
            self._admitted.set()
            self.state = "connected"
        else:
            self.state = "awaiting admission"
        self._connected.set()
        self._up_since = asyncio.get_running_loop().time()
        self.attempt = 0
        self.last_error = None
        return hello

    async def _hello(self) -> tuple[dict[str, Any], Any]:
        """``hello``, with this identity's events cursor unless the hub is older than the
        event log (it refuses ``events`` as an unknown field; asked again without it, and
        not sent to it again: a refused request did nothing)."""
        args: dict[str, Any] = {"name": self.name, "client": self.client}
        if self._send_events:
            cursor = {"log": self.events_log, "after": self.events_seen}
            args["events"] = cursor if self.events_log else {}
        try:
            return await self._call("hello", args)
        except OpError as exc:
            if "events" not in args or exc.data.get("field") != "args.events":
                raise
            self._send_events = False
            del args["events"]
            return await self._call("hello", args)

    async def _handshake(self, ws: ClientConnection) -> crypto.Session:
        hs = crypto.ClientHandshake(self._secret)
        await ws.send(hs.client_hello())
        reply = await ws.recv()
        if not isinstance(reply, bytes):
            raise HandshakeError("the hub sent a text frame during the handshake")
        finished, session = hs.receive_server_hello(reply)
        session.max_record_bytes = self.limits.max_frame_bytes
        await ws.send(finished)
        return session

    # ------------------------------------------------------------------ requests

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._connected.is_set()

    async def request(
        self,
        op: str,
        args: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        early: bool = False,
    ) -> dict[str, Any]:
        """Send one request and wait for its response; returns the ``result`` object, already
        checked against ``catalogue.OPS[op].result``.

        ``early=True`` lets a request made while :meth:`connect` runs join it (a cold start:
        one round trip less): it is sent right behind ``hello``, before hello's answer, and the
        hub answers it after ``hello``, as the peer ``hello`` made it (a guest still awaiting
        admission gets ``not_admitted``). This returns once ``hello``'s answer has been
        taken in (:attr:`hello`, :attr:`state`). If the attempt fails instead, the request
        fails with hello's refusal (the same :class:`OpError`; the hub served nothing behind
        it) or, when the attempt failed on the way (unreachable, handshake refused, link
        lost), with a :class:`TransportError` ``unavailable`` that names the cause. Without
        ``early``, or with no attempt under way, a request made while not connected fails at
        once with ``unavailable``. ``timeout`` counts from this call, the connecting included.

        Raises:
            OpError: the hub answered with an error (its code and message), or ``args`` do not
                fit the op (refused before sending, as the hub would).
            HubProtocolError: the reply (or another message meanwhile) broke the catalogue;
                the connection was dropped.
            TransportError: not connected, connection lost, or no reply within ``timeout``.
        """
        result, _ = await self._call(op, args, timeout=timeout, early=early)
        return result

    async def call(
        self,
        op: str,
        args: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        early: bool = False,
    ) -> BaseModel:
        """As :meth:`request`, but returns the result as an instance of ``OPS[op].result``.

        Raises:
            The errors of :meth:`request`.
        """
        _, model = await self._call(op, args, timeout=timeout, early=early)
        return model

    async def _call(
        self,
        op: str,
        args: Mapping[str, Any] | None,
        *,
        timeout: float | None = None,
        early: bool = False,
    ) -> Reply:
        opening = self._opening
        joins = (
            early
            and op != "hello"
            and not self._connected.is_set()
            and opening is not None
            and not opening.done()
        )
        ws, session = self._ws, self._session
        behind_hello = self._behind_hello if joins else None  # hello not sent yet: wait for it
        if joins and behind_hello is None and (ws is None or session is None):
            joins = False  # hello went out and the link is gone already: the attempt failed
        if not joins and (
            ws is None or session is None or (op != "hello" and not self._connected.is_set())
        ):
            # A request must not reach the hub before hello (the hub would refuse it), so one
            # made while (re)connecting fails here at once unless it joins the attempt.
            raise TransportError(self._down_message(), code=ErrorCode.UNAVAILABLE)
        request_id = next(self._ids)
        payload = encode_request(request_id, op, args, max_bytes=self.limits.max_frame_bytes)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._last_id = request_id
        self._pending[request_id] = (op, future)
        wait = self.limits.request_timeout_seconds if timeout is None else timeout
        if behind_hello is not None:
            behind_hello.append((request_id, payload))  # connect() sends it behind hello

        async def exchange() -> Reply:
            if behind_hello is None:
                assert ws is not None and session is not None
                async with self._send_lock:  # seal + send must keep record order
                    await ws.send(session.seal(payload))
                    if op == "hello":
                        await self._send_behind_hello(ws, session)
            if joins and not future.done():
                assert opening is not None
                # The attempt may fail before this request is sent or answered.
                either: set[asyncio.Future[Any]] = {future, opening}
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                if not future.done() and opening.exception() is not None:
                    raise self._attempt_error(opening)
            return await future

        # The send is inside the timeout and the stall check too (found attacking issue 15):
        # on a link that stopped reading (a dead one, or a hub holding its window shut) it
        # waits on TCP flow control, with the send lock held, for as long as the link stays so.
        # Cancelling it is safe: a record is sealed and handed to the socket with no await in
        # between, so it is either wholly queued or not sealed at all.
        exchanging = asyncio.ensure_future(exchange())
        try:
            stall = self.limits.stall_ping_seconds
            if stall < wait:
                # Long unanswered: is the hub busy, or is the link dead? A ping tells within
                # PONG_TIMEOUT_SECONDS, as the hub answers pings while it works.
                done, _ = await asyncio.wait({exchanging}, timeout=stall)
                link = ws or self._ws
                if not done and link is not None:
                    self._check_link(link)
                reply = await asyncio.wait_for(exchanging, timeout=wait - stall)
            else:
                reply = await asyncio.wait_for(exchanging, timeout=wait)
        except asyncio.TimeoutError:
            raise TransportError(
                f"the hub did not answer '{op}' within {wait:.0f}s", code=ErrorCode.TIMEOUT
            ) from None
        except (ConnectionClosed, LetsworkError) as exc:
            if joins and opening is not None:
                # The hub answers hello first: when hello failed, that is the cause, though the
                # reader may have failed this request (the hub's close after the refusal) before
                # connect() took hello's answer in.
                await asyncio.wait({opening}, timeout=wait)
                if opening.done() and opening.exception() is not None:
                    raise self._attempt_error(opening) from None
            if isinstance(exc, ConnectionClosed):
                raise TransportError(self._down_message()) from None
            raise
        finally:
            exchanging.cancel()
            if future.done() and not future.cancelled():
                future.exception()  # read: a failed send leaves the reader's error unread
            self._pending.pop(request_id, None)
            if behind_hello is not None and self._behind_hello is behind_hello:
                # Not sent yet (a timeout, a cancel): nor is it sent later.
                behind_hello[:] = [item for item in behind_hello if item[0] != request_id]
        if joins and opening is not None:
            # hello's answer came before this one: let connect() take it in (name, role,
            # state) before the caller reads them.
            await asyncio.wait({opening}, timeout=wait)
            if not opening.done():
                raise TransportError(
                    f"the hub did not answer 'hello' within {wait:.0f}s", code=ErrorCode.TIMEOUT
                )
            if opening.exception() is not None:
                # A hub that answered it around a refused hello (found attacking issue 15): an
                # honest one serves nothing behind the refusal, so neither is this returned.
                raise self._attempt_error(opening)
        return reply

    async def _send_behind_hello(self, ws: ClientConnection, session: crypto.Session) -> None:
        """Send the requests that joined the attempt, right behind ``hello`` (the send lock
        held): from now on a joining request is sent at once."""
        joined, self._behind_hello = list(self._behind_hello or ()), None
        for request_id, payload in joined:
            # One given up meanwhile (a timeout, a cancel), while a send ahead of it waited for
            # the link, is not sealed now: its caller was told it failed (found attacking
            # issue 15).
            if request_id in self._pending:
                await ws.send(session.seal(payload))

    def _attempt_error(self, opening: asyncio.Future[None]) -> LetsworkError:
        """What a request that joined the failed attempt ``opening`` raises: hello's refusal
        as it came, any other failure as ``unavailable`` naming it."""
        exc = opening.exception()
        if isinstance(exc, OpError):
            return OpError(exc.message, code=exc.code, data=exc.data)
        why = exc.message if isinstance(exc, LetsworkError) else "the connection attempt failed"
        return TransportError(f"not connected to the hub: {why}", code=ErrorCode.UNAVAILABLE)

    def _down_message(self) -> str:
        why = f" ({self.last_error})" if self.last_error else ""
        return f"not connected to the hub: {self.state}{why}"

    async def wait_admitted(self, timeout: float | None = None) -> None:
        """Wait until the host admits this guest (returns at once if already admitted)."""
        await asyncio.wait_for(self._admitted.wait(), timeout=timeout)

    async def wait_disconnected(self) -> None:
        """Wait until the current connection ends."""
        reader = self._reader
        if reader is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(reader)

    # ------------------------------------------------------------------ reconnect

    async def run_forever(
        self,
        *,
        base_delay: float = 0.1,
        max_delay: float = 30.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        """Stay connected: reconnect with exponential backoff and full jitter until closed.

        While the hub has been unreachable for less than
        :data:`~letswork.shared.limits.FAST_RECONNECT_WINDOW_SECONDS`, attempts are at most
        :data:`~letswork.shared.limits.FAST_RECONNECT_MAX_DELAY_SECONDS` apart, so a hub that
        restarts is reached within a second (see :func:`reconnect_delay`). Stops (state
        ``revoked``) when the hub refuses the credential or removes this peer. A connection
        dropped because the hub broke the protocol, or that ended within
        :data:`STABLE_CONNECTION_SECONDS` of ``hello``, counts as a failed attempt for the
        backoff (:attr:`faults`), without the fast window. Never raises a
        :class:`LetsworkError`.
        """
        loop = asyncio.get_running_loop()
        down_since: float | None = None  # loop time the hub became unreachable
        while not self._closed_by_user:
            if not self.connected:
                self.attempt += 1
                self.state = f"connecting (attempt {self.attempt})"
                try:
                    await self.connect()
                    down_since = None
                except HandshakeError as exc:
                    self.state = "revoked"
                    self.last_error = exc.message
                    return
                except LetsworkError as exc:
                    self.last_error = exc.message
                    now = loop.time()
                    down_since = now if down_since is None else down_since
                    # Only an unreachable hub gets the fast window. A hub that broke the
                    # protocol, refused hello (a deny's cooldown, a full session) or refused
                    # the connection for too many failed attempts (found attacking issue 15:
                    # ~60 knocks in its 30 s, against ~6) backs off at once: it cannot make
                    # this loop knock once a second.
                    unreachable = (
                        isinstance(exc, TransportError)
                        and not isinstance(exc, HubProtocolError)
                        and exc.code != ErrorCode.RATE_LIMITED
                    )
                    down_for = now - down_since if unreachable else math.inf
                    delay = reconnect_delay(
                        self.attempt, down_for, base=base_delay, ceiling=max_delay, jitter=rng()
                    )
                    self.state = f"connecting (attempt {self.attempt}, next in {delay:.1f}s)"
                    await asyncio.sleep(delay)
                    continue
            await self.wait_disconnected()
            if self.state == "revoked" or not self.reconnect:
                return
            if self._closed_by_user:
                continue
            delay = 0.0
            lasted = loop.time() - self._up_since
            if self._faulted or lasted < STABLE_CONNECTION_SECONDS:
                # The hub broke the protocol after hello, or hung up at once: back off as after
                # a failed attempt, so it cannot make this loop reconnect at full speed.
                self.faults += 1
                delay = reconnect_delay(
                    self.faults, math.inf, base=base_delay, ceiling=max_delay, jitter=rng()
                )
            else:
                self.faults = 0
                down_since = loop.time()
            self.state = f"connecting (attempt {self.attempt + 1}, next in {delay:.1f}s)"
            if delay:
                await asyncio.sleep(delay)

    async def _drop(self) -> None:
        if self._link_check is not None:
            self._link_check.cancel()
        ws, self._ws, self._session = self._ws, None, None
        if ws is not None:
            await _close_soon(ws)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader

    async def close(self) -> None:
        """Close for good (no reconnect)."""
        self._closed_by_user = True
        self.state = "closed"
        await self._drop()
