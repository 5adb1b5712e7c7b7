"""Keys, sample rows and database probes the store tests share."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from letswork.hub.store import Store
from letswork.hub.store.changes import ChangeRow
from letswork.hub.store.migrations import load_migrations

KEY = bytes(range(32))

OTHER_KEY = bytes(range(1, 33))

INVITE_ID = b"I" * 16

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")

#: The newest schema number this version ships.
LATEST = len(load_migrations())


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
