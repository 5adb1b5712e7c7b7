"""The admin group (host only): admission decisions, removing guests, trust, invites and
``shutdown``.
"""

from __future__ import annotations

from letswork.hub import identities
from letswork.hub.admission import admit_guest, waiting
from letswork.hub.changes import decide
from letswork.hub.ops.tasks import release_claims
from letswork.hub.peers import HOST_ID, Peer
from letswork.hub.state import Handler, HubState
from letswork.hub.store.guests import InviteRow
from letswork.shared import crypto, invite
from letswork.shared.errors import ErrorCode, OpError, op_error
from letswork.shared.limits import MAX_INVITE_EXPIRY_SECONDS, MAX_SHORT_TEXT_CHARS
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
    """Remove the guest called ``args.name``, online or offline, for good: its identity is
    ``kicked`` (resume credential dropped, name kept so it cannot come back under it), its
    connections close, its pending changes are rejected with the reason, its locks and task
    claims are released, and its invite no longer auto-admits (a one-use invite is revoked).
    A guest still waiting for admission is just sent away.

    Raises ``OpError(not_found)`` when no guest, online or offline, has that name.
    """
    try:
        row = identities.known_guest(ctx, args.name)
    except OpError:
        targets = [t for t in ctx.find_peers(args.name) if not t.admitted]
        if not targets:
            raise
        for target in targets:
            remove_guest(ctx, target, now, args.reason, "kicked by the host")
        ctx.audit(peer, "kick", now, guest=args.name, reason=args.reason)
        return NameResult(name=targets[0].name)
    ctx.store.set_guest_state(row.guest_id, "kicked")
    for target in [p for p in ctx.peers.values() if p.guest_id == row.guest_id]:
        remove_guest(ctx, target, now, args.reason, "kicked by the host")
    why = f"{row.name} was removed from the session" + (f": {args.reason}" if args.reason else "")
    for change in ctx.store.list_changes(
        status="pending", author_id=row.guest_id, include_content=False, include_diff=False
    ):
        decide(ctx, change, "rejected", now, by=HOST_ID, reason=why[:MAX_SHORT_TEXT_CHARS])
    for lock in ctx.locks.release_all(row.guest_id, keep_change_locks=False):
        ctx.broadcast_lock_released(lock, "left")  # the catalogue's word for leave, kick, revoke
    release_claims(ctx, row.guest_id, now)
    if row.invite_id is not None:
        inv = ctx.store.get_invite(row.invite_id)
        one_use = inv is not None and inv.max_uses == 1
        ctx.store.mark_invite_kicked(row.invite_id, revoke_at=now if one_use else None)
    ctx.audit(peer, "kick", now, guest=row.name, reason=args.reason)
    return NameResult(name=row.name)


def _set_trust(ctx: HubState, peer: Peer, name: str, trusted: bool, now: float) -> TrustResult:
    row = identities.known_guest(ctx, name)
    if row.role != "editor":
        raise op_error(ErrorCode.INVALID, f"{name!r} is a viewer; only editors can be trusted")
    ctx.store.set_trusted(row.guest_id, trusted)
    ctx.audit(peer, "trust" if trusted else "untrust", now, guest=row.name)
    return TrustResult(name=row.name, trusted=trusted)


def trust(ctx: HubState, peer: Peer, args: NameArgs, now: float) -> TrustResult:
    return _set_trust(ctx, peer, args.name, True, now)


def untrust(ctx: HubState, peer: Peer, args: NameArgs, now: float) -> TrustResult:
    return _set_trust(ctx, peer, args.name, False, now)


def mint_invite(
    ctx: HubState,
    role: str,
    label: str | None,
    now: float,
    *,
    uses: int | None = None,
    expires_in: float | None = None,
) -> tuple[bytes, str]:
    """Mint and store a new invite; returns (invite id, written code).

    ``uses``: admissions it allows (``None``: no limit); ``expires_in``: seconds from ``now``
    after which nobody new may knock (``None``: never; at most MAX_INVITE_EXPIRY_SECONDS).
    Raises ``OpError(quota_exceeded)`` over ``MAX_LIVE_INVITES`` live invites.
    """
    inv = invite.generate(ctx.public_url)
    invite_id = crypto.derive_invite_id(inv.secret)
    expires_at = None if expires_in is None else now + expires_in
    ctx.store.add_invite(
        invite_id, inv.secret, role, label, now, max_uses=uses, expires_at=expires_at
    )
    return invite_id, inv.format()


def live_invite(ctx: HubState, now: float, *, label: str | None = None) -> InviteRow | None:
    """The newest invite someone new can still use (not revoked, not expired, uses left),
    optionally only one with ``label``; ``None`` when there is none. ``row.uses_left()`` says
    how many more people it admits (``None``: no limit). For the dashboard's invite box."""
    rows = [r for r in ctx.store.list_invites() if r.live(now)]
    if label is not None:
        rows = [r for r in rows if r.label == label]
    return rows[-1] if rows else None


def invite_code(ctx: HubState, invite_id: bytes) -> str:
    """The written code of a stored invite, with the hub's current public URL."""
    row = ctx.store.get_invite(invite_id)
    if row is None:
        raise op_error(ErrorCode.NOT_FOUND, "no such invite")
    return invite.Invite(secret=row.secret, url=ctx.public_url).format()


def create_invite(
    ctx: HubState, peer: Peer, args: CreateInviteArgs, now: float
) -> CreateInviteResult:
    if args.expires_in is not None and args.expires_in > MAX_INVITE_EXPIRY_SECONDS:
        raise op_error(
            ErrorCode.INVALID,
            f"an invite may last at most {MAX_INVITE_EXPIRY_SECONDS // 86400} days",
        )
    invite_id, code = mint_invite(
        ctx, args.role, args.label, now, uses=args.uses, expires_in=args.expires_in
    )
    ctx.audit(peer, "invite", now, role=args.role, label=args.label, uses=args.uses)
    return CreateInviteResult.model_validate(
        {
            "invite_id": invite_id.hex(),
            "code": code,
            "role": args.role,
            "label": args.label,
            "uses": args.uses,
            "expires_at": None if args.expires_in is None else now + args.expires_in,
        }
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
                    "max_uses": r.max_uses,
                    "expires_at": r.expires_at,
                    "live": r.live(now),
                }
                for r in ctx.store.list_invites()
            ]
        }
    )


def revoke_invite(
    ctx: HubState, peer: Peer, args: RevokeInviteArgs, now: float
) -> RevokeInviteResult:
    rows = ctx.store.list_invites()
    wanted = args.invite_id if args.invite_id is not None else args.label
    assert wanted is not None
    matches: list[InviteRow] = []
    if args.invite_id is not None:
        matches = [r for r in rows if r.invite_id.hex().startswith(args.invite_id.lower())]
    # A label too (an all-hex one, such as "2024" or "cafe", may also start some invite's id:
    # then both are candidates, never the id's invite silently).
    # (The CLI sends an all-hex INVITE lowercased as an id prefix: "CAFE" is label "CAFE" too.)
    labelled = [
        r
        for r in rows
        if r.label == wanted or (args.invite_id is not None and (r.label or "").lower() == wanted)
    ]
    # Revoked invites keep their labels: the live one is meant.
    live = [r for r in labelled if r.revoked_at is None]
    matches += [r for r in (live if matches else live or labelled) if r not in matches]
    if not matches:
        raise op_error(
            ErrorCode.NOT_FOUND,
            f"no invite has an id starting with, or the label, {wanted!r}; "
            "`letswork invites` lists them",
        )
    if len(matches) > 1:
        listed = "; ".join(_invite_line(r, now) for r in matches[:10])
        raise op_error(
            ErrorCode.AMBIGUOUS,
            f"{len(matches)} invites match {wanted!r}: {listed}; give more of the id",
            candidates=[r.invite_id.hex()[:12] for r in matches[:10]],
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


def invite_state(row: InviteRow, now: float) -> str:
    """``revoked``, ``expired``, ``used up`` or ``live``."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and now >= row.expires_at:
        return "expired"
    return "used up" if row.uses_left() == 0 else "live"


def _invite_line(row: InviteRow, now: float) -> str:
    state = invite_state(row, now)
    return f"{row.invite_id.hex()[:12]} ({row.role}, {state}, label {row.label or '-'})"


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
