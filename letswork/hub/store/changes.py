"""Changes (proposed, approved, applied, rejected, in conflict) with their content and
diffs, and guests' versions of ignore files (schema 5)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from typing_extensions import Self

from letswork.hub.store.base import _guarded
from letswork.hub.store.blobs import ChangeBlobs, blobs_path
from letswork.hub.store.bounds import DECIDED_STATUSES, StoreBounds
from letswork.hub.workspace.diff import unified_diff
from letswork.hub.workspace.sharing import GuestVersion
from letswork.shared.errors import ErrorCode, op_error

__all__ = ["CHANGE_KINDS", "CHANGE_STATUSES", "ChangeRow", "ChangeTables"]

CHANGE_KINDS = ("write", "edit", "delete", "move")
CHANGE_STATUSES = ("pending", "approved", "applied", "rejected", "conflict")


@dataclasses.dataclass(frozen=True)
class ChangeRow:
    id: str
    author_id: str
    author_name: str
    kind: str
    path: str
    new_path: str | None
    base_sha256: str | None
    new_sha256: str | None
    content: bytes | None = dataclasses.field(repr=False)
    diff: str = dataclasses.field(repr=False)
    size: int
    status: str
    reason: str | None
    created_at: float
    decided_at: float | None
    decided_by: str | None
    #: A decided change whose content and diff were pruned (schema 4): ``diff`` is ``""`` and
    #: ``content`` None, only the summary remains.
    data_pruned: bool = False
    #: Content and diff are in the blobs file under this key (schema 8), read off the loop
    #: (:attr:`ChangeTables.blobs`); as read from the store, ``content`` is None and ``diff``
    #: ``""``. None: both are in the row.
    blob_key: str | None = None
    #: 1 when proposed, 1 more at each ``update_change`` (schema 9).
    revision: int = 1


# The columns of ChangeRow, in order, over ``changes c JOIN change_data d``.
_CHANGE_COLS = (
    "c.id, c.author_id, c.author_name, c.kind, c.path, c.new_path, c.base_sha256, c.new_sha256,"
    " d.content, d.diff, c.size, c.status, c.reason, c.created_at, c.decided_at, c.decided_by,"
    " d.diff_derived, c.data_kept, d.blob_key, c.revision"
)
_CHANGE_FROM = "changes c JOIN change_data d ON d.change_id = c.id"
_CHANGE_META_COLS = (
    "id, author_id, author_name, kind, path, new_path, base_sha256, new_sha256,"
    " size, status, reason, created_at, decided_at, decided_by"
)

# Queries over the fixed column lists above (no user input is ever formatted into SQL).
_SQL_GET_CHANGE = f"SELECT {_CHANGE_COLS} FROM {_CHANGE_FROM} WHERE c.id = ?"  # noqa: S608
# The same without the content, but for a derived diff (a new file, at most max_file_bytes),
# which is rebuilt from it.
_SQL_GET_CHANGE_NO_CONTENT = (
    f"SELECT {_CHANGE_COLS.replace('d.content', 'CASE WHEN d.diff_derived THEN d.content END')}"  # noqa: S608
    f" FROM {_CHANGE_FROM} WHERE c.id = ?"
)
_SQL_INSERT_CHANGE = (
    f"INSERT INTO changes ({_CHANGE_META_COLS}, data_bytes)"  # noqa: S608
    f" VALUES ({', '.join('?' * 15)})"
)
_SQL_INSERT_CHANGE_DATA = (
    "INSERT INTO change_data (change_id, diff, content, diff_derived, blob_key)"
    " VALUES (?, ?, ?, ?, ?)"
)


def _change_row(row: tuple[Any, ...], *, with_content: bool = True) -> ChangeRow:
    """A ChangeRow from ``_CHANGE_COLS``; a derived diff (schema 3) is rebuilt from the
    content, which is then dropped unless ``with_content``."""
    *fields, derived, kept, blob_key, revision = row
    change = ChangeRow(*fields)
    if revision != 1:  # resubmitted (schema 9)
        change = dataclasses.replace(change, revision=int(revision))
    if blob_key is not None:
        change = dataclasses.replace(change, blob_key=str(blob_key))
    if not kept:
        change = dataclasses.replace(change, data_pruned=True)
    if derived:
        content = change.content
        assert content is not None, "a derived diff needs its content"
        change = dataclasses.replace(
            change, diff=unified_diff(change.path, None, content.decode("utf-8"))
        )
    if not with_content and change.content is not None:
        change = dataclasses.replace(change, content=None)
    return change


class ChangeTables(StoreBounds):
    """Changes and guests' versions of ignore files."""

    #: The content and diff of large changes (schema 8), for worker threads only.
    blobs: ChangeBlobs

    # -- changes -------------------------------------------------------------------------------

    # -- the blobs file (schema 8) ---------------------------------------------------------------

    @classmethod
    def open(
        cls, path: Path, store_key: bytes, *, busy_timeout: float = 5.0, fsync: bool = False
    ) -> Self:
        """:meth:`StoreBase.open`, and the blobs file beside it (:func:`blobs_path`)."""
        store = super().open(path, store_key, busy_timeout=busy_timeout, fsync=fsync)
        try:
            store.blobs = ChangeBlobs.open(blobs_path(path), busy_timeout=busy_timeout, fsync=fsync)
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection and the blobs file (idempotent)."""
        super().close()
        blobs: ChangeBlobs | None = getattr(self, "blobs", None)
        if blobs is not None:
            blobs.close()

    def wipe(self) -> None:
        """:meth:`StoreBase.wipe`, and every blob."""
        super().wipe()
        self.blobs.wipe()
        self.dropped_blob_keys.clear()

    @_guarded
    def take_unreferenced_blobs(self) -> list[str]:
        """The keys of blobs no change names any more (pruned, replaced, or written for a
        proposal that was refused), for :meth:`ChangeBlobs.delete` off the loop; each
        returned once. A key whose drop was rolled back is still named, and kept."""
        keys, self.dropped_blob_keys = self.dropped_blob_keys, []
        return [
            key
            for key in keys
            if self._conn.execute("SELECT 1 FROM change_data WHERE blob_key = ?", (key,)).fetchone()
            is None
        ]

    @_guarded
    def sweep_blobs(self) -> int:
        """Delete every blob no change names (a crash between a blob's write and its row's
        commit leaves one); at start, before serving. Returns how many."""
        named = {
            str(k)
            for (k,) in self._conn.execute(
                "SELECT blob_key FROM change_data WHERE blob_key IS NOT NULL"
            )
        }
        orphans = sorted(self.blobs.keys() - named)
        self.blobs.delete(orphans)
        return len(orphans)

    # -- changes -------------------------------------------------------------------------------

    @_guarded
    def add_change(
        self, row: ChangeRow, *, derive_diff: bool = False, blob_key: str | None = None
    ) -> None:
        """Store a new change (content and diff in ``change_data``), committed on return.

        ``derive_diff``: the change creates a file, and its diff is
        ``unified_diff(path, None, content)``; ``row.diff`` is ignored and not stored, and every
        read rebuilds it (schema 3).

        ``blob_key``: ``row.content`` and ``row.diff`` are already in the blobs file under this
        key (:meth:`ChangeBlobs.put`, off the loop); the row names it and stores neither, but
        counts their bytes (schema 8).

        Raises:
            ValueError: ``derive_diff`` for anything but a ``write`` with content and no
                ``new_path``, or with ``blob_key``.
        """
        if derive_diff and (
            row.kind != "write" or row.content is None or row.new_path or blob_key is not None
        ):
            raise ValueError("only a write of a new file, stored in the row, has a derived diff")
        with self.transaction():
            self._conn.execute(
                _SQL_INSERT_CHANGE,
                (
                    row.id,
                    row.author_id,
                    row.author_name,
                    row.kind,
                    row.path,
                    row.new_path,
                    row.base_sha256,
                    row.new_sha256,
                    row.size,
                    row.status,
                    row.reason,
                    row.created_at,
                    row.decided_at,
                    row.decided_by,
                    len(row.content or b"") + (0 if derive_diff else len(row.diff.encode("utf-8"))),
                ),
            )
            # A new file's diff is its content again: keep one copy (schema 3).
            if blob_key is not None:
                self._conn.execute(_SQL_INSERT_CHANGE_DATA, (row.id, "", None, 0, blob_key))
            else:
                self._conn.execute(
                    _SQL_INSERT_CHANGE_DATA,
                    (row.id, "" if derive_diff else row.diff, row.content, int(derive_diff), None),
                )
            if row.status in DECIDED_STATUSES:
                self._prune_decided(row.id, row.author_id)

    @_guarded
    def get_change(self, change_id: str, *, include_content: bool = True) -> ChangeRow | None:
        """One change; without its content (None) unless ``include_content``: reading the
        64 MiB content of a large file's edit cost the event loop ~130 ms at each call."""
        row = self._conn.execute(
            _SQL_GET_CHANGE if include_content else _SQL_GET_CHANGE_NO_CONTENT,
            (change_id,),
        ).fetchone()
        return None if row is None else _change_row(row, with_content=include_content)

    @_guarded
    def list_changes(
        self,
        *,
        status: str | None = None,
        author_id: str | None = None,
        include_content: bool = True,
        include_diff: bool = True,
    ) -> list[ChangeRow]:
        """Changes in ``created_at`` order (ties in insertion order), optionally filtered.

        ``include_content=False`` returns ``content=None`` and ``include_diff=False`` returns
        ``diff=""`` for every row, so that a listing of many large proposals stays cheap.
        """
        cols = _CHANGE_COLS
        if not include_diff:
            cols = cols.replace(" d.diff,", " '',").replace(" d.diff_derived", " 0")
            if not include_content:
                cols = cols.replace(" d.content,", " NULL,")
        elif not include_content:  # a derived diff is rebuilt from the content, dropped after
            cols = cols.replace(" d.content,", " CASE WHEN d.diff_derived = 1 THEN d.content END,")
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            where.append("c.status = ?")
            params.append(status)
        if author_id is not None:
            where.append("c.author_id = ?")
            params.append(author_id)
        sql = f"SELECT {cols} FROM {_CHANGE_FROM}"  # noqa: S608 - fixed column lists
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._conn.execute(sql + " ORDER BY c.created_at, c.rowid", params).fetchall()
        return [_change_row(row, with_content=include_content) for row in rows]

    @_guarded
    def pending_totals(self, author_id: str) -> tuple[int, int]:
        """``(count, total size in bytes)`` of the author's pending changes."""
        count, total = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM changes"
            " WHERE author_id = ? AND status = 'pending'",
            (author_id,),
        ).fetchone()
        return int(count), int(total)

    @_guarded
    def pending_grand_totals(self) -> tuple[int, int]:
        """``(count, total size in bytes)`` of every author's pending changes (one lookup)."""
        return self._usage("pending", "*")

    @_guarded
    def set_change_status(
        self,
        change_id: str,
        status: str,
        *,
        now: float,
        by: str | None = None,
        reason: str | None = None,
        diff: str | None = None,
        blob: tuple[str, int] | None = None,
    ) -> ChangeRow:
        """Move a change to ``status`` and return the updated row (with its content).

        Any status other than ``pending`` sets ``decided_at = now`` (the time of the latest
        transition); ``by``, ``reason`` and ``diff`` replace the stored values only when given.
        ``blob``: ``(key, bytes)`` of a new diff written to the blobs file with no content (a
        large change's conflict; ``diff`` is then not given): the row names it instead.
        Back to ``pending`` clears ``decided_at`` and ``decided_by``. Transition rules (no
        approving twice, ...) are the hub's business, not the store's.

        Raises:
            OpError: ``not_found`` if there is no such change.
        """
        if status == "pending":
            sql = (
                "UPDATE changes SET status = ?, decided_at = NULL, decided_by = NULL,"
                " reason = COALESCE(?, reason) WHERE id = ?"
            )
            params: tuple[Any, ...] = (status, reason, change_id)
        else:
            sql = (
                "UPDATE changes SET status = ?, decided_at = ?,"
                " decided_by = COALESCE(?, decided_by), reason = COALESCE(?, reason) WHERE id = ?"
            )
            params = (status, now, by, reason, change_id)
        with self.transaction():
            cur = self._conn.execute(sql, params)
            if cur.rowcount != 1:
                raise op_error(ErrorCode.NOT_FOUND, f"no change {change_id}", change_id=change_id)
            if blob is not None:
                self._note_blob(change_id)
                self._conn.execute(
                    "UPDATE change_data SET diff = '', content = NULL, diff_derived = 0,"
                    " blob_key = ? WHERE change_id = ?",
                    (blob[0], change_id),
                )
                self._conn.execute(  # schema 7's merge data, kept in the row, counts too
                    "UPDATE changes SET data_bytes = ? + (SELECT COALESCE(length(base_z), 0)"
                    " + COALESCE(length(edit_z), 0) FROM change_data WHERE change_id = ?)"
                    " WHERE id = ?",
                    (blob[1], change_id, change_id),
                )
            elif diff is not None:
                self._conn.execute(
                    "UPDATE change_data SET diff = ?, diff_derived = 0 WHERE change_id = ?",
                    (diff, change_id),
                )
                self._conn.execute(  # schema 7: the merge data counts too
                    "UPDATE changes SET data_bytes = ? + (SELECT COALESCE(length(content), 0)"
                    " + COALESCE(length(base_z), 0) + COALESCE(length(edit_z), 0)"
                    " FROM change_data WHERE change_id = ?) WHERE id = ?",
                    (len(diff.encode("utf-8")), change_id, change_id),
                )
            if status in DECIDED_STATUSES:
                author = self._conn.execute(
                    "SELECT author_id FROM changes WHERE id = ?", (change_id,)
                ).fetchone()[0]
                self._prune_decided(change_id, author)
        row = self.get_change(change_id)
        assert row is not None
        return row

    # -- guests' versions of ignore files (schema 5, issue 13 item 2) ------------------------------

    @_guarded
    def guest_ignore_versions(self) -> dict[str, GuestVersion]:
        """Every recorded guest version of an ignore file, by the file's key."""
        rows = self._conn.execute(
            "SELECT path, guest_shas, host_content FROM guest_ignore_versions"
        ).fetchall()
        return {
            str(path): GuestVersion(
                frozenset(str(shas).split()), None if host is None else bytes(host)
            )
            for path, shas, host in rows
        }

    @_guarded
    def put_guest_ignore_version(self, key: str, version: GuestVersion, now: float) -> None:
        """Record (or replace) the guest version of ignore file ``key``; committed on return.
        The caps (``MAX_GUEST_IGNORE_FILES``, ``MAX_GUEST_IGNORE_BYTES``) are the caller's."""
        with self.transaction():
            self._conn.execute(
                "INSERT INTO guest_ignore_versions (path, guest_shas, host_content, recorded_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET"
                " guest_shas = excluded.guest_shas, host_content = excluded.host_content,"
                " recorded_at = excluded.recorded_at",
                (key, " ".join(sorted(version.guest_shas)), version.host_content, now),
            )

    @_guarded
    def drop_guest_ignore_version(self, key: str) -> None:
        """Forget the guest version of ``key``: the version on disk is the host's."""
        with self.transaction():
            self._conn.execute("DELETE FROM guest_ignore_versions WHERE path = ?", (key,))

    # -- summaries -----------------------------------------------------------------------------

    @_guarded
    def change_counts(
        self, *, author_id: str | None = None, author_name: str | None = None
    ) -> dict[str, int]:
        """``{"proposed", "applied", "rejected"}`` counts of one author's changes (every change
        it made counts as proposed, including those applied at once)."""
        column, value = (
            ("author_id", author_id) if author_id is not None else ("author_name", author_name)
        )
        row = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(status = 'applied'), 0),"  # noqa: S608 - fixed names
            f" COALESCE(SUM(status = 'rejected'), 0) FROM changes WHERE {column} = ?",
            (value,),
        ).fetchone()
        return {"proposed": int(row[0]), "applied": int(row[1]), "rejected": int(row[2])}
