"""The change queue: proposing a change, deciding it, applying it exactly once, and
reconciling after a crash (:func:`letswork.hub.recovery.recover`).

A change (write, edit, delete, move) is prepared off the loop (:func:`change_steps`), then
:func:`propose` applies it at once (host, trusted editor) or queues it ``pending``; the host
approves (:func:`finish_approved`) or rejects it (:func:`decide`). A change whose file moved on
since its base is a ``conflict``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from letswork.hub import change_blobs, merging
from letswork.hub.applying import (
    after_apply,
    apply,
    before_apply,
    check_stored_content,
    stamp_written,
    worker_writing,
    write_change,
)
from letswork.hub.peers import Peer, holder_id, require_open
from letswork.hub.state import HubState, Steps, dump
from letswork.hub.store.blobs import new_blob_key
from letswork.hub.store.changes import ChangeRow
from letswork.hub.transitions import Transitions
from letswork.hub.workspace import diff as diffs
from letswork.hub.workspace.diff import _count_lines, create_diff_head, cut_diff, unified_diff
from letswork.hub.workspace.disk import TEMP_PREFIX, _disk_error, sha256_hex
from letswork.hub.workspace.paths import to_relpath
from letswork.hub.workspace.policy import change_sensitivity, git_dir_reason, git_metadata_reason
from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError, op_error
from letswork.shared.protocol.changes import ChangeInfo, ChangeResult, ChangeSummary

#: Longest diff sent back in the reply to a proposal (characters).
REPLY_DIFF_CHARS = limits.MAX_REPLY_DIFF_CHARS
#: A watcher event this soon after the hub's own write to the same path is the hub's own echo.
OWN_WRITE_WINDOW_SECONDS = 5.0
#: A change is re-prepared at most this many times when the hub wrote files while it was being
#: prepared off the loop (its base and diff could be stale); then it fails with ``conflict``.
PREPARE_TRIES = 3

log = logging.getLogger("letswork.hub")

#: The status of a change not stored yet.
NEW = "new"
#: What a change's status may become. ``approved`` is the committed decision before the
#: disk is touched (a host's or trusted editor's write is ``approved`` from the start): then
#: ``applied``, ``conflict`` (the file moved on), back to ``pending`` (the disk refused an
#: approval) or ``rejected`` (the disk refused a direct write). ``applied`` and ``rejected``
#: are final; a ``conflict`` is rejected, or resubmitted by its author against the current
#: file (``update_change``: back to ``pending``, same id, issue 17 part 2).
CHANGE_STATUS = Transitions(
    "change status",
    {
        NEW: frozenset({"pending", "approved"}),
        "pending": frozenset({"approved", "conflict", "rejected"}),
        "approved": frozenset({"applied", "conflict", "pending", "rejected"}),
        "conflict": frozenset({"pending", "rejected"}),
        "applied": frozenset(),
        "rejected": frozenset(),
    },
)


def set_status(
    ctx: HubState,
    row: ChangeRow,
    status: str,
    now: float,
    *,
    by: str | None,
    reason: str | None = None,
    diff: str | None = None,
    blob: tuple[str, int] | None = None,
) -> ChangeRow:
    """Move the stored change ``row`` to ``status`` (checked against :data:`CHANGE_STATUS`);
    returns the updated row. ``blob``: the new diff ``diff`` is in the blobs file as
    ``(key, bytes)``. A large change's data read off the loop stays in memory with it.

    Raises:
        IllegalTransition: ``row.status`` may not become ``status`` (a bug in the hub).
    """
    CHANGE_STATUS.check(row.status, status)
    new = ctx.store.set_change_status(
        row.id,
        status,
        now=now,
        by=by,
        reason=reason,
        diff=None if blob is not None else diff,
        blob=blob,
    )
    if new.blob_key is not None and new.blob_key == row.blob_key:
        new = dataclasses.replace(new, content=row.content, diff=row.diff)
    elif blob is not None and diff is not None:
        new = dataclasses.replace(new, diff=diff)
    return new


@dataclasses.dataclass(frozen=True)
class Draft:
    """A change as prepared off the loop: what it does, its base and its diff."""

    kind: str
    path: str
    new_path: str | None
    base: str | None
    new_text: str | None
    content: bytes | None
    new_sha: str | None
    diff: str
    #: a new file: its diff is derived from its content by the store
    create: bool
    #: why it alters the sharing policy or runs code on the host (Workspace.change_sensitivity)
    sensitive: str | None = None
    #: the request's ``diff_head``: how much of the diff the reply carries (None: as before)
    head: int | None = None
    #: with ``head``: the lines the change adds and removes (:func:`diff_counts`)
    counts: tuple[int, int] | None = None
    #: kept with a pending change for a merge at approval (:func:`merging.merge_data`)
    merge: merging.MergeData | None = None
    #: a large change: its content and diff are in the blobs file under this key (schema 8)
    blob_key: str | None = None
    #: the reply's head of ``diff`` and how many diff lines follow it, cut off the loop
    reply_cut: tuple[str, int] | None = None


def draft(
    kind: str,
    path: str,
    new_path: str | None,
    base: str | None,
    old_text: str | None,
    new_text: str | None,
    content: bytes | None = None,
    *,
    edit: merging.Edit | None = None,
) -> Draft:
    """Hash and diff a change (CPU work, for a worker thread). ``content``: ``new_text``
    already encoded (each pass over 64 MiB holds the GIL, and so the loop, ~20 ms); ``edit``:
    the change is this ``edit_file``, kept with its base text for a merge at approval."""
    if content is None and new_text is not None:
        content = new_text.encode("utf-8")
    create = kind == "write" and old_text is None and new_path is None and content is not None
    return Draft(
        kind=kind,
        path=path,
        new_path=new_path,
        base=base,
        new_text=new_text,
        content=content,
        new_sha=sha256_hex(content) if content is not None else None,
        diff="" if create else unified_diff(path, old_text, new_text, new_path=new_path),
        create=create,
        merge=merging.merge_data(kind, old_text, edit),
    )


def read_current(ctx: HubState, peer: Peer, path: str) -> tuple[str, str | None, str | None]:
    """(canonical relative path, current text or None if absent, sha256 or None).

    Every change op goes through here, so locks, diffs and the queue always see the one
    canonical spelling of a path (``./a.py`` and ``a.py/`` are ``a.py``).
    """
    if ctx.workspace.is_symlink(path):
        raise op_error(
            ErrorCode.INVALID, f"'{path}' is a symlink; letswork never writes through one"
        )
    abspath = ctx.workspace.resolve(path, is_host=peer.is_host)
    rel = to_relpath(ctx.root, abspath)
    # Git metadata by name or layout (lstat of a few names per folder, in the worker);
    # checked again right before the change reaches the disk (apply).
    ctx.workspace.check_changeable(path)
    try:
        st = os.stat(abspath)
    except (FileNotFoundError, NotADirectoryError):
        return rel, None, None
    except OSError as exc:  # EACCES, a folder the hub may not search: not "absent"
        raise _disk_error(exc, rel, "read") from None
    if not stat.S_ISREG(st.st_mode):
        raise op_error(ErrorCode.NOT_A_FILE, f"'{rel}' is not a regular file")
    # Whole, up to max_text_bytes: the hub's own work (an edit, a diff), not a reply.
    text, sha = ctx.workspace.read_text(rel, is_host=peer.is_host, whole=True)
    return rel, text, sha


def change_steps(
    ctx: HubState,
    peer: Peer,
    now: float,
    prepare: Callable[[], Draft],
    path: str,
    new_path: str | None = None,
    *,
    head: int | None = None,
) -> Steps[ChangeResult]:
    """Prepare a change off the loop (``prepare``: read, hash, edit, diff, and how
    sensitive ``path`` and ``new_path`` are, as named), then propose it on the loop.
    Prepared again when the hub wrote files meanwhile, so its base, diff and the apply of
    a trusted editor never rest on a stale read."""
    if not ctx.is_trusted(peer):
        # Before any file work: a guest at its cap costs the hub no read and no diff.
        check_pending_room(ctx, peer, 0)

    def prepared(key: str) -> Draft:
        draft = prepare()
        sensitive = ctx.workspace.change_sensitivity(path, new_path)
        counts = None
        if head is not None:  # counted here, off the loop: 2 MiB of diff is ~3.5 ms
            text = draft.new_text or ""
            counts = (_count_lines(text), 0) if draft.create else diff_counts(draft.diff)
        draft = dataclasses.replace(draft, sensitive=sensitive, head=head, counts=counts)
        # A large change's data is stored here, off the loop, before its row is committed.
        stored = change_blobs.store_draft(
            ctx, peer, key, draft.path, draft.new_text, draft.content, draft.diff, draft.create
        )
        if stored is not None:
            draft = dataclasses.replace(draft, blob_key=key, diff=stored)
        # Cut here: a 64 MiB file's diff (~128 MiB) took the loop ~40 ms to fit and cut,
        # and the half frame fitted first hid most of its lines from diff_lines; a new
        # file's head (built only as far as shown) counted all its text's lines there.
        budget = REPLY_DIFF_CHARS if head is None else head
        if not draft.create:
            return dataclasses.replace(draft, reply_cut=cut_diff(draft.diff, budget))
        if draft.new_text is not None:
            cut = create_diff_head(draft.path, draft.new_text, budget)
            return dataclasses.replace(draft, reply_cut=cut)
        return draft

    for _ in range(PREPARE_TRIES):
        writes = ctx.writes
        # The key is made here, so that a draft nobody takes (the peer went while it was
        # prepared: the job is closed, its result dropped) leaves no blob behind.
        key = new_blob_key()
        try:
            draft: Draft = yield functools.partial(prepared, key)
        except GeneratorExit:
            change_blobs.drop(ctx, key)
            raise
        if not ctx.written_since(writes, draft.path, draft.new_path):
            try:
                return (yield from propose(ctx, peer, now, draft))
            except BaseException:
                change_blobs.drop(ctx, draft.blob_key)  # kept if its row was stored
                raise
        change_blobs.drop(ctx, draft.blob_key)
    raise op_error(
        ErrorCode.CONFLICT, "the files kept changing while this change was prepared; retry"
    )


#: A guest's change costs one request of its rate per this many bytes stored (content and
#: diff): storing a 64 MiB edit took the event loop 0.6-1.5 s (bench/big_file.py --case edit),
#: and now costs ~1,000 requests, ~20 s of the guest's rate.
CHANGE_BYTES_PER_REQUEST = 64 * 1024


def propose(ctx: HubState, peer: Peer, now: float, draft: Draft) -> Steps[ChangeResult]:
    """Common tail of write/edit/delete/move: apply at once or queue a pending change.
    Runs on the loop, with no await before the apply: a kick cannot land in between; but a
    large change applied at once (``draft.blob_key``) is written by a worker, and a kick
    during that write leaves it ``approved`` and written, marked applied by the host's
    approve or the next start (:func:`letswork.hub.recovery.recover`)."""
    require_open(peer)
    kind, path, new_path, content = draft.kind, draft.path, draft.new_path, draft.content
    kept = draft.merge.size if draft.merge is not None else 0
    if not peer.is_host:
        # Stored (and a trusted editor's written) ~15 ms a MiB: paid from the guest's request
        # rate, into debt, so edits of a 64 MiB file cannot follow each other and keep every
        # peer stalled (a trusted editor has no pending-bytes cap). Charged before the checks
        # below: the worker's diff and blob write were done even if they refuse it.
        stored = (len(content) if content is not None else 0) + kept
        peer.bucket.charge(
            now, (stored + (0 if draft.create else len(draft.diff))) / CHANGE_BYTES_PER_REQUEST
        )
    holder = holder_id(peer)
    for p in (path, new_path):
        if p is not None:
            ctx.locks.check_writable(p, holder, now)
    # A change to a sensitive path alters what guests see or runs code on the host: a
    # guest's waits for the host, trusted editor or not (issue 13, item 2).
    sensitive = draft.sensitive or change_sensitivity(path, new_path)
    trusted = ctx.is_trusted(peer) and (peer.is_host or sensitive is None)
    if not trusted:
        check_pending_room(ctx, peer, (len(content) if content is not None else 0) + kept)
    create = draft.create
    row = ChangeRow(
        id=secrets.token_hex(8),  # 64 bits: no collision in any real queue
        author_id=holder_id(peer) if peer.is_host else peer.guest_id,
        author_name=peer.name,
        kind=kind,
        path=path,
        new_path=new_path,
        base_sha256=draft.base,
        new_sha256=draft.new_sha,
        content=content,
        diff=draft.diff,
        size=len(content) if content is not None else 0,
        status="pending",
        reason=None,
        created_at=now,
        decided_at=None,
        decided_by=None,
        blob_key=draft.blob_key,
    )
    remember_mark(ctx, row, sensitive)
    CHANGE_STATUS.check(NEW, "approved" if trusted else "pending")
    if trusted:
        # Record first ('approved'), then write, then mark 'applied': a crash in between is
        # reconciled on restart by file hashes, like an approval, so no write is unrecorded.
        row = dataclasses.replace(row, status="approved", decided_at=now, decided_by=peer.name)
        with ctx.store.transaction():  # one commit (one fsync) before touching the disk
            ctx.store.add_change(
                row, derive_diff=create and not row.blob_key, blob_key=row.blob_key
            )
            ctx.audit(peer, f"{kind}_applied", now, path=path, change=row.id, new_path=new_path)
        try:
            if row.blob_key is not None:  # 64 MiB and an fsync held the loop ~0.5 s
                ignore_files = before_apply(ctx, row)
                with worker_writing(ctx, row):  # no approve or reject of it meanwhile
                    yield functools.partial(write_change, ctx, row)
                stamp_written(ctx, row)
                after_apply(ctx, row, ignore_files)
            else:
                apply(ctx, row)
        except OpError as exc:
            set_status(ctx, row, "rejected", now, by=peer.name, reason=exc.message)
            raise
        row = set_status(ctx, row, "applied", now, by=peer.name)
        announce_file(ctx, row, by=peer.name)
        reply = ChangeResult.model_validate({"status": "applied", **_reply(ctx, row, draft)})
        ctx.marks.pop(row.id, None)
        return reply
    with ctx.store.transaction():  # committed before the reply: nothing acknowledged is lost
        ctx.store.add_change(row, derive_diff=create and not row.blob_key, blob_key=row.blob_key)
        if draft.merge is not None:  # issue 17 part 2: the base, for a merge at approval
            ctx.store.put_merge_data(row.id, draft.merge)
        ctx.audit(peer, f"{kind}_proposed", now, path=path, change=row.id, new_path=new_path)
    # The submitter learns all of this from the reply; events are for everyone else.
    lock_for_change(ctx, row, now, author=peer)
    info = change_info(ctx, row, with_diff=False)
    ctx.broadcast("change_submitted", {"change": dump(info)}, path=path, exclude=peer)
    return ChangeResult.model_validate({"status": "pending", **_reply(ctx, row, draft)})


def _reply(ctx: HubState, row: ChangeRow, draft: Draft) -> dict[str, Any]:
    """:func:`reply_change` for a proposal: from the head its worker cut
    (``draft.reply_cut``), else from the row (a draft made elsewhere, or a new file with no
    text)."""
    if draft.reply_cut is not None:
        shown, more = draft.reply_cut
        row = dataclasses.replace(row, diff=shown)
        return reply_change(ctx, row, head=draft.head, counts=draft.counts, more=more)
    created = draft.new_text if draft.create else None
    return reply_change(ctx, row, created=created, head=draft.head, counts=draft.counts)


def check_pending_room(ctx: HubState, peer: Peer, size: int) -> None:
    """Refuse (``quota_exceeded``) a proposal of ``size`` bytes of content that would take
    the guest's, or all guests', pending changes over their caps. The bytes caps count
    what is stored (content and diff); ``size`` counts only this change's content, so a
    guest may end over its cap by at most one change's diff."""
    count, _ = ctx.store.pending_totals(peer.guest_id)
    # Bytes as stored (content and diff), not just the content: an edit's diff holds the
    # old text too.
    pending = ctx.store.usage("pending", peer.guest_id)[1]
    if count >= ctx.limits.max_pending_per_guest:
        raise op_error(
            ErrorCode.QUOTA_EXCEEDED,
            f"you have {count} pending changes, the limit; wait for the host to decide some",
        )
    if pending + size > ctx.limits.max_pending_bytes_per_guest:
        raise op_error(
            ErrorCode.QUOTA_EXCEEDED,
            "your pending changes would exceed the byte limit; wait for the host to decide some",
        )
    total, total_bytes = ctx.store.pending_grand_totals()
    if (
        total >= ctx.limits.max_pending_total
        or total_bytes + size > ctx.limits.max_pending_bytes_total
    ):
        raise op_error(
            ErrorCode.QUOTA_EXCEEDED,
            f"the host has {total} changes from all guests waiting, the session's limit; "
            "wait for the host to decide some",
        )


def reply_change(
    ctx: HubState,
    row: ChangeRow,
    *,
    created: str | None = None,
    head: int | None = None,
    counts: tuple[int, int] | None = None,
    more: int = 0,
) -> dict[str, Any]:
    """The proposer's reply to ``row`` (a ChangeResult's fields but ``status``): the change
    with only the head of its diff, since the full diff of a 1 MiB file would double the reply
    and ``get_change`` has it whole. ``created``: the text of a new file, whose diff (not in
    ``row``) is built only as far as shown.

    ``head`` (the request's ``diff_head``) given: the diff's whole lines within ``head``
    characters (or the start of a first line longer than that), and a ``summary`` that counts
    the whole diff, with ``counts`` (lines added and removed, counted off the loop). Absent:
    the diff cut to REPLY_DIFF_CHARS with a last line saying what follows, and no ``summary``
    (an older channel refuses a field it does not know). ``more``: ``row.diff`` is already
    a head cut off the loop (:func:`letswork.hub.workspace.diff.cut_diff`), and this many
    lines of the diff follow it."""
    info = change_info(ctx, row, with_diff=True)
    budget = REPLY_DIFF_CHARS if head is None else head
    if created is not None:
        shown, rest = create_diff_head(row.path, created, budget)
    else:
        shown, rest = cut_diff(info.diff or "", budget)
    rest += more
    if head is None:
        if rest:
            shown += f"... ({rest} more diff lines; get_change {row.id} shows all)\n"
        return {"change": info.model_copy(update={"diff": shown})}
    added, removed = counts if counts is not None else (0, 0)
    summary = ChangeSummary(
        lines_added=added,
        lines_removed=removed,
        diff_lines=shown.count("\n") + rest,
        diff_cut=rest > 0,
    )
    return {"change": info.model_copy(update={"diff": shown}), "summary": summary}


def diff_counts(diff: str) -> tuple[int, int]:
    """Lines added and removed by a unified diff of one file, its two header lines (``---``,
    ``+++``) not counted. Every line of a diff ends with a line end, so its lines that start
    with ``+`` or ``-`` are those after a ``\\n``, and its first."""
    added = diff.count("\n+") + diff.startswith("+")
    removed = diff.count("\n-") + diff.startswith("-")
    if diff.startswith("--- "):
        added, removed = added - 1, removed - 1
    return added, removed


def lock_for_change(
    ctx: HubState, row: ChangeRow, now: float, *, author: Peer | None = None
) -> None:
    for p in (row.path, row.new_path):
        if p is None:
            continue
        try:
            lock = ctx.locks.acquire(p, row.author_id, row.author_name, now, change_id=row.id)
        except OpError:
            continue  # another change already holds it; approval order decides
        ctx.broadcast("lock_taken", {"lock": dump(ctx.lock_info(lock))}, path=p, exclude=author)


def note_disk_change(ctx: HubState, abspath: str, change: str, now: float) -> None:
    """A file changed on disk (watcher): announce it unless the hub itself just wrote it."""
    try:
        rel = to_relpath(ctx.root, Path(abspath))
    except (OpError, ValueError):
        return
    name = rel.rsplit("/", 1)[-1]
    if git_metadata_reason(rel) is not None or name.startswith(TEMP_PREFIX):
        return
    if git_dir_reason(ctx.root, rel) is not None:
        return  # inside a bare repository or a worktree's git dir: its refs name branches
    if ctx.workspace.rules.ignore_file_key(rel) is not None:
        ctx.workspace.rules.reload()
    written = ctx.own_writes.pop(rel, None)
    if written is not None and now - written < OWN_WRITE_WINDOW_SECONDS:
        return
    # Written by someone else (the host's editor, a tool): a change read or hashed off
    # the loop meanwhile reads it again (HubState.written_since) instead of writing over it.
    ctx.writes += 1
    ctx.note_written(rel)
    ctx.broadcast("file_changed", {"path": rel, "change": change, "by": None}, path=rel)


def announce_file(ctx: HubState, row: ChangeRow, *, by: str) -> None:
    if row.kind == "move":
        assert row.new_path is not None
        ctx.broadcast(
            "file_changed", {"path": row.path, "change": "deleted", "by": by}, path=row.path
        )
        ctx.broadcast(
            "file_changed",
            {"path": row.new_path, "change": "created", "by": by},
            path=row.new_path,
        )
        return
    change = (
        "deleted"
        if row.kind == "delete"
        else ("created" if row.base_sha256 is None else "modified")
    )
    ctx.broadcast("file_changed", {"path": row.path, "change": change, "by": by}, path=row.path)


def change_info(ctx: HubState, row: ChangeRow, *, with_diff: bool) -> ChangeInfo:
    """``row`` as peers see it: ``approved`` shows as ``pending`` (the write is under way),
    ``diff`` only ``with_diff`` (and not pruned); ``data_pruned`` and ``sensitive`` are set
    only when true."""
    sensitive = ctx.marks.get(row.id) or change_sensitivity(row.path, row.new_path)
    # At most half a frame: a change to a large file can have a diff no reply carries.
    diff = diffs.fit_diff(row.diff, ctx.limits.max_frame_bytes // 2) if with_diff else None
    info = {
        "id": row.id,
        "author": row.author_name,
        "kind": row.kind,
        "path": row.path,
        "new_path": row.new_path,
        "base_sha256": row.base_sha256,
        "new_sha256": row.new_sha256,
        "status": "pending" if row.status == "approved" else row.status,
        "reason": row.reason,
        "diff": diff if not row.data_pruned else None,
        "created_at": row.created_at,
        "decided_at": row.decided_at,
        "decided_by": row.decided_by,
        "size": row.size,
        # Optional on the wire: present only for a decided change whose diff was pruned.
        **({"data_pruned": True} if row.data_pruned else {}),
        # Optional on the wire: present only for a change to a sensitive path.
        **({"sensitive": sensitive} if sensitive else {}),
    }
    return ChangeInfo.model_validate(info)


def existing(ctx: HubState, peer: Peer, path: str) -> tuple[str, str, str | None]:
    rel, text, sha = read_current(ctx, peer, path)
    if text is None:
        raise op_error(ErrorCode.NOT_FOUND, f"'{rel}' does not exist")
    return rel, text, sha


def visible_change(
    ctx: HubState, peer: Peer, change_id: str, *, include_content: bool = True
) -> ChangeRow:
    """The change ``change_id`` if ``peer`` may see it (a guest: its own). Without its content
    unless ``include_content``: a guest's ``get_change`` of its 64 MiB edit, in a loop, kept
    the event loop reading the content it never shows (~130 ms a call)."""
    row = ctx.store.get_change(change_id, include_content=include_content)
    if row is None or (not peer.is_host and row.author_id != peer.guest_id):
        raise op_error(ErrorCode.NOT_FOUND, f"no change with id {change_id!r}")
    return row


def current_sha_for(ctx: HubState, row: ChangeRow) -> str | None:
    return ctx.workspace.file_sha256(row.path)


def decide(
    ctx: HubState,
    row: ChangeRow,
    status: str,
    now: float,
    *,
    by: str,
    reason: str | None = None,
    diff: str | None = None,
    blob: tuple[str, int] | None = None,
) -> ChangeRow:
    row = set_status(ctx, row, status, now, by=by, reason=reason, diff=diff, blob=blob)
    while (lock := ctx.locks.release_change(row.id)) is not None:
        ctx.broadcast_lock_released(lock, "decided")
    info = change_info(ctx, row, with_diff=status == "conflict")
    # A conflict's diff holds the proposed text: the author and the host see it, other
    # guests see that the change was decided, never what it said.
    bare = {"change": dump(info.model_copy(update={"diff": None}))}
    ctx.broadcast(
        "change_decided", {"change": dump(info)}, path=row.path, redacted=(row.author_id, bare)
    )
    ctx.marks.pop(row.id, None)
    return row


def remember_mark(ctx: HubState, row: ChangeRow, sensitive: str | None) -> None:
    """Keep ``sensitive`` for the views of ``row`` while it is pending, when the names of
    its paths do not give it (a symlinked sensitive path)."""
    if sensitive is not None and sensitive != change_sensitivity(row.path, row.new_path):
        ctx.marks[row.id] = sensitive


def sensitivity_on_disk(ctx: HubState, row: ChangeRow) -> str | None:
    """:meth:`Workspace.change_sensitivity` of a stored change (file work: at start)."""
    try:
        return ctx.workspace.change_sensitivity(row.path, row.new_path)
    except OpError:
        return None


def finish_approved(
    ctx: HubState,
    row: ChangeRow,
    now: float,
    *,
    by: str,
    current: str | None = None,
    hashed: bool = False,
) -> ChangeRow:
    """Second half of approve (also crash reconciliation): apply exactly once.

    ``current`` (with ``hashed``): the file's sha256 (None: absent) as just read off the
    loop by approve; otherwise it is read here (crash reconciliation, before the hub
    serves anyone)."""
    if not hashed:
        current = current_sha_for(ctx, row)
    done = False
    if row.kind in ("write", "edit"):
        done = current == row.new_sha256
    elif row.kind == "delete":
        done = current is None
    elif row.kind == "move":
        assert row.new_path is not None
        done = current is None and ctx.workspace.file_sha256(row.new_path) == row.base_sha256
    if not done:
        if current != row.base_sha256:
            return conflict(ctx, row, now, by=by)
        if not hashed:  # at start: the store may have changed while the hub was down
            check_stored_content(row)
        apply(ctx, row)
    row = decide(ctx, row, "applied", now, by=by)
    announce_file(ctx, row, by=row.author_name)
    return row


def conflict(
    ctx: HubState,
    row: ChangeRow,
    now: float,
    *,
    by: str,
    diff: str | None = None,
    reason: str | None = None,
    blob: tuple[str, int] | None = None,
) -> ChangeRow:
    """Decide ``row`` as a conflict, its diff now ``diff`` (the file as it is to the change's
    result; read here when None). ``blob``: the diff is in the blobs file as ``(key,
    bytes)``, and ``diff`` is only what replies show of it."""
    fresh = diff if diff is not None else diff_to_current(ctx, row)
    return decide(ctx, row, "conflict", now, by=by, diff=fresh, reason=reason, blob=blob)


def diff_to_current(ctx: HubState, row: ChangeRow) -> str:
    """The diff from the file as it is now to the change's result (file work). It goes to the
    change's author: a file guests may not read now (unshared since, or now a symlink to
    ``.env``) is diffed as absent, so none of its text is in it."""
    current_text: str | None
    try:
        current_text, _ = ctx.workspace.read_text(row.path, is_host=True, whole=True)
        ctx.workspace.resolve(row.path, is_host=False)
    except OpError:
        current_text = None
    new_text = row.content.decode("utf-8") if row.content is not None else None
    return unified_diff(row.path, current_text, new_text, new_path=row.new_path)


def check_base(path: str, base: str | None, current: str | None) -> None:
    if base is not None and base != current:
        raise op_error(
            ErrorCode.CONFLICT,
            f"'{path}' changed since you read it (sha256 is now {current or 'absent'}); "
            "read it again and redo your change",
            current_sha256=current,
        )
