"""The host's dashboard, driven headless with Textual's pilot against a real hub on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from rich.console import Console, Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from letswork.shared.errors import OpError
from letswork.shared.protocol.wire import Event
from letswork.shared.sanitize import MARKER
from letswork.ui.dashboard import WAITING_STYLE, Dashboard, HubEvent, ReasonScreen, run_dashboard
from tests.support.hubs import Client, HubFixture, make_project, running_hub

SIZE = (150, 50)
NEW_NOTES = "alpha\nBETA\ngamma\n"
OLD_NOTES = "alpha\nbeta\ngamma\n"


async def wait_until(
    pilot: Pilot[None], condition: Callable[[], bool], what: str, timeout: float = 10.0
) -> None:
    """Let the app (and the hub, on the same loop) run until ``condition`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause()


@contextlib.asynccontextmanager
async def dashboard_for(fx: HubFixture) -> AsyncIterator[tuple[Dashboard, Pilot[None]]]:
    app = Dashboard(fx.url, fx.host_secret, fx.hub.current_invite(), str(fx.project))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, lambda: app.loads > 0, "the first load of the hub's state")
        yield app, pilot


def rendered(renderable: RenderableType) -> str:
    """What the terminal would show for ``renderable``, as plain text."""
    console = Console(width=200, file=io.StringIO(), record=True, color_system="truecolor")
    console.print(renderable)
    return console.export_text(styles=False)


def waiting_ids(app: Dashboard) -> set[str]:
    return {p.peer_id for p in app.peer_list if p.state == "awaiting_admission"}


def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


async def propose_notes(guest: Client) -> str:
    result = await guest.call("write_file", path="notes.txt", content=NEW_NOTES)
    assert result["status"] == "pending"
    return str(result["change"]["id"])


async def test_pending_change_appears_with_its_diff_and_a_applies_it(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx:
        alice = await fx.guest("alice")
        async with dashboard_for(fx) as (app, pilot):
            change_id = await propose_notes(alice)
            await wait_until(pilot, lambda: app.shown_change_id == change_id, "the diff")

            assert "-beta" in app.diff_text and "+BETA" in app.diff_text
            view = app.query_one("#diff", Static).content
            assert isinstance(view, Group)
            syntax = view.renderables[-1]
            assert isinstance(syntax, Syntax)
            assert syntax.lexer is not None and "diff" in syntax.lexer.aliases
            row = app.query_one("#changes", DataTable).get_row(change_id)
            assert [cell.plain for cell in row] == [change_id, "alice", "write notes.txt"]

            await pilot.press("a")
            notes = fx.project / "notes.txt"
            await wait_until(pilot, lambda: notes.read_text() == NEW_NOTES, "the file on disk")
            await wait_until(pilot, lambda: change_id not in app.pending, "the queue to empty")
            assert app.diff_text == ""
            mine = await alice.call("my_changes")
            assert [c["status"] for c in mine["changes"]] == ["applied"]


async def test_a_change_to_a_sensitive_path_is_marked_with_its_reason(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx:
        alice = await fx.guest("alice")
        host = await fx.host()
        await host.call("trust", name="alice")  # trusted, and still asked
        async with dashboard_for(fx) as (app, pilot):
            result = await alice.call("write_file", path="sub/.gitignore", content="!secret\n")
            assert result["status"] == "pending"
            change_id = result["change"]["id"]
            await wait_until(pilot, lambda: app.shown_change_id == change_id, "the diff")

            reason = ".gitignore: an ignore file: it decides which files guests may see"
            cell = app.query_one("#changes", DataTable).get_row(change_id)[2]
            assert cell.plain == f"write sub/.gitignore [sensitive: {reason}]"
            header = rendered(app.query_one("#diff", Static).content)  # type: ignore[arg-type]
            assert f"sensitive path: {reason}" in " ".join(header.split())
            feed = "\n".join(line.plain for line in app.activity)
            assert f"proposes: write sub/.gitignore [sensitive: {reason}]" in feed


async def test_r_with_a_reason_rejects_and_the_author_sees_the_reason(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx:
        alice = await fx.guest("alice")
        async with dashboard_for(fx) as (app, pilot):
            change_id = await propose_notes(alice)
            await wait_until(pilot, lambda: app.shown_change_id == change_id, "the diff")

            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(app.screen, ReasonScreen), "the prompt")
            app.screen.query_one(Input).value = "keep beta lowercase"
            await pilot.press("enter")
            await wait_until(pilot, lambda: change_id not in app.pending, "the queue to empty")

            mine = await alice.call("my_changes")
            [change] = mine["changes"]
            assert change["status"] == "rejected"
            assert change["reason"] == "keep beta lowercase"
            assert (fx.project / "notes.txt").read_text() == OLD_NOTES


async def test_escape_in_the_reason_prompt_rejects_nothing(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx:
        alice = await fx.guest("alice")
        async with dashboard_for(fx) as (app, pilot):
            change_id = await propose_notes(alice)
            await wait_until(pilot, lambda: app.shown_change_id == change_id, "the diff")

            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(app.screen, ReasonScreen), "the prompt")
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, ReasonScreen), "closing")

            loads = app.loads
            app._request_refresh()
            await wait_until(pilot, lambda: app.loads > loads, "a reload")
            assert change_id in app.pending
            mine = await alice.call("my_changes")
            assert [c["status"] for c in mine["changes"]] == ["pending"]


async def test_waiting_guest_is_highlighted_and_y_admits_it(tmp_path: Path) -> None:
    async with (
        running_hub(project(tmp_path), auto_admit=False) as fx,
        dashboard_for(fx) as (app, pilot),
    ):
        bob = await fx.connect(fx.invite_secret, "bob")
        assert bob.conn.hello["state"] == "awaiting_admission"
        peer_id = bob.conn.hello["peer_id"]
        table = app.query_one("#peers", DataTable)
        await wait_until(pilot, lambda: peer_id in waiting_ids(app), "bob waiting")

        cells = table.get_row(peer_id)
        assert cells[0].plain == "bob"
        assert all(cell.style == WAITING_STYLE for cell in cells)
        assert "WAITING" in cells[2].plain
        assert any("bob is waiting" in text for _, text in app.notices)

        await pilot.press("y")
        await asyncio.wait_for(bob.conn.wait_admitted(), timeout=10)
        await wait_until(pilot, lambda: peer_id not in waiting_ids(app), "bob admitted")
        cells = table.get_row(peer_id)
        assert cells[2].plain == "online"
        assert all(cell.style != WAITING_STYLE for cell in cells)


async def test_n_denies_a_waiting_guest_with_the_reason(tmp_path: Path) -> None:
    async with (
        running_hub(project(tmp_path), auto_admit=False) as fx,
        dashboard_for(fx) as (app, pilot),
    ):
        bob = await fx.connect(fx.invite_secret, "bob")
        peer_id = bob.conn.hello["peer_id"]
        await wait_until(pilot, lambda: peer_id in waiting_ids(app), "bob waiting")

        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, ReasonScreen), "the prompt")
        app.screen.query_one(Input).value = "not today"
        await pilot.press("enter")

        denied = await bob.wait_event("denied")
        assert denied.data["reason"] == "not today"
        await wait_until(
            pilot, lambda: all(p.peer_id != peer_id for p in app.peer_list), "bob gone"
        )


async def test_peer_supplied_names_and_diffs_are_shown_neutralised(tmp_path: Path) -> None:
    markup_name = "[bold]evil[red]x.txt"
    hostile = "\x1b[31mred\x1b[0m \x07bell\x08 \x1b]0;pwned\x07 \u202eevil\x9b2J tail\n"
    async with running_hub(project(tmp_path)) as fx:
        alice = await fx.guest("alice")
        with pytest.raises(OpError):  # the hub itself refuses control characters in paths
            await alice.call("write_file", path="a\x1b[31m.txt", content="x\n")
        async with dashboard_for(fx) as (app, pilot):
            result = await alice.call("write_file", path=markup_name, content=hostile)
            change_id = result["change"]["id"]
            await wait_until(pilot, lambda: app.shown_change_id == change_id, "the diff")

            cell = app.query_one("#changes", DataTable).get_row(change_id)[2]
            assert isinstance(cell, Text)
            assert cell.plain == f"write {markup_name}" and not cell.spans
            screen = rendered(cell)
            assert markup_name in screen and "\x1b" not in screen

            for forbidden in ("\x1b", "\x07", "\x08", "\x9b", "\u202e"):
                assert forbidden not in app.diff_text
            m = MARKER  # the CSI sequences go whole, the OSC title stays visible
            assert f"+{m}red{m} {m}bell{m} {m}]0;pwned{m} {m}evil{m} tail" in app.diff_text
            assert f"+++ b/{markup_name}" in app.diff_text
            diff_screen = rendered(app.query_one("#diff", Static).content)  # type: ignore[arg-type]
            assert "\x1b" not in diff_screen and markup_name in diff_screen

            feed = "\n".join(line.plain for line in app.activity)
            assert f"proposes: write {markup_name}" in feed

            # What the dashboard would do with such a name, had a hub let it through.
            evil_path = "\x1b[2J\x1b]0;x\x07[bold]boom\x07\x00.txt"
            change = {
                "id": "feedbeef",
                "author": "alice",
                "kind": "write",
                "path": evil_path,
                "status": "pending",
                "created_at": 1.0,
                "size": 1,
            }
            before = len(app.activity)
            app.post_message(HubEvent(Event("change_submitted", 99, {"change": change})))
            await wait_until(pilot, lambda: len(app.activity) > before, "the event's line")
            line = app.activity[-1]
            assert f"write {MARKER}]0;x{MARKER}[bold]boom{MARKER}.txt" in line.plain
            assert not any(ch in line.plain for ch in "\x1b\x07\x00")
            assert "\x1b" not in rendered(line)
            assert not any("\x1b" in text or "\x07" in text for _, text in app.notices), app.notices


async def test_a_refused_op_is_a_notification_not_a_crash(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx, dashboard_for(fx) as (app, pilot):
        await app.approve_change("0badc0de")
        severity, text = app.notices[-1]
        assert severity == "error"
        assert "could not approve change 0badc0de" in text and "no change with id" in text
        await pilot.press("a")  # nothing selected: a warning, not an error
        severity, text = app.notices[-1]
        assert severity == "warning" and "no pending change" in text
        assert app.is_running


async def test_losing_the_hub_shows_a_banner(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx, dashboard_for(fx) as (app, pilot):
        assert app.banner is None
        await fx.hub.stop()
        await wait_until(pilot, lambda: app.connection_state == "disconnected", "the loss")
        assert app.banner is not None
        assert "hub" in app.banner.lower()
        assert app.query_one("#banner", Static).display


async def test_the_invite_box_shows_the_exact_join_line(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx, dashboard_for(fx) as (app, _pilot):
        code = fx.hub.current_invite()
        assert app.join_line == f"letswork join {code}"
        box = rendered(app.query_one("#invite", Static).content)  # type: ignore[arg-type]
        assert f"letswork join {code}" in box
        assert "local mode" in box


async def start_dashboard(fx: HubFixture) -> tuple[Dashboard, asyncio.Task[None]]:
    started: list[Dashboard] = []
    task = asyncio.create_task(run_dashboard(fx.hub, headless=True, on_start=started.append))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not (started and started[0].loads > 0):
        assert loop.time() < deadline, "the dashboard never loaded"
        assert not task.done()
        await asyncio.sleep(0)  # a yield to the loop, not a timed wait
    return started[0], task


async def test_run_dashboard_returns_when_the_hub_is_asked_to_stop(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx:
        app, task = await start_dashboard(fx)
        fx.hub.stop_requested.set()
        await asyncio.wait_for(task, timeout=10)
        assert not app.is_running


async def test_quitting_the_dashboard_asks_the_hub_to_stop(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx:
        app, task = await start_dashboard(fx)
        assert not fx.hub.stop_requested.is_set()
        app.exit()
        await asyncio.wait_for(task, timeout=10)
        assert fx.hub.stop_requested.is_set()


async def wait_plain(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0)  # a yield to the loop, not a timed wait


async def test_log_warnings_go_to_the_feed_while_the_dashboard_runs(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx:
        app, task = await start_dashboard(fx)
        logging.getLogger("letswork.hub").warning("disk nearly full: \x1b[31m[bold]x")
        await wait_plain(
            lambda: any("disk nearly full" in line.plain for line in app.activity), "the log line"
        )
        [line] = [line.plain for line in app.activity if "disk nearly full" in line.plain]
        assert line.endswith(f"warning: disk nearly full: {MARKER}[bold]x")
        fx.hub.stop_requested.set()
        await asyncio.wait_for(task, timeout=10)


async def test_a_new_tunnel_address_updates_the_invite_box(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx:
        app, task = await start_dashboard(fx)
        fx.hub.set_public_url("wss://four-word-name.trycloudflare.com")
        await wait_plain(lambda: "trycloudflare.com" in app.join_line, "the new invite")
        assert app.join_line == f"letswork join {fx.hub.current_invite()}"
        fx.hub.stop_requested.set()
        await asyncio.wait_for(task, timeout=10)
