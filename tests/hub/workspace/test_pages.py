"""The page cache (issue 15, item 4): a page of a file version read before is a seek and a
read, and says exactly what a whole-file read says."""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from letswork.hub.workspace import Workspace, files, pages
from letswork.hub.workspace.diff import _count_lines
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.protocol.files import ReadFileResult

SETTLE = pages.SETTLE_SECONDS


@pytest.fixture(autouse=True, scope="module")
def cache_young_files() -> Iterator[None]:
    """The files here are written a moment before they are read: cache them at once, as if
    they were :data:`pages.SETTLE_SECONDS` old (the tests of that rule put it back)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pages, "SETTLE_SECONDS", 0.0)
        yield


@contextlib.contextmanager
def small_blocks() -> Iterator[None]:
    """7-byte blocks: every page of a short file crosses block boundaries."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pages, "BLOCK_BYTES", 7)
        yield


def fresh(root: Path, path: str, offset: int, limit: int | None) -> ReadFileResult:
    """The page as a workspace with an empty cache reads it (the whole-file way)."""
    return Workspace(root).read_file(path, offset=offset, limit=limit, is_host=True)


LINE = st.text(st.characters(codec="utf-8", exclude_characters="\n\x00"), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(LINE, max_size=30),
    last_newline=st.booleans(),
    offset=st.integers(0, 32),
    limit=st.none() | st.integers(0, 35),
)
def test_a_cached_page_is_the_page_a_whole_file_read_gives(
    lines: list[str], last_newline: bool, offset: int, limit: int | None
) -> None:
    text = "\n".join(lines) + ("\n" if last_newline and lines else "")
    with small_blocks(), tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        (root / "f.txt").write_bytes(text.encode("utf-8"))
        ws = Workspace(root)
        total = _count_lines(text)
        ws.read_file("f.txt", is_host=True)  # fills the cache
        if offset > total:
            with pytest.raises(OpError) as cached_error:
                ws.read_file("f.txt", offset=offset, limit=limit, is_host=True)
            with pytest.raises(OpError) as fresh_error:
                fresh(root, "f.txt", offset, limit)
            assert cached_error.value.message == fresh_error.value.message
            return
        cached = ws.read_file("f.txt", offset=offset, limit=limit, is_host=True)
        assert ws.pages.hits >= 1
        assert cached == fresh(root, "f.txt", offset, limit)


def test_a_second_page_of_the_same_version_is_served_from_the_cache(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("".join(f"line {i}\n" for i in range(20_000)), "utf-8")
    ws = Workspace(tmp_path)
    first = ws.read_file("big.txt", offset=0, limit=10, is_host=True)
    page = ws.read_file("big.txt", offset=15_000, limit=3, is_host=True)
    assert (ws.pages.misses, ws.pages.hits) == (1, 1)
    assert page.text == "line 15000\nline 15001\nline 15002\n"
    assert page.sha256 == first.sha256


def test_a_file_changed_since_is_read_whole_again(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("a\nb\n", "utf-8")
    ws = Workspace(tmp_path)
    ws.read_file("f.txt", is_host=True)
    path.write_text("a\nb\nc\n", "utf-8")
    page = ws.read_file("f.txt", offset=2, is_host=True)
    assert page.text == "c\n"
    assert page.total_lines == 3
    assert ws.pages.misses == 2


def test_a_binary_file_is_refused_the_same_way_from_the_cache(tmp_path: Path) -> None:
    (tmp_path / "b.bin").write_bytes(b"ok\n\xff\xfe\n")
    ws = Workspace(tmp_path)
    messages = []
    for _ in range(2):
        with pytest.raises(OpError) as caught:
            ws.read_file("b.bin", is_host=True)
        messages.append((caught.value.code, caught.value.message))
    assert ws.pages.hits == 1
    assert messages[0] == messages[1]
    assert "byte 0xff at offset 3" in messages[0][1]


def test_the_cache_keeps_to_its_bytes_and_entries() -> None:
    cache = pages.PageCache(max_bytes=10_000, max_entries=5)
    facts = pages.facts_of(b"x\n" * 1000)
    for i in range(50):
        cache.put((0, i, 0, 0, 0), facts)
        assert cache.used <= cache.max_bytes
        assert len(cache) <= cache.max_entries
    assert cache.get((0, 49, 0, 0, 0)) is facts
    assert cache.get((0, 0, 0, 0, 0)) is None


def test_the_least_recently_read_version_is_evicted_first() -> None:
    cache = pages.PageCache(max_entries=2)
    facts = pages.facts_of(b"x\n")
    cache.put((0, 1, 0, 0, 0), facts)
    cache.put((0, 2, 0, 0, 0), facts)
    cache.get((0, 1, 0, 0, 0))
    cache.put((0, 3, 0, 0, 0), facts)
    assert cache.get((0, 2, 0, 0, 0)) is None
    assert cache.get((0, 1, 0, 0, 0)) is facts


@contextlib.contextmanager
def mapped(path: Path) -> Iterator[mmap.mmap]:
    """``path`` mapped shared and writable, its first page already dirty: a later write to
    that page stamps no new mtime or ctime (the kernel marks time on the page fault)."""
    fd = os.open(path, os.O_RDWR)
    try:
        with mmap.mmap(fd, 0) as mapping:
            mapping[0:1] = mapping[0:1]
            yield mapping
    finally:
        os.close(fd)


def test_a_write_through_mmap_is_not_served_from_the_cache(tmp_path: Path) -> None:
    # Found attacking issue 15: a write through a shared mapping keeps the version key, so the
    # cached facts said "text" and the page was served with the NUL a fresh read refuses.
    path = tmp_path / "f.txt"
    path.write_bytes(b"hello\nworld\n" * 1000)
    ws = Workspace(tmp_path)
    with pytest.MonkeyPatch.context() as patch, mapped(path) as mapping:
        patch.setattr(pages, "SETTLE_SECONDS", SETTLE)
        ws.read_file("f.txt", is_host=True)
        assert len(ws.pages) == 0  # a version seconds old is not trusted to its key
        mapping[1:2] = b"\x00"
        key_then = pages.version_key(os.stat(path))
        with pytest.raises(OpError) as caught:
            ws.read_file("f.txt", offset=0, limit=1, is_host=True)
    assert pages.version_key(os.stat(path)) == key_then
    assert caught.value.code == ErrorCode.BINARY_FILE


def test_a_cached_page_that_holds_a_nul_byte_is_read_whole_and_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"hello\nworld\n" * 1000)
    ws = Workspace(tmp_path)
    with mapped(path) as mapping:
        ws.read_file("f.txt", is_host=True)
        key = pages.version_key(os.stat(path))
        assert ws.pages.get(key) is not None
        mapping[1:2] = b"\x00"  # unseen: the key stays
        assert pages.version_key(os.stat(path)) == key
        with pytest.raises(OpError) as caught:
            ws.read_file("f.txt", offset=0, limit=1, is_host=True)
    assert caught.value.code == ErrorCode.BINARY_FILE


def test_only_versions_older_than_the_settle_time_are_settled() -> None:
    now = time.time_ns()
    ago = int(SETTLE * 1e9) + 10**9
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pages, "SETTLE_SECONDS", SETTLE)
        assert pages.settled((0, 0, 0, now - ago, now - ago))
        assert not pages.settled((0, 0, 0, now - ago, now))  # ctime: written just now
        assert not pages.settled((0, 0, 0, now, now - ago))
        assert not pages.settled((0, 0, 0, now + ago, now + ago))  # stamped in the future
        cache = pages.PageCache()
        cache.put((0, 1, 0, now, now), pages.facts_of(b"x\n"))
        assert len(cache) == 0


def test_a_file_cut_short_while_its_cached_page_is_read_gives_the_fresh_page(
    tmp_path: Path,
) -> None:
    # Found attacking issue 15: the version was checked before the page's reads only, so a
    # file truncated in between gave a short page with the old version's line counts.
    path = tmp_path / "f.txt"
    path.write_text("".join(f"line {i}\n" for i in range(5000)), "utf-8")
    ws = Workspace(tmp_path)
    ws.read_file("f.txt", is_host=True)
    line_start = files.line_start
    cut = 0

    def cut_after_finding_the_page(fd: int, facts: pages.FileFacts, line: int) -> int:
        nonlocal cut
        found = line_start(fd, facts, line)
        cut += 1
        if cut == 2:  # both ends found: a writer truncates the file before the page is read
            os.truncate(path, 1000)
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(files, "line_start", cut_after_finding_the_page)
        with pytest.raises(OpError) as caught:
            ws.read_file("f.txt", offset=3000, limit=10, is_host=True)
    with pytest.raises(OpError) as fresh_error:
        fresh(tmp_path, "f.txt", 3000, 10)
    assert cut == 2
    assert caught.value.message == fresh_error.value.message


def test_a_file_rewritten_while_its_cached_page_is_read_gives_the_fresh_page(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f.txt"
    path.write_text("".join(f"line {i}\n" for i in range(5000)), "utf-8")
    ws = Workspace(tmp_path)
    ws.read_file("f.txt", is_host=True)
    line_start = files.line_start
    calls = 0

    def rewrite_after_finding_the_page(fd: int, facts: pages.FileFacts, line: int) -> int:
        nonlocal calls
        found = line_start(fd, facts, line)
        calls += 1
        if calls == 2:  # other line ends, written in place: the size stays
            with open(path, "r+b") as f:
                f.write(b"x" * 9 + b"\n" * 4000)
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(files, "line_start", rewrite_after_finding_the_page)
        page = ws.read_file("f.txt", offset=3000, limit=2, is_host=True)
    assert calls == 2
    assert page == fresh(tmp_path, "f.txt", 3000, 2)


# Attacks on the cache that found nothing (issue 15), kept so that they keep finding nothing.


def test_a_path_no_longer_shared_is_refused_though_its_version_is_cached(tmp_path: Path) -> None:
    (tmp_path / "s.txt").write_text("secret\n" * 2000, "utf-8")
    ws = Workspace(tmp_path)
    ws.read_file("s.txt", is_host=False)
    (tmp_path / ".letsworkignore").write_text("s.txt\n", "utf-8")
    ws.rules.reload()
    with pytest.raises(OpError) as caught:
        ws.read_file("s.txt", offset=10, limit=1, is_host=False)
    assert caught.value.code == ErrorCode.NOT_SHARED
    assert ws.read_file("s.txt", offset=10, limit=1, is_host=True).text == "secret\n"


def test_a_cached_path_swapped_for_a_symlink_or_a_fifo_reads_as_a_fresh_read_does(
    tmp_path: Path,
) -> None:
    project = tmp_path / "p"
    project.mkdir()
    path = project / "a.txt"
    path.write_text("a\n" * 10, "utf-8")
    (project / "other.txt").write_text("b\n" * 10, "utf-8")
    (tmp_path / "outside.txt").write_text("c\n" * 10, "utf-8")
    ws = Workspace(project)

    def page(w: Workspace) -> object:
        try:
            return w.read_file("a.txt", offset=1, limit=1, is_host=False)
        except OpError as exc:
            return exc.code

    ws.read_file("a.txt", is_host=False)  # both versions in the cache
    ws.read_file("other.txt", is_host=False)
    swaps = {
        "inside": lambda: path.symlink_to(project / "other.txt"),
        "outside": lambda: path.symlink_to(tmp_path / "outside.txt"),
        "fifo": lambda: os.mkfifo(path),
    }
    for name, swap in swaps.items():
        path.unlink()
        swap()
        got = page(ws)
        assert got == page(Workspace(project)), name
        assert not (isinstance(got, ReadFileResult) and got.text == "c\n"), name


@pytest.mark.parametrize(
    "data",
    [
        b"a\r\n" * 3000 + b"\xff\n",  # not UTF-8 only past the first blocks
        b"a\r\nb\r\n" * 3000,  # CRLF
        b"x" * 9000,  # no newline at all, over two blocks
        b"",
        "\u00e9\u2028\n".encode() * 3000,  # multi-byte characters across block ends
        b"\n" * 9000,
    ],
    ids=["bad-utf8-late", "crlf", "no-newline", "empty", "multibyte", "newlines"],
)
def test_odd_files_give_from_the_cache_what_a_whole_read_gives(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "f").write_bytes(data)
    ws = Workspace(tmp_path)

    def page(w: Workspace, offset: int, limit: int | None) -> object:
        try:
            return w.read_file("f", offset=offset, limit=limit, is_host=True)
        except OpError as exc:
            return (exc.code, exc.message)

    for offset, limit in [(0, None), (0, 1), (1, 3), (2999, 5), (4000, 2), (9000, None)]:
        first = page(ws, offset, limit)
        assert page(ws, offset, limit) == first == page(Workspace(tmp_path), offset, limit)
    assert ws.pages.hits > 0


def test_pages_read_by_eight_threads_through_evictions_are_the_file_s(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("".join(f"l{i}\n" for i in range(50_000)), "utf-8")
    for i in range(5):
        (tmp_path / f"o{i}.txt").write_text(f"{i}\n" * 100, "utf-8")
    ws = Workspace(tmp_path)
    ws.pages = pages.PageCache(max_entries=3)  # every few reads evict
    wrong: list[object] = []

    def reader(k: int) -> None:
        for j in range(300):
            try:
                if j % 2:
                    got = ws.read_file("t.txt", offset=j * 97, limit=2, is_host=True).text
                    want = f"l{j * 97}\nl{j * 97 + 1}\n"
                else:
                    got = ws.read_file(
                        f"o{(j + k) % 5}.txt", offset=j % 100, limit=1, is_host=True
                    ).text
                    want = f"{(j + k) % 5}\n"
                if got != want:
                    wrong.append((got, want))
            except Exception as exc:
                wrong.append(exc)

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert len(ws.pages) <= 3
    assert ws.pages.hits > 0
