"""The ``changes`` and ``approvals`` groups: proposing a write, edit, delete or move, and the
host's queue of changes to approve or reject, with the ``change_submitted`` and
``change_decided`` events.
"""

from __future__ import annotations

import hashlib
import json
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
    #: What the host reviews, pinned: :func:`proposal_sha256` of this change as it is now
    #: (it changes when ``update_change`` resubmits it, or an approval merges it). Sent only
    #: to a request with ``include_proposal`` (``get_change``, ``pending_changes``) or with
    #: ``approve_change``'s ``proposal_sha256``: an older client refuses a field it does not
    #: know. ``approve_change`` with it writes only this proposal.
    proposal_sha256: Sha256 | None = None
    #: Sent with ``proposal_sha256``: 1 when proposed, 1 more at each ``update_change``; for
    #: people to read (the digest is what an approval checks).
    revision: Count | None = None


def proposal_sha256(
    kind: str,
    path: str,
    new_path: str | None,
    base_sha256: str | None,
    new_sha256: str | None,
) -> str:
    """The digest of what a host reviews when it reads a change: its kind, path(s), the file
    it was made against (``base_sha256``: the diff's left side) and its result (``new_sha256``,
    the sha256 of the exact bytes stored, hashed off the event loop by the worker that
    prepared them; None for a delete or move). 64 lowercase hex characters: the sha256 of the
    compact JSON array ``["letswork.proposal/1", kind, path, new_path, base_sha256,
    new_sha256]`` (UTF-8, nulls as ``null``). Hashing these ~300 bytes is cheap on the loop."""
    fields = ["letswork.proposal/1", kind, path, new_path, base_sha256, new_sha256]
    data = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


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
    #: send each change's ``proposal_sha256`` (an older hub refuses the field: ask again
    #: without it)
    include_proposal: bool = False


class MyChangesArgs(WireModel):
    status: ChangeStatus | None = None


class ChangeList(WireModel):
    changes: list[ChangeInfo]


class ChangeIdArgs(WireModel):
    id: Ident


class RejectChangeArgs(WireModel):
    id: Ident
    reason: ShortText | None = None


class ApproveChangeArgs(WireModel):
    """``approve_change``. ``merge``: the caller can show a merge (issue 17 part 2): when the
    file moved on since the change's base and a three-way merge is clean, nothing is written
    and the result's ``merge`` holds the merged diff against the current file; approving
    that takes a second call with its ``current_sha256`` and ``merged_sha256``, so what is
    written is exactly what was shown. Without ``merge`` (an older caller) a moved-on file is
    a ``conflict``, as before merges."""

    id: Ident
    merge: bool = False
    #: the ``merge`` result shown: the file it was made against, and the merged text
    current_sha256: Sha256 | None = None
    merged_sha256: Sha256 | None = None
    #: the change's ``proposal_sha256`` as the caller showed it: refused with ``conflict``
    #: (nothing written, the change still pending) when the change is another proposal now
    #: (resubmitted with ``update_change``). Left out (an older caller), the change is
    #: approved as it is now, whatever was reviewed.
    proposal_sha256: Sha256 | None = None


class GetChangeArgs(WireModel):
    """``get_change``. ``merge``: add the change's ``merge`` view (its base, the current text,
    the proposer's diff and any conflicting hunks), when it is pending or in conflict.
    ``include_proposal``: send ``change.proposal_sha256`` (an older hub refuses the field)."""

    id: Ident
    merge: bool = False
    include_proposal: bool = False


MergeLines = Annotated[str, Field(max_length=limits.MAX_MERGE_VIEW_CHARS)]


class MergeHunk(WireModel):
    """A conflict: lines ``start``..``end`` (1-based) of the current file, which the host
    changed from ``base`` to ``current`` while the change made them ``proposed``
    (``end = start - 1``: an insertion point). Each text cut to ``MAX_MERGE_VIEW_CHARS``."""

    start: Count
    end: Count
    base: MergeLines
    current: MergeLines
    proposed: MergeLines


class MergeInfo(WireModel):
    """A pending change brought onto the file as it is now (issue 17 part 2).

    ``outcome``: ``edit`` (its ``edit_file`` re-applied exactly to the current text),
    ``merged`` (a clean three-way merge), ``conflict`` (``hunks``), ``unchanged`` (the file
    is still at the change's base: nothing to merge) or ``none`` (no base kept: a create,
    delete or move, a file over ``MAX_MERGE_BASE_BYTES``, a binary file now)."""

    outcome: Literal["edit", "merged", "conflict", "unchanged", "none"]
    #: the file the merge was made against (None: absent)
    current_sha256: Sha256 | None = None
    #: a clean merge: the sha256 of its result, to pass back to ``approve_change``
    merged_sha256: Sha256 | None = None
    #: a clean merge: its diff against the current file (what approving writes)
    diff: str | None = None
    hunks: list[MergeHunk] = Field(default_factory=list, max_length=limits.MAX_MERGE_HUNKS)
    #: conflicts found (``hunks`` holds the first ``MAX_MERGE_HUNKS``)
    conflicts: Count = 0
    #: ``get_change`` only: the base text, the current text (each cut to
    #: ``MAX_MERGE_VIEW_CHARS``, ``cut`` then true) and the proposer's diff against its base
    base: MergeLines | None = None
    current: MergeLines | None = None
    proposed_diff: str | None = None
    cut: bool = False


class ChangeDetail(WireModel):
    change: ChangeInfo
    #: sent only to a request with ``merge`` set (an older peer refuses a field it does not know)
    merge: MergeInfo | None = None


class UpdateChangeArgs(WireModel):
    """``update_change``: resubmit the caller's own conflicting change against the file as it
    is now, keeping its id and history (a pending one is ``invalid``: what the host reviews
    never changes under its id). A write or edit gives either ``content``
    (the whole new text) or ``old_string``/``new_string`` (an edit of the current text); a
    delete or move gives neither (it is re-based on the current file)."""

    id: Ident
    content: FileText | None = None
    old_string: NonEmptyFileText | None = None
    new_string: FileText | None = None
    replace_all: bool = False
    #: the file as the caller last read it: refused with ``conflict`` if it moved on since
    base_sha256: Sha256 | None = None
    diff_head: DiffHead | None = None

    @model_validator(mode="after")
    def _one_way(self) -> UpdateChangeArgs:
        if self.content is not None and (self.old_string is not None or self.new_string):
            raise ValueError("give content, or old_string and new_string, not both")
        if (self.old_string is None) != (self.new_string is None):
            raise ValueError("old_string and new_string go together")
        return self


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
    op(
        "update_change",
        UpdateChangeArgs,
        ChangeResult,
        WRITERS,
        "Resubmit your conflicting change against the current file (same id).",
        group="changes",
        mutates=True,
        errors=(
            *_CHANGE_ERRORS,
            _E.ALREADY_DECIDED,
            _E.BINARY_FILE,
            _E.TOO_LARGE,
            _E.NO_MATCH,
            _E.AMBIGUOUS,
            _E.INVALID,
        ),
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
        GetChangeArgs,
        ChangeDetail,
        ALL_ROLES,
        "Show one change with its diff (guests see only their own); merge: its merge view.",
        group="approvals",
        errors=(_E.NOT_FOUND, _E.NOT_SHARED, _E.TIMEOUT),
    ),
    op(
        "approve_change",
        ApproveChangeArgs,
        ChangeDetail,
        HOST_ONLY,
        "Apply a pending change; with merge, a clean merge onto a moved-on file is shown first.",
        group="approvals",
        mutates=True,
        errors=(
            _E.NOT_FOUND,
            _E.ALREADY_DECIDED,
            _E.FORBIDDEN,
            _E.QUOTA_EXCEEDED,
            _E.DISK_ERROR,
            _E.CONFLICT,
            _E.TIMEOUT,
        ),
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
