"""WebSocket close codes and which handshake or record failure maps to which
(``docs/protocol.md``, "Close codes")."""

from __future__ import annotations

import enum

from letswork.shared.errors import HandshakeError, RecordError


class CloseCode(enum.IntEnum):
    """WebSocket close codes used by letswork (``docs/protocol.md``, "Close codes").

    Codes below 4000 are RFC 6455's; 4xxx are private-use codes mirroring HTTP where one fits.
    """

    NORMAL = 1000  #: orderly close by either side
    GOING_AWAY = 1001  #: the hub is shutting down or the client is exiting
    TOO_BIG = 1009  #: a WebSocket frame over the frame limit
    INTERNAL_ERROR = 1011  #: the hub hit a bug while serving this connection
    PROTOCOL_VIOLATION = 4400  #: bad record (:class:`RecordError`) or malformed handshake frame
    AUTH_FAILED = 4401  #: unknown id, revoked invite, bad MAC, bad finished: all the same
    REMOVED = 4403  #: kicked, or the invite was revoked while connected
    HANDSHAKE_TIMEOUT = 4408  #: the handshake did not finish in time
    TOO_MANY_ATTEMPTS = 4429  #: failed-handshake rate limit for this source (or overall)
    SESSION_FULL = 4430  #: the hub already has the maximum number of peers


class HandshakeFormatError(HandshakeError):
    """A handshake frame is structurally malformed: wrong length, type byte or version byte.

    Still a :class:`HandshakeError` (so ``except HandshakeError`` catches it), but the hub may
    close with :attr:`CloseCode.PROTOCOL_VIOLATION` (4400) instead of 4401: the frame's shape is
    public, so telling it apart reveals nothing about any secret.
    """


def close_code_for(error: HandshakeError | RecordError) -> CloseCode:
    """The close code for a failed handshake or record: 4400 for a malformed handshake frame or
    any record error, 4401 for every other handshake failure (design section 4, step 3)."""
    if isinstance(error, HandshakeFormatError | RecordError):
        return CloseCode.PROTOCOL_VIOLATION
    return CloseCode.AUTH_FAILED
