"""Issue 13 item 3, attacked again: what a hostile peer can still make the hub's event loop,
its worker threads and its memory pay for, now that file work runs off the loop.

Each test names one behaviour that a found flaw broke; docs/security.md ("Attacks tried", the
event loop) lists the attack beside it. Tests wait on events, never on time: ``WAIT`` only
bounds how long a broken hub may take to fail them.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from letswork.hub import connections as connections_mod
from letswork.hub.core import HubCore, Job, Peer
from letswork.hub.ops import files as file_ops
from letswork.hub.server import HubServer
from letswork.hub.store import changes as store_changes
from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.limits import Limits
from letswork.shared.protocol.files import ListFilesArgs
from letswork.shared.protocol.wire import Request, decode_request, encode_request
from tests.support.hubs import HubFixture, running_hub

WAIT = 10.0  # seconds any one event may take before the test fails

#: ``*?`` ten times: Python's ``re`` tries every way to split a name among the stars (28 s on a
#: 43-character name, ten times that per two more stars); RE2 answers in microseconds.
BACKTRACKING_GLOB = "*?" * 10 + "x"


def core_of(hub: HubFixture) -> HubCore:
    core = hub.hub.core
    assert core is not None
    return core


def server_of(hub: HubFixture) -> HubServer:
    server = hub.hub.server
    assert server is not None
    return server


def long_name(project: Path) -> str:
    name = "a" * 40 + ".py"
    (project / "src" / name).write_text("hello\n", encoding="utf-8")
    return name


async def test_a_glob_that_backtracks_does_not_stall_the_hub(hub: HubFixture) -> None:
    long_name(hub.project)
    viewer = await hub.guest("viewer", role="viewer")
    pinger = await hub.guest("pinger", role="viewer")

    found, pong = await asyncio.wait_for(
        asyncio.gather(
            viewer.call("find_files", glob=BACKTRACKING_GLOB),
            pinger.call("ping"),
        ),
        WAIT,
    )

    assert found["paths"] == []
    assert "now" in pong


async def test_a_search_glob_that_backtracks_does_not_stall_the_hub(hub: HubFixture) -> None:
    long_name(hub.project)
    viewer = await hub.guest("viewer", role="viewer")

    found = await asyncio.wait_for(
        viewer.call("search_files", pattern="hello", glob=BACKTRACKING_GLOB), WAIT
    )

    assert found["matches"] == []


async def test_an_ignore_file_too_big_for_re2_still_hides_what_it_names(hub: HubFixture) -> None:
    # RE2 (pathspec's matcher once google-re2 is installed) refuses a set this big; the file
    # used to count as empty then, and everything it hid was shared.
    lines = [f"/generated{i}/\n*.tmp{i}\ndocs/_gen{i}/**\n" for i in range(2000)]
    (hub.project / ".gitignore").write_text("".join(lines) + "secret.yml\n", encoding="utf-8")
    (hub.project / "secret.yml").write_text("token: hunter2\n", encoding="utf-8")
    viewer = await hub.guest("viewer", role="viewer")

    with pytest.raises(OpError) as caught:
        await viewer.call("read_file", path="secret.yml")
    listed = await viewer.call("list_files")

    assert caught.value.code == ErrorCode.NOT_SHARED
    assert "secret.yml" not in [e["path"] for e in listed["entries"]]


async def test_a_peer_that_stops_reading_makes_the_hub_hold_a_bounded_backlog(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1 MiB of text per reply; 40 of them are five times the bound, past any socket buffer.
    (hub.project / "big.txt").write_text(("x" * 1023 + "\n") * 1024, encoding="utf-8")
    viewer = await hub.guest("viewer", role="viewer")
    server = server_of(hub)
    conn = next(c for c in server._conns.values() if c.peer.name == "viewer")
    count = 40
    answered = 0
    peak = 0
    settled = asyncio.Event()  # the hub answered them all, or holds back the next one
    answer, put = server._answerer.answer, conn.queue.put_nowait
    wait_for_room = conn.wait_for_room

    async def counted(*args: Any) -> bytes:
        nonlocal answered
        reply = await answer(*args)
        answered += 1
        if answered == count:
            settled.set()
        return reply

    def measured(item: Any) -> None:
        nonlocal peak
        put(item)
        peak = max(peak, sum(len(i) for i in conn.queue._queue if isinstance(i, bytes)))

    async def held() -> None:
        if not conn.room.is_set():
            settled.set()
        await wait_for_room()

    monkeypatch.setattr(server._answerer, "answer", counted)
    monkeypatch.setattr(conn.queue, "put_nowait", measured)
    monkeypatch.setattr(conn, "wait_for_room", held)
    assert viewer.conn._ws is not None
    viewer.conn._ws.transport.pause_reading()
    reads = [asyncio.create_task(viewer.call("read_file", path="big.txt")) for _ in range(count)]

    await asyncio.wait_for(settled.wait(), WAIT)
    assert peak <= limits.MAX_UNSENT_REPLY_BYTES + 2 * limits.MiB  # one more reply at most
    assert answered < count

    viewer.conn._ws.transport.resume_reading()
    done = await asyncio.wait_for(asyncio.gather(*reads), 3 * WAIT)
    assert all(d["total_lines"] == 1024 for d in done)


async def test_a_peer_that_lets_frames_pile_up_past_the_cap_is_dropped(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Events, refusals and pings never wait for room; under this cap the replies do not
    # either (it is below the point where they would wait), so the cap is what holds.
    monkeypatch.setattr(connections_mod, "MAX_UNSENT_BYTES_PER_PEER", 4 * limits.MiB)
    (hub.project / "big.txt").write_text(("x" * 1023 + "\n") * 1024, encoding="utf-8")
    host = await hub.host()
    viewer = await hub.guest("viewer", role="viewer")
    ws = viewer.conn._ws
    assert ws is not None
    ws.transport.pause_reading()
    reads = [asyncio.create_task(viewer.call("read_file", path="big.txt")) for _ in range(40)]

    left = await host.wait_event("peer_left", lambda d: d["name"] == "viewer")

    assert left.data["name"] == "viewer"
    assert not any(p.name == "viewer" for p in core_of(hub).peers.values())
    ws.transport.resume_reading()
    outcomes = await asyncio.wait_for(asyncio.gather(*reads, return_exceptions=True), WAIT)
    assert any(isinstance(o, Exception) for o in outcomes)


def recurring_lines(count: int, seed: int) -> str:
    """Lines from a pool of count/100 + 2 values: each recurs about 100 times, just under
    difflib's "popular" cut, so its matcher compares each line with all its repeats."""
    rng = random.Random(seed)
    pool = [f"line {i}\n" for i in range(count // 100 + 2)]
    return "".join(rng.choice(pool) for _ in range(count))


async def test_a_proposal_whose_diff_would_cost_difflib_too_much_is_one_replaced_block(
    hub: HubFixture,
) -> None:
    old, new = recurring_lines(50_000, 1), recurring_lines(50_000, 2)
    (hub.project / "data.txt").write_text(old, encoding="utf-8")
    editor = await hub.guest("ed", role="editor")
    base = hashlib.sha256(old.encode()).hexdigest()

    proposed = await editor.call("write_file", path="data.txt", content=new, base_sha256=base)
    change = await editor.call("get_change", id=proposed["change"]["id"])

    lines = change["change"]["diff"].splitlines()[2:]  # after the --- and +++ headers
    # difflib would interleave kept and changed lines here, at 5 x 10^7 steps (12 s at 10^5 lines)
    assert [line for line in lines if line.startswith("@@ ")] == ["@@ -1,50000 +1,50000 @@"]
    assert "".join(line[1:] + "\n" for line in lines if line.startswith("-")) == old
    assert "".join(line[1:] + "\n" for line in lines if line.startswith("+")) == new


async def test_a_proposal_over_the_pending_cap_is_refused_before_any_file_work(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_hub(project, limits=Limits(max_pending_per_guest=1)) as hub:
        editor = await hub.guest("ed", role="editor")
        await editor.call("write_file", path="one.txt", content="1\n", base_sha256=None)
        ws = core_of(hub).workspace
        touched: list[str] = []
        original = ws.is_symlink  # the first file work of every change

        def recorded(path: str) -> bool:
            touched.append(path)
            return original(path)

        monkeypatch.setattr(ws, "is_symlink", recorded)

        with pytest.raises(OpError) as caught:
            await editor.call("edit_file", path="notes.txt", old_string="beta", new_string="b")

        assert caught.value.code == ErrorCode.QUOTA_EXCEEDED
        assert touched == []


async def test_a_regex_match_that_starts_inside_a_character_is_answered(
    hub: HubFixture,
) -> None:
    (hub.project / "accents.txt").write_text("héllo wörld\n", encoding="utf-8")
    viewer = await hub.guest("viewer", role="viewer")

    # \C is any byte: here it matches the second byte of "é", so the match starts inside it.
    found = await viewer.call("search_files", pattern=r"\Cllo", regex=True, path="accents.txt")

    assert [(m["line"], m["text"]) for m in found["matches"]] == [(1, "héllo wörld")]


def request(op: str, args: dict[str, Any], rid: int = 1) -> Request:
    return decode_request(encode_request(rid, op, args))


def finish(job: Job, value: Any) -> Mapping[str, Any]:
    """Resume ``job`` with ``value`` (its work, done earlier), then run it to its result."""
    outcome = job.resume(value)
    while isinstance(outcome, Job):
        try:
            value = outcome.work()
        except Exception as exc:
            outcome = outcome.fail(exc)
        else:
            outcome = outcome.resume(value)
    return outcome


def peer_named(hub: HubFixture, name: str) -> Peer:
    return next(p for p in core_of(hub).peers.values() if p.name == name)


async def test_a_trusted_editor_writing_other_files_cannot_make_the_hosts_write_fail(
    hub: HubFixture,
) -> None:
    host = await hub.host()
    await hub.guest("eve", role="editor")
    await host.call("trust", name="eve")
    core = core_of(hub)
    eve, host_peer = peer_named(hub, "eve"), peer_named(hub, "host")
    outcome = core.begin(
        host_peer, request("write_file", {"path": "mine.txt", "content": "h\n"}), 0
    )

    # Each time the host's change is prepared off the loop, eve writes another file meanwhile.
    for i in range(5):
        if not isinstance(outcome, Job):
            break
        prepared = outcome.work()
        core.handle(eve, request("write_file", {"path": f"eve{i}.txt", "content": "e\n"}), 0)
        outcome = outcome.resume(prepared)

    assert isinstance(outcome, dict)
    assert outcome["status"] == "applied"
    assert (hub.project / "mine.txt").read_text(encoding="utf-8") == "h\n"


async def test_a_trusted_editor_writing_other_files_cannot_make_an_approval_fail(
    hub: HubFixture,
) -> None:
    host = await hub.host()
    await hub.guest("eve", role="editor")
    await host.call("trust", name="eve")
    ed = await hub.guest("ed", role="editor")
    proposed = await ed.call("edit_file", path="notes.txt", old_string="beta", new_string="B")
    core = core_of(hub)
    eve, host_peer = peer_named(hub, "eve"), peer_named(hub, "host")
    approve = request("approve_change", {"id": proposed["change"]["id"]})
    outcome = core.begin(host_peer, approve, 0)

    for i in range(5):
        if not isinstance(outcome, Job):
            break
        hashed = outcome.work()
        core.handle(eve, request("write_file", {"path": f"eve{i}.txt", "content": "e\n"}), 0)
        outcome = outcome.resume(hashed)

    assert isinstance(outcome, dict)
    assert outcome["change"]["status"] == "applied"
    assert (hub.project / "notes.txt").read_text(encoding="utf-8") == "alpha\nB\ngamma\n"


async def test_an_approval_whose_file_the_hub_wrote_while_it_was_hashed_is_a_conflict(
    hub: HubFixture,
) -> None:
    host = await hub.host()
    ed = await hub.guest("ed", role="editor")
    first = await ed.call("edit_file", path="notes.txt", old_string="beta", new_string="B")
    second = await ed.call("edit_file", path="notes.txt", old_string="alpha", new_string="A")
    core = core_of(hub)
    approve = request("approve_change", {"id": first["change"]["id"]})
    outcome = core.begin(peer_named(hub, "host"), approve, 0)
    assert isinstance(outcome, Job)
    hashed = outcome.work()  # notes.txt as the first change expects it

    await host.call("approve_change", id=second["change"]["id"])  # the hub writes notes.txt
    approved = finish(outcome, hashed)

    assert approved["change"]["status"] == "conflict"
    assert (hub.project / "notes.txt").read_text(encoding="utf-8") == "A\nbeta\ngamma\n"


async def test_a_change_prepared_before_the_host_hid_its_path_is_not_applied(
    hub: HubFixture,
) -> None:
    host = await hub.host()
    await hub.guest("eve", role="editor")
    await host.call("trust", name="eve")
    core = core_of(hub)
    write = request("write_file", {"path": "private/plan.txt", "content": "eve\n"})
    outcome = core.begin(peer_named(hub, "eve"), write, 0)
    assert isinstance(outcome, Job)
    prepared = outcome.work()  # private/ is still shared

    gitignore = (hub.project / ".gitignore").read_text(encoding="utf-8") + "private/\n"
    await host.call("write_file", path=".gitignore", content=gitignore)
    with pytest.raises(OpError) as caught:
        finish(outcome, prepared)

    assert caught.value.code == ErrorCode.NOT_SHARED
    assert not (hub.project / "private" / "plan.txt").exists()


async def test_the_hosts_listing_and_search_do_not_wait_behind_a_guests_search(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = core_of(hub).workspace
    entered, release = threading.Event(), threading.Event()
    original = ws.search_files

    def held(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("is_host"):  # the guest's search holds the search worker
            entered.set()
            release.wait(3 * WAIT)
        return original(*args, **kwargs)

    monkeypatch.setattr(ws, "search_files", held)
    viewer = await hub.guest("viewer", role="viewer")
    host = await hub.host()
    search = asyncio.create_task(viewer.call("search_files", pattern="hello"))
    assert await asyncio.to_thread(entered.wait, WAIT)

    listed = await asyncio.wait_for(host.call("list_files"), WAIT)
    found = await asyncio.wait_for(host.call("search_files", pattern="alpha"), WAIT)

    assert "notes.txt" in [e["path"] for e in listed["entries"]]
    assert [m["path"] for m in found["matches"]] == ["notes.txt"]
    assert not search.done()
    release.set()
    await asyncio.wait_for(search, WAIT)


async def test_a_change_prepared_while_the_host_edited_its_file_on_disk_is_not_applied(
    hub: HubFixture,
) -> None:
    host = await hub.host()
    await hub.guest("eve", role="editor")
    await host.call("trust", name="eve")
    core = core_of(hub)
    notes = hub.project / "notes.txt"
    base = hashlib.sha256(notes.read_bytes()).hexdigest()
    write = request("write_file", {"path": "notes.txt", "content": "eve\n", "base_sha256": base})
    outcome = core.begin(peer_named(hub, "eve"), write, 0)
    assert isinstance(outcome, Job)
    prepared = outcome.work()  # notes.txt as eve read it

    notes.write_text("the host's unsaved work, saved\n", encoding="utf-8")
    core.note_disk_change(str(notes), "modified", 0)  # what the watcher reports
    with pytest.raises(OpError) as caught:
        finish(outcome, prepared)

    assert caught.value.code == ErrorCode.CONFLICT
    assert notes.read_text(encoding="utf-8") == "the host's unsaved work, saved\n"


async def test_a_change_prepared_before_another_locked_its_file_is_refused(
    hub: HubFixture,
) -> None:
    host = await hub.host()
    await hub.guest("eve", role="editor")
    await host.call("trust", name="eve")
    core = core_of(hub)
    write = request("write_file", {"path": "notes.txt", "content": "eve\n"})
    outcome = core.begin(peer_named(hub, "eve"), write, 0)
    assert isinstance(outcome, Job)
    prepared = outcome.work()

    await host.call("lock_file", path="notes.txt")
    with pytest.raises(OpError) as caught:
        finish(outcome, prepared)

    assert caught.value.code == ErrorCode.LOCKED
    assert (hub.project / "notes.txt").read_text(encoding="utf-8") == "alpha\nbeta\ngamma\n"


class SteppingClock:
    """A monotonic clock that jumps ``step`` seconds at every reading (thread-safe)."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.now += self.step
            return self.now


async def test_a_regex_that_scans_to_the_end_of_the_file_from_every_line_stops_at_the_deadline(
    hub: HubFixture,
) -> None:
    # (?s)x.* matches from every line to the end of the file: 1,000 hits on a 1 MiB file
    # scanned 1,000 times its size (6 s), all of it between two deadline checks.
    (hub.project / "big.txt").write_text(("x" * 60 + "\n") * 17_000, encoding="utf-8")
    core = core_of(hub)
    core._monotonic = SteppingClock(core.limits.search_deadline_seconds / 4)
    viewer = await hub.guest("viewer", role="viewer")

    found = await viewer.call(
        "search_files", pattern="(?s)x.*", regex=True, path="big.txt", max_results=1000
    )

    assert found["cut_short"] is True
    assert 0 < len(found["matches"]) < 10


async def test_a_huge_regex_is_refused_before_re2_compiles_all_of_it(hub: HubFixture) -> None:
    viewer = await hub.guest("viewer", role="viewer")

    # 71,825 instructions: at RE2's default memory RE2 built them all (60-80 ms holding the
    # GIL, so the loop stalled as long) before the size cap refused them.
    with pytest.raises(OpError) as caught:
        await viewer.call("search_files", pattern=r"(?i)\pL{60}z", regex=True)

    assert caught.value.code == ErrorCode.INVALID
    assert "too complex" in caught.value.message
    assert "71825" not in caught.value.message  # RE2 stopped before it had them all


async def test_the_pending_list_without_diffs_diffs_nothing(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = await hub.host()
    editor = await hub.guest("ed", role="editor")
    body = ("x" * 60 + "\n") * 17_000  # 1 MiB: its diff, rebuilt from it, took ~6 ms
    for i in range(3):
        await editor.call("write_file", path=f"new{i}.txt", content=body)
    diffed: list[str] = []
    original = store_changes.unified_diff

    def counted(path: str, *args: Any, **kwargs: Any) -> str:
        diffed.append(path)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(store_changes, "unified_diff", counted)

    listed = await host.call("pending_changes", include_diff=False)

    assert len(listed["changes"]) == 3
    assert diffed == []


async def test_a_guest_reading_large_files_back_to_back_is_paced_and_the_host_is_not(
    hub: HubFixture,
) -> None:
    (hub.project / "big.txt").write_text(("x" * 1023 + "\n") * 1024, encoding="utf-8")
    server = server_of(hub)
    waits: dict[str, list[float]] = {"viewer": [], "host": []}
    current: list[str] = []

    async def recorded(seconds: float) -> None:
        waits[current[0]].append(seconds)

    server._answerer._sleep = recorded
    # Time stands still: on a loaded machine the reads alone could take long enough for the
    # budget to refill, and nothing would be paced.
    server._answerer._monotonic = lambda: 0.0
    viewer = await hub.guest("viewer", role="viewer")
    host = await hub.host()
    rate = limits.RATE_PER_SECOND * limits.REPLY_BYTES_PER_REQUEST  # 8 MiB a second

    for name, client in (("viewer", viewer), ("host", host)):
        current[:] = [name]
        for _ in range(24):  # 24 MiB: over the 16 MiB a guest may be sent at once
            await client.call("read_file", path="big.txt")

    assert waits["host"] == []
    assert waits["viewer"], "the viewer was sent 24 MiB at once"
    # at most the debt of the 8 MiB past the allowance (each reply is a little over 1 MiB)
    assert max(waits["viewer"]) <= 9 * limits.MiB / rate


async def test_a_listing_is_not_built_again_on_the_loop_from_the_entries_the_worker_made(
    hub: HubFixture,
) -> None:
    # Found attacking issue 14's re-cut: list_files turned the worker's entries back into
    # dicts and validated them again on the loop, 11.5 ms instead of 5 ms for 5,000 entries.
    host = await hub.host()
    await hub.guest("lister", role="viewer")
    await host.call("lock_file", path="README.md")
    core = core_of(hub)
    peer = peer_named(hub, "lister")
    steps = file_ops.list_files(core, peer, ListFilesArgs(path="", recursive=True), 1.0)
    entries, truncated = next(steps)()
    with pytest.raises(StopIteration) as done:
        steps.send((entries, truncated))
    sent = done.value.value.entries
    made = {entry.path: entry for entry in entries}
    assert [entry.path for entry in sent] == list(made)
    for entry in sent:
        if entry.path == "README.md":
            assert entry.lock is not None and entry.lock.holder == "host"
        else:
            assert entry is made[entry.path]


async def test_a_listing_entry_carries_its_lock_and_an_unlocked_one_none(
    hub: HubFixture,
) -> None:
    # Before issue 15 an unlocked entry carried ``lock: null``; a field that holds its
    # default is left out now (absent and null mean the same).
    host = await hub.host()
    await host.call("lock_file", path="README.md")
    core = core_of(hub)
    reply = core.handle(peer_named(hub, "host"), request("list_files", {"recursive": True}), 1.0)
    locks = {entry["path"]: entry.get("lock") for entry in reply["entries"]}
    assert locks["README.md"] is not None and locks["README.md"]["holder"] == "host"
    assert all(lock is None for path, lock in locks.items() if path != "README.md")
