"""Changes to the files of the project folder: atomic writes, deletes and moves, and the
temporary files a write leaves behind when the hub is killed (the journal, the cleanup).

Writes are atomic (a temporary file in the same folder, fsync, rename), keep the file's mode,
and never follow a symlink; each checks git metadata again right before touching the disk.
"""

from __future__ import annotations

import errno as errno_mod
import os
import secrets
import stat
from contextlib import suppress
from pathlib import Path

from letswork.hub.workspace.base import WorkspaceBase
from letswork.hub.workspace.disk import (
    _CREATE_FLAGS,
    TEMP_PREFIX,
    _disk_error,
    _fsync_dir,
    _too_large,
    sha256_hex,
)
from letswork.hub.workspace.paths import _q, _resolve, _Resolved
from letswork.hub.workspace.policy import is_git_name
from letswork.shared.errors import ErrorCode, op_error
from letswork.shared.limits import MAX_TEXT_FILE_BYTES

__all__ = ["WriteOps"]


class WriteOps(WorkspaceBase):
    """Writes, deletes and moves of :class:`~letswork.hub.workspace.Workspace`."""

    #: Largest file written (as FileOps.max_text_bytes; ``write_file``'s content is capped at
    #: ``max_file_bytes`` before it gets here).
    max_text_bytes: int = MAX_TEXT_FILE_BYTES

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
