"""Three-way merges of a pending change with the file as it is now (issue 17, part 2):
``letswork.hub.merging``, with no hub."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from letswork.hub import merging
from letswork.hub.merging import Edit, merge_change
from letswork.shared.errors import ErrorCode, OpError

BASE = "".join(f"line {i}\n" for i in range(1, 11))


def _with(text: str, number: int, new: str | None) -> str:
    """``text`` with line ``number`` (1-based) replaced by ``new`` (None: removed)."""
    lines = text.splitlines(keepends=True)
    lines[number - 1 : number] = [] if new is None else [new]
    return "".join(lines)


# (what, current, proposed, expected: the merged text, or the conflict's lines "a-b")
MERGE_TABLE = [
    (
        "guest and host change different places: clean",
        _with(BASE, 2, "host 2\n"),
        _with(BASE, 9, "guest 9\n"),
        _with(_with(BASE, 2, "host 2\n"), 9, "guest 9\n"),
    ),
    (
        "host appends, guest changes the first line: clean",
        BASE + "host 11\n",
        _with(BASE, 1, "guest 1\n"),
        _with(BASE, 1, "guest 1\n") + "host 11\n",
    ),
    (
        "both make the same change: clean, once",
        _with(BASE, 5, "same\n"),
        _with(BASE, 5, "same\n"),
        _with(BASE, 5, "same\n"),
    ),
    (
        "both change line 5 differently: conflict",
        _with(BASE, 5, "host\n"),
        _with(BASE, 5, "guest\n"),
        "5",
    ),
    (
        "host removes lines the guest edits: conflict",
        _with(_with(BASE, 4, None), 4, None),
        _with(BASE, 5, "guest\n"),
        "4",
    ),
    ("a delete against the host's edit: conflict", _with(BASE, 3, "host\n"), None, "1-10"),
]


@pytest.mark.parametrize(
    ("current", "proposed", "expected"),
    [row[1:] for row in MERGE_TABLE],
    ids=[row[0] for row in MERGE_TABLE],
)
def test_merge_table(current: str, proposed: str | None, expected: str) -> None:
    out = merge_change(BASE, current, proposed)
    if "\n" in expected:
        assert (out.how, out.text) == ("merged", expected)
    else:
        assert out.how == "conflict" and out.text is None
        assert merging.lines_span(out.hunks) in (f"lines {expected}", f"line {expected}")


def test_conflict_hunk_holds_base_current_and_proposed_lines() -> None:
    out = merge_change(BASE, _with(BASE, 5, "host\n"), _with(BASE, 5, "guest\n"))
    (hunk,) = out.hunks
    assert (hunk.start, hunk.end) == (5, 5)
    assert (hunk.base, hunk.current, hunk.proposed) == (("line 5\n",), ("host\n",), ("guest\n",))
    text = merging.conflict_text("a.py", out.hunks)
    assert text.startswith("# conflict in line 5 of a.py")
    assert "<<<<<<< current" in text and "======= proposed\nguest\n" in text


def test_edit_that_still_matches_is_reapplied_as_an_edit_not_merged() -> None:
    # The host rewrote line 9 next to the guest's line 8: a line merge would conflict
    # (adjacent changes), the edit still applies exactly.
    current = _with(BASE, 9, "host 9\n")
    proposed = _with(BASE, 8, "guest 8\n")
    assert merge_change(BASE, current, proposed).how == "conflict"
    out = merge_change(BASE, current, proposed, edit=Edit("line 8\n", "guest 8\n", False))
    assert (out.how, out.text) == ("edit", _with(current, 8, "guest 8\n"))


def test_edit_whose_old_string_is_gone_falls_back_to_a_line_merge() -> None:
    current = _with(BASE, 8, "host 8\n")
    proposed = _with(BASE, 8, "guest 8\n")
    out = merge_change(BASE, current, proposed, edit=Edit("line 8\n", "guest 8\n", False))
    assert out.how == "conflict" and out.hunks[0].start == 8


def test_create_onto_a_file_made_since_is_a_conflict() -> None:
    assert merge_change(None, "host's\n", "guest's\n").how == "conflict"


def test_merge_gives_up_with_timeout_when_its_deadline_passed() -> None:
    with pytest.raises(OpError) as err:
        merging.merge_texts(
            BASE, _with(BASE, 1, "x\n"), _with(BASE, 9, "y\n"), should_stop=lambda: True
        )
    assert err.value.code == ErrorCode.TIMEOUT


def test_packed_text_round_trips_and_is_smaller_for_source() -> None:
    text = BASE * 200
    blob = merging.pack_text(text)
    assert merging.unpack_text(blob) == text
    assert len(blob) * 3 < len(text.encode())


def test_unpack_refuses_a_blob_that_inflates_past_the_cap() -> None:
    blob = zlib.compress(b"x" * 5000)
    with pytest.raises(OpError) as err:
        merging.unpack_text(blob, max_bytes=4096)
    assert err.value.code == ErrorCode.INVALID


def test_base_over_the_cap_keeps_no_merge_data() -> None:
    assert (
        merging.merge_data("write", "x" * (merging.limits.MAX_MERGE_BASE_BYTES + 1), None) is None
    )
    kept = merging.merge_data("edit", BASE, Edit("line 1\n", "one\n", False))
    assert kept is not None and kept.base_z is not None and kept.edit_z is not None
    assert merging.unpack_edit(kept.edit_z) == Edit("line 1\n", "one\n", False)


@st.composite
def _disjoint_sides(
    draw: st.DrawFn,
) -> tuple[list[str], tuple[int, int, list[str]], tuple[int, int, list[str]]]:
    """A base of distinct lines and two changes (replace base[i:j] by new lines) whose line
    ranges neither overlap nor touch: at least one unchanged line lies between them."""
    n = draw(st.integers(min_value=3, max_value=40))
    base = [f"base {k}\n" for k in range(n)]
    i1 = draw(st.integers(0, n - 3))
    j1 = draw(st.integers(i1, min(n - 2, i1 + 5)))
    i2 = draw(st.integers(j1 + 1, n - 1))
    j2 = draw(st.integers(i2, min(n, i2 + 5)))
    if j1 == i1 and j2 == i2:  # two pure insertions: keep one changed line apart anyway
        j2 = min(n, i2 + 1)
    new1 = [f"host {k}\n" for k in range(draw(st.integers(0 if j1 > i1 else 1, 4)))]
    new2 = [f"guest {k}\n" for k in range(draw(st.integers(0 if j2 > i2 else 1, 4)))]
    return base, (i1, j1, new1), (i2, j2, new2)


@settings(max_examples=200, deadline=None)
@given(_disjoint_sides(), st.booleans())
def test_merge_of_disjoint_changes_holds_both_sides(
    case: tuple[list[str], tuple[int, int, list[str]], tuple[int, int, list[str]]],
    host_first: bool,
) -> None:
    base, (i1, j1, new1), (i2, j2, new2) = case
    first = base[:i1] + new1 + base[j1:]
    second = base[:i2] + new2 + base[j2:]
    both = base[:i1] + new1 + base[j1:i2] + new2 + base[j2:]
    current, proposed = (first, second) if host_first else (second, first)
    out = merge_change("".join(base), "".join(current), "".join(proposed))
    assert (out.how, out.text) == ("merged", "".join(both))


def test_merge_past_its_step_budget_aligns_head_and_tail_and_stays_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(merging.limits, "MAX_MERGE_DIFF_STEPS", 1)
    clean = merge_change(BASE, _with(BASE, 2, "host 2\n"), _with(BASE, 9, "guest 9\n"))
    assert clean.text == _with(_with(BASE, 2, "host 2\n"), 9, "guest 9\n")
    # Two changes in the middle: one coarse block each side, so a conflict, never a
    # merge that drops a side.
    both = merge_change(BASE, _with(_with(BASE, 3, "h3\n"), 8, "h8\n"), _with(BASE, 5, "g5\n"))
    assert both.how == "conflict" or (
        both.text is not None and all(s in both.text for s in ("h3", "h8", "g5"))
    )


@pytest.mark.parametrize(
    ("base", "current", "proposed", "merged"),
    [
        # Found attacking issue 17: difflib alone aligned the host's replaced first line as an
        # insertion plus a deletion of the last, and the merge kept a line both replaced.
        ("v\nv\nv\nv\n", "H\nv\nv\nv\n", "v\nv\nG\nv\n", "H\nv\nG\nv\n"),
        ("\n" * 8, "H\n" + "\n" * 7, "\n" * 6 + "G\n\n", "H\n" + "\n" * 5 + "G\n\n"),
        ("}\n\n}\n\n}\n", "x\n\n}\n\n}\n", "}\n\n}\n\ny\n", "x\n\n}\n\ny\n"),
    ],
)
def test_lines_that_recur_merge_each_sides_replacement_in_place(
    base: str, current: str, proposed: str, merged: str
) -> None:
    out = merging.merge_texts(base, current, proposed)
    assert (out.how, out.text) == ("merged", merged)
