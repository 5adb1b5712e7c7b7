"""The schema files and their migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from letswork.hub.store import Store, base, migrations
from letswork.hub.store.migrations import Migration, load_migrations, split_sql
from letswork.shared.errors import StoreError
from tests.hub.store.helpers import KEY, LATEST, _tables, _user_version

# -- migrations --------------------------------------------------------------------------------


def test_open_creates_every_table_from_an_empty_file(store: Store, db_path: Path) -> None:
    assert {"invites", "guests", "changes", "audit", "meta"} <= _tables(db_path)


def test_user_version_equals_highest_schema_file_number(store: Store, db_path: Path) -> None:
    store.close()
    assert _user_version(db_path) == max(m.number for m in load_migrations())


def test_schema_files_load_as_package_data_in_number_order() -> None:
    migrations = load_migrations()
    assert migrations[0].name == "001-initial.sql"
    assert [m.number for m in migrations] == list(range(1, len(migrations) + 1))


def test_reopen_runs_no_migration(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.set_meta("k", "v")
    store.close()

    def fail(script: str) -> list[str]:
        raise AssertionError("a migration ran on re-open")

    monkeypatch.setattr(migrations, "split_sql", fail)
    with Store.open(db_path, KEY) as again:
        assert again.get_meta("k") == "v"
    assert _user_version(db_path) == LATEST


def test_later_migration_file_is_applied_on_reopen(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.set_meta("k", "v")
    store.close()
    real = load_migrations()
    n = LATEST + 1
    extra = Migration(n, f"{n:03d}-notes.sql", "CREATE TABLE notes (id INTEGER PRIMARY KEY);")
    monkeypatch.setattr(base, "load_migrations", lambda: [*real, extra])
    with Store.open(db_path, KEY) as again:
        assert again.get_meta("k") == "v"
    assert _user_version(db_path) == n
    assert "notes" in _tables(db_path)


def test_failing_migration_is_rolled_back_whole(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.close()
    real = load_migrations()
    n = LATEST + 1
    broken = Migration(
        n, f"{n:03d}-broken.sql", "CREATE TABLE half (x);\nCREATE TABLE invites (x);"
    )
    monkeypatch.setattr(base, "load_migrations", lambda: [*real, broken])
    with pytest.raises(StoreError, match=rf"{n:03d}-broken\.sql"):
        Store.open(db_path, KEY)
    assert _user_version(db_path) == LATEST
    assert "half" not in _tables(db_path)


def test_database_from_a_newer_schema_is_refused(store: Store, db_path: Path) -> None:
    store.close()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer letswork"):
        Store.open(db_path, KEY)


def test_split_sql_keeps_semicolons_inside_strings_and_triggers() -> None:
    script = (
        "-- comment; with a semicolon\n"
        "CREATE TABLE t (x TEXT DEFAULT 'a;b');\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET x = 'c;d'; END;\n"
        "-- trailing comment\n"
    )
    statements = split_sql(script)
    assert len(statements) == 2
    assert statements[1].endswith("END;")
