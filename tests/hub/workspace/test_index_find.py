"""``find_files`` from the index's file lists (issue 15): one RE2 scan of all the paths gives
what matching them one by one gives; the lists follow the index; the index's byte cap."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import re2
from hypothesis import given
from hypothesis import strategies as st

from letswork.hub.workspace import Workspace
from letswork.hub.workspace.index import FileList, IndexFull, TreeIndex
from letswork.hub.workspace.search import _glob_filter, _glob_lines
from letswork.hub.workspace.sharing import _Spec
from tests.hub.workspace.helpers import _write


def _indexed(root: Path, **kwargs: int) -> Workspace:
    ws = Workspace(root)
    index = TreeIndex(ws, **kwargs)
    index.build()
    ws.index = index
    return ws


def _scan_lines(glob: str, paths: list[str]) -> list[str]:
    """The paths :func:`_glob_lines` finds in ``paths`` joined one a line, a run of matching
    lines at a time, as find does."""
    quick = _glob_filter(glob)
    if quick is None:
        return []
    rx = _glob_lines(quick)
    assert rx is not None
    first, run = rx
    text = "".join(p + "\n" for p in paths).encode()
    found: list[str] = []
    pos = 0
    while pos < len(text):
        start = first.Match(re2._Anchor.UNANCHORED, text, pos, len(text))[0][0]
        if start < 0:
            break
        pos = run.Match(re2._Anchor.ANCHOR_START, text, start, len(text))[0][1]
        found += text[start : pos - 1].decode().split("\n")
    return found


_PART = st.sampled_from(["a", "b", "ab", ".py", "x.py", "a.b", "-", "é", "*", " "])
_PATHS = st.lists(st.lists(_PART, min_size=1, max_size=4).map("/".join), max_size=8)
_GLOB = st.one_of(
    st.sampled_from(["**/*.py", "*.py", "a/*", "a/**/b", "a/", "*", "**", "a?b", "[!a]*"]),
    st.lists(st.sampled_from(["a", "*", "/", "?", "**", "b", ".py", "[ab]", "é"]), min_size=1)
    .map("".join)
    .filter(lambda g: g.strip() != ""),
)


@given(_GLOB, _PATHS)
def test_a_glob_over_joined_lines_matches_exactly_the_lines_it_matches_one_by_one(
    glob: str, paths: list[str]
) -> None:
    try:
        quick = _Spec([glob]).quick
    except Exception:
        return  # refused by pathspec: find_files says invalid before any matching
    one_by_one = [p for p in paths if quick is not None and quick.match(p)]
    assert _scan_lines(glob, paths) == one_by_one


def test_a_glob_match_never_runs_across_a_line_end() -> None:
    # "[!/]*" would span "b\nc" were a line end an ordinary character.
    assert _scan_lines("a*c", ["ab", "c", "abc"]) == ["abc"]
    assert _scan_lines("a/**/c", ["a/b", "c/d", "a/x/c"]) == ["a/x/c"]
    assert _scan_lines("*", ["é", "b", "c/d"]) == ["é", "b", "c/d"]  # one run, no byte cut


def test_the_lines_below_a_folder_are_its_run_relative_to_it() -> None:
    listed = FileList(1, b"a/x\na/y/z\na-b/w\na.txt\nab/q\nb\n", frozenset())
    assert listed.under("a") == b"x\ny/z\n"
    assert listed.under("a/y") == b"z\n"
    assert listed.under("ab") == b"q\n"
    assert listed.under("c") == b""
    assert listed.under("") == listed.text


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = (tmp_path / "tree").resolve()
    for rel in ("a/x.py", "a/y.txt", "a-b/z.py", "b/.env", "b/c/w.py", ".gitignore"):
        _write(root, rel)
    (root / ".gitignore").write_text("*.txt\n")
    os.symlink("a/x.py", root / "link.py")
    return root


def test_the_file_lists_hold_each_peers_walk_in_walk_order(tree: Path) -> None:
    ws = _indexed(tree)
    assert ws.index is not None
    host = ws.index.file_list(is_host=True)
    guest = ws.index.file_list(is_host=False)
    assert host.text == b".gitignore\na/x.py\na/y.txt\na-b/z.py\nb/.env\nb/c/w.py\nlink.py\n"
    assert guest.text == b".gitignore\na/x.py\na-b/z.py\nb/c/w.py\nlink.py\n"
    assert guest.symlinks == frozenset({"link.py"})


def test_a_file_list_is_made_again_only_when_the_paths_change(tree: Path) -> None:
    ws = _indexed(tree)
    index = ws.index
    assert index is not None
    first = index.file_list(is_host=False)
    ws.write_atomic("a/x.py", b"new content\n")  # same paths: the list stays
    assert ws.find_files("*.py", is_host=False)[0] == ["a-b/z.py", "a/x.py", "b/c/w.py", "link.py"]
    assert index.file_list(is_host=False) is first
    ws.write_atomic("b/new.py", b"x\n")
    assert "b/new.py" in ws.find_files("*.py", is_host=False)[0]
    assert index.file_list(is_host=False) is not first


def test_a_guest_finds_no_symlink_whose_target_became_unshared(tree: Path) -> None:
    ws = _indexed(tree)
    assert ws.find_files("link.py", is_host=False)[0] == ["link.py"]
    (tree / "a" / "x.py").unlink()  # dangling now; the index has not been told
    assert ws.find_files("link.py", is_host=False)[0] == []
    assert ws.find_files("link.py", is_host=True)[0] == ["link.py"]


def test_an_index_over_its_path_bytes_turns_off_and_walks_answer(tree: Path) -> None:
    ws = Workspace(tree)
    index = TreeIndex(ws, max_path_bytes=20)
    with pytest.raises(IndexFull, match="bytes"):
        index.build()
    assert not index.ready
    ws.index = index
    assert ws.find_files("*", is_host=False) == Workspace(tree).find_files("*", is_host=False)


def test_an_update_over_the_path_bytes_turns_the_index_off(tree: Path) -> None:
    ws = Workspace(tree)
    full = TreeIndex(ws)
    full.build()
    index = TreeIndex(ws, max_path_bytes=full._path_bytes + 10)
    index.build()
    ws.index = index
    index.file_list(is_host=True)
    _write(tree, "a/a-long-enough-name.py")
    index.note("a/a-long-enough-name.py")
    assert ws.find_files("*.py", is_host=True) == Workspace(tree).find_files("*.py", is_host=True)
    assert not index.ready
    assert not index._lists  # its file lists are freed with it


def test_removed_entries_give_their_path_bytes_back(tree: Path) -> None:
    ws = _indexed(tree)
    index = ws.index
    assert index is not None
    before = index._path_bytes
    _write(tree, "b/c/d/e.py")
    index.note("b/c/d")
    index.sync()
    assert index._path_bytes == before + len("b/c/d") + len("b/c/d/e.py")
    ws.delete("b/c/d/e.py")
    (tree / "b" / "c" / "d").rmdir()
    index.note("b/c/d")
    index.sync()
    assert index._path_bytes == before


@pytest.mark.parametrize("glob", ["*\n*", "a\n", "*.py\n!*", "**/\n", "\n*"])
def test_a_glob_holding_a_line_end_answers_as_a_walk_does(tree: Path, glob: str) -> None:
    fresh = Workspace(tree)
    for is_host in (True, False):
        try:
            walked = fresh.find_files(glob, is_host=is_host)
        except Exception as exc:  # refused the same way
            with pytest.raises(type(exc)):
                _indexed(tree).find_files(glob, is_host=is_host)
            continue
        assert _indexed(tree).find_files(glob, is_host=is_host) == walked


@pytest.mark.parametrize("window", [1, 12, 10**6])
def test_runs_taken_a_window_at_a_time_give_the_walks_answer(
    tree: Path, window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import letswork.hub.workspace.search as search_module

    for i in range(30):
        _write(tree, f"many/{i:02}.py")
    monkeypatch.setattr(search_module, "_RUN_WINDOW_BYTES", window)
    fresh = Workspace(tree)
    ws = _indexed(tree)
    for is_host in (True, False):
        for glob, cap in (("*", 1000), ("*", 7), ("*.py", 31), ("many/*", 30), ("many/*", 29)):
            found = ws.find_files(glob, is_host=is_host, max_results=cap)
            assert found == fresh.find_files(glob, is_host=is_host, max_results=cap)
        assert ws.find_files("*.py", path="many", is_host=is_host, max_results=5) == (
            fresh.find_files("*.py", path="many", is_host=is_host, max_results=5)
        )


def test_a_scan_without_matches_still_asks_should_stop_a_window_at_a_time(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A crafted glob can cost RE2 seconds per MiB of crafted paths (its DFA gives up): one
    # scan of a 64 MiB list for the first match would run far past the search deadline,
    # which the walk asked before every entry.
    import letswork.hub.workspace.search as search_module

    for i in range(30):
        _write(tree, f"many/{i:02}.py")
    monkeypatch.setattr(search_module, "_RUN_WINDOW_BYTES", 16)
    ws = _indexed(tree)
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 2

    for is_host in (True, False):
        asked.clear()
        assert ws.find_files("*.none", is_host=is_host, should_stop=stop) == ([], True)
        assert len(asked) == 3


def test_a_file_list_made_while_the_index_turns_off_is_not_kept(tree: Path) -> None:
    # A find made the guests' list while an update went over the cap: the update freed the
    # lists, then the find stored its own, kept for the rest of the session by an index that
    # no request reads (up to MAX_INDEX_PATH_BYTES).
    ws = Workspace(tree)
    full = TreeIndex(ws)
    full.build()
    index = TreeIndex(ws, max_path_bytes=full._path_bytes + 10)
    index.build()
    flattening, go = threading.Event(), threading.Event()
    flatten = index._flatten

    def held(generation: int, *, is_host: bool) -> FileList:
        made = flatten(generation, is_host=is_host)
        flattening.set()
        assert go.wait(10)
        return made

    index._flatten = held  # type: ignore[method-assign]
    finder = threading.Thread(target=index.file_list, kwargs={"is_host": False})
    finder.start()
    assert flattening.wait(10)
    _write(tree, "a/a-long-enough-name.py")
    index.note("a/a-long-enough-name.py")
    index.sync()  # over the cap: off, its lists freed
    assert not index.ready
    go.set()
    finder.join(10)
    assert not index.ready
    assert not index._lists


def test_a_find_compiles_its_glob_once(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pathspec compiles a glob with Python's re and RE2 compiles it again: up to a second
    # for a 1,024-character glob of wide classes ("[Ā-\uffff]" 200 times), on the one worker
    # guests' searches share.
    import letswork.hub.workspace.search as search_module

    made: list[str] = []

    class Counted(_Spec):
        def __init__(self, lines: list[str]) -> None:
            made.append(lines[0])
            super().__init__(lines)

    monkeypatch.setattr(search_module, "_Spec", Counted)
    for ws in (Workspace(tree), _indexed(tree)):
        made.clear()
        assert ws.find_files("*.py", is_host=False)[0] == [
            "a-b/z.py",
            "a/x.py",
            "b/c/w.py",
            "link.py",
        ]
        assert made == ["*.py"]
