"""What every operation of :class:`~letswork.hub.workspace.Workspace` shares: the project
folder and its :class:`~letswork.hub.workspace.sharing.SharingRules`, the check of a path a
peer names (:func:`~letswork.hub.workspace.paths.safe_join`, git metadata, then sharing for a
guest), and the walk of a folder as a peer may see it.

Git metadata (:mod:`letswork.hub.workspace.policy`) is read and written by nobody, the host
included: walks skip it, reads get ``forbidden`` (``not_shared`` for a guest), and every write,
delete and move checks it again right before touching the disk.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, NamedTuple

from letswork.hub.workspace.disk import TEMP_PREFIX
from letswork.hub.workspace.index import TreeIndex
from letswork.hub.workspace.pages import PageCache
from letswork.hub.workspace.paths import (
    MISSING,
    _addressable,
    _q,
    _resolve,
    _Resolved,
    _split_relpath,
    to_relpath,
)
from letswork.hub.workspace.policy import (
    _DIR_FDS,
    SENSITIVE_PATHS,
    folder_identity,
    git_dir_message,
    git_dir_reason,
    git_layout_reason,
    git_metadata_reason,
    is_git_dir,
    is_git_name,
    sensitive_reason,
    walk_plain,
)
from letswork.hub.workspace.sharing import SharingRules, _Chain
from letswork.shared import limits
from letswork.shared.errors import ErrorCode, UsageError, op_error

__all__ = ["WorkspaceBase"]


class _Item(NamedTuple):
    rel: str
    path: str  # absolute path on disk (not resolved)
    name: str
    kind: Literal["file", "dir", "symlink"]
    #: the file's size when known (from the index), else -1: ask the disk
    size: int


#: Lists one folder: (absolute path, relpath, the peer is the host, chain) -> its entries.
_Scan = Callable[[str, str, bool, _Chain], list[_Item]]


def _never() -> bool:
    return False


class WorkspaceBase:
    """The project folder, its sharing rules, and the checks and walks every operation uses.

    :class:`~letswork.hub.workspace.Workspace` is this plus the operations of
    :mod:`~letswork.hub.workspace.files`, :mod:`~letswork.hub.workspace.writes` and
    :mod:`~letswork.hub.workspace.search`.
    """

    def __init__(self, root: Path, *, max_file_bytes: int = limits.MAX_FILE_BYTES) -> None:
        real = Path(os.path.realpath(root))
        if not real.is_dir():
            raise UsageError(f"{root} is not a folder; run letswork in your project folder")
        self.root = real
        self._root_str = str(real)
        #: the project folder's (st_dev, st_ino): a read's one walk opens the root by its
        #: path, and goes on only when it finds this folder there
        self._root_id = folder_identity(self._root_str) or _identity(os.stat(real))
        self.max_file_bytes = max_file_bytes
        self.rules = SharingRules(real)
        #: What earlier reads learnt of each file version, so a page is not whole-file work.
        self.pages = PageCache()
        #: the folder's index (:mod:`~letswork.hub.workspace.index`) once the hub has built
        #: one and while it is on; walks read it instead of the disk. None: walks read the disk.
        self.index: TreeIndex | None = None
        #: absolute paths of the temporary files of writes under way, which a cleanup skips
        self._live_temps: set[str] = set()
        #: set by the hub before its start-up recovery: ``cleanup_temp_files`` then waits for
        #: the hub to call it (or the index build) after listening
        self.defer_temp_cleanup = False
        #: a file (in the hub's state folder) naming the temporary file of every write before
        #: it starts, so that start-up removes a killed hub's leftovers without a walk
        self.temp_journal: Path | None = None
        self._journal_lock = threading.Lock()
        self._journal_bytes = 0

    # -- resolving -------------------------------------------------------------------------

    def _check(self, relpath: str, *, is_host: bool) -> _Resolved:
        parts = _split_relpath(relpath)
        walked = walk_plain(self._root_str, parts, self._root_id) if parts else None
        if walked is not None:
            # No symlink on the way: the path is where it leads (realpath would say so), one
            # pass answered git layouts and the kind, and one name check covers both.
            rel = "/".join(parts)
            path = self.root.joinpath(*parts)
            git_index, is_dir, seen = walked
            res = _Resolved(rel, path, path, MISSING if seen is None else seen)
            real_rel = rel
            why = git_metadata_reason(rel) or (
                None if git_index is None else git_dir_message(parts, git_index)
            )
            if why is None and is_host:
                return res
        else:
            res = _resolve(self.root, relpath)
            if not res.rel:
                return res
            real_rel = to_relpath(self.root, res.real)
            why = git_metadata_reason(res.rel) or git_metadata_reason(real_rel)
            is_dir = None
            if why is None:
                # Where the symlinks lead has none on the way (realpath resolved them), so one
                # pass there finds git layouts and what a read must open. When it bails, that
                # path changed since (or a folder cannot be searched): the folder-by-folder
                # check decides, and a read that opens something there anyway is refused.
                real_parts = [part for part in real_rel.split("/") if part]
                real_walked = walk_plain(self._root_str, real_parts, self._root_id)
                if real_walked is None and self._root_renewed():
                    real_walked = walk_plain(self._root_str, real_parts, self._root_id)
                if real_walked is None:
                    why = git_dir_reason(self.root, real_rel)  # an lstat or so per folder
                    if _DIR_FDS:
                        res = dataclasses.replace(res, seen=MISSING)
                else:
                    git_index, is_dir, seen = real_walked
                    if git_index is not None:
                        why = git_dir_message(real_parts, git_index)
                    res = dataclasses.replace(res, seen=MISSING if seen is None else seen)
        if why is not None:
            # Nobody reads git metadata through the hub, the host included; a guest gets the
            # not_shared of every unshared path, whether or not it exists.
            if is_host:
                raise op_error(ErrorCode.FORBIDDEN, f"path {_q(res.rel)}: {why}")
            raise op_error(
                ErrorCode.NOT_SHARED, f"path {_q(res.rel)} is not shared by the host: {why}"
            )
        if not is_host:
            if is_dir is None:
                is_dir = os.path.isdir(res.real)
            if not self.rules.is_shared(res.rel, is_dir=is_dir) or (
                real_rel != res.rel and not self.rules.is_shared(real_rel, is_dir=is_dir)
            ):
                raise op_error(
                    ErrorCode.NOT_SHARED, f"path {_q(res.rel)} is not shared by the host"
                )
        return res

    def _root_renewed(self) -> bool:
        """Whether another folder is now at the project's path, with no symlink on the way
        (a fresh clone made there): realpath takes it for the project, so the one walk is to
        go on in it. Its identity is then kept instead."""
        found = folder_identity(self._root_str)
        if found is None or found == self._root_id:
            return False
        self._root_id = found
        return True

    def resolve(self, relpath: str, *, is_host: bool) -> Path:
        """:func:`~.paths.safe_join` plus the sharing check: ``not_shared`` for a guest.

        The check applies to the path as named and to where it leads through symlinks. Git
        metadata (a ``.git`` name anywhere in either) is ``forbidden`` for the host too.
        """
        return self._check(relpath, is_host=is_host).real

    def check_changeable(self, relpath: str) -> None:
        """Refuse a change of the file ``relpath`` that would touch git metadata.

        Checked on the path as named and where it really leads: a ``.git`` name at any depth
        (:func:`~.policy.git_metadata_reason`), or a folder that is, or with this
        file would become, a git repository layout
        (:func:`~.policy.git_layout_reason`; a few ``lstat`` per folder). The
        writes, deletes and moves of this class check it again themselves, right before they
        touch the disk.

        Raises:
            OpError: ``forbidden`` with the reason; ``invalid`` for a bad path.
        """
        self._refuse_git(_resolve(self.root, relpath))

    def _refuse_git(self, res: _Resolved) -> None:
        real_rel = to_relpath(self.root, res.real)
        why = (
            git_metadata_reason(res.rel)
            or git_metadata_reason(real_rel)
            or git_layout_reason(self.root, real_rel)
        )
        if why is not None:
            raise op_error(ErrorCode.FORBIDDEN, f"{_q(res.rel)}: {why}")

    def change_sensitivity(self, path: str, new_path: str | None = None) -> str | None:
        """Why a change of ``path`` (and ``new_path``, a move's target) alters what guests see
        or runs code on the host, or None: :func:`~.policy.sensitive_reason` of
        each end as named and where it really leads, and as a path inside the target of a
        symlink the project has at a sensitive path (``.vscode -> config/vscode``,
        ``.envrc -> scripts/env.sh``: tools read the target under the sensitive name). Two
        reasons are joined with ``"; "``.

        A ``realpath`` per entry of :data:`~.policy.SENSITIVE_PATHS` (a few
        ``lstat``): call it off the loop. Symlinks at a sensitive path below the root are
        found only when the change names them.

        Raises:
            OpError: ``invalid`` for a bad path.
        """
        reasons: list[str] = []
        for p in (path, new_path):
            if p is None:
                continue
            res = _resolve(self.root, p)
            real_rel = to_relpath(self.root, res.real)
            for reason in (
                sensitive_reason(res.rel),
                sensitive_reason(real_rel),
                self._sensitive_alias(res.real),
            ):
                if reason is not None and reason not in reasons:
                    reasons.append(reason)
        return "; ".join(reasons) or None

    def _sensitive_alias(self, real: Path) -> str | None:
        """The reason of a root-level entry of ``SENSITIVE_PATHS`` that is (or goes through) a
        symlink whose target is, or for a folder holds, ``real``."""
        for pattern, why in SENSITIVE_PATHS:
            name = pattern.rstrip("/")
            lexical = self.root / name
            try:
                target = Path(os.path.realpath(lexical))
            except (OSError, ValueError):
                continue
            if target == lexical or not target.is_relative_to(self.root):
                continue  # no symlink on the way, or one leading out: guests write neither
            folder = pattern.endswith("/")
            if real == target if not folder else (real != target and real.is_relative_to(target)):
                return f"{pattern}: {why}"
        return None

    def _noted(self, *paths: Path) -> None:
        """Tell the index (when there is one) that the hub changed ``paths`` (real paths):
        a listing right after a write must show it, before the watcher reports it."""
        index = self.index
        if index is None:
            return
        for path in paths:
            with contextlib.suppress(ValueError):
                rel = path.relative_to(self.root).as_posix()
                index.note("" if rel == "." else rel)

    def is_symlink(self, relpath: str) -> bool:
        """Whether ``relpath`` itself is a symlink (which writes, deletes and moves refuse).

        :meth:`resolve` returns the real path, so it cannot answer this.
        """
        # os.path.islink, not Path.is_symlink: that raises on EACCES (a folder the hub may
        # not search), which ended a write there as an internal error
        return os.path.islink(_resolve(self.root, relpath).lexical)

    def _symlink_visible(self, path: str) -> bool:
        """Whether a guest may see a symlink: it leads to a shared path inside the root, and
        not into git metadata."""
        try:
            real = Path(os.path.realpath(path))
            if not real.is_relative_to(self.root):
                return False
            os.stat(path)
        except (OSError, ValueError):
            return False  # dangling, loop, or unreadable
        real_rel = to_relpath(self.root, real)
        if git_metadata_reason(real_rel) or git_dir_reason(self.root, real_rel):
            return False
        return self.rules.is_shared(real_rel, is_dir=real.is_dir())

    # -- walking ---------------------------------------------------------------------------

    def _scan(self, dir_path: str, dir_rel: str, is_host: bool, chain: _Chain) -> list[_Item]:
        """The visible entries of one folder, sorted by name. Unreadable folders are empty."""
        try:
            with os.scandir(dir_path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return []
        items: list[_Item] = []
        rules = self.rules
        extra = None if is_host else rules._letsworkignore()
        for entry in entries:
            name = entry.name
            # Git metadata does not exist through the hub, for the host either: a .git of any
            # spelling, file or folder, and a folder git takes for a repository (bare ones).
            if name.startswith(TEMP_PREFIX) or not _addressable(name) or is_git_name(name):
                continue
            kind: Literal["file", "dir", "symlink"]
            try:
                if entry.is_symlink():
                    kind = "symlink"
                elif entry.is_dir(follow_symlinks=False):
                    kind = "dir"
                elif entry.is_file(follow_symlinks=False):
                    kind = "file"
                else:
                    continue  # fifo, socket, device: never listed or opened
            except OSError:
                continue
            if kind == "dir" and is_git_dir(entry.path):
                continue
            rel = f"{dir_rel}/{name}" if dir_rel else name
            if not is_host:
                if not rules._decide(rel, kind == "dir", chain, extra):
                    continue
                if kind == "symlink" and not self._symlink_visible(entry.path):
                    continue
            items.append(_Item(rel, entry.path, name, kind, -1))
        return items

    def _walk(
        self, start: _Resolved, *, is_host: bool, max_depth: int | None, breadth_first: bool
    ) -> Iterator[_Item]:
        """Entries under folder ``start``; never follows symlinks or enters a ``.git`` below it.

        Depth-first walks yield entries in path order, component by component; breadth-first
        walks yield shallow entries first. With the folder's index on, the entries come from
        it, in the same order (:meth:`_indexed_scan`): no ``scandir`` and no sharing decision.
        """
        start_rel = to_relpath(self.root, start.real)
        index = self.index
        if index is not None and index.ready:
            index.sync()
            if index.ready and index.holds(start_rel, is_host=is_host):
                return self._walk_with(
                    self._indexed_scan(index),
                    str(start.real),
                    start_rel,
                    (),
                    is_host=True,
                    max_depth=max_depth,
                    breadth_first=breadth_first,
                    peer_is_host=is_host,
                )
        chain = () if is_host else self.rules.chain_for(start_rel)
        return self._walk_with(
            self._scan,
            str(start.real),
            start_rel,
            chain,
            is_host=is_host,
            max_depth=max_depth,
            breadth_first=breadth_first,
            peer_is_host=is_host,
        )

    @staticmethod
    def _indexed_scan(index: TreeIndex) -> _Scan:
        """:meth:`_scan` answered by ``index`` (``is_host`` is the peer's; no chains)."""

        def scan(dir_path: str, dir_rel: str, is_host: bool, chain: _Chain) -> list[_Item]:
            found = index.folder(dir_rel, is_host=is_host)
            if found is None:
                return []  # removed since its entry was listed, as on the disk
            return [
                _Item(f"{dir_rel}/{name}" if dir_rel else name, path, name, kind, size)
                for name, path, kind, size in found
            ]

        return scan

    def _walk_with(
        self,
        scan: _Scan,
        start_path: str,
        start_rel: str,
        chain: _Chain,
        *,
        is_host: bool,
        max_depth: int | None,
        breadth_first: bool,
        peer_is_host: bool,
    ) -> Iterator[_Item]:
        """The walk of :meth:`_walk` over ``scan``; ``is_host`` says whether chains are kept
        (walks of the disk for a guest), ``peer_is_host`` is passed on to ``scan``."""

        def children(item: _Item, chain: _Chain) -> _Chain:
            return chain if is_host else self.rules._child_chain(chain, item.rel)

        if breadth_first:
            queue: collections.deque[tuple[str, str, int, _Chain]] = collections.deque(
                [(start_path, start_rel, 1, chain)]
            )
            while queue:
                dir_path, dir_rel, depth, dir_chain = queue.popleft()
                for item in scan(dir_path, dir_rel, peer_is_host, dir_chain):
                    yield item
                    if _descend(item, depth, max_depth):
                        queue.append((item.path, item.rel, depth + 1, children(item, dir_chain)))
            return
        stack: list[tuple[Iterator[_Item], _Chain]] = [
            (iter(scan(start_path, start_rel, peer_is_host, chain)), chain)
        ]
        while stack:
            iterator, dir_chain = stack[-1]
            found = next(iterator, None)
            if found is None:
                stack.pop()
                continue
            item = found
            yield item
            if _descend(item, len(stack), max_depth):
                sub_chain = children(item, dir_chain)
                stack.append((iter(scan(item.path, item.rel, peer_is_host, sub_chain)), sub_chain))


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _descend(item: _Item, depth: int, max_depth: int | None) -> bool:
    """Whether a walk enters ``item`` found at ``depth``: folders only, never a ``.git`` name."""
    return (
        item.kind == "dir"
        and not is_git_name(item.name)
        and (max_depth is None or depth < max_depth)
    )
