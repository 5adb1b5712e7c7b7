"""Admission: who may knock, how a waiting guest is admitted (hello, ``admit``, auto-admit).

A guest's connection moves ``handshaken`` -> ``awaiting_admission`` -> ``admitted`` (or is
closed: denied, kicked, gone); the host's goes straight to ``admitted``.
"""

from __future__ import annotations

import secrets

from letswork.hub.identities import check_name_free, clock_text
from letswork.hub.ops.messages import deliver_pending
from letswork.hub.ops.tasks import release_claims
from letswork.hub.peers import Peer
from letswork.hub.ratelimit import TokenBucket
from letswork.hub.state import HubState
from letswork.hub.transitions import Transitions
from letswork.shared import crypto
from letswork.shared.errors import ErrorCode, OpError, op_error
from letswork.shared.limits import KNOCKS_PER_INVITE_PER_MINUTE

#: What a connection's admission state (``Peer.state``) may become. A connection starts
#: ``handshaken``; its accepted ``hello`` makes it ``admitted`` (the host, a resuming guest,
#: auto-admit) or ``awaiting_admission`` (a new guest), which the host's ``admit`` makes
#: ``admitted``. Denied, kicked and gone connections are closed, not moved (``Peer.closed``).
ADMISSION = Transitions(
    "admission",
    {
        "handshaken": frozenset({"awaiting_admission", "admitted"}),
        "awaiting_admission": frozenset({"admitted"}),
        "admitted": frozenset(),
    },
)


def move(peer: Peer, state: str) -> None:
    """Move ``peer`` to the admission ``state``, checked against :data:`ADMISSION`.

    Raises:
        IllegalTransition: ``peer.state`` may not become ``state`` (a bug in the hub).
    """
    ADMISSION.check(peer.state, state)
    peer.state = state


def check_may_knock(ctx: HubState, peer: Peer, now: float) -> None:
    """Refuse an invite's ``hello`` during its deny cooldown or over the waiting caps.

    Raises ``OpError(forbidden)`` (cooldown; ``retry_after`` in seconds),
    ``OpError(rate_limited)`` (over ``KNOCKS_PER_INVITE_PER_MINUTE``; ``retry_after``) or
    ``OpError(quota_exceeded)`` (``MAX_WAITING_PER_INVITE`` / ``MAX_WAITING_TOTAL``). The
    connection is closed (1000) once the error reply is out.
    """
    invite_id = peer.credential.invite_id
    assert invite_id is not None
    row = ctx.store.get_invite(invite_id)
    if row is not None and row.expires_at is not None and now >= row.expires_at:
        peer.close()
        raise op_error(
            ErrorCode.FORBIDDEN,
            f"this invite expired at {clock_text(row.expires_at)}; ask the host for a "
            "new one (people it admitted before still get in)",
        )
    if row is not None and row.uses_left() == 0:
        peer.close()
        raise op_error(
            ErrorCode.FORBIDDEN,
            f"this invite was for {row.max_uses} "
            f"{'person' if row.max_uses == 1 else 'people'} and has been used; ask the host "
            "for a new one (people it admitted still get in with their stored session)",
        )
    until = ctx.deny_until.get(invite_id)
    if until is not None and until <= now:
        del ctx.deny_until[invite_id]
    elif until is not None:
        peer.close()
        minutes = max(1, round((until - now) / 60))
        raise op_error(
            ErrorCode.FORBIDDEN,
            "the host turned this invite away; it cannot knock again for about "
            f"{minutes} min (ask the host if that was a mistake)",
            retry_after=round(until - now, 3),
        )
    limits = ctx.limits
    if auto_admits(ctx, peer):
        return
    knocks = ctx.knocks.setdefault(
        invite_id,
        TokenBucket(KNOCKS_PER_INVITE_PER_MINUTE / 60.0, KNOCKS_PER_INVITE_PER_MINUTE),
    )
    if not knocks.take(now):
        peer.close()
        raise op_error(
            ErrorCode.RATE_LIMITED,
            "this invite asked to be admitted too often; wait and retry",
            retry_after=round(knocks.retry_after(now), 3),
        )
    if len(ctx.waiting_peers(invite_id)) >= limits.max_waiting_per_invite:
        peer.close()
        raise op_error(
            ErrorCode.QUOTA_EXCEEDED,
            f"{limits.max_waiting_per_invite} guests of this invite are already waiting for "
            "the host to admit them; try again once the host has answered them",
            waiting=limits.max_waiting_per_invite,
        )
    if len(ctx.waiting_peers()) >= limits.max_waiting_total:
        peer.close()
        raise op_error(
            ErrorCode.QUOTA_EXCEEDED,
            f"{limits.max_waiting_total} guests are already waiting for the host to admit "
            "them; try again once the host has answered them",
            waiting=limits.max_waiting_total,
        )


def auto_admits(ctx: HubState, peer: Peer) -> bool:
    """Whether ``peer``'s hello is admitted without the host: ``--auto-admit``, unless its
    invite admitted a guest the host kicked since (then the host decides every knock)."""
    if not ctx.auto_admit:
        return False
    invite_id = peer.credential.invite_id
    row = None if invite_id is None else ctx.store.get_invite(invite_id)
    return row is None or not row.kicked


def record_admission(ctx: HubState, peer: Peer, now: float) -> str:
    """Admit a waiting guest: store its row (the first write for this guest) with a fresh
    resume credential; returns the resume secret (hex).

    The invite keeps at most ``max_guests_per_invite`` stored guests: the oldest offline
    ones with no pending change are forgotten (``Store.prune_guests_of_invite``).
    """
    invite_id = peer.credential.invite_id
    assert invite_id is not None
    # Its own request budget from now on: the connection's (auto-admit: it paid for this
    # hello), not the one its invite's waiting guests share.
    limits = ctx.limits
    own = (
        peer.bucket
        if peer.state == "handshaken"
        else TokenBucket(limits.rate_per_second, limits.rate_burst)
    )
    secret = secrets.token_bytes(32)
    ctx.store.add_admitted_guest(
        peer.guest_id,
        peer.name,
        peer.role,
        invite_id,
        crypto.derive_invite_id(secret),
        crypto.derive_psk(secret),
        now,
    )
    move(peer, "admitted")
    online = {p.guest_id for p in ctx.peers.values()} | {peer.guest_id}
    for gone in ctx.store.prune_guests_of_invite(
        invite_id, keep=limits.max_guests_per_invite, spare=online
    ):
        ctx.buckets.pop(gone, None)
        ctx.events.forget(gone)
        ctx.release_guest_locks(gone)
        ctx.renames.pop(gone, None)
        release_claims(ctx, gone, now)  # a forgotten identity's tasks go back to the board
    peer.bucket = ctx.buckets.setdefault(peer.guest_id, own)
    return secret.hex()


def admit_guest(ctx: HubState, peer: Peer, now: float) -> None:
    """Admit ``peer`` (a waiting guest) and tell everyone.

    Raises ``OpError(quota_exceeded)`` when ``max_peers`` admitted guests are connected or
    its invite has no use left, and ``OpError(name_taken)`` when an admitted guest took its
    name meanwhile. The admission that uses up an invite sends its other waiting guests away
    (``denied`` with the reason, close 4403), with no cooldown: the invite is spent anyway.
    """
    ctx.check_session_room()
    try:
        check_name_free(ctx, peer.name, exclude=peer, waiting=False)
    except OpError as exc:
        raise op_error(ErrorCode.NAME_TAKEN, f"{exc.message}; deny this one") from None
    secret = record_admission(ctx, peer, now)
    ctx.audit(peer, "join", now, role=peer.role, state=peer.state, client=peer.client)
    ctx.open_event_log(peer, None)
    admitted = {"name": peer.name, "resume_secret": secret}
    if peer.wants_events:
        admitted["events_log"] = peer.events_log
    ctx.send(peer, "admitted", admitted)
    ctx.broadcast(
        "peer_joined",
        {"peer_id": peer.peer_id, "name": peer.name, "role": peer.role},
        exclude=peer,
    )
    deliver_pending(ctx, peer, now)
    invite_id = peer.credential.invite_id
    row = None if invite_id is None else ctx.store.get_invite(invite_id)
    if row is not None and row.uses_left() == 0:
        who = "person" if row.max_uses == 1 else "people"
        reason = (
            f"this invite was for {row.max_uses} {who} and has been used; ask the host for "
            "a new one"
        )
        for other in ctx.waiting_peers(invite_id):
            ctx.send(other, "denied", {"reason": reason})
            ctx._close(other, crypto.CloseCode.REMOVED, "invite used up")
            ctx.disconnect(other, now, "invite used up")


def waiting(ctx: HubState, name: str) -> Peer:
    for peer in ctx.find_peers(name):
        if peer.state == "awaiting_admission":
            return peer
    raise op_error(ErrorCode.NOT_FOUND, f"no guest called {name!r} is waiting for admission")
