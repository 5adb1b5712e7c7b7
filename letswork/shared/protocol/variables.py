"""The ``variables`` group: shared variables (set, get, delete) and the ``var_changed``
event.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from letswork.shared import limits
from letswork.shared.errors import ErrorCode as _E
from letswork.shared.protocol.base import (
    ALL_ROLES,
    WRITERS,
    Count,
    DisplayName,
    EventSpec,
    OpSpec,
    Timestamp,
    WireModel,
    op,
)

VarKey = Annotated[
    str, Field(min_length=1, max_length=limits.MAX_VAR_KEY_CHARS, pattern=r"^[A-Za-z0-9_.:-]+$")
]
#: A variable key, or ``*`` for every variable.
VarKeyOrAll = Annotated[
    str,
    Field(
        min_length=1,
        max_length=limits.MAX_VAR_KEY_CHARS,
        pattern=r"^(?:\*|[A-Za-z0-9_.:-]+)$",
    ),
]
#: A variable's value; the hub also checks its size in bytes (``MAX_VAR_VALUE_BYTES``).
VarValue = Annotated[str, Field(max_length=limits.MAX_VAR_VALUE_BYTES)]


class VarInfo(WireModel):
    """One shared variable; ``value`` is ``null`` only in a ``get_var *`` result too large to
    carry every value (get that key on its own). ``size`` is the value's size in bytes."""

    key: VarKey
    value: VarValue | None = None
    size: Count
    updated_by: DisplayName
    updated_at: Timestamp


class SetVarArgs(WireModel):
    key: VarKey
    value: VarValue


class VarResult(WireModel):
    var: VarInfo


class GetVarArgs(WireModel):
    key: VarKeyOrAll


class GetVarResult(WireModel):
    vars: list[VarInfo]
    truncated: bool


class VarKeyArgs(WireModel):
    key: VarKey


class DeleteVarResult(WireModel):
    deleted: bool


class VarChangedData(WireModel):
    """``var_changed``: ``value`` is absent when the variable was deleted."""

    key: VarKey
    value: VarValue | None = None
    deleted: bool
    by: DisplayName
    at: Timestamp


OPS: tuple[OpSpec, ...] = (
    op(
        "set_var",
        SetVarArgs,
        VarResult,
        WRITERS,
        "Set a shared variable.",
        group="variables",
        mutates=True,
        errors=(_E.QUOTA_EXCEEDED,),
    ),
    op(
        "get_var",
        GetVarArgs,
        GetVarResult,
        ALL_ROLES,
        "Read one shared variable, or all of them with '*'.",
        group="variables",
        errors=(_E.NOT_FOUND,),
    ),
    op(
        "delete_var",
        VarKeyArgs,
        DeleteVarResult,
        WRITERS,
        "Delete a shared variable.",
        group="variables",
        mutates=True,
    ),
)

EVENTS: tuple[EventSpec, ...] = (
    EventSpec("var_changed", VarChangedData, "A shared variable was set or deleted."),
)
