"""What a peer can make the store keep is bounded (issue 13, item 8; schema 4).

Messages and the audit log are rings per peer and in total, in rows and bytes; decided changes
lose their content and diff after a bound and are forgotten after a larger one. The caps are
shrunk here (``Store.limits``) so that a handful of rows reaches them; the hub-level tests and
the growth test use the real ones.
"""

from __future__ import annotations

import dataclasses
import random
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from letswork.hub.store import Store, bounds, migrations
from letswork.hub.store.changes import ChangeRow
from letswork.shared.limits import Limits

KEY = bytes(range(32))

SMALL = Limits(
    max_message_stored_bytes=1_000,
    max_messages_per_sender=3,
    max_message_bytes_per_sender=10_000,
    max_messages_total=5,
    max_message_bytes_total=20_000,
    max_audit_entries_per_guest=3,
    max_audit_bytes_per_guest=10_000,
    max_audit_entries_total=6,
    max_audit_bytes_total=20_000,
    max_decided_with_data=2,
    max_decided_data_bytes=10**6,
    max_decided_per_author=4,
    max_decided_total=6,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "state.db", KEY)
    s.limits = SMALL
    yield s
    s.close()


def _say(store: Store, sender: str, body: str = "hi", *, to: str | None = None) -> int:
    recipients = [(to, to, "sent")] if to is not None else []
    row = store.add_message(
        type="chat",
        sender_id=sender,
        sender_name=sender,
        to_id=to,
        to_name=to,
        body=body,
        refs=[],
        now=1.0,
        recipients=recipients,
    )
    return row.id


def _ids(store: Store, sender: str | None = None) -> list[int]:
    conn = store._conn  # the store has no "list every message" call; read the table itself
    if sender is None:
        return [r[0] for r in conn.execute("SELECT id FROM messages ORDER BY id")]
    sql = "SELECT id FROM messages WHERE sender_id = ? ORDER BY id"
    return [r[0] for r in conn.execute(sql, (sender,))]


def _change(store: Store, author: str, n: int, *, status: str = "pending") -> str:
    cid = f"c{author}{n:04d}"
    content = f"line {n}\n".encode() * 10
    store.add_change(
        ChangeRow(
            id=cid,
            author_id=author,
            author_name=author,
            kind="write",
            path=f"f{n}.txt",
            new_path=None,
            base_sha256="0" * 64,
            new_sha256=None,
            content=content,
            diff=f"--- a/f{n}.txt\n+++ b/f{n}.txt\n@@\n-old\n+new {n}\n",
            size=len(content),
            status=status,
            reason=None,
            created_at=float(n),
            decided_at=None,
            decided_by=None,
        )
    )
    return cid


def _decide(store: Store, cid: str, n: int, status: str = "rejected") -> None:
    store.set_change_status(cid, status, now=1000.0 + n, by="host")


def test_a_sender_over_its_row_cap_loses_its_own_oldest_messages_only(store: Store) -> None:
    host = [_say(store, "host") for _ in range(2)]
    mine = [_say(store, "g1") for _ in range(5)]
    assert _ids(store, "g1") == mine[-3:]
    assert _ids(store, "host") == host


def test_a_sender_over_its_byte_cap_loses_its_own_oldest_messages(store: Store) -> None:
    ids = [_say(store, "g1", "x" * 900) for _ in range(3)]
    big = [_say(store, "g2", "y" * 4_000) for _ in range(3)]  # 12,000 bytes > 10,000
    assert _ids(store, "g2") == big[-2:]
    assert store.usage("messages", "g2") == (2, 2 * (4_000 + len("[]")))
    assert _ids(store, "g1") == ids


def test_the_ring_of_all_guests_messages_drops_the_oldest_guests_and_never_the_hosts(
    store: Store,
) -> None:
    host = _say(store, "host")
    ids = [_say(store, f"g{i}") for i in range(3) for _ in range(2)]  # 6 rows > 5
    assert _ids(store) == [host, *ids[1:]]
    assert store.usage("messages") == (6, 6 * len("hi[]"))


def test_a_pruned_message_leaves_no_receipt_and_no_offline_delivery(store: Store) -> None:
    first = _say(store, "g1", to="away")
    for _ in range(3):
        _say(store, "g1", to="away")
    queued = [m.id for m in store.undelivered("away")]
    assert first not in queued and len(queued) == 3
    orphans = store._conn.execute(
        "SELECT COUNT(*) FROM message_receipts r LEFT JOIN messages m ON m.id = r.message_id"
        " WHERE m.id IS NULL"
    ).fetchone()[0]
    assert orphans == 0


def _audit_actors(store: Store) -> list[str]:
    return [r.actor for r in store.audit_log(limit=1000)]


def test_a_guest_flooding_the_audit_log_prunes_only_its_own_entries(store: Store) -> None:
    store.audit("host", "invite", 1.0, actor_id="host", label="a")
    store.audit("host", "invite", 2.0, actor_id="host", label="b")
    for n in range(10):
        store.audit("mallory", "lock", 3.0 + n, actor_id="g1", path=f"p{n}")
    rows = store.audit_log(limit=1000)
    assert [r.actor for r in rows] == ["host", "host", "mallory", "mallory", "mallory"]
    assert [r.path for r in rows if r.actor == "mallory"] == ["p7", "p8", "p9"]


def test_the_audit_ring_of_all_guests_drops_the_oldest_guest_entry_and_never_the_hosts(
    store: Store,
) -> None:
    store.audit("host", "invite", 1.0, actor_id="host")
    for guest in ("g1", "g2", "g3"):
        for n in range(3 if guest != "g3" else 1):
            store.audit(guest, "lock", 2.0 + n, actor_id=guest)
    assert _audit_actors(store) == ["host", "g1", "g1", "g2", "g2", "g2", "g3"]


def test_the_hosts_own_audit_entries_are_a_ring_of_the_totals_size(store: Store) -> None:
    for n in range(10):
        store.audit("host", "invite", float(n), actor_id="host", label=str(n))
    assert [r.detail["label"] for r in store.audit_log(limit=100)] == [str(n) for n in range(4, 10)]


def test_decided_changes_beyond_the_data_cap_keep_only_their_summary(store: Store) -> None:
    pending = _change(store, "g1", 0)
    decided = [_change(store, "g1", n) for n in range(1, 5)]
    for n, cid in enumerate(decided):
        _decide(store, cid, n, "applied" if n % 2 else "rejected")
    old, new = decided[:2], decided[2:]
    for cid in old:
        row = store.get_change(cid)
        assert row is not None
        assert row.data_pruned and row.content is None and row.diff == ""
        assert row.status in ("applied", "rejected") and row.path.startswith("f")
    for cid in [*new, pending]:
        row = store.get_change(cid)
        assert row is not None
        assert not row.data_pruned and row.content is not None and "+new" in row.diff
    assert store.usage("decided_data") == (2, sum(_data_bytes(store, c) for c in new))


def _data_bytes(store: Store, cid: str) -> int:
    content, diff = store._conn.execute(
        "SELECT content, diff FROM change_data WHERE change_id = ?", (cid,)
    ).fetchone()
    return len(content or b"") + len(diff.encode())


def test_an_authors_oldest_decided_changes_are_forgotten_and_pending_ones_never(
    store: Store,
) -> None:
    pending = _change(store, "g1", 0)
    decided = [_change(store, "g1", n) for n in range(1, 7)]
    for n, cid in enumerate(decided):
        _decide(store, cid, n)
    assert [store.get_change(c) is not None for c in decided] == [False] * 2 + [True] * 4
    assert store.get_change(pending) is not None
    assert store.pending_totals("g1")[0] == 1


def test_the_decided_ring_forgets_the_oldest_of_any_author(store: Store) -> None:
    ids = [_change(store, f"g{n % 3}", n) for n in range(8)]
    for n, cid in enumerate(ids):
        _decide(store, cid, n)
    assert [store.get_change(c) is not None for c in ids] == [False] * 2 + [True] * 6


def test_a_conflicts_fresh_diff_is_counted_in_the_decided_data(store: Store) -> None:
    cid = _change(store, "g1", 1)
    store.set_change_status(cid, "conflict", now=5.0, by="host", diff="d" * 5_000)
    assert store.usage("decided_data") == (1, _data_bytes(store, cid))
    assert _data_bytes(store, cid) > 5_000


# -- the running totals -------------------------------------------------------------------------


def _recount(conn: sqlite3.Connection) -> dict[tuple[str, str], tuple[int, int]]:
    """What schema 4's usage table should hold, counted from the rows themselves."""
    out: Counter[tuple[str, str, str]] = Counter()

    def add(scope: str, owner: str, size: int) -> None:
        for who in (owner, "*"):
            out[(scope, who, "rows")] += 1
            out[(scope, who, "bytes")] += size

    for sender, body, refs in conn.execute("SELECT sender_id, body, refs FROM messages"):
        add("messages", sender, len(body.encode()) + len(refs.encode()))
    for actor_id, actor, kind, path, detail in conn.execute(
        "SELECT actor_id, actor, kind, path, detail FROM audit"
    ):
        size = len(actor.encode()) + len(kind.encode()) + len((path or "").encode())
        add("audit", actor_id or "", size + len(detail.encode()))
    for author, status, kept, content, diff in conn.execute(
        "SELECT c.author_id, c.status, c.data_kept, d.content, d.diff"
        " FROM changes c JOIN change_data d ON d.change_id = c.id"
    ):
        if status == "pending":
            add("pending", author, len(content or b"") + len(diff.encode()))
        if status in bounds.DECIDED_STATUSES:
            add("decided", author, 0)
            if kept:
                add("decided_data", author, len(content or b"") + len(diff.encode()))
    keys = {(s, o) for s, o, _ in out}
    return {(s, o): (out[(s, o, "rows")], out[(s, o, "bytes")]) for s, o in keys}


def _usage_table(conn: sqlite3.Connection) -> dict[tuple[str, str], tuple[int, int]]:
    rows = conn.execute("SELECT scope, owner, rows, bytes FROM usage WHERE rows != 0 OR bytes != 0")
    return {(s, o): (r, b) for s, o, r, b in rows}


def test_the_running_totals_match_a_recount_after_random_work(store: Store) -> None:
    rng = random.Random(13)
    changes: list[str] = []
    for step in range(400):
        kind = rng.randrange(5)
        who = f"g{rng.randrange(3)}"
        if kind == 0:
            _say(store, who, "é" * rng.randrange(1, 300), to=rng.choice([None, "host"]))
        elif kind == 1:
            store.audit(who, "lock", float(step), actor_id=rng.choice([who, "host", None]))
        elif kind == 2:
            changes.append(_change(store, who, step))
        elif changes:
            cid = rng.choice(changes)
            if store.get_change(cid) is None:
                continue
            status = rng.choice(["applied", "rejected", "conflict", "pending", "approved"])
            diff = "x" * rng.randrange(100) if status == "conflict" else None
            store.set_change_status(cid, status, now=float(step), by="host", diff=diff)
    assert _usage_table(store._conn) == _recount(store._conn)


def test_schema_4_counts_what_an_older_database_already_holds(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrations._migrate(conn, path, migrations.load_migrations()[:3])
    conn.execute(
        "INSERT INTO messages (type, sender_id, sender_name, body, created_at)"
        " VALUES ('chat', 'g1', 'a', 'héllo', 1)"
    )
    conn.execute("INSERT INTO audit (at, actor, kind, path) VALUES (1, 'a', 'lock', 'x.py')")
    for n, status in enumerate(["pending", "rejected", "applied"]):
        conn.execute(
            "INSERT INTO changes (id, author_id, author_name, kind, path, size, status,"
            " created_at) VALUES (?, 'g1', 'a', 'write', 'x', 3, ?, 1)",
            (f"c{n}", status),
        )
        conn.execute(
            "INSERT INTO change_data (change_id, diff, content) VALUES (?, 'd', x'616263')",
            (f"c{n}",),
        )
    conn.close()
    with Store.open(path, KEY) as s:
        assert _usage_table(s._conn) == _recount(s._conn)
        assert s.usage("pending") == (1, 4)  # content 'abc' and diff 'd'.
        assert s.usage("decided_data", "g1") == (2, 8)


# -- pruning is cheap -------------------------------------------------------------------------


def _vm_steps(store: Store, fn: object) -> int:
    """SQLite virtual-machine steps one call takes (counted by a progress handler; no time)."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    store._conn.set_progress_handler(tick, 1)
    try:
        assert callable(fn)
        fn()
    finally:
        store._conn.set_progress_handler(None, 1)
    return steps


@pytest.mark.parametrize("table", ["messages", "audit", "decided"])
def test_a_write_at_the_cap_prunes_in_the_same_work_for_a_small_and_a_large_table(
    tmp_path: Path, table: str
) -> None:
    """The cost of the write that prunes does not grow with the table: the caps are checked
    by running totals and the oldest row is found by an index, not by a scan."""
    costs = []
    for rows in (40, 4_000):
        limits = dataclasses.replace(
            SMALL,
            max_messages_per_sender=rows,
            max_messages_total=rows,
            max_message_bytes_per_sender=10**9,
            max_message_bytes_total=10**9,
            max_audit_entries_per_guest=rows,
            max_audit_entries_total=rows,
            max_audit_bytes_per_guest=10**9,
            max_audit_bytes_total=10**9,
            max_decided_with_data=rows,
            max_decided_per_author=rows,
            max_decided_total=rows,
        )
        with Store.open(tmp_path / f"{table}{rows}.db", KEY) as s:
            s.limits = limits
            counter = iter(range(10**6))

            def write(s: Store = s, counter: Iterator[int] = counter) -> None:
                n = next(counter)
                if table == "messages":
                    _say(s, "g1")
                elif table == "audit":
                    s.audit("g1", "lock", 1.0, actor_id="g1", path="p")
                else:
                    _decide(s, _change(s, "g1", n), n)

            with s.transaction():
                for _ in range(rows + 5):
                    write()
            costs.append(_vm_steps(s, write))
    small, large = costs
    assert large < small * 1.5, costs


def test_prune_brings_a_store_that_grew_under_larger_caps_under_the_caps_at_once(
    tmp_path: Path,
) -> None:
    with Store.open(tmp_path / "grown.db", KEY) as s:
        s.limits = Limits()  # the defaults: nothing is pruned while it grows
        for n in range(12):
            _say(s, "g1")
            s.audit("g1", "lock", float(n), actor_id="g1")
            s.audit("host", "invite", float(n), actor_id="host")
            _decide(s, _change(s, "g1", n), n)
        s.limits = SMALL
        s.prune()
        assert store_usage(s) == {
            "messages": 3,  # g1's share
            "audit": 3 + 6,  # g1's share and the host's ring
            "decided": 4,  # g1's share
            "decided_data": 2,
        }
        assert _usage_table(s._conn) == _recount(s._conn)


def store_usage(s: Store) -> dict[str, int]:
    return {scope: s.usage(scope)[0] for scope in ("messages", "audit", "decided", "decided_data")}
