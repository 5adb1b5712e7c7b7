"""The changes group (with its approvals): proposing writes, edits, deletes and moves, the
queue, and the host's decisions. The queue itself is :mod:`letswork.hub.changes`.
"""

from __future__ import annotations

import functools

from letswork.hub import change_blobs
from letswork.hub.changes import (
    PREPARE_TRIES,
    Draft,
    after_apply,
    before_apply,
    change_info,
    change_steps,
    check_base,
    conflict,
    current_sha_for,
    decide,
    diff_to_current,
    draft,
    existing,
    finish_approved,
    read_current,
    set_status,
    stamp_written,
    visible_change,
    write_change,
)
from letswork.hub.peers import Peer, holder_id
from letswork.hub.state import Handler, HubState, Steps
from letswork.hub.store.changes import ChangeRow
from letswork.hub.workspace import diff as diffs
from letswork.hub.workspace.diff import apply_edit
from letswork.hub.workspace.files import check_new_text, check_text
from letswork.shared.errors import ErrorCode, OpError, op_error
from letswork.shared.protocol.changes import (
    ChangeDetail,
    ChangeIdArgs,
    ChangeList,
    ChangeResult,
    DeleteFileArgs,
    EditFileArgs,
    MoveFileArgs,
    MyChangesArgs,
    PendingChangesArgs,
    RejectChangeArgs,
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
        return draft("edit", path, None, sha, old_text, new_text, content)

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
        changes.append(change_info(ctx, row, with_diff=cost <= budget))
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
    ctx: HubState, peer: Peer, args: ChangeIdArgs, now: float
) -> ChangeDetail | Steps[ChangeDetail]:
    row = visible_change(ctx, peer, args.id, include_content=False)
    if row.blob_key is not None:
        return _get_large_change(ctx, peer, row, now)
    if not peer.is_host:  # paid after the read, into debt: the next requests wait for it
        peer.bucket.charge(now, len(row.diff) / DIFF_BYTES_PER_REQUEST)
    return ChangeDetail.model_validate({"change": change_info(ctx, row, with_diff=True)})


def _get_large_change(ctx: HubState, peer: Peer, row: ChangeRow, now: float) -> Steps[ChangeDetail]:
    """``get_change`` of a change whose diff is in the blobs file: read and fitted to half a
    frame by a worker (schema 7)."""
    loaded: change_blobs.Loaded = yield functools.partial(
        change_blobs.load, ctx, row, content=False
    )
    if not peer.is_host:  # the same price as a diff read from the row
        peer.bucket.charge(now, loaded.diff_bytes / DIFF_BYTES_PER_REQUEST)
    row = change_blobs.with_loaded(row, loaded)
    return ChangeDetail.model_validate({"change": change_info(ctx, row, with_diff=True)})


def approve_change(
    ctx: HubState, peer: Peer, args: ChangeIdArgs, now: float
) -> Steps[ChangeDetail]:
    row = visible_change(ctx, peer, args.id)
    check_not_applying(ctx, row.id)
    for _ in range(PREPARE_TRIES):
        if row.status == "rejected":
            raise op_error(
                ErrorCode.ALREADY_DECIDED,
                f"change {row.id} was already rejected",
                status=row.status,
            )
        if row.status in ("applied", "conflict"):
            return ChangeDetail.model_validate({"change": change_info(ctx, row, with_diff=True)})
        writes, pending = ctx.writes, row
        # The file's hash (and a conflict's diff) off the loop; then the change is read
        # again, since another approve or reject may have decided it meanwhile.
        loaded = None
        if pending.blob_key is not None:  # a large change's data, read by a worker
            loaded = yield functools.partial(change_blobs.load, ctx, pending, content=True)
            pending = change_blobs.with_loaded(pending, loaded)
        current = yield functools.partial(current_sha_for, ctx, pending)
        conflict_diff, conflict_blob = None, None
        if row.status == "pending" and current != row.base_sha256:
            conflict_diff, conflict_blob = yield functools.partial(_conflict_of, ctx, pending)
        row = visible_change(ctx, peer, args.id)
        if loaded is not None and row.blob_key == pending.blob_key:
            row = change_blobs.with_loaded(row, loaded)
        check_not_applying(ctx, row.id)
        if not ctx.written_since(writes, row.path, row.new_path) and (
            row.status == pending.status and row.blob_key == pending.blob_key
        ):
            break
        change_blobs.drop(ctx, conflict_blob[0] if conflict_blob else None)
    else:
        raise op_error(
            ErrorCode.CONFLICT, "the files kept changing while this change was checked; retry"
        )
    if row.status == "pending":
        if conflict_diff is not None:
            row = conflict(ctx, row, now, by=peer.name, diff=conflict_diff, blob=conflict_blob)
            ctx.audit(peer, "change_conflict", now, path=row.path, change=row.id)
            return ChangeDetail.model_validate({"change": change_info(ctx, row, with_diff=True)})
        # Commit the decision before touching the disk, so a crash in between is
        # reconciled on restart instead of applying twice or losing the approval.
        row = set_status(ctx, row, "approved", now, by=peer.name)
    try:
        if row.kind in ("write", "edit") and current == row.base_sha256 != row.new_sha256:
            # The file is written by a worker (64 MiB and an fsync held the loop ~0.5 s);
            # meanwhile no other approve or reject of this change goes ahead (ctx.applying),
            # and its lock keeps other writers off the path. A kick in between leaves it
            # approved and written: the next approve (or the next start) marks it applied.
            ignore_files = before_apply(ctx, row)
            ctx.applying.add(row.id)
            try:
                yield functools.partial(write_change, ctx, row)
            finally:
                ctx.applying.discard(row.id)
            stamp_written(ctx, row)
            after_apply(ctx, row, ignore_files)
            current = row.new_sha256
        row = finish_approved(ctx, row, now, by=peer.name, current=current, hashed=True)
    except OpError:
        # The disk refused (full, read-only): the change goes back to pending, unchanged.
        set_status(ctx, row, "pending", now, by=None)
        raise
    ctx.audit(peer, "change_" + row.status, now, path=row.path, change=row.id)
    return ChangeDetail.model_validate({"change": change_info(ctx, row, with_diff=True)})


def check_not_applying(ctx: HubState, change_id: str) -> None:
    """Refuse (``conflict``, retry) a decision on a change whose file is being written."""
    if change_id in ctx.applying:
        raise op_error(
            ErrorCode.CONFLICT,
            f"change {change_id} is being applied now; ask again in a moment",
            change_id=change_id,
        )


def _conflict_of(ctx: HubState, row: ChangeRow) -> tuple[str, tuple[str, int] | None]:
    """Worker: the diff of ``row``'s conflict (the file as it is now to the change's result),
    and ``None``; a large one is written to the blobs file, and its head (half a frame) is
    returned with ``(key, bytes)``."""
    diff = diff_to_current(ctx, row)
    if not change_blobs.is_large(None, diff):
        return diff, None
    blob = change_blobs.store_diff(ctx, diff)
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
    "reject_change": reject_change,
}
