"""search_files and find_files: literals, RE2 regexes, globs, caps and what guests may not see."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from letswork.hub.workspace import Workspace
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.limits import MAX_SEARCH_SKIPPED_NAMED
from tests.hub.workspace.helpers import _code, _write

# ------------------------------------------------------------------------------- search


@pytest.fixture(params=["python", "ripgrep"])
def ws(root: Path, request: pytest.FixtureRequest) -> Workspace:
    """Every test here on both search engines; ripgrep however few the files."""
    ws = Workspace(root)
    ws.search_engine = request.param
    ws.rg_min_files = 0
    return ws


@pytest.fixture
def code_root(root: Path) -> Path:
    _write(root, "src/calc.py", "def add(a, b):\n    return a + b\n# ADD more\nx = a.c\n")
    _write(root, "src/util.ts", "export const add = 1;\n")
    _write(root, "docs/guide.md", "Use add() to add.\n")
    return root


def test_search_literal_does_not_treat_dots_as_wildcards(ws: Workspace, code_root: Path) -> None:
    result = ws.search_files("a.c", path="src", is_host=False)
    assert [(m.path, m.line, m.text) for m in result.matches] == [("src/calc.py", 4, "x = a.c")]


def test_search_regex_uses_the_pattern(ws: Workspace, code_root: Path) -> None:
    result = ws.search_files(r"^def \w+\(", regex=True, is_host=False)
    assert [(m.path, m.line) for m in result.matches] == [("src/app.py", 1), ("src/calc.py", 1)]


def test_search_is_case_insensitive_by_default(ws: Workspace, code_root: Path) -> None:
    result = ws.search_files("add", path="src/calc.py", is_host=False)
    assert [m.line for m in result.matches] == [1, 3]


def test_search_case_sensitive_option(ws: Workspace, code_root: Path) -> None:
    result = ws.search_files("ADD", path="src", case_sensitive=True, is_host=False)
    assert [(m.path, m.line) for m in result.matches] == [("src/calc.py", 3)]


def test_search_gives_one_match_per_line(ws: Workspace, code_root: Path) -> None:
    result = ws.search_files("add", path="docs", is_host=False)
    assert [(m.path, m.line, m.text) for m in result.matches] == [
        ("docs/guide.md", 1, "Use add() to add.")
    ]


def test_search_glob_filters_by_path(ws: Workspace, code_root: Path) -> None:
    result = ws.search_files("add", glob="*.ts", is_host=False)
    assert {m.path for m in result.matches} == {"src/util.ts"}
    anchored = ws.search_files("add", glob="src/**", is_host=False)
    assert {m.path for m in anchored.matches} == {"src/calc.py", "src/util.ts"}


def test_search_truncates_at_max_results(ws: Workspace, root: Path) -> None:
    _write(root, "many.txt", "hit\n" * 50)
    result = ws.search_files("hit", max_results=7, is_host=False)
    assert len(result.matches) == 7
    assert result.truncated
    assert [m.line for m in result.matches] == list(range(1, 8))


def test_search_that_finds_everything_below_the_cap_is_not_truncated(
    ws: Workspace, root: Path
) -> None:
    _write(root, "many.txt", "hit\n" * 7)
    result = ws.search_files("hit", max_results=7, is_host=False)
    assert (len(result.matches), result.truncated) == (7, False)


def test_search_with_an_invalid_regex_is_invalid(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.search_files("(unclosed", regex=True, is_host=False)
    assert _code(info) == ErrorCode.INVALID
    assert "missing )" in info.value.message


def test_search_skips_binary_files_silently_and_names_the_oversize_ones_with_their_size(
    root: Path,
) -> None:
    ws = Workspace(root, max_file_bytes=100)
    ws.max_text_bytes = 100
    (root / "bin.dat").write_bytes(b"needle\x00")
    (root / "big.txt").write_bytes(b"needle\n" * 100)
    (root / "bad.txt").write_bytes(b"needle \xff\n")
    _write(root, "good.txt", "needle\n")
    result = ws.search_files("needle", is_host=True)
    alone = ws.search_files("needle", path="big.txt", is_host=True)
    assert [m.path for m in result.matches] == ["good.txt"]
    assert [(f.path, f.size, f.reason) for f in result.skipped] == [("big.txt", 700, "too_large")]
    assert result.skipped_count == 1
    assert [(f.path, f.size) for f in alone.skipped] == [("big.txt", 700)]


def test_search_names_at_most_its_cap_of_skipped_files_and_counts_them_all(root: Path) -> None:
    ws = Workspace(root)
    ws.max_text_bytes = 10
    (root / "big").mkdir()
    for i in range(MAX_SEARCH_SKIPPED_NAMED + 5):
        (root / "big" / f"{i:03}.txt").write_bytes(b"needle needle\n")
    result = ws.search_files("needle", path="big", is_host=False)
    assert [f.path for f in result.skipped] == [
        f"big/{i:03}.txt" for i in range(MAX_SEARCH_SKIPPED_NAMED)
    ]
    assert result.skipped_count == MAX_SEARCH_SKIPPED_NAMED + 5
    assert result.files_scanned == 0


def test_search_line_numbers_match_read_file_offsets(ws: Workspace, root: Path) -> None:
    _write(root, "mixed.txt", "α\r\nβ\x0cγ\nfind me\n")
    (match,) = ws.search_files("find", is_host=False).matches
    page = ws.read_file("mixed.txt", offset=match.line - 1, limit=1, is_host=False)
    assert page.text == "find me\n"
    assert match.text == "find me"


def test_search_handles_non_ascii_text_case_insensitively(ws: Workspace, root: Path) -> None:
    _write(root, "de.txt", "Größe\nÄRGER\n")
    result = ws.search_files("ärger", is_host=False)
    assert [(m.line, m.text) for m in result.matches] == [(2, "ÄRGER")]


def test_search_literal_matches_letters_that_fold_to_ascii(ws: Workspace, root: Path) -> None:
    _write(root, "fold.txt", "500 \u212a\nplain\nmi\u017fs\n")
    hits = ws.search_files("k", path="fold.txt", is_host=False).matches
    assert [(m.line, m.text) for m in hits] == [(1, "500 \u212a")]
    hits = ws.search_files("MISS", path="fold.txt", is_host=False).matches
    assert [m.line for m in hits] == [3]


@pytest.mark.parametrize("case_sensitive", [False, True])
@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("add", "def add():\r\n  ADD\nAdd add\n"),
        ("ß", "Größe\nstraße und STRASSE\n"),
        ("needle", "é" * 400 + "NEEDLE" + "ü" * 400 + "\nneedle\n"),
        ("i", "İstanbul\nıi\nno\n"),
        ("a\nb", "xa\nby\na\nb\n"),
        ("x", "no newline at the end x"),
    ],
)
def test_search_literal_finds_what_the_escaped_regex_finds(
    ws: Workspace, root: Path, pattern: str, text: str, case_sensitive: bool
) -> None:
    _write(root, "t.txt", text)
    literal = ws.search_files(pattern, path="t.txt", case_sensitive=case_sensitive, is_host=True)
    regex = ws.search_files(
        re.escape(pattern), path="t.txt", regex=True, case_sensitive=case_sensitive, is_host=True
    )
    assert literal == regex
    assert literal.matches


def test_search_clips_very_long_lines(ws: Workspace, root: Path) -> None:
    _write(root, "min.js", "x" * 5000 + "needle" + "y" * 5000 + "\n")
    (match,) = ws.search_files("needle", is_host=False).matches
    assert "needle" in match.text
    assert len(match.text) <= 302


def test_search_does_not_report_the_empty_line_after_the_last_newline(
    ws: Workspace, root: Path
) -> None:
    _write(root, "two.txt", "a\nb\n")
    result = ws.search_files("$", path="two.txt", regex=True, is_host=False)
    assert [m.line for m in result.matches] == [1, 2]


def test_search_counts_the_text_files_it_scanned(ws: Workspace, root: Path) -> None:
    result = ws.search_files("anything", path="src", is_host=False)
    assert result.files_scanned == 1


def test_search_of_an_empty_pattern_is_invalid(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.search_files("", is_host=False)
    assert _code(info) == ErrorCode.INVALID


# ------------------------------------------------------------------------------- find


def test_find_files_glob_without_slash_matches_at_any_depth(ws: Workspace, code_root: Path) -> None:
    found, truncated = ws.find_files("*.py", is_host=False)
    assert found == ["src/app.py", "src/calc.py"]
    assert not truncated


def test_find_files_glob_is_relative_to_the_path(ws: Workspace, code_root: Path) -> None:
    assert ws.find_files("*.ts", path="src", is_host=False)[0] == ["src/util.ts"]
    assert ws.find_files("src/*.ts", path="src", is_host=False)[0] == []


def test_find_files_double_star_spans_folders(ws: Workspace, code_root: Path) -> None:
    assert ws.find_files("docs/**/*.md", is_host=False)[0] == ["docs/guide.md"]


def test_find_files_truncates_at_max_results(ws: Workspace, root: Path) -> None:
    for i in range(5):
        _write(root, f"gen/f{i}.txt", "x\n")
    found, truncated = ws.find_files("gen/*.txt", max_results=3, is_host=False)
    assert found == ["gen/f0.txt", "gen/f1.txt", "gen/f2.txt"]
    assert truncated


def test_search_does_not_name_a_big_file_unshared_after_the_walk_listed_it(root: Path) -> None:
    """Attack (issue 16): ``skipped`` names paths, so like a match it must be re-checked
    against the sharing policy: a file made unshared (or its folder swapped) between the
    walk's decision and the size check is not named to a guest."""
    ws = Workspace(root, max_file_bytes=100)
    ws.max_text_bytes = 100
    ws.search_engine = "python"
    (root / "secret-plans.txt").write_bytes(b"x\n" * 100)
    hidden = False

    def hide() -> bool:
        nonlocal hidden
        if not hidden:  # called for each listed file, before it is read: the race's window
            (root / ".gitignore").write_text("secret-plans.txt\n")
            hidden = True
        return False

    result = ws.search_files("needle", is_host=False, should_stop=hide)
    assert hidden
    assert [f.path for f in result.skipped] == []
    assert result.skipped_count == 0


def test_search_does_not_report_an_outside_files_size_through_a_swapped_folder(
    root: Path, tmp_path: Path
) -> None:
    """Attack (issue 16): a local process swaps a listed folder for a symlink out of the
    project between the walk and the size check; ``skipped`` must not report the outside
    file (its size, under the project's name)."""
    ws = Workspace(root, max_file_bytes=100)
    ws.max_text_bytes = 100
    ws.search_engine = "python"
    _write(root, "d/f.txt", "small\\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.txt").write_bytes(b"s" * 12345)
    swapped = False

    def swap() -> bool:
        nonlocal swapped
        if not swapped:
            (root / "d" / "f.txt").unlink()
            (root / "d").rmdir()
            (root / "d").symlink_to(outside)
            swapped = True
        return False

    for is_host in (False, True):
        swapped = False
        if (root / "d").is_symlink():
            (root / "d").unlink()
            _write(root, "d/f.txt", "small\\n")
        result = ws.search_files("needle", is_host=is_host, should_stop=swap)
        assert swapped
        assert [(f.path, f.size) for f in result.skipped] == []
