"""Opening the database, sealing, its files, error conversion, transactions, meta and wipe."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from letswork.hub.store import Store
from letswork.shared.errors import StoreError
from tests.hub.store.helpers import INVITE_ID, KEY, OTHER_KEY, _change, _message, posix_only

# -- secrets, files, errors --------------------------------------------------------------------


def _raw_bytes(db_path: Path) -> bytes:
    data = b""
    for suffix in ("", "-wal"):
        p = db_path.with_name(db_path.name + suffix)
        if p.exists():
            data += p.read_bytes()
    return data


def test_secrets_are_never_in_the_database_files_in_clear(db_path: Path) -> None:
    invite_secret = os.urandom(32)
    resume_psk = os.urandom(32)
    s = Store.open(db_path, KEY)
    s.add_invite(INVITE_ID, invite_secret, "editor", None, now=1.0)
    guest = s.add_guest("alice", "editor", INVITE_ID, now=2.0)
    s.admit_guest(guest.guest_id, b"R" * 16, resume_psk, now=3.0)
    before_checkpoint = _raw_bytes(db_path)
    s.close()  # the last connection checkpoints the WAL into state.db
    after_checkpoint = _raw_bytes(db_path)
    for raw in (before_checkpoint, after_checkpoint):
        assert b"R" * 16 in raw  # the grep sees what was written: the public id is in clear
        assert invite_secret not in raw
        assert resume_psk not in raw


def test_sealed_value_moved_to_another_row_does_not_decrypt(store: Store, db_path: Path) -> None:
    store.add_invite(b"a" * 16, b"secret-a", "editor", None, now=1.0)
    store.add_invite(b"b" * 16, b"secret-b", "editor", None, now=1.0)
    conn = sqlite3.connect(db_path)
    conn.execute(
        "UPDATE invites SET secret = (SELECT secret FROM invites WHERE invite_id = ?)"
        " WHERE invite_id = ?",
        (b"a" * 16, b"b" * 16),
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="does not decrypt"):
        store.get_invite(b"b" * 16)


def test_wrong_store_key_is_refused_at_open(store: Store, db_path: Path) -> None:
    store.close()
    with pytest.raises(StoreError, match=r"store\.key does not match"):
        Store.open(db_path, OTHER_KEY)


def test_store_key_must_be_32_bytes(db_path: Path) -> None:
    with pytest.raises(StoreError):
        Store.open(db_path, b"short")


@posix_only
def test_database_files_are_private(store: Store, db_path: Path) -> None:
    store.set_meta("k", "v")
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    wal = db_path.with_name(db_path.name + "-wal")
    assert stat.S_IMODE(wal.stat().st_mode) == 0o600


@posix_only
def test_existing_database_file_is_made_private(db_path: Path) -> None:
    with Store.open(db_path, KEY):
        pass
    db_path.chmod(0o644)
    with Store.open(db_path, KEY):
        assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_corrupted_database_raises_store_error(db_path: Path) -> None:
    db_path.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(StoreError) as info:
        Store.open(db_path, KEY)
    assert not isinstance(info.value, sqlite3.Error)
    assert isinstance(info.value.__cause__, sqlite3.Error)


def test_locked_database_raises_store_error_at_open(store: Store, db_path: Path) -> None:
    store.close()
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("PRAGMA journal_mode = DELETE")
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            Store.open(db_path, KEY, busy_timeout=0)
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_write_while_another_process_holds_the_lock_raises_store_error(db_path: Path) -> None:
    with Store.open(db_path, KEY, busy_timeout=0) as s:
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="locked"):
                s.set_meta("k", "v")
        finally:
            other.execute("ROLLBACK")
            other.close()
        s.set_meta("k", "v")  # the store is usable again once the lock is gone
        assert s.get_meta("k") == "v"


def test_closed_store_raises_store_error(store: Store) -> None:
    store.close()
    with pytest.raises(StoreError):
        store.get_meta("k")


# -- transactions ------------------------------------------------------------------------------


def _fail_inside_transaction(store: Store) -> None:
    with store.transaction():
        store.set_meta("b", "2")
        store.add_change(_change("c1"))
        raise RuntimeError("boom")


def test_transaction_rolls_back_every_mutation_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError):
        _fail_inside_transaction(store)
    assert store.get_meta("b") is None
    assert store.get_change("c1") is None


def test_nested_transaction_failure_keeps_the_outer_work(store: Store) -> None:
    with store.transaction():
        store.set_meta("a", "1")
        with pytest.raises(RuntimeError):
            _fail_inside_transaction(store)
    assert (store.get_meta("a"), store.get_meta("b")) == ("1", None)


def test_mutation_is_visible_to_another_connection_when_the_method_returns(
    store: Store, db_path: Path
) -> None:
    store.set_meta("public_url", "wss://x")
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'public_url'").fetchone()
    finally:
        conn.close()
    assert row == ("wss://x",)


# -- meta, wipe ----------------------------------------------------------------------------------


def test_meta_value_is_replaced(store: Store) -> None:
    assert store.get_meta("auto_admit") is None
    store.set_meta("auto_admit", "0")
    store.set_meta("auto_admit", "1")
    assert store.get_meta("auto_admit") == "1"


def test_wipe_deletes_every_row_and_keeps_the_schema(
    store: Store, db_path: Path, invite: bytes
) -> None:
    store.add_guest("alice", "editor", invite, now=2.0)
    store.add_change(_change("c1"))
    store.audit("host", "x", 1.0)
    store.set_meta("public_url", "wss://x")
    store.wipe()
    assert store.list_invites() == []
    assert store.list_guests() == []
    assert store.list_changes() == []
    assert store.audit_log() == []
    assert store.get_meta("public_url") is None
    store.add_invite(INVITE_ID, b"again", "editor", None, now=9.0)
    store.audit("host", "y", 10.0)
    assert store.audit_log()[0].id == 1
    store.close()
    with Store.open(db_path, KEY) as again:
        assert len(again.list_invites()) == 1


def test_wipe_also_clears_messages_tasks_and_variables(store: Store) -> None:
    _message(store)
    store.add_task(
        title="t",
        description="",
        priority="low",
        status="open",
        assignee_id=None,
        assignee_name=None,
        created_by="host",
        now=1.0,
    )
    store.set_var("k", "v", "host", 1.0)
    store.wipe()
    assert store.list_messages("g1") == []
    assert store.list_tasks() == []
    assert store.list_vars() == []
    assert store.undelivered("g1") == []
