"""The admin group (host only): admission decisions, removing guests, trust, invites and
``shutdown``.
"""

from __future__ import annotations

from letswork.hub.admission import admit_guest, waiting
from letswork.hub.ops.tasks import release_claims
from letswork.hub.peers import Peer
from letswork.hub.state import Handler, HubState
from letswork.shared import crypto, invite
from letswork.shared.errors import ErrorCode, op_error
from letswork.shared.protocol.admin import (
    CreateInviteArgs,
    CreateInviteResult,
    ListInvitesResult,
    NameReasonArgs,
    RevokeInviteArgs,
    RevokeInviteResult,
    ShutdownResult,
    TrustResult,
)
from letswork.shared.protocol.base import Empty, NameArgs, NameResult


def admit(ctx: HubState, peer: Peer, args: NameArgs, now: float) -> NameResult:
    target = waiting(ctx, args.name)
    admit_guest(ctx, target, now)
    ctx.audit(peer, "admit", now, guest=target.name)
    return NameResult(name=target.name)


def deny(ctx: HubState, peer: Peer, args: NameReasonArgs, now: float) -> NameResult:
    """Refuse a waiting guest, and with it its invite for ``deny_cooldown_seconds``: every
    other waiting guest of that invite is refused too, and its hellos get ``forbidden``
    until the cooldown ends. Guests the invite already admitted stay. Nothing is stored
    but the host's audit entry."""
    target = waiting(ctx, args.name)
    invite_id = target.credential.invite_id
    assert invite_id is not None
    ctx.deny_until[invite_id] = now + ctx.limits.deny_cooldown_seconds
    ctx.audit(peer, "deny", now, guest=target.name)
    for other in [target, *(p for p in ctx.waiting_peers(invite_id) if p is not target)]:
        ctx.send(other, "denied", {"reason": args.reason})
        ctx._close(other, crypto.CloseCode.REMOVED, "denied by the host")
        ctx.disconnect(other, now, "denied")
    return NameResult(name=target.name)


def remove_guest(ctx: HubState, target: Peer, now: float, reason: str | None, why: str) -> None:
    ctx.send(target, "kicked", {"reason": reason})
    ctx._close(target, crypto.CloseCode.REMOVED, why)
    ctx.disconnect(target, now, why)
    ctx.release_guest_locks(target.guest_id)
    ctx.events.forget(target.guest_id)


def kick(ctx: HubState, peer: Peer, args: NameReasonArgs, now: float) -> NameResult:
    targets = ctx.find_peers(args.name)
    if not targets:
        raise op_error(ErrorCode.NOT_FOUND, f"no connected guest is called {args.name!r}")
    # A waiting guest can carry an admitted guest's name: the admitted ones are meant.
    targets = [t for t in targets if t.admitted] or targets
    for target in targets:
        if target.admitted:  # a waiting guest has no row
            ctx.store.set_guest_state(target.guest_id, "kicked")
        remove_guest(ctx, target, now, args.reason, "kicked by the host")
    for guest_id in dict.fromkeys(t.guest_id for t in targets):
        release_claims(ctx, guest_id, now)
    ctx.audit(peer, "kick", now, guest=args.name, reason=args.reason)
    return NameResult(name=targets[0].name)


def _set_trust(ctx: HubState, peer: Peer, name: str, trusted: bool, now: float) -> TrustResult:
    row = ctx.guest_by_name(name)
    if row.role != "editor":
        raise op_error(ErrorCode.INVALID, f"{name!r} is a viewer; only editors can be trusted")
    ctx.store.set_trusted(row.guest_id, trusted)
    ctx.audit(peer, "trust" if trusted else "untrust", now, guest=row.name)
    return TrustResult(name=row.name, trusted=trusted)


def trust(ctx: HubState, peer: Peer, args: NameArgs, now: float) -> TrustResult:
    return _set_trust(ctx, peer, args.name, True, now)


def untrust(ctx: HubState, peer: Peer, args: NameArgs, now: float) -> TrustResult:
    return _set_trust(ctx, peer, args.name, False, now)


def mint_invite(ctx: HubState, role: str, label: str | None, now: float) -> tuple[bytes, str]:
    """Mint and store a new invite; returns (invite id, written code)."""
    inv = invite.generate(ctx.public_url)
    invite_id = crypto.derive_invite_id(inv.secret)
    ctx.store.add_invite(invite_id, inv.secret, role, label, now)
    return invite_id, inv.format()


def invite_code(ctx: HubState, invite_id: bytes) -> str:
    """The written code of a stored invite, with the hub's current public URL."""
    row = ctx.store.get_invite(invite_id)
    if row is None:
        raise op_error(ErrorCode.NOT_FOUND, "no such invite")
    return invite.Invite(secret=row.secret, url=ctx.public_url).format()


def create_invite(
    ctx: HubState, peer: Peer, args: CreateInviteArgs, now: float
) -> CreateInviteResult:
    invite_id, code = mint_invite(ctx, args.role, args.label, now)
    ctx.audit(peer, "invite", now, role=args.role, label=args.label)
    return CreateInviteResult.model_validate(
        {"invite_id": invite_id.hex(), "code": code, "role": args.role, "label": args.label}
    )


def list_invites(ctx: HubState, peer: Peer, args: Empty, now: float) -> ListInvitesResult:
    return ListInvitesResult.model_validate(
        {
            "invites": [
                {
                    "invite_id": r.invite_id.hex(),
                    "role": r.role,
                    "label": r.label,
                    "created_at": r.created_at,
                    "revoked": r.revoked_at is not None,
                    "uses": r.uses,
                }
                for r in ctx.store.list_invites()
            ]
        }
    )


def revoke_invite(
    ctx: HubState, peer: Peer, args: RevokeInviteArgs, now: float
) -> RevokeInviteResult:
    rows = ctx.store.list_invites()
    if args.invite_id is not None:
        matches = [r for r in rows if r.invite_id.hex().startswith(args.invite_id.lower())]
    else:
        matches = [r for r in rows if r.label == args.label]
    if len(matches) != 1:
        raise op_error(
            ErrorCode.NOT_FOUND if not matches else ErrorCode.AMBIGUOUS,
            "no invite matches" if not matches else "more than one invite matches; be precise",
        )
    row = matches[0]
    revoked = ctx.store.revoke_invite(row.invite_id, now)
    guests = {g.guest_id for g in ctx.store.revoke_guests_of_invite(row.invite_id)}
    gone: list[str] = []
    for target in list(ctx.peers.values()):
        if target.credential.invite_id == row.invite_id or target.guest_id in guests:
            gone.append(target.name)
            remove_guest(ctx, target, now, "the invite was revoked", "invite revoked")
    for guest_id in guests:
        release_claims(ctx, guest_id, now)
        ctx.release_guest_locks(guest_id)  # offline ones' too: they cannot come back
        ctx.events.forget(guest_id)
    ctx.audit(peer, "revoke", now, invite=row.invite_id.hex()[:8], label=row.label)
    return RevokeInviteResult(invite_id=row.invite_id.hex(), revoked=revoked, disconnected=gone)


def shutdown(ctx: HubState, peer: Peer, args: Empty, now: float) -> ShutdownResult:
    ctx.audit(peer, "shutdown", now)
    if ctx.on_shutdown is not None:
        ctx.on_shutdown()
    return ShutdownResult(stopping=True)


#: This group's ops, by name.
HANDLERS: dict[str, Handler] = {
    "admit": admit,
    "deny": deny,
    "kick": kick,
    "trust": trust,
    "untrust": untrust,
    "create_invite": create_invite,
    "list_invites": list_invites,
    "revoke_invite": revoke_invite,
    "shutdown": shutdown,
}
