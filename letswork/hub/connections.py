"""The hub's admitted connections and what is still to be sent on each.

A :class:`Connection` is one peer's socket after its handshake: its record-layer session, its
send queue (frames sealed and written in order by one writer task, :meth:`Connection.write`)
and the bytes still in that queue. :class:`Connections` finds a connection by its peer, so the
core can send a peer an event or close it without knowing about sockets.

Flow control: past ``MAX_UNSENT_REPLY_BYTES`` unsent, the peer's next request waits
(:meth:`Connection.wait_for_room`); past ``MAX_UNSENT_BYTES_PER_PEER``, or ``MAX_QUEUED_FRAMES``
events, the peer is not reading what it is sent and its socket is cut (:meth:`Connection.drop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from letswork.hub.core import Peer
from letswork.shared import crypto
from letswork.shared.errors import RecordError
from letswork.shared.limits import MAX_UNSENT_BYTES_PER_PEER, MAX_UNSENT_REPLY_BYTES
from letswork.shared.protocol import wire

log = logging.getLogger("letswork.hub")

#: Events queued for one slow peer before the hub gives up on it.
MAX_QUEUED_FRAMES = 10_000
#: Marks a close in a send queue: ``(CLOSE, code, reason)``, written after what is ahead of it.
CLOSE = object()


def _open_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


@dataclass(eq=False)
class Connection:
    """One admitted peer's socket, its session and its send queue."""

    ws: ServerConnection
    session: crypto.Session
    peer: Peer
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    #: bytes of the frames in ``queue`` (their socket has not taken them yet)
    unsent: int = 0
    #: set while ``unsent`` is under MAX_UNSENT_REPLY_BYTES; the peer's next request waits
    room: asyncio.Event = field(default_factory=_open_event)
    #: dropped for not reading: nothing more is queued
    dropped: bool = False

    def put(self, payload: bytes) -> None:
        """Queue one frame for the peer's socket. Past MAX_UNSENT_REPLY_BYTES unsent its next
        request waits (:meth:`wait_for_room`); past MAX_UNSENT_BYTES_PER_PEER it is dropped."""
        if self.dropped:
            return
        self.unsent += len(payload)
        self.queue.put_nowait(payload)
        if self.unsent >= MAX_UNSENT_REPLY_BYTES:
            self.room.clear()
        if self.unsent > MAX_UNSENT_BYTES_PER_PEER:
            self.drop()

    def emit(self, name: str, data: Mapping[str, Any], seq: int) -> None:
        """Queue the event ``name`` numbered ``seq`` (its number in the identity's event log,
        hub/eventlog.py); a peer with MAX_QUEUED_FRAMES frames queued already is dropped
        instead."""
        if self.dropped:
            return
        if self.queue.qsize() >= MAX_QUEUED_FRAMES:
            self.drop()
            return
        payload = wire.encode_event(name, seq, data)
        self.put(payload)

    def close(self, code: int, reason: str) -> None:
        """Queue a close frame behind what is queued already; the writer ends with it."""
        self.queue.put_nowait((CLOSE, code, reason))

    def drop(self) -> None:
        """End a connection that does not read what the hub sends it: a close frame would
        wait behind the frames it does not read, so the socket is cut. The core forgets the
        peer when its reader ends (not here: this may run inside one of the core's loops)."""
        log.warning("peer %s is not reading what the hub sends; dropping it", self.peer.peer_id)
        self.dropped = True
        self.peer.close()  # nothing more of it is applied, its file work stops
        while not self.queue.empty():
            self.queue.get_nowait()
        self.unsent = 0
        self.ws.transport.abort()

    async def wait_for_room(self) -> None:
        """Until the peer's socket has taken enough of what is queued for it: a peer that
        stops reading gets no more answers, so its replies cannot pile up in the hub."""
        await self.room.wait()

    async def write(self) -> None:
        """The connection's one writer: seals and sends the queue in order (so record numbers
        stay in order) until a close, or until the socket or the session fails."""
        while True:
            item = await self.queue.get()
            if isinstance(item, tuple) and item and item[0] is CLOSE:
                _, code, reason = item
                with contextlib.suppress(Exception):
                    await self.ws.close(code, reason)
                return
            try:
                await self.ws.send(self.session.seal(item))
            except (ConnectionClosed, RecordError):
                return
            finally:
                if not self.dropped:
                    self.unsent -= len(item)
                    if self.unsent < MAX_UNSENT_REPLY_BYTES:
                        self.room.set()


class Connections:
    """The admitted connections by peer id: what the core's ``_emit`` and ``_close`` reach."""

    def __init__(self) -> None:
        self._by_peer: dict[str, Connection] = {}

    def add(self, conn: Connection) -> None:
        self._by_peer[conn.peer.peer_id] = conn

    def remove(self, conn: Connection) -> None:
        self._by_peer.pop(conn.peer.peer_id, None)

    def values(self) -> Iterator[Connection]:
        """The connections, as a list taken now (safe to close them while iterating)."""
        return iter(list(self._by_peer.values()))

    def emit(self, peer: Peer, name: str, data: Mapping[str, Any], seq: int) -> None:
        """Send ``peer`` the event ``name`` numbered ``seq``; nothing when it has no connection
        (any more)."""
        conn = self._by_peer.get(peer.peer_id)
        if conn is None:
            return
        conn.emit(name, data, seq)

    def close_peer(self, peer: Peer, code: int, reason: str) -> None:
        """Close ``peer``'s connection with ``code`` once what is queued for it is written."""
        conn = self._by_peer.get(peer.peer_id)
        if conn is not None:
            conn.close(code, reason)
