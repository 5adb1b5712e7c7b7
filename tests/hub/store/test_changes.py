"""Changes: round trips, filters, decisions, and the derived diff of a new file (schema 3)."""

from __future__ import annotations

import random
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from letswork.hub.store import Store, base
from letswork.hub.store.migrations import load_migrations
from letswork.hub.workspace.diff import unified_diff
from letswork.shared.errors import ErrorCode, OpError
from tests.hub.store.helpers import KEY, LATEST, _change, _user_version

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
