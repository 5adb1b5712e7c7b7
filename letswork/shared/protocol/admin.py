"""The ``admin`` group, host only: admitting, refusing, kicking and trusting guests, invites,
and stopping the hub, with the ``kicked`` and ``hub_stopping`` events.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from letswork.shared import limits
from letswork.shared.errors import ErrorCode as _E
from letswork.shared.protocol.base import (
    HOST_ONLY,
    Count,
    DisplayName,
    Empty,
    EventSpec,
    HexToken,
    Label,
    NameArgs,
    NameResult,
    NonEmptyShortText,
    OpSpec,
    ReasonData,
    ShortText,
    Timestamp,
    WireModel,
    op,
)

GuestRole = Literal["editor", "viewer"]
#: People one invite may admit (``--uses``).
InviteUses = Annotated[int, Field(ge=1, le=limits.MAX_INVITE_USES)]


class InviteInfo(WireModel):
    """One invite, as ``list_invites`` reports it (never the code itself)."""

    invite_id: HexToken
    role: GuestRole
    label: Label | None = None
    created_at: Timestamp
    revoked: bool
    uses: Count
    #: admissions it allows (None: no limit)
    max_uses: InviteUses | None = None
    #: after it nobody new may knock (None: never)
    expires_at: Timestamp | None = None
    #: someone new may still use it: not revoked, not expired, uses left
    live: bool = True


class NameReasonArgs(WireModel):
    name: DisplayName
    reason: ShortText | None = None


class TrustResult(WireModel):
    name: DisplayName
    trusted: bool


class CreateInviteArgs(WireModel):
    """``uses``: how many people (identities) it admits, None: no limit; ``expires_in``:
    seconds after which nobody new may knock with it, None: never (at most
    ``MAX_INVITE_EXPIRY_SECONDS``). Resume credentials of those it admitted outlive both."""

    role: GuestRole = "editor"
    label: Label | None = None
    uses: InviteUses | None = None
    expires_in: Annotated[float, Field(gt=0, le=limits.MAX_INVITE_EXPIRY_SECONDS)] | None = None


class CreateInviteResult(WireModel):
    invite_id: HexToken
    code: NonEmptyShortText
    role: GuestRole
    label: Label | None = None
    uses: InviteUses | None = None
    expires_at: Timestamp | None = None


class ListInvitesResult(WireModel):
    invites: list[InviteInfo]


class RevokeInviteArgs(WireModel):
    invite_id: HexToken | None = None
    label: Label | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> RevokeInviteArgs:
        if (self.invite_id is None) == (self.label is None):
            raise ValueError("give exactly one of invite_id, label")
        return self


class RevokeInviteResult(WireModel):
    invite_id: HexToken
    revoked: bool
    disconnected: list[DisplayName]


class ShutdownResult(WireModel):
    stopping: bool


OPS: tuple[OpSpec, ...] = (
    op(
        "admit",
        NameArgs,
        NameResult,
        HOST_ONLY,
        "Admit a guest that is awaiting admission.",
        group="admin",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.QUOTA_EXCEEDED, _E.NAME_TAKEN),
    ),
    op(
        "deny",
        NameReasonArgs,
        NameResult,
        HOST_ONLY,
        "Refuse a guest that is awaiting admission.",
        group="admin",
        mutates=True,
        errors=(_E.NOT_FOUND,),
    ),
    op(
        "kick",
        NameReasonArgs,
        NameResult,
        HOST_ONLY,
        "Remove a guest, online or offline, for good: reject its pending changes, release "
        "its locks.",
        group="admin",
        mutates=True,
        errors=(_E.NOT_FOUND,),
    ),
    op(
        "trust",
        NameArgs,
        TrustResult,
        HOST_ONLY,
        "Apply a guest's changes at once instead of queueing them.",
        group="admin",
        mutates=True,
        errors=(_E.NOT_FOUND,),
    ),
    op(
        "untrust",
        NameArgs,
        TrustResult,
        HOST_ONLY,
        "Queue a guest's changes for approval again.",
        group="admin",
        mutates=True,
        errors=(_E.NOT_FOUND,),
    ),
    op(
        "create_invite",
        CreateInviteArgs,
        CreateInviteResult,
        HOST_ONLY,
        "Create an invite code for an editor or a viewer, for some people or until a time.",
        group="admin",
        mutates=True,
        errors=(_E.QUOTA_EXCEEDED,),
    ),
    op(
        "list_invites",
        Empty,
        ListInvitesResult,
        HOST_ONLY,
        "List the invites, revoked ones included.",
        group="admin",
    ),
    op(
        "revoke_invite",
        RevokeInviteArgs,
        RevokeInviteResult,
        HOST_ONLY,
        "Revoke an invite and disconnect the peers that joined with it.",
        group="admin",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.AMBIGUOUS),
    ),
    op(
        "shutdown",
        Empty,
        ShutdownResult,
        HOST_ONLY,
        "Stop the hub after telling every peer.",
        group="admin",
        mutates=True,
    ),
)

EVENTS: tuple[EventSpec, ...] = (
    EventSpec("kicked", ReasonData, "Sent to the guest itself: the host disconnected it."),
    EventSpec("hub_stopping", Empty, "The hub is shutting down."),
)
