"""What a pending change keeps for a three-way merge at approval (schema 7, issue 17 part 2):
its base text and its edit, compressed, in ``change_data``; and a change rebased onto the file
as it is now (a merge the host approved, or the author's ``update_change``)."""

from __future__ import annotations

import dataclasses

from letswork.hub.store.base import _guarded
from letswork.hub.store.bounds import StoreBounds
from letswork.shared.errors import ErrorCode, op_error

__all__ = ["MergeData", "MergeTables"]


@dataclasses.dataclass(frozen=True)
class MergeData:
    """A change's kept base text and edit (:mod:`letswork.hub.merging` packs both); None
    where none is kept."""

    base_z: bytes | None
    edit_z: bytes | None

    @property
    def size(self) -> int:
        """Bytes as stored (what ``data_bytes`` counts)."""
        return len(self.base_z or b"") + len(self.edit_z or b"")


# data_bytes as every write of change_data leaves it: content, diff, base and edit.
_SQL_DATA_BYTES = (
    "UPDATE changes SET data_bytes = (SELECT COALESCE(length(content), 0)"
    " + length(CAST(diff AS BLOB)) + COALESCE(length(base_z), 0) + COALESCE(length(edit_z), 0)"
    " FROM change_data WHERE change_id = ?) WHERE id = ?"
)


class MergeTables(StoreBounds):
    """The merge data of changes (``change_data.base_z``, ``change_data.edit_z``)."""

    @_guarded
    def put_merge_data(self, change_id: str, data: MergeData) -> None:
        """Keep ``data`` with the stored change ``change_id``; its bytes count in the change's
        ``data_bytes`` (and so in the pending caps). Committed on return, or with the
        enclosing :meth:`transaction`. The cap (``MAX_MERGE_BASE_BYTES``) is the caller's."""
        with self.transaction():
            # By difference, not recounted from the row: a large change's content and diff
            # are in the blobs file (schema 8) and counted in data_bytes without being here.
            old = self._conn.execute(
                "SELECT COALESCE(length(base_z), 0) + COALESCE(length(edit_z), 0)"
                " FROM change_data WHERE change_id = ?",
                (change_id,),
            ).fetchone()
            self._conn.execute(
                "UPDATE change_data SET base_z = ?, edit_z = ? WHERE change_id = ?",
                (data.base_z, data.edit_z, change_id),
            )
            added = len(data.base_z or b"") + len(data.edit_z or b"") - (old[0] if old else 0)
            self._conn.execute(
                "UPDATE changes SET data_bytes = data_bytes + ? WHERE id = ?", (added, change_id)
            )

    @_guarded
    def get_merge_data(self, change_id: str) -> MergeData:
        """The merge data of ``change_id`` (both None: none kept, or no such change)."""
        row = self._conn.execute(
            "SELECT base_z, edit_z FROM change_data WHERE change_id = ?", (change_id,)
        ).fetchone()
        if row is None:
            return MergeData(None, None)
        return MergeData(
            None if row[0] is None else bytes(row[0]), None if row[1] is None else bytes(row[1])
        )

    @_guarded
    def change_data_bytes(self, change_id: str) -> int:
        """The bytes ``change_id`` holds in ``change_data`` as ``data_bytes`` counts them (0:
        no such change)."""
        row = self._conn.execute(
            "SELECT data_bytes FROM changes WHERE id = ?", (change_id,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    @_guarded
    def next_revision(self, change_id: str) -> None:
        """Count one more revision of ``change_id`` (``update_change``; schema 9). Committed
        on return, or with the enclosing :meth:`transaction`."""
        with self.transaction():
            self._conn.execute(
                "UPDATE changes SET revision = revision + 1 WHERE id = ?", (change_id,)
            )

    @_guarded
    def rebase_change(
        self,
        change_id: str,
        *,
        kind: str,
        base_sha256: str | None,
        new_sha256: str | None,
        content: bytes | None,
        diff: str,
        merge: MergeData,
        blob: tuple[str, int] | None = None,
    ) -> None:
        """Make the stored change ``change_id`` a change of the file as it is now (base
        ``base_sha256``): its kind, result, diff and merge data are replaced, its id, author,
        creation time and status kept. Committed on return.

        ``blob``: ``(key, bytes)``, ``content`` and ``diff`` are already in the blobs file
        under ``key`` (a large change, written off the loop, :mod:`letswork.hub.change_blobs`),
        ``bytes`` their UTF-8 size: the row names the key, stores neither, and counts them.

        Raises:
            OpError: ``not_found`` if there is no such change.
        """
        with self.transaction():
            cur = self._conn.execute(
                "UPDATE changes SET kind = ?, base_sha256 = ?, new_sha256 = ?, size = ?"
                " WHERE id = ?",
                (kind, base_sha256, new_sha256, len(content or b""), change_id),
            )
            if cur.rowcount != 1:
                raise op_error(ErrorCode.NOT_FOUND, f"no change {change_id}", change_id=change_id)
            # A large change's old content was in the blobs file (schema 8): that blob is
            # deleted once this commits (the new data is in the row, or in a new blob).
            self._note_blob(change_id)
            if blob is not None:
                self._conn.execute(
                    "UPDATE change_data SET content = NULL, diff = '', diff_derived = 0,"
                    " base_z = ?, edit_z = ?, blob_key = ? WHERE change_id = ?",
                    (merge.base_z, merge.edit_z, blob[0], change_id),
                )
                self._conn.execute(
                    "UPDATE changes SET data_bytes = ? WHERE id = ?",
                    (blob[1] + merge.size, change_id),
                )
                return
            self._conn.execute(
                "UPDATE change_data SET content = ?, diff = ?, diff_derived = 0, base_z = ?,"
                " edit_z = ?, blob_key = NULL WHERE change_id = ?",
                (content, diff, merge.base_z, merge.edit_z, change_id),
            )
            self._conn.execute(_SQL_DATA_BYTES, (change_id, change_id))
