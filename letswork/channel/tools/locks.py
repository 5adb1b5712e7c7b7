"""The tools of the ``locks`` ops (``shared/protocol/locks.py``): taking, releasing and
breaking a lock on a path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from letswork.channel.tools.base import ToolContext, ToolSpec
from letswork.shared import describe as say
from letswork.shared.protocol.locks import ForceUnlockResult, LockResult, UnlockResult

__all__ = ["TOOLS"]


def _r_lock(r: LockResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    lock = r.lock
    ends = (
        "It ends sooner when you call unlock_file, or when this connection to the hub closes "
        "(a host's locks belong to its connection)."
        if ctx.role == "host"
        else "It stays yours across a disconnect; it ends sooner when you call unlock_file or "
        "leave, or when the host breaks it or removes you."
    )
    return (
        f"You hold the lock on {say.path(lock.path)} until {say.clock(lock.expires_at)}. Others' "
        f"changes to it fail with `locked` until then. {ends}"
    )


def _r_unlock(r: UnlockResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    path = say.path(str(args.get("path", "")))
    if r.released:
        return f"Released your lock on {path}."
    return f"You held no lock on {path}; nothing to do."


def _r_force(r: ForceUnlockResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    path = say.path(str(args.get("path", "")))
    if r.released:
        return f"Released {say.who(r.holder or 'someone')}'s lock on {path}."
    return f"There was no lock on {path}."


#: This group's tools, in the order the tool list shows them.
TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "lock_file",
        "Lock a file",
        """Take the exclusive lock on a path so nobody else changes it while you work on it
        (30 minutes by default; `ttl_seconds` sets another duration; calling it again
        refreshes your lock). Others' writes to the path then fail with `locked`. Release it
        with unlock_file when done. A guest's lock outlives a dropped connection until it
        expires; a host's ends with the host's connection. Error locked: someone else holds
        it — the message says who and until when; ask them or wait.""",
        _r_lock,
        fields={
            "path": "Path relative to the project root.",
            "ttl_seconds": "How long the lock lasts, in seconds (1-86400; default 1800).",
        },
        idempotent=True,
    ),
    ToolSpec(
        "unlock_file",
        "Unlock a file",
        """Release your own lock on a path. Says whether you held one. A lock held by one of
        your pending changes is released when the host decides that change, not here.""",
        _r_unlock,
        fields={"path": "Path relative to the project root."},
        idempotent=True,
    ),
    ToolSpec(
        "force_unlock",
        "Break a lock",
        """Release anyone's lock on a path, for example one left by a guest who went away.
        Says whose lock it was. Locks held by pending changes are released by approving or
        rejecting those changes instead.""",
        _r_force,
        fields={"path": "Path relative to the project root."},
        destructive=True,
        idempotent=True,
    ),
)
