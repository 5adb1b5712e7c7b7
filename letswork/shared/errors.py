"""One exception tree for letswork, with stable string codes.

::

    LetsworkError                      base; never raised directly
    ├── UsageError                     local misuse: bad arguments, bad config (exit code 2)
    │   └── InviteCodeError            an invite code that is malformed or mistyped
    ├── PeerError                      the *other side* misbehaved (or is an attacker)
    │   ├── HandshakeError             authentication failed      -> close code 4401
    │   ├── RecordError                bad AEAD tag, seq gap/replay, oversized record -> 4400
    │   └── ProtocolError              malformed application message -> error reply, stays open
    ├── OpError                        an op was refused for a stable reason (not_found, locked,
    │                                  ...); crosses the wire as an error response
    ├── TransportError                 local view of the connection: hub unreachable, closed,
    │   │                              request timed out
    │   └── HubProtocolError           the hub sent a reply or event that breaks the catalogue:
    │                                  the client drops the link (4400) and reconnects later
    └── StoreError                     the SQLite store failed (converted from ``sqlite3``)

A misbehaving peer (:class:`PeerError`) is kept apart from local misuse (:class:`UsageError`):
the first closes or answers one connection, the second is reported to the user who made it.
Errors from ``sqlite3``, ``websockets`` and ``cryptography`` are converted at the boundary into
this tree, so callers never catch a third-party exception type.

Every error has a :attr:`LetsworkError.code` from :class:`ErrorCode` (the wire's stable
strings, ``docs/protocol.md`` section "Error codes") and a one-line, user-facing message.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any


class ErrorCode(str, enum.Enum):
    """Stable error codes carried in ``{"ok": false, "error": {"code": ...}}`` replies."""

    INVALID = "invalid"  # malformed message or argument
    UNKNOWN_OP = "unknown_op"  # op not in the catalogue
    NOT_FOUND = "not_found"  # path, change, peer, invite or task does not exist
    NOT_SHARED = "not_shared"  # path exists but the sharing rules hide it from this peer
    EXISTS = "exists"  # target already exists (move_file onto a file)
    NOT_A_FILE = "not_a_file"  # a directory (or special file) where a file was needed
    LOCKED = "locked"  # someone else holds the lock
    CONFLICT = "conflict"  # the base hash no longer matches the file
    NO_MATCH = "no_match"  # edit_file: old_string does not occur
    AMBIGUOUS = "ambiguous"  # edit_file: old_string occurs more than once
    TOO_LARGE = "too_large"  # file, frame or field over its limit
    BINARY_FILE = "binary_file"  # not UTF-8, or contains NUL
    FORBIDDEN = "forbidden"  # the peer's role does not allow this op
    RATE_LIMITED = "rate_limited"  # token bucket empty; retry later
    QUOTA_EXCEEDED = "quota_exceeded"  # pending-change count or byte cap reached
    NOT_ADMITTED = "not_admitted"  # the host has not admitted this guest yet
    NAME_TAKEN = "name_taken"  # display name in use or reserved
    ALREADY_DECIDED = "already_decided"  # reject after approve, or the other way round
    DISK_ERROR = "disk_error"  # the host's disk refused (full, read-only, permission)
    UNAVAILABLE = "unavailable"  # hub unreachable / shutting down
    TIMEOUT = "timeout"  # request got no reply in time
    AUTH_FAILED = "auth_failed"  # handshake failed
    INTERNAL = "internal"  # a bug on the hub; the message is generic on purpose


class LetsworkError(Exception):
    """Base of every letswork error.

    Attributes:
        code: the stable :class:`ErrorCode`.
        message: one line for a person or a model; never contains secrets.
        data: small JSON-serialisable details (``{"holder": "alice"}``).
    """

    default_code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.data: dict[str, Any] = dict(data or {})

    def to_wire(self) -> dict[str, Any]:
        """The ``error`` object of a response: ``{"code", "message", "data"}``."""
        return {"code": self.code.value, "message": self.message, "data": self.data}


class UsageError(LetsworkError):
    """Local misuse: a bad argument or setting given by the user on this machine."""

    default_code = ErrorCode.INVALID


class InviteCodeError(UsageError):
    """An invite code could not be parsed; the message says what is wrong with it."""


class PeerError(LetsworkError):
    """The remote side sent something it must not; the connection is at fault, not the user."""

    default_code = ErrorCode.INVALID


class HandshakeError(PeerError):
    """Authentication failed (unknown or revoked invite, bad MAC, bad finished tag, bad key).

    The hub answers every cause with the same close code (4401) after the same delay, so the
    *reason* is only logged locally, never sent.
    """

    default_code = ErrorCode.AUTH_FAILED


class RecordError(PeerError):
    """A record failed: bad AEAD tag, wrong header, sequence gap, replay, or oversize.

    There is no partial recovery (design section 4): the connection is closed with 4400.
    """


class ProtocolError(PeerError):
    """A decrypted application message is malformed (not JSON, unknown op, extra field, ...).

    The connection stays open and the sender gets an error reply with :attr:`code`.
    """


class OpError(LetsworkError):
    """An op was refused for a stable, expected reason; sent back as an error response."""


class TransportError(LetsworkError):
    """The connection to the hub is down, closed, or a request timed out (local view)."""

    default_code = ErrorCode.UNAVAILABLE


class HubProtocolError(TransportError):
    """The hub sent a message the catalogue does not allow (seen from the client).

    A reply or event that is not JSON, has the wrong shape, a field of the wrong type, a
    non-hex token, an out-of-range number, or answers a request that was never sent. The
    client converts the :class:`ProtocolError` of the decode functions into this at the
    boundary, closes the connection with 4400 and fails every request in flight with it;
    reconnecting loops back off. It is a :class:`TransportError` (code ``unavailable``)
    because, to the caller, the link to the hub is down; ``data`` keeps the decoder's
    ``reason`` and ``field``.
    """


class StoreError(LetsworkError):
    """The SQLite store failed; raised in place of ``sqlite3.Error``."""

    default_code = ErrorCode.INTERNAL


def op_error(code: ErrorCode, message: str, **data: Any) -> OpError:
    """Shorthand for ``OpError(message, code=code, data=data)``."""
    return OpError(message, code=code, data=data)
