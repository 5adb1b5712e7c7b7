"""Three-way merges of a pending change with the file as it is now (issue 17, part 2): no
disk, no hub state, for a worker thread.

A pending write or edit keeps its base text, compressed (:func:`pack_text`). When the host
approves it and the file moved on since that base, :func:`merge_change` first re-applies an
edit (``edit_file``) to the current text when its ``old_string`` still matches exactly, else
merges base, current text and proposal line by line with ``merge3`` (difflib's matcher, as
``git merge-file`` would: the common head and tail trimmed first, no other heuristics). The
result is either one text (``edit`` or ``merged``) or the conflicting hunks, with their line
numbers in the current file.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Literal

import merge3

from letswork.hub.store.merges import MergeData
from letswork.hub.workspace.diff import _BudgetMatcher, _CostlyDiff, _split_lines, apply_edit
from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError, op_error

__all__ = [
    "Edit",
    "Hunk",
    "MergeData",
    "MergeOutcome",
    "conflict_text",
    "lines_span",
    "merge_change",
    "merge_data",
    "merge_texts",
    "pack_edit",
    "pack_text",
    "unpack_edit",
    "unpack_text",
]

#: zlib's level for kept bases: level 6 packs source text ~3-4x at ~20 MB/s, in a worker.
_ZLIB_LEVEL = 6


def pack_text(text: str) -> bytes:
    """``text`` as stored: UTF-8, zlib-compressed."""
    return zlib.compress(text.encode("utf-8"), _ZLIB_LEVEL)


def unpack_text(blob: bytes, max_bytes: int = limits.MAX_MERGE_BASE_BYTES) -> str:
    """The text :func:`pack_text` stored.

    Raises:
        OpError: ``invalid`` when ``blob`` is not zlib data or inflates past ``max_bytes``
            (a damaged store: the bytes kept are never trusted to inflate without a bound).
    """
    inflate = zlib.decompressobj()
    try:
        data = inflate.decompress(blob, max_bytes + 1)
    except zlib.error as exc:
        raise op_error(ErrorCode.INVALID, f"a kept base text is damaged: {exc}") from None
    if len(data) > max_bytes or inflate.unconsumed_tail:
        raise op_error(ErrorCode.INVALID, "a kept base text is over MAX_MERGE_BASE_BYTES")
    return data.decode("utf-8", errors="replace")


@dataclasses.dataclass(frozen=True)
class Edit:
    """An ``edit_file`` request as kept with its change: replace ``old`` by ``new``."""

    old: str
    new: str
    replace_all: bool


#: The largest edit kept, as JSON before compression (what :func:`unpack_edit` inflates).
_MAX_EDIT_JSON_BYTES = 2 * limits.MAX_MERGE_BASE_BYTES


def pack_edit(edit: Edit) -> bytes | None:
    """``edit`` as stored (JSON, zlib-compressed); None over ``_MAX_EDIT_JSON_BYTES`` (a
    new_string of megabytes: kept, it would never unpack, and every merge of its change
    failed; without it the change merges as whole texts)."""
    raw = {"old": edit.old, "new": edit.new, "all": edit.replace_all}
    data = json.dumps(raw, ensure_ascii=False).encode("utf-8")
    if len(data) > _MAX_EDIT_JSON_BYTES:
        return None
    return zlib.compress(data, _ZLIB_LEVEL)


def unpack_edit(blob: bytes) -> Edit:
    """The edit :func:`pack_edit` stored (``invalid`` as :func:`unpack_text` when damaged)."""
    raw: Any = json.loads(unpack_text(blob, _MAX_EDIT_JSON_BYTES))
    return Edit(str(raw["old"]), str(raw["new"]), bool(raw["all"]))


@dataclasses.dataclass(frozen=True)
class Hunk:
    """One conflict: lines ``start``..``end`` (1-based, inclusive) of the current file, which
    the host changed from ``base`` to ``current`` while the proposal changed them to
    ``proposed``. ``end == start - 1``: nothing stands there now (an insertion point)."""

    start: int
    end: int
    base: tuple[str, ...]
    current: tuple[str, ...]
    proposed: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class MergeOutcome:
    """What :func:`merge_change` made: ``edit`` (the edit re-applied to the current text),
    ``merged`` (a clean three-way merge) or ``conflict`` (``hunks``, no ``text``)."""

    how: Literal["edit", "merged", "conflict"]
    text: str | None
    hunks: tuple[Hunk, ...] = ()
    #: conflicts found (``hunks`` keeps the first ``MAX_MERGE_HUNKS``)
    conflicts: int = 0


class _Matcher:
    """The matches merge3 asks for (it runs this twice: base with current, base with
    proposal), as ``git merge-file`` finds them: the common head and tail first, then
    difflib's matcher on the lines between, within ``MAX_MERGE_DIFF_STEPS``; the merge's
    deadline is checked first.

    Head and tail first: difflib alone takes the match that starts earliest, so in lines
    that recur (blank lines, ``}``) one side's replaced line could align as an insertion
    plus a deletion elsewhere, and the merge kept a line both sides had replaced (base
    ``v v v v``, host ``H v v v``, guest ``v v G v`` merged to ``H v v G v``). Past the
    budget (lines that recur often made difflib quadratic: 20,000 lines of 200 recurring
    values took 3.8 s) only the head and tail match: a coarser alignment, so more
    conflicts, never a wrong merge."""

    should_stop: Callable[[], bool] = staticmethod(lambda: False)

    def __init__(self, isjunk: None, a: Sequence[str], b: Sequence[str]) -> None:
        self.a, self.b = list(a), list(b)

    def get_matching_blocks(self) -> list[difflib.Match]:
        if self.should_stop():
            raise op_error(ErrorCode.TIMEOUT, "the merge took too long; resolve it by hand")
        a, b = self.a, self.b
        end = min(len(a), len(b))
        head = next((i for i in range(end) if a[i] != b[i]), end)
        tail = next((i for i in range(end - head) if a[-1 - i] != b[-1 - i]), end - head)
        blocks = [difflib.Match(0, 0, head)] if head else []
        mid_a, mid_b = a[head : len(a) - tail], b[head : len(b) - tail]
        if mid_a and mid_b:
            try:
                inner = _BudgetMatcher(mid_a, mid_b, limits.MAX_MERGE_DIFF_STEPS)
                found = inner.get_matching_blocks()
            except _CostlyDiff:
                found = []
            blocks += [difflib.Match(head + m.a, head + m.b, m.size) for m in found if m.size]
        if tail:
            blocks.append(difflib.Match(len(a) - tail, len(b) - tail, tail))
        return [*blocks, difflib.Match(len(a), len(b), 0)]


def merge_texts(
    base: str,
    current: str,
    proposed: str,
    *,
    should_stop: Callable[[], bool] = lambda: False,
) -> MergeOutcome:
    """Merge the host's ``base`` -> ``current`` and the proposal's ``base`` -> ``proposed``
    by lines (``\\n`` ends a line; the last may lack one).

    Changes on both sides to the same or adjacent base lines are a conflict unless both
    sides made the same change; ``hunks`` lists at most ``MAX_MERGE_HUNKS`` of them.

    Raises:
        OpError: ``timeout`` once ``should_stop()`` (checked before each sequence match).
    """
    matcher = type("_DeadlineMatcher", (_Matcher,), {"should_stop": staticmethod(should_stop)})
    base_l, cur_l, prop_l = _split_lines(base), _split_lines(current), _split_lines(proposed)
    m = merge3.Merge3(base_l, cur_l, prop_l, sequence_matcher=matcher)
    out: list[str] = []
    hunks: list[Hunk] = []
    total = 0
    for region in m.merge_regions():
        kind = region[0]
        if kind == "unchanged":
            out.extend(base_l[region[1] : region[2]])
        elif kind in ("a", "same"):
            out.extend(cur_l[region[1] : region[2]])
        elif kind == "b":
            out.extend(prop_l[region[1] : region[2]])
        else:  # conflict: (zstart, zend, astart, aend, bstart, bend)
            z0, z1, a0, a1, b0, b1 = region[1:7]  # type: ignore[misc]
            if len(hunks) < limits.MAX_MERGE_HUNKS:
                hunks.append(
                    Hunk(
                        start=a0 + 1,
                        end=a1,
                        base=tuple(base_l[z0:z1]),
                        current=tuple(cur_l[a0:a1]),
                        proposed=tuple(prop_l[b0:b1]),
                    )
                )
            total += 1
    if hunks:
        return MergeOutcome("conflict", None, tuple(hunks), total)
    return MergeOutcome("merged", "".join(out))


def merge_change(
    base: str | None,
    current: str | None,
    proposed: str | None,
    *,
    edit: Edit | None = None,
    max_bytes: int = limits.MAX_TEXT_FILE_BYTES,
    should_stop: Callable[[], bool] = lambda: False,
) -> MergeOutcome:
    """A pending change brought onto the file as it is now.

    ``base``: the text the change was made against (None: the change creates the file, or
    deletes it: ``proposed`` None). ``current``: the file now (None: gone). A delete, a
    create onto a file made since, and a write onto a deleted file are conflicts: the one
    hunk is the whole file. ``edit``: the change is this ``edit_file``, tried first as an
    edit of ``current`` (``how == "edit"``) when its ``old_string`` matches exactly as it
    did (once, or ``replace_all``).

    Raises:
        OpError: ``timeout`` (``should_stop``), as :func:`merge_texts`.
    """
    if base is None or current is None or proposed is None:
        whole = Hunk(
            start=1,
            end=len(_split_lines(current or "")),
            base=tuple(_split_lines(base or "")),
            current=tuple(_split_lines(current or "")),
            proposed=tuple(_split_lines(proposed or "")),
        )
        return MergeOutcome("conflict", None, (whole,), 1)
    if edit is not None:
        try:
            text = apply_edit(
                current, edit.old, edit.new, replace_all=edit.replace_all, max_bytes=max_bytes
            )
        except OpError:
            pass  # no longer matches exactly (or twice): merged as whole texts
        else:
            return MergeOutcome("edit", text)
    return merge_texts(base, current, proposed, should_stop=should_stop)


def lines_span(hunks: Sequence[Hunk]) -> str:
    """``"lines 3-5"``, ``"line 3"``, ``"lines 3-5, 9"``: where the hunks are in the current
    file (an insertion point names the line it goes before)."""
    parts = []
    for h in hunks[:8]:
        end = max(h.end, h.start)
        parts.append(f"{h.start}" if end == h.start else f"{h.start}-{end}")
    more = f" and {len(hunks) - 8} more" if len(hunks) > 8 else ""
    word = "line" if len(parts) == 1 and "-" not in parts[0] else "lines"
    return f"{word} {', '.join(parts)}{more}"


def conflict_text(path: str, hunks: Sequence[Hunk]) -> str:
    """The conflicting hunks as ``git merge-file --diff3`` marks them, each headed by its line
    numbers in the current file of ``path``."""
    out = [f"# conflict in {lines_span(hunks)} of {path} (current file)\n"]
    for h in hunks:
        out.append(f"@@ current lines {h.start}-{max(h.end, h.start)} @@\n")
        for mark, lines in (
            ("<<<<<<< current (the host's)", h.current),
            ("||||||| base (when proposed)", h.base),
            ("======= proposed", h.proposed),
        ):
            out.append(mark + "\n")
            out.extend(line if line.endswith("\n") else line + "\n" for line in lines)
        out.append(">>>>>>> end\n")
    return "".join(out)


def merge_data(kind: str, base_text: str | None, edit: Edit | None) -> MergeData | None:
    """What a write or edit of ``base_text`` keeps for a three-way merge at approval (issue
    17 part 2): the base, compressed, up to ``MAX_MERGE_BASE_BYTES`` (None past it, for a
    create, a delete or a move: those conflict whenever the file moved on). Worker work:
    ~50 ms a MiB."""
    if kind not in ("write", "edit") or base_text is None:
        return None
    if len(base_text) > limits.MAX_MERGE_BASE_BYTES:  # characters <= bytes: cheap check first
        return None
    raw = base_text.encode("utf-8")
    if len(raw) > limits.MAX_MERGE_BASE_BYTES:
        return None
    packed_edit = pack_edit(edit) if edit is not None else None
    return MergeData(pack_text(base_text), packed_edit)
