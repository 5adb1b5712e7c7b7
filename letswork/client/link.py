"""The client's link check and its closing of a link: is the hub busy, or is the link dead?

:class:`LinkCheck` is a part of :class:`letswork.client.connection.HubConnection` (a request
long unanswered pings the hub, and a link that answers no ping and moves no bytes is dropped);
:func:`_close_soon` closes a link that may have stopped reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from letswork.shared.limits import Limits

try:  # the kernel's send queue, for the link check (POSIX; Windows goes without)
    import fcntl
    import termios
except ImportError:  # pragma: no cover
    fcntl = termios = None  # type: ignore[assignment]

#: The channel's logger, as before the client had its own package: log lines keep their name.
log = logging.getLogger("letswork.channel")


class LinkCheck:
    """The link check of :class:`~letswork.client.connection.HubConnection`, which sets these
    attributes in its ``__init__``."""

    limits: Limits
    _ws: ClientConnection | None
    _link_check: asyncio.Task[None] | None
    _dead_link: ClientConnection | None
    link_checks: int
    latency: float | None
    link_alive: asyncio.Event
    received: int

    def _count_received(self, ws: ClientConnection) -> None:
        """Count into :attr:`received` the bytes ``ws`` gets: the link check takes a link
        still receiving (a large reply on a slow link, the pong queued behind it) as alive.
        asyncio hands a protocol its bytes through ``data_received``, looked up on the
        instance, so wrapping it there sees every byte."""
        data_received = ws.data_received

        def counting(data: bytes) -> None:
            self.received += len(data)
            data_received(data)

        ws.data_received = counting  # type: ignore[method-assign]

    def _check_link(self, ws: ClientConnection) -> None:
        """Ping the hub once on ``ws`` (one check at a time) and drop ``ws`` if no pong comes
        within ``limits.pong_timeout_seconds``: its requests then fail with a
        :class:`TransportError` and :meth:`run_forever` reconnects (RFC 6455 section 5.5.2)."""
        if self._link_check is None or self._link_check.done():
            self.link_checks += 1
            self._link_check = asyncio.create_task(self._ping_or_drop(ws))

    async def _ping_or_drop(self, ws: ClientConnection) -> None:
        timeout = self.limits.pong_timeout_seconds

        async def ping() -> None:
            pong = await ws.ping()  # waits while the send buffer is over its high-water mark
            self.latency = await pong
            self.link_alive.set()

        checking = asyncio.ensure_future(ping())
        try:
            unsent, received = _unsent_bytes(ws), self.received
            while True:
                done, _ = await asyncio.wait({checking}, timeout=timeout)
                if done:
                    checking.result()
                    return
                # No pong yet. A slow link busy with a large request or reply still moves
                # bytes, and the ping or its pong waits behind them: that link is alive
                # (found attacking issue 15). A dead one, or a hub that stopped reading or
                # sending, moves none.
                now = _unsent_bytes(ws)
                if now >= unsent and self.received == received:
                    break
                unsent, received = now, self.received
            if self._ws is ws:
                log.warning("the hub answered no ping within %gs: dropping the link", timeout)
                self._dead_link = ws
                # Not ws.close(): its closing handshake would wait on the dead link too.
                ws.transport.abort()
        except (ConnectionClosed, asyncio.CancelledError):
            pass
        except Exception:  # a check that fails must not go unseen, nor end the connection
            log.exception("the check of the link to the hub failed")
        finally:
            checking.cancel()


#: Seconds :func:`_close_soon` gives the closing handshake before it aborts the connection.
CLOSE_TIMEOUT_SECONDS = 2.0


async def _close_soon(ws: ClientConnection, code: int = 1000, reason: str = "") -> None:
    """Close ``ws``, aborting it after :data:`CLOSE_TIMEOUT_SECONDS`.

    ``ws.close()`` first waits for the send buffer to drain, and only then starts its own
    close timeout: on a link that stopped reading it never returned (found attacking
    issue 15).
    """
    try:
        await asyncio.wait_for(ws.close(code, reason), timeout=CLOSE_TIMEOUT_SECONDS)
    except Exception:  # TimeoutError, or an OSError of a broken link
        ws.transport.abort()


def _unsent_bytes(ws: ClientConnection) -> int:
    """Bytes ``ws`` has queued and not yet sent: its transport's buffer, plus the kernel's
    send queue where the system tells it (``SIOCOUTQ``, Linux); what stops falling on a link
    that carries nothing."""
    queued = ws.transport.get_write_buffer_size()
    sock = ws.transport.get_extra_info("socket")
    if sock is not None and fcntl is not None and hasattr(termios, "TIOCOUTQ"):
        with contextlib.suppress(OSError, ValueError):
            raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
            queued += int.from_bytes(raw, sys.byteorder, signed=True)
    return queued
