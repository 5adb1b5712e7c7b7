"""The ``changes`` and ``approvals`` groups: proposing a write, edit, delete or move, and the
host's queue of changes to approve or reject, with the ``change_submitted`` and
``change_decided`` events.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from letswork.shared import limits
from letswork.shared.errors import ErrorCode as _E
from letswork.shared.protocol.base import (
    ALL_ROLES,
    HOST_ONLY,
    WRITERS,
    Count,
    DisplayName,
    EventSpec,
    FilePath,
    FileText,
    Ident,
    NonEmptyFileText,
    OpSpec,
    Sha256,
    ShortText,
    Timestamp,
    WireModel,
    op,
)

ChangeKind = Literal["write", "edit", "delete", "move"]
ChangeStatus = Literal["pending", "applied", "rejected", "conflict"]


class ChangeInfo(WireModel):
    """A proposed or applied change. ``diff`` is a unified diff, left out of some lists."""

    id: Ident
    author: DisplayName
    kind: ChangeKind
    path: FilePath
    new_path: FilePath | None = None
    base_sha256: Sha256 | None = None
    new_sha256: Sha256 | None = None
    status: ChangeStatus
    reason: ShortText | None = None
    diff: str | None = None
    created_at: Timestamp
    decided_at: Timestamp | None = None
    decided_by: DisplayName | None = None
    size: Count
    #: A decided change whose content and diff were pruned (only the newest decided changes
    #: keep theirs, ``MAX_DECIDED_WITH_DATA``); ``diff`` is then null. Sent only when true.
    data_pruned: bool = False
    #: Why the change needs the host's approval whoever proposes it: it touches a sensitive
    #: path (an ignore file, git attributes or modules, editor or CI config, hooks: the hub's
    #: ``SENSITIVE_PATHS``), e.g. ``".gitignore: an ignore file: it decides which files guests
    #: may see"``. Sent only for such a change; older hubs never send it.
    sensitive: ShortText | None = None


#: The most characters of diff the proposer wants in the reply (issue 15, item 5): given, the
#: reply carries that much of the diff's head in whole lines and a ``summary`` of all of it;
#: absent, the reply is as older hubs sent it (the head, up to 64 KiB, with a last line saying
#: how many lines follow). 0 asks for the summary alone.
DiffHead = Annotated[int, Field(ge=0, le=limits.MAX_REPLY_DIFF_CHARS)]


class WriteFileArgs(WireModel):
    path: FilePath
    content: FileText
    base_sha256: Sha256 | None = None
    diff_head: DiffHead | None = None


class EditFileArgs(WireModel):
    path: FilePath
    old_string: NonEmptyFileText
    new_string: FileText
    replace_all: bool = False
    base_sha256: Sha256 | None = None
    diff_head: DiffHead | None = None


class DeleteFileArgs(WireModel):
    path: FilePath
    base_sha256: Sha256 | None = None
    diff_head: DiffHead | None = None


class MoveFileArgs(WireModel):
    path: FilePath
    new_path: FilePath
    base_sha256: Sha256 | None = None
    diff_head: DiffHead | None = None


class ChangeSummary(WireModel):
    """The whole diff of a change, counted, for a reply that carries only its head."""

    #: Lines the change adds and removes (a move's are 0).
    lines_added: Count
    lines_removed: Count
    #: Lines of the whole diff, headers included (``get_change`` shows them all).
    diff_lines: Count
    #: ``change.diff`` is only the head of the diff: the whole diff was over ``diff_head``.
    diff_cut: bool


class ChangeResult(WireModel):
    """What a write, edit, delete or move did: applied at once, or queued for the host.

    With ``diff_head`` in the request, ``change.diff`` is the diff's head (whole lines within
    ``diff_head`` characters, or the start of a first line longer than that) and ``summary``
    counts the whole diff. Without it, ``summary`` is left out: an older channel refuses a
    field it does not know.
    """

    status: Literal["applied", "pending"]
    change: ChangeInfo
    summary: ChangeSummary | None = None


class PendingChangesArgs(WireModel):
    include_diff: bool = True


class MyChangesArgs(WireModel):
    status: ChangeStatus | None = None


class ChangeList(WireModel):
    changes: list[ChangeInfo]


class ChangeIdArgs(WireModel):
    id: Ident


class RejectChangeArgs(WireModel):
    id: Ident
    reason: ShortText | None = None


class ChangeDetail(WireModel):
    change: ChangeInfo


class ChangeSubmittedData(WireModel):
    change: ChangeInfo


class ChangeDecidedData(WireModel):
    change: ChangeInfo

    @model_validator(mode="after")
    def _decided(self) -> ChangeDecidedData:
        if self.change.status == "pending":
            raise ValueError("a decided change cannot be pending")
        return self


#: ``forbidden`` of its own: git metadata is never written, by anyone (issue 13, item 1).
_CHANGE_ERRORS = (
    _E.NOT_FOUND,
    _E.NOT_SHARED,
    _E.FORBIDDEN,
    _E.NOT_A_FILE,
    _E.LOCKED,
    _E.CONFLICT,
    _E.QUOTA_EXCEEDED,
    _E.DISK_ERROR,
)


OPS: tuple[OpSpec, ...] = (
    op(
        "write_file",
        WriteFileArgs,
        ChangeResult,
        WRITERS,
        "Create or replace a whole file.",
        group="changes",
        mutates=True,
        errors=(*_CHANGE_ERRORS, _E.BINARY_FILE, _E.TOO_LARGE),
    ),
    op(
        "edit_file",
        EditFileArgs,
        ChangeResult,
        WRITERS,
        "Replace an exact string in a file.",
        group="changes",
        mutates=True,
        errors=(*_CHANGE_ERRORS, _E.BINARY_FILE, _E.TOO_LARGE, _E.NO_MATCH, _E.AMBIGUOUS),
    ),
    op(
        "delete_file",
        DeleteFileArgs,
        ChangeResult,
        WRITERS,
        "Delete a file.",
        group="changes",
        mutates=True,
        errors=_CHANGE_ERRORS,
    ),
    op(
        "move_file",
        MoveFileArgs,
        ChangeResult,
        WRITERS,
        "Move or rename a file.",
        group="changes",
        mutates=True,
        errors=(*_CHANGE_ERRORS, _E.EXISTS),
    ),
    # the approval queue
    op(
        "pending_changes",
        PendingChangesArgs,
        ChangeList,
        HOST_ONLY,
        "List the changes waiting for the host's decision.",
        group="approvals",
    ),
    op(
        "my_changes",
        MyChangesArgs,
        ChangeList,
        ALL_ROLES,
        "List the changes this peer proposed, optionally by status.",
        group="approvals",
    ),
    op(
        "get_change",
        ChangeIdArgs,
        ChangeDetail,
        ALL_ROLES,
        "Show one change with its diff (guests see only their own).",
        group="approvals",
        errors=(_E.NOT_FOUND,),
    ),
    op(
        "approve_change",
        ChangeIdArgs,
        ChangeDetail,
        HOST_ONLY,
        "Apply a pending change (status conflict if the file moved on).",
        group="approvals",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.ALREADY_DECIDED, _E.FORBIDDEN, _E.QUOTA_EXCEEDED, _E.DISK_ERROR),
    ),
    op(
        "reject_change",
        RejectChangeArgs,
        ChangeDetail,
        HOST_ONLY,
        "Reject a pending change, with an optional reason.",
        group="approvals",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.ALREADY_DECIDED),
    ),
)

EVENTS: tuple[EventSpec, ...] = (
    EventSpec("change_submitted", ChangeSubmittedData, "A change was queued (no diff)."),
    EventSpec(
        "change_decided", ChangeDecidedData, "A change was applied, rejected or hit a conflict."
    ),
)
