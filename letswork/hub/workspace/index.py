"""An index of the project folder, kept up to date by the watcher (issue 15, item 1).

:class:`TreeIndex` holds every entry a host's walk of the folder would meet (the walks of
:mod:`~letswork.hub.workspace.base`: no git metadata, no temporary files, no special files,
never through a symlink), each with its kind, size and whether guests may see it (no mtime:
nothing read it, and its 2-digit ints were 5 MiB per 130,000 entries).
``list_files``, ``find_files`` and the file set of ``search_files`` then read it instead of
walking the disk and deciding the sharing rules entry by entry.

It decides with the one policy: an entry is shared exactly when
:meth:`~letswork.hub.workspace.sharing.SharingRules._decide` shares it given that its folder
is shared, with the ``.gitignore`` chain of :meth:`~.sharing.SharingRules._child_chain`: the
same calls, in the same order, as a guest's walk. A symlink's visibility depends on its target
and is asked again (:meth:`~.base.WorkspaceBase._symlink_visible`) at every answer.

Changes reach it as paths (:meth:`TreeIndex.note`: the watcher's, and the workspace's own
writes); the next :meth:`TreeIndex.sync` applies all the noted paths at once, one folder at a
time: a burst of 1,000 files in one folder is one update of that folder, ``lstat`` per noted
name, no walk. A changed ignore file re-decides the subtree it governs (from the index, without
the disk). Thread-safe: updates hold a lock; readers take no lock, since a folder's entries are
replaced whole, never changed in place.

``find_files`` reads :meth:`TreeIndex.file_list`: the paths of every file and symlink a peer's
walk would list (one list for guests, one for the host), in walk order, as one ``"\n"``-joined
string, made again only when an update changed which paths there are or which are shared
(:attr:`TreeIndex.generation`). One RE2 scan of it answers a glob for the whole tree.

Caps (see docs/security.md): at most ``max_entries`` entries (:data:`MAX_INDEX_ENTRIES`; about
33 MiB of RSS per 132,711 entries of real sdists, 263 bytes an entry with the ignore files'
compiled specs, measured in docs/performance.md) and ``max_path_bytes`` bytes of relative
paths in all (:data:`MAX_INDEX_PATH_BYTES`: each file list holds its paths whole), a build ends
at ``should_stop`` (the hub gives it a deadline), and more noted paths than
:data:`MAX_PENDING_PATHS` between two syncs become one rebuild. Over a cap the index turns
itself off (:attr:`TreeIndex.ready` false) and every request walks the disk as before.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from operator import attrgetter
from pathlib import Path
from typing import Literal, Protocol

from letswork.hub.workspace.disk import TEMP_PREFIX
from letswork.hub.workspace.paths import _addressable
from letswork.hub.workspace.policy import is_git_dir, is_git_name
from letswork.hub.workspace.sharing import SharingRules, _Chain, _Extra
from letswork.shared import limits

__all__ = [
    "MAX_INDEX_ENTRIES",
    "MAX_INDEX_PATH_BYTES",
    "MAX_PENDING_PATHS",
    "SYNC_DEADLINE_SECONDS",
    "FileList",
    "IndexFull",
    "TreeIndex",
]

log = logging.getLogger("letswork.hub")

#: Most entries (files, folders, symlinks) an index holds; past it the index turns off.
MAX_INDEX_ENTRIES = limits.MAX_INDEX_ENTRIES
#: Most bytes of relative paths (UTF-8, summed over the entries) an index holds; past it the
#: index turns off.
MAX_INDEX_PATH_BYTES = limits.MAX_INDEX_PATH_BYTES
#: More paths noted than this between two syncs are not applied one by one: the index is
#: built again.
MAX_PENDING_PATHS = 50_000
#: One sync (an update, or a rebuild after too many noted paths) that takes longer than this
#: turns the index off: a folder of 400,000 entries builds in about 6 s here.
SYNC_DEADLINE_SECONDS = 60.0

_Kind = Literal["file", "dir", "symlink"]
#: Lines of a file list encoded at once while it is made.
_CHUNK_LINES = 4096
#: Distinct names a build keeps to share one str per name; past it the dict starts again
#: (400,000 distinct names would hold 22 MiB more while the build runs).
_MAX_NAMES = 65_536


class _Folder(Protocol):
    """What the index needs of :class:`~.base.WorkspaceBase` (which imports this module)."""

    root: Path
    rules: SharingRules
    _live_temps: set[str]

    def _symlink_visible(self, path: str) -> bool: ...


class IndexFull(Exception):
    """The folder holds more than the index's ``max_entries`` or ``max_path_bytes``, or the
    build was stopped."""


class FileList:
    """The relative paths of the files and symlinks a peer's walk lists, in walk order (by
    component, each folder's entries by name), from :meth:`TreeIndex.file_list`.

    ``text``: the paths in UTF-8, each ended by ``"\n"`` (no name holds a control character).
    ``symlinks``: the paths that are symlinks; a guest sees one only if its target is shared,
    which is asked at every answer. ``generation``: the index's, when the list was made.
    """

    __slots__ = ("generation", "symlinks", "text")

    def __init__(self, generation: int, text: bytes, symlinks: frozenset[str]) -> None:
        self.generation = generation
        self.text = text
        self.symlinks = symlinks

    def under(self, folder: str) -> bytes:
        """The lines of :attr:`text` below ``folder`` (``""``: all), relative to it.

        The paths below a folder are one run of lines: walk order keeps a folder's entries
        together, so the first and the last line starting with ``folder/`` bound them.
        """
        text = self.text
        if not folder:
            return text
        prefix = folder.encode("utf-8") + b"/"
        if text.startswith(prefix):
            start = 0
        else:
            found = text.find(b"\n" + prefix)
            if found < 0:
                return b""
            start = found + 1
        last = max(start, text.rfind(b"\n" + prefix) + 1)
        end = text.index(b"\n", last) + 1
        return (b"\n" + text[start:end]).replace(b"\n" + prefix, b"\n")[1:]


class _Node:
    """One entry. ``kids`` (folders only): the entries sorted by name, found by bisection (a
    dict of them as well was a quarter of the index's memory), replaced whole on every change.
    ``chain``: for a shared folder, the chain its entries are decided with
    (:meth:`~.sharing.SharingRules._child_chain`); None otherwise."""

    __slots__ = ("chain", "kids", "kind", "name", "shared", "size")

    def __init__(self, name: str, kind: _Kind, size: int, shared: bool) -> None:
        self.name = name
        self.kind: _Kind = kind
        self.size = size
        self.shared = shared
        self.kids: tuple[_Node, ...] | None = None
        self.chain: _Chain | None = None


_NO_KIDS: tuple[_Node, ...] = ()
_NAME = attrgetter("name")


def _kid(kids: tuple[_Node, ...] | None, name: str) -> _Node | None:
    """The entry called ``name`` among ``kids`` (sorted by name), or None."""
    if not kids:
        return None
    at = bisect_left(kids, name, key=_NAME)
    if at < len(kids) and kids[at].name == name:
        return kids[at]
    return None


def _kind_of(st: os.stat_result) -> _Kind | None:
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return None  # fifo, socket, device: never listed


def _listed_name(name: str) -> bool:
    """Whether a walk lists an entry called ``name`` at all (for the host too)."""
    return not name.startswith(TEMP_PREFIX) and _addressable(name) and not is_git_name(name)


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


class TreeIndex:
    """The entries of ``ws``'s folder as its walks see them, kept by :meth:`note` and
    :meth:`sync`. Not :attr:`ready` until :meth:`build` has run to the end."""

    def __init__(
        self,
        ws: _Folder,
        *,
        max_entries: int = MAX_INDEX_ENTRIES,
        max_path_bytes: int = MAX_INDEX_PATH_BYTES,
    ) -> None:
        self.ws = ws
        self.rules = ws.rules
        self.max_entries = max_entries
        self.max_path_bytes = max_path_bytes
        root = str(ws.root)
        self._prefix = root if root.endswith("/") else root + "/"
        self._root = _Node("", "dir", 0, True)
        self._extra: _Extra = None
        self._count = 0
        self._path_bytes = 0  # UTF-8 bytes of every entry's relative path, summed
        #: Bumped when a build or an update has changed which paths there are or which are
        #: shared: a :class:`FileList` of an older generation is made again.
        self.generation = 0
        self._changed = False
        self._lists: dict[bool, FileList] = {}  # by is_host
        self._list_lock = threading.Lock()  # one thread makes a list, the others wait
        #: True once built, until a cap or an error turns the index off.
        self.ready = False
        self._lock = threading.Lock()  # held by builds and updates
        self._note_lock = threading.Lock()  # held while noting or taking noted paths
        self._pending: set[str] = set()
        self._rebuild = False
        #: ignore file relpath -> (mtime_ns, size, inode) it was read with (None: absent)
        self._ignore_sigs: dict[str, tuple[int, int, int] | None] = {}
        self._stop: Callable[[], bool] = _never
        #: updates applied by :meth:`sync` (one per call that found noted paths)
        self.updates = 0
        #: temporary files removed by the last :meth:`build` (``remove_temps``)
        self.temps_removed = 0

    def __len__(self) -> int:
        return self._count

    # -- building --------------------------------------------------------------------------

    def build(
        self, should_stop: Callable[[], bool] | None = None, *, remove_temps: bool = False
    ) -> None:
        """Read the whole folder (one ``scandir`` per folder, one ``lstat`` per entry) and turn
        the index on. Paths noted meanwhile are applied by the next :meth:`sync`.

        ``remove_temps``: also remove leftover ``.letswork-tmp-*`` files
        (:meth:`~.writes.WriteOps.cleanup_temp_files` without its own walk).

        Raises:
            IndexFull: over ``max_entries``, or ``should_stop`` said so; the index is off.
        """
        with self._lock:
            self._build(should_stop or _never, remove_temps=remove_temps)

    def _build(self, should_stop: Callable[[], bool], *, remove_temps: bool) -> None:
        self.ready = False
        self._stop = should_stop
        self._root = root = _Node("", "dir", 0, True)
        root.kids = _NO_KIDS
        self.rules.reload()
        self._ignore_sigs = {}
        self._root_rules()
        self._count = 0
        self._path_bytes = 0
        self.temps_removed = 0
        try:
            self._fill(root, "", remove_temps=remove_temps)
        finally:
            self._stop = _never
        with self._note_lock:
            self._rebuild = False
        self.generation += 1
        self._changed = False
        self.ready = True

    def _fill(self, top: _Node, top_rel: str, *, remove_temps: bool = False) -> None:
        """Read folder ``top`` and everything below it from the disk (no recursion)."""
        # One str per distinct name: 132,711 entries have 31,904 names on the bench's 100k
        # tree (__init__.py, copies of vendored packages), 6 MiB of repeats.
        names: dict[str, str] = {}
        stack = [(top, top_rel)]
        while stack:
            node, rel = stack.pop()
            kids = self._read_folder(node, rel, remove_temps, names)
            node.kids = tuple(kids)
            stack.extend((kid, _join(rel, kid.name)) for kid in kids if kid.kind == "dir")

    def _read_folder(
        self, parent: _Node, rel: str, remove_temps: bool, names: dict[str, str]
    ) -> list[_Node]:
        """The entries of folder ``rel`` as :meth:`~.base.WorkspaceBase._scan` lists them for
        the host, sorted by name, each decided for guests; ``names`` gives each name's one
        str (and takes new ones)."""
        if self._stop():
            raise IndexFull("the index build was stopped (deadline)")
        path = self._prefix + rel if rel else self._prefix
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return []
        kids: list[_Node] = []
        for entry in entries:
            name = entry.name
            if not _listed_name(name):
                if remove_temps and name.startswith(TEMP_PREFIX):
                    self._remove_temp(entry)
                continue
            if len(names) >= _MAX_NAMES:
                names.clear()  # only a help: bounded at each name, even in one huge folder
            name = names.setdefault(name, name)
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            node = self._make(parent, _join(rel, name), name, st, entry.path)
            if node is not None:
                kids.append(node)
        return kids

    def _remove_temp(self, entry: os.DirEntry[str]) -> None:
        live = self.ws._live_temps
        with suppress(OSError):
            if entry.is_file(follow_symlinks=False) and entry.path not in live:
                os.unlink(entry.path)
                self.temps_removed += 1

    def _make(
        self, parent: _Node, rel: str, name: str, st: os.stat_result, path: str
    ) -> _Node | None:
        """A new entry under ``parent`` (not yet read below), or None when walks skip it."""
        kind = _kind_of(st)
        if kind is None or (kind == "dir" and is_git_dir(path)):
            return None
        self._count += 1
        if self._count > self.max_entries:
            raise IndexFull(f"the folder holds over {self.max_entries} entries")
        self._path_bytes += _utf8_len(rel)
        if self._path_bytes > self.max_path_bytes:
            raise IndexFull(f"the folder's paths hold over {self.max_path_bytes} bytes")
        self._changed = True
        shared = parent.shared and self.rules._decide(
            rel, kind == "dir", parent.chain or (), self._extra
        )
        node = _Node(name, kind, st.st_size if kind == "file" else 0, shared)
        if kind == "dir":
            node.kids = _NO_KIDS
            if shared:
                node.chain = self._chain_of(parent.chain or (), rel)
        return node

    def _chain_of(self, parent_chain: _Chain, rel: str) -> _Chain:
        """:meth:`~.sharing.SharingRules._child_chain`, remembering the ``.gitignore`` read."""
        chain = self.rules._child_chain(parent_chain, rel)
        self._remember("g:" + rel, f"{rel}/.gitignore")
        return chain

    def _root_rules(self) -> None:
        """Read the root's ignore files again (its ``.gitignore`` and ``.letsworkignore``)."""
        rules = self.rules
        self._extra = rules._letsworkignore()
        self._root.chain = rules._root_chain()
        self._remember("g:", ".gitignore", always=True)
        self._remember("l:", ".letsworkignore", always=True)

    def _remember(self, cache_key: str, rel: str, *, always: bool = False) -> None:
        """Keep the signature of the ignore file ``rel`` the decisions were made with, so
        that :meth:`sync` sees an edit before the watcher reports it."""
        cached = self.rules._cache.get(cache_key)
        sig = cached[0] if cached is not None else None
        if sig is not None or always:
            self._ignore_sigs[rel] = sig
        else:
            self._ignore_sigs.pop(rel, None)

    def _note_edited_ignore_files(self) -> None:
        """Note every ignore file the index decided with that changed on disk since: one
        ``stat`` each (a new ``.gitignore`` below the root waits for the watcher)."""
        for rel, sig in list(self._ignore_sigs.items()):
            try:
                st = os.stat(self._prefix + rel)
                now: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
                if not stat.S_ISREG(st.st_mode):
                    now = None
            except (OSError, ValueError):
                now = None
            if now != sig:
                self.note(rel)

    # -- changes ---------------------------------------------------------------------------

    def note(self, relpath: str) -> None:
        """Something at ``relpath`` (``/``-separated, relative to the root; ``""`` is the root)
        changed: created, deleted, written, renamed, or an ignore file's guest version. Cheap;
        any thread. Applied by the next :meth:`sync`."""
        with self._note_lock:
            if self._rebuild:
                return
            self._pending.add(relpath)
            if len(self._pending) > MAX_PENDING_PATHS:
                self._pending = set()
                self._rebuild = True

    def note_abspaths(self, paths: Iterable[str]) -> None:
        """:meth:`note` for absolute paths (the watcher's); paths outside the root are
        dropped."""
        prefix = self._prefix
        root = prefix[:-1]
        for path in paths:
            if path.startswith(prefix):
                self.note(path[len(prefix) :].strip("/"))
            elif path == root:
                self.note("")

    def sync(self) -> None:
        """Apply every path noted so far; call it off the event loop. Waits for an update
        under way. On an error or a cap the index turns itself off (logged), never raises."""
        if self.ready:
            self._note_edited_ignore_files()
        if not self._pending and not self._rebuild:
            return
        with self._lock:
            if not self.ready:
                return  # a build applies nothing: it reads everything, notes come after it
            with self._note_lock:
                pending, self._pending = self._pending, set()
                rebuild = self._rebuild
            deadline = time.monotonic() + SYNC_DEADLINE_SECONDS
            self._stop = lambda: time.monotonic() >= deadline
            try:
                if rebuild:
                    self._build(self._stop, remove_temps=False)
                elif pending:
                    self._apply(pending)
                    if self._changed:
                        self.generation += 1  # after the change is whole: lists see it all
                        self._changed = False
                self.updates += 1
            except Exception as exc:
                self.ready = False
                self._lists = {}  # nothing reads them while the index is off
                log.warning("the file index is off, requests walk the folder: %s", exc)
            finally:
                self._stop = _never

    def _find(self, rel: str) -> _Node | None:
        node = self._root
        if not rel:
            return node
        for part in rel.split("/"):
            found = _kid(node.kids, part)
            if found is None:
                return None
            node = found
        return node

    def _apply(self, paths: set[str]) -> None:
        """Re-read the noted names, grouped by the deepest folder the index has on their way,
        then re-decide the subtrees of changed ignore files."""
        groups: dict[str, set[str] | None] = {}
        policy: set[str] = set()
        for rel in paths:
            parts = [p for p in rel.split("/") if p]
            if self.rules.ignore_file_key("/".join(parts)) is not None:
                policy.add("/".join(parts[:-1]))
            node, depth = self._root, 0
            while depth < len(parts) - 1:
                kid = _kid(node.kids, parts[depth])
                if kid is None or kid.kind != "dir":
                    break
                node, depth = kid, depth + 1
            if not parts:
                groups[""] = None  # the root itself: read all of it again
                continue
            folder = "/".join(parts[:depth])
            names = groups.setdefault(folder, set())
            if names is not None:
                names.add(parts[depth])
        fresh: list[str] = []  # folders read whole in this update
        for folder in sorted(groups, key=lambda f: (f.count("/") if f else -1, f)):
            if any(folder == f or folder.startswith(f + "/") for f in fresh):
                continue
            self._update_folder(folder, groups[folder], fresh)
        self._redecide(policy)

    def _update_folder(self, folder: str, names: set[str] | None, fresh: list[str]) -> None:
        node = self._find(folder)
        if node is None or node.kind != "dir" or node.kids is None:
            return  # gone meanwhile: its parent's update removed it
        path = self._prefix + folder if folder else self._prefix
        if folder and is_git_dir(path):
            parent, _, name = folder.rpartition("/")
            self._update_folder(parent, {name}, fresh)  # it became a git dir: drop it
            return
        # A folder noted by name may be another one now (removed and made again, or moved
        # in), whose entries nobody reported: it is read again whole. Listed only because
        # its parent is read again (the root's own event), it is kept.
        reread = names is not None
        if names is None:
            try:
                names = set(os.listdir(path))
            except OSError:
                names = set()
            names |= {kid.name for kid in node.kids}
        by_name = {kid.name: kid for kid in node.kids}
        for name in names:
            old = by_name.get(name)
            kid_path = path + "/" + name if folder else path + name
            new: _Node | None = None
            st: os.stat_result | None = None
            if _listed_name(name):
                with suppress(OSError):
                    st = os.lstat(kid_path)
            if st is not None and old is not None and old.kind == _kind_of(st):
                if old.kind == "file":
                    old.size = st.st_size
                if old.kind != "dir":
                    continue
                if is_git_dir(kid_path):
                    st = None  # a folder that became a git dir: drop it
                elif not reread:
                    continue
            if old is not None:
                del by_name[name]
                count, path_bytes = _weight(old, _join(folder, name))
                self._count -= count
                self._path_bytes -= path_bytes
                self._changed = True
            if st is not None:
                rel = _join(folder, name)
                new = self._make(node, rel, name, st, kid_path)
                if new is not None:
                    by_name[name] = new
                    if new.kind == "dir":
                        self._fill(new, rel)
                        fresh.append(rel)
        node.kids = tuple(sorted(by_name.values(), key=_NAME))

    def _redecide(self, folders: set[str]) -> None:
        """Decide again everything below each folder whose ``.gitignore`` changed (the whole
        tree for the root's ignore files), from the index alone."""
        if not folders:
            return
        rules = self.rules
        self._changed = True
        for folder in folders:
            node = self._find(folder)
            if folder and (node is None or node.kind != "dir" or not node.shared):
                # Gone, or unshared: its .gitignore decides nothing; stop watching it.
                self._ignore_sigs.pop(f"{folder}/.gitignore", None)
        if "" in folders or rules.case_insensitive:
            # The root's files govern everything; on a case-insensitive filesystem a guest
            # version's key may spell the folder otherwise than the disk does.
            folders = {""}
        for folder in sorted(folders, key=lambda f: f.count("/")):
            if any(folder.startswith(f + "/") for f in folders if f and f != folder):
                continue  # an ancestor's re-decision covers it
            node = self._find(folder)
            if node is None or node.kind != "dir":
                continue
            if folder:
                rules._cache.pop("g:" + folder, None)
                parent = self._find(folder.rpartition("/")[0])
                node.chain = (
                    self._chain_of(parent.chain or (), folder)
                    if parent is not None and node.shared
                    else None
                )
            else:
                rules._cache.pop("g:", None)
                rules._cache.pop("l:", None)
                self._root_rules()
            self._redecide_below(node, folder)

    def _redecide_below(self, top: _Node, top_rel: str) -> None:
        rules, extra = self.rules, self._extra
        stack = [(top, top_rel)]
        while stack:
            node, rel = stack.pop()
            for kid in node.kids or ():
                kid_rel = _join(rel, kid.name)
                is_dir = kid.kind == "dir"
                kid.shared = node.shared and rules._decide(kid_rel, is_dir, node.chain or (), extra)
                if is_dir:
                    if kid.shared:
                        kid.chain = self._chain_of(node.chain or (), kid_rel)
                    else:
                        kid.chain = None
                        self._ignore_sigs.pop(f"{kid_rel}/.gitignore", None)
                    stack.append((kid, kid_rel))

    # -- answering -------------------------------------------------------------------------

    def holds(self, rel: str, *, is_host: bool) -> bool:
        """Whether the index holds folder ``rel`` as this peer may see it."""
        node = self._find(rel)
        return node is not None and node.kids is not None and (is_host or node.shared)

    def folder(self, rel: str, *, is_host: bool) -> list[tuple[str, str, _Kind, int]] | None:
        """The entries of folder ``rel`` a walk would list for this peer, sorted by name, as
        (name, absolute path, kind, size); None when the index does not hold that folder
        (then the caller walks the disk)."""
        node = self._find(rel)
        if node is None or node.kids is None or (not is_host and not node.shared):
            return None
        base = self._prefix + rel + "/" if rel else self._prefix
        out: list[tuple[str, str, _Kind, int]] = []
        visible = self.ws._symlink_visible
        for kid in node.kids:
            path = base + kid.name
            if not is_host and (not kid.shared or (kid.kind == "symlink" and not visible(path))):
                continue
            out.append((kid.name, path, kid.kind, kid.size))
        return out

    def entry(self, rel: str) -> tuple[_Kind, int, bool] | None:
        """(kind, size, shared) of ``rel``, or None when not indexed."""
        node = self._find(rel)
        return None if node is None else (node.kind, node.size, node.shared)

    def file_list(self, *, is_host: bool) -> FileList:
        """The :class:`FileList` of this peer's walk of the whole folder, made again (a walk of
        the index, about 60 ms per 100,000 entries) only when :attr:`generation` moved on.

        The generation is read before the list is made: a list made during an update may hold
        part of it, but then carries the older generation and is made again at the next call.
        """
        generation = self.generation
        found = self._lists.get(is_host)
        if found is not None and found.generation == generation:
            return found
        with self._list_lock:
            found = self._lists.get(is_host)
            if found is not None and found.generation == generation:
                return found
            self._lists.pop(is_host, None)  # the old text is freed before the new one is made
            made = self._flatten(generation, is_host=is_host)
            self._lists[is_host] = made
            if not self.ready:  # turned off meanwhile, its lists freed: not this one either
                self._lists.pop(is_host, None)
            return made

    def _flatten(self, generation: int, *, is_host: bool) -> FileList:
        # Lines are encoded a few thousand at a time: the list of every line as a str would
        # double the peak (20 MiB more for a 6 MiB list), and the freed heap stays in RSS.
        chunks: list[bytes] = []
        lines: list[str] = []
        symlinks: list[str] = []
        stack: list[tuple[Iterator[_Node], str]] = [(iter(self._root.kids or ()), "")]
        while stack:
            kids, prefix = stack[-1]
            for kid in kids:
                if not is_host and not kid.shared:
                    continue
                if kid.kind == "dir":
                    stack.append((iter(kid.kids or ()), prefix + kid.name + "/"))
                    break  # this folder's walk goes on once the new one is done
                lines.append(prefix + kid.name)
                if kid.kind == "symlink":
                    symlinks.append(lines[-1])
                if len(lines) >= _CHUNK_LINES:
                    chunks.append(("\n".join(lines) + "\n").encode("utf-8"))
                    lines = []
            else:
                stack.pop()
        if lines:
            chunks.append(("\n".join(lines) + "\n").encode("utf-8"))
        return FileList(generation, b"".join(chunks), frozenset(symlinks))

    def paths(self) -> dict[str, bool]:
        """Every indexed path and whether it is shared (tests, and the property test)."""
        out: dict[str, bool] = {}
        stack = [(self._root, "")]
        while stack:
            node, rel = stack.pop()
            for kid in node.kids or ():
                kid_rel = _join(rel, kid.name)
                out[kid_rel] = kid.shared
                if kid.kind == "dir":
                    stack.append((kid, kid_rel))
        return out


def _never() -> bool:
    return False


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _weight(node: _Node, rel: str) -> tuple[int, int]:
    """How many entries ``node`` (at ``rel``) and everything below it are, and the UTF-8
    bytes of their relative paths."""
    count = path_bytes = 0
    stack = [(node, _utf8_len(rel))]
    while stack:
        item, size = stack.pop()
        count += 1
        path_bytes += size
        if item.kids:
            stack.extend((kid, size + 1 + _utf8_len(kid.name)) for kid in item.kids)
    return count, path_bytes
