"""Where letswork keeps this machine's per-project state, and how secret files are written and
read (the hub, the channel, the dashboard and the CLI all go through here).

Layout (``state_root()`` is ``platformdirs.user_state_dir("letswork")`` unless
``LETSWORK_STATE_DIR`` is set)::

    <state_root>/                       created 0700 if missing
      projects/                         always 0700
        <slug>-<sha256(path)[:12]>/     always 0700, one per shared folder
          state.db  (+ -wal, -shm)      the SQLite store, 0600
          state.db.changes (+ -wal, -shm)  large changes' content and diff (schema 7), 0600
          host.key                      the host's credential, 0600
          store.key                     seals secret columns of state.db, 0600
          hub.json                      address and port of the running hub, 0600
          hub.sock                      the host tools' Unix socket while a hub runs, 0600
          hub.log                       the hub's log
          hub.lock                      held while a hub runs for this project

Secret files are written atomically (temporary file in the same directory, created 0600 with
``O_EXCL``/``O_NOFOLLOW``, fsync, rename, fsync of the directory) and refused on read when their
mode lets the group or other users in. On Windows, POSIX modes do not exist; the checks are
skipped there and the per-user profile directory's ACL is relied on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import os
import re
import secrets
import stat
from pathlib import Path

import platformdirs

from letswork.shared.errors import UsageError

#: Environment variable that replaces the platform state directory (tests, portable installs).
STATE_DIR_ENV = "LETSWORK_STATE_DIR"

_DIR_MODE = 0o700
_FILE_MODE = 0o600
_SLUG_MAX = 32
_POSIX = os.name == "posix"


def state_root() -> Path:
    """The per-user letswork state directory (not created here)."""
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_state_dir("letswork"))


@dataclasses.dataclass(frozen=True)
class ProjectState:
    """The state directory of one shared project folder.

    Attributes:
        root: the project folder, resolved.
        dir: the private directory holding this project's state files.
    """

    root: Path
    dir: Path

    @property
    def db_path(self) -> Path:
        return self.dir / "state.db"

    @property
    def host_key_path(self) -> Path:
        return self.dir / "host.key"

    @property
    def store_key_path(self) -> Path:
        return self.dir / "store.key"

    @property
    def hub_info_path(self) -> Path:
        return self.dir / "hub.json"

    @property
    def log_path(self) -> Path:
        return self.dir / "hub.log"

    @property
    def lock_path(self) -> Path:
        return self.dir / "hub.lock"


def project_slug(name: str) -> str:
    """A folder name reduced to ``[A-Za-z0-9._-]``, at most 32 characters, never hidden."""
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:_SLUG_MAX].lstrip(".")
    return slug or "project"


def project_state(project: Path) -> ProjectState:
    """The state directory for ``project``, created (0700) if it does not exist yet.

    The directory name is ``<slug>-<first 12 hex digits of sha256(resolved path)>``: readable,
    and distinct for two folders with the same name.
    """
    root = project.resolve()
    directory = _project_dir(root)
    base = state_root()
    projects = directory.parent
    try:
        # The root may be a directory the user chose (LETSWORK_STATE_DIR): create it private,
        # but leave an existing one's mode alone. Everything below it is ours and kept 0700.
        base.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        _private_dir(projects)
        _private_dir(directory)
    except OSError as exc:
        raise UsageError(f"cannot create the state directory {directory}: {exc.strerror}") from exc
    return ProjectState(root=root, dir=directory)


def _project_dir(root: Path) -> Path:
    digest = hashlib.sha256(os.fsencode(str(root))).hexdigest()[:12]
    return state_root() / "projects" / f"{project_slug(root.name)}-{digest}"


def existing_project_state(project: Path) -> ProjectState | None:
    """The state directory of ``project`` if a hub was ever started for it, else None;
    nothing is created (the plugin's channel asks this of every folder it starts in)."""
    root = project.resolve()
    directory = _project_dir(root)
    return ProjectState(root=root, dir=directory) if directory.is_dir() else None


def _private_dir(path: Path) -> None:
    """Create ``path`` with mode 0700, or bring an existing one to 0700; refuse symlinks."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=_DIR_MODE)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{path} must be a directory, not a symlink or a file")
    if _POSIX:
        if st.st_uid != os.geteuid():
            raise UsageError(f"{path} belongs to another user; refusing to keep state there")
        if stat.S_IMODE(st.st_mode) != _DIR_MODE:
            path.chmod(_DIR_MODE)


def _fsync_dir(directory: Path) -> None:
    if not _POSIX:
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(directory: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to a new 0600 file next to ``name``; fsync it; return its path."""
    flags = (
        os.O_WRONLY
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_BINARY", 0)
    )
    tmp = directory / f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, flags, _FILE_MODE)
    try:
        if _POSIX:
            os.fchmod(fd, _FILE_MODE)  # the umask may have removed bits we need
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def write_secret_file(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, readable only by the user (0600).

    A crash leaves either the old file or the new one, never a torn or world-readable one. A
    symlink at ``path`` is replaced, never followed.
    """
    tmp = _write_temp(path.parent, path.name, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_private_text(path: Path, text: str) -> None:
    """Atomically write UTF-8 ``text`` to ``path`` with mode 0600 (``hub.json``)."""
    write_secret_file(path, text.encode("utf-8"))


def read_secret_file(path: Path) -> bytes:
    """Read a secret file, refusing one that other users could read or that is a symlink.

    Raises:
        FileNotFoundError: the file does not exist.
        UsageError: the file is a symlink or not a regular file, or its mode gives the group or
            other users any access; the message names the file and the ``chmod`` that fixes it.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"{path} is a symlink; refusing to read a secret through it") from exc
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path} is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if _POSIX and mode & 0o077:
            raise UsageError(
                f"{path} is accessible by other users (mode {mode:04o}); "
                f"fix it with: chmod 600 {path}"
            )
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def load_or_create_key(path: Path, nbytes: int = 32) -> bytes:
    """Return the ``nbytes``-byte key in ``path``, creating it from ``os.urandom`` if absent.

    Creation is exclusive: when two processes race, both end up with the same key (the file is
    fully written and fsynced under a temporary name, then hard-linked into place, which fails if
    the other process won).

    Raises:
        UsageError: the file exists but is insecure (see :func:`read_secret_file`) or does not
            hold exactly ``nbytes`` bytes.
    """
    try:
        key = read_secret_file(path)
    except FileNotFoundError:
        key = _create_exclusive(path, os.urandom(nbytes))
    if len(key) != nbytes:
        raise UsageError(
            f"{path} holds {len(key)} bytes, not a {nbytes}-byte key; "
            "it is damaged (restore it from a backup, or delete it to start over)"
        )
    return key


def _create_exclusive(path: Path, data: bytes) -> bytes:
    tmp = _write_temp(path.parent, path.name, data)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            return read_secret_file(path)
        except OSError:
            # A filesystem without hard links: fall back to a plain atomic rename.
            if path.exists():
                return read_secret_file(path)
            os.replace(tmp, path)
        _fsync_dir(path.parent)
        return data
    finally:
        tmp.unlink(missing_ok=True)
