"""The audit log."""

from __future__ import annotations

from letswork.hub.store import Store


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
