"""The hub's SQLite store: invites, guests, changes, the audit log and settings of one project.

Persistence rules (design section 8; ``docs/parts/store.md`` has the full text):

- One connection, opened once, in WAL mode with ``synchronous=FULL`` and foreign keys on. Every
  mutating method commits before it returns, so a request that changes state is on disk before
  the hub acknowledges it. :meth:`Store.transaction` groups several mutations into one commit.
- The schema is versioned: ``letswork/hub/schema/NNN-name.sql`` files, applied in order, each in
  its own transaction together with ``PRAGMA user_version = NNN``.
- Secret columns (invite secrets, resume PSKs) are sealed with AES-256-GCM under the 32-byte
  ``store.key``; the resume secret itself is never stored, only the PSK derived from it.
- The clock is passed in (``now`` arguments); nothing here reads the time.
- ``sqlite3`` errors never escape: every public method converts them to
  :class:`~letswork.shared.errors.StoreError`.
- What peers can make it keep is bounded (schema 4, issue 13 item 8): messages, the audit log
  and decided changes are rings per owner and in total under :attr:`Store.limits`, pruned
  oldest first in the transaction of the write that crossed a cap, against running totals
  (the ``usage`` table) that triggers keep.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.resources
import json
import os
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from letswork.hub.workspace.diff import unified_diff
from letswork.hub.workspace.sharing import GuestVersion
from letswork.shared.errors import ErrorCode, StoreError, op_error
from letswork.shared.limits import Limits

STORE_KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_AAD_PREFIX = b"letswork-store/1\x00"
#: ``meta`` row holding a sealed constant, so a wrong ``store.key`` is caught at open.
KEY_CHECK_META = "_store_key_check"
_KEY_CHECK_PLAINTEXT = b"letswork store key check v1"

_MIGRATION_NAME = re.compile(r"(\d{3})-[a-z0-9_-]+\.sql")

# SQLite primary result codes that mean "the disk refused", reported as ``disk_error``.
_DISK_CODES = frozenset({3, 8, 10, 13, 14})  # PERM, READONLY, IOERR, FULL, CANTOPEN

ROLES = ("editor", "viewer")
GUEST_STATES = ("awaiting_admission", "admitted", "denied", "kicked")
CHANGE_KINDS = ("write", "edit", "delete", "move")
CHANGE_STATUSES = ("pending", "approved", "applied", "rejected", "conflict")
#: Statuses of a decided change: final, so its content and diff may be pruned (schema 4).
DECIDED_STATUSES = ("applied", "rejected", "conflict")
_DECIDED_SQL = "('applied', 'rejected', 'conflict')"
#: The ``usage`` owner meaning "every owner but the host" (computed, never stored).
_GUESTS = "*guests"

_P = ParamSpec("_P")
_R = TypeVar("_R")


# --------------------------------------------------------------------------------------------
# Rows


@dataclasses.dataclass(frozen=True)
class InviteRow:
    invite_id: bytes
    secret: bytes = dataclasses.field(repr=False)
    role: str
    label: str | None
    created_at: float
    revoked_at: float | None
    uses: int


@dataclasses.dataclass(frozen=True)
class GuestRow:
    guest_id: str
    name: str
    role: str
    invite_id: bytes | None
    state: str
    trusted: bool
    resume_id: bytes | None
    created_at: float
    admitted_at: float | None


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


@dataclasses.dataclass(frozen=True)
class AuditRow:
    id: int
    at: float
    actor: str
    kind: str
    path: str | None
    detail: dict[str, Any]


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


@dataclasses.dataclass(frozen=True)
class TaskRow:
    id: int
    title: str
    description: str
    priority: str
    status: str
    assignee_id: str | None
    assignee_name: str | None
    note: str | None
    created_by: str
    created_at: float
    updated_at: float
    depends_on: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class VarRow:
    key: str
    value: str
    updated_by: str
    updated_at: float


_INVITE_COLS = "invite_id, secret, role, label, created_at, revoked_at, uses"
_GUEST_COLS = "guest_id, name, role, invite_id, state, trusted, resume_id, created_at, admitted_at"
# The columns of ChangeRow, in order, over ``changes c JOIN change_data d``.
_CHANGE_COLS = (
    "c.id, c.author_id, c.author_name, c.kind, c.path, c.new_path, c.base_sha256, c.new_sha256,"
    " d.content, d.diff, c.size, c.status, c.reason, c.created_at, c.decided_at, c.decided_by,"
    " d.diff_derived, c.data_kept"
)
_CHANGE_FROM = "changes c JOIN change_data d ON d.change_id = c.id"
_CHANGE_META_COLS = (
    "id, author_id, author_name, kind, path, new_path, base_sha256, new_sha256,"
    " size, status, reason, created_at, decided_at, decided_by"
)


# Queries over the fixed column lists above (no user input is ever formatted into SQL).
_SQL_GET_INVITE = f"SELECT {_INVITE_COLS} FROM invites WHERE invite_id = ?"  # noqa: S608
_SQL_GET_GUEST = f"SELECT {_GUEST_COLS} FROM guests WHERE guest_id = ?"  # noqa: S608
_SQL_GUEST_BY_RESUME = f"SELECT {_GUEST_COLS}, resume_psk FROM guests WHERE resume_id = ?"  # noqa: S608
_SQL_GET_CHANGE = f"SELECT {_CHANGE_COLS} FROM {_CHANGE_FROM} WHERE c.id = ?"  # noqa: S608
_SQL_LIST_INVITES = f"SELECT {_INVITE_COLS} FROM invites ORDER BY created_at, rowid"  # noqa: S608
_SQL_LIST_GUESTS = f"SELECT {_GUEST_COLS} FROM guests ORDER BY created_at, rowid"  # noqa: S608
_SQL_LIST_GUESTS_IN_STATE = (
    f"SELECT {_GUEST_COLS} FROM guests WHERE state = ? ORDER BY created_at, rowid"  # noqa: S608
)
_SQL_GUESTS_OF_INVITE = (
    f"SELECT {_GUEST_COLS} FROM guests WHERE invite_id = ? ORDER BY created_at, rowid"  # noqa: S608
)
_SQL_INSERT_CHANGE = (
    f"INSERT INTO changes ({_CHANGE_META_COLS}, data_bytes)"  # noqa: S608
    f" VALUES ({', '.join('?' * 15)})"
)
_SQL_INSERT_CHANGE_DATA = (
    "INSERT INTO change_data (change_id, diff, content, diff_derived) VALUES (?, ?, ?, ?)"
)
_MESSAGE_COLS_M = (
    "m.id, m.type, m.sender_id, m.sender_name, m.to_id, m.to_name, m.body, m.refs, m.created_at"
)
_SQL_GET_MESSAGE = f"SELECT {_MESSAGE_COLS_M} FROM messages m WHERE m.id = ?"  # noqa: S608
_TASK_COLS = (
    "t.id, t.title, t.description, t.priority, t.status, t.assignee_id, t.assignee_name,"
    " t.note, t.created_by, t.created_at, t.updated_at"
)
_SQL_GET_TASK = f"SELECT {_TASK_COLS} FROM tasks t WHERE t.id = ?"  # noqa: S608
_SQL_LIST_TASKS = f"SELECT {_TASK_COLS} FROM tasks t ORDER BY t.id"  # noqa: S608
_SQL_TASKS_OF = f"SELECT {_TASK_COLS} FROM tasks t WHERE t.assignee_id = ? ORDER BY t.id"  # noqa: S608
_SQL_DEPENDENTS = (
    f"SELECT {_TASK_COLS} FROM tasks t JOIN task_deps d ON d.task_id = t.id"  # noqa: S608
    " WHERE d.depends_on = ? ORDER BY t.id"
)


def _guest_row(row: tuple[Any, ...]) -> GuestRow:
    guest_id, name, role, invite_id, state, trusted, resume_id, created_at, admitted_at = row
    return GuestRow(
        guest_id=guest_id,
        name=name,
        role=role,
        invite_id=invite_id,
        state=state,
        trusted=bool(trusted),
        resume_id=resume_id,
        created_at=created_at,
        admitted_at=admitted_at,
    )


def _change_row(row: tuple[Any, ...], *, with_content: bool = True) -> ChangeRow:
    """A ChangeRow from ``_CHANGE_COLS``; a derived diff (schema 3) is rebuilt from the
    content, which is then dropped unless ``with_content``."""
    *fields, derived, kept = row
    change = ChangeRow(*fields)
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


def _task_row(row: tuple[Any, ...], deps: tuple[int, ...]) -> TaskRow:
    tid, title, description, priority, status, a_id, a_name, note, by, created, updated = row
    return TaskRow(
        tid, title, description, priority, status, a_id, a_name, note, by, created, updated, deps
    )


def _message_row(row: tuple[Any, ...]) -> MessageRow:
    mid, type_, sender_id, sender_name, to_id, to_name, body, refs, created_at = row
    return MessageRow(
        mid, type_, sender_id, sender_name, to_id, to_name, body, json.loads(refs), created_at
    )


# --------------------------------------------------------------------------------------------
# Schema migrations


@dataclasses.dataclass(frozen=True)
class Migration:
    """One schema file: ``number`` is what ``PRAGMA user_version`` holds once it is applied."""

    number: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Every ``NNN-name.sql`` file in the package's ``schema`` directory, in order.

    Raises:
        StoreError: the numbers are not exactly 1, 2, ..., N (a gap or a duplicate).
    """
    folder = importlib.resources.files("letswork.hub").joinpath("schema")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise StoreError(f"schema files are not numbered 1..N without gaps: {numbers}")
    return found


def split_sql(script: str) -> list[str]:
    """Split a schema file into single statements (``sqlite3.complete_statement`` decides)."""
    statements: list[str] = []
    start = 0
    for pos, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : pos + 1]):
            statement = script[start : pos + 1].strip()
            if statement.strip(";").strip():
                statements.append(statement)
            start = pos + 1
    rest = script[start:]
    if _strip_sql_comments(rest).strip():
        raise StoreError(f"schema file has an unterminated statement: {rest.strip()[:60]!r}")
    return statements


def _strip_sql_comments(text: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", "", text, flags=re.DOTALL)


def _newer_schema(path: Path, current: int, latest: int) -> StoreError:
    return StoreError(
        f"{path} was written by a newer letswork (schema {current}; this version knows up to "
        f"{latest}); upgrade letswork to open it"
    )


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _migrate(conn: sqlite3.Connection, path: Path, migrations: list[Migration]) -> None:
    """Apply every migration numbered above ``user_version``, one transaction each."""
    latest = migrations[-1].number if migrations else 0
    current = _user_version(conn)
    if current > latest:
        raise _newer_schema(path, current, latest)
    for migration in migrations:
        if migration.number <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: a concurrent opener may have upgraded already.
            current = _user_version(conn)
            if migration.number > current:
                for statement in split_sql(migration.sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {migration.number:d}")
                current = migration.number
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.rollback()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"schema upgrade {migration.name} failed: {exc}") from exc
            raise


# --------------------------------------------------------------------------------------------
# Error conversion


def _store_error(exc: sqlite3.Error) -> StoreError:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _DISK_CODES:
        return StoreError(f"state database: {exc}", code=ErrorCode.DISK_ERROR)
    return StoreError(f"state database: {exc}")


def _guarded(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Convert ``sqlite3.Error`` raised by ``fn`` into :class:`StoreError`."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except sqlite3.Error as exc:
            raise _store_error(exc) from exc

    return wrapper


def _json_default(value: object) -> object:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _create_private_file(path: Path) -> None:
    """Create ``path`` (mode 0600) if missing, and force an existing one to 0600."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        if os.name == "posix":
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# The store


class Store:
    """The state of one project, in one SQLite database. Create with :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, store_key: bytes) -> None:
        self._conn = conn
        self._path = path
        self._aead = AESGCM(store_key)
        self._depth = 0
        #: The caps this store keeps to (issue 13, item 8); the hub core sets its own.
        self.limits = Limits()

    # -- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: Path, store_key: bytes, *, busy_timeout: float = 5.0, fsync: bool = False
    ) -> Store:
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
        try:
            _create_private_file(path)
        except OSError as exc:
            raise StoreError(
                f"cannot open the state database {path}: {exc.strerror}", code=ErrorCode.DISK_ERROR
            ) from exc
        try:
            conn = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise _store_error(exc) from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
            conn.execute("PRAGMA foreign_keys = ON")
            # The usage triggers (schema 4) open small ephemeral tables on every write; on a
            # temp file each costs a file open (~1 ms per change update), in memory ~10 us.
            conn.execute("PRAGMA temp_store = MEMORY")
            _migrate(conn, path, load_migrations())
            for suffix in ("-wal", "-shm"):
                side = path.with_name(path.name + suffix)
                if os.name == "posix" and side.exists():
                    side.chmod(0o600)
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

    def __enter__(self) -> Store:
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

    def _delete_change(self, change_id: Any) -> None:
        self._conn.execute("DELETE FROM changes WHERE id = ?", (change_id,))

    def _drop_change_data(self, change_id: Any) -> None:
        self._conn.execute(
            "UPDATE change_data SET content = NULL, diff = '', diff_derived = 0"
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

    # -- invites -------------------------------------------------------------------------------

    def _invite_row(self, row: tuple[Any, ...]) -> InviteRow:
        invite_id, sealed, role, label, created_at, revoked_at, uses = row
        return InviteRow(
            invite_id=invite_id,
            secret=self._unseal("invites", "secret", invite_id, sealed),
            role=role,
            label=label,
            created_at=created_at,
            revoked_at=revoked_at,
            uses=uses,
        )

    @_guarded
    def add_invite(
        self, invite_id: bytes, secret: bytes, role: str, label: str | None, now: float
    ) -> InviteRow:
        sealed = self._seal("invites", "secret", invite_id, secret)
        with self.transaction():
            self._conn.execute(
                "INSERT INTO invites (invite_id, secret, role, label, created_at, uses)"
                " VALUES (?, ?, ?, ?, ?, 0)",
                (invite_id, sealed, role, label, now),
            )
        return InviteRow(invite_id, secret, role, label, now, None, 0)

    @_guarded
    def get_invite(self, invite_id: bytes) -> InviteRow | None:
        row = self._conn.execute(
            _SQL_GET_INVITE,
            (invite_id,),
        ).fetchone()
        return None if row is None else self._invite_row(row)

    @_guarded
    def list_invites(self) -> list[InviteRow]:
        """Every invite, revoked ones included, oldest first."""
        rows = self._conn.execute(_SQL_LIST_INVITES).fetchall()
        return [self._invite_row(row) for row in rows]

    @_guarded
    def revoke_invite(self, invite_id: bytes, now: float) -> bool:
        """Mark an invite revoked; ``False`` if it is unknown or already revoked."""
        with self.transaction():
            cur = self._conn.execute(
                "UPDATE invites SET revoked_at = ? WHERE invite_id = ? AND revoked_at IS NULL",
                (now, invite_id),
            )
        return cur.rowcount == 1

    @_guarded
    def count_invite_use(self, invite_id: bytes) -> None:
        """Add one to the invite's ``uses``. Raises ``OpError(not_found)`` for an unknown id."""
        with self.transaction():
            cur = self._conn.execute(
                "UPDATE invites SET uses = uses + 1 WHERE invite_id = ?", (invite_id,)
            )
        if cur.rowcount != 1:
            raise op_error(ErrorCode.NOT_FOUND, "no such invite")

    # -- guests --------------------------------------------------------------------------------

    def _require_guest(self, guest_id: str) -> GuestRow:
        row = self.get_guest(guest_id)
        if row is None:
            raise op_error(ErrorCode.NOT_FOUND, f"no guest {guest_id}", guest_id=guest_id)
        return row

    def _update_guest(self, guest_id: str, sql: str, params: tuple[Any, ...]) -> None:
        with self.transaction():
            cur = self._conn.execute(sql, (*params, guest_id))
        if cur.rowcount != 1:
            raise op_error(ErrorCode.NOT_FOUND, f"no guest {guest_id}", guest_id=guest_id)

    @_guarded
    def add_guest(self, name: str, role: str, invite_id: bytes, now: float) -> GuestRow:
        """A new guest in state ``awaiting_admission`` with a fresh random hex ``guest_id``.

        The hub no longer calls this (a waiting guest is kept in memory; ``add_admitted_guest``
        writes the row at admission); it stays for the store's own tests and old states.
        """
        guest_id = secrets.token_hex(8)
        with self.transaction():
            self._conn.execute(
                "INSERT INTO guests (guest_id, name, role, invite_id, state, trusted, created_at)"
                " VALUES (?, ?, ?, ?, 'awaiting_admission', 0, ?)",
                (guest_id, name, role, invite_id, now),
            )
        return GuestRow(
            guest_id, name, role, invite_id, "awaiting_admission", False, None, now, None
        )

    @_guarded
    def add_admitted_guest(
        self,
        guest_id: str,
        name: str,
        role: str,
        invite_id: bytes,
        resume_id: bytes,
        resume_psk: bytes,
        now: float,
    ) -> GuestRow:
        """Store a guest the host has just admitted, with its resume credential, in one
        transaction, and count the use of its invite. Nothing is stored for a guest before
        this (a waiting guest lives in the hub's memory only).

        Raises ``OpError(not_found)`` when the invite is gone.
        """
        sealed = self._seal("guests", "resume_psk", guest_id.encode(), resume_psk)
        with self.transaction():
            cur = self._conn.execute(
                "UPDATE invites SET uses = uses + 1 WHERE invite_id = ?", (invite_id,)
            )
            if cur.rowcount != 1:
                raise op_error(ErrorCode.NOT_FOUND, "no such invite")
            self._conn.execute(
                "INSERT INTO guests (guest_id, name, role, invite_id, state, trusted, resume_id,"
                " resume_psk, created_at, admitted_at)"
                " VALUES (?, ?, ?, ?, 'admitted', 0, ?, ?, ?, ?)",
                (guest_id, name, role, invite_id, resume_id, sealed, now, now),
            )
        return self._require_guest(guest_id)

    @_guarded
    def prune_guests_of_invite(
        self, invite_id: bytes, *, keep: int, spare: Iterable[str] = ()
    ) -> list[str]:
        """Forget the oldest guests of an invite beyond ``keep`` rows; returns their ids.

        Guests in ``spare`` (connected now) and guests with a pending change are never
        forgotten, so the invite may keep more than ``keep`` rows while they last. Kicked
        guests go first, then the oldest by ``admitted_at``.
        """
        spared = set(spare)
        with self.transaction():
            rows = self._conn.execute(
                "SELECT guest_id FROM guests WHERE invite_id = ?"
                " ORDER BY state = 'admitted', COALESCE(admitted_at, created_at), rowid",
                (invite_id,),
            ).fetchall()
            excess = len(rows) - keep
            gone: list[str] = []
            for (guest_id,) in rows:
                if len(gone) >= excess:
                    break
                if guest_id in spared or self.pending_totals(guest_id)[0]:
                    continue
                self._conn.execute("DELETE FROM guests WHERE guest_id = ?", (guest_id,))
                gone.append(guest_id)
        return gone

    @_guarded
    def drop_unadmitted_guests(self) -> int:
        """Delete guests that were never admitted (rows an older hub wrote at ``hello``);
        returns how many. Run at start-up."""
        with self.transaction():
            cur = self._conn.execute(
                "DELETE FROM guests WHERE state IN ('awaiting_admission', 'denied')"
            )
        return cur.rowcount

    @_guarded
    def get_guest(self, guest_id: str) -> GuestRow | None:
        row = self._conn.execute(
            _SQL_GET_GUEST,
            (guest_id,),
        ).fetchone()
        return None if row is None else _guest_row(row)

    @_guarded
    def list_guests(self, *, state: str | None = None) -> list[GuestRow]:
        """Every guest (or those in ``state``), oldest first."""
        if state is None:
            rows = self._conn.execute(_SQL_LIST_GUESTS).fetchall()
        else:
            rows = self._conn.execute(
                _SQL_LIST_GUESTS_IN_STATE,
                (state,),
            ).fetchall()
        return [_guest_row(row) for row in rows]

    @_guarded
    def find_guest_by_resume_id(self, resume_id: bytes) -> tuple[GuestRow, bytes] | None:
        """The guest holding this resume credential, and its resume PSK (unsealed)."""
        row = self._conn.execute(
            _SQL_GUEST_BY_RESUME,
            (resume_id,),
        ).fetchone()
        if row is None:
            return None
        guest = _guest_row(row[:-1])
        psk = self._unseal("guests", "resume_psk", guest.guest_id.encode(), row[-1])
        return guest, psk

    @_guarded
    def admit_guest(
        self, guest_id: str, resume_id: bytes, resume_psk: bytes, now: float
    ) -> GuestRow:
        """State ``admitted``, with the resume credential (id public, PSK sealed)."""
        sealed = self._seal("guests", "resume_psk", guest_id.encode(), resume_psk)
        self._update_guest(
            guest_id,
            "UPDATE guests SET state = 'admitted', resume_id = ?, resume_psk = ?, admitted_at = ?"
            " WHERE guest_id = ?",
            (resume_id, sealed, now),
        )
        return self._require_guest(guest_id)

    @_guarded
    def set_guest_state(self, guest_id: str, state: str) -> None:
        """Set the state; ``denied`` and ``kicked`` also drop the resume credential."""
        if state in ("denied", "kicked"):
            sql = "UPDATE guests SET state = ?, resume_id = NULL, resume_psk = NULL"
        else:
            sql = "UPDATE guests SET state = ?"
        self._update_guest(guest_id, sql + " WHERE guest_id = ?", (state,))

    @_guarded
    def set_guest_name(self, guest_id: str, name: str) -> None:
        self._update_guest(guest_id, "UPDATE guests SET name = ? WHERE guest_id = ?", (name,))

    @_guarded
    def set_trusted(self, guest_id: str, trusted: bool) -> None:
        self._update_guest(
            guest_id, "UPDATE guests SET trusted = ? WHERE guest_id = ?", (int(trusted),)
        )

    @_guarded
    def guests_of_invite(self, invite_id: bytes) -> list[GuestRow]:
        rows = self._conn.execute(
            _SQL_GUESTS_OF_INVITE,
            (invite_id,),
        ).fetchall()
        return [_guest_row(row) for row in rows]

    @_guarded
    def revoke_guests_of_invite(self, invite_id: bytes) -> list[GuestRow]:
        """Kick every admitted or waiting guest of the invite, dropping resume credentials.

        Returns the guests that changed (already denied or kicked ones are left as they are).
        """
        with self.transaction():
            ids = [
                row[0]
                for row in self._conn.execute(
                    "SELECT guest_id FROM guests WHERE invite_id = ?"
                    " AND state IN ('awaiting_admission', 'admitted') ORDER BY created_at, rowid",
                    (invite_id,),
                )
            ]
            self._conn.executemany(
                "UPDATE guests SET state = 'kicked', resume_id = NULL, resume_psk = NULL"
                " WHERE guest_id = ?",
                [(guest_id,) for guest_id in ids],
            )
        return [self._require_guest(guest_id) for guest_id in ids]

    # -- changes -------------------------------------------------------------------------------

    @_guarded
    def add_change(self, row: ChangeRow, *, derive_diff: bool = False) -> None:
        """Store a new change (content and diff in ``change_data``), committed on return.

        ``derive_diff``: the change creates a file, and its diff is
        ``unified_diff(path, None, content)``; ``row.diff`` is ignored and not stored, and every
        read rebuilds it (schema 3).

        Raises:
            ValueError: ``derive_diff`` for anything but a ``write`` with content and no
                ``new_path``.
        """
        if derive_diff and (row.kind != "write" or row.content is None or row.new_path):
            raise ValueError("only a write of a new file has a derived diff")
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
            self._conn.execute(
                _SQL_INSERT_CHANGE_DATA,
                (row.id, "" if derive_diff else row.diff, row.content, int(derive_diff)),
            )
            if row.status in DECIDED_STATUSES:
                self._prune_decided(row.id, row.author_id)

    @_guarded
    def get_change(self, change_id: str) -> ChangeRow | None:
        row = self._conn.execute(
            _SQL_GET_CHANGE,
            (change_id,),
        ).fetchone()
        return None if row is None else _change_row(row)

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
    ) -> ChangeRow:
        """Move a change to ``status`` and return the updated row.

        Any status other than ``pending`` sets ``decided_at = now`` (the time of the latest
        transition); ``by``, ``reason`` and ``diff`` replace the stored values only when given.
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
            if diff is not None:
                self._conn.execute(
                    "UPDATE change_data SET diff = ?, diff_derived = 0 WHERE change_id = ?",
                    (diff, change_id),
                )
                self._conn.execute(
                    "UPDATE changes SET data_bytes = ? + (SELECT COALESCE(length(content), 0)"
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

    # -- audit log -----------------------------------------------------------------------------

    @_guarded
    def audit(
        self,
        actor: str,
        kind: str,
        now: float,
        *,
        path: str | None = None,
        actor_id: str | None = None,
        **detail: Any,
    ) -> None:
        """Append one audit entry; ``detail`` is stored as a JSON object.

        Values JSON cannot hold are stored as text: bytes as hex, sets and tuples as lists,
        anything else as ``str(value)``. Never pass a secret here. ``actor_id`` (``"host"`` or
        a guest id) is whose share of the log the entry counts against: beyond
        ``limits.max_audit_entries_per_guest`` / ``max_audit_bytes_per_guest`` a guest's own
        oldest entries are pruned, beyond the ``max_audit_*_total`` caps anyone's.
        """
        text = json.dumps(
            detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
        )
        with self.transaction():
            cur = self._conn.execute(
                "INSERT INTO audit (at, actor, kind, path, detail, actor_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (now, actor, kind, path, text, actor_id),
            )
            self._prune_audit(actor_id, int(cur.lastrowid or 0))

    @_guarded
    def audit_log(
        self,
        *,
        actor: str | None = None,
        kind: str | None = None,
        since: float | None = None,
        before_id: int | None = None,
        limit: int = 200,
    ) -> list[AuditRow]:
        """The newest ``limit`` matching entries (``at >= since``, ``id < before_id``),
        returned oldest first."""
        where: list[str] = []
        params: list[Any] = []
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        if actor is not None:
            where.append("actor = ?")
            params.append(actor)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        sql = "SELECT id, at, actor, kind, path, detail FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        params.append(max(0, limit))
        rows = self._conn.execute(sql + " ORDER BY id DESC LIMIT ?", params).fetchall()
        return [
            AuditRow(id=i, at=at, actor=a, kind=k, path=p, detail=json.loads(d))
            for i, at, a, k, p, d in reversed(rows)
        ]

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

    # -- tasks ---------------------------------------------------------------------------------

    def _deps_of(self, task_ids: list[int] | None) -> dict[int, tuple[int, ...]]:
        if task_ids is None:
            rows = self._conn.execute(
                "SELECT task_id, depends_on FROM task_deps ORDER BY task_id, depends_on"
            ).fetchall()
        else:
            rows = []
            for start in range(0, len(task_ids), 500):
                chunk = task_ids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                rows += self._conn.execute(
                    "SELECT task_id, depends_on FROM task_deps"  # noqa: S608 - only '?' marks
                    f" WHERE task_id IN ({marks}) ORDER BY task_id, depends_on",
                    chunk,
                ).fetchall()
        deps: dict[int, list[int]] = {}
        for task_id, dep in rows:
            deps.setdefault(task_id, []).append(dep)
        return {task_id: tuple(ids) for task_id, ids in deps.items()}

    def _task_rows(self, rows: list[tuple[Any, ...]], *, all_deps: bool = False) -> list[TaskRow]:
        deps = self._deps_of(None if all_deps else [row[0] for row in rows])
        return [_task_row(row, deps.get(row[0], ())) for row in rows]

    @_guarded
    def count_tasks(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0])

    @_guarded
    def add_task(
        self,
        *,
        title: str,
        description: str,
        priority: str,
        status: str,
        assignee_id: str | None,
        assignee_name: str | None,
        created_by: str,
        now: float,
        depends_on: tuple[int, ...] = (),
    ) -> TaskRow:
        """Store a new task and its dependencies (which must exist), committed on return."""
        with self.transaction():
            cur = self._conn.execute(
                "INSERT INTO tasks (title, description, priority, status, assignee_id,"
                " assignee_name, created_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    title,
                    description,
                    priority,
                    status,
                    assignee_id,
                    assignee_name,
                    created_by,
                    now,
                    now,
                ),
            )
            task_id = int(cur.lastrowid or 0)
            self._conn.executemany(
                "INSERT INTO task_deps (task_id, depends_on) VALUES (?, ?)",
                [(task_id, dep) for dep in sorted(set(depends_on))],
            )
        task = self.get_task(task_id)
        assert task is not None
        return task

    @_guarded
    def get_task(self, task_id: int) -> TaskRow | None:
        rows = self._conn.execute(_SQL_GET_TASK, (task_id,)).fetchall()
        return self._task_rows(rows)[0] if rows else None

    @_guarded
    def list_tasks(self) -> list[TaskRow]:
        """Every task, by id."""
        return self._task_rows(self._conn.execute(_SQL_LIST_TASKS).fetchall(), all_deps=True)

    @_guarded
    def tasks_assigned(self, assignee_id: str) -> list[TaskRow]:
        """The tasks assigned to ``assignee_id``, by id."""
        rows = self._conn.execute(_SQL_TASKS_OF, (assignee_id,)).fetchall()
        return self._task_rows(rows)

    @_guarded
    def dependents(self, task_id: int) -> list[TaskRow]:
        """The tasks that depend on ``task_id``, by id."""
        rows = self._conn.execute(_SQL_DEPENDENTS, (task_id,)).fetchall()
        return self._task_rows(rows)

    @_guarded
    def update_task(
        self,
        task_id: int,
        *,
        status: str,
        assignee_id: str | None,
        assignee_name: str | None,
        note: str | None,
        now: float,
    ) -> TaskRow:
        """Replace a task's status, assignee and note. Raises ``OpError(not_found)``."""
        with self.transaction():
            cur = self._conn.execute(
                "UPDATE tasks SET status = ?, assignee_id = ?, assignee_name = ?, note = ?,"
                " updated_at = ? WHERE id = ?",
                (status, assignee_id, assignee_name, note, now, task_id),
            )
        if cur.rowcount != 1:
            raise op_error(ErrorCode.NOT_FOUND, f"no task {task_id}", task_id=task_id)
        task = self.get_task(task_id)
        assert task is not None
        return task

    @_guarded
    def count_tasks_done(self, assignee_id: str) -> int:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM tasks WHERE assignee_id = ? AND status = 'done'", (assignee_id,)
        ).fetchone()
        return int(row[0])

    # -- shared variables ----------------------------------------------------------------------

    @_guarded
    def set_var(self, key: str, value: str, by: str, now: float) -> VarRow:
        with self.transaction():
            self._conn.execute(
                "INSERT INTO vars (key, value, updated_by, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                (key, value, by, now),
            )
        return VarRow(key, value, by, now)

    @_guarded
    def get_var(self, key: str) -> VarRow | None:
        row = self._conn.execute(
            "SELECT key, value, updated_by, updated_at FROM vars WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else VarRow(*row)

    @_guarded
    def list_vars(self) -> list[VarRow]:
        """Every variable, by key."""
        rows = self._conn.execute(
            "SELECT key, value, updated_by, updated_at FROM vars ORDER BY key"
        ).fetchall()
        return [VarRow(*row) for row in rows]

    @_guarded
    def count_vars(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM vars").fetchone()[0])

    @_guarded
    def delete_var(self, key: str) -> bool:
        with self.transaction():
            cur = self._conn.execute("DELETE FROM vars WHERE key = ?", (key,))
        return cur.rowcount == 1

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
