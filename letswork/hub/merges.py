"""Approvals that merge (issue 17, part 2): the file work of bringing a pending change onto
the file as it is now (:func:`plan_merge`, :func:`merge_view`, for a worker, with a deadline),
and the words events and the digest use (:func:`merged_reason`, :func:`conflict_reason`).

The pure merge is :mod:`letswork.hub.merging`; the ops that use this are ``approve_change``,
``get_change`` and ``update_change`` in :mod:`letswork.hub.ops.changes`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

from letswork.hub import merging
from letswork.hub.state import HubState
from letswork.hub.store.changes import ChangeRow
from letswork.hub.store.merges import MergeData
from letswork.hub.workspace import diff as diffs
from letswork.hub.workspace.disk import sha256_hex
from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.protocol.changes import MergeHunk, MergeInfo

__all__ = ["Plan", "conflict_reason", "merge_view", "merged_reason", "plan_merge"]


@dataclasses.dataclass(frozen=True)
class Plan:
    """A pending change brought onto the file as read now (:func:`plan_merge`)."""

    outcome: Literal["edit", "merged", "conflict", "none"]
    #: the file read (None: absent)
    current_sha256: str | None
    #: a clean merge: its text, that text's sha256, and its diff against the current file
    text: str | None = None
    merged_sha256: str | None = None
    diff: str | None = None
    hunks: tuple[merging.Hunk, ...] = ()
    conflicts: int = 0

    @property
    def clean(self) -> bool:
        return self.outcome in ("edit", "merged")

    def info(self, ctx: HubState) -> MergeInfo:
        """The plan as the wire shows it (the diff fitted into a quarter of a frame)."""
        diff = diffs.fit_diff(self.diff, ctx.limits.max_frame_bytes // 4) if self.diff else None
        # All the hunks' sides share a 32nd of a frame (characters; up to 6 bytes each as
        # JSON): 50 hunks of 64 KiB a side made a 10 MB reply, which no peer accepts.
        room = (ctx.limits.max_frame_bytes // 32) // (3 * max(1, len(self.hunks)))
        side = max(256, min(limits.MAX_MERGE_VIEW_CHARS, room))
        return MergeInfo(
            outcome=self.outcome,
            current_sha256=self.current_sha256,
            merged_sha256=self.merged_sha256,
            diff=diff,
            hunks=[_wire_hunk(h, side) for h in self.hunks],
            conflicts=self.conflicts,
        )


def _cut(lines: tuple[str, ...] | str, most: int = limits.MAX_MERGE_VIEW_CHARS) -> str:
    text = lines if isinstance(lines, str) else "".join(lines)
    return text[:most]


def _wire_hunk(h: merging.Hunk, most: int) -> MergeHunk:
    return MergeHunk(
        start=h.start,
        end=h.end,
        base=_cut(h.base, most),
        current=_cut(h.current, most),
        proposed=_cut(h.proposed, most),
    )


def _read_now(ctx: HubState, row: ChangeRow, is_host: bool) -> tuple[str | None, str | None]:
    """(the file's text now, its sha256), both None when absent. File work. A guest's view
    (``is_host`` false) is read under the sharing policy: the path may lead elsewhere now
    (a symlink to ``.env``) or be unshared since the change was proposed.

    Raises:
        OpError: ``not_shared`` (a guest), or it is not text (binary, over the text cap) or
            unreadable.
    """
    if not is_host:
        ctx.workspace.resolve(row.path, is_host=False)
    if ctx.workspace.file_sha256(row.path) is None:
        return None, None
    text, sha = ctx.workspace.read_text(row.path, is_host=is_host, whole=True)
    return text, sha


def _refused(exc: OpError) -> bool:
    return exc.code == ErrorCode.NOT_SHARED


def guests_may_read(ctx: HubState, path: str) -> bool:
    """Whether the sharing policy lets guests read ``path`` now, where it really leads (file
    work). A conflict's hunks and diff go to the change's author: a path unshared since the
    proposal, or now a symlink to ``.env``, must not put the host's text in them."""
    try:
        ctx.workspace.resolve(path, is_host=False)
    except OpError as exc:
        if _refused(exc):
            return False
    return True


def plan_merge(
    ctx: HubState,
    row: ChangeRow,
    data: MergeData,
    should_stop: Callable[[], bool],
    *,
    is_host: bool = True,
    for_author: bool = False,
) -> Plan:
    """Bring the pending write or edit ``row`` (with its content) onto the file as it is now,
    from its kept base and edit ``data`` (read from the store on the loop). File and CPU
    work, for a worker; ``should_stop`` is the request's deadline.

    ``none``: nothing can be merged (no base kept, a delete or move, the file not text now,
    or, ``for_author`` (an approval, whose conflict goes to the author), a file guests may
    not read now): approving is a ``conflict`` as before merges.

    Raises:
        OpError: ``timeout`` once ``should_stop()``; ``not_shared`` for a guest's view
            (``is_host`` false) of a file it may not read now.
    """
    try:
        current, sha = _read_now(ctx, row, is_host)
    except OpError as exc:
        if _refused(exc):
            raise
        return Plan("none", ctx.workspace.file_sha256(row.path))
    if for_author and not guests_may_read(ctx, row.path):
        return Plan("none", sha)
    proposed = row.content.decode("utf-8") if row.content is not None else None
    if row.kind not in ("write", "edit") or data.base_z is None or proposed is None:
        return Plan("none", sha)
    base = merging.unpack_text(data.base_z)
    edit = merging.unpack_edit(data.edit_z) if data.edit_z is not None else None
    out = merging.merge_change(
        base,
        current,
        proposed,
        edit=edit,
        max_bytes=ctx.workspace.max_text_bytes,
        should_stop=should_stop,
    )
    if out.text is None:
        return Plan("conflict", sha, hunks=out.hunks, conflicts=out.conflicts)
    merged = out.text.encode("utf-8")
    if len(merged) > ctx.workspace.max_text_bytes:
        return Plan("none", sha)
    return Plan(
        out.how,
        sha,
        text=out.text,
        merged_sha256=sha256_hex(merged),
        diff=diffs.unified_diff(row.path, current, out.text),
    )


def merge_view(
    ctx: HubState,
    row: ChangeRow,
    data: MergeData,
    should_stop: Callable[[], bool],
    *,
    is_host: bool = True,
) -> MergeInfo:
    """``get_change``'s ``merge``: the change's base, the current text, the proposer's diff
    against its base and how a merge would come out now (its conflicting hunks). File and
    CPU work, for a worker. A guest's (``is_host`` false) is ``not_shared`` when the file is
    not one it may read now."""
    base = merging.unpack_text(data.base_z) if data.base_z is not None else None
    try:
        current, sha = _read_now(ctx, row, is_host)
    except OpError as exc:
        if _refused(exc):
            raise
        current, sha = None, ctx.workspace.file_sha256(row.path)
    proposed = row.content.decode("utf-8") if row.content is not None else None
    if sha == row.base_sha256 and row.status == "pending":
        outcome = MergeInfo(outcome="unchanged", current_sha256=sha)
    else:
        outcome = plan_merge(ctx, row, data, should_stop, is_host=is_host).info(ctx)
    proposed_diff = None
    if base is not None or row.kind == "write":
        proposed_diff = diffs.unified_diff(row.path, base, proposed, new_path=row.new_path)
        proposed_diff = diffs.fit_diff(proposed_diff, ctx.limits.max_frame_bytes // 8)
    texts = [t for t in (base, current) if t is not None]
    return outcome.model_copy(
        update={
            "base": None if base is None else _cut(base),
            "current": None if current is None else _cut(current),
            "proposed_diff": proposed_diff,
            "cut": any(len(t) > limits.MAX_MERGE_VIEW_CHARS for t in texts),
        }
    )


def merged_reason(plan: Plan) -> str:
    """What the decided event and the digest say of a change approved as a merge."""
    if plan.outcome == "edit":
        return "merged cleanly: its edit re-applied to the file as the host changed it"
    return "merged cleanly with the host's changes since it was proposed"


def conflict_reason(plan: Plan) -> str:
    """``"conflict in lines 3-5"`` (of the current file), as events and the digest say it."""
    return f"conflict in {merging.lines_span(plan.hunks)}"
