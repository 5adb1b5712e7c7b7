"""Listings, reads (pages, hashes, refusals), atomic writes, deletes and moves; and the
refusals the OS would not make on its own (found by bench/mutants.py)."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from letswork.hub.workspace import Workspace, files
from letswork.hub.workspace.disk import TEMP_PREFIX, sha256_hex
from letswork.hub.workspace.files import check_text
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.protocol.files import Entry
from tests.hub.workspace.helpers import SECRETS, SHARED, _code, _paths, _tmp_files, _write

# ------------------------------------------------------------------------------- listing


def test_list_files_is_sorted_and_shallow_by_default(ws: Workspace) -> None:
    entries, truncated = ws.list_files(is_host=False)
    assert [e.path for e in entries] == sorted(e.path for e in entries)
    assert all("/" not in e.path for e in entries)
    assert Entry(path="README.md", kind="file", size=len(SHARED["README.md"])) in entries
    assert Entry(path="src", kind="dir", size=0) in entries
    assert not truncated


def test_list_files_depth_limits_recursion(ws: Workspace, root: Path) -> None:
    _write(root, "a/b/c/d.txt", "x\n")
    paths = _paths(ws.list_files("a", depth=2, is_host=True)[0])
    assert paths == {"a/b", "a/b/c"}


def test_list_files_truncates_at_max_entries_keeping_shallow_ones(
    ws: Workspace, root: Path
) -> None:
    for i in range(5):
        _write(root, f"many/deep/f{i}.txt", "x\n")
    entries, truncated = ws.list_files("many", recursive=True, is_host=True, max_entries=2)
    assert truncated
    assert [e.path for e in entries] == ["many/deep", "many/deep/f0.txt"]


def test_list_files_of_a_file_gives_that_entry(ws: Workspace) -> None:
    entries, truncated = ws.list_files("src/app.py", is_host=False)
    assert entries == [Entry(path="src/app.py", kind="file", size=len(SHARED["src/app.py"]))]
    assert not truncated


def test_list_files_of_a_missing_path_is_not_found(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.list_files("nope", is_host=True)
    assert _code(info) == ErrorCode.NOT_FOUND


def test_list_files_does_not_follow_a_symlinked_folder(ws: Workspace, root: Path) -> None:
    (root / "srclink").symlink_to(root / "src", target_is_directory=True)
    paths = _paths(ws.list_files(recursive=True, is_host=True)[0])
    assert "srclink" in paths
    assert not any(p.startswith("srclink/") for p in paths)


def test_temp_files_are_never_listed(ws: Workspace, root: Path) -> None:
    _write(root, f"src/{TEMP_PREFIX}1234", "partial")
    assert not any(TEMP_PREFIX in p for p in _paths(ws.list_files(recursive=True, is_host=True)[0]))


# ------------------------------------------------------------------------------- reading


@pytest.fixture
def lines_file(root: Path) -> str:
    _write(root, "lines.txt", "".join(f"line {i}\n" for i in range(1, 11)))
    return "lines.txt"


def test_read_file_pages_by_offset_and_limit(ws: Workspace, lines_file: str) -> None:
    page = ws.read_file(lines_file, offset=2, limit=3, is_host=False)
    assert page.text == "line 3\nline 4\nline 5\n"
    assert (page.offset, page.lines, page.total_lines, page.truncated) == (2, 3, 10, True)


def test_read_file_last_page_is_not_truncated(ws: Workspace, lines_file: str) -> None:
    page = ws.read_file(lines_file, offset=8, limit=5, is_host=False)
    assert page.text == "line 9\nline 10\n"
    assert (page.lines, page.truncated) == (2, False)


def test_read_file_without_limit_returns_the_whole_file(ws: Workspace, lines_file: str) -> None:
    page = ws.read_file(lines_file, is_host=False)
    assert page.lines == page.total_lines == 10
    assert page.size == len(page.text.encode())
    assert not page.truncated


def test_read_file_counts_a_last_line_without_newline(ws: Workspace, root: Path) -> None:
    _write(root, "tail.txt", "a\nb")
    page = ws.read_file("tail.txt", offset=1, is_host=False)
    assert (page.text, page.total_lines) == ("b", 2)


def test_read_file_keeps_crlf_and_hashes_the_raw_bytes(ws: Workspace, root: Path) -> None:
    raw = b"one\r\ntwo\r\n"
    (root / "crlf.txt").write_bytes(raw)
    page = ws.read_file("crlf.txt", offset=1, is_host=False)
    assert page.text == "two\r\n"
    assert page.total_lines == 2
    assert page.sha256 == hashlib.sha256(raw).hexdigest()


def test_read_file_splits_lines_on_newline_only(ws: Workspace, root: Path) -> None:
    (root / "ff.py").write_bytes(b"a\x0cb\nc\rd\n")
    page = ws.read_file("ff.py", is_host=False)
    assert page.total_lines == 2


def test_read_file_of_an_empty_file_has_no_lines(ws: Workspace, root: Path) -> None:
    (root / "empty.txt").write_bytes(b"")
    page = ws.read_file("empty.txt", is_host=False)
    assert (page.text, page.lines, page.total_lines, page.truncated) == ("", 0, 0, False)


def test_read_file_offset_past_the_end_is_invalid(ws: Workspace, lines_file: str) -> None:
    with pytest.raises(OpError) as info:
        ws.read_file(lines_file, offset=11, is_host=False)
    assert _code(info) == ErrorCode.INVALID
    assert "10 lines" in info.value.message


def test_read_file_offset_at_the_end_gives_an_empty_page(ws: Workspace, lines_file: str) -> None:
    page = ws.read_file(lines_file, offset=10, is_host=False)
    assert (page.text, page.lines) == ("", 0)


def _model_lines(text: str) -> list[str]:
    """The lines of ``text`` as read_file defines them: ends at ``\\n`` only, a last line
    without one counts."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab\n\r é\u2028"), max_size=200),
    offset=st.integers(0, 45),
    limit=st.none() | st.integers(0, 45),
    scan=st.sampled_from([1, 3, 16, 1 << 16]),
)
def test_a_page_is_the_files_lines_from_offset_to_offset_plus_limit(
    text: str, offset: int, limit: int | None, scan: int
) -> None:
    # ASCII and other UTF-8 files take different paths; the scan step is how far the hub
    # counts line ends at a time while looking for a page's end.
    lines = _model_lines(text)
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(files, "_PAGE_SCAN", scan):
        (Path(tmp) / "f.txt").write_bytes(text.encode("utf-8"))
        ws = Workspace(Path(tmp))
        if offset > len(lines):
            with pytest.raises(OpError) as info:
                ws.read_file("f.txt", offset=offset, limit=limit, is_host=True)
            assert _code(info) == ErrorCode.INVALID
            return
        page = ws.read_file("f.txt", offset=offset, limit=limit, is_host=True)
    shown = lines[offset:] if limit is None else lines[offset : offset + limit]
    assert page.text == "".join(shown)
    assert (page.lines, page.total_lines) == (len(shown), len(lines))
    assert page.truncated == (offset + len(shown) < len(lines))
    assert page.sha256 == sha256_hex(text.encode("utf-8"))


def test_read_of_a_file_with_nul_is_binary_file(ws: Workspace, root: Path) -> None:
    (root / "img.bin").write_bytes(b"abc\x00def")
    with pytest.raises(OpError) as info:
        ws.read_text("img.bin", is_host=False)
    assert _code(info) == ErrorCode.BINARY_FILE


def test_read_of_invalid_utf8_is_binary_file(ws: Workspace, root: Path) -> None:
    (root / "latin1.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(OpError) as info:
        ws.read_file("latin1.txt", is_host=False)
    assert _code(info) == ErrorCode.BINARY_FILE
    assert "UTF-8" in info.value.message


def test_a_whole_read_over_the_size_limit_is_too_large_and_says_pages_work(root: Path) -> None:
    ws = Workspace(root, max_file_bytes=1024)
    (root / "big.txt").write_bytes(b"x" * 2355)
    with pytest.raises(OpError) as info:
        ws.read_text("big.txt", is_host=True)
    assert _code(info) == ErrorCode.TOO_LARGE
    assert info.value.message == (
        "file is 2.3 KiB; one reply or whole-file write carries at most 1 KiB: read it in "
        "pages (read_file with offset/limit) and change it with edit_file"
    )
    # and the paging it recommends does work
    assert ws.read_file("big.txt", limit=1, is_host=True).text == "x" * 256


def test_a_read_over_the_text_file_limit_is_too_large_and_names_that_limit(root: Path) -> None:
    ws = Workspace(root, max_file_bytes=1024)
    ws.max_text_bytes = 2048
    (root / "big.txt").write_bytes(b"x\n" * 2000)
    with pytest.raises(OpError) as info:
        ws.read_file("big.txt", limit=1, is_host=True)
    assert _code(info) == ErrorCode.TOO_LARGE
    assert "reads, searches and edits text files of up to 2 KiB" in info.value.message


def test_read_of_a_folder_is_not_a_file(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.read_text("src", is_host=False)
    assert _code(info) == ErrorCode.NOT_A_FILE


def test_read_of_a_missing_file_is_not_found(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.read_file("src/missing.py", is_host=False)
    assert _code(info) == ErrorCode.NOT_FOUND


def test_read_below_a_file_is_not_found(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.read_file("README.md/x", is_host=True)
    assert _code(info) == ErrorCode.NOT_FOUND


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_read_of_a_fifo_is_not_a_file_and_does_not_block(ws: Workspace, root: Path) -> None:
    os.mkfifo(root / "pipe")
    with pytest.raises(OpError) as info:
        ws.read_text("pipe", is_host=True)
    assert _code(info) == ErrorCode.NOT_A_FILE


def test_file_sha256_of_a_missing_file_is_none(ws: Workspace) -> None:
    assert ws.file_sha256("nope.txt") is None
    assert ws.file_sha256("README.md/below") is None


def test_file_sha256_hashes_the_bytes_of_any_file(ws: Workspace, root: Path) -> None:
    (root / "blob.bin").write_bytes(b"\x00\xff" * 10)
    assert ws.file_sha256("blob.bin") == hashlib.sha256(b"\x00\xff" * 10).hexdigest()
    assert ws.file_sha256(".env") == hashlib.sha256(SECRETS[".env"].encode()).hexdigest()


def test_check_text_returns_the_decoded_text() -> None:
    assert check_text("héllo".encode(), max_bytes=10) == "héllo"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"x" * 11, ErrorCode.TOO_LARGE),
        (b"a\x00", ErrorCode.BINARY_FILE),
        (b"\xff", ErrorCode.BINARY_FILE),
    ],
)
def test_check_text_refuses_large_or_binary_content(content: bytes, code: ErrorCode) -> None:
    with pytest.raises(OpError) as info:
        check_text(content, max_bytes=10)
    assert _code(info) == code


# ------------------------------------------------------------------------------- writing


def test_write_atomic_creates_a_file_with_parents_and_returns_its_sha(
    ws: Workspace, root: Path
) -> None:
    sha = ws.write_atomic("new/deeper/file.txt", b"hello\n")
    assert (root / "new/deeper/file.txt").read_bytes() == b"hello\n"
    assert sha == hashlib.sha256(b"hello\n").hexdigest()
    assert ws.file_sha256("new/deeper/file.txt") == sha


def test_write_atomic_keeps_the_mode_of_an_existing_file(ws: Workspace, root: Path) -> None:
    script = root / "run.sh"
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o755)
    ws.write_atomic("run.sh", b"#!/bin/sh\necho hi\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert script.read_bytes() == b"#!/bin/sh\necho hi\n"


def test_write_atomic_gives_a_new_file_0644_under_the_umask(ws: Workspace, root: Path) -> None:
    old = os.umask(0o027)
    try:
        ws.write_atomic("fresh.txt", b"x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((root / "fresh.txt").stat().st_mode) == 0o640


def test_write_atomic_leaves_no_temp_file(ws: Workspace, root: Path) -> None:
    ws.write_atomic("README.md", b"changed\n")
    ws.write_atomic("a/b.txt", b"new\n")
    assert _tmp_files(root) == []


def test_write_atomic_replaces_the_inode_so_readers_never_see_a_torn_file(
    ws: Workspace, root: Path
) -> None:
    before = (root / "README.md").stat().st_ino
    ws.write_atomic("README.md", b"changed\n")
    assert (root / "README.md").stat().st_ino != before


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Make one os function fail with an errno while the test body runs."""

    def install(name: str, code: int) -> None:
        def fail(*args: object, **kwargs: object) -> Any:
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(os, name, fail)

    yield install
    monkeypatch.undo()


def test_write_atomic_disk_full_gives_disk_error_and_keeps_the_original(
    ws: Workspace, root: Path, failing: Any
) -> None:
    failing("write", errno.ENOSPC)
    with pytest.raises(OpError) as info:
        ws.write_atomic("README.md", b"new content\n")
    assert _code(info) == ErrorCode.DISK_ERROR
    assert "no space left on device" in info.value.message
    assert info.value.data["errno"] == "ENOSPC"
    assert (root / "README.md").read_text(encoding="utf-8") == SHARED["README.md"]
    assert _tmp_files(root) == []


def test_write_atomic_fsync_failure_gives_disk_error_and_no_temp_file(
    ws: Workspace, root: Path, failing: Any
) -> None:
    failing("fsync", errno.EIO)
    with pytest.raises(OpError) as info:
        ws.write_atomic("src/app.py", b"x\n")
    assert _code(info) == ErrorCode.DISK_ERROR
    assert (root / "src/app.py").read_text(encoding="utf-8") == SHARED["src/app.py"]
    assert _tmp_files(root) == []


def test_write_atomic_rename_failure_gives_disk_error_and_no_temp_file(
    ws: Workspace, root: Path, failing: Any
) -> None:
    failing("replace", errno.EROFS)
    with pytest.raises(OpError) as info:
        ws.write_atomic("README.md", b"x\n")
    assert _code(info) == ErrorCode.DISK_ERROR
    assert "read-only file system" in info.value.message
    assert _tmp_files(root) == []


def test_write_atomic_permission_denied_gives_disk_error(
    ws: Workspace, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def deny_temp(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if TEMP_PREFIX in str(path):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", deny_temp)
    with pytest.raises(OpError) as info:
        ws.write_atomic("README.md", b"x\n")
    assert _code(info) == ErrorCode.DISK_ERROR
    assert "permission denied" in info.value.message


@pytest.mark.unprivileged
def test_write_atomic_into_a_read_only_folder_gives_disk_error(ws: Workspace, root: Path) -> None:
    folder = root / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OpError) as info:
            ws.write_atomic("locked/x.txt", b"x\n")
        assert _code(info) == ErrorCode.DISK_ERROR
    finally:
        folder.chmod(0o755)
    assert _tmp_files(root) == []


def test_write_atomic_refuses_to_write_through_a_symlink(ws: Workspace, root: Path) -> None:
    (root / "link.md").symlink_to(root / "README.md")
    with pytest.raises(OpError) as info:
        ws.write_atomic("link.md", b"x\n")
    assert _code(info) == ErrorCode.INVALID
    assert "symlink" in info.value.message
    assert (root / "README.md").read_text(encoding="utf-8") == SHARED["README.md"]
    assert ws.is_symlink("link.md")
    assert not ws.is_symlink("README.md")


def test_write_atomic_over_the_text_file_limit_is_too_large(root: Path) -> None:
    ws = Workspace(root, max_file_bytes=10)
    ws.max_text_bytes = 10
    with pytest.raises(OpError) as info:
        ws.write_atomic("x.txt", b"x" * 11)
    assert _code(info) == ErrorCode.TOO_LARGE
    assert not (root / "x.txt").exists()


def test_write_atomic_onto_a_folder_is_not_a_file(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.write_atomic("src", b"x\n")
    assert _code(info) == ErrorCode.NOT_A_FILE


def test_write_atomic_below_a_file_is_invalid(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.write_atomic("README.md/x.txt", b"x\n")
    assert _code(info) == ErrorCode.INVALID


def test_write_atomic_of_the_root_is_invalid(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.write_atomic("", b"x\n")
    assert _code(info) == ErrorCode.INVALID


def test_cleanup_temp_files_removes_leftovers_and_counts_them(ws: Workspace, root: Path) -> None:
    _write(root, f"{TEMP_PREFIX}aaa", "partial")
    _write(root, f"src/deep/{TEMP_PREFIX}bbb", "partial")
    _write(root, "src/keep.txt", "keep")
    assert ws.cleanup_temp_files() == 2
    assert _tmp_files(root) == []
    assert (root / "src/keep.txt").exists()


# ------------------------------------------------------------------------------- delete, move


def test_delete_removes_a_file(ws: Workspace, root: Path) -> None:
    ws.delete("src/app.py")
    assert not (root / "src/app.py").exists()


def test_delete_of_a_missing_file_is_not_found(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.delete("nope.txt")
    assert _code(info) == ErrorCode.NOT_FOUND


def test_delete_of_a_folder_is_not_a_file(ws: Workspace, root: Path) -> None:
    with pytest.raises(OpError) as info:
        ws.delete("src")
    assert _code(info) == ErrorCode.NOT_A_FILE
    assert (root / "src").is_dir()


def test_delete_refuses_a_symlink(ws: Workspace, root: Path) -> None:
    (root / "link.md").symlink_to(root / "README.md")
    with pytest.raises(OpError) as info:
        ws.delete("link.md")
    assert _code(info) == ErrorCode.INVALID
    assert (root / "link.md").is_symlink()
    assert (root / "README.md").exists()


def test_move_renames_a_file_and_creates_parents(ws: Workspace, root: Path) -> None:
    ws.move("src/app.py", "lib/core/app.py")
    assert not (root / "src/app.py").exists()
    assert (root / "lib/core/app.py").read_text(encoding="utf-8") == SHARED["src/app.py"]


def test_move_onto_an_existing_file_is_exists(ws: Workspace, root: Path) -> None:
    with pytest.raises(OpError) as info:
        ws.move("src/app.py", "README.md")
    assert _code(info) == ErrorCode.EXISTS
    assert (root / "src/app.py").exists()


def test_move_of_a_missing_file_is_not_found(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.move("nope.txt", "other.txt")
    assert _code(info) == ErrorCode.NOT_FOUND


def test_move_refuses_a_symlink(ws: Workspace, root: Path) -> None:
    (root / "link.md").symlink_to(root / "README.md")
    with pytest.raises(OpError) as info:
        ws.move("link.md", "moved.md")
    assert _code(info) == ErrorCode.INVALID


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_write_atomic_onto_a_fifo_is_not_a_file_and_keeps_the_fifo(root: Path) -> None:
    os.mkfifo(root / "pipe")
    with pytest.raises(OpError) as info:
        Workspace(root).write_atomic("pipe", b"x\n")
    assert info.value.code == ErrorCode.NOT_A_FILE
    assert stat.S_ISFIFO((root / "pipe").lstat().st_mode)
    assert [p.name for p in root.iterdir() if p.name.startswith(TEMP_PREFIX)] == []


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
def test_write_atomic_onto_a_socket_is_not_a_file_and_keeps_the_socket(root: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock"))
        with pytest.raises(OpError) as info:
            Workspace(root).write_atomic("sock", b"x\n")
    assert info.value.code == ErrorCode.NOT_A_FILE
    assert stat.S_ISSOCK((root / "sock").lstat().st_mode)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("op", ["delete", "move"])
def test_deleting_or_moving_a_fifo_is_not_a_file_and_keeps_it(root: Path, op: str) -> None:
    os.mkfifo(root / "pipe")
    ws = Workspace(root)
    with pytest.raises(OpError) as info:
        ws.delete("pipe") if op == "delete" else ws.move("pipe", "moved")
    assert info.value.code == ErrorCode.NOT_A_FILE
    assert stat.S_ISFIFO((root / "pipe").lstat().st_mode)
    assert not (root / "moved").exists()
