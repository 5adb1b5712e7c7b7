"""Edits and diffs of text, with no disk: :func:`apply_edit`, :func:`unified_diff` (within
the diff budget ``limits.MAX_DIFF_STEPS``), :func:`cut_diff` and :func:`create_diff_head`."""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterator
from typing import AnyStr

from letswork.shared import limits
from letswork.shared.errors import ErrorCode, op_error

__all__ = ["apply_edit", "create_diff_head", "cut_diff", "fit_diff", "unified_diff"]


def _count_lines(text: AnyStr) -> int:
    """Lines in ``text``: split on ``\\n`` only; a final line without ``\\n`` counts."""
    if not text:
        return 0
    nl = "\n" if isinstance(text, str) else b"\n"
    return text.count(nl) + (0 if text.endswith(nl) else 1)


def _split_lines(text: str) -> list[str]:
    """``text`` split after each ``\\n`` (line ends kept, ``\\r\\n`` stays in its line)."""
    lines = [line + "\n" for line in text.split("\n")]
    last = lines.pop()[:-1]
    if last:
        lines.append(last)
    return lines


def apply_edit(
    text: str, old: str, new: str, *, replace_all: bool, max_bytes: int | None = None
) -> str:
    """Replace the exact string ``old`` with ``new`` in ``text``.

    Raises:
        OpError: ``invalid`` when ``old`` is empty or equals ``new``; ``no_match`` when ``old``
            does not occur; ``ambiguous`` when it occurs more than once and ``replace_all`` is
            false (``data["count"]`` holds the count); ``too_large`` when the result would
            have more than ``max_bytes`` characters (so more UTF-8 bytes), before it is built:
            a million one-character matches each replaced by 2 MiB would be 2 TiB.
    """
    if not old:
        raise op_error(ErrorCode.INVALID, "old_string is empty; give the exact text to replace")
    if old == new:
        raise op_error(ErrorCode.INVALID, "old_string and new_string are identical; nothing to do")
    count = text.count(old)
    if count == 0:
        hint = ""
        if "\r\n" in text and "\n" in old and "\r\n" not in old:
            hint = " (the file uses CRLF line endings)"
        raise op_error(
            ErrorCode.NO_MATCH,
            f"old_string was not found in the file{hint}; re-read the file and copy the text "
            "exactly, including whitespace",
        )
    if count > 1 and not replace_all:
        raise op_error(
            ErrorCode.AMBIGUOUS,
            f"old_string occurs {count} times; add surrounding lines to make it unique, "
            "or set replace_all",
            count=count,
        )
    chars = len(text) + count * (len(new) - len(old))
    if max_bytes is not None and chars > max_bytes:
        raise op_error(
            ErrorCode.TOO_LARGE,
            f"the edit would make the file {chars / 2**20:.1f}M characters long; the limit is "
            f"{max_bytes / 2**20:.1f} MiB",
            size=chars,
            limit=max_bytes,
        )
    return text.replace(old, new) if replace_all else text.replace(old, new, 1)


def _one_sided_diff(from_file: str, to_file: str, text: str, sign: str) -> str:
    """What difflib gives for a create or delete (every line added or removed), built directly:
    difflib's matcher costs milliseconds per 10 KiB and finds nothing here. The lines are
    prefixed with one ``replace`` rather than split and joined (1 MiB: ~1 ms, not ~6)."""
    body = sign + text.replace("\n", "\n" + sign)
    if text.endswith("\n"):
        body = body[:-1]  # no sign after the last line ending
    else:
        body += "\n\\ No newline at end of file\n"
    return _one_sided_header(from_file, to_file, text, sign) + body


def _one_sided_header(from_file: str, to_file: str, text: str, sign: str) -> str:
    """The three header lines of :func:`_one_sided_diff` (the hunk counts all of ``text``)."""
    n = _count_lines(text)
    span = "1" if n == 1 else f"1,{n}"
    hunk = f"@@ -0,0 +{span} @@\n" if sign == "+" else f"@@ -{span} +0,0 @@\n"
    return f"--- {from_file}\n+++ {to_file}\n{hunk}"


def unified_diff(
    path: str, old: str | None, new: str | None, *, new_path: str | None = None
) -> str:
    """A unified diff from ``old`` to ``new`` with ``a/path`` and ``b/path`` headers.

    ``old=None`` is a create (``--- /dev/null``), ``new=None`` a delete (``+++ /dev/null``),
    ``new_path`` a move. A last line without a newline is marked the way git marks it. An
    unchanged file at the same path gives ``""``; a create, delete or move always has headers.
    """
    from_file = "/dev/null" if old is None else f"a/{path}"
    to_file = "/dev/null" if new is None else f"b/{new_path if new_path is not None else path}"
    if (not old) != (not new):
        return _one_sided_diff(from_file, to_file, old or new or "", "-" if old else "+")
    skipped = 0
    if old and new and min(len(old), len(new)) > _TRIM_OVER:
        skipped, old, new = _trim_common(old, new)
    old_lines = _split_lines(old or "")
    new_lines = _split_lines(new or "")
    out: list[str] = []
    for line in _unified_lines(old_lines, new_lines, from_file, to_file, skipped):
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    if out:
        return "".join(out)
    if old is None or new is None or (new_path is not None and new_path != path):
        return f"--- {from_file}\n+++ {to_file}\n"
    return ""


#: Texts longer than this (characters) are diffed without their common head and tail, bar the
#: context lines: an edit of one line of a 64 MiB file splits and matches a few lines, not
#: millions (issue 16).
_TRIM_OVER = 256 * 1024
#: Characters compared at a time while looking for the common head and tail.
_TRIM_STEP = 64 * 1024
_CONTEXT = 3


def _common_head(a: str, b: str) -> int:
    """Length of the common prefix of ``a`` and ``b`` (compared _TRIM_STEP at a time)."""
    end = min(len(a), len(b))
    pos = 0
    while pos < end and a[pos : pos + _TRIM_STEP] == b[pos : pos + _TRIM_STEP]:
        pos += _TRIM_STEP
    stop = min(end, pos + _TRIM_STEP)
    while pos < stop and a[pos] == b[pos]:
        pos += 1
    return min(pos, end)


def _common_tail(a: str, b: str, limit: int) -> int:
    """Length of the common suffix of ``a`` and ``b``, at most ``limit``."""
    n = 0
    la, lb = len(a), len(b)
    while n < limit:
        step = min(_TRIM_STEP, limit - n)
        if a[la - n - step : la - n] != b[lb - n - step : lb - n]:
            break
        n += step
    else:
        return n
    while n < limit and a[la - n - 1] == b[lb - n - 1]:
        n += 1
    return n


def _trim_common(a: str, b: str) -> tuple[int, str, str]:
    """``a`` and ``b`` without the whole lines they share at their start and end, keeping
    _CONTEXT lines of each next to what differs: (lines dropped from the start, a, b)."""
    head = _common_head(a, b)
    start = a.rfind("\n", 0, head) + 1  # a line start within the common head
    for _ in range(_CONTEXT):
        if start == 0:
            break
        start = a.rfind("\n", 0, start - 1) + 1
    tail = _common_tail(a, b, min(len(a), len(b)) - start)
    stop = a.find("\n", len(a) - tail) + 1 if tail else 0  # after a newline of the tail
    if stop == 0:
        stop = len(a)
    for _ in range(_CONTEXT):
        if stop >= len(a):
            break
        nxt = a.find("\n", stop)
        stop = len(a) if nxt < 0 else nxt + 1
    stop_b = stop - len(a) + len(b)
    return a.count("\n", 0, start), a[start:stop], b[start:stop_b]


class _CostlyDiff(Exception):
    """The diff needs more of difflib's work than ``limits.MAX_DIFF_STEPS``."""


class _BudgetMatcher(difflib.SequenceMatcher[str]):
    """difflib's matcher (autojunk on, as in ``difflib.unified_diff``), with a budget.

    Its cost is in ``find_longest_match``, which scans, for each line of ``a`` in its range,
    every position of that line in ``b``: quadratic for texts whose lines recur often (a
    1 MiB file with every tenth line changed took 15 s). Each call is charged that count
    (an upper bound of its work) before it runs, and raises :class:`_CostlyDiff` once the
    diff's ``steps`` are spent; a call is never cut midway, so none runs past the budget.
    """

    # difflib's own attributes, which typeshed does not declare
    b2j: dict[str, list[int]]
    matching_blocks: list[difflib.Match] | None
    opcodes: list[tuple[str, int, int, int, int]] | None

    def __init__(self, a: list[str], b: list[str], steps: int) -> None:
        super().__init__(None, a, b)
        b2j = self.b2j
        self._cost = [0, *itertools.accumulate(len(b2j.get(line, ())) + 1 for line in a)]
        self._size = len(a)
        self._left = steps

    def find_longest_match(
        self, alo: int = 0, ahi: int | None = None, blo: int = 0, bhi: int | None = None
    ) -> difflib.Match:
        high = self._size if ahi is None else ahi
        self._left -= self._cost[high] - self._cost[alo]
        if self._left < 0:
            raise _CostlyDiff
        return super().find_longest_match(alo, high, blo, bhi)


def _unified_lines(
    a: list[str], b: list[str], from_file: str, to_file: str, skipped: int = 0
) -> Iterator[str]:
    """``difflib.unified_diff(a, b, from_file, to_file)`` within ``limits.MAX_DIFF_STEPS``;
    past them, one hunk from the first line that differs to the last (the lines around
    them as context), which still shows every change. ``skipped``: lines before ``a`` and
    ``b`` that the hunks' line numbers count."""
    matcher = _BudgetMatcher(a, b, limits.MAX_DIFF_STEPS)
    try:
        groups = list(matcher.get_grouped_opcodes(3))
    except _CostlyDiff:
        end = min(len(a), len(b))
        head = next((i for i in range(end) if a[i] != b[i]), end)
        tail = next((i for i in range(end - head) if a[-1 - i] != b[-1 - i]), end - head)
        blocks = [difflib.Match(0, 0, head)] if head else []
        if tail:
            blocks.append(difflib.Match(len(a) - tail, len(b) - tail, tail))
        matcher.matching_blocks = [*blocks, difflib.Match(len(a), len(b), 0)]
        matcher.opcodes = None
        groups = list(matcher.get_grouped_opcodes(3))
    if not groups:
        return
    yield f"--- {from_file}\n"
    yield f"+++ {to_file}\n"
    for group in groups:
        first, last = group[0], group[-1]
        old_range = _unified_range(first[1] + skipped, last[2] + skipped)
        new_range = _unified_range(first[3] + skipped, last[4] + skipped)
        yield f"@@ -{old_range} +{new_range} @@\n"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                yield from (" " + line for line in a[i1:i2])
                continue
            if tag in ("replace", "delete"):
                yield from ("-" + line for line in a[i1:i2])
            if tag in ("replace", "insert"):
                yield from ("+" + line for line in b[j1:j2])


def _unified_range(start: int, stop: int) -> str:
    """A hunk's range as ``difflib`` writes it (``start`` is 0-based, ``stop`` exclusive)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if not length else start + 1},{length}"


def cut_diff(diff: str, max_chars: int) -> tuple[str, int]:
    """``diff`` cut after the last line end within ``max_chars`` (at ``max_chars`` if its first
    line is longer), and how many line ends follow the cut: ``(diff, 0)`` when it fits. Every
    non-empty diff ends with a line end, so a cut always leaves at least one."""
    if len(diff) <= max_chars:
        return diff, 0
    cut = diff.rfind("\n", 0, max_chars) + 1 or max_chars
    return diff[:cut], diff.count("\n", cut)


def fit_diff(diff: str, max_bytes: int) -> str:
    """``diff`` whole when its UTF-8 is at most ``max_bytes``, else its head (whole lines
    within ``max_bytes // 4`` characters) and a last line saying how many lines follow: a
    change to a file of up to 64 MiB (issue 16) can have a diff no reply could carry. The
    bytes are counted only for a diff that could be over them."""
    if len(diff) <= max_bytes // 4 or (
        len(diff) <= max_bytes and len(diff.encode("utf-8", "surrogatepass")) <= max_bytes
    ):
        return diff
    head, rest = cut_diff(diff, max_bytes // 4)
    return head + f"\\ letswork: the diff is cut here, {rest} more lines are not shown\n"


def create_diff_head(path: str, text: str, max_chars: int) -> tuple[str, int]:
    """``cut_diff(unified_diff(path, None, text), max_chars)``, without building the whole diff
    of a large new file: a proposal's reply shows only the head (1 MiB: ~2 ms saved)."""
    if len(text) <= max_chars:
        return cut_diff(unified_diff(path, None, text), max_chars)
    # The diff of a create maps each character of text in place, so the diff of a prefix of
    # more than max_chars characters holds the whole head; only the hunk header needs the
    # full line count, and the line ends after the cut are counted from the text.
    partial = _one_sided_header("/dev/null", f"b/{path}", text, "+")
    partial += "+" + text[:max_chars].replace("\n", "\n+")
    head, _ = cut_diff(partial, max_chars)
    total = 3 + text.count("\n") + (0 if text.endswith("\n") else 2)
    return head, total - head.count("\n")
