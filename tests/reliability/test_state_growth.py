"""state.db stays bounded while one peer works at its rate limit (issue 13, item 8).

One guest (a viewer, an editor, or a trusted editor) sends the worst request mix it may send, as
fast as its token bucket allows (``RATE_BURST`` at once, then ``RATE_PER_SECOND``; a change also
costs a request per ``CHANGE_BYTES_PER_REQUEST`` it stores, which the guest waits out as
``retry_after`` tells it, issue 16), for a stated simulated time: the clock is injected into the
hub core, so no real time passes. The mix is the largest messages the hub accepts (a 16 KiB body
and five references whose quoted text escapes to just under ``MAX_MESSAGE_STORED_BYTES``, to the
host and to everyone), new shared variables of the largest size, tasks and plans with the longest
texts, proposals and direct writes that replace a file of ``max_file_bytes`` (so that each stores
content and a diff of the old and new text), locks, capability cards and renames. The host is
online, so broadcasts get a receipt.

``state.db`` is measured after a ``wal_checkpoint(TRUNCATE)`` (the file then holds every page),
and the largest WAL seen on the way is reported too. It must stay under :func:`file_bound`: the
worst case the caps allow for one such guest (:func:`payload_bound`), twice over for SQLite's
pages, indexes and free pages, plus 2 MiB.

Tiers: the default run shrinks the caps (``SMALL``) so that 20 simulated seconds (1,200
requests) reach the guest's own caps (messages, audit, pending or decided changes);
``pytest --slow`` runs the real caps for ten simulated minutes (30,200 requests), long enough
that every cap a guest can reach is reached in the first half, whose size is also reported, so
the second half shows the plateau; under ``LETSWORK_SLOW_SIZE=ci`` (CI) six simulated minutes,
enough to reach every cap (an editor's audit cap of 10,000 entries is the last, at ~5.5 minutes;
``LETSWORK_STATE_GROWTH_SECONDS`` sets any time).
docs/security.md quotes the figures; rerun with
``pytest --slow -s tests/reliability/test_state_growth.py -k slow``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from letswork.hub.core import HubCore, Peer
from letswork.hub.store import Store
from letswork.shared import crypto, invite
from letswork.shared import limits as lim
from letswork.shared.errors import ErrorCode, LetsworkError
from letswork.shared.limits import KiB, Limits, MiB
from letswork.shared.protocol.wire import Request, decode_request, encode_request
from tests.reliability.support import report, slow_size
from tests.support.hubs import make_project

#: A small epoch, so that a float holds times to ~1e-10 s (at 1.8e9 it is 2.4e-7 s, which is
#: 1.2e-5 of a token at 50 tokens/s).
NOW = 1_000_000.0

#: Renames as fast as the request rate allows (the worst case RENAMES_PER_MINUTE now spares the
#: store): this suite bounds what the requests store, not how many renames get through.
RENAMES_AT_REQUEST_RATE = 1_000_000

#: Caps small enough that 20 simulated seconds at the rate limit reach a guest's own caps.
SMALL = Limits(
    max_file_bytes=64 * KiB,
    max_pending_per_guest=10,
    max_pending_bytes_per_guest=1 * MiB,
    max_messages_per_sender=100,
    max_message_bytes_per_sender=2 * MiB,
    max_messages_total=200,
    max_message_bytes_total=4 * MiB,
    max_audit_entries_per_guest=500,
    max_audit_bytes_per_guest=256 * KiB,
    max_audit_entries_total=1_000,
    max_audit_bytes_total=512 * KiB,
    max_pending_total=20,
    max_pending_bytes_total=2 * MiB,
    max_decided_with_data=10,
    max_decided_data_bytes=1 * MiB,
    max_decided_per_author=100,
    max_decided_total=200,
    renames_per_minute=RENAMES_AT_REQUEST_RATE,
)

#: The real caps, with the slow tier's one concession: trusted writes of 64 KiB files rather
#: than 1 MiB ones (1 MiB at 6 writes a second is 20 GB of disk traffic in ten minutes; the
#: decided-data ring is capped in bytes either way, so only how soon it fills changes).
REAL = Limits(max_file_bytes=64 * KiB, renames_per_minute=RENAMES_AT_REQUEST_RATE)
REAL_UNTRUSTED = Limits(renames_per_minute=RENAMES_AT_REQUEST_RATE)

# Worst-case bytes of the parts of a row that are not the capped text (ids, names, times,
# record headers); paths count 4 bytes per character.
_ROW = 256
_PATH = 4 * lim.MAX_PATH_CHARS
_CHANGE_SUMMARY = _ROW + 2 * _PATH + 2 * 64 + 4 * lim.MAX_SHORT_TEXT_CHARS


def _one_change(limits: Limits) -> int:
    """Content and diff of one change: the new text, and a diff of the old and new texts."""
    return limits.max_file_bytes + 2 * limits.max_file_bytes + 64 * KiB


def payload_bound(limits: Limits, role: str) -> dict[str, int]:
    """The most bytes of rows one guest of ``role`` can make state.db hold, by table.

    ``role`` is ``viewer``, ``editor`` or ``trusted`` (a trusted editor). Receipts: one per
    recipient identity that was online, at most every peer the hub admits, and the host.
    """
    messages = min(
        limits.max_message_bytes_per_sender,
        limits.max_messages_per_sender * limits.max_message_stored_bytes,
    )
    out = {
        "messages": messages + limits.max_messages_per_sender * _ROW,
        "receipts": limits.max_messages_per_sender * (limits.max_peers + 1) * 64,
        "audit": limits.max_audit_bytes_per_guest + limits.max_audit_entries_per_guest * _ROW,
        "guest": 4 * _ROW,
    }
    if role == "viewer":
        return out
    out["vars"] = lim.MAX_VARS * (4 * lim.MAX_VAR_KEY_CHARS + lim.MAX_VAR_VALUE_BYTES + _ROW)
    task_text = 4 * (
        lim.MAX_TASK_TITLE_CHARS + lim.MAX_TASK_DESCRIPTION_CHARS + lim.MAX_TASK_NOTE_CHARS
    )
    out["tasks"] = lim.MAX_TASKS * (task_text + _ROW + lim.MAX_TASK_DEPS * 16)
    if role == "editor":
        out["pending"] = (
            limits.max_pending_bytes_per_guest
            + _one_change(limits)
            + limits.max_pending_per_guest * _CHANGE_SUMMARY
        )
    else:
        out["decided"] = (
            limits.max_decided_data_bytes
            + _one_change(limits)
            + limits.max_decided_per_author * _CHANGE_SUMMARY
        )
    return out


def file_bound(limits: Limits, role: str, empty: int) -> int:
    """The stated bound on state.db: an empty database, plus twice the payload bound (pages
    are not full, every index repeats its keys, freed pages are kept for reuse), plus 2 MiB."""
    return empty + 2 * sum(payload_bound(limits, role).values()) + 2 * MiB


def db_bytes(path: Path) -> tuple[int, int]:
    """``(state.db bytes after a TRUNCATE checkpoint, WAL bytes before it)``."""
    wal = path.with_name(path.name + "-wal")
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    assert path.stat().st_size == pages * size
    return pages * size, wal_bytes


def _request(op: str, args: dict[str, Any]) -> Request:
    return decode_request(encode_request(1, op, args))


class Run:
    """A hub core over a real store and project, a host online, and one guest of ``role``."""

    def __init__(self, tmp_path: Path, limits: Limits, role: str) -> None:
        self.limits = limits
        self.role = role
        self.root = make_project(tmp_path / "project")
        self._quoted_file()
        self.big = [bytes([c]) * 1023 + b"\n" for c in b"ab"]
        lines = limits.max_file_bytes // 1024
        (self.root / "big.txt").write_bytes(self.big[0] * lines)
        self.db_path = tmp_path / "state.db"
        self.store = Store.open(self.db_path, os.urandom(32))
        self.now = NOW
        self.core = HubCore(
            self.root,
            self.store,
            host_secret=os.urandom(32),
            public_url="ws://127.0.0.1:9/",
            emit=lambda *a: None,
            close=lambda *a: None,
            limits=limits,
            auto_admit=True,
            clock=lambda: self.now,
        )
        self.host = self._hello(self.core._host_credential, "host")
        _, code = self.core.create_invite("viewer" if role == "viewer" else "editor", "g", NOW)
        secret = invite.parse(code).secret
        credential = self.core.lookup_credential(crypto.derive_invite_id(secret))
        assert credential is not None
        self.guest = self._hello(credential, "mallory")
        if role == "trusted":
            self.core.handle(self.host, _request("trust", {"name": "mallory"}), NOW)
        self.empty = db_bytes(self.db_path)[0]
        self.counter = 0
        self.lines = lines
        self.mix = self._mix()

    def _quoted_file(self) -> None:
        # Each line escapes in JSON to 110 bytes for 41 raw ones: five references of 8 KiB of
        # it and a 16 KiB body come to just under MAX_MESSAGE_STORED_BYTES.
        line = "\x01" * 7 + '"' * 33 + "\n"
        (self.root / "quoted.txt").write_text(line * lim.MAX_REF_LINES, encoding="utf-8")

    def _hello(self, credential: crypto.Credential | Any, name: str) -> Peer:
        peer = self.core.new_peer(credential, NOW)
        self.core.handle(peer, _request("hello", {"name": name}), NOW)
        return peer

    def _mix(self) -> list[Callable[[], Request]]:
        body = "m" * lim.MAX_CHAT_BYTES
        refs = [{"path": "quoted.txt", "start_line": 1, "end_line": lim.MAX_REF_LINES}]
        refs *= lim.MAX_MESSAGE_REFS
        everyone = _request("send_message", {"body": body, "refs": refs})
        to_host = _request("send_message", {"body": body, "refs": refs, "to": "host"})
        card = _request(
            "publish_card",
            {"opt_in": True, "client": "c" * 64, "mcp_servers": ["s" * 64] * lim.MAX_CARD_SERVERS},
        )
        mix: list[Callable[[], Request]] = [
            lambda: everyone,
            lambda: to_host,
            lambda: card,
            self._rename,
        ]
        if self.role == "viewer":
            return mix
        value = "v" * lim.MAX_VAR_VALUE_BYTES
        title, description = "t" * lim.MAX_TASK_TITLE_CHARS, "d" * lim.MAX_TASK_DESCRIPTION_CHARS
        task = _request("add_task", {"title": title, "description": description})
        plan = _request(
            "plan",
            {
                "tasks": [
                    {"key": f"k{n}", "title": title, "description": description} for n in range(5)
                ]
            },
        )
        lock = _request("lock_file", {"path": "notes.txt"})
        unlock = _request("unlock_file", {"path": "notes.txt"})
        return [
            *mix,
            lambda: _request("set_var", {"key": f"k{self._next()}", "value": value}),
            lambda: task,
            lambda: plan,
            self._write,
            lambda: lock,
            lambda: unlock,
        ]

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def _rename(self) -> Request:
        return _request("set_display_name", {"name": f"mallory{self._next() % 2}"})

    def _write(self) -> Request:
        # Every line replaced: the change stores the new text and a diff of old and new.
        n = self._next()
        content = (self.big[n % 2] * self.lines).decode()
        return _request("write_file", {"path": "big.txt", "content": content})

    def drive(self, seconds: float) -> dict[str, Any]:
        """Send requests at the guest's rate limit for ``seconds`` of simulated time."""
        rate, burst = self.limits.rate_per_second, self.limits.rate_burst
        total = burst + int(rate * seconds)
        codes: dict[str, int] = {}
        half: tuple[int, int] | None = None
        largest_wal = 0
        waited = 0.0  # what the guest waited out: a change is paid by its bytes too
        for i in range(total):
            # One second after the hellos the bucket is full again; after the burst it holds
            # one token again every 1/rate s (stretched by 1e-6 so that float rounding of the
            # refill never leaves it a hair short).
            self.now = NOW + 1.0 + max(0.0, (i - burst + 1) / rate) * (1 + 1e-6) + waited
            request = self.mix[i % len(self.mix)]()
            for _ in range(10):
                try:
                    self.core.handle(self.guest, request, self.now)
                    codes["ok"] = codes.get("ok", 0) + 1
                except LetsworkError as exc:
                    retry = exc.data.get("retry_after") if exc.data else None
                    if exc.code == ErrorCode.RATE_LIMITED and retry is not None:
                        # A large change left the bucket in debt (CHANGE_BYTES_PER_REQUEST):
                        # the guest waits as told and sends the request again.
                        waited += retry + 1e-3
                        self.now += retry + 1e-3
                        continue
                    codes[str(exc.code)] = codes.get(str(exc.code), 0) + 1
                break
            if i % 500 == 0:
                wal = self.db_path.with_name(self.db_path.name + "-wal")
                largest_wal = max(largest_wal, wal.stat().st_size if wal.exists() else 0)
            if i == total // 2:
                half = db_bytes(self.db_path)
        self.store.close()
        final, wal_bytes = db_bytes(self.db_path)
        assert half is not None
        return {
            "requests": total,
            "simulated_seconds": round(seconds + waited, 3),
            "replies": codes,
            "state_db_bytes": final,
            "state_db_bytes_at_half": half[0],
            "largest_wal_bytes": max(largest_wal, wal_bytes),
            "empty_db_bytes": self.empty,
            "bound_bytes": file_bound(self.limits, self.role, self.empty),
            "payload_bound": payload_bound(self.limits, self.role),
        }


def _cases() -> list[Any]:
    fast = [pytest.param(role, SMALL, 20.0, id=f"{role}-fast") for role in _ROLES]
    slow = [
        pytest.param(
            role,
            REAL if role == "trusted" else REAL_UNTRUSTED,
            float(slow_size(600, 360, "LETSWORK_STATE_GROWTH_SECONDS")),
            id=f"{role}-slow",
            marks=pytest.mark.slow,
        )
        for role in _ROLES
    ]
    return fast + slow


_ROLES = ("viewer", "editor", "trusted")


@pytest.mark.parametrize(("role", "limits", "seconds"), _cases())
def test_a_guest_at_its_rate_limit_grows_state_db_by_at_most_the_stated_bound(
    tmp_path: Path, role: str, limits: Limits, seconds: float
) -> None:
    run = Run(tmp_path, limits, role)
    figures = run.drive(seconds)
    report(f"state_growth_{role}", **figures)
    replies = figures["replies"]
    # The guest really worked at its limit, and its heaviest requests were accepted.
    assert replies.get(str(ErrorCode.RATE_LIMITED), 0) == 0
    assert replies.get("ok", 0) >= figures["requests"] // 2
    assert figures["state_db_bytes"] <= figures["bound_bytes"]
    # The caps were reached: the rings are full, so the growth is bounded, not just slow.
    conn = sqlite3.connect(run.db_path)
    try:
        usage = {
            (scope, owner): (rows, size)
            for scope, owner, rows, size in conn.execute("SELECT * FROM usage")
        }
    finally:
        conn.close()
    gid = run.guest.guest_id
    rows, size = usage[("messages", gid)]
    assert rows == limits.max_messages_per_sender or (
        size > limits.max_message_bytes_per_sender - limits.max_message_stored_bytes
    )
    rows, size = usage[("audit", gid)]
    assert rows == limits.max_audit_entries_per_guest or (
        size > limits.max_audit_bytes_per_guest - 16 * KiB
    )


def test_the_largest_message_of_the_mix_is_near_the_stored_cap(tmp_path: Path) -> None:
    """The growth test's messages are the largest the hub stores, not a size far below it."""
    run = Run(tmp_path, SMALL, "viewer")
    result = run.core.handle(run.guest, run.mix[0](), NOW)
    row = run.store.get_message(result["message"]["id"])
    assert row is not None
    refs = json.dumps(row.refs, ensure_ascii=False, separators=(",", ":"))
    stored = len(row.body.encode()) + len(refs.encode())
    assert 0.9 * lim.MAX_MESSAGE_STORED_BYTES < stored <= lim.MAX_MESSAGE_STORED_BYTES
    run.store.close()
