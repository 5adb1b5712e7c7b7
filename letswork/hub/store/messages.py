"""Messages between the people of a session, and each recipient's receipt (schema 2)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from letswork.hub.store.base import _guarded
from letswork.hub.store.bounds import StoreBounds

__all__ = ["MessageRow", "MessageTables", "ReceiptRow"]


@dataclasses.dataclass(frozen=True)
class MessageRow:
    """A message; ``to_id`` is None for a broadcast. ``refs`` are the resolved references."""

    id: int
    type: str
    sender_id: str
    sender_name: str
    to_id: str | None
    to_name: str | None
    body: str
    refs: list[dict[str, Any]]
    created_at: float


@dataclasses.dataclass(frozen=True)
class ReceiptRow:
    """How far one recipient got with one message."""

    message_id: int
    recipient_id: str
    recipient_name: str
    status: str
    delivered_at: float | None
    read_at: float | None


_MESSAGE_COLS_M = (
    "m.id, m.type, m.sender_id, m.sender_name, m.to_id, m.to_name, m.body, m.refs, m.created_at"
)
_SQL_GET_MESSAGE = f"SELECT {_MESSAGE_COLS_M} FROM messages m WHERE m.id = ?"  # noqa: S608


def _message_row(row: tuple[Any, ...]) -> MessageRow:
    mid, type_, sender_id, sender_name, to_id, to_name, body, refs, created_at = row
    return MessageRow(
        mid, type_, sender_id, sender_name, to_id, to_name, body, json.loads(refs), created_at
    )


class MessageTables(StoreBounds):
    """Messages and their receipts."""

    # -- messages ------------------------------------------------------------------------------

    @_guarded
    def add_message(
        self,
        *,
        type: str,
        sender_id: str,
        sender_name: str,
        to_id: str | None,
        to_name: str | None,
        body: str,
        refs: list[dict[str, Any]],
        now: float,
        recipients: list[tuple[str, str, str]],
    ) -> MessageRow:
        """Store a message and one receipt per ``(recipient_id, name, status)``, in one commit.

        A receipt whose status is ``delivered`` gets ``delivered_at = now``. Beyond
        ``limits.max_messages_per_sender`` / ``max_message_bytes_per_sender`` the sender's own
        oldest messages are pruned (receipts with them), beyond the ``*_total`` caps anyone's.
        """
        refs_json = json.dumps(refs, ensure_ascii=False, separators=(",", ":"))
        with self.transaction():
            cur = self._conn.execute(
                "INSERT INTO messages (type, sender_id, sender_name, to_id, to_name, body, refs,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (type, sender_id, sender_name, to_id, to_name, body, refs_json, now),
            )
            message_id = int(cur.lastrowid or 0)
            self._conn.executemany(
                "INSERT INTO message_receipts (message_id, recipient_id, recipient_name, status,"
                " delivered_at) VALUES (?, ?, ?, ?, ?)",
                [
                    (message_id, rid, name, status, now if status != "sent" else None)
                    for rid, name, status in recipients
                ],
            )
            self._prune_messages(sender_id, message_id)
        return MessageRow(message_id, type, sender_id, sender_name, to_id, to_name, body, refs, now)

    @_guarded
    def get_message(self, message_id: int) -> MessageRow | None:
        row = self._conn.execute(_SQL_GET_MESSAGE, (message_id,)).fetchone()
        return None if row is None else _message_row(row)

    @_guarded
    def list_messages(
        self,
        reader_id: str,
        *,
        since_id: int = 0,
        sender_name: str | None = None,
        type: str | None = None,
        unread_only: bool = False,
        broadcasts_since: float = 0.0,
        limit: int = 50,
    ) -> list[tuple[MessageRow, ReceiptRow | None]]:
        """Messages ``reader_id`` may see, oldest first, with the reader's own receipt.

        Visible: what the reader sent, what was directed to it, and broadcasts sent at or after
        ``broadcasts_since`` (or that it has a receipt for). ``unread_only`` keeps only
        messages the reader received and has not read.
        """
        where = [
            "m.id > ?",
            "(m.sender_id = ? OR m.to_id = ?"
            " OR (m.to_id IS NULL AND (m.created_at >= ? OR r.recipient_id IS NOT NULL)))",
        ]
        params: list[Any] = [reader_id, since_id, reader_id, reader_id, broadcasts_since]
        if sender_name is not None:
            where.append("lower(m.sender_name) = lower(?)")
            params.append(sender_name)
        if type is not None:
            where.append("m.type = ?")
            params.append(type)
        if unread_only:
            where.append("m.sender_id != ? AND (r.status IS NULL OR r.status != 'read')")
            params.append(reader_id)
        params.append(max(0, limit))
        sql = (
            f"SELECT {_MESSAGE_COLS_M}, r.recipient_id, r.recipient_name, r.status,"  # noqa: S608
            " r.delivered_at, r.read_at FROM messages m LEFT JOIN message_receipts r"
            " ON r.message_id = m.id AND r.recipient_id = ?"
            " WHERE " + " AND ".join(where) + " ORDER BY m.id LIMIT ?"
        )
        out: list[tuple[MessageRow, ReceiptRow | None]] = []
        for row in self._conn.execute(sql, params):
            message = _message_row(row[:9])
            receipt = None if row[9] is None else ReceiptRow(message.id, *row[9:])
            out.append((message, receipt))
        return out

    @_guarded
    def receipts(self, message_ids: list[int]) -> dict[int, list[ReceiptRow]]:
        """Every receipt of the given messages, by message id (recipients in insertion order)."""
        out: dict[int, list[ReceiptRow]] = {mid: [] for mid in message_ids}
        for start in range(0, len(message_ids), 500):
            chunk = message_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._conn.execute(
                "SELECT message_id, recipient_id, recipient_name, status, delivered_at, read_at"  # noqa: S608
                f" FROM message_receipts WHERE message_id IN ({marks})"
                " ORDER BY message_id, rowid",
                chunk,
            )
            for row in rows:
                out[row[0]].append(ReceiptRow(*row))
        return out

    @_guarded
    def undelivered(self, recipient_id: str) -> list[MessageRow]:
        """Messages to ``recipient_id`` whose receipt is still ``sent``, oldest first."""
        rows = self._conn.execute(
            f"SELECT {_MESSAGE_COLS_M} FROM messages m JOIN message_receipts r"  # noqa: S608
            " ON r.message_id = m.id WHERE r.recipient_id = ? AND r.status = 'sent'"
            " ORDER BY m.id",
            (recipient_id,),
        ).fetchall()
        return [_message_row(row) for row in rows]

    @_guarded
    def advance_receipt(
        self, message_id: int, recipient_id: str, recipient_name: str, status: str, now: float
    ) -> ReceiptRow | None:
        """Move a receipt forward (``sent`` < ``delivered`` < ``read``), creating it if needed.

        Returns the new receipt, or None when it was already at ``status`` or beyond.
        """
        rank = {"sent": 0, "delivered": 1, "read": 2}
        with self.transaction():
            row = self._conn.execute(
                "SELECT status, delivered_at, read_at FROM message_receipts"
                " WHERE message_id = ? AND recipient_id = ?",
                (message_id, recipient_id),
            ).fetchone()
            if row is not None and rank[row[0]] >= rank[status]:
                return None
            delivered_at = row[1] if row is not None and row[1] is not None else now
            read_at = now if status == "read" else None
            self._conn.execute(
                "INSERT INTO message_receipts (message_id, recipient_id, recipient_name, status,"
                " delivered_at, read_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (message_id, recipient_id) DO UPDATE SET status = excluded.status,"
                " delivered_at = excluded.delivered_at, read_at = excluded.read_at",
                (message_id, recipient_id, recipient_name, status, delivered_at, read_at),
            )
        return ReceiptRow(message_id, recipient_id, recipient_name, status, delivered_at, read_at)

    @_guarded
    def count_messages_sent(self, sender_id: str) -> int:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM messages WHERE sender_id = ?", (sender_id,)
        ).fetchone()
        return int(row[0])
