"""The presence group: ``list_peers``, ``publish_card``, ``activity_log`` and ``leave``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from letswork.hub.ops.tasks import ACTIVE, release_claims
from letswork.hub.peers import HOST_ID, Peer, participant
from letswork.hub.state import Handler, HubState
from letswork.shared import limits as lim
from letswork.shared.errors import ErrorCode, op_error
from letswork.shared.protocol.base import Empty
from letswork.shared.protocol.presence import (
    ActivityLogArgs,
    ActivityLogResult,
    CardResult,
    LeaveResult,
    ListPeersArgs,
    ListPeersResult,
    PublishCardArgs,
)

#: Audit kinds without a path that guests may see in ``activity_log``.
GUEST_VISIBLE_KINDS = frozenset(
    {
        "join",
        "leave",
        "rename",
        "task_add",
        "plan",
        "task_claim",
        "task_unclaim",
        "task_update",
        "var_set",
        "var_delete",
    }
)
#: Audit rows a guest's ``activity_log`` looks through at most, to find its visible entries.
_MAX_ACTIVITY_SCAN = 20_000


def list_peers(ctx: HubState, peer: Peer, args: ListPeersArgs, now: float) -> ListPeersResult:
    visible = [p for p in ctx.peers.values() if p.admitted or peer.is_host or p is peer]
    locks: dict[str, list[str]] = {}
    for lock in ctx.locks.all(now):
        if peer.is_host or ctx.workspace.rules.is_shared(lock.path):
            locks.setdefault(lock.holder_id, []).append(lock.path)
    tasks: dict[str, list[int]] = {}
    for row in ctx.store.list_tasks():
        if row.assignee_id is not None and row.status in ACTIVE:
            tasks.setdefault(row.assignee_id, []).append(row.id)
    peers = []
    for p in visible:
        idle = max(0.0, now - p.last_active)
        if not p.admitted:
            state = "awaiting_admission"
        elif idle < lim.IDLE_AFTER_SECONDS:
            state = "online"
        elif idle <= lim.AWAY_AFTER_SECONDS:
            state = "idle"
        else:
            state = "away"
        peers.append(
            {
                "peer_id": p.peer_id,
                "name": p.name,
                "role": p.role,
                "state": state,
                "idle_minutes": int(idle // 60),
                "connected_at": p.connected_at,
                "last_active_at": p.last_active,
                "locks": locks.get(p.peer_id if p.is_host else p.guest_id, []),
                "tasks": tasks.get(participant(p), []) if p.admitted else [],
                "card": p.card,
            }
        )
    online = {p.guest_id for p in ctx.peers.values() if not p.is_host}
    offline = ctx.store.offline_guests(online, lim.MAX_OFFLINE_LISTED) if args.offline else []
    for g in offline:
        since = g.last_seen_at
        joined = g.admitted_at or g.created_at
        peers.append(
            {
                "peer_id": g.guest_id,
                "name": g.name,
                "role": g.role,
                "state": "offline",
                "idle_minutes": int(max(0.0, now - (since or joined)) // 60),
                "connected_at": joined,
                "last_active_at": since or joined,
                "locks": locks.get(g.guest_id, []),
                "tasks": tasks.get(g.guest_id, []),
                "card": None,
                "offline_since": since,
            }
        )
    return ListPeersResult.model_validate({"peers": peers})


def publish_card(ctx: HubState, peer: Peer, args: PublishCardArgs, now: float) -> CardResult:
    if args.opt_in is not True:
        raise op_error(
            ErrorCode.INVALID,
            "a capability card is published only with the user's opt-in: ask them, then "
            "send opt_in: true",
        )
    card = {"client": args.client, "mcp_servers": list(args.mcp_servers)}
    peer.card = card
    ctx.audit(peer, "card", now, client=args.client, servers=len(card["mcp_servers"]))
    return CardResult.model_validate({"card": card})


def _guest_may_see(ctx: HubState, kind: str, path: str | None, detail: Mapping[str, Any]) -> bool:
    if path is None:
        return kind in GUEST_VISIBLE_KINDS
    rules = ctx.workspace.rules
    new_path = detail.get("new_path")
    return rules.is_shared(path) and (not isinstance(new_path, str) or rules.is_shared(new_path))


def activity_log(ctx: HubState, peer: Peer, args: ActivityLogArgs, now: float) -> ActivityLogResult:
    filters: dict[str, Any] = {"actor": args.actor, "kind": args.kind, "since": args.since}
    if peer.is_host:
        rows = ctx.store.audit_log(**filters, limit=args.limit)
    else:
        rows = []
        before: int | None = None
        scanned = 0
        while len(rows) < args.limit and scanned < _MAX_ACTIVITY_SCAN:
            batch = ctx.store.audit_log(**filters, before_id=before, limit=500)
            if not batch:
                break
            scanned += len(batch)
            for row in reversed(batch):
                if _guest_may_see(ctx, row.kind, row.path, row.detail):
                    rows.append(row)
                    if len(rows) == args.limit:
                        break
            before = batch[0].id
        rows.reverse()
    return ActivityLogResult.model_validate(
        {
            "entries": [
                {
                    "id": r.id,
                    "at": r.at,
                    "actor": r.actor,
                    "kind": r.kind,
                    "path": r.path,
                    "detail": r.detail,
                }
                for r in rows
            ]
        }
    )


def leave(ctx: HubState, peer: Peer, args: Empty, now: float) -> LeaveResult:
    ident = participant(peer)
    if peer.is_host:
        changes = ctx.store.change_counts(author_name=HOST_ID)
    else:
        changes = ctx.store.change_counts(author_id=peer.guest_id)
    if peer.is_host:
        released_locks = ctx.locks.release_all(peer.peer_id)
        for lock in released_locks:
            ctx.broadcast_lock_released(lock, "left")
        locks_released = len(released_locks)
    else:
        locks_released = ctx.release_guest_locks(peer.guest_id)
    # Claims follow the participant: they go back to the board when its last connection
    # leaves.
    others = [p for p in ctx.connections(ident) if p is not peer]
    released_tasks = 0 if others else release_claims(ctx, ident, now)
    summary = LeaveResult(
        changes_proposed=changes["proposed"],
        changes_applied=changes["applied"],
        changes_rejected=changes["rejected"],
        messages_sent=ctx.store.count_messages_sent(ident),
        tasks_done=ctx.store.count_tasks_done(ident),
        locks_released=locks_released,
        tasks_released=released_tasks,
    )
    ctx.disconnect(peer, now, "left")
    return summary


#: This group's ops, by name.
HANDLERS: dict[str, Handler] = {
    "list_peers": list_peers,
    "publish_card": publish_card,
    "activity_log": activity_log,
    "leave": leave,
}
