"""The store's collaboration tables (schema 2): messages and receipts, tasks, variables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from letswork.hub.store import Store
from letswork.shared.errors import StoreError

KEY = bytes(range(32))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "state.db", KEY)
    yield s
    s.close()


def _message(store: Store, status: str = "sent") -> int:
    row = store.add_message(
        type="chat",
        sender_id="host",
        sender_name="host",
        to_id="g1",
        to_name="alice",
        body="hi",
        refs=[{"path": "a.py", "start_line": 1, "end_line": 1, "text": "x\n"}],
        now=1.0,
        recipients=[("g1", "alice", status)],
    )
    return row.id


def test_a_receipt_only_moves_forward(store: Store) -> None:
    mid = _message(store)
    assert [m.id for m in store.undelivered("g1")] == [mid]
    read = store.advance_receipt(mid, "g1", "alice", "read", 5.0)
    assert read is not None
    assert (read.status, read.delivered_at, read.read_at) == ("read", 5.0, 5.0)
    assert store.advance_receipt(mid, "g1", "alice", "delivered", 6.0) is None
    assert store.undelivered("g1") == []
    assert store.get_message(mid) is not None
    assert store.get_message(mid).refs[0]["text"] == "x\n"  # type: ignore[union-attr]


def test_a_task_cannot_depend_on_a_missing_task(store: Store) -> None:
    with pytest.raises(StoreError):
        store.add_task(
            title="t",
            description="",
            priority="normal",
            status="blocked",
            assignee_id=None,
            assignee_name=None,
            created_by="host",
            now=1.0,
            depends_on=(42,),
        )
    assert store.count_tasks() == 0


def test_a_claimed_task_must_have_an_assignee(store: Store) -> None:
    with pytest.raises(StoreError):
        store.add_task(
            title="t",
            description="",
            priority="normal",
            status="claimed",
            assignee_id=None,
            assignee_name=None,
            created_by="host",
            now=1.0,
        )


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
