"""The ``locks`` group: taking, releasing and breaking the lock on a path, with the
``lock_taken`` and ``lock_released`` events. ``LockInfo`` is in ``base``: the
``session`` and ``files`` groups show locks too.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from letswork.shared.errors import ErrorCode as _E
from letswork.shared.protocol.base import (
    HOST_ONLY,
    WRITERS,
    DisplayName,
    EventSpec,
    FilePath,
    LockInfo,
    OpSpec,
    WireModel,
    op,
)


class LockFileArgs(WireModel):
    path: FilePath
    ttl_seconds: Annotated[float, Field(ge=1, le=86_400)] | None = None


class LockResult(WireModel):
    lock: LockInfo


class PathArgs(WireModel):
    path: FilePath


class UnlockResult(WireModel):
    released: bool


class ForceUnlockResult(WireModel):
    released: bool
    holder: DisplayName | None = None


class LockTakenData(WireModel):
    lock: LockInfo


class LockReleasedData(WireModel):
    path: FilePath
    holder: DisplayName
    reason: Literal["unlocked", "expired", "forced", "left", "decided"]


OPS: tuple[OpSpec, ...] = (
    op(
        "lock_file",
        LockFileArgs,
        LockResult,
        WRITERS,
        "Take (or refresh) the exclusive lock on a path.",
        group="locks",
        mutates=True,
        errors=(_E.NOT_SHARED, _E.LOCKED, _E.QUOTA_EXCEEDED),
    ),
    op(
        "unlock_file",
        PathArgs,
        UnlockResult,
        WRITERS,
        "Release this peer's own lock on a path.",
        group="locks",
        mutates=True,
    ),
    op(
        "force_unlock",
        PathArgs,
        ForceUnlockResult,
        HOST_ONLY,
        "Release anyone's lock on a path.",
        group="locks",
        mutates=True,
    ),
)

EVENTS: tuple[EventSpec, ...] = (
    EventSpec("lock_taken", LockTakenData, "A path was locked."),
    EventSpec("lock_released", LockReleasedData, "A lock was released, and why."),
)
