"""What peers can make the store keep is bounded (schema 4, issue 13 item 8).

Messages, the audit log and decided changes are rings per owner and in total under
:attr:`StoreBase.limits`, pruned oldest first in the transaction of the write that crossed a
cap, against running totals (the ``usage`` table) that triggers keep.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from letswork.hub.store.base import StoreBase, _guarded

__all__ = ["DECIDED_STATUSES", "StoreBounds"]

#: Statuses of a decided change: final, so its content and diff may be pruned (schema 4).
DECIDED_STATUSES = ("applied", "rejected", "conflict")
_DECIDED_SQL = "('applied', 'rejected', 'conflict')"
#: The ``usage`` owner meaning "every owner but the host" (computed, never stored).
_GUESTS = "*guests"


class StoreBounds(StoreBase):
    """The rings of schema 4: running totals, and pruning past the caps."""

    # -- bounded storage (schema 4) ------------------------------------------------------------

    def _usage(self, scope: str, owner: str) -> tuple[int, int]:
        """``(rows, bytes)`` of ``scope`` held by ``owner`` (``"*"``: everyone), as the
        triggers of schema 4 keep them: one primary-key lookup."""
        if owner == _GUESTS:  # everyone but the host: two lookups
            rows, size = self._usage(scope, "*")
            host_rows, host_size = self._usage(scope, "host")
            return rows - host_rows, size - host_size
        row = self._conn.execute(
            "SELECT rows, bytes FROM usage WHERE scope = ? AND owner = ?", (scope, owner)
        ).fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def _prune(
        self,
        scope: str,
        owner: str,
        max_rows: int,
        max_bytes: int,
        oldest_sql: str,
        params: tuple[Any, ...],
        drop: Callable[[Any], None],
    ) -> int:
        """Drop the oldest rows of ``scope``/``owner`` while it is over either cap.

        ``oldest_sql`` selects the key of the oldest droppable row through an index (never
        the row just written); each step is one indexed lookup and one indexed delete, and
        every row is dropped once, so the cost per request is amortised O(1). Returns how many
        rows were dropped.
        """
        dropped = 0
        while True:
            rows, size = self._usage(scope, owner)
            if rows <= max_rows and size <= max_bytes:
                return dropped
            found = self._conn.execute(oldest_sql, params).fetchone()
            if found is None:
                return dropped
            drop(found[0])
            dropped += 1

    def _delete_message(self, message_id: Any) -> None:
        self._conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def _delete_audit(self, audit_id: Any) -> None:
        self._conn.execute("DELETE FROM audit WHERE id = ?", (audit_id,))

    def _note_blob(self, change_id: Any) -> None:
        """Remember the blob ``change_id`` names (schema 8): dropped with its data, it is
        deleted off the loop once the drop is committed (``take_unreferenced_blobs``)."""
        row = self._conn.execute(
            "SELECT blob_key FROM change_data WHERE change_id = ?", (change_id,)
        ).fetchone()
        if row is not None and row[0] is not None:
            self.dropped_blob_keys.append(str(row[0]))

    def _delete_change(self, change_id: Any) -> None:
        self._note_blob(change_id)
        self._conn.execute("DELETE FROM changes WHERE id = ?", (change_id,))

    def _drop_change_data(self, change_id: Any) -> None:
        self._note_blob(change_id)
        self._conn.execute(
            "UPDATE change_data SET content = NULL, diff = '', diff_derived = 0,"
            " base_z = NULL, edit_z = NULL, blob_key = NULL"  # schema 7's merge data, 8's blob
            " WHERE change_id = ?",
            (change_id,),
        )
        self._conn.execute(
            "UPDATE changes SET data_kept = 0, data_bytes = 0 WHERE id = ?", (change_id,)
        )

    def _prune_messages(self, sender_id: str, newest: int) -> None:
        lim = self.limits
        self._prune(
            "messages",
            sender_id,
            lim.max_messages_per_sender,
            lim.max_message_bytes_per_sender,
            "SELECT id FROM messages WHERE sender_id = ? AND id < ? ORDER BY id LIMIT 1",
            (sender_id, newest),
            self._delete_message,
        )
        # All guests together: guests cannot push the host's messages out (the host's own
        # are bounded by the per-sender caps above).
        self._prune(
            "messages",
            _GUESTS,
            lim.max_messages_total,
            lim.max_message_bytes_total,
            "SELECT id FROM messages INDEXED BY messages_of_guests"
            " WHERE sender_id != 'host' AND id < ? ORDER BY id LIMIT 1",
            (newest,),
            self._delete_message,
        )

    def _prune_audit(self, actor_id: str | None, newest: int) -> None:
        lim = self.limits
        if actor_id == "host":
            # The host's own history is a ring of the total's size that guests cannot touch.
            self._prune(
                "audit",
                "host",
                lim.max_audit_entries_total,
                lim.max_audit_bytes_total,
                "SELECT id FROM audit INDEXED BY audit_by_actor_id"
                " WHERE actor_id = 'host' AND id < ? ORDER BY id LIMIT 1",
                (newest,),
                self._delete_audit,
            )
            return
        if actor_id is not None:
            self._prune(
                "audit",
                actor_id,
                lim.max_audit_entries_per_guest,
                lim.max_audit_bytes_per_guest,
                "SELECT id FROM audit INDEXED BY audit_by_actor_id"
                " WHERE actor_id = ? AND id < ? ORDER BY id LIMIT 1",
                (actor_id, newest),
                self._delete_audit,
            )
        self._prune(  # all guests together (and entries older than schema 4)
            "audit",
            _GUESTS,
            lim.max_audit_entries_total,
            lim.max_audit_bytes_total,
            "SELECT id FROM audit INDEXED BY audit_of_guests"
            " WHERE actor_id IS NOT 'host' AND id < ? ORDER BY id LIMIT 1",
            (newest,),
            self._delete_audit,
        )

    def _prune_decided(self, change_id: str, author_id: str) -> None:
        """After ``change_id`` was decided: forget the author's and everyone's oldest decided
        changes beyond the caps, then drop the content and diff of the oldest decided changes
        beyond the data caps. ``change_id`` itself always keeps its data."""
        lim = self.limits
        self._prune(
            "decided",
            author_id,
            lim.max_decided_per_author,
            2**62,
            "SELECT id FROM changes INDEXED BY changes_decided_by_author WHERE author_id = ?"  # noqa: S608
            f" AND status IN {_DECIDED_SQL} AND id != ? ORDER BY decided_at, rowid LIMIT 1",
            (author_id, change_id),
            self._delete_change,
        )
        self._prune(
            "decided",
            "*",
            lim.max_decided_total,
            2**62,
            "SELECT id FROM changes INDEXED BY changes_decided"  # noqa: S608
            f" WHERE status IN {_DECIDED_SQL} AND id != ? ORDER BY decided_at, rowid LIMIT 1",
            (change_id,),
            self._delete_change,
        )
        self._prune(
            "decided_data",
            "*",
            lim.max_decided_with_data,
            lim.max_decided_data_bytes,
            "SELECT id FROM changes INDEXED BY changes_decided_with_data"  # noqa: S608
            f" WHERE status IN {_DECIDED_SQL} AND data_kept = 1 AND id != ?"
            " ORDER BY decided_at, rowid LIMIT 1",
            (change_id,),
            self._drop_change_data,
        )

    @_guarded
    def prune(self) -> None:
        """Bring every owner of every ring under :attr:`limits` now (the hub calls it at start).

        A database that grew before schema 4, or under larger caps, is otherwise pruned by its
        owners' next writes, which would make one request pay for all of it.
        """
        with self.transaction():
            owners = self._conn.execute(
                "SELECT scope, owner FROM usage WHERE owner != '*' AND rows > 0"
            ).fetchall()
            for scope, owner in owners:
                if scope == "messages":
                    self._prune_messages(owner, 2**62)
                elif scope == "audit":
                    self._prune_audit(owner or None, 2**62)
                elif scope == "decided":
                    self._prune_decided("", owner)

    @_guarded
    def usage(self, scope: str, owner: str = "*") -> tuple[int, int]:
        """``(rows, bytes)`` one owner (``"*"``: everyone) holds in a scope: ``messages``
        (per sender), ``audit`` (per actor id), ``pending``, ``decided`` and ``decided_data``
        (per author id)."""
        return self._usage(scope, owner)
