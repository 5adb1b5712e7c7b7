"""Crash safety (issue 8, item 3): SIGKILL the hub at random points under load.

A real ``letswork start`` subprocess serves 8 guests who keep proposing new contents for their
files, while the host approves (or rejects) each proposal as it arrives and writes its own
files directly. At a random moment (after 1-40 acknowledged operations, plus a
random number of event-loop turns) the hub gets SIGKILL; it is restarted on the same folder and
the next round begins. After every restart, and once more at the end:

- every acknowledged proposal is in the store with exactly the content proposed;
- every acknowledged approval is ``applied``, every acknowledged rejection ``rejected``, and no
  change is left half-decided (``approved``);
- each file on disk is one of the contents ever sent for it (never torn), and is exactly the end
  of the chain of applied changes for its path: starting from the first content, each applied
  change's base is the previous one's result, every applied change appears in that chain once
  (applied exactly once, in order), and the file ends where the chain ends;
- no temporary file of an atomic write is left.

At the end every pending change is approved and the same checks run on the final disk.
The default tier runs 3 kill points; ``pytest --slow`` runs 50 (``LETSWORK_KILL_POINTS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import random
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from letswork.client.connection import HubConnection
from letswork.local import statedir
from letswork.shared import invite
from letswork.shared.errors import ErrorCode, LetsworkError, OpError
from tests.reliability.support import env_int, report, tiers
from tests.support.processes import hub_process

GUESTS = 8
FILES_PER_GUEST = 3
HOST_FILES = 4


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclasses.dataclass
class Ledger:
    """What the hub acknowledged, and every content ever sent (acknowledged or not)."""

    initial: dict[str, str] = dataclasses.field(default_factory=dict)
    sent: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    proposed: dict[str, tuple[str, str]] = dataclasses.field(
        default_factory=dict
    )  # id->(path, text)
    decided: dict[str, str] = dataclasses.field(default_factory=dict)  # id -> status acknowledged
    direct: dict[str, set[str]] = dataclasses.field(default_factory=dict)  # host writes sent
    recorded: set[str] = dataclasses.field(default_factory=set)  # shas of acknowledged ones
    acks: int = 0
    target: int = 0
    reached: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def ack(self) -> None:
        self.acks += 1
        if self.acks >= self.target:
            self.reached.set()


def make_files(project: Path, ledger: Ledger) -> None:
    paths = [f"g{g}/f{k}.txt" for g in range(GUESTS) for k in range(FILES_PER_GUEST)]
    paths += [f"host/h{k}.txt" for k in range(HOST_FILES)]
    for path in paths:
        text = f"initial {path}\n"
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text, encoding="utf-8")
        ledger.initial[path] = text
        ledger.sent[path] = {text}


def new_content(rng: random.Random, path: str) -> str:
    token = rng.getrandbits(64)
    lines = rng.randint(1, 400)
    return "".join(f"{path} {token:016x} line {i}\n" for i in range(lines))


async def guest_worker(
    conn: HubConnection, g: int, rng: random.Random, ledger: Ledger, decided: dict[str, Any]
) -> None:
    """Propose a new content for each own file, one open proposal per file at a time."""
    waiting: dict[str, asyncio.Future[Any]] = {}
    while True:
        path = f"g{g}/f{rng.randrange(FILES_PER_GUEST)}.txt"
        if path in waiting:
            await waiting.pop(path)
            continue
        text = new_content(rng, path)
        ledger.sent[path].add(text)
        try:
            result = await conn.request("write_file", {"path": path, "content": text})
        except OpError as exc:
            if exc.code == ErrorCode.RATE_LIMITED:
                await asyncio.sleep(float(exc.data.get("retry_after", 0.05)))
            continue
        change_id = result["change"]["id"]
        assert result["status"] == "pending"
        assert result["change"]["new_sha256"] == sha(text)
        ledger.proposed[change_id] = (path, text)
        ledger.ack()
        waiting[path] = decided.setdefault(change_id, asyncio.get_running_loop().create_future())


async def host_worker(
    conn: HubConnection, queue: asyncio.Queue[str], rng: random.Random, ledger: Ledger
) -> None:
    """Decide each proposal as it arrives (4 in 5 approved); write a host file after each."""
    while True:
        change_id = await queue.get()
        op = "approve_change" if rng.random() < 0.8 else "reject_change"
        try:
            result = await conn.request(op, {"id": change_id})
            ledger.decided[change_id] = result["change"]["status"]
            ledger.ack()
            path = f"host/h{rng.randrange(HOST_FILES)}.txt"
            text = new_content(rng, path)
            ledger.sent[path].add(text)
            ledger.direct.setdefault(path, set()).add(text)
            written = await conn.request("write_file", {"path": path, "content": text})
            ledger.decided[written["change"]["id"]] = "applied"
            ledger.recorded.add(sha(text))
            ledger.ack()
        except OpError as exc:  # decided already (it was queued twice), or slow down
            if exc.code == ErrorCode.RATE_LIMITED:
                await asyncio.sleep(float(exc.data.get("retry_after", 0.05)))
                queue.put_nowait(change_id)


async def request_paced(conn: HubConnection, op: str, args: dict[str, Any]) -> dict[str, Any]:
    """``conn.request``, waiting out ``rate_limited`` as a client should: after many kill
    rounds many changes may be pending, more than the host's burst of requests."""
    while True:
        try:
            return dict(await conn.request(op, args))
        except OpError as exc:
            if exc.code != ErrorCode.RATE_LIMITED:
                raise
            await asyncio.sleep(float(exc.data.get("retry_after", 0.05)))


@dataclasses.dataclass
class Round:
    conns: list[HubConnection]
    tasks: list[asyncio.Task[Any]]


async def start_round(
    url: str,
    secrets: dict[str, bytes],
    host_secret: bytes,
    rng: random.Random,
    ledger: Ledger,
) -> Round:
    queue: asyncio.Queue[str] = asyncio.Queue()
    decided: dict[str, asyncio.Future[Any]] = {}

    def on_host_event(event: Any) -> None:
        if event.name == "change_submitted":
            queue.put_nowait(event.data["change"]["id"])

    def on_guest_event(event: Any) -> None:
        if event.name == "change_decided":
            fut = decided.setdefault(
                event.data["change"]["id"], asyncio.get_running_loop().create_future()
            )
            if not fut.done():
                fut.set_result(event.data["change"]["status"])

    host = HubConnection(url, host_secret, name="host", on_event=on_host_event)
    await host.connect()
    # Proposals still pending from earlier rounds are decided too.
    for change in (await host.request("pending_changes", {}))["changes"]:
        queue.put_nowait(change["id"])
    conns = [host]
    tasks = [asyncio.create_task(host_worker(host, queue, random.Random(rng.random()), ledger))]
    for g in range(GUESTS):
        name = f"guest{g}"

        def keep(secret: bytes, name: str = name) -> None:
            secrets[name] = secret

        conn = HubConnection(
            url, secrets[name], name=name, on_event=on_guest_event, on_resume_secret=keep
        )
        await conn.connect()
        conns.append(conn)
        seed = rng.random()
        tasks.append(
            asyncio.create_task(guest_worker(conn, g, random.Random(seed), ledger, decided))
        )
    return Round(conns, tasks)


async def end_round(rnd: Round) -> None:
    for task in rnd.tasks:
        task.cancel()
    for task in rnd.tasks:
        with contextlib.suppress(asyncio.CancelledError, LetsworkError):
            await task
    for conn in rnd.conns:
        await conn.close()


def read_changes(db: Path) -> dict[str, dict[str, Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT c.id, c.path, c.base_sha256, c.new_sha256, c.status, d.content, c.data_kept"
            " FROM changes c JOIN change_data d ON d.change_id = c.id"
        ).fetchall()
    finally:
        conn.close()
    return {
        r[0]: {
            "path": r[1],
            "base": r[2],
            "new": r[3],
            "status": r[4],
            "content": r[5],
            "kept": bool(r[6]),
        }
        for r in rows
    }


def check(project: Path, db: Path, ledger: Ledger) -> dict[str, int]:
    """Every invariant of the module docstring; returns counts for the report."""
    changes = read_changes(db)
    for change_id, (path, text) in ledger.proposed.items():
        row = changes.get(change_id)
        assert row is not None, f"acknowledged proposal {change_id} was lost"
        assert row["path"] == path and row["new"] == sha(text)
        # A decided change's content may be pruned by design (MAX_DECIDED_WITH_DATA, schema 4);
        # a pending or approved one's never is.
        if row["kept"] or row["status"] in ("pending", "approved"):
            assert row["content"] == text.encode("utf-8")
    for change_id, status in ledger.decided.items():
        assert changes[change_id]["status"] == status, (change_id, status, changes[change_id])
    assert not [c for c in changes.values() if c["status"] == "approved"], "half-decided change"
    gaps = 0
    for path, first in ledger.initial.items():
        on_disk = (project / path).read_text(encoding="utf-8")
        assert on_disk in ledger.sent[path], f"{path} is torn or unknown"
        mine = [c for c in changes.values() if c["path"] == path and c["status"] == "applied"]
        applied = {c["base"]: c for c in mine}
        assert len(applied) == len(mine), f"two applied changes of {path} share a base"
        # A direct write (the host's) is written to disk first and recorded after; one cut
        # short by the kill is on disk with no record and was never acknowledged. Only such a
        # write may bridge a gap in the chain. Approved changes never leave a gap.
        unrecorded = {sha(t) for t in ledger.direct.get(path, set())} - ledger.recorded
        current = sha(first)
        while True:
            if current in applied:
                current = applied.pop(current)["new"]
            elif path.startswith("host/") and (bridge := set(applied) & unrecorded):
                assert len(bridge) == 1, f"{path}: more than one way to continue the chain"
                current = bridge.pop()
                gaps += 1
            else:
                break
        assert not applied, f"{path}: applied changes outside the chain (applied twice?)"
        if sha(on_disk) != current:
            assert path.startswith("host/") and sha(on_disk) in unrecorded, (
                f"{path} does not hold its last applied change"
            )
            gaps += 1
    assert not list(project.rglob(".letswork-tmp-*")), "a temporary file was left behind"
    statuses = [c["status"] for c in changes.values()]
    counts = {s: statuses.count(s) for s in ("pending", "applied", "rejected", "conflict")}
    return {**counts, "unrecorded_direct_writes": gaps}


@pytest.mark.parametrize("kills", tiers(3, 50, "LETSWORK_KILL_POINTS"))
async def test_sigkill_at_random_points_loses_no_acknowledged_change(
    project: Path, kills: int
) -> None:
    seed = env_int("LETSWORK_CRASH_SEED", random.randrange(2**32))
    rng = random.Random(seed)
    ledger = Ledger()
    make_files(project, ledger)
    state = statedir.project_state(project)
    secrets: dict[str, bytes] = {}
    points: list[int] = []
    for _ in range(kills):
        with hub_process(project, "--auto-admit") as hp:
            url = invite.parse(hp.code).url
            first = invite.parse(hp.code).secret
            for g in range(GUESTS):
                secrets.setdefault(f"guest{g}", first)
            check(project, state.db_path, ledger)
            ledger.target = ledger.acks + rng.randint(1, 40)
            ledger.reached.clear()
            host_secret = statedir.read_secret_file(state.host_key_path)
            rnd = await start_round(url, secrets, host_secret, rng, ledger)
            await asyncio.wait_for(ledger.reached.wait(), timeout=60)
            for _ in range(rng.randint(0, 200)):
                await asyncio.sleep(0)  # a random number of event-loop turns: a random point
            os.kill(hp.pid, signal.SIGKILL)
            hp.proc.wait(timeout=10)
            points.append(ledger.acks)
            await end_round(rnd)
    with hub_process(project, "--auto-admit") as hp:
        counts = check(project, state.db_path, ledger)
        host = HubConnection(
            invite.parse(hp.code).url, statedir.read_secret_file(state.host_key_path), name="host"
        )
        await host.connect()
        for change in (await host.request("pending_changes", {}))["changes"]:
            result = await request_paced(host, "approve_change", {"id": change["id"]})
            ledger.decided[change["id"]] = result["change"]["status"]
        await host.close()
        final = check(project, state.db_path, ledger)
        assert final["pending"] == 0
        hp.terminate()
    report(
        "crash_sigkill",
        seed=seed,
        kill_points=len(points),
        acknowledged=ledger.acks,
        proposals=len(ledger.proposed),
        decisions=len(ledger.decided),
        before_final_approval=counts,
        final=final,
    )
