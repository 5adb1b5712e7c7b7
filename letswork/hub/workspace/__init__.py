"""The hub's file layer on the host's project folder (design section 7).

Everything here is synchronous and knows nothing about peers beyond one boolean, ``is_host``:
the host sees every file, a guest sees only what the sharing rules share. Every refusal is an
:class:`~letswork.shared.errors.OpError` with a stable code and a short message that says what
to do next. No other exception type escapes a public function here for a bad path or a disk
problem.

One module per job, each importing only the ones above it in this list:

* :mod:`~letswork.hub.workspace.paths`: ``safe_join``, the **one** resolver of every path a
  peer names.
* :mod:`~letswork.hub.workspace.policy`: git metadata, git repository layouts and sensitive
  paths (what no change may touch, and what only the host decides).
* :mod:`~letswork.hub.workspace.diff`: edits and diffs of text (no disk).
* :mod:`~letswork.hub.workspace.disk`: open flags, bounded reads, fsync, ``OSError`` to
  ``OpError``.
* :mod:`~letswork.hub.workspace.sharing`: ``SharingRules``, what guests may see.
* :mod:`~letswork.hub.workspace.index`: ``TreeIndex``, the folder's entries and what guests see
  of them, kept by the watcher; walks read it when it is on.
* :mod:`~letswork.hub.workspace.base`: the project folder, the check of a peer's path, walks.
* :mod:`~letswork.hub.workspace.files`: listings, reads (pages, the whole text, the SHA-256).
* :mod:`~letswork.hub.workspace.writes`: atomic writes, deletes, moves, and the temporary
  files a killed hub leaves behind.
* :mod:`~letswork.hub.workspace.search`: ``find_files`` and ``search_files``.

:class:`Workspace` is the one object the hub holds: the operations of ``files``, ``writes`` and
``search`` over one folder.
"""

from __future__ import annotations

from letswork.hub.workspace.files import FileOps
from letswork.hub.workspace.search import SearchOps
from letswork.hub.workspace.writes import WriteOps

__all__ = ["Workspace"]


class Workspace(FileOps, WriteOps, SearchOps):
    """File operations on the host's project folder.

    Reads, listings and searches take ``is_host``: a guest (``False``) never sees an unshared
    path and gets ``not_shared`` for one, before any existence check, so it cannot probe what
    hidden files exist. Writes, deletes and moves take no ``is_host``: the hub decides who may
    change what (and checks sharing with :meth:`resolve` when a guest proposes a change).
    """
