"""What no change through the hub may touch, and what only the host decides (issue 13, items 1-2).

Three rules, all about paths the hub is asked to change:

* **Git metadata** (:func:`is_git_name`, :func:`git_metadata_reason`). Every name that git, or
  the filesystem under it, takes for ``.git``: any case, trailing dots and spaces, an NTFS
  stream suffix, characters HFS+ ignores, and the 8.3 short name ``GIT~1``. Such a name, file
  (a worktree's or submodule's gitlink, ``gitdir: <path>``) or folder, at any depth, is never
  shared with guests, read or written through the hub, by anyone: git runs commands named in
  its metadata (``core.fsmonitor``, hooks).
* **Git repository layouts** (:func:`git_layout_reason`). A folder git itself would take for a
  repository (git's ``is_git_directory``: ``HEAD`` plus ``objects/`` and ``refs/``, or
  ``HEAD`` plus ``commondir``; a bare repository is exactly that) is git metadata whatever its
  name: a change that would complete such a layout, or change anything inside one, is refused.
  This reads the disk (a few ``lstat`` per folder of the path), so it is checked when a change
  is proposed (in a worker) and again right before it is applied.
* **Sensitive paths** (:data:`SENSITIVE_PATHS`, :func:`sensitive_reason`). Files that decide
  what guests see or that run code on the host's machine. A guest's change to one is never
  applied without the host's approval, not even a trusted editor's, and carries the reason.

Names are compared after :func:`fold_name`, which is stricter than any one filesystem: a name
that some filesystem could take for a protected one is treated as that one. Nothing here is
used to open a file; it only decides refusals and marks.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "GIT_DIR_MARKERS",
    "SENSITIVE_PATHS",
    "change_sensitivity",
    "fold_name",
    "folder_identity",
    "git_dir_message",
    "git_dir_reason",
    "git_layout_reason",
    "git_metadata_reason",
    "is_git_dir",
    "is_git_name",
    "sensitive_reason",
    "walk_plain",
]

#: Code points HFS+ ignores when it compares names (git's ``is_hfs_dotgit`` list):
#: ``.g\u200cit`` names ``.git`` there.
_HFS_IGNORABLE = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")
#: The NTFS 8.3 short name of ``.git`` (git refuses ``git~1``; any number is refused here).
_GIT_SHORT_NAME = re.compile(r"git~[0-9]+")

#: What makes a folder a git directory for git (``setup.c: is_git_directory``): ``HEAD`` with
#: ``objects/`` and ``refs/``, or ``HEAD`` with a ``commondir`` file (a worktree's git dir,
#: whose objects and refs live where ``commondir`` points).
GIT_DIR_MARKERS = ("HEAD", "objects", "refs", "commondir")

#: Paths whose change alters what guests may see or runs code on the host, and why. An entry
#: ending in ``/`` is a folder (everything below it); the others are file names. All match at
#: any depth, compared with :func:`fold_name`. A guest's change to one always waits for the
#: host, trusted editor or not; moves count on both ends.
SENSITIVE_PATHS: tuple[tuple[str, str], ...] = (
    (".gitignore", "an ignore file: it decides which files guests may see"),
    (".letsworkignore", "the letswork ignore file: it decides which files guests may see"),
    (".gitattributes", "git attributes name filters and diff drivers that git runs on the host"),
    (".gitmodules", "submodules: git fetches and checks out the repositories it names"),
    (".envrc", "direnv runs it in the host's shell on entering the folder"),
    (".pre-commit-config.yaml", "pre-commit runs the hooks it names on the host"),
    (".vscode/", "editor settings and tasks can run commands on the host"),
    (".idea/", "IDE settings and run configurations can run commands on the host"),
    (".devcontainer/", "a dev container definition runs commands and mounts folders of the host"),
    (".github/workflows/", "CI workflows run with the repository's secrets"),
    (".husky/", "git hooks that run on the host"),
    # The same classes under the names projects give them (found attacking issue 13's change).
    (
        ".gitconfig",
        "git config a host wires in with include.path: it can name commands git runs "
        "(core.fsmonitor, core.hooksPath)",
    ),
    (".githooks/", "git hooks (the usual core.hooksPath folder) that run on the host"),
    (
        ".devcontainer.json",
        "a dev container definition runs commands and mounts folders of the host",
    ),
    # The commands file (issue 17): it names the commands guests may run on the host.
    ("letswork.toml", "the commands file: it names the commands guests may run on the host"),
    (
        "pyproject.toml",
        "its [tool.letswork] names the commands guests may run on the host, and its build "
        "backend runs on install",
    ),
)


def fold_name(name: str) -> str:
    """``name`` as the most lenient filesystem would compare it, for refusals only.

    Drops the characters HFS+ ignores, applies NFKC (fullwidth letters, the long s and the
    Kelvin sign become ASCII) and case folding, cuts an NTFS stream suffix (``:...``) and
    strips the trailing dots and spaces NTFS drops.
    """
    if name.isascii():
        folded = name.lower()  # NFKC and casefold change no ASCII but the case
    else:
        folded = unicodedata.normalize("NFKC", _HFS_IGNORABLE.sub("", name)).casefold()
    return folded.split(":", 1)[0].rstrip(". ")


def is_git_name(name: str) -> bool:
    """Whether some filesystem could take the path component ``name`` for ``.git``."""
    if name.isascii() and "git" not in name.lower():
        return False  # the common case, cheap: walks ask this of every entry
    folded = fold_name(name)
    return folded == ".git" or _GIT_SHORT_NAME.fullmatch(folded) is not None


def git_metadata_reason(relpath: str) -> str | None:
    """Why ``relpath`` (``/``-separated) is git metadata by name, or None.

    A path is git metadata when any of its components is a ``.git`` name (:func:`is_git_name`).
    """
    for part in relpath.split("/"):
        if part and is_git_name(part):
            return (
                f"{part!r} is git metadata (a .git file or folder); letswork never shares, "
                "reads or writes it, because git runs commands named there"
            )
    return None


def is_git_dir(folder: str | Path) -> bool:
    """Whether git would take ``folder`` for a git directory (:data:`GIT_DIR_MARKERS`): one
    ``lstat`` when it has no ``HEAD``, at most four."""
    if not os.path.lexists(os.path.join(folder, "HEAD")):
        return False
    if os.path.lexists(os.path.join(folder, "commondir")):
        return True
    return os.path.lexists(os.path.join(folder, "objects")) and os.path.lexists(
        os.path.join(folder, "refs")
    )


#: Folders are walked with one open file descriptor per level where the platform allows it,
#: so each ``lstat`` resolves one name, not the whole path again: the checks below run on the
#: event loop at apply, and a 500-deep path cost ~130 ms a write when every call walked the
#: prefix anew. ``O_PATH`` (Linux) opens a folder that can be searched but not read.
_DIR_FDS = (
    os.open in os.supports_dir_fd
    and os.stat in os.supports_dir_fd
    and os.stat in os.supports_follow_symlinks
)
_O_FOLDER = (
    getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

#: Answers "does this name exist in the folder" (``lstat``, no symlink followed).
_Has = Callable[[str], bool]


def _has_at(fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return False
    return True


def _has_in(folder: str, name: str) -> bool:
    return os.path.lexists(os.path.join(folder, name))


def _first_folder(
    root: str, parts: Sequence[str], found: Callable[[int, _Has], bool]
) -> int | None:
    """Ask ``found(index, has)`` of ``root`` (index 0) and of each folder ``root/parts[:index]``
    in turn, down to ``root/parts`` itself; return the first index it answers true for, or None.
    Stops at the first folder that does not exist (or is not one): nothing below it exists.

    Linear in the depth: each folder is opened relative to its parent (symlinks followed, as a
    path lookup would), so no call resolves more than one name.
    """
    fd = -1
    if _DIR_FDS:
        try:
            fd = os.open(root, _O_FOLDER)
        except OSError:
            fd = -1
    folder = root
    try:
        for index in range(len(parts) + 1):
            if index:
                name = parts[index - 1]
                folder = os.path.join(folder, name)
                if fd >= 0:
                    try:
                        below = os.open(name, _O_FOLDER, dir_fd=fd)
                    except OSError as exc:
                        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                            return None
                        below = -1  # e.g. no read permission without O_PATH: go by path
                    os.close(fd)
                    fd = below
                if fd < 0 and not os.path.isdir(folder):
                    return None
            has = functools.partial(_has_at, fd) if fd >= 0 else functools.partial(_has_in, folder)
            if found(index, has):
                return index
        return None
    finally:
        if fd >= 0:
            os.close(fd)


def _git_dir_in(has: _Has) -> bool:
    """:func:`is_git_dir` for a folder known by ``has``."""
    if not has("HEAD"):
        return False
    return has("commondir") or (has("objects") and has("refs"))


def git_dir_reason(root: Path, relpath: str) -> str | None:
    """Why reading ``relpath`` would read git metadata: the path, or a folder above it up to
    ``root`` itself, is a git directory (:func:`is_git_dir`: a bare repository, a worktree's
    git dir), whatever its name; or None. One ``lstat`` per folder without a ``HEAD``, each
    resolving one name."""
    parts = [part for part in relpath.split("/") if part]
    index = _first_folder(str(root), parts, lambda _, has: _git_dir_in(has))
    if index is None:
        return None
    return git_dir_message(parts, index)


def git_dir_message(parts: Sequence[str], index: int) -> str:
    """:func:`git_dir_reason`'s answer when the folder ``parts[:index]`` is a git directory."""
    where = "/".join(parts[:index]) or "the project root"
    return (
        f"{where!r} is a git repository's metadata (HEAD with objects/ and refs/, or "
        "with commondir); letswork never shares, reads or writes it"
    )


def folder_identity(path: str) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the folder at absolute ``path`` reached with no symlink on the
    way (each name opened ``O_NOFOLLOW`` from the one above), or None: a symlink on the way,
    not a folder, or no folder descriptors."""
    if not _DIR_FDS:
        return None  # pragma: no cover - platforms without dir_fd (Windows)
    try:
        fd = os.open(os.sep, _O_FOLDER)
    except OSError:  # pragma: no cover - the filesystem root
        return None
    try:
        for name in path.split(os.sep):
            if name:
                below = os.open(name, _O_FOLDER | _O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = below
        st = os.fstat(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    return st.st_dev, st.st_ino


def walk_plain(
    root: str, parts: Sequence[str], root_id: tuple[int, int] | None = None
) -> tuple[int | None, bool, tuple[int, int] | None] | None:
    """One pass down ``root/parts`` for a read's checks, when no symlink is on the way.

    Each name is looked up (``lstat``) in its folder's descriptor, and each folder that
    exists is asked whether git takes it for a git directory (:func:`is_git_dir`), from
    ``root`` (index 0) down to ``root/parts`` itself, as :func:`git_dir_reason` does; nothing
    exists below the first name that does not.

    Returns:
        ``(index, is_dir, seen)``: the index of the first git directory as
        :func:`git_dir_reason` counts it (None: none), and, when there is none, whether
        ``root/parts`` is a folder and the ``(st_dev, st_ino)`` of what is there (None when
        nothing is).
        None when a name on the way is a symlink, the platform has no folder descriptors, or
        a lookup failed otherwise (a permission, a race), or ``root`` is not the folder
        ``root_id`` (its :func:`folder_identity`) names: the caller then resolves the path
        the general way (``realpath``), whose answer this one equals when it answers.

    ``root`` itself is opened by its path, symlinks followed: ``root_id`` is what tells that
    the project folder, or one above it, was not swapped for a symlink out of it (found
    attacking this walk: every read was served from where such a symlink led).

    Without a symlink ``realpath`` of the joined path is the joined path itself, and no
    symlink loop is possible; so this pass replaces ``realpath`` (an ``lstat`` per name of the
    whole path, the root's own included), the ``stat`` for loops, :func:`git_dir_reason`'s own
    walk and an ``isdir``: about half the system calls of a read's checks.
    """
    if not _DIR_FDS:
        return None  # pragma: no cover - platforms without dir_fd (Windows)
    try:
        fd = os.open(root, _O_FOLDER)
    except OSError:
        return None
    try:
        if root_id is not None:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != root_id:
                return None
        if _git_dir_in(functools.partial(_has_at, fd)):
            return 0, True, None
        if not parts:  # the root itself
            st = os.fstat(fd)
            return None, True, (st.st_dev, st.st_ino)
        last = len(parts) - 1
        for index, name in enumerate(parts):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    return None, False, None  # nothing exists from here down
                return None
            if stat.S_ISLNK(st.st_mode):
                return None
            if not stat.S_ISDIR(st.st_mode):
                # A file (or other entry) ends the path, or nothing exists below it.
                return None, False, (st.st_dev, st.st_ino) if index == last else None
            try:
                below = os.open(name, _O_FOLDER | _O_NOFOLLOW, dir_fd=fd)
            except OSError:
                return None  # swapped since the lstat: the general way decides
            os.close(fd)
            fd = below
            if _git_dir_in(functools.partial(_has_at, fd)):
                return index + 1, True, None
            if index == last:
                return None, True, (st.st_dev, st.st_ino)
        raise AssertionError("unreachable: the last name returns")
    finally:
        os.close(fd)


def git_layout_reason(root: Path, relpath: str) -> str | None:
    """Why changing file ``relpath`` would touch a git repository layout, or None.

    For every folder from ``root`` down to the file's parent, the folder counts as a git
    directory when, with the file in place (so a write, the target of a move, a delete or the
    source of a move alike), it holds ``HEAD`` and either ``objects`` and ``refs`` or
    ``commondir`` (:data:`GIT_DIR_MARKERS`). A change completing that layout, or changing
    anything inside one, is refused. The entry of the path below the folder counts as present
    when its name folds (:func:`fold_name`) to a marker; other entries are looked up on disk
    (``lstat``). Costs at most five ``lstat`` per folder of the path that exists, each
    resolving one name; nothing exists below the first folder that does not (one new entry
    names at most one marker, never HEAD and objects or commondir at once, so no deeper folder
    can become a repository).
    """
    parts = [part for part in relpath.split("/") if part]
    if not parts:
        return None

    def layout(index: int, has: _Has) -> bool:
        below = fold_name(parts[index])

        def present(marker: str) -> bool:
            return below == marker.lower() or has(marker)

        return present("HEAD") and (
            (present("objects") and present("refs")) or present("commondir")
        )

    index = _first_folder(str(root), parts[:-1], layout)
    if index is None:
        return None
    where = "/".join(parts[:index]) or "the project root"
    return (
        f"this change would put a file in, or complete, a git repository layout in "
        f"{where!r} (HEAD with objects/ and refs/, or with commondir); letswork never "
        "writes git metadata, because git runs commands named there"
    )


def sensitive_reason(relpath: str) -> str | None:
    """Why a change to ``relpath`` alters the sharing policy or runs code on the host, or None.

    The answer names the matching entry of :data:`SENSITIVE_PATHS` and its reason, e.g.
    ``".gitignore: an ignore file: it decides which files guests may see"``.
    """
    parts = [fold_name(part) for part in relpath.split("/") if part]
    if not parts:
        return None
    for pattern, why in SENSITIVE_PATHS:
        if pattern.endswith("/"):
            names = pattern.rstrip("/").split("/")
            span = len(names)
            # Folders only: the pattern's names must sit above the file itself.
            for start in range(len(parts) - span):
                if parts[start : start + span] == names:
                    return f"{pattern}: {why}"
        elif parts[-1] == pattern:
            return f"{pattern}: {why}"
    return None


def change_sensitivity(path: str, new_path: str | None = None) -> str | None:
    """:func:`sensitive_reason` of a change: both ends of a move count; None when neither is
    sensitive. Two different reasons are joined with ``"; "``."""
    reasons: list[str] = []
    for p in (path, new_path):
        reason = sensitive_reason(p) if p is not None else None
        if reason is not None and reason not in reasons:
            reasons.append(reason)
    return "; ".join(reasons) or None
