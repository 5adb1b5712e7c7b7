"""Applying an approved change: the disk work (:func:`write_change`, a worker may run it),
the loop's parts around it (:func:`before_apply`, :func:`after_apply`), and the guests'
versions of the ignore files a change rewrites, kept so the host can take them back
(issue 13, item 2).

Split off hub/changes.py (issue 14): the queue decides a change, this module carries it out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from letswork.hub.peers import HOST_ID
from letswork.hub.state import HubState
from letswork.hub.store.changes import ChangeRow
from letswork.hub.workspace.disk import sha256_hex
from letswork.hub.workspace.sharing import ABSENT, GuestVersion, ignore_file_ids
from letswork.shared.errors import ErrorCode, op_error


def apply(ctx: HubState, row: ChangeRow) -> None:
    """Carry out a change on disk, atomically.

    Raises ``OpError``: ``disk_error`` on OSError, ``forbidden`` when it would touch git
    metadata now (checked again by the workspace), ``quota_exceeded`` over the caps of
    guests' ignore file versions. A guest's change to an ignore file is recorded before
    it reaches the disk; a host's takes the file back once written.
    """
    ignore_files = before_apply(ctx, row)
    write_change(ctx, row)
    after_apply(ctx, row, ignore_files)


def before_apply(ctx: HubState, row: ChangeRow) -> dict[str, str]:
    """:func:`apply`'s first part, on the loop: record a guest's versions of the ignore files
    ``row`` changes, and stamp its paths as the hub's own writes. Returns those ignore files
    (:func:`ignore_files_of`) for :func:`after_apply`."""
    now = ctx._clock()
    ignore_files = ignore_files_of(ctx, row)
    if ignore_files and row.author_name != HOST_ID:
        record_guest_versions(ctx, row, ignore_files, now)
    stamp_written(ctx, row)
    return ignore_files


def stamp_written(ctx: HubState, row: ChangeRow) -> None:
    """Stamp ``row``'s paths as the hub's own writes, now: a change prepared off the loop
    before is prepared again (``HubState.written_since``). Again after a worker's write,
    since one prepared while it ran may have read the file before it."""
    now = ctx._clock()
    ctx.writes += 1
    for p in (row.path, row.new_path):
        if p is not None:
            ctx.own_writes[p] = now
            ctx.note_written(p)


@contextlib.contextmanager
def worker_writing(ctx: HubState, row: ChangeRow) -> Iterator[None]:
    """While a worker writes ``row``'s file: no other decision on ``row``
    (``ctx.applying``), and a change to its paths prepared meanwhile is prepared again
    (``ctx.being_written``: its read may predate the write, which would then undo it)."""
    keys = [ctx.locks.key(p) for p in (row.path, row.new_path) if p is not None]
    ctx.applying.add(row.id)
    for key in keys:
        ctx.being_written[key] = ctx.being_written.get(key, 0) + 1
    try:
        yield
    finally:
        ctx.applying.discard(row.id)
        for key in keys:
            left = ctx.being_written.pop(key, 1) - 1
            if left > 0:
                ctx.being_written[key] = left


def write_change(ctx: HubState, row: ChangeRow) -> None:
    """:func:`apply`'s disk work (a worker may run it: it touches only the disk and the
    index, which any thread may tell)."""
    ws = ctx.workspace
    if row.kind in ("write", "edit"):
        assert row.content is not None
        ws.write_atomic(row.path, row.content)
    elif row.kind == "delete":
        ws.delete(row.path)
    elif row.kind == "move":
        assert row.new_path is not None
        ws.move(row.path, row.new_path)


def after_apply(ctx: HubState, row: ChangeRow, ignore_files: Mapping[str, str]) -> None:
    """:func:`apply`'s last part, on the loop: a host's change takes back the ignore files
    it wrote."""
    if row.author_name == HOST_ID:
        rules = ctx.workspace.rules
        for key in ignore_files:
            if key in rules.guest_versions():
                ctx.store.drop_guest_ignore_version(key)
                rules.drop_guest_version(key)


def ignore_files_of(ctx: HubState, row: ChangeRow) -> dict[str, str]:
    """The ignore files ``row`` changes: key -> ``"written"`` (its content),
    ``"removed"`` (a delete, the source of a move) or ``"moved_in"`` (the target of a
    move). Names only: cheap on the loop."""
    rules = ctx.workspace.rules
    after = [(row.path, "written" if row.kind in ("write", "edit") else "removed")]
    if row.kind == "move" and row.new_path is not None:
        after.append((row.new_path, "moved_in"))
    found: dict[str, str] = {}
    for path, how in after:
        key = rules.record_key(path)  # the key of its record under any spelling
        if key is not None:
            found[key] = how
    return found


def ids_after(ctx: HubState, row: ChangeRow, how: str) -> frozenset[str]:
    """How the ignore file ``row`` changes is known once changed (``how``: from
    :func:`ignore_files_of`): the ids of its new content (:func:`ignore_file_ids`)."""
    if how == "written":
        assert row.content is not None
        return ignore_file_ids(row.content) | {row.new_sha256 or ABSENT}
    if how == "moved_in":  # the moved file's content, read before the move
        _, ids = ctx.workspace.rules.disk_state(row.path)
        return ids | {row.base_sha256 or ABSENT}
    return frozenset({ABSENT})


def record_guest_versions(
    ctx: HubState, row: ChangeRow, ignore_files: Mapping[str, str], now: float
) -> None:
    """Record, before a guest's change ``row`` reaches the disk, that it changes these
    ignore files (from :func:`ignore_files_of`), keeping the host's version of each
    (issue 13, item 2).

    The host's version is the file on disk now, unless a guest version recorded earlier is
    still what is on disk: then that record's host version is kept. The version on disk
    now stays a guest version too, so a write that then fails, or a crash before it,
    changes nothing. Reads each ignore file once, and the source of a move onto one.

    Raises:
        OpError: ``quota_exceeded`` over ``max_guest_ignore_files`` or
            ``max_guest_ignore_bytes``, when taking back what the host rewrote since does
            not make room.
    """
    rules = ctx.workspace.rules
    versions: dict[str, GuestVersion] = {}
    for key, how in ignore_files.items():
        after = ids_after(ctx, row, how)
        data, ids_now = rules.disk_state(key)
        old = rules.guest_version(key)  # still on disk (or unreadable: assume so)
        if old is not None:
            on_disk = ids_now if not ids_now.isdisjoint(old.guest_shas) else old.guest_shas
            versions[key] = GuestVersion(on_disk | after, old.host_content)
        else:
            versions[key] = GuestVersion(after, data)
    if not guest_versions_fit(ctx, versions):
        drop_stale_guest_versions(ctx)
        if not guest_versions_fit(ctx, versions):
            raise op_error(
                ErrorCode.QUOTA_EXCEEDED,
                f"guests' versions of {len(rules.guest_versions())} ignore files are on "
                "record, the limit; the host takes one back by saving it, or rejects this "
                "change",
            )
    with ctx.store.transaction():
        for key, version in versions.items():
            ctx.store.put_guest_ignore_version(key, version, now)
    for key, version in versions.items():
        rules.put_guest_version(key, version)


def guest_versions_fit(ctx: HubState, versions: Mapping[str, GuestVersion]) -> bool:
    merged = {**ctx.workspace.rules.guest_versions(), **versions}
    size = sum(len(v.host_content or b"") for v in merged.values())
    return (
        len(merged) <= ctx.limits.max_guest_ignore_files
        and size <= ctx.limits.max_guest_ignore_bytes
    )


def drop_stale_guest_versions(
    ctx: HubState,
) -> int:
    """Forget the guest versions no longer on disk (the host wrote those files since);
    returns how many. One ``stat`` per record, and a read where the file changed."""
    rules = ctx.workspace.rules
    stale = [key for key in rules.guest_versions() if rules.guest_version(key) is None]
    for key in stale:
        ctx.store.drop_guest_ignore_version(key)
        rules.drop_guest_version(key)
    return len(stale)


def check_stored_content(row: ChangeRow) -> None:
    """Refuse to write a write's or edit's content, as read back from the store (the row or
    the blobs file), unless it still hashes to ``row.new_sha256``: the value the host reviewed
    (its ``proposal_sha256`` names it). File work: 64 MiB take ~54 ms.

    Raises:
        OpError: ``conflict`` (the store was changed under the hub); nothing is written.
    """
    if row.kind in ("write", "edit") and sha256_hex(row.content or b"") != row.new_sha256:
        raise op_error(
            ErrorCode.CONFLICT,
            f"change {row.id}'s stored content does not match the sha256 it was "
            "reviewed by; nothing was written: reject it",
            change_id=row.id,
        )
