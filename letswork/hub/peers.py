"""Who is connected: a connection (:class:`Peer`), what its handshake resolved to
(:class:`Credential`), a participant named in a request (:class:`Person`), and display names.

Who is who. A *participant* (an identity) is ``"host"`` for every host connection, else the
guest's ``guest_id``, which survives reconnects (:func:`ident`). Messages, receipts and task
assignments belong to identities; presence (``list_peers``) and capability cards belong to
connections. A connection's *state* moves through :data:`letswork.hub.admission.ADMISSION`.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from typing import Any, NamedTuple

from letswork.hub.ratelimit import TokenBucket
from letswork.shared.errors import ErrorCode, op_error

#: The host's identity, and its display name (reserved for it).
HOST_ID = "host"
_NAME_RE = re.compile(r"^[A-Za-z0-9 ._-]{1,32}$")
_NAME_FOLD_RE = re.compile(r"[\s._-]+")


#: Letters and digits that look alike in a terminal or a chat font, folded to one: capital I,
#: small l and the digit 1 (and so small i), the digit 0 and o, the digit 5 and s.
_CONFUSABLE = str.maketrans({"i": "l", "1": "l", "0": "o", "5": "s"})


def name_key(name: str) -> str:
    """Comparison key of a display name: case-folded, spaces and ``._-`` removed, and the
    characters that look alike folded (``aIice``, ``al1ce`` and ``alice``; ``rn`` and ``m``;
    ``vv`` and ``w``), so that nobody can pass for someone else, or for the host.

    The SQL twin is ``letswork.hub.store.guests._NAME_KEY`` (keep them equal).
    """
    key = _NAME_FOLD_RE.sub("", name).casefold().translate(_CONFUSABLE)
    return key.replace("rn", "m").replace("vv", "w")


def validate_display_name(name: str) -> str:
    """Return ``name`` stripped, or raise ``OpError(invalid|name_taken)`` (design section 6)."""
    stripped = name.strip()
    if not _NAME_RE.match(stripped):
        raise op_error(
            ErrorCode.INVALID,
            "display names are 1-32 characters from letters, digits, space, '.', '_' and '-'",
        )
    if name_key(stripped) == HOST_ID:
        raise op_error(ErrorCode.NAME_TAKEN, f"the name {stripped!r} is reserved for the host")
    return stripped


@dataclasses.dataclass(frozen=True)
class Credential:
    """What a handshake's invite id resolved to."""

    kind: str  # "host", "invite" or "resume"
    psk: bytes = dataclasses.field(repr=False)  # never in a log line or a traceback
    role: str
    invite_id: bytes | None = None
    guest_id: str | None = None


@dataclasses.dataclass(eq=False)
class Peer:
    """One authenticated connection."""

    peer_id: str
    credential: Credential
    role: str
    connected_at: float
    bucket: TokenBucket
    source: str = ""
    name: str = ""
    guest_id: str = ""
    state: str = "handshaken"  # -> "admitted" | "awaiting_admission"
    client: str | None = None
    #: Time of the last request other than ``ping`` (presence: online, idle, away).
    last_active: float = 0.0
    #: The capability card this connection published (``publish_card``), if any.
    card: dict[str, Any] | None = None
    #: Messages that waited for this participant go out after the reply to ``hello``.
    deliver_pending: bool = False
    #: The token of its identity's event log (hub/eventlog.py), once admitted; and whether its
    #: hello asked to be told it (``events``).
    events_log: str = ""
    wants_events: bool = False
    #: What of that log goes out after the reply to ``hello``: (events lost, -1 for an
    #: unknown number; entries), or None.
    replay: tuple[int, list[Any]] | None = None
    #: Set once the hub is done with this connection (kick, revoke, deny, disconnect); file
    #: work running for it in a worker thread polls it, and no request of it is applied after.
    gone: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)

    @property
    def closed(self) -> bool:
        return self.gone.is_set()

    def close(self) -> None:
        """Mark the connection gone (thread-safe; idempotent)."""
        self.gone.set()

    @property
    def is_host(self) -> bool:
        return self.role == "host"

    @property
    def admitted(self) -> bool:
        return self.state == "admitted"


class Person(NamedTuple):
    """A participant named in a request: its identity, display name and role."""

    ident: str
    name: str
    role: str


def participant(peer: Peer) -> str:
    return HOST_ID if peer.is_host else peer.guest_id


def holder_id(peer: Peer) -> str:
    # Host connections each hold their own locks; a guest's locks follow its identity.
    return peer.peer_id if peer.is_host else peer.guest_id


def require_open(peer: Peer) -> None:
    """Refuse anything more for a peer that is gone: once kick or revoke has returned, no
    request of that peer is applied, even one already read from its socket."""
    if peer.closed:
        raise op_error(
            ErrorCode.FORBIDDEN, "this connection was closed by the hub; nothing was applied"
        )
