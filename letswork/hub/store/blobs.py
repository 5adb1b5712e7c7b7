"""The content and diff of large changes, in a database file of their own (schema 8).

Storing a 64 MiB edit in the hub's database held the event loop 0.6-1.5 s, and every read of
it back (approve, ``get_change``) ~120 ms: SQLite copies a blob whole, and one connection
serves the loop. A change over ``MAX_INLINE_CHANGE_BYTES`` therefore keeps its content and
diff here, in ``<state db>.changes`` (mode 0600, WAL), behind its own connection and lock:
worker threads write and read it, never the event loop, and since it is another file its
write lock never makes the loop's writes to the main database wait.

Rows here are immutable: a change's row in the main database names its blob's key
(``change_data.blob_key``), and is committed only after the blob is, so a change is never
visible before its data is stored. A blob whose key no row names (a proposal refused after
its data was written, a change pruned or decided as a conflict) is deleted off the loop
(:meth:`ChangeBlobs.delete`), and at start (:meth:`ChangeBlobs.keys`, the hub's sweep).
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from pathlib import Path

from letswork.hub.store.base import _open_connection, _store_error

__all__ = ["ChangeBlobs", "blobs_path", "new_blob_key"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS change_blobs ("
    " key TEXT PRIMARY KEY, content BLOB, diff TEXT NOT NULL)"
)
#: Bytes read from a blob per call (:meth:`ChangeBlobs.get`): ``sqlite3`` copies a column
#: while it holds the GIL, ~2 s for 64 MiB on a busy machine, so every thread, the event loop
#: included, stood still; in chunks, the GIL is free between them.
READ_CHUNK_BYTES = 256 * 1024


def blobs_path(db_path: Path) -> Path:
    """Where the blobs of the database at ``db_path`` live: ``<name>.changes`` beside it."""
    return db_path.with_name(db_path.name + ".changes")


def new_blob_key() -> str:
    """A fresh key (128 random bits: never reused, so a deleted key names nothing again)."""
    return secrets.token_hex(16)


class ChangeBlobs:
    """One blobs file. Every method takes the lock: callable from any thread (workers), and
    each may block for as long as SQLite copies the blob, so never from the event loop
    while it serves peers (at start, before serving, is fine).

    Errors: :class:`StoreError` (``disk_error`` when the disk refused).
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, *, busy_timeout: float = 5.0, fsync: bool = False) -> ChangeBlobs:
        """Open (creating, mode 0600) the blobs file at ``path``; ``fsync`` as for the store.

        Raises:
            StoreError: the file cannot be opened or is not a database.
        """
        conn = _open_connection(
            path,
            what=f"the blobs file {path}",
            busy_timeout=busy_timeout,
            fsync=fsync,
            setup=lambda conn: conn.execute(_SCHEMA).close(),
            check_same_thread=False,  # workers share it, under the lock
        )
        return cls(conn, path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def put(self, key: str, content: bytes | None, diff: str) -> None:
        """Store a change's ``content`` and ``diff`` under the fresh ``key``; committed on
        return (before the change's row in the main database names it)."""
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO change_blobs (key, content, diff) VALUES (?, ?, ?)",
                    (key, content, diff),
                )
            except sqlite3.Error as exc:
                raise _store_error(exc) from exc

    def get(
        self, key: str, *, content: bool = True, diff_head: int | None = None
    ) -> tuple[bytes | None, bytes, int, int] | None:
        """``(content, diff, diff bytes, diff line ends)`` stored under ``key``, or None when
        there is no
        such blob (deleted since its change was read). ``content`` is None unless asked for
        (or a delete or move); ``diff`` is the diff's UTF-8, only its first ``diff_head``
        bytes when given (it may end inside a character); the line ends are counted over
        the whole diff. Read in chunks of ``READ_CHUNK_BYTES``."""
        with self._lock:
            try:
                row = self._conn.execute(
                    "SELECT rowid, content IS NULL, length(content), length(CAST(diff AS BLOB))"
                    " FROM change_blobs WHERE key = ?",
                    (key,),
                ).fetchone()
                if row is None:
                    return None
                rowid, no_content, size, diff_size = row
                data = None
                if content and not no_content:
                    data = b"".join(self._chunks(rowid, "content", int(size)))
                head: list[bytes] = []
                kept, line_ends = 0, 0
                for chunk in self._chunks(rowid, "diff", int(diff_size)):
                    line_ends += chunk.count(b"\n")
                    if diff_head is None or kept < diff_head:
                        room = len(chunk) if diff_head is None else diff_head - kept
                        head.append(chunk[:room])
                        kept += min(room, len(chunk))
            except sqlite3.Error as exc:
                raise _store_error(exc) from exc
        return data, b"".join(head), int(diff_size), line_ends

    def _chunks(self, rowid: int, column: str, size: int) -> list[bytes]:
        if size == 0:
            return []
        blobopen = getattr(self._conn, "blobopen", None)  # Python 3.11+
        if blobopen is None:  # Python 3.10: whole, the GIL held meanwhile
            (value,) = self._conn.execute(
                f"SELECT CAST({column} AS BLOB) FROM change_blobs WHERE rowid = ?",  # noqa: S608
                (rowid,),
            ).fetchone()
            return [bytes(value)]
        with blobopen("change_blobs", column, rowid, readonly=True) as blob:
            return [blob.read(READ_CHUNK_BYTES) for _ in range(0, size, READ_CHUNK_BYTES)]

    def delete(self, keys: list[str]) -> None:
        """Delete the blobs of ``keys`` (missing ones are skipped); one commit."""
        if not keys:
            return
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(
                    "DELETE FROM change_blobs WHERE key = ?", [(k,) for k in keys]
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.rollback()
                raise _store_error(exc) from exc

    def keys(self) -> set[str]:
        """Every key stored (the start-up sweep compares them with the keys rows name)."""
        with self._lock:
            try:
                return {str(k) for (k,) in self._conn.execute("SELECT key FROM change_blobs")}
            except sqlite3.Error as exc:
                raise _store_error(exc) from exc

    def wipe(self) -> None:
        """Delete every blob and compact the file (``letswork start --new``)."""
        with self._lock:
            try:
                self._conn.execute("DELETE FROM change_blobs")
                self._conn.execute("VACUUM")
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as exc:
                raise _store_error(exc) from exc
