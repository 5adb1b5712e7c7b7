"""Bytes on disk, safely: the open flags every read and write uses (never follow a symlink,
never block on a FIFO), bounded reads, the fsync of a folder, the SHA-256 of content, and an
``OSError`` turned into the :class:`~letswork.shared.errors.OpError` a peer reads.

Knows nothing of peers, sharing or git; the modules above it decide what may be read or written.
"""

from __future__ import annotations

import errno as errno_mod
import hashlib
import os
import stat
from pathlib import Path

from letswork.hub.workspace.paths import _WINDOWS, _q
from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError, op_error

__all__ = ["TEMP_PREFIX", "sha256_hex"]

#: Name prefix of the temporary files :meth:`Workspace.write_atomic` creates. Such files are
#: never listed, searched or shared, and :meth:`Workspace.cleanup_temp_files` removes leftovers.
TEMP_PREFIX = ".letswork-tmp-"

_O_BINARY = getattr(os, "O_BINARY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | _O_BINARY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY | _O_NOFOLLOW | _O_CLOEXEC


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def _human_size(n: int) -> str:
    """``2.3 MiB``, ``1 MiB``, ``12 KiB``, ``17 bytes``."""
    if n < limits.KiB:
        return f"{n} bytes"
    value, unit = (n / limits.MiB, "MiB") if n >= limits.MiB else (n / limits.KiB, "KiB")
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return f"{text} {unit}"


def _too_large(size: int, max_bytes: int) -> OpError:
    said, limit = _human_size(size), _human_size(max_bytes)
    if said == limit:  # "1 MiB; the limit is 1 MiB" reads as no reason at all
        said, limit = f"{size} bytes", f"{max_bytes} bytes ({limit})"
    return op_error(
        ErrorCode.TOO_LARGE,
        f"file is {said}; the limit is {limit}",
        size=size,
        limit=max_bytes,
    )


def _not_found(rel: str) -> OpError:
    return op_error(
        ErrorCode.NOT_FOUND,
        f"{_q(rel)} does not exist; use list_files or find_files to see what is there",
    )


def _disk_error(exc: OSError, rel: str, action: str) -> OpError:
    """Map an ``OSError`` from an operation on ``rel`` to the matching :class:`OpError`."""
    code = exc.errno
    name = errno_mod.errorcode.get(code, "") if code is not None else ""
    if code == errno_mod.ENOENT:
        return _not_found(rel)
    if code == errno_mod.ENOTDIR:
        return op_error(ErrorCode.NOT_FOUND, f"{_q(rel)} does not exist: a parent is a file")
    if code == errno_mod.EISDIR:
        return op_error(ErrorCode.NOT_A_FILE, f"{_q(rel)} is a directory, not a file")
    if code == errno_mod.ELOOP:
        return op_error(ErrorCode.INVALID, f"{_q(rel)} goes through a symlink loop")
    if code == errno_mod.ENAMETOOLONG:
        return op_error(ErrorCode.INVALID, f"{_q(rel)} is too long for the host's filesystem")
    reason = os.strerror(code).lower() if code is not None else str(exc).lower()
    return op_error(
        ErrorCode.DISK_ERROR,
        f"could not {action} {_q(rel)}: {reason}",
        errno=name,
    )


def _fsync_dir(path: str | Path) -> None:
    """Best-effort fsync of a directory so a rename or unlink in it is durable."""
    if _WINDOWS:  # pragma: no cover - directories cannot be opened for fsync on Windows
        return
    try:
        fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_fd(fd: int, limit: int, expected: int) -> bytes:
    """Read up to ``limit`` bytes from ``fd``: to EOF, or until exactly the ``expected`` bytes
    (fstat's size) arrived; a file that grew meanwhile is read on to EOF or ``limit``."""
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        # os.read allocates the whole request up front: ask for what fstat promised, plus one
        # byte to see growth, not for ``limit`` (a 1 MiB buffer per small file halved search).
        want = limit - total if total > expected else min(limit - total, expected - total + 1)
        chunk = os.read(fd, want)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total == expected:
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _read_small(path: str, max_bytes: int) -> bytes | None:
    """The bytes of a regular file of at most ``max_bytes``, else None (never raises)."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            return None
        data = _read_fd(fd, max_bytes + 1, st.st_size)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) <= max_bytes else None
