"""The SQLite store: migrations, round trips, durability, sealing, and error conversion."""

from __future__ import annotations

import os
import random
import sqlite3
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from letswork.hub.store import Store, base, migrations
from letswork.hub.store.changes import ChangeRow
from letswork.hub.store.migrations import Migration, load_migrations, split_sql
from letswork.hub.workspace.diff import unified_diff
from letswork.shared.errors import ErrorCode, OpError, StoreError

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
INVITE_ID = b"I" * 16
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
#: The newest schema number this version ships.
LATEST = len(load_migrations())


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store.open(db_path, KEY)
    yield s
    s.close()


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        conn.close()
    return {r[0] for r in rows}


def _change(
    change_id: str, *, author: str = "g1", created_at: float = 100.0, **kw: object
) -> ChangeRow:
    content = kw.pop("content", b"new text\n")
    assert content is None or isinstance(content, bytes)
    fields: dict[str, object] = {
        "id": change_id,
        "author_id": author,
        "author_name": "alice",
        "kind": "write",
        "path": "src/a.py",
        "new_path": None,
        "base_sha256": "0" * 64,
        "new_sha256": "1" * 64,
        "content": content,
        "diff": "--- a\n+++ b\n",
        "size": len(content) if content is not None else 0,
        "status": "pending",
        "reason": None,
        "created_at": created_at,
        "decided_at": None,
        "decided_by": None,
    }
    fields.update(kw)
    return ChangeRow(**fields)  # type: ignore[arg-type]


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


# -- invites -----------------------------------------------------------------------------------


def test_invite_round_trips_with_its_secret(store: Store) -> None:
    added = store.add_invite(INVITE_ID, b"s" * 20, "editor", "for bob", now=10.0)
    assert store.get_invite(INVITE_ID) == added
    assert added.uses == 0
    assert added.revoked_at is None


def test_unknown_invite_is_none(store: Store) -> None:
    assert store.get_invite(b"x" * 16) is None


def test_invite_secret_is_not_in_repr(store: Store) -> None:
    row = store.add_invite(INVITE_ID, b"topsecret-bytes", "viewer", None, now=1.0)
    assert "topsecret" not in repr(row)


def test_list_invites_is_oldest_first_and_includes_revoked(store: Store) -> None:
    store.add_invite(b"b" * 16, b"s2", "viewer", None, now=2.0)
    store.add_invite(b"a" * 16, b"s1", "editor", None, now=1.0)
    store.revoke_invite(b"b" * 16, now=3.0)
    assert [r.invite_id for r in store.list_invites()] == [b"a" * 16, b"b" * 16]


def test_revoke_invite_reports_only_the_first_revocation(store: Store) -> None:
    store.add_invite(INVITE_ID, b"s", "editor", None, now=1.0)
    assert store.revoke_invite(INVITE_ID, now=5.0) is True
    assert store.revoke_invite(INVITE_ID, now=6.0) is False
    row = store.get_invite(INVITE_ID)
    assert row is not None
    assert row.revoked_at == 5.0


def test_revoke_unknown_invite_is_false(store: Store) -> None:
    assert store.revoke_invite(b"u" * 16, now=1.0) is False


def test_count_invite_use_increments(store: Store) -> None:
    store.add_invite(INVITE_ID, b"s", "editor", None, now=1.0)
    store.count_invite_use(INVITE_ID)
    store.count_invite_use(INVITE_ID)
    row = store.get_invite(INVITE_ID)
    assert row is not None
    assert row.uses == 2


def test_invalid_role_is_refused_as_store_error(store: Store) -> None:
    with pytest.raises(StoreError):
        store.add_invite(INVITE_ID, b"s", "host", None, now=1.0)


# -- guests ------------------------------------------------------------------------------------


@pytest.fixture
def invite(store: Store) -> bytes:
    store.add_invite(INVITE_ID, b"secret", "editor", None, now=1.0)
    return INVITE_ID


def test_new_guest_awaits_admission(store: Store, invite: bytes) -> None:
    guest = store.add_guest("alice", "editor", invite, now=2.0)
    assert guest.state == "awaiting_admission"
    assert guest.trusted is False
    assert guest.resume_id is None
    assert store.get_guest(guest.guest_id) == guest


def test_admitted_guest_is_found_by_resume_id_with_its_psk(store: Store, invite: bytes) -> None:
    guest = store.add_guest("alice", "editor", invite, now=2.0)
    admitted = store.admit_guest(guest.guest_id, b"R" * 16, b"P" * 32, now=3.0)
    assert admitted.state == "admitted"
    assert admitted.admitted_at == 3.0
    found = store.find_guest_by_resume_id(b"R" * 16)
    assert found == (admitted, b"P" * 32)


@pytest.mark.parametrize("state", ["denied", "kicked"])
def test_denied_or_kicked_guest_loses_its_resume_credential(
    store: Store, invite: bytes, state: str
) -> None:
    guest = store.add_guest("alice", "editor", invite, now=2.0)
    store.admit_guest(guest.guest_id, b"R" * 16, b"P" * 32, now=3.0)
    store.set_guest_state(guest.guest_id, state)
    assert store.find_guest_by_resume_id(b"R" * 16) is None
    row = store.get_guest(guest.guest_id)
    assert row is not None
    assert row.state == state
    assert row.resume_id is None


def test_guest_name_and_trust_are_updated(store: Store, invite: bytes) -> None:
    guest = store.add_guest("alice", "editor", invite, now=2.0)
    store.set_guest_name(guest.guest_id, "alice2")
    store.set_trusted(guest.guest_id, True)
    row = store.get_guest(guest.guest_id)
    assert row is not None
    assert (row.name, row.trusted) == ("alice2", True)


def test_updating_an_unknown_guest_is_not_found(store: Store) -> None:
    with pytest.raises(OpError) as info:
        store.set_trusted("nobody", True)
    assert info.value.code is ErrorCode.NOT_FOUND


def test_guests_of_invite_lists_only_that_invite(store: Store, invite: bytes) -> None:
    store.add_invite(b"o" * 16, b"other", "viewer", None, now=1.0)
    a = store.add_guest("alice", "editor", invite, now=2.0)
    store.add_guest("carol", "viewer", b"o" * 16, now=3.0)
    assert [g.guest_id for g in store.guests_of_invite(invite)] == [a.guest_id]


def test_revoke_guests_of_invite_kicks_waiting_and_admitted_guests(
    store: Store, invite: bytes
) -> None:
    waiting = store.add_guest("w", "editor", invite, now=2.0)
    admitted = store.add_guest("a", "editor", invite, now=3.0)
    denied = store.add_guest("d", "editor", invite, now=4.0)
    store.admit_guest(admitted.guest_id, b"R" * 16, b"P" * 32, now=5.0)
    store.set_guest_state(denied.guest_id, "denied")
    changed = store.revoke_guests_of_invite(invite)
    assert [g.guest_id for g in changed] == [waiting.guest_id, admitted.guest_id]
    assert all(g.state == "kicked" and g.resume_id is None for g in changed)
    assert store.find_guest_by_resume_id(b"R" * 16) is None
    row = store.get_guest(denied.guest_id)
    assert row is not None
    assert row.state == "denied"


def test_list_guests_filters_by_state(store: Store, invite: bytes) -> None:
    a = store.add_guest("a", "editor", invite, now=2.0)
    b = store.add_guest("b", "editor", invite, now=3.0)
    store.admit_guest(b.guest_id, b"R" * 16, b"P" * 32, now=4.0)
    assert [g.guest_id for g in store.list_guests()] == [a.guest_id, b.guest_id]
    assert [g.guest_id for g in store.list_guests(state="admitted")] == [b.guest_id]


# -- changes -----------------------------------------------------------------------------------


def test_change_round_trips(store: Store) -> None:
    row = _change("c1")
    store.add_change(row)
    assert store.get_change("c1") == row


def test_move_change_round_trips_without_content(store: Store) -> None:
    row = _change("m1", kind="move", new_path="src/b.py", content=None, new_sha256=None)
    store.add_change(row)
    assert store.get_change("m1") == row


def test_unknown_change_is_none(store: Store) -> None:
    assert store.get_change("nope") is None


def test_list_changes_filters_and_orders_by_creation(store: Store) -> None:
    store.add_change(_change("c3", created_at=3.0))
    store.add_change(_change("c1", created_at=1.0, author="g2"))
    store.add_change(_change("c2", created_at=2.0, status="rejected"))
    assert [c.id for c in store.list_changes()] == ["c1", "c2", "c3"]
    assert [c.id for c in store.list_changes(status="pending")] == ["c1", "c3"]
    assert [c.id for c in store.list_changes(author_id="g1")] == ["c2", "c3"]
    assert [c.id for c in store.list_changes(status="pending", author_id="g1")] == ["c3"]


def test_list_changes_can_leave_out_content_and_diff(store: Store) -> None:
    store.add_change(_change("c1"))
    (row,) = store.list_changes(include_content=False, include_diff=False)
    assert (row.content, row.diff, row.size) == (None, "", len(b"new text\n"))


def test_pending_totals_count_only_pending_changes_of_the_author(store: Store) -> None:
    store.add_change(_change("c1", content=b"x" * 10))
    store.add_change(_change("c2", content=b"x" * 5))
    store.add_change(_change("c3", content=b"x" * 7, status="applied"))
    store.add_change(_change("c4", content=b"x" * 9, author="g2"))
    assert store.pending_totals("g1") == (2, 15)
    assert store.pending_totals("nobody") == (0, 0)


def test_set_change_status_records_the_decision(store: Store) -> None:
    store.add_change(_change("c1"))
    row = store.set_change_status("c1", "rejected", now=50.0, by="host", reason="no thanks")
    assert (row.status, row.decided_at, row.decided_by, row.reason) == (
        "rejected",
        50.0,
        "host",
        "no thanks",
    )
    assert store.get_change("c1") == row


def test_set_change_status_keeps_decider_and_replaces_diff_when_given(store: Store) -> None:
    store.add_change(_change("c1"))
    store.set_change_status("c1", "approved", now=50.0, by="host")
    row = store.set_change_status("c1", "conflict", now=51.0, diff="fresh diff")
    assert (row.decided_by, row.decided_at, row.diff) == ("host", 51.0, "fresh diff")
    assert row.content == b"new text\n"


def test_back_to_pending_clears_the_decision(store: Store) -> None:
    store.add_change(_change("c1"))
    store.set_change_status("c1", "approved", now=50.0, by="host")
    row = store.set_change_status("c1", "pending", now=51.0)
    assert (row.status, row.decided_at, row.decided_by) == ("pending", None, None)


def test_set_status_of_unknown_change_is_not_found(store: Store) -> None:
    with pytest.raises(OpError) as info:
        store.set_change_status("nope", "approved", now=1.0)
    assert info.value.code is ErrorCode.NOT_FOUND


def test_large_changes_survive_close_and_reopen_byte_identical(db_path: Path) -> None:
    rng = random.Random(7)
    contents = {f"c{i:02d}": rng.randbytes(100 * 1024) for i in range(50)}
    with Store.open(db_path, KEY) as s:
        for i, (cid, data) in enumerate(contents.items()):
            s.add_change(_change(cid, content=data, created_at=float(i)))
    with Store.open(db_path, KEY) as s:
        rows = s.list_changes(status="pending")
    assert {r.id: r.content for r in rows} == contents


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


# -- audit, meta, wipe -------------------------------------------------------------------------


def test_audit_detail_round_trips_as_json(store: Store) -> None:
    store.audit("alice", "write_proposed", 5.0, path="a.py", change="c1", raw=b"\x01\x02")
    (row,) = store.audit_log()
    assert (row.actor, row.kind, row.path, row.at) == ("alice", "write_proposed", "a.py", 5.0)
    assert row.detail == {"change": "c1", "raw": "0102"}


def test_audit_log_filters_by_actor_kind_and_time(store: Store) -> None:
    store.audit("alice", "lock", 1.0)
    store.audit("bob", "lock", 2.0)
    store.audit("alice", "unlock", 3.0)
    store.audit("alice", "lock", 4.0)
    assert [r.at for r in store.audit_log(actor="alice")] == [1.0, 3.0, 4.0]
    assert [r.at for r in store.audit_log(kind="lock")] == [1.0, 2.0, 4.0]
    assert [r.at for r in store.audit_log(since=3.0)] == [3.0, 4.0]
    assert [r.at for r in store.audit_log(actor="alice", kind="lock", since=2.0)] == [4.0]


def test_audit_log_limit_keeps_the_newest_entries_oldest_first(store: Store) -> None:
    for i in range(10):
        store.audit("host", "tick", float(i))
    assert [r.at for r in store.audit_log(limit=3)] == [7.0, 8.0, 9.0]


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


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",))))
def test_the_diff_of_a_new_file_reads_back_exactly_as_proposed(text: str) -> None:
    diff = unified_diff("src/new.py", None, text)
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "state.db", KEY) as s:
        row = _change("c1", content=text.encode("utf-8"), diff="", path="src/new.py")
        s.add_change(row, derive_diff=True)
        assert s.get_change("c1").diff == diff  # type: ignore[union-attr]
        [listed] = s.list_changes(include_content=False)
        assert listed.diff == diff and listed.content is None
        [bare] = s.list_changes(include_content=False, include_diff=False)
        assert bare.diff == "" and bare.content is None


def test_a_new_file_is_stored_once_not_again_as_its_diff(store: Store, db_path: Path) -> None:
    content = b"line\n" * 50_000
    diff = unified_diff("big.txt", None, content.decode())
    store.add_change(_change("c1", content=content, diff=diff, path="big.txt"), derive_diff=True)
    conn = sqlite3.connect(db_path)
    try:
        stored = conn.execute("SELECT length(diff), length(content) FROM change_data").fetchone()
    finally:
        conn.close()
    assert stored == (0, len(content))


def test_a_fresh_diff_replaces_a_derived_one(store: Store) -> None:
    content = b"new\n"
    store.add_change(_change("c1", content=content, diff="", path="a.txt"), derive_diff=True)
    fresh = unified_diff("a.txt", "old\n", "new\n")
    store.set_change_status("c1", "conflict", now=200.0, diff=fresh)
    assert store.get_change("c1").diff == fresh  # type: ignore[union-attr]


def test_only_a_write_with_content_can_have_a_derived_diff(store: Store) -> None:
    for row in (
        _change("c1", kind="edit"),
        _change("c2", content=None, kind="delete"),
        _change("c3", kind="move", new_path="b.txt"),
    ):
        with pytest.raises(ValueError, match="derived diff"):
            store.add_change(row, derive_diff=True)
    assert store.list_changes() == []


def test_a_schema_2_database_keeps_its_stored_diffs_after_the_upgrade(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = load_migrations()
    monkeypatch.setattr(base, "load_migrations", lambda: real[:2])
    diff = unified_diff("src/new.py", None, "stored\n")
    with Store.open(db_path, KEY) as old:  # as letswork with schema 2 wrote it
        conn = old._conn
        conn.execute(
            "INSERT INTO changes (id, author_id, author_name, kind, path, size, status,"
            " created_at) VALUES ('c1', 'g1', 'alice', 'write', 'src/new.py', 7, 'pending', 1)"
        )
        conn.execute(
            "INSERT INTO change_data (change_id, diff, content) VALUES ('c1', ?, ?)",
            (diff, b"stored\n"),
        )
    assert _user_version(db_path) == 2
    monkeypatch.setattr(base, "load_migrations", lambda: real)
    with Store.open(db_path, KEY) as new:
        assert new.get_change("c1").diff == diff  # type: ignore[union-attr]
    assert _user_version(db_path) == LATEST
