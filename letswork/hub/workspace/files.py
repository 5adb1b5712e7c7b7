"""Files of the project folder: listings and reads (a page of lines, the whole text, the
SHA-256). Writes, deletes and moves are in :mod:`~letswork.hub.workspace.writes`.
"""

from __future__ import annotations

import codecs
import errno as errno_mod
import hashlib
import os
import stat
from collections.abc import Callable
from typing import AnyStr

from letswork.hub.workspace.base import WorkspaceBase, _never
from letswork.hub.workspace.bigfiles import big_facts, reread, whole_too_large
from letswork.hub.workspace.diff import _count_lines
from letswork.hub.workspace.disk import (
    _READ_FLAGS,
    _disk_error,
    _read_fd,
    _too_large,
    sha256_hex,
)
from letswork.hub.workspace.pages import (
    FileFacts,
    VersionKey,
    facts_of,
    line_start,
    refuse,
    version_key,
)
from letswork.hub.workspace.paths import _q, _resolve, _Resolved
from letswork.shared.errors import ErrorCode, op_error
from letswork.shared.limits import MAX_TEXT_FILE_BYTES
from letswork.shared.paging import cut_page
from letswork.shared.protocol.files import Entry, ReadFileResult

__all__ = ["FileOps", "check_text"]


def check_text(content: bytes, *, max_bytes: int) -> str:
    """Decode ``content`` as a letswork text file, or refuse it.

    Raises:
        OpError: ``too_large`` over ``max_bytes``; ``binary_file`` with a NUL byte or
            bytes that are not UTF-8.
    """
    if len(content) > max_bytes:
        raise _too_large(len(content), max_bytes)
    if b"\x00" in content:
        raise op_error(
            ErrorCode.BINARY_FILE,
            "file contains NUL bytes; only UTF-8 text files can be shared",
        )
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise op_error(
            ErrorCode.BINARY_FILE,
            f"file is not UTF-8 text (byte 0x{content[exc.start]:02x} at offset {exc.start}); "
            "only UTF-8 text files can be shared",
        ) from None


def check_new_text(text: str, *, max_bytes: int) -> bytes:
    """``check_text(text.encode("utf-8"))`` without decoding the bytes again: the UTF-8 of
    ``text``, a text the hub made (an edit's result).

    Raises:
        OpError: ``too_large`` over ``max_bytes``; ``binary_file`` with a NUL character.
        UnicodeEncodeError: ``text`` holds a lone surrogate (as ``encode`` did before).
    """
    content = text.encode("utf-8")
    if len(content) > max_bytes:
        raise _too_large(len(content), max_bytes)
    if b"\x00" in content:
        raise op_error(
            ErrorCode.BINARY_FILE,
            "file contains NUL bytes; only UTF-8 text files can be shared",
        )
    return content


#: Characters (or bytes) counted at a time while looking for the end of a page.
_PAGE_SCAN = 1 << 16


def _check_offset(offset: int, total: int) -> None:
    """Raises: OpError ``invalid`` for an ``offset`` past ``total`` lines."""
    if offset > total:
        raise op_error(
            ErrorCode.INVALID,
            f"offset {offset} is past the end of the file ({total} lines)",
            total_lines=total,
        )


#: Fewest bytes :func:`_read_chars` asks the disk for at a time.
_MIN_CHAR_READ = 1024


def _read_chars(fd: int, start: int, end: int, want: int) -> tuple[bytes, str]:
    """Bytes ``start`` up to ``end`` of ``fd``, read only until they hold ``want`` characters
    of UTF-8: those bytes, and their text (all of it when the bytes reach ``end``; else the
    characters decoded so far, at least ``want``).

    Raises:
        OSError: a read failed.
        ValueError: the file ended before ``end`` (it changed).
        UnicodeDecodeError: the bytes are not UTF-8 (it changed).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    raw: list[bytes] = []
    text: list[str] = []
    pos, chars = start, 0
    while chars < want and pos < end:
        # A character is at least a byte, so ``want - chars`` bytes hold no more characters
        # than are still wanted: only the small floor reads past them.
        size = min(end - pos, max(want - chars, _MIN_CHAR_READ))
        chunk = os.pread(fd, size, pos)
        if len(chunk) != size:
            raise ValueError("the file ended before the page did")
        pos += size
        piece = decoder.decode(chunk, final=pos == end)
        raw.append(chunk)
        text.append(piece)
        chars += len(piece)
    return b"".join(raw), "".join(text)


def _page(text: AnyStr, offset: int, limit: int | None, total: int) -> tuple[AnyStr, int]:
    """Lines ``offset`` to ``offset + limit`` of ``text`` (of ``total`` lines) and their count.

    Raises:
        OpError: ``invalid`` for an ``offset`` past ``total``.

    Splits only as far as the page ends and cuts the page out of ``text`` in one slice: a
    2000-line page of a 1 MiB file no longer splits and re-joins every line of it. The split
    runs on a prefix that holds the page, found by counting line ends 64 Ki at a time, since
    the last part of a split is a copy of the rest of the text (~0.3 ms per MiB).
    """
    _check_offset(offset, total)
    if offset == 0 and (limit is None or limit >= total):
        return text, total
    stop = total if limit is None else min(total, offset + limit)
    nl: AnyStr = "\n" if isinstance(text, str) else b"\n"
    bound, seen = 0, 0
    while seen < stop and bound < len(text):
        seen += text.count(nl, bound, bound + _PAGE_SCAN)
        bound += _PAGE_SCAN
    parts = text[:bound].split(nl, stop)
    start = min(len(text), sum(map(len, parts[:offset])) + offset)
    end = min(len(text), start + sum(map(len, parts[offset:stop])) + (stop - offset))
    return text[start:end], stop - offset


class FileOps(WorkspaceBase):
    """Listings, reads and writes of :class:`~letswork.hub.workspace.Workspace`."""

    #: Largest text file read in pages, searched and edited; ``max_file_bytes`` caps what
    #: one reply or whole-file write carries (bigfiles.py).
    max_text_bytes: int = MAX_TEXT_FILE_BYTES

    # -- listing ---------------------------------------------------------------------------

    def list_files(
        self,
        path: str = "",
        *,
        recursive: bool = False,
        depth: int | None = None,
        is_host: bool,
        max_entries: int = 5000,
        should_stop: Callable[[], bool] | None = None,
    ) -> tuple[list[Entry], bool]:
        """Entries of folder ``path`` sorted by path, and whether the list was cut short.

        ``depth`` (1 = direct children) wins over ``recursive``; ``recursive`` alone means
        unlimited depth. Recursion never enters a ``.git`` folder below ``path`` and never
        follows a symlink. When cut at ``max_entries`` the shallowest entries are kept; when
        ``should_stop`` (asked before each entry) returns true, the walk ends there.
        A file path gives just that file. Paths of a folder reached through a symlink are
        given by where they really are.
        """
        if depth is not None and depth < 1:
            raise op_error(ErrorCode.INVALID, "depth must be 1 or more")
        if max_entries < 1:
            raise op_error(ErrorCode.INVALID, "max_entries must be 1 or more")
        max_depth = depth if depth is not None else (None if recursive else 1)
        res = self._check(path, is_host=is_host)
        try:
            st = os.stat(res.real)
        except OSError as exc:
            raise _disk_error(exc, res.rel, "list") from None
        if not stat.S_ISDIR(st.st_mode):
            if not stat.S_ISREG(st.st_mode):
                raise op_error(ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is not a file or folder")
            if res.lexical.is_symlink():
                return [Entry(path=res.rel, kind="symlink", size=0, lock=None)], False
            return [Entry(path=res.rel, kind="file", size=st.st_size, lock=None)], False
        entries: list[Entry] = []
        truncated = False
        stop = should_stop or _never
        for item in self._walk(res, is_host=is_host, max_depth=max_depth, breadth_first=True):
            if len(entries) >= max_entries or stop():
                truncated = True
                break
            size = 0
            if item.kind == "file":
                size = item.size
                if size < 0:
                    try:
                        size = os.lstat(item.path).st_size
                    except OSError:
                        continue
            entries.append(Entry(path=item.rel, kind=item.kind, size=size, lock=None))
        entries.sort(key=lambda e: e.path)
        return entries, truncated

    # -- reading ---------------------------------------------------------------------------

    def _open_file(self, res: _Resolved) -> tuple[int, os.stat_result]:
        """An open descriptor of regular file ``res`` and its fstat, or an OpError
        (``not_a_file``, ``too_large`` over ``max_text_bytes``, ``disk_error``, also when
        the file opened is not the one the check found there). The caller closes the
        descriptor."""
        try:
            fd = os.open(res.real, _READ_FLAGS)
        except OSError as exc:
            if exc.errno == errno_mod.EISDIR or os.path.isdir(res.real):
                raise op_error(
                    ErrorCode.NOT_A_FILE,
                    f"{_q(res.rel)} is a folder; use list_files to see what is in it",
                ) from None
            raise _disk_error(exc, res.rel, "read") from None
        try:
            st = os.fstat(fd)
            if res.seen is not None and (st.st_dev, st.st_ino) != res.seen:
                # Not what the check found there: the path changed in between (a folder on
                # the way swapped for a symlink out of the project, a file put in place).
                raise op_error(
                    ErrorCode.DISK_ERROR,
                    f"{_q(res.rel)} changed while it was being read; read it again",
                )
            if stat.S_ISDIR(st.st_mode):
                raise op_error(
                    ErrorCode.NOT_A_FILE,
                    f"{_q(res.rel)} is a folder; use list_files to see what is in it",
                )
            if not stat.S_ISREG(st.st_mode):
                raise op_error(ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is not a regular file")
            if st.st_size > self.max_text_bytes:
                raise whole_too_large(st.st_size, self.max_file_bytes, self.max_text_bytes)
        except OSError as exc:
            os.close(fd)
            raise _disk_error(exc, res.rel, "read") from None
        except BaseException:
            os.close(fd)
            raise
        return fd, st

    def _read_bytes(self, res: _Resolved, max_bytes: int | None = None) -> bytes:
        """The bytes of regular file ``res`` (at most ``max_bytes``, by default
        ``max_file_bytes``), or an OpError."""
        return self._read_version(res, max_bytes)[0]

    def _read_version(
        self, res: _Resolved, max_bytes: int | None = None
    ) -> tuple[bytes, VersionKey | None]:
        """As :meth:`_read_bytes`, with the :func:`version_key` of those bytes (``None`` when
        the file's size changed while it was read)."""
        cap = self.max_file_bytes if max_bytes is None else max_bytes
        fd, st = self._open_file(res)
        try:
            if st.st_size > cap:
                raise whole_too_large(st.st_size, cap, self.max_text_bytes)
            data = _read_fd(fd, cap + 1, st.st_size)
        except OSError as exc:
            raise _disk_error(exc, res.rel, "read") from None
        finally:
            os.close(fd)
        if len(data) > cap:  # grew since fstat
            raise whole_too_large(len(data), cap, self.max_text_bytes)
        return data, version_key(st) if len(data) == st.st_size else None

    def _cached_page(
        self, res: _Resolved, offset: int, limit: int | None, max_chars: int | None = None
    ) -> tuple[FileFacts, str, int, bool] | None:
        """The page from the :class:`PageCache` when this version of the file is in it:
        its facts, text, line count and whether it is the start of one line cut to
        ``max_chars`` (:func:`cut_page`); ``None`` when it is not (or changed under its key).
        With ``max_chars`` only the bytes that hold the characters kept are read.

        Raises:
            OpError: as :meth:`_open_file`; ``binary_file``; ``invalid`` for an offset past
                the end.
        """
        fd, st = self._open_file(res)
        big = st.st_size > self.max_file_bytes
        try:
            key = version_key(st)
            facts = self.pages.get(key)
            if facts is None:
                if not big:
                    return None
                facts = big_facts(self.pages, fd, st, res.rel)
            if big and max_chars is None:
                max_chars = self.max_file_bytes // 4  # any page fits one reply
            refuse(facts)
            total = facts.total_lines
            _check_offset(offset, total)
            stop = total if limit is None else min(total, offset + limit)
            start = line_start(fd, facts, offset)
            end = line_start(fd, facts, stop)
            if max_chars is None or end - start <= max_chars:
                raw = os.pread(fd, end - start, start) if end > start else b""
                if len(raw) != end - start:
                    return reread(big, res.rel)  # truncated while the page was read
                text = raw.decode("utf-8")
            else:  # only as many bytes as hold the characters shown
                raw, text = _read_chars(fd, start, end, max_chars + 1)
            if b"\x00" in raw:
                return reread(big, res.rel)  # changed unseen (a write through mmap)
            if version_key(os.fstat(fd)) != key:
                return reread(big, res.rel)  # rewritten while the page was read
            cut = cut_page(text, max_chars) if max_chars is not None else None
            if cut is not None:
                return facts, *cut
            return facts, text, stop - offset, False
        except (ValueError, UnicodeDecodeError):
            return reread(big, res.rel)  # changed under the same key
        except OSError as exc:
            raise _disk_error(exc, res.rel, "read") from None
        finally:
            os.close(fd)

    def stat_file(self, path: str, *, is_host: bool) -> tuple[str, FileFacts]:
        """The path as the hub names it and the :class:`FileFacts` of the file's current
        version (sha256, size, text check, lines), from the page cache when it holds that
        version, else from one whole read (which then fills the cache). A binary file is not
        an error here.

        Raises:
            OpError: ``not_shared`` (guests), ``not_found``, ``not_a_file``, ``too_large``,
                ``forbidden`` (git metadata), ``invalid`` (bad path), ``disk_error``.
        """
        res = self._check(path, is_host=is_host)
        fd, st = self._open_file(res)
        try:
            facts = self.pages.get(version_key(st))
            if facts is None and st.st_size > self.max_file_bytes:
                facts = big_facts(self.pages, fd, st, res.rel)
        except OSError as exc:
            raise _disk_error(exc, res.rel, "read") from None
        finally:
            os.close(fd)
        if facts is None:
            data, key = self._read_version(res)
            facts = facts_of(data)
            if key is not None:
                self.pages.put(key, facts)
        return res.rel, facts

    def read_text(self, path: str, *, is_host: bool, whole: bool = False) -> tuple[str, str]:
        """The whole text of a file and the sha256 (hex) of its bytes: of up to
        ``max_file_bytes``, or ``max_text_bytes`` with ``whole`` (the hub's own work on a
        file, such as an edit, which never crosses the wire whole).

        Raises:
            OpError: ``not_shared`` (guests), ``not_found``, ``not_a_file``, ``too_large``,
                ``binary_file``, ``invalid`` (bad path), ``disk_error``.
        """
        res = self._check(path, is_host=is_host)
        cap = self.max_text_bytes if whole else self.max_file_bytes
        data = self._read_bytes(res, cap)
        return check_text(data, max_bytes=cap), sha256_hex(data)

    def read_file(
        self,
        path: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        max_chars: int | None = None,
        is_host: bool,
    ) -> ReadFileResult:
        """A page of lines: ``offset`` is the 0-based first line, ``limit`` the most lines.

        Lines end at ``\\n`` (kept in ``text``); a last line without one counts too, so
        ``"a\\nb"`` has 2 lines and ``"a\\n"`` has 1. ``offset == total_lines`` gives an empty
        page; a larger offset is ``invalid``. Search results' line ``n`` is ``offset=n-1``.
        With ``max_chars`` the page is cut to that many characters by :func:`cut_page`
        (whole lines, or the start of a first line longer than that: ``line_cut``), and a
        cached file's page reads only the bytes kept.

        Raises:
            OpError: ``invalid`` (negative offset or limit, ``max_chars`` under 1, an offset
                past the end), and as :meth:`read_text`.
        """
        if offset < 0:
            raise op_error(ErrorCode.INVALID, "offset must be 0 or more")
        if limit is not None and limit < 0:
            raise op_error(ErrorCode.INVALID, "limit must be 0 or more")
        if max_chars is not None and max_chars < 1:
            raise op_error(ErrorCode.INVALID, "max_chars must be 1 or more")
        res = self._check(path, is_host=is_host)
        cached = self._cached_page(res, offset, limit, max_chars)
        if cached is not None:
            facts, page, count, line_cut = cached
            total, size = facts.total_lines, facts.size
        else:
            data, key = self._read_version(res)
            facts = facts_of(data)
            if key is not None:
                self.pages.put(key, facts)
            if data.isascii() and b"\x00" not in data:
                # ASCII is UTF-8: the file is text, and only its page needs decoding (the
                # first page of a 1 MiB file decoded all of it, ~0.4 ms).
                total = _count_lines(data)
                raw, count = _page(data, offset, limit, total)
                page = raw.decode("ascii")
            else:
                text = check_text(data, max_bytes=self.max_file_bytes)
                total = _count_lines(text)
                page, count = _page(text, offset, limit, total)
            size, line_cut = len(data), False
            cut = cut_page(page, max_chars) if max_chars is not None else None
            if cut is not None:
                page, count, line_cut = cut
        return ReadFileResult(
            path=res.rel,
            text=page,
            sha256=facts.sha256,
            offset=offset,
            lines=count,
            total_lines=total,
            size=size,
            truncated=offset + count < total,
            # set only when true: the hub sends the fields that were set, and an older
            # channel refuses a field it does not know
            **({"line_cut": True} if line_cut else {}),
        )

    def file_sha256(self, path: str) -> str | None:
        """The sha256 of a file's bytes (host view, any size), or None when it does not exist.

        Raises:
            OpError: ``not_a_file`` for a folder or special file, ``invalid`` for a bad path,
                ``disk_error`` when it cannot be read.
        """
        res = _resolve(self.root, path)
        try:
            fd = os.open(res.real, _READ_FLAGS)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno_mod.ENOTDIR:
                return None
            if exc.errno == errno_mod.EISDIR or os.path.isdir(res.real):
                raise op_error(ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is a folder") from None
            raise _disk_error(exc, res.rel, "read") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise op_error(ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is not a regular file")
            digest = hashlib.sha256()
            step = max(4096, min(1 << 20, st.st_size + 1))  # os.read allocates all it asks for
            while chunk := os.read(fd, step):
                digest.update(chunk)
        except OSError as exc:
            raise _disk_error(exc, res.rel, "read") from None
        finally:
            os.close(fd)
        return digest.hexdigest()
