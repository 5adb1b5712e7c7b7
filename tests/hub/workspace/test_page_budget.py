"""A page cut to the reader's character budget (``read_file`` ``max_chars``, issue 15 item 4):
the hub sends what the reader shows, no more, from the cache or from a whole read."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from letswork.hub.workspace import Workspace, files, pages
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.paging import cut_page


@pytest.fixture(autouse=True, scope="module")
def cache_young_files() -> Iterator[None]:
    """Files written a moment ago are cached at once (as in ``test_pages.py``)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pages, "SETTLE_SECONDS", 0.0)
        yield


LINE = st.text(st.characters(codec="utf-8", exclude_characters="\n\x00"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(LINE, max_size=20),
    last_newline=st.booleans(),
    offset=st.integers(0, 5),
    limit=st.none() | st.integers(1, 25),
    max_chars=st.integers(1, 120),
    cached=st.booleans(),
)
def test_a_budgeted_page_is_the_whole_page_cut_by_the_one_rule(
    lines: list[str],
    last_newline: bool,
    offset: int,
    limit: int | None,
    max_chars: int,
    cached: bool,
) -> None:
    text = "\n".join(lines) + ("\n" if last_newline and lines else "")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        (root / "f.txt").write_bytes(text.encode("utf-8"))
        whole = Workspace(root).read_file("f.txt", is_host=True)
        if offset > whole.total_lines:
            return
        ws = Workspace(root)
        if cached:
            ws.read_file("f.txt", is_host=True)
        page = ws.read_file("f.txt", offset=offset, limit=limit, max_chars=max_chars, is_host=True)
        assert ws.pages.hits == (1 if cached else 0)
        full = Workspace(root).read_file("f.txt", offset=offset, limit=limit, is_host=True)
    cut = cut_page(full.text, max_chars)
    kept, lines_kept, line_cut = cut if cut is not None else (full.text, full.lines, False)
    assert (page.text, page.lines, bool(page.line_cut)) == (kept, lines_kept, line_cut)
    assert page.line_cut is (True if line_cut else None)  # never sent as false
    assert len(page.text) <= max_chars
    assert page.truncated == (offset + page.lines < page.total_lines)
    assert (page.sha256, page.size, page.total_lines) == (
        full.sha256,
        full.size,
        full.total_lines,
    )


def test_a_first_line_longer_than_the_budget_gives_its_start_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("é" * 50 + "\nnext\n", "utf-8")
    page = Workspace(tmp_path).read_file("f.txt", max_chars=10, is_host=True)
    assert (page.text, page.lines, page.line_cut, page.truncated) == ("é" * 10, 1, True, True)


def test_without_a_budget_the_page_is_whole_and_never_marked(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x" * 70_000 + "\n", "utf-8")
    page = Workspace(tmp_path).read_file("f.txt", is_host=True)
    assert (len(page.text), page.line_cut) == (70_001, None)


def test_a_budget_under_one_is_invalid(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("a\n", "utf-8")
    with pytest.raises(OpError) as caught:
        Workspace(tmp_path).read_file("f.txt", max_chars=0, is_host=True)
    assert caught.value.code == ErrorCode.INVALID


def _bytes_read(ws: Workspace, **page: int) -> tuple[int, int]:
    """Bytes ``os.pread`` returned while ``ws`` read a page of ``f.txt``, and the page's
    length in characters."""
    seen = 0
    real = os.pread

    def counting(fd: int, n: int, at: int) -> bytes:
        nonlocal seen
        chunk = real(fd, n, at)
        seen += len(chunk)
        return chunk

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(files.os, "pread", counting)
        text = ws.read_file("f.txt", is_host=True, **page).text
    return seen, len(text)


@pytest.mark.parametrize("char", ["a", "é", "€", "😀"])
def test_a_cached_page_reads_only_the_bytes_of_the_characters_kept(
    tmp_path: Path, char: str
) -> None:
    (tmp_path / "f.txt").write_text((char * 99 + "\n") * 2500, "utf-8")
    ws = Workspace(tmp_path)
    ws.read_file("f.txt", limit=1, is_host=True)  # fills the cache
    seen, shown = _bytes_read(ws, offset=10, limit=2000, max_chars=60_000)
    assert shown == 60_000
    # the page (2,000 lines) is 200,000 characters; only what holds the 60,000 kept is read,
    # plus the two blocks that find its ends and at most one small read past the budget
    width = len(char.encode("utf-8"))
    assert seen <= 60_001 * width + 2 * pages.BLOCK_BYTES + 1024 * 4


def test_a_cached_page_cut_while_it_is_read_in_parts_gives_the_fresh_page(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f.txt"
    path.write_text("".join(f"lé {i:05} éé\n" for i in range(20_000)), "utf-8")
    ws = Workspace(tmp_path)
    ws.read_file("f.txt", limit=1, is_host=True)
    real = os.pread
    reads = 0

    def truncate_midway(fd: int, n: int, at: int) -> bytes:
        nonlocal reads
        reads += 1
        if reads == 4:  # the page's ends are found, its first part read: the file shrinks
            os.truncate(path, at - at % 15 + 5 * 15)  # whole lines: 15 bytes each
        return real(fd, n, at)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(files.os, "pread", truncate_midway)
        page = ws.read_file("f.txt", offset=100, limit=10_000, max_chars=3000, is_host=True)
    assert reads >= 4
    fresh = Workspace(tmp_path).read_file(
        "f.txt", offset=100, limit=10_000, max_chars=3000, is_host=True
    )
    assert page == fresh
