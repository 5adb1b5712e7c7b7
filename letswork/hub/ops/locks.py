"""The locks group: ``lock_file``, ``unlock_file`` and ``force_unlock``."""

from __future__ import annotations

from letswork.hub.peers import Peer, holder_id
from letswork.hub.state import Handler, HubState, dump
from letswork.shared.protocol.locks import (
    ForceUnlockResult,
    LockFileArgs,
    LockResult,
    PathArgs,
    UnlockResult,
)


def lock_file(ctx: HubState, peer: Peer, args: LockFileArgs, now: float) -> LockResult:
    path = ctx.norm(peer, args.path)
    lock = ctx.locks.acquire(path, holder_id(peer), peer.name, now, ttl=args.ttl_seconds)
    ctx.audit(peer, "lock", now, path=path)
    info = ctx.lock_info(lock)
    ctx.broadcast("lock_taken", {"lock": dump(info)}, path=path)
    return LockResult.model_validate({"lock": info})


def unlock_file(ctx: HubState, peer: Peer, args: PathArgs, now: float) -> UnlockResult:
    lock = ctx.locks.release(ctx.norm(peer, args.path), holder_id(peer))
    if lock is not None:
        ctx.audit(peer, "unlock", now, path=lock.path)
        ctx.broadcast_lock_released(lock, "unlocked")
    return UnlockResult(released=lock is not None)


def force_unlock(ctx: HubState, peer: Peer, args: PathArgs, now: float) -> ForceUnlockResult:
    lock = ctx.locks.force_release(ctx.norm(peer, args.path))
    if lock is not None:
        ctx.audit(peer, "force_unlock", now, path=lock.path, holder=lock.holder_name)
        ctx.broadcast_lock_released(lock, "forced")
    return ForceUnlockResult(released=lock is not None, holder=lock.holder_name if lock else None)


#: This group's ops, by name.
HANDLERS: dict[str, Handler] = {
    "lock_file": lock_file,
    "unlock_file": unlock_file,
    "force_unlock": force_unlock,
}
