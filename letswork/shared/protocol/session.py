"""The ``session`` group: saying hello, checking the hub, who is here, one's display name.

Its events tell the others who came and went (``peer_joined``, ``peer_left``,
``name_changed``) and, for a guest that said hello, how its admission went
(``awaiting_admission``, then ``admitted`` or ``denied``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from letswork.shared.errors import ErrorCode as _E
from letswork.shared.protocol.base import (
    ALL_ROLES,
    Count,
    DisplayName,
    Empty,
    EventSpec,
    Ident,
    LockInfo,
    NameArgs,
    NameResult,
    OpSpec,
    ReasonData,
    Role,
    SecretHex,
    ShortText,
    SoftwareName,
    Timestamp,
    WireModel,
    op,
)


class PeerInfo(WireModel):
    """One connected peer, as ``status`` reports it."""

    peer_id: Ident
    name: DisplayName
    role: Role
    state: Literal["online", "awaiting_admission"]
    trusted: bool
    connected_at: Timestamp


#: Names one identity's event log in one run of the hub (hub/eventlog.py).
EventLogToken = Annotated[str, Field(pattern=r"^[0-9a-f]{1,32}\.[0-9a-f]{1,32}$")]


class EventsCursor(WireModel):
    """What a client saw of its identity's event log: the log's token and the ``seq`` of the
    last event it got (none: a first connection, which asks for the token)."""

    log: EventLogToken | None = None
    after: Count = 0


class HelloArgs(WireModel):
    name: DisplayName
    client: SoftwareName | None = None
    events: EventsCursor | None = None


class HelloResult(WireModel):
    peer_id: Ident
    name: DisplayName
    role: Role
    state: Literal["admitted", "awaiting_admission"]
    resume_secret: SecretHex | None = None
    project: ShortText
    hub_version: SoftwareName
    events_seq: Count
    events_log: EventLogToken | None = None


class PingResult(WireModel):
    now: Timestamp


class StatusResult(WireModel):
    project: ShortText
    you: PeerInfo
    peers: list[PeerInfo]
    locks: list[LockInfo]
    pending: Count


class PeerData(WireModel):
    """``peer_joined`` and ``awaiting_admission``."""

    peer_id: Ident
    name: DisplayName
    role: Role


class PeerLeftData(WireModel):
    peer_id: Ident
    name: DisplayName
    reason: ShortText


class AdmittedData(WireModel):
    name: DisplayName
    resume_secret: SecretHex | None = None
    events_log: EventLogToken | None = None


class EventsMissedData(WireModel):
    """``events_missed``: how many events the connection's identity was sent while it was away
    that the hub no longer kept (null: an unknown number)."""

    lost: Count | None = None


class NameChangedData(WireModel):
    peer_id: Ident
    old: DisplayName
    new: DisplayName


OPS: tuple[OpSpec, ...] = (
    op(
        "hello",
        HelloArgs,
        HelloResult,
        ALL_ROLES,
        "Introduce this peer with a display name; the first request after the handshake.",
        group="session",
        errors=(_E.NAME_TAKEN, _E.QUOTA_EXCEEDED),
    ),
    op("ping", Empty, PingResult, ALL_ROLES, "Check the hub is alive.", group="session"),
    op(
        "status",
        Empty,
        StatusResult,
        ALL_ROLES,
        "Who is connected, which locks are held, how many changes wait.",
        group="session",
    ),
    op(
        "set_display_name",
        NameArgs,
        NameResult,
        ALL_ROLES,
        "Change this peer's display name.",
        group="session",
        mutates=True,
        errors=(_E.NAME_TAKEN,),
    ),
)

EVENTS: tuple[EventSpec, ...] = (
    EventSpec("peer_joined", PeerData, "A peer was admitted and is online."),
    EventSpec("peer_left", PeerLeftData, "A peer disconnected, was kicked or was denied."),
    EventSpec("awaiting_admission", PeerData, "A guest said hello and waits for the host."),
    EventSpec("admitted", AdmittedData, "Sent to the guest itself: the host admitted it."),
    EventSpec("denied", ReasonData, "Sent to the guest itself: the host refused it."),
    EventSpec("name_changed", NameChangedData, "A peer changed its display name."),
    EventSpec(
        "events_missed",
        EventsMissedData,
        "Sent to a reconnecting connection: events it missed that the hub no longer kept.",
    ),
)
