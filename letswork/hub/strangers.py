"""The limits on strangers: TCP connections that have not completed a handshake yet.

Strangers are held to small, fixed costs (docs/security.md, "Strangers, local processes and web
pages"), checked in this order:

    handshakes in progress (global), at TCP accept     -> connection closed, nothing read
    opening handshake over 16 KiB                      -> connection closed
    opening handshake: browser Origin header           -> HTTP 403
    handshakes in progress (per source)                -> HTTP 503
    failed-handshake limit (per source, then global)  -> 4429 (see :meth:`StrangerGate.allowed`)

The host's own tools on the Unix socket meet only the Origin check (a web page must never
reach the hub); the rest is for strangers, so that strangers cannot lock the host out.
"""

from __future__ import annotations

import asyncio
import http
import ipaddress
import logging

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response
from websockets.protocol import State

from letswork.hub.ratelimit import FailureWindow, InProgress
from letswork.shared.limits import MAX_UPGRADE_REQUEST_BYTES, Limits

log = logging.getLogger("letswork.hub")


class StrangerGate:
    """What a TCP connection meets before its handshake, and the counts behind it.

    Args:
        limits: the caps on handshakes in progress and failed handshakes.
        stats: the server's counters; ``refused_busy``, ``refused_origin`` and
            ``refused_oversized`` are counted here.
        behind_tunnel: trust ``CF-Connecting-IP`` as the source of a connection whose TCP peer
            is loopback (cloudflared runs on this machine); never otherwise.
    """

    def __init__(self, limits: Limits, stats: dict[str, int], *, behind_tunnel: bool) -> None:
        self.stats = stats
        self.behind_tunnel = behind_tunnel
        #: connections from accept until admitted to the record layer or closed
        self.in_progress = InProgress(
            per_key=limits.max_handshakes_in_progress_per_source,
            total=limits.max_handshakes_in_progress,
        )
        self.failures = FailureWindow(
            per_key=limits.handshake_fails_per_source_per_minute,
            total=limits.handshake_fails_total_per_minute,
        )

    def connection_class(self) -> type[ServerConnection]:
        """The ``create_connection`` for ``serve``: a connection that holds a handshake slot
        from accept (none free: closed before anything is read) and whose HTTP upgrade request
        may be at most MAX_UPGRADE_REQUEST_BYTES."""
        gate = self

        class _Counted(ServerConnection):
            """A TCP connection that holds a handshake slot from accept until it is admitted
            to the record layer or closed; none free: closed before anything is read."""

            #: bytes received while the HTTP upgrade request was still being read
            upgrade_bytes = 0

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                if not gate.in_progress.enter(self):
                    gate.stats["refused_busy"] += 1
                    self.transport.abort()

            def connection_lost(self, exc: Exception | None) -> None:
                gate.in_progress.leave(self)
                super().connection_lost(exc)

            def data_received(self, data: bytes) -> None:
                # websockets allows 128 header lines of 8 KiB and holds several copies while
                # parsing: such requests in the 64 slots took the hub to 299 MiB.
                if self.protocol.state is State.CONNECTING:
                    self.upgrade_bytes += len(data)
                    if self.upgrade_bytes > MAX_UPGRADE_REQUEST_BYTES:
                        gate.stats["refused_oversized"] += 1
                        self.transport.abort()
                        return
                else:
                    # Upgraded: out of the data path for good, websockets' own method from now.
                    self.data_received = super().data_received  # type: ignore[method-assign]
                super().data_received(data)

        return _Counted

    def source(self, ws: ServerConnection, request: Request | None = None) -> str:
        """Who a connection counts as: its TCP peer's address, or ``cf:`` and the
        ``CF-Connecting-IP`` header (at most 64 characters) behind the tunnel."""
        request = request if request is not None else ws.request
        remote = ws.remote_address[0] if ws.remote_address else "?"
        if self.behind_tunnel and is_loopback(remote) and request is not None:
            forwarded = request.headers.get("CF-Connecting-IP")
            if forwarded:
                return "cf:" + forwarded.strip()[:64]
        return str(remote)

    def process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """The opening handshake of a TCP connection: browsers refused, then the per-source
        cap on handshakes in progress (the source is known only now, from the headers)."""
        refused = self.process_local_request(ws, request)
        if refused is not None:
            return refused
        source = self.source(ws, request)
        if not self.in_progress.assign(ws, source):
            self.stats["refused_busy"] += 1
            log.warning("refused %s: too many handshakes in progress", source)
            return ws.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "too many handshakes\n")
        return None

    def process_local_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """Refuse an upgrade that carries ``Origin``: only browsers send it (our client and
        cloudflared do not), and a web page must never reach the hub (issue 13 item 5)."""
        if "Origin" in request.headers:
            self.stats["refused_origin"] += 1
            log.warning("refused a WebSocket upgrade from a browser page")
            return ws.respond(http.HTTPStatus.FORBIDDEN, "browsers may not connect\n")
        return None

    def allowed(self, source: str, now: float) -> bool:
        """Whether ``source`` is under the failed-handshake limits.

        A loopback source without a tunnel header (another local process, or a local guest)
        is held to its own per-source limit only; the global cap is for the tunnel. The host's
        own tools use the Unix socket, which no limit applies to, and a ClientHello naming the
        host key from loopback is exempt from this limit too (docs/security.md).
        """
        if is_loopback(source):
            return self.failures.failures(source, now) < self.failures.per_key
        return self.failures.allowed(source, now)

    def record_failure(self, source: str, now: float) -> None:
        """Count a failed handshake of ``source`` against the limits."""
        self.failures.record_failure(source, now)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback IP address (False for anything that is not an IP)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
