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
        """Lock a path so only you can change it, for `ttl_seconds` (default 30 minutes); calling
        again refreshes it. Release it with unlock_file.""",
        _r_lock,
        fields={
            "path": "Path from the project root.",
        },
        idempotent=True,
    ),
    ToolSpec(
        "unlock_file",
        "Unlock a file",
        """Release your lock on a path. A lock held by your pending change ends with the host's
        decision.""",
        _r_unlock,
        fields={"path": "Path from the project root."},
        idempotent=True,
    ),
    ToolSpec(
        "force_unlock",
        "Break a lock",
        """Break anyone's lock on a path (say, a guest who left). A lock held by a pending change
        ends when you decide the change.""",
        _r_force,
        fields={"path": "Path from the project root."},
        destructive=True,
        idempotent=True,
    ),
)
