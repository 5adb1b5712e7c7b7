"""Which platforms each side of letswork runs on, and what this machine's file systems do.

- The **guest side** (``letswork join``, ``letswork channel``, and what they import) runs
  wherever Python does, native Windows included: it needs no ``fcntl``, no POSIX signals and no
  Unix socket.
- The **host side** (``letswork start``, and ``letswork channel --host``, which reaches the hub
  over its Unix socket) runs on :data:`HOST_PLATFORMS`. It locks the folder with ``flock``,
  stops on SIGTERM, serves the host's tools on a Unix socket and keeps 0600 files;
  :func:`require_host_platform` refuses anything else at once, with a message that names the
  platforms, instead of failing half-way through.
- :func:`folds_case` probes whether a folder's file system treats ``A`` and ``a`` as one
  name (the default on macOS and Windows), which the hub's sharing policy must know
  (``letswork.hub.workspace.policy``).
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import os
import secrets
import sys
from pathlib import Path

from letswork.shared.errors import UsageError

__all__ = [
    "HOST_PLATFORMS",
    "HOST_SYS_PLATFORMS",
    "folds_case",
    "host_unsupported_reason",
    "require_host_platform",
]

#: Where the host side runs, as the user reads it.
HOST_PLATFORMS = "Linux and macOS (on Windows, inside WSL)"
#: The ``sys.platform`` values of :data:`HOST_PLATFORMS`.
HOST_SYS_PLATFORMS = frozenset({"linux", "darwin"})


def host_unsupported_reason(platform: str | None = None) -> str | None:
    """Why this machine cannot host a session, or None when it can.

    Args:
        platform: a ``sys.platform`` value to judge instead of this machine's (tests).
    """
    platform = sys.platform if platform is None else platform
    if platform not in HOST_SYS_PLATFORMS:
        shown = "native Windows" if platform == "win32" else platform
        return (
            f"hosting a session (letswork start, letswork channel --host) runs on "
            f"{HOST_PLATFORMS}, not on {shown}; joining one (letswork join) works here"
        )
    if importlib.util.find_spec("fcntl") is None:
        return f"hosting a session needs the fcntl module, which this Python ({platform}) lacks"
    return None


def require_host_platform(platform: str | None = None) -> None:
    """Refuse to host on a platform the host side does not support.

    Raises:
        UsageError: the message names :data:`HOST_PLATFORMS` and the platform found.
    """
    reason = host_unsupported_reason(platform)
    if reason is not None:
        raise UsageError(reason)


def folds_case(folder: Path) -> bool:
    """Whether names in the folder ``folder`` are compared without case.

    Probes inside ``folder`` itself, because case folding can differ per volume (a mounted
    disk, a project at a mount point) and per folder (ext4's ``+F``, Windows' per-directory
    flag), so the answer for the folder's parent may be wrong for it: first an existing entry
    with an ASCII letter in its name, looked up with its case swapped; failing that, a
    uniquely named empty file created, looked up the same way and removed; failing that (a
    read-only folder), the platform's usual default (folding on macOS and Windows).
    """
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                answer = _probe(folder, entry.name)
                if answer is not None:
                    return answer
    except OSError:
        pass
    probe = folder / f".letswork-case-probe-{secrets.token_hex(6)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return sys.platform in ("darwin", "win32")
    os.close(fd)
    try:
        return _probe(folder, probe.name) is True
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def _probe(folder: Path, name: str) -> bool | None:
    """True or False when ``name`` decides the question, None when it cannot."""
    if not name.isascii() or name.swapcase() == name:
        return None
    try:
        original = os.lstat(folder / name)
    except OSError:
        return None
    try:
        swapped = os.lstat(folder / name.swapcase())
    except OSError as exc:
        return False if exc.errno in (errno.ENOENT, errno.ENOTDIR) else None
    return (original.st_dev, original.st_ino) == (swapped.st_dev, swapped.st_ino)
