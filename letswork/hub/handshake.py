"""The hub's side of the handshake, driven over one WebSocket until the peer is admitted.

    failed-handshake limit, again on the ClientHello    -> 4429 (loopback: the host key's
                                                           hello is exempt)
    ClientHello -> credential lookup -> MAC -> DH       -> 4401 on failure
    replayed ClientHello                                -> 4401
    ClientFinished                                      -> 4401 on a bad tag

Each failure raises :class:`HandshakeFailed`; the server answers it after a uniform delay and
closes the connection with its code. The pure work is :mod:`letswork.shared.crypto`'s; this
module adds the sockets, the credentials, the replay cache and the limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection

from letswork.hub.connections import Connection
from letswork.hub.core import Credential, HubCore
from letswork.hub.strangers import StrangerGate, is_loopback
from letswork.shared import crypto
from letswork.shared.errors import HandshakeError
from letswork.shared.limits import Limits


class HandshakeFailed(Exception):
    """A handshake that did not prove a credential.

    Attributes:
        reason: for the log only (the peer is told "authentication failed").
        started: ``time.monotonic()`` when the ClientHello arrived (the uniform delay's start).
        code: the close code (AUTH_FAILED unless said otherwise).
        count: whether the handler still has to count this failure against the limits.
    """

    def __init__(
        self, reason: str, started: float, code: int = crypto.CloseCode.AUTH_FAILED
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.started = started
        self.code = code
        self.count = code != crypto.CloseCode.TOO_MANY_ATTEMPTS


class Handshakes:
    """Every handshake of one hub: the credentials are the core's, the replay cache is shared
    by all connections, failures are counted on ``gate``.

    Args:
        core: looks up credentials and makes the admitted peer.
        gate: the failed-handshake limits.
        limits: ``max_frame_bytes``, allowed once a hello proved a credential.
        clock: wall clock in seconds.
    """

    def __init__(
        self,
        core: HubCore,
        gate: StrangerGate,
        limits: Limits,
        clock: Callable[[], float],
    ) -> None:
        self.core = core
        self.gate = gate
        self.limits = limits
        self._clock = clock
        self._replay = crypto.ReplayCache()

    async def run(self, ws: ServerConnection, source: str, *, limited: bool) -> Connection:
        """Drive the handshake on ``ws`` to an admitted :class:`Connection`.

        ``limited``: a stranger's connection, held to the failed-handshake limits.

        Raises:
            HandshakeFailed: the handshake failed (a failure already counted has ``count``
                False).
            websockets.exceptions.ConnectionClosed: the peer went or sent a bad frame.
        """
        frame = await ws.recv()
        started = time.monotonic()
        # The limits are checked again now that the hello is here, and a failed hello is
        # counted before the next await: hellos of connections opened in parallel are judged
        # one after another against current counts. (The check at accept time alone let a burst
        # of parallel guesses all through.)
        if (
            limited
            and not self.gate.allowed(source, self._clock())
            and not (is_loopback(source) and self.is_host_hello(frame))
        ):
            raise HandshakeFailed(
                "too many failed handshakes in the last minute",
                started,
                crypto.CloseCode.TOO_MANY_ATTEMPTS,
            )
        try:
            server, credential, reply = self.judge_hello(frame, started)
        except HandshakeFailed as failed:
            if failed.count and limited:
                self.gate.record_failure(source, self._clock())
            failed.count = False
            raise
        # The hello proved a credential: normal frames from here. Not later: our client sends
        # its first request right behind ClientFinished, and the parser sizes the next frame
        # as soon as its first byte is in, so raising the limit after ClientFinished would race.
        ws.protocol.max_message_size = self.limits.max_frame_bytes
        await ws.send(reply)
        finished = await ws.recv()
        if not isinstance(finished, bytes):
            raise HandshakeFailed("text frame", started, crypto.CloseCode.PROTOCOL_VIOLATION)
        try:
            session = server.receive_client_finished(finished)
        except HandshakeError as exc:
            raise HandshakeFailed(exc.message, started, crypto.close_code_for(exc)) from None
        session.max_record_bytes = self.limits.max_frame_bytes
        peer = self.core.new_peer(credential, self._clock(), source=source)
        return Connection(ws=ws, session=session, peer=peer)

    def is_host_hello(self, frame: bytes | str) -> bool:
        """Whether ``frame`` is a well-formed ClientHello naming the host key (MAC unchecked)."""
        if not isinstance(frame, bytes):
            return False
        try:
            hello = crypto.parse_client_hello(frame)
        except HandshakeError:
            return False
        return self.core.is_host_invite_id(hello.invite_id)

    def judge_hello(
        self, frame: bytes | str, started: float
    ) -> tuple[crypto.ServerHandshake, Credential, bytes]:
        """Check a ClientHello (no await): the server side of the handshake and the reply.

        Raises:
            HandshakeFailed: a text frame, a malformed hello, an unknown or revoked invite id,
                a bad MAC or key, or a replayed hello.
        """
        if not isinstance(frame, bytes):
            raise HandshakeFailed("text frame", started, crypto.CloseCode.PROTOCOL_VIOLATION)
        try:
            hello = crypto.parse_client_hello(frame)
        except HandshakeError as exc:
            raise HandshakeFailed(
                f"malformed ClientHello ({exc.message})", started, crypto.close_code_for(exc)
            ) from None
        credential = self.core.lookup_credential(hello.invite_id)
        if credential is None:
            raise HandshakeFailed("unknown or revoked invite id", started)
        server = crypto.ServerHandshake()
        try:
            reply = server.respond(hello, credential.psk)
        except HandshakeError as exc:
            raise HandshakeFailed(exc.message, started) from None
        if not self._replay.check_and_add(hello, self._clock()):
            raise HandshakeFailed("replayed ClientHello", started)
        return server, credential, reply
