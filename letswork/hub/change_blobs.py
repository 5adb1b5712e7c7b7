"""The content and diff of large changes, moved to and from the blobs file off the event loop
(schema 8, :mod:`letswork.hub.store.blobs`).

A change over ``MAX_INLINE_CHANGE_BYTES`` is written to the blobs file by the worker that
prepared it (:func:`store_draft`), before the event loop commits the row that names it; the
worker that approves it or shows its diff reads it back (:func:`load`). The functions marked
"worker" block for as long as SQLite copies the blob and must never run on the loop; the
others are cheap and run on it.
"""

from __future__ import annotations

import dataclasses

from letswork.hub.peers import Peer, require_open
from letswork.hub.state import HubState
from letswork.hub.store.changes import ChangeRow
from letswork.hub.workspace.diff import cut_diff, unified_diff
from letswork.shared.errors import ErrorCode, StoreError
from letswork.shared.limits import MAX_INLINE_CHANGE_BYTES

__all__ = [
    "Loaded",
    "drop",
    "is_large",
    "load",
    "store_diff",
    "store_draft",
    "store_rebased",
    "with_loaded",
]


@dataclasses.dataclass(frozen=True)
class Loaded:
    """A large change's data as read back: ``content`` (None unless asked for or a delete or
    move), ``shown`` (its diff fitted to half a frame, as replies carry it) and
    ``diff_bytes`` (the whole diff's UTF-8 length)."""

    content: bytes | None
    shown: str
    diff_bytes: int


def is_large(content: bytes | None, diff: str) -> bool:
    """Whether a change of this content and diff keeps them in the blobs file. Counts
    characters of the diff (at most its UTF-8 bytes): a cheap test, off by at most 4x."""
    return len(content or b"") + len(diff) > MAX_INLINE_CHANGE_BYTES


def store_draft(
    ctx: HubState,
    peer: Peer,
    key: str,
    path: str,
    new_text: str | None,
    content: bytes | None,
    diff: str,
    create: bool,
) -> str | None:
    """Worker: write a large change's ``content`` and ``diff`` to the blobs file under
    ``key`` (made on the loop, which drops it if this draft never comes back: the peer went
    while this ran), committed on return; returns the diff stored (a new file's diff,
    ``create``, derived on read when in the row, is built here and stored whole), or None
    for a small change, which its row holds.

    Raises:
        OpError: ``forbidden``, ``peer`` went while the data was written: deleted again here,
            since the loop's delete of ``key`` may have run before it was written.
    """
    if create and new_text is not None:
        if len(content or b"") <= MAX_INLINE_CHANGE_BYTES:
            return None  # the row holds the content once; its diff is derived
        diff = unified_diff(path, None, new_text)
    if not is_large(content, diff):
        return None
    _put(ctx, peer, key, content, diff)
    return diff


def store_diff(ctx: HubState, peer: Peer, key: str, diff: str) -> tuple[str, int]:
    """Worker: write a large change's new diff (its conflict) under ``key`` (as for
    :func:`store_draft`), with no content; returns the key and the diff's UTF-8 bytes."""
    _put(ctx, peer, key, None, diff)
    return key, len(diff.encode("utf-8"))


def store_rebased(
    ctx: HubState, peer: Peer, key: str, content: bytes | None, diff: str
) -> tuple[str, int] | None:
    """Worker: the new data of a stored change made a change of the file as it is now
    (``update_change``, a clean merge approved), written to the blobs file under ``key`` (as
    for :func:`store_draft`) when it is large; returns ``(key, bytes)`` (``bytes``: content
    and diff as ``data_bytes`` counts them) for ``Store.rebase_change``'s ``blob``, or None
    for a small change, which its row holds.

    Raises:
        OpError: ``forbidden``, ``peer`` went while the data was written (deleted again).
    """
    if not is_large(content, diff):
        return None
    _put(ctx, peer, key, content, diff)
    return key, len(content or b"") + len(diff.encode("utf-8"))


def load(ctx: HubState, row: ChangeRow, *, content: bool) -> Loaded:
    """Worker: read back the data of ``row`` (``row.blob_key`` set), its diff fitted off the
    loop to half a frame.

    Raises:
        StoreError: ``not_found``, the blob is gone (the change was decided and pruned
            meanwhile; or the blobs file lost it: it commits apart from the row).
    """
    assert row.blob_key is not None
    max_bytes = ctx.limits.max_frame_bytes // 2
    found = ctx.store.blobs.get(row.blob_key, content=content, diff_head=max_bytes + 1)
    if found is None:
        raise StoreError(
            f"the data of change {row.id} is gone (decided meanwhile?)", code=ErrorCode.NOT_FOUND
        )
    data, head, size, line_ends = found
    if len(head) <= max_bytes:  # the whole diff, which fits
        return Loaded(data, head.decode("utf-8"), len(head))
    # fit_diff of the whole diff, from its head: whole lines within max_bytes // 4
    # characters, and how many line ends follow them.
    text = head.decode("utf-8", "ignore")  # "ignore": a character cut at the end
    shown, _ = cut_diff(text, max_bytes // 4)
    rest = line_ends - shown.count("\n")
    shown += f"\\ letswork: the diff is cut here, {rest} more lines are not shown\n"
    return Loaded(data, shown, size)


def with_loaded(row: ChangeRow, loaded: Loaded) -> ChangeRow:
    """``row`` carrying ``loaded`` in memory (its diff as shown)."""
    return dataclasses.replace(row, content=loaded.content, diff=loaded.shown)


def drop(ctx: HubState, key: str | None) -> None:
    """A blob written for a proposal that was not stored (refused, or prepared again):
    deleted off the loop after the request (``Store.take_unreferenced_blobs``)."""
    if key is not None:
        ctx.store.dropped_blob_keys.append(key)


def _put(ctx: HubState, peer: Peer, key: str, content: bytes | None, diff: str) -> None:
    """Worker: write ``content`` and ``diff`` under ``key``, committed. The loop may have
    dropped ``key`` before the write (``peer`` went meanwhile): then deleted again here.

    Raises:
        OpError: ``forbidden``, ``peer`` went while the data was written.
    """
    ctx.store.blobs.put(key, content, diff)
    if peer.closed:
        ctx.store.blobs.delete([key])
        require_open(peer)
