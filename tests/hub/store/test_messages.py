"""Messages and their receipts (schema 2)."""

from __future__ import annotations

from letswork.hub.store import Store
from tests.hub.store.helpers import _message


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
