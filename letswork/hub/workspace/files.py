"""Files of the project folder: listings, reads (a page of lines, the whole text, the
SHA-256), and atomic writes, deletes and moves.

Writes are atomic (a temporary file in the same folder, fsync, rename), keep the file's mode,
and never follow a symlink; each checks git metadata again right before touching the disk.
"""

from __future__ import annotations

import codecs
import errno as errno_mod
import hashlib
import os
import secrets
import stat
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import AnyStr

from letswork.hub.workspace.base import WorkspaceBase, _never
from letswork.hub.workspace.bigfiles import big_facts, reread, whole_too_large
from letswork.hub.workspace.diff import _count_lines
from letswork.hub.workspace.disk import (
    _CREATE_FLAGS,
    _READ_FLAGS,
    TEMP_PREFIX,
    _disk_error,
    _fsync_dir,
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
from letswork.hub.workspace.policy import is_git_name
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

    # -- writing ---------------------------------------------------------------------------

    @staticmethod
    def _refuse_symlink(res: _Resolved) -> None:
        if res.lexical.is_symlink():
            raise op_error(
                ErrorCode.INVALID,
                f"{_q(res.rel)} is a symlink; letswork does not write through symlinks",
            )

    @staticmethod
    def _make_parents(res: _Resolved) -> None:
        try:
            os.makedirs(res.real.parent, exist_ok=True)
        except OSError as exc:
            if exc.errno in (errno_mod.ENOTDIR, errno_mod.EEXIST):
                raise op_error(
                    ErrorCode.INVALID, f"cannot create {_q(res.rel)}: a parent is a file"
                ) from None
            raise _disk_error(exc, res.rel, "create the folder for") from None

    def write_atomic(self, path: str, content: bytes) -> str:
        """Replace (or create) a file atomically and return the sha256 of ``content``.

        A temporary ``.letswork-tmp-*`` file in the same folder is written, fsynced and renamed
        over the target; then the folder is fsynced. An existing file's mode is kept (and its
        owner, where permitted); a new file gets ``0o644 & ~umask``. Missing parent folders
        are created. On failure the temporary file is removed and the original is untouched.

        Raises:
            OpError: ``invalid`` (bad path, the root, a symlink, a parent that is a file),
                ``forbidden`` (git metadata: :meth:`check_changeable`),
                ``not_a_file`` (a folder is there), ``too_large`` (over ``max_text_bytes``),
                ``disk_error`` (the message names the OS reason, e.g. "no space left on
                device"; ``data["errno"]`` holds the symbol).
        """
        res = _resolve(self.root, path)
        if not res.rel:
            raise op_error(ErrorCode.INVALID, "cannot write the project root; name a file")
        self._refuse_git(res)
        if len(content) > self.max_text_bytes:  # write_file's content: max_file_bytes
            raise _too_large(len(content), self.max_text_bytes)
        self._refuse_symlink(res)
        try:
            old: os.stat_result | None = os.stat(res.real)
        except FileNotFoundError:
            old = None
        except OSError as exc:
            if exc.errno != errno_mod.ENOTDIR:
                raise _disk_error(exc, res.rel, "write") from None
            old = None  # a parent is a file: _make_parents reports it
        if old is not None and not stat.S_ISREG(old.st_mode):
            raise op_error(ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is a folder or special file")
        self._make_parents(res)
        folder = res.real.parent
        tmp = folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        fd = -1
        live = str(tmp)
        self._start_temp(live)  # before it exists: a cleanup under way skips it
        try:
            fd = os.open(tmp, _CREATE_FLAGS, 0o644)
            if old is not None:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, stat.S_IMODE(old.st_mode))
                if hasattr(os, "fchown"):
                    with suppress(OSError):
                        os.fchown(fd, old.st_uid, old.st_gid)
            view = memoryview(content)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(tmp, res.real)
        except OSError as exc:
            if fd >= 0:
                with suppress(OSError):
                    os.close(fd)
            with suppress(OSError):
                os.unlink(tmp)
            raise _disk_error(exc, res.rel, "write") from None
        finally:
            self._live_temps.discard(live)
        self._noted(res.real)
        _fsync_dir(folder)
        return sha256_hex(content)

    def delete(self, path: str) -> None:
        """Delete a file (not a folder, not a symlink).

        Raises:
            OpError: ``not_found``, ``not_a_file``, ``invalid`` (bad path, symlink),
                ``forbidden`` (git metadata: :meth:`check_changeable`), ``disk_error``.
        """
        res = _resolve(self.root, path)
        if not res.rel:
            raise op_error(ErrorCode.INVALID, "cannot delete the project root")
        self._refuse_git(res)
        self._refuse_symlink(res)
        self._require_file(res)
        try:
            os.unlink(res.real)
        except OSError as exc:
            raise _disk_error(exc, res.rel, "delete") from None
        self._noted(res.real)
        _fsync_dir(res.real.parent)

    def _require_file(self, res: _Resolved) -> None:
        try:
            st = os.lstat(res.real)
        except OSError as exc:
            raise _disk_error(exc, res.rel, "open") from None
        if stat.S_ISDIR(st.st_mode):
            raise op_error(
                ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is a folder; only files can be changed"
            )
        if not stat.S_ISREG(st.st_mode):
            raise op_error(ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is not a regular file")

    def move(self, path: str, new_path: str) -> None:
        """Rename a file; parent folders of ``new_path`` are created.

        A change of case only (``a.txt`` to ``A.txt``) works on case-insensitive filesystems.

        Raises:
            OpError: ``exists`` when ``new_path`` exists, ``not_found``, ``not_a_file``,
                ``invalid`` (bad path, symlink, a parent that is a file), ``forbidden`` (git
                metadata at either end: :meth:`check_changeable`), ``disk_error``.
        """
        src = _resolve(self.root, path)
        dst = _resolve(self.root, new_path)
        if not src.rel or not dst.rel:
            raise op_error(ErrorCode.INVALID, "cannot move the project root")
        self._refuse_git(src)
        self._refuse_git(dst)
        self._refuse_symlink(src)
        self._require_file(src)
        exists = os.path.lexists(dst.lexical) or os.path.lexists(dst.real)
        if exists and not _is_case_rename(src.real, dst.real):
            raise op_error(
                ErrorCode.EXISTS,
                f"{_q(dst.rel)} already exists; delete it first or pick another name",
            )
        self._make_parents(dst)
        try:
            os.rename(src.real, dst.real)
        except OSError as exc:
            raise _disk_error(exc, src.rel, "move") from None
        self._noted(src.real, dst.real)
        _fsync_dir(src.real.parent)
        if dst.real.parent != src.real.parent:
            _fsync_dir(dst.real.parent)

    def _start_temp(self, tmp: str) -> None:
        """Record the temporary file ``tmp`` of a write about to start: in the set of writes
        under way, and in :attr:`temp_journal` when there is one. The journal is appended to,
        never fsynced (it has to outlive a killed hub, not a power cut: the walk after
        listening still finds those), and emptied when it has grown and no write is under
        way."""
        with self._journal_lock:
            journal = self.temp_journal
            if journal is not None:
                flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
                if self._journal_bytes > _JOURNAL_TRUNCATE_BYTES and not self._live_temps:
                    flags |= os.O_TRUNC
                    self._journal_bytes = 0
                line = os.fsencode(tmp) + b"\n"
                with suppress(OSError):
                    fd = os.open(journal, flags, 0o600)
                    try:
                        os.write(fd, line)
                        self._journal_bytes += len(line)
                    finally:
                        os.close(fd)
            self._live_temps.add(tmp)

    def _cleanup_journal(self) -> int:
        """Remove the leftover temporary files :attr:`temp_journal` names (regular files with
        the temp prefix, in a folder under the root reached without a symlink), then empty it.
        Returns how many were removed; reads at most ``_JOURNAL_READ_BYTES``."""
        journal = self.temp_journal
        if journal is None:
            return 0
        try:
            with open(journal, "rb") as handle:
                data = handle.read(_JOURNAL_READ_BYTES)
        except OSError:
            return 0
        removed = 0
        root = str(self.root)
        for line in set(data.split(b"\n")):
            path = os.fsdecode(line)
            folder, name = os.path.split(path)
            if not name.startswith(TEMP_PREFIX) or path in self._live_temps:
                continue
            if os.path.commonpath([root, folder]) != root or os.path.realpath(folder) != folder:
                continue
            with suppress(OSError, ValueError):
                if stat.S_ISREG(os.lstat(path).st_mode):
                    os.unlink(path)
                    removed += 1
        with self._journal_lock, suppress(OSError):
            if not self._live_temps:
                os.truncate(journal, 0)
                self._journal_bytes = 0
        return removed

    def cleanup_temp_files(self) -> int:
        """Remove leftover ``.letswork-tmp-*`` files anywhere under the root (crash recovery).

        Does not enter ``.git`` or follow symlinks, and skips the files of writes under way,
        so it may run while the hub serves. Returns how many files were removed. With
        :attr:`defer_temp_cleanup` set it removes only those :attr:`temp_journal` names (the
        writes a killed hub had under way) and walks nothing: the hub walks for the rest
        after it listens (issue 15: no walk of the tree before listening).
        """
        if self.defer_temp_cleanup:
            return self._cleanup_journal()
        live = self._live_temps
        removed = 0
        stack = [str(self.root)]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError:
                continue
            for entry in entries:
                try:
                    if (
                        entry.name.startswith(TEMP_PREFIX)
                        and entry.is_file(follow_symlinks=False)
                        and entry.path not in live
                    ):
                        os.unlink(entry.path)
                        removed += 1
                    elif entry.is_dir(follow_symlinks=False) and not is_git_name(entry.name):
                        stack.append(entry.path)
                except OSError:
                    continue
        return removed


#: The temp journal is emptied at the next write once it is over this and no write is under way.
_JOURNAL_TRUNCATE_BYTES = 64 * 1024
#: At most this much of a temp journal is read at start-up (the walk after listening does the
#: rest).
_JOURNAL_READ_BYTES = 1 << 20


def _is_case_rename(src: Path, dst: Path) -> bool:
    """Whether ``dst`` is ``src`` spelled with other case on a case-insensitive filesystem."""
    if src.parent != dst.parent or src.name == dst.name or src.name.lower() != dst.name.lower():
        return False
    try:
        return os.path.samefile(src, dst)
    except OSError:
        return False
