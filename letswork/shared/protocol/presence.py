"""The ``presence`` group: who is here and how active (``list_peers``), capability cards,
the activity log, and leaving with a summary. It has no events.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from letswork.shared import limits
from letswork.shared.protocol.base import (
    ALL_ROLES,
    Count,
    DisplayName,
    Empty,
    EventSpec,
    FilePath,
    Ident,
    OpSpec,
    RelPath,
    Role,
    RowId,
    ShortText,
    Timestamp,
    WireModel,
    op,
)

#: An audit entry's kind (``lock``, ``write_proposed``, ``message``, ...).
ActivityKind = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_]+$")]
# An absolute path where it starts a card string or follows a space, quote, '=', '(' or ','.
_ABSOLUTE_PATH = re.compile(r"""(?:^|[\s"'=(,;])(?:/|\\|~|[A-Za-z]:[\\/]|file:)""", re.I)


def _no_absolute_path(value: str) -> str:
    if _ABSOLUTE_PATH.search(value):
        raise ValueError("must not contain an absolute path (the card is shown to other people)")
    return value


#: A string of a capability card: no absolute paths (they reveal the user's folders).
CardText = Annotated[str, Field(max_length=64), AfterValidator(_no_absolute_path)]
CardName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_absolute_path)]


class CapabilityCard(WireModel):
    """What a peer chose to tell the others about its set-up."""

    client: CardText
    mcp_servers: Annotated[list[CardName], Field(max_length=limits.MAX_CARD_SERVERS)] = Field(
        default_factory=list
    )


class PublishCardArgs(WireModel):
    """``opt_in`` must be true: the user agreed to show this card to the session."""

    opt_in: bool
    client: CardText = ""
    mcp_servers: Annotated[list[CardName], Field(max_length=limits.MAX_CARD_SERVERS)] = Field(
        default_factory=list
    )


class CardResult(WireModel):
    card: CapabilityCard


class PresenceInfo(WireModel):
    """One connected peer with what it is doing, or a known guest who is offline.

    ``state`` is ``online`` when its last request (``ping`` aside) was under a minute ago,
    ``idle`` up to 15 minutes, ``away`` beyond; ``idle_minutes`` counts whole minutes.
    ``offline``: a guest the host admitted who has no connection now (``peer_id`` is then
    its identity, ``offline_since`` when its last connection ended, if known; the locks of
    its pending changes and its tasks stay its own).
    """

    peer_id: Ident
    name: DisplayName
    role: Role
    state: Literal["online", "idle", "away", "awaiting_admission", "offline"]
    idle_minutes: Count
    connected_at: Timestamp
    last_active_at: Timestamp
    locks: list[FilePath]
    tasks: list[RowId]
    card: CapabilityCard | None = None
    offline_since: Timestamp | None = None


class ListPeersArgs(WireModel):
    """``offline``: list the known guests who are offline too (state ``offline``; at most
    ``MAX_OFFLINE_LISTED``, the most recently seen first). Off unless asked: a client older
    than offline people (issue 16) refuses a state it does not know, so it is never sent one.
    """

    offline: bool = False


class ListPeersResult(WireModel):
    peers: list[PresenceInfo]


class ActivityLogArgs(WireModel):
    actor: DisplayName | None = None
    kind: ActivityKind | None = None
    since: Timestamp | None = None
    limit: Annotated[int, Field(ge=1, le=limits.MAX_ACTIVITY_ENTRIES)] = 100


class ActivityEntry(WireModel):
    """One audit entry: who (``actor``, a display name) did what (``kind``), when, on which
    path, with small details."""

    id: RowId
    at: Timestamp
    actor: ShortText
    kind: ShortText
    path: RelPath | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class ActivityLogResult(WireModel):
    entries: list[ActivityEntry]


class LeaveResult(WireModel):
    """What this participant did in the session, counted over its whole identity (a guest
    across reconnects; for the host, every host connection)."""

    changes_proposed: Count
    changes_applied: Count
    changes_rejected: Count
    messages_sent: Count
    tasks_done: Count
    locks_released: Count
    tasks_released: Count


OPS: tuple[OpSpec, ...] = (
    op(
        "list_peers",
        ListPeersArgs,
        ListPeersResult,
        ALL_ROLES,
        "Who is here, how active, and what each holds: locks, claimed tasks, capability card.",
        group="presence",
    ),
    op(
        "publish_card",
        PublishCardArgs,
        CardResult,
        ALL_ROLES,
        "Show the others this peer's client and MCP servers (only with the user's opt-in).",
        group="presence",
        mutates=True,
    ),
    op(
        "activity_log",
        ActivityLogArgs,
        ActivityLogResult,
        ALL_ROLES,
        "Read the session's activity log, filtered by actor, kind and time.",
        group="presence",
    ),
    op(
        "leave",
        Empty,
        LeaveResult,
        ALL_ROLES,
        "End this session with a summary; releases this peer's locks and claimed tasks.",
        group="presence",
        mutates=True,
    ),
)

EVENTS: tuple[EventSpec, ...] = ()
