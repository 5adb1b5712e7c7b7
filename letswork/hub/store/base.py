"""What every table of the store shares: :class:`StoreBase` opens the database (mode 0600,
WAL, the schema brought up to date by :mod:`~letswork.hub.store.migrations`), groups mutations
into transactions, seals secret columns under ``store.key``, and keeps the ``meta`` table.
:func:`_guarded` turns the ``sqlite3`` errors of a method into :class:`StoreError`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ParamSpec, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from typing_extensions import Self

from letswork.hub.store.migrations import _migrate, load_migrations
from letswork.shared.errors import ErrorCode, StoreError
from letswork.shared.limits import Limits

__all__ = ["KEY_CHECK_META", "STORE_KEY_BYTES", "StoreBase"]

STORE_KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_AAD_PREFIX = b"letswork-store/1\x00"
#: ``meta`` row holding a sealed constant, so a wrong ``store.key`` is caught at open.
KEY_CHECK_META = "_store_key_check"
_KEY_CHECK_PLAINTEXT = b"letswork store key check v1"

# SQLite primary result codes that mean "the disk refused", reported as ``disk_error``.
_DISK_CODES = frozenset({3, 8, 10, 13, 14})  # PERM, READONLY, IOERR, FULL, CANTOPEN

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _store_error(exc: sqlite3.Error, what: str = "state database") -> StoreError:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _DISK_CODES:
        return StoreError(f"{what}: {exc}", code=ErrorCode.DISK_ERROR)
    return StoreError(f"{what}: {exc}")


def _guarded(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Convert ``sqlite3.Error`` raised by ``fn`` into :class:`StoreError`."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except sqlite3.Error as exc:
            raise _store_error(exc) from exc

    return wrapper


def _create_private_file(path: Path) -> None:
    """Create ``path`` (mode 0600) if missing, and force an existing one to 0600."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        if os.name == "posix":
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _open_connection(
    path: Path,
    *,
    what: str,
    busy_timeout: float,
    fsync: bool,
    setup: Callable[[sqlite3.Connection], None],
    check_same_thread: bool = True,
) -> sqlite3.Connection:
    """A connection to the SQLite file at ``path``, set up as every file of the store is:
    created with mode 0600 (an existing one forced to it), autocommit (``isolation_level=None``),
    WAL, ``synchronous`` ``FULL`` when ``fsync`` else ``NORMAL``; then ``setup(conn)`` (the
    file's own pragmas and schema), then the WAL's side files forced to 0600 too. The
    connection is closed again if any step fails.

    Raises:
        StoreError: the file cannot be created (``disk_error``), is not a database, or
            ``setup`` failed (``sqlite3`` errors become :class:`StoreError`; other exceptions
            pass through); ``what`` names the file in every message, so the host moves aside
            the file at fault (a bad blobs file must not read as a bad state database).
    """
    try:
        _create_private_file(path)
    except OSError as exc:
        raise StoreError(f"cannot open {what}: {exc.strerror}", code=ErrorCode.DISK_ERROR) from exc
    try:
        conn = sqlite3.connect(
            str(path),
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=check_same_thread,
        )
    except sqlite3.Error as exc:
        raise _store_error(exc, what) from exc
    try:
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
        setup(conn)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if os.name == "posix" and side.exists():
                side.chmod(0o600)
    except sqlite3.Error as exc:
        conn.close()
        raise _store_error(exc, what) from exc
    except BaseException:
        conn.close()
        raise
    return conn


class StoreBase:
    """The connection to one project's database, its transactions, sealing and ``meta``."""

    def __init__(self, conn: sqlite3.Connection, path: Path, store_key: bytes) -> None:
        self._conn = conn
        self._path = path
        self._aead = AESGCM(store_key)
        self._depth = 0
        #: The caps this store keeps to (issue 13, item 8); the hub core sets its own.
        self.limits = Limits()
        #: Keys of blobs (schema 8) whose changes dropped them, not yet deleted.
        self.dropped_blob_keys: list[str] = []

    # -- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: Path, store_key: bytes, *, busy_timeout: float = 5.0, fsync: bool = False
    ) -> Self:
        """Open (creating if needed) the database at ``path`` and bring its schema up to date.

        Args:
            path: the database file; created with mode 0600.
            store_key: 32 bytes that seal the secret columns (``store.key``).
            busy_timeout: seconds to wait for another process's lock before failing.
            fsync: ``synchronous=FULL`` (every commit survives a power cut; one fsync each,
                about 6 ms here). The default, ``NORMAL`` in WAL mode, makes every commit
                survive a crash of the hub process (SIGKILL included) and never corrupts the
                database; an OS crash or power cut may lose the last commits.

        Raises:
            StoreError: the file is not a database, is locked, is from a newer letswork, or
                ``store_key`` does not match the one it was written with.
        """
        if len(store_key) != STORE_KEY_BYTES:
            raise StoreError(f"the store key must be {STORE_KEY_BYTES} bytes")

        def setup(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA foreign_keys = ON")
            # The usage triggers (schema 4) open small ephemeral tables on every write; on a
            # temp file each costs a file open (~1 ms per change update), in memory ~10 us.
            conn.execute("PRAGMA temp_store = MEMORY")
            _migrate(conn, path, load_migrations())

        conn = _open_connection(
            path,
            what=f"the state database {path}",
            busy_timeout=busy_timeout,
            fsync=fsync,
            setup=setup,
        )
        try:
            store = cls(conn, path, store_key)
            store._check_key()
        except sqlite3.Error as exc:
            conn.close()
            raise _store_error(exc) from exc
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection (idempotent). Later calls raise :class:`StoreError`."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._path

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group mutations into one commit (one fsync); nested use becomes a savepoint.

        Nothing inside is durable until the outermost block exits without an exception; an
        exception rolls the block back and propagates.
        """
        try:
            if self._depth:
                self._conn.execute("SAVEPOINT lw_nested")
            else:
                self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _store_error(exc) from exc
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            with contextlib.suppress(sqlite3.Error):
                if self._depth:
                    self._conn.execute("ROLLBACK TO lw_nested")
                    self._conn.execute("RELEASE lw_nested")
                else:
                    self._conn.rollback()
            raise
        self._depth -= 1
        try:
            self._conn.execute("RELEASE lw_nested" if self._depth else "COMMIT")
        except sqlite3.Error as exc:
            if not self._depth:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.rollback()
            raise _store_error(exc) from exc

    # -- sealing -------------------------------------------------------------------------------

    @staticmethod
    def _aad(table: str, column: str, row_key: bytes) -> bytes:
        return b"%s%s\x00%s\x00%s" % (_AAD_PREFIX, table.encode(), column.encode(), row_key)

    def _seal(self, table: str, column: str, row_key: bytes, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, self._aad(table, column, row_key))

    def _unseal(self, table: str, column: str, row_key: bytes, sealed: bytes) -> bytes:
        if len(sealed) < _NONCE_BYTES + _TAG_BYTES:
            raise StoreError(f"a sealed {table}.{column} value in {self._path} is truncated")
        try:
            return self._aead.decrypt(
                sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], self._aad(table, column, row_key)
            )
        except InvalidTag as exc:
            raise StoreError(
                f"a sealed {table}.{column} value in {self._path} does not decrypt: the store "
                "key does not match this database, or the database was altered"
            ) from exc

    def _check_key(self) -> None:
        stored = self.get_meta(KEY_CHECK_META)
        if stored is None:
            sealed = self._seal("meta", "value", KEY_CHECK_META.encode(), _KEY_CHECK_PLAINTEXT)
            self.set_meta(KEY_CHECK_META, sealed.hex())
            return
        try:
            self._unseal("meta", "value", KEY_CHECK_META.encode(), bytes.fromhex(stored))
        except (StoreError, ValueError) as exc:
            raise StoreError(
                f"store.key does not match {self._path} (was the key file replaced?); "
                "restore the old store.key, or start over with `letswork start --new`"
            ) from exc

    # -- meta ----------------------------------------------------------------------------------

    @_guarded
    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @_guarded
    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- reset ---------------------------------------------------------------------------------

    @_guarded
    def wipe(self) -> None:
        """Delete every row (``letswork start --new``), keep the schema, and compact the file.

        The file is vacuumed and the WAL truncated so that the old content does not linger in
        free pages. Cannot run inside :meth:`transaction`.
        """
        if self._depth:
            raise StoreError("wipe() cannot run inside a transaction")
        with self.transaction():
            for table in (
                "message_receipts",
                "messages",
                "task_deps",
                "tasks",
                "vars",
                "change_data",
                "changes",
                "guests",
                "invites",
                "audit",
                "usage",
            ):
                self._conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            self._conn.execute("DELETE FROM meta WHERE key != ?", (KEY_CHECK_META,))
            self._conn.execute("DELETE FROM sqlite_sequence")
        self._conn.execute("VACUUM")
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
