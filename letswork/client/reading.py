"""The reading side of :class:`letswork.client.connection.HubConnection`: every record the
hub sends is opened, decoded and checked (a reply against its op's result model, a catalogue
event against its data model); a reply settles its request, an event goes to ``on_event``.
A message that fails is the hub's protocol error: the link is closed with 4400 and every
request in flight fails with :class:`HubProtocolError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from letswork.client.faults import _close_text, _code, _hub_fault
from letswork.client.link import _close_soon
from letswork.shared import crypto
from letswork.shared.errors import (
    HubProtocolError,
    LetsworkError,
    OpError,
    ProtocolError,
    RecordError,
    TransportError,
)
from letswork.shared.limits import Limits
from letswork.shared.protocol.catalogue import EVENTS
from letswork.shared.protocol.session import AdmittedData, HelloResult
from letswork.shared.protocol.wire import (
    Event,
    Response,
    decode_incoming,
    parse_event_data,
    parse_result,
)

#: The channel's logger, as before the client had its own package: log lines keep their name.
log = logging.getLogger("letswork.channel")

EventHandler = Callable[[Event], Awaitable[None] | None]
#: A checked success reply: the ``result`` object as sent, and the op's result model of it.
Reply = tuple[dict[str, Any], BaseModel]
#: WebSocket close codes this side sends when the hub's frames break the WebSocket protocol:
#: 1002 protocol error, 1007 invalid UTF-8 in a text frame, 1009 a frame over ``max_size``.
_WEBSOCKET_FAULTS = frozenset({1002, 1007, 1009})
#: Close codes after which reconnecting with the same credential is pointless.
FATAL_CLOSE_CODES = frozenset({crypto.CloseCode.AUTH_FAILED, crypto.CloseCode.REMOVED})


class Reader:
    """The reading side of :class:`~letswork.client.connection.HubConnection`, which sets
    these attributes in its ``__init__`` (``state`` is its property)."""

    limits: Limits
    state: str
    close_code: int | None
    last_error: str | None
    events_log: str | None
    events_seen: int
    _secret: bytes
    _on_resume_secret: Callable[[bytes], None] | None
    _on_event: EventHandler | None
    _ws: ClientConnection | None
    _session: crypto.Session | None
    _dead_link: ClientConnection | None
    _pending: dict[int, tuple[str, asyncio.Future[Reply]]]
    _last_id: int
    _behind_hello: list[tuple[int, bytes]] | None
    _connected: asyncio.Event
    _admitted: asyncio.Event
    _closed_by_user: bool
    _faulted: bool

    def _adopt_resume_secret(self, secret: bytes) -> None:
        self._secret = secret
        if self._on_resume_secret is not None:
            self._on_resume_secret(secret)

    async def _read_loop(self, ws: ClientConnection, session: crypto.Session) -> None:
        error: LetsworkError = TransportError("the connection to the hub was lost")
        fault = False
        try:
            async for frame in ws:
                if not isinstance(frame, bytes):
                    raise RecordError("the hub sent a text frame")
                plaintext = session.open(frame)
                try:
                    message = decode_incoming(plaintext, max_bytes=self.limits.max_frame_bytes)
                except ProtocolError as exc:
                    raise _hub_fault("a malformed message", exc) from None
                if isinstance(message, Event):
                    await self._handle_event(message)
                else:
                    self._handle_response(message)
            # The loop ends without an exception on a normal close (1000, 1001).
            self.close_code = ws.close_code
            if ws.close_code is not None:
                reason = f": {ws.close_reason}" if ws.close_reason else ""
                error = TransportError(
                    f"the hub closed the connection (code {ws.close_code}{reason})"
                )
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd is not None else None
            if exc.sent is not None and exc.sent.code in _WEBSOCKET_FAULTS:
                # We closed it: the hub sent a frame over our limit, or not WebSocket at all.
                fault = True
                error = HubProtocolError(
                    f"the hub sent a bad WebSocket frame ({exc.sent.reason or exc.sent.code}); "
                    "dropped the connection"
                )
                log.warning("dropping the connection: %s", error.message)
            elif self._dead_link is ws:
                error = TransportError(
                    "the link to the hub went dead: it answered no ping within "
                    f"{self.limits.pong_timeout_seconds:g}s"
                )
            else:
                error = TransportError(f"the hub closed the connection ({_close_text(exc)})")
        except (RecordError, HubProtocolError) as exc:
            fault = True
            log.warning("dropping the connection: %s", exc.message)
            if isinstance(exc, HubProtocolError):
                error = exc
            else:
                error = TransportError(f"the connection was dropped: {exc.message}")
            await self._close_for_fault(ws, "bad record" if isinstance(exc, RecordError) else "")
        except Exception:  # a bug here must not leave the socket open and the caller hanging
            fault = True
            log.exception("dropping the connection after an unexpected error")
            error = TransportError("the connection was dropped after an internal error")
            await self._close_for_fault(ws, "")
        finally:
            self.last_error = error.message
            for _, future in self._pending.values():
                if not future.done():
                    future.set_exception(error)
            if self._ws is ws:
                self._faulted = fault
                self._ws = None
                self._session = None
                self._connected.clear()
                if self.close_code in FATAL_CLOSE_CODES:
                    self.state = "revoked"
                elif not self._closed_by_user:
                    self.state = "disconnected"

    async def _close_for_fault(self, ws: ClientConnection, reason: str) -> None:
        await _close_soon(ws, crypto.CloseCode.PROTOCOL_VIOLATION, reason or "bad message")
        self.close_code = crypto.CloseCode.PROTOCOL_VIOLATION

    def _handle_response(self, message: Response) -> None:
        """Settle the request ``message`` answers, after checking its result.

        Raises:
            HubProtocolError: the response answers a request never sent, or its result does
                not fit the op's result model.
        """
        if message.id is None:
            # The hub could not read a request's id; ours always have one, so nothing waits.
            log.warning("ignoring an error reply without a request id")
            return
        unsent = self._behind_hello is not None and any(
            request_id == message.id for request_id, _ in self._behind_hello
        )
        if not 1 <= message.id <= self._last_id or unsent:
            raise HubProtocolError(
                f"the hub sent a reply to request {message.id}, which this client never "
                "sent; dropped the connection",
                data={"reason": "bad_value", "field": "id"},
            )
        entry = self._pending.get(message.id)
        if entry is None or entry[1].done():
            return  # a reply to a request that already timed out
        op, future = entry
        if message.ok:
            raw = dict(message.result or {})
            try:
                model = parse_result(op, raw)
            except ProtocolError as exc:
                raise _hub_fault(f"a malformed reply to '{op}'", exc) from None
            if isinstance(model, HelloResult):
                # Here, not in connect(): the replay that follows is read before it resumes.
                self._follow_log(model.events_log, model.events_seq)
            future.set_result((raw, model))
        else:
            err = message.error or {}
            future.set_exception(
                OpError(
                    str(err.get("message", "request failed")),
                    code=_code(err.get("code")),
                    data=err.get("data") or {},
                )
            )

    async def _handle_event(self, event: Event) -> None:
        """Check a catalogue event's data, act on ``admitted``, then hand it to ``on_event``.

        Raises:
            HubProtocolError: the data of a catalogue event does not fit its model.
        """
        if event.name in EVENTS:
            try:
                data = parse_event_data(event.name, event.data)
            except ProtocolError as exc:
                raise _hub_fault(f"a malformed '{event.name}' event", exc) from None
            if isinstance(data, AdmittedData):
                self._follow_log(data.events_log, event.seq)
                if data.resume_secret:
                    self._adopt_resume_secret(bytes.fromhex(data.resume_secret))
                self._admitted.set()
                self.state = "connected"
        if self.events_log is not None:
            self.events_seen = max(self.events_seen, event.seq)
        if self._on_event is not None:
            try:
                result = self._on_event(event)
                if result is not None:
                    await result
            except Exception:  # the handler's bug must not cost the connection
                log.exception("the on_event callback failed on a %r event", event.name[:64])

    def _follow_log(self, token: str | None, seq: int) -> None:
        """Adopt the event log ``token`` the hub numbers this identity's events in: a new one
        starts at ``seq``; the same one keeps the cursor (its replay follows)."""
        if token is not None and token != self.events_log:
            self.events_log, self.events_seen = token, seq
