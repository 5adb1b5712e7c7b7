"""The session group: ``hello``, ``ping``, ``status`` and ``set_display_name``."""

from __future__ import annotations

import secrets

from letswork import __version__
from letswork.hub import identities
from letswork.hub.admission import auto_admits, check_may_knock, move, record_admission
from letswork.hub.peers import HOST_ID, Peer, participant, validate_display_name
from letswork.hub.ratelimit import TokenBucket
from letswork.hub.state import Handler, HubState
from letswork.shared.errors import ErrorCode, op_error
from letswork.shared.protocol.base import Empty, NameArgs, NameResult
from letswork.shared.protocol.session import HelloArgs, HelloResult, PingResult, StatusResult


def hello(ctx: HubState, peer: Peer, args: HelloArgs, now: float) -> HelloResult:
    if peer.state != "handshaken":
        raise op_error(ErrorCode.INVALID, "'hello' may only be sent once")
    cred = peer.credential
    if cred.kind == "invite":
        check_may_knock(ctx, peer, now)
    # Guests awaiting admission do not count against --max-guests; the cap is checked
    # again when the host admits them.
    if (cred.kind == "resume" or ctx.auto_admit) and cred.kind != "host":
        if not ctx.can_accept_guest():
            # Closed once the refusal is out, as the other refusals particular to hello: the
            # requests piled up behind it are never answered (found attacking issue 15).
            peer.close()
        ctx.check_session_room()
    peer.client = args.client
    resume_secret: str | None = None
    if cred.kind == "host":
        peer.name = HOST_ID
        peer.guest_id = HOST_ID
        move(peer, "admitted")
    else:
        name = validate_display_name(args.name)
        if cred.kind == "resume":
            assert cred.guest_id is not None
            guest = ctx.store.get_guest(cred.guest_id)
            if guest is None or guest.state != "admitted":
                raise op_error(ErrorCode.FORBIDDEN, "this credential is no longer valid")
            peer.guest_id = guest.guest_id
            stored_name = guest.name
        else:
            # Nothing is stored for a guest until it is admitted (record_admission writes it).
            peer.guest_id = secrets.token_hex(8)
        # A waiting guest's name never keeps an admitted guest out (it could squat one); a
        # known identity's name, offline or kicked, keeps everyone else out.
        identities.check_name_free(
            ctx, name, exclude=peer, waiting=cred.kind == "invite", stranger=cred.kind == "invite"
        )
        if cred.kind == "resume" and stored_name != name:
            # A rename by reconnecting costs what set_display_name does.
            take_rename(ctx, peer.guest_id, now)
        peer.name = name
        if cred.kind == "resume":
            if stored_name != name:
                identities.rename(ctx, peer.guest_id, stored_name, name)
            move(peer, "admitted")
        elif auto_admits(ctx, peer):
            resume_secret = record_admission(ctx, peer, now)
        else:
            move(peer, "awaiting_admission")
    if peer.state == "awaiting_admission":
        # One request budget per invite for its waiting connections: opening more of
        # them must not buy more requests. Bounded by the number of invites.
        assert cred.invite_id is not None
        key = "invite:" + cred.invite_id.hex()
        peer.bucket = ctx.buckets.setdefault(key, peer.bucket)
    elif not peer.is_host:
        # A guest's request budget follows the guest, not the connection: reconnecting
        # must not refill it (each connection used to start with a full burst).
        peer.bucket = ctx.buckets.setdefault(peer.guest_id, peer.bucket)
    ctx.greeting.pop(peer.peer_id, None)
    peer.wants_events = args.events is not None
    if peer.admitted:
        # Before the join is broadcast, so the replay holds what happened while it was away.
        cursor = args.events
        after = (cursor.log, cursor.after) if cursor is not None and cursor.log else None
        ctx.open_event_log(peer, after, now)
    ctx.peers[peer.peer_id] = peer
    if peer.admitted:  # a waiting guest adds no row anywhere (see admit)
        ctx.audit(peer, "join", now, role=peer.role, state=peer.state, client=peer.client)
    peer.deliver_pending = peer.admitted  # see after_reply
    if peer.admitted:
        ctx.broadcast(
            "peer_joined",
            {"peer_id": peer.peer_id, "name": peer.name, "role": peer.role},
            exclude=peer,
        )
    else:
        ctx.broadcast(
            "awaiting_admission",
            {"peer_id": peer.peer_id, "name": peer.name, "role": peer.role},
            hosts_only=True,
        )
    return HelloResult.model_validate(
        {
            "peer_id": peer.peer_id,
            "name": peer.name,
            "role": peer.role,
            "state": peer.state,
            "resume_secret": resume_secret,
            # A folder name that is not UTF-8 cannot be sent: its bytes show as U+FFFD.
            "project": ctx.root.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
            "hub_version": __version__,
            "events_seq": ctx.events.last_seq(participant(peer)) if peer.admitted else 0,
            **({"events_log": peer.events_log or None} if peer.wants_events else {}),
        }
    )


def ping(ctx: HubState, peer: Peer, args: Empty, now: float) -> PingResult:
    return PingResult(now=now)


def status(ctx: HubState, peer: Peer, args: Empty, now: float) -> StatusResult:
    visible = [p for p in ctx.peers.values() if p.admitted or peer.is_host or p is peer]
    locks = [
        ctx.lock_info(lock)
        for lock in ctx.locks.all(now)
        if peer.is_host or ctx.workspace.rules.is_shared(lock.path)
    ]
    pending = (
        len(ctx.store.list_changes(status="pending", include_content=False, include_diff=False))
        if peer.is_host
        else ctx.store.pending_totals(peer.guest_id)[0]
    )
    return StatusResult.model_validate(
        {
            "project": ctx.root.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
            "you": ctx.peer_info(peer),
            "peers": [ctx.peer_info(p) for p in visible],
            "locks": locks,
            "pending": pending,
        }
    )


def take_rename(ctx: HubState, guest_id: str, now: float) -> None:
    """Spend one of the identity's renames (``renames_per_minute``, by ``set_display_name``
    or by a resume ``hello`` under another name).

    Raises ``OpError(rate_limited)`` when none is left.
    """
    per_minute = ctx.limits.renames_per_minute
    budget = ctx.renames.setdefault(guest_id, TokenBucket(per_minute / 60.0, per_minute))
    if not budget.take(now):
        raise op_error(
            ErrorCode.RATE_LIMITED,
            f"at most {per_minute} renames a minute; wait and retry",
            retry_after=round(budget.retry_after(now), 3),
        )


def set_display_name(ctx: HubState, peer: Peer, args: NameArgs, now: float) -> NameResult:
    if peer.is_host:
        raise op_error(ErrorCode.FORBIDDEN, "the host's display name is always 'host'")
    name = validate_display_name(args.name)
    identities.check_name_free(ctx, name, exclude=peer)
    take_rename(ctx, peer.guest_id, now)
    old = peer.name
    identities.rename(ctx, peer.guest_id, old, name)
    ctx.audit(peer, "rename", now, old=old, new=name)
    ctx.broadcast("name_changed", {"peer_id": peer.peer_id, "old": old, "new": name})
    return NameResult(name=name)


#: This group's ops, by name.
HANDLERS: dict[str, Handler] = {
    "hello": hello,
    "ping": ping,
    "status": status,
    "set_display_name": set_display_name,
}
