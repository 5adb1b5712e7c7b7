"""Reliability suite helpers: tiers, figures, state snapshots, a hub on its own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from letswork.hub import server as hub_server
from letswork.shared.limits import Limits
from tests.support.hubs import HubFixture, running_hub

T = TypeVar("T")

#: Tables left out of a state snapshot: the append-only audit log (checked separately).
NOT_STATE = frozenset({"audit", "sqlite_sequence"})

#: A hub whose failed-handshake and request limits never trigger, for fuzzing: every case then
#: reaches the code under test instead of being refused early with 4429 or ``rate_limited``.
UNLIMITED = Limits(
    handshake_fails_per_source_per_minute=10**9,
    handshake_fails_total_per_minute=10**9,
    rate_per_second=1e9,
    rate_burst=10**9,
)


def env_int(name: str, default: int) -> int:
    """An integer from the environment (to run a tier longer by hand), else ``default``."""
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


#: ``LETSWORK_SLOW_SIZE=ci`` runs the slow tier at the sizes CI can afford (``.ci/run`` sets it);
#: unset, ``pytest --slow`` runs the sizes the issue asks for.
SLOW_SIZE = os.environ.get("LETSWORK_SLOW_SIZE", "full").strip() or "full"


def slow_size(full: int, ci: int, env: str) -> int:
    """The slow tier's count: ``env`` if set, else ``ci`` under ``LETSWORK_SLOW_SIZE=ci``, else
    ``full`` (the issue's count)."""
    if SLOW_SIZE not in ("full", "ci"):
        raise ValueError(f"LETSWORK_SLOW_SIZE must be 'full' or 'ci', not {SLOW_SIZE!r}")
    return env_int(env, ci if SLOW_SIZE == "ci" else full)


def tiers(fast: int, slow: int, env: str, *, ci: int | None = None) -> list[Any]:
    """``pytest.param`` cases: a small count in the default tier, a large one marked slow.

    ``slow`` is the full count (``pytest --slow``); ``ci`` the count under
    ``LETSWORK_SLOW_SIZE=ci`` (default: ``slow``). The environment variable ``env`` overrides
    both (e.g. to run a family longer by hand).
    """
    return [
        pytest.param(fast, id="fast"),
        pytest.param(
            slow_size(slow, slow if ci is None else ci, env), id="slow", marks=pytest.mark.slow
        ),
    ]


def report(name: str, **figures: Any) -> None:
    """Print a test's figures; also append them as JSON to ``$LETSWORK_RELIABILITY_REPORT``.

    ``docs/security.md`` quotes these figures; run ``pytest --slow -s`` (or set the variable)
    to see them.
    """
    line = json.dumps({"test": name, **figures}, sort_keys=True, default=str)
    print(f"\n[reliability] {line}")
    target = os.environ.get("LETSWORK_RELIABILITY_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def tree_digest(root: Path) -> dict[str, str]:
    """Every file and symlink under ``root``: relative path -> sha256 of content (or link)."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def store_rows(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the audit log, through a separate read-only connection."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in sorted(tables)
            if table not in NOT_STATE
        }
    finally:
        conn.close()


def audit_kinds(db_path: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return [row[0] for row in conn.execute("SELECT kind FROM audit ORDER BY id")]
    finally:
        conn.close()


def snapshot(fx: HubFixture) -> dict[str, Any]:
    """Everything a message could change: store rows, files on disk, locks, peers."""
    core = fx.hub.core
    assert core is not None
    return {
        "store": store_rows(fx.hub.state.db_path),
        "disk": tree_digest(fx.project),
        "locks": sorted((lock.path, lock.holder_name) for lock in core.locks.all(core._clock())),
        "peers": sorted(p.peer_id for p in core.peers.values()),
    }


class HubLoop:
    """A real in-process hub on an event loop of its own, driven one case at a time.

    Hypothesis calls its test function synchronously once per example; each example runs its
    coroutine here with :meth:`run`. Between examples nothing is pending, so the hub simply
    waits. Failed handshakes are answered without the uniform delay (it is tested elsewhere).
    """

    def __init__(self, project: Path, monkeypatch: pytest.MonkeyPatch, **config: Any) -> None:
        self.project = project
        self.config = config
        monkeypatch.setattr(hub_server, "FAILURE_DELAY_SECONDS", 0.0)
        self.loop = asyncio.new_event_loop()
        self._cm: Any = None
        self.fx: HubFixture | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def __enter__(self) -> HubFixture:
        self._cm = running_hub(self.project, **self.config)
        self.fx = self.run(self._cm.__aenter__())
        return self.fx

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self._cm.__aexit__(None, None, None))
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


@contextlib.contextmanager
def hub_loop(project: Path, monkeypatch: pytest.MonkeyPatch, **config: Any) -> Iterator[HubLoop]:
    runner = HubLoop(project, monkeypatch, **config)
    with runner:
        yield runner
