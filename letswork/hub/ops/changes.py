"""The changes group (with its approvals): proposing writes, edits, deletes and moves, the
queue, and the host's decisions. The queue itself is :mod:`letswork.hub.changes`.
"""

from __future__ import annotations

import dataclasses
import functools

from letswork.hub import change_blobs, merges, proposals
from letswork.hub.applying import after_apply, before_apply, stamp_written, worker_writing
from letswork.hub.changes import (
    CHANGE_BYTES_PER_REQUEST,
    PREPARE_TRIES,
    REPLY_DIFF_CHARS,
    Draft,
    change_info,
    change_steps,
    check_base,
    check_pending_room,
    conflict,
    current_sha_for,
    decide,
    diff_counts,
    diff_to_current,
    draft,
    existing,
    finish_approved,
    lock_for_change,
    read_current,
    remember_mark,
    reply_change,
    set_status,
    visible_change,
)
from letswork.hub.merging import Edit, conflict_text
from letswork.hub.peers import Peer, holder_id, require_open
from letswork.hub.state import Handler, HubState, Steps, dump
from letswork.hub.store.blobs import new_blob_key
from letswork.hub.store.changes import ChangeRow
from letswork.hub.store.merges import MergeData
from letswork.hub.workspace import diff as diffs
from letswork.hub.workspace.diff import apply_edit, cut_diff, unified_diff
from letswork.hub.workspace.files import check_new_text, check_text
from letswork.shared.errors import ErrorCode, OpError, StoreError, op_error
from letswork.shared.protocol.changes import (
    ApproveChangeArgs,
    ChangeDetail,
    ChangeInfo,
    ChangeList,
    ChangeResult,
    DeleteFileArgs,
    EditFileArgs,
    GetChangeArgs,
    MergeInfo,
    MoveFileArgs,
    MyChangesArgs,
    PendingChangesArgs,
    RejectChangeArgs,
    UpdateChangeArgs,
    WriteFileArgs,
)


def write_file(ctx: HubState, peer: Peer, args: WriteFileArgs, now: float) -> Steps[ChangeResult]:
    def prepare() -> Draft:
        content = args.content.encode("utf-8")
        check_text(content, max_bytes=ctx.limits.max_file_bytes)
        path, old_text, sha = read_current(ctx, peer, args.path)
        check_base(path, args.base_sha256, sha)
        return draft("write", path, None, sha, old_text, args.content)

    return (yield from change_steps(ctx, peer, now, prepare, args.path, head=args.diff_head))


def edit_file(ctx: HubState, peer: Peer, args: EditFileArgs, now: float) -> Steps[ChangeResult]:
    def prepare() -> Draft:
        path, old_text, sha = existing(ctx, peer, args.path)
        check_base(path, args.base_sha256, sha)
        new_text = apply_edit(
            old_text,
            args.old_string,
            args.new_string,
            replace_all=args.replace_all,
            max_bytes=ctx.workspace.max_text_bytes,
        )
        # An edit's result never crosses the wire whole: files up to max_text_bytes.
        content = check_new_text(new_text, max_bytes=ctx.workspace.max_text_bytes)
        edit = Edit(args.old_string, args.new_string, args.replace_all)
        return draft("edit", path, None, sha, old_text, new_text, content, edit=edit)

    return (yield from change_steps(ctx, peer, now, prepare, args.path, head=args.diff_head))


def delete_file(ctx: HubState, peer: Peer, args: DeleteFileArgs, now: float) -> Steps[ChangeResult]:
    def prepare() -> Draft:
        path, old_text, sha = existing(ctx, peer, args.path)
        check_base(path, args.base_sha256, sha)
        return draft("delete", path, None, sha, old_text, None)

    return (yield from change_steps(ctx, peer, now, prepare, args.path, head=args.diff_head))


def move_file(ctx: HubState, peer: Peer, args: MoveFileArgs, now: float) -> Steps[ChangeResult]:
    def prepare() -> Draft:
        path, _, sha = existing(ctx, peer, args.path)
        check_base(path, args.base_sha256, sha)
        new_path, target_text, _ = read_current(ctx, peer, args.new_path)
        target = ctx.root / new_path
        if target_text is not None or target.exists() or target.is_symlink():
            raise op_error(ErrorCode.EXISTS, f"'{new_path}' already exists")
        return draft("move", path, new_path, sha, None, None)

    return (
        yield from change_steps(
            ctx, peer, now, prepare, args.path, args.new_path, head=args.diff_head
        )
    )


def pending_changes(ctx: HubState, peer: Peer, args: PendingChangesArgs, now: float) -> ChangeList:
    """The queue, oldest first. Diffs are included until half a frame is used; later
    changes come without one (``diff: null``) and ``get_change`` fetches it."""
    # Without diffs (the dashboard's reload after each event) nothing is diffed: a queue
    # of 1 MiB new files rebuilt every diff, 6 ms each, on the loop.
    rows = ctx.store.list_changes(
        status="pending", include_content=False, include_diff=args.include_diff
    )
    budget = ctx.limits.max_frame_bytes // 2 if args.include_diff else 0
    changes = []
    for row in rows:
        # A large change's diff is in the blobs file, never read on the loop: get_change.
        cost = len(row.diff) + 512 if row.blob_key is None else budget + 1
        changes.append(_info(ctx, row, with_diff=cost <= budget, pin=args.include_proposal))
        if cost <= budget:
            budget -= cost
    return ChangeList.model_validate({"changes": changes})


def my_changes(ctx: HubState, peer: Peer, args: MyChangesArgs, now: float) -> ChangeList:
    author = holder_id(peer) if peer.is_host else peer.guest_id
    rows = ctx.store.list_changes(
        status=args.status, author_id=author, include_content=False, include_diff=False
    )
    return ChangeList.model_validate(
        {"changes": [change_info(ctx, r, with_diff=False) for r in rows]}
    )


#: A guest's ``get_change`` costs one request of its rate per this many bytes of diff read:
#: SQLite reads a stored diff whole, on the event loop (~2 ms a MiB; the reply carries at most
#: half a frame of it), and an edit that rewrites a 64 MiB file stores a diff of 128 MiB.
DIFF_BYTES_PER_REQUEST = 256 * 1024


def get_change(
    ctx: HubState, peer: Peer, args: GetChangeArgs, now: float
) -> ChangeDetail | Steps[ChangeDetail]:
    row = visible_change(ctx, peer, args.id, include_content=False)
    if row.blob_key is not None:
        return _get_large_change(ctx, peer, args, row, now)
    if not peer.is_host:  # paid after the read, into debt: the next requests wait for it
        peer.bucket.charge(now, len(row.diff) / DIFF_BYTES_PER_REQUEST)
    info = _info(ctx, row, with_diff=True, pin=args.include_proposal)
    detail = ChangeDetail.model_validate({"change": info})
    if not args.merge or row.status not in ("pending", "conflict"):
        return detail
    return _with_merge_view(ctx, peer, args, now, detail)


def _with_merge_view(
    ctx: HubState, peer: Peer, args: GetChangeArgs, now: float, detail: ChangeDetail
) -> Steps[ChangeDetail]:
    """``get_change`` with ``merge``: the merge view, made off the loop (issue 17 part 2)."""
    row = visible_change(ctx, peer, args.id)
    if row.blob_key is not None:  # a large change's proposal, read by a worker (schema 8)
        loaded = yield functools.partial(change_blobs.load, ctx, row, content=True)
        row = change_blobs.with_loaded(row, loaded)
    data = ctx.store.get_merge_data(row.id)
    if not peer.is_host:  # the content and the base are read too
        peer.bucket.charge(now, (row.size + data.size) / DIFF_BYTES_PER_REQUEST)
    stop = ctx.deadline(peer)
    view = yield functools.partial(merges.merge_view, ctx, row, data, stop, is_host=peer.is_host)
    return detail.model_copy(update={"merge": view})


def _get_large_change(
    ctx: HubState, peer: Peer, args: GetChangeArgs, row: ChangeRow, now: float
) -> Steps[ChangeDetail]:
    """``get_change`` of a change whose diff is in the blobs file: read and fitted to half a
    frame by a worker (schema 8); with ``merge``, its merge view as for any change."""
    try:
        loaded: change_blobs.Loaded = yield functools.partial(
            change_blobs.load, ctx, row, content=False
        )
    except StoreError as exc:
        if exc.code != ErrorCode.NOT_FOUND:
            raise
        fresh = visible_change(ctx, peer, row.id, include_content=False)
        if fresh.blob_key is not None and fresh.blob_key != row.blob_key:
            why = f"change {row.id} changed meanwhile; ask again"
            raise op_error(ErrorCode.CONFLICT, why) from None
        if fresh.blob_key is not None:  # lost (the blobs file commits apart): as if pruned
            fresh = dataclasses.replace(fresh, data_pruned=True)
        info = _info(ctx, fresh, with_diff=True, pin=args.include_proposal)
        return ChangeDetail.model_validate({"change": info})
    if not peer.is_host:  # the same price as a diff read from the row
        peer.bucket.charge(now, loaded.diff_bytes / DIFF_BYTES_PER_REQUEST)
    row = change_blobs.with_loaded(row, loaded)
    info = _info(ctx, row, with_diff=True, pin=args.include_proposal)
    detail = ChangeDetail.model_validate({"change": info})
    if not args.merge or row.status not in ("pending", "conflict"):
        return detail
    return (yield from _with_merge_view(ctx, peer, args, now, detail))


def approve_change(
    ctx: HubState, peer: Peer, args: ApproveChangeArgs, now: float
) -> Steps[ChangeDetail]:
    """Apply a pending change. The file moved on since its base: with ``args.merge``, a
    clean merge is shown (nothing written) until the call names the shown merge's
    ``current_sha256`` and ``merged_sha256``, then that exact text is written; an overlap is
    a ``conflict`` with its hunks (issue 17 part 2). Without ``merge``: a ``conflict``.
    With ``args.proposal_sha256``, a pending change that is another proposal now (resubmitted
    since it was shown) is refused with ``conflict``, before anything is decided or written;
    the result then carries ``change.proposal_sha256``."""
    pin = args.proposal_sha256 is not None
    row = visible_change(ctx, peer, args.id)
    check_not_applying(ctx, row.id)
    for _ in range(PREPARE_TRIES):
        if row.status == "pending":  # each read of it: the proposal shown, or nothing
            proposals.check_shown(row, args.proposal_sha256)
        if row.status == "rejected":
            raise op_error(
                ErrorCode.ALREADY_DECIDED,
                f"change {row.id} was already rejected",
                status=row.status,
            )
        if row.status in ("applied", "conflict"):
            if row.blob_key is not None:  # its diff is in the blobs file, not in the row
                diff_only = GetChangeArgs(id=row.id, include_proposal=pin)  # no merge view
                return (yield from _get_large_change(ctx, peer, diff_only, row, now))
            info = _info(ctx, row, with_diff=True, pin=pin)
            return ChangeDetail.model_validate({"change": info})
        writes, pending = ctx.writes, row
        # The file's hash (and a conflict's diff) off the loop; then the change is read
        # again, since another approve or reject may have decided it meanwhile.
        loaded = None
        if pending.blob_key is not None:  # a large change's data, read by a worker
            try:
                loaded = yield functools.partial(change_blobs.load, ctx, pending, content=True)
            except StoreError as exc:
                if exc.code != ErrorCode.NOT_FOUND:
                    raise
                # Updated (or decided and pruned) meanwhile: its blob went with its old data.
                row = visible_change(ctx, peer, args.id)
                check_not_applying(ctx, row.id)
                if row.blob_key == pending.blob_key:  # lost, not replaced
                    raise
                continue
            pending = change_blobs.with_loaded(pending, loaded)
        current = yield functools.partial(current_sha_for, ctx, pending)
        conflict_diff, conflict_blob, plan, merged = None, None, None, None
        if row.status == "pending" and current != row.base_sha256 and args.merge:
            data = ctx.store.get_merge_data(row.id)
            stop = ctx.deadline(peer)
            plan = yield functools.partial(
                merges.plan_merge, ctx, pending, data, stop, for_author=True
            )
            if plan.outcome == "conflict":
                conflict_diff = merging_text(pending, plan)
            elif _merge_named(args, plan, current):  # written now: a large one's data first
                key = new_blob_key()  # made here: dropped if the data never comes back
                try:
                    merged = yield functools.partial(_store_merged, ctx, peer, plan, key)
                except GeneratorExit:
                    change_blobs.drop(ctx, key)
                    raise
        moved = row.status == "pending" and current != row.base_sha256
        if moved and conflict_diff is None and (plan is None or not plan.clean):
            key = new_blob_key()  # made here: dropped if the diff never comes back
            try:
                conflict_diff, conflict_blob = yield functools.partial(
                    _conflict_of, ctx, peer, pending, key
                )
            except GeneratorExit:
                change_blobs.drop(ctx, key)
                raise
        try:
            row = visible_change(ctx, peer, args.id)
            check_not_applying(ctx, row.id)
        except BaseException:  # a conflict's diff (or a merge) written meanwhile is not kept
            change_blobs.drop(ctx, conflict_blob[0] if conflict_blob else None)
            change_blobs.drop(ctx, merged.blob[0] if merged and merged.blob else None)
            raise
        if loaded is not None and row.blob_key == pending.blob_key:
            row = change_blobs.with_loaded(row, loaded)
        # The same proposal as the one hashed and merged (a small change resubmitted
        # meanwhile keeps its blob_key, None): checked at the top of the loop again.
        if not ctx.written_since(writes, row.path, row.new_path) and (
            row.status == pending.status
            and row.blob_key == pending.blob_key
            and proposals.digest(row) == proposals.digest(pending)
        ):
            break
        change_blobs.drop(ctx, conflict_blob[0] if conflict_blob else None)
        change_blobs.drop(ctx, merged.blob[0] if merged and merged.blob else None)
    else:
        raise op_error(
            ErrorCode.CONFLICT, "the files kept changing while this change was checked; retry"
        )
    merged_why = None
    if row.status == "pending":
        if conflict_diff is not None:
            why = merges.conflict_reason(plan) if plan is not None and plan.hunks else None
            row = conflict(
                ctx, row, now, by=peer.name, diff=conflict_diff, reason=why, blob=conflict_blob
            )
            said = {"reason": why} if why else {}
            ctx.audit(peer, "change_conflict", now, path=row.path, change=row.id, **said)
            detail = {"change": _info(ctx, row, with_diff=True, pin=pin)}
            if plan is not None:
                detail["merge"] = plan.info(ctx)
            return ChangeDetail.model_validate(detail)
        if plan is not None and plan.clean:
            if merged is None:
                # Shown, not written: the host approves this exact result in a second call.
                # (The merge read the file again: a local process that wrote in between
                # made it a merge of another file, to be shown, not rebased onto.)
                info = _info(ctx, row, with_diff=False, pin=pin)
                return ChangeDetail.model_validate({"change": info, "merge": plan.info(ctx)})
            try:
                row = rebase_onto(ctx, row, plan, merged)
            except BaseException:
                change_blobs.drop(ctx, merged.blob[0] if merged.blob else None)
                raise
            merged_why = merges.merged_reason(plan)
        elif args.merged_sha256 is not None and args.merged_sha256 != row.new_sha256:
            # The call names a merge shown earlier, but the file is back at the change's base
            # (the host undid its edit): what would be written is not what it names.
            info = _info(ctx, row, with_diff=False, pin=pin)
            view = MergeInfo(outcome="unchanged", current_sha256=current)
            return ChangeDetail.model_validate({"change": info, "merge": view})
        # Commit the decision before touching the disk, so a crash in between is
        # reconciled on restart instead of applying twice or losing the approval.
        row = set_status(ctx, row, "approved", now, by=peer.name, reason=merged_why)
    try:
        if row.kind in ("write", "edit") and current == row.base_sha256 != row.new_sha256:
            # The file is written by a worker (64 MiB and an fsync held the loop ~0.5 s);
            # meanwhile no other approve or reject of this change goes ahead (ctx.applying),
            # and its lock keeps other writers off the path. A kick in between leaves it
            # approved and written: the next approve (or the next start) marks it applied.
            ignore_files = before_apply(ctx, row)
            with worker_writing(ctx, row):
                yield functools.partial(proposals.write_checked, ctx, row)
            stamp_written(ctx, row)
            after_apply(ctx, row, ignore_files)
            current = row.new_sha256
        row = finish_approved(ctx, row, now, by=peer.name, current=current, hashed=True)
    except OpError:
        # The disk refused (full, read-only): the change goes back to pending, unchanged.
        set_status(ctx, row, "pending", now, by=None)
        raise
    said = {"reason": merged_why} if merged_why else {}
    ctx.audit(peer, "change_" + row.status, now, path=row.path, change=row.id, **said)
    info = _info(ctx, row, with_diff=True, pin=pin)
    return ChangeDetail.model_validate({"change": info})


def _info(ctx: HubState, row: ChangeRow, *, with_diff: bool, pin: bool) -> ChangeInfo:
    """:func:`change_info`, with its ``proposal_sha256`` when ``pin``: the request asked
    for it (``include_proposal``) or named it (``approve_change``), so knows the field."""
    info = change_info(ctx, row, with_diff=with_diff)
    return proposals.with_digest(info, row) if pin else info


def merging_text(row: ChangeRow, plan: merges.Plan) -> str:
    """A conflict's stored diff: its hunks, marked as ``git merge-file --diff3`` does."""
    return conflict_text(row.path, plan.hunks)


@dataclasses.dataclass(frozen=True)
class Merged:
    """A clean merge's result as a worker prepared it for :func:`rebase_onto`: ``content``
    (the merged text's UTF-8), ``shown`` (its diff as replies carry it) and ``blob`` (``(key,
    bytes)``: a large one's content and diff are in the blobs file; None: the row holds them,
    ``diff``)."""

    content: bytes
    diff: str
    shown: str
    blob: tuple[str, int] | None


def _merge_named(args: ApproveChangeArgs, plan: merges.Plan, current: str | None) -> bool:
    """Whether the approval names the clean merge ``plan`` of the file as read (``current``):
    then it is written; otherwise it is only shown."""
    shown = (args.current_sha256, args.merged_sha256)
    return plan.clean and shown == (current, plan.merged_sha256) and plan.current_sha256 == current


def _store_merged(ctx: HubState, peer: Peer, plan: merges.Plan, key: str) -> Merged:
    """Worker: encode the clean merge ``plan``'s text, and store a large one's data in the
    blobs file under ``key`` (``change_blobs.store_rebased``): a 4 MiB merge's row held the
    loop ~0.5 s."""
    assert plan.text is not None and plan.diff is not None
    content = plan.text.encode("utf-8")
    blob = change_blobs.store_rebased(ctx, peer, key, content, plan.diff)
    shown = diffs.fit_diff(plan.diff, ctx.limits.max_frame_bytes // 2) if blob else plan.diff
    return Merged(content, plan.diff, shown, blob)


def rebase_onto(ctx: HubState, row: ChangeRow, plan: merges.Plan, merged: Merged) -> ChangeRow:
    """``row`` made the clean merge ``plan`` of the file as read: its result the merged
    text (``merged``, prepared by :func:`_store_merged`), its base the current file (so
    applying, and crash reconciliation, check that). Returns the row with its content."""
    ctx.store.rebase_change(
        row.id,
        kind=row.kind,
        base_sha256=plan.current_sha256,
        new_sha256=plan.merged_sha256,
        content=merged.content,
        diff=merged.diff,
        merge=MergeData(None, None),
        blob=merged.blob,
    )
    fresh = ctx.store.get_change(row.id)
    assert fresh is not None
    if fresh.blob_key is not None:  # its data is in the blobs file: kept in memory here
        fresh = dataclasses.replace(fresh, content=merged.content, diff=merged.shown)
    return fresh


def check_not_applying(ctx: HubState, change_id: str) -> None:
    """Refuse (``conflict``, retry) a decision on a change whose file is being written."""
    if change_id in ctx.applying:
        raise op_error(
            ErrorCode.CONFLICT,
            f"change {change_id} is being applied now; ask again in a moment",
            change_id=change_id,
        )


def _conflict_of(
    ctx: HubState, peer: Peer, row: ChangeRow, key: str
) -> tuple[str, tuple[str, int] | None]:
    """Worker: the diff of ``row``'s conflict (the file as it is now to the change's result),
    and ``None``; a large one is written to the blobs file under ``key``, and its head (half
    a frame) is returned with ``(key, bytes)``."""
    diff = diff_to_current(ctx, row)
    if not change_blobs.is_large(None, diff):
        return diff, None
    blob = change_blobs.store_diff(ctx, peer, key, diff)
    return diffs.fit_diff(diff, ctx.limits.max_frame_bytes // 2), blob


def reject_change(ctx: HubState, peer: Peer, args: RejectChangeArgs, now: float) -> ChangeDetail:
    row = visible_change(ctx, peer, args.id, include_content=False)
    check_not_applying(ctx, row.id)
    if row.status == "applied":
        raise op_error(
            ErrorCode.ALREADY_DECIDED, f"change {row.id} was already applied", status=row.status
        )
    if row.status == "rejected":
        return ChangeDetail.model_validate({"change": change_info(ctx, row, with_diff=False)})
    row = decide(ctx, row, "rejected", now, by=peer.name, reason=args.reason)
    ctx.audit(peer, "change_rejected", now, path=row.path, change=row.id, reason=args.reason)
    return ChangeDetail.model_validate({"change": change_info(ctx, row, with_diff=False)})


def update_change(
    ctx: HubState, peer: Peer, args: UpdateChangeArgs, now: float
) -> Steps[ChangeResult]:
    """Resubmit the caller's own conflicting change against the file as it is now (issue 17
    part 2): same id, author and creation time; its base, result, diff and kept merge data
    replaced; the ``conflict`` becomes ``pending`` again and takes its locks back. A pending
    change is refused (``invalid``): the host may have reviewed it, and approving that id
    would write bytes it never saw.
    A write or edit gives ``content`` or an edit of the current text; a delete or move gives
    neither. Always waits for the host, even from a trusted editor (the host saw the
    conflict). Raises ``already_decided`` for a change applied or rejected, ``invalid`` for
    arguments that do not fit the change's kind."""
    row = own_open_change(ctx, peer, args.id)
    kind, path, new_path = row.kind, row.path, row.new_path
    if row.status == "conflict" and not peer.is_host:  # it joins the queue again
        check_pending_room(ctx, peer, 0)

    def prepare() -> Draft:
        if kind in ("write", "edit"):
            rel, old_text, sha = read_current(ctx, peer, path)
            check_base(rel, args.base_sha256, sha)
            if args.content is not None:
                check_text(args.content.encode("utf-8"), max_bytes=ctx.limits.max_file_bytes)
                made = draft("write", rel, None, sha, old_text, args.content)
            elif args.old_string is not None and args.new_string is not None:
                if old_text is None:
                    raise op_error(ErrorCode.NOT_FOUND, f"'{rel}' does not exist")
                new_text = apply_edit(
                    old_text,
                    args.old_string,
                    args.new_string,
                    replace_all=args.replace_all,
                    max_bytes=ctx.workspace.max_text_bytes,
                )
                check_text(new_text.encode("utf-8"), max_bytes=ctx.workspace.max_text_bytes)
                edit = Edit(args.old_string, args.new_string, args.replace_all)
                made = draft("edit", rel, None, sha, old_text, new_text, edit=edit)
            else:
                raise op_error(
                    ErrorCode.INVALID, "give the new content, or old_string and new_string"
                )
            if made.create:  # the file is gone now: a create, its diff stored whole
                diff = unified_diff(rel, None, args.content or "")
                made = dataclasses.replace(made, diff=diff, create=False)
            return made
        if args.content is not None or args.old_string is not None:
            raise op_error(
                ErrorCode.INVALID, f"a {kind} takes no content: it is re-based on the file as is"
            )
        rel, old_text, sha = existing(ctx, peer, path)
        check_base(rel, args.base_sha256, sha)
        if kind == "delete":
            return draft("delete", rel, None, sha, old_text, None)
        assert new_path is not None
        if (ctx.root / new_path).exists() or (ctx.root / new_path).is_symlink():
            raise op_error(ErrorCode.EXISTS, f"'{new_path}' already exists")
        return draft("move", rel, new_path, sha, None, None)

    def prepared(key: str) -> tuple[Draft, tuple[str, int] | None, tuple[str, int, int]]:
        # As a proposal: how sensitive the paths are where they really lead (a symlinked
        # .vscode), or the resubmitted change reached the host unmarked.
        made = prepare()
        made = dataclasses.replace(made, sensitive=ctx.workspace.change_sensitivity(path, new_path))
        # Counted and cut here, off the loop, as a proposal's: a 64 MiB file rewritten has a
        # ~128 MiB diff, whose counts, cut and UTF-8 size held the loop ~0.34 s.
        counts = diff_counts(made.diff) if args.diff_head is not None else None
        budget = REPLY_DIFF_CHARS if args.diff_head is None else args.diff_head
        head, more = cut_diff(made.diff, budget)
        cut = head, more, len(made.diff.encode("utf-8"))  # the reply's head, lines after it
        made = dataclasses.replace(made, head=args.diff_head, counts=counts)
        # A large change's data is stored here, off the loop, before its row names it (a
        # 4 MiB one held the loop in the row's write): a crash in between leaves a blob no
        # row names, swept at start (Store.sweep_blobs).
        return made, change_blobs.store_rebased(ctx, peer, key, made.content, made.diff), cut

    for _ in range(PREPARE_TRIES):
        writes = ctx.writes
        key = new_blob_key()  # made here: dropped if the draft never comes back
        try:
            made, blob, (head, more, diff_bytes) = yield functools.partial(prepared, key)
        except GeneratorExit:
            change_blobs.drop(ctx, key)
            raise
        if not ctx.written_since(writes, path, new_path):
            break
        change_blobs.drop(ctx, blob[0] if blob else None)
    else:
        raise op_error(
            ErrorCode.CONFLICT, "the files kept changing while this change was prepared; retry"
        )
    if not peer.is_host:
        # Charged before the commit's checks: the worker's diff and blob write are done even
        # when the update is then refused (a lock, the caps), which cost nothing before.
        stored = len(made.content or b"") + len(made.diff) + (made.merge.size if made.merge else 0)
        peer.bucket.charge(now, stored / CHANGE_BYTES_PER_REQUEST)
    try:
        row = _store_update(ctx, peer, args, now, made, blob, diff_bytes)
    except BaseException:
        change_blobs.drop(ctx, blob[0] if blob else None)  # kept if its row names it
        raise
    fresh = ctx.store.get_change(row.id)
    assert fresh is not None
    fresh = dataclasses.replace(fresh, diff=head)  # the reply's head, cut off the loop
    remember_mark(ctx, fresh, made.sensitive)
    lock_for_change(ctx, fresh, now, author=peer)
    info = change_info(ctx, fresh, with_diff=False)
    ctx.broadcast("change_submitted", {"change": dump(info)}, path=path, exclude=peer)
    reply = reply_change(ctx, fresh, head=made.head, counts=made.counts, more=more)
    return ChangeResult.model_validate({"status": "pending", **reply})


def _store_update(
    ctx: HubState,
    peer: Peer,
    args: UpdateChangeArgs,
    now: float,
    made: Draft,
    blob: tuple[str, int] | None,
    diff_bytes: int,
) -> ChangeRow:
    """``update_change``'s commit, on the loop: ``made`` replaces the caller's change
    ``args.id`` (``blob``: its data is in the blobs file, ``change_blobs.store_rebased``).
    Returns the row, ``pending`` now."""
    require_open(peer)
    row = own_open_change(ctx, peer, args.id)  # decided meanwhile?
    holder = holder_id(peer)
    for p in (row.path, row.new_path):
        if p is not None:
            ctx.locks.check_writable(p, holder, now)
    if not peer.is_host:
        check_update_room(ctx, peer, row, made, diff_bytes)
    with ctx.store.transaction():
        ctx.store.rebase_change(
            row.id,
            kind=made.kind,
            base_sha256=made.base,
            new_sha256=made.new_sha,
            content=made.content,
            diff=made.diff,
            merge=made.merge or MergeData(None, None),
            blob=blob,
        )
        ctx.store.next_revision(row.id)
        if row.status == "conflict":
            row = set_status(ctx, row, "pending", now, by=None, reason="")
        ctx.audit(peer, "change_updated", now, path=row.path, change=row.id)
    return row


def check_update_room(
    ctx: HubState, peer: Peer, row: ChangeRow, made: Draft, diff_bytes: int
) -> None:
    """Refuse (``quota_exceeded``) an ``update_change`` that would take the guest's, or all
    guests', pending bytes over their caps: the change's stored bytes are replaced by the new
    content, diff and merge data (a pending change's old bytes are freed; a conflict's are not
    pending)."""
    new = len(made.content or b"") + diff_bytes  # made.diff's UTF-8, counted off the loop
    new += made.merge.size if made.merge is not None else 0
    old = ctx.store.change_data_bytes(row.id) if row.status == "pending" else 0
    mine = ctx.store.usage("pending", peer.guest_id)[1] - old + new
    total = ctx.store.pending_grand_totals()[1] - old + new
    if mine > ctx.limits.max_pending_bytes_per_guest or total > ctx.limits.max_pending_bytes_total:
        raise op_error(
            ErrorCode.QUOTA_EXCEEDED,
            "this update would take the pending changes over the byte limit; make it smaller "
            "or wait for the host to decide some",
        )


def own_open_change(ctx: HubState, peer: Peer, change_id: str) -> ChangeRow:
    """The caller's own change ``change_id`` in conflict (without its content).

    Raises:
        OpError: ``not_found`` (no such change of the caller's), ``already_decided``,
            ``invalid`` (pending: what the host reviews never changes under its id).
    """
    row = visible_change(ctx, peer, change_id, include_content=False)
    if row.author_id != (holder_id(peer) if peer.is_host else peer.guest_id):
        raise op_error(ErrorCode.NOT_FOUND, f"no change of yours with id {change_id!r}")
    if row.status == "pending":
        # The host may have read it already: the same id with other bytes would be written
        # unseen by an approval of what was reviewed. Only a conflict is fixed in place.
        raise op_error(
            ErrorCode.INVALID,
            f"change {row.id} is pending: the host may be reviewing it as it is, so it cannot "
            "change under its id; update_change fixes a change in conflict. Propose a new "
            "change instead.",
        )
    if row.status != "conflict":
        raise op_error(
            ErrorCode.ALREADY_DECIDED,
            f"change {row.id} is {row.status}; propose a new change instead",
            status=row.status,
        )
    return row


#: This group's ops, by name.
HANDLERS: dict[str, Handler] = {
    "write_file": write_file,
    "edit_file": edit_file,
    "delete_file": delete_file,
    "move_file": move_file,
    "pending_changes": pending_changes,
    "my_changes": my_changes,
    "get_change": get_change,
    "approve_change": approve_change,
    "update_change": update_change,
    "reject_change": reject_change,
}
