"""The schema: numbered ``schema/NNN-name.sql`` files shipped as package data, applied in
order, each in its own transaction with ``PRAGMA user_version = NNN``.

A released file is never edited, so their headers still name ``letswork/hub/store.py``, which
this package replaced.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
import sqlite3
from pathlib import Path

from letswork.shared.errors import StoreError

__all__ = ["Migration", "load_migrations", "split_sql"]

_MIGRATION_NAME = re.compile(r"(\d{3})-[a-z0-9_-]+\.sql")


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
    folder = importlib.resources.files("letswork.hub.store").joinpath("schema")
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
