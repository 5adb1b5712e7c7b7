"""Issue 13 items 3 and 7: file work runs off the event loop, searches stop at a deadline or
when their peer goes, regexes run on RE2, and a kicked or revoked peer's requests apply nothing.

A search or a change is held in its worker thread on a ``threading.Event`` the test controls
(a thin wrapper around the real workspace method), so the tests wait on events, never on time.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from letswork.channel.tools.base import ToolContext
from letswork.channel.tools.catalogue import TOOLS
from letswork.hub.core import HubCore, Peer
from letswork.hub.workspace import Workspace
from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.protocol.files import SearchFilesResult
from letswork.shared.protocol.wire import Request, decode_request, encode_request
from tests.support.hubs import Client, HubFixture

WAIT = 10.0  # seconds any one event may take before the test fails


class Gate:
    """Holds the wrapped workspace method in its worker thread until :meth:`open`."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.results: list[Any] = []

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, WAIT), "the work never started"

    def open(self) -> None:
        self.release.set()


def hold(monkeypatch: pytest.MonkeyPatch, ws: Workspace, name: str) -> Gate:
    """Wrap ``ws.<name>`` so that each call waits at the gate first."""
    gate = Gate()
    original: Callable[..., Any] = getattr(ws, name)

    def held(*args: Any, **kwargs: Any) -> Any:
        gate.entered.set()
        gate.release.wait(WAIT)
        result = original(*args, **kwargs)
        gate.results.append(result)
        return result

    monkeypatch.setattr(ws, name, held)
    return gate


def core_of(hub: HubFixture) -> HubCore:
    core = hub.hub.core
    assert core is not None
    return core


def peer_named(hub: HubFixture, name: str) -> Peer:
    return next(p for p in core_of(hub).peers.values() if p.name == name)


def request(op: str, args: dict[str, Any], rid: int = 1) -> Request:
    return decode_request(encode_request(rid, op, args))


# ---------------------------------------------------------------------------- off the loop


async def test_a_ping_is_answered_while_another_peers_search_is_running(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    searcher = await hub.guest("searcher", role="viewer")
    pinger = await hub.guest("pinger", role="viewer")
    gate = hold(monkeypatch, core_of(hub).workspace, "search_files")
    search = asyncio.create_task(searcher.call("search_files", pattern="hello"))
    await gate.wait_entered()

    pong = await asyncio.wait_for(pinger.call("ping"), WAIT)

    assert "now" in pong
    assert not search.done(), "the search finished before the ping: it was not held"
    gate.open()
    found = await asyncio.wait_for(search, WAIT)
    assert [m["path"] for m in found["matches"]] == ["README.md"]


async def test_a_peers_own_ping_is_answered_while_its_search_is_running(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    searcher = await hub.guest("searcher", role="viewer")
    gate = hold(monkeypatch, core_of(hub).workspace, "search_files")
    search = asyncio.create_task(searcher.call("search_files", pattern="hello"))
    await gate.wait_entered()

    await asyncio.wait_for(searcher.call("ping"), WAIT)

    assert not search.done()
    gate.open()
    await asyncio.wait_for(search, WAIT)


async def test_a_read_and_a_write_of_another_peer_go_on_while_a_search_is_held(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    searcher = await hub.guest("searcher", role="viewer")
    host = await hub.host()
    gate = hold(monkeypatch, core_of(hub).workspace, "search_files")
    search = asyncio.create_task(searcher.call("search_files", pattern="hello"))
    await gate.wait_entered()

    read = await asyncio.wait_for(host.call("read_file", path="notes.txt"), WAIT)
    written = await asyncio.wait_for(
        host.call("write_file", path="new.txt", content="x\n", base_sha256=None), WAIT
    )

    assert read["text"] == "alpha\nbeta\ngamma\n"
    assert written["status"] == "applied"
    assert not search.done()
    gate.open()
    await asyncio.wait_for(search, WAIT)


async def test_one_peers_requests_are_answered_in_the_order_sent(hub: HubFixture) -> None:
    host = await hub.host()
    calls = [
        host.call("write_file", path="order.txt", content=f"{i}\n", base_sha256=None)
        if i == 0
        else host.call("read_file", path="order.txt")
        for i in range(5)
    ]
    first, *reads = await asyncio.wait_for(asyncio.gather(*calls), WAIT)
    assert first["status"] == "applied"
    assert all(r["text"] == "0\n" for r in reads)


# ---------------------------------------------------------------------------- deadlines


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


def big_tree(root: Path, files: int) -> None:
    for i in range(files):
        (root / "tree" / f"d{i % 10}").mkdir(parents=True, exist_ok=True)
        (root / "tree" / f"d{i % 10}" / f"f{i}.txt").write_text("needle\n", encoding="utf-8")


async def test_a_search_past_its_deadline_answers_what_it_found_and_says_cut_short(
    hub: HubFixture,
) -> None:
    big_tree(hub.project, 50)
    core = core_of(hub)
    # Each reading of the clock is 1/4 of the deadline later: the search gets a few files.
    core._monotonic = SteppingClock(core.limits.search_deadline_seconds / 4)
    viewer = await hub.guest("viewer", role="viewer")

    found = await viewer.call("search_files", pattern="needle", path="tree")

    assert found["cut_short"] is True
    assert 0 < found["files_scanned"] < 50
    assert len(found["matches"]) == found["files_scanned"]


async def test_a_search_within_its_deadline_is_not_cut_short(hub: HubFixture) -> None:
    big_tree(hub.project, 50)
    viewer = await hub.guest("viewer", role="viewer")
    found = await viewer.call("search_files", pattern="needle", path="tree")
    assert "cut_short" not in found  # false: left out, as an older hub sent it
    assert found["files_scanned"] == 50


async def test_a_find_files_walk_past_its_deadline_is_truncated(hub: HubFixture) -> None:
    big_tree(hub.project, 50)
    core = core_of(hub)
    core._monotonic = SteppingClock(core.limits.search_deadline_seconds / 4)
    viewer = await hub.guest("viewer", role="viewer")
    found = await viewer.call("find_files", glob="*.txt", path="tree")
    assert found["truncated"] is True
    assert len(found["paths"]) < 50


async def test_a_search_stops_when_its_peer_disconnects(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    big_tree(hub.project, 50)
    ws = core_of(hub).workspace
    searcher = await hub.guest("searcher", role="viewer")
    peer = peer_named(hub, "searcher")
    done = threading.Event()
    results: list[Any] = []
    entered = threading.Event()
    original = ws.search_files

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        peer.gone.wait(WAIT)  # the search goes on only once its peer has gone
        results.append(original(*args, **kwargs))
        done.set()
        return results[-1]

    monkeypatch.setattr(ws, "search_files", held)
    search = asyncio.create_task(searcher.call("search_files", pattern="needle", path="tree"))
    assert await asyncio.to_thread(entered.wait, WAIT)

    await searcher.conn.close()

    assert await asyncio.to_thread(done.wait, WAIT)
    assert results[0].cut_short is True
    assert results[0].files_scanned == 0
    with pytest.raises(Exception):  # noqa: B017 - the client's own close ends its call
        await search


def test_the_search_tool_text_says_when_a_search_was_cut_short() -> None:
    spec = TOOLS["search_files"]
    result = SearchFilesResult(matches=[], truncated=False, files_scanned=3, cut_short=True)
    text = spec.render(result, {"pattern": "x"}, ToolContext(me="v", role="viewer", link="up"))
    assert "cut short" in text


def test_a_search_result_without_cut_short_reads_as_not_cut_short() -> None:
    result = SearchFilesResult.model_validate(
        {"matches": [], "truncated": False, "files_scanned": 0}
    )
    assert result.cut_short is False


# ---------------------------------------------------------------------------- RE2


@pytest.fixture
def workspace(project: Path) -> Workspace:
    (project / "lines.txt").write_text("x" * 33 + "\n" + "ab#\n", encoding="utf-8")
    return Workspace(project)


@pytest.mark.parametrize(
    "pattern", [r"(a)\1", r"foo(?=bar)", r"foo(?!bar)", r"(?<=a)b", r"(?<!a)b"]
)
def test_a_regex_re2_cannot_run_is_refused_with_what_re2_lacks(
    workspace: Workspace, pattern: str
) -> None:
    with pytest.raises(OpError) as caught:
        workspace.search_files(pattern, regex=True, is_host=True)
    assert caught.value.code == ErrorCode.INVALID
    assert "RE2" in caught.value.message
    assert "backreferences" in caught.value.message


def test_the_catastrophic_pattern_of_issue_13_matches_like_any_other(
    workspace: Workspace,
) -> None:
    found = workspace.search_files("(.|.)*#", regex=True, path="lines.txt", is_host=True)
    assert [(m.line, m.text) for m in found.matches] == [(2, "ab#")]


def test_a_regex_search_reports_character_columns_in_non_ascii_lines(project: Path) -> None:
    long_line = "é" * 400 + "needle" + "é" * 400 + "\n"
    (project / "wide.txt").write_text(long_line, encoding="utf-8")
    found = Workspace(project).search_files("ne+dle", regex=True, path="wide.txt", is_host=True)
    assert len(found.matches) == 1
    assert "needle" in found.matches[0].text


def test_a_search_asked_to_stop_before_it_starts_scans_nothing(workspace: Workspace) -> None:
    found = workspace.search_files("x", is_host=True, should_stop=lambda: True)
    assert found.cut_short is True
    assert found.files_scanned == 0
    assert found.matches == []


# ---------------------------------------------------------------------------- item 7


async def trusted_editor(hub: HubFixture, name: str = "eve") -> tuple[Client, Client]:
    host = await hub.host()
    editor = await hub.guest(name, role="editor")
    await host.call("trust", name=name)
    return host, editor


async def test_a_request_dispatched_after_a_kick_returns_is_not_applied(
    hub: HubFixture,
) -> None:
    await trusted_editor(hub)
    core = core_of(hub)
    peer = peer_named(hub, "eve")
    host_peer = next(p for p in core.peers.values() if p.is_host)
    before = len(core.store.list_changes())

    core.handle(host_peer, request("kick", {"name": "eve"}), 0.0)
    # The write was already read from eve's socket, behind the kick.
    with pytest.raises(OpError) as caught:
        core.handle(
            peer,
            request("write_file", {"path": "after-kick.txt", "content": "x\n"}),
            0.0,
        )

    assert caught.value.code == ErrorCode.FORBIDDEN
    assert not (hub.project / "after-kick.txt").exists()
    assert len(core.store.list_changes()) == before


async def test_a_message_dispatched_after_a_revoke_returns_is_not_stored(
    hub: HubFixture,
) -> None:
    await hub.host()
    await hub.guest("vic", role="editor")  # its invite is labelled "vic"
    core = core_of(hub)
    peer = peer_named(hub, "vic")
    host_peer = next(p for p in core.peers.values() if p.is_host)

    core.handle(host_peer, request("revoke_invite", {"label": "vic"}), 0.0)
    with pytest.raises(OpError) as caught:
        core.handle(peer, request("send_message", {"body": "after the revoke"}), 0.0)
    assert caught.value.code == ErrorCode.FORBIDDEN

    messages = core.handle(host_peer, request("get_messages", {}), 0.0)
    assert all(m["body"] != "after the revoke" for m in messages["messages"])


@pytest.mark.parametrize("removal", ["kick", "revoke"])
async def test_a_change_in_flight_when_its_peer_is_removed_applies_nothing(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch, removal: str
) -> None:
    host, editor = await trusted_editor(hub)
    core = core_of(hub)
    before = len(core.store.list_changes())
    gate = hold(monkeypatch, core.workspace, "is_symlink")  # the first step of a change
    write = asyncio.create_task(
        editor.call("write_file", path="in-flight.txt", content="x\n", base_sha256=None)
    )
    await gate.wait_entered()

    if removal == "kick":
        await host.call("kick", name="eve")
    else:
        await host.call("revoke_invite", label="eve")
    gate.open()

    await asyncio.wait_for(asyncio.gather(write, return_exceptions=True), WAIT)
    assert not (hub.project / "in-flight.txt").exists()
    assert len(core.store.list_changes()) == before


async def test_frames_pipelined_behind_a_kick_are_not_applied(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, editor = await trusted_editor(hub)
    core = core_of(hub)
    before = len(core.store.list_changes())
    gate = hold(monkeypatch, core.workspace, "search_files")
    search = asyncio.create_task(editor.call("search_files", pattern="hello"))
    await gate.wait_entered()
    writes = [
        asyncio.create_task(
            editor.call("write_file", path=f"queued{i}.txt", content="x\n", base_sha256=None)
        )
        for i in range(3)
    ]
    await editor.call("ping")  # the writes are read and queued behind the held search

    await host.call("kick", name="eve")
    gate.open()

    await asyncio.wait_for(asyncio.gather(search, *writes, return_exceptions=True), WAIT)
    assert not any((hub.project / f"queued{i}.txt").exists() for i in range(3))
    assert len(core.store.list_changes()) == before


async def test_requests_piled_behind_a_held_search_past_the_cap_are_refused_at_once(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer = await hub.guest("viewer", role="viewer")
    gate = hold(monkeypatch, core_of(hub).workspace, "search_files")
    search = asyncio.create_task(viewer.call("search_files", pattern="hello"))
    await gate.wait_entered()
    queued = [
        asyncio.create_task(viewer.call("status"))
        for _ in range(limits.MAX_QUEUED_REQUESTS_PER_PEER)
    ]

    with pytest.raises(OpError) as caught:
        await asyncio.wait_for(viewer.call("status"), WAIT)

    assert caught.value.code == ErrorCode.RATE_LIMITED
    assert not any(t.done() for t in queued)
    gate.open()
    answered = await asyncio.wait_for(asyncio.gather(search, *queued), WAIT)
    assert all("you" in a for a in answered[1:])


async def test_a_message_quoting_a_file_is_read_off_the_loop_and_stored(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = await hub.guest("sender", role="viewer")
    pinger = await hub.guest("pinger", role="viewer")
    gate = hold(monkeypatch, core_of(hub).workspace, "read_file")
    sent = asyncio.create_task(
        sender.call(
            "send_message",
            body="look",
            refs=[{"path": "notes.txt", "start_line": 2, "end_line": 2}],
        )
    )
    await gate.wait_entered()

    await asyncio.wait_for(pinger.call("status"), WAIT)

    assert not sent.done()
    gate.open()
    await asyncio.wait_for(sent, WAIT)
    got = await pinger.call("get_messages")
    [message] = [m for m in got["messages"] if m["body"] == "look"]
    assert message["refs"][0]["text"] == "beta\n"


def test_a_regex_over_the_program_size_limit_is_refused(workspace: Workspace) -> None:
    with pytest.raises(OpError) as caught:
        workspace.search_files("a[ab]{999}c", regex=True, is_host=True)
    assert caught.value.code == ErrorCode.INVALID
    assert "too complex" in caught.value.message


def test_a_plain_search_as_long_as_a_pattern_may_be_is_not_too_complex(
    workspace: Workspace,
) -> None:
    found = workspace.search_files("x" * 1024, is_host=True)
    assert found.matches == []


async def test_a_change_prepared_while_the_hub_wrote_files_is_prepared_again(
    hub: HubFixture,
) -> None:
    from letswork.hub.core import Job  # new in issue 13: the base has no Job to import

    await trusted_editor(hub)
    core = core_of(hub)
    editor = peer_named(hub, "eve")
    host = next(p for p in core.peers.values() if p.is_host)
    job = core.begin(editor, request("write_file", {"path": "race.txt", "content": "eve\n"}), 0)
    assert isinstance(job, Job)
    prepared = job.work()  # read while race.txt does not exist yet

    core.handle(host, request("write_file", {"path": "race.txt", "content": "host\n"}), 0)
    again = job.resume(prepared)

    assert isinstance(again, Job), "the stale preparation was used"
    done = again.resume(again.work())
    assert isinstance(done, dict)
    assert done["change"]["base_sha256"] == hashlib.sha256(b"host\n").hexdigest()
    assert (hub.project / "race.txt").read_text(encoding="utf-8") == "eve\n"


async def test_a_list_files_walk_past_its_deadline_is_truncated(hub: HubFixture) -> None:
    big_tree(hub.project, 50)
    core = core_of(hub)
    core._monotonic = SteppingClock(core.limits.search_deadline_seconds / 4)
    viewer = await hub.guest("viewer", role="viewer")
    listed = await viewer.call("list_files", path="tree", recursive=True)
    assert listed["truncated"] is True
    assert len(listed["entries"]) < 60
