"""apply_edit, unified_diff, and the head of a cut diff."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from letswork.hub.workspace.diff import apply_edit, create_diff_head, cut_diff, unified_diff
from letswork.shared.errors import ErrorCode, OpError
from tests.hub.workspace.helpers import _code

# ------------------------------------------------------------------------------- edits


def test_apply_edit_replaces_a_unique_occurrence() -> None:
    assert apply_edit("a = 1\nb = 2\n", "b = 2", "b = 3", replace_all=False) == "a = 1\nb = 3\n"


def test_apply_edit_without_a_match_is_no_match() -> None:
    with pytest.raises(OpError) as info:
        apply_edit("a = 1\n", "c = 3", "c = 4", replace_all=False)
    assert _code(info) == ErrorCode.NO_MATCH


def test_apply_edit_no_match_mentions_crlf_when_that_is_the_cause() -> None:
    with pytest.raises(OpError) as info:
        apply_edit("a\r\nb\r\n", "a\nb", "x", replace_all=False)
    assert "CRLF" in info.value.message


def test_apply_edit_with_several_matches_is_ambiguous_and_says_how_many() -> None:
    with pytest.raises(OpError) as info:
        apply_edit("x\nx\nx\n", "x", "y", replace_all=False)
    assert _code(info) == ErrorCode.AMBIGUOUS
    assert "3 times" in info.value.message
    assert "replace_all" in info.value.message
    assert info.value.data["count"] == 3


def test_apply_edit_replace_all_replaces_every_occurrence() -> None:
    assert apply_edit("x\nx\nx\n", "x", "y", replace_all=True) == "y\ny\ny\n"


def test_apply_edit_with_an_empty_old_string_is_invalid() -> None:
    with pytest.raises(OpError) as info:
        apply_edit("abc", "", "x", replace_all=False)
    assert _code(info) == ErrorCode.INVALID


# ------------------------------------------------------------------------------- diffs


def test_unified_diff_has_a_and_b_headers() -> None:
    diff = unified_diff("src/a.py", "one\ntwo\n", "one\nthree\n")
    assert diff.splitlines() == [
        "--- a/src/a.py",
        "+++ b/src/a.py",
        "@@ -1,2 +1,2 @@",
        " one",
        "-two",
        "+three",
    ]


def test_unified_diff_of_a_create_is_from_dev_null() -> None:
    assert unified_diff("n.txt", None, "hi\n").startswith("--- /dev/null\n+++ b/n.txt\n")


def test_unified_diff_of_a_delete_is_to_dev_null() -> None:
    assert unified_diff("n.txt", "hi\n", None).startswith("--- a/n.txt\n+++ /dev/null\n")


def test_unified_diff_of_a_pure_move_has_only_headers() -> None:
    assert unified_diff("a.txt", "x\n", "x\n", new_path="b.txt") == "--- a/a.txt\n+++ b/b.txt\n"


def test_unified_diff_marks_a_missing_final_newline() -> None:
    assert "\\ No newline at end of file\n" in unified_diff("a.txt", "x", "y\n")


def test_unified_diff_of_identical_text_is_empty() -> None:
    assert unified_diff("a.txt", "same\n", "same\n") == ""


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab\n\r é\u2028"), max_size=300),
    max_chars=st.integers(1, 120),
    path=st.sampled_from(["a.txt", "src/深い/x.py"]),
)
def test_the_head_of_a_new_files_diff_is_the_head_of_its_whole_diff(
    text: str, max_chars: int, path: str
) -> None:
    assert create_diff_head(path, text, max_chars) == cut_diff(
        unified_diff(path, None, text), max_chars
    )


def test_a_cut_diff_says_how_many_line_ends_it_left_out() -> None:
    diff = unified_diff("a.txt", None, "one\ntwo\nthree\n")
    assert cut_diff(diff, len(diff)) == (diff, 0)
    head, rest = cut_diff(diff, len(diff) - 1)
    assert diff.startswith(head) and head.endswith("\n")
    assert rest == diff.count("\n") - head.count("\n") == 1


def _stdlib_diff(old: str, new: str) -> str:
    import difflib as _difflib

    return "".join(
        _difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), "a/f", "b/f"
        )
    )


@pytest.mark.parametrize("where", [0, 1, 2, 3, 5000, 9996, 9997, 9998, 9999])
def test_the_diff_of_a_large_text_skips_its_common_head_and_tail_with_the_same_hunks(
    where: int,
) -> None:
    lines = [f"line {i:05} of a long file\n" for i in range(10_000)]  # ~280 KB, over the trim
    old = "".join(lines)
    new = "".join([*lines[:where], "changed\n", *lines[where + 1 :]])
    assert unified_diff("f", old, new) == _stdlib_diff(old, new)


def test_the_diff_of_a_large_text_counts_lines_before_an_insertion_and_a_deletion() -> None:
    lines = [f"row {i:06}\n" for i in range(40_000)]
    old = "".join(lines)
    inserted = "".join([*lines[:20_000], "new\n", *lines[20_000:]])
    deleted = "".join([*lines[:30_000], *lines[30_001:]])
    assert unified_diff("f", old, inserted) == _stdlib_diff(old, inserted)
    assert unified_diff("f", old, deleted) == _stdlib_diff(old, deleted)
    assert "@@ -19998,6 +19998,7 @@" in unified_diff("f", old, inserted)


def test_fit_diff_keeps_a_diff_within_its_bytes_whole_and_cuts_a_longer_one() -> None:
    from letswork.hub.workspace.diff import fit_diff

    diff = unified_diff("f", None, "".join(f"line {i}\n" for i in range(1000)))
    assert fit_diff(diff, len(diff.encode())) == diff
    cut = fit_diff(diff, 400)
    head, last = cut.rsplit("\\", 1)
    assert len(head) <= 100 and diff.startswith(head)
    rest = diff.count("\n") - head.count("\n")
    assert last == f" letswork: the diff is cut here, {rest} more lines are not shown\n"
    wide = "+" + "€" * 300 + "\n"  # 901 bytes of UTF-8 in 302 characters
    assert fit_diff(wide, 900) != wide
