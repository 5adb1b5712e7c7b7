"""The pending changes pane and the diff view, driven headless against a real hub: the diff of
the selected change, approving, rejecting with a reason, and peer text shown neutralised."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual.widgets import DataTable, Input, Static

from letswork.shared.errors import OpError
from letswork.shared.protocol.wire import Event
from letswork.shared.sanitize import MARKER
from letswork.ui.dashboard import HubEvent, ReasonScreen
from tests.support.hubs import running_hub
from tests.ui.dashboard.support import (
    NEW_NOTES,
    OLD_NOTES,
    dashboard_for,
    project,
    propose_notes,
    rendered,
    wait_until,
)


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


async def test_a_shows_a_clean_merge_first_and_a_again_writes_exactly_it(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx:
        alice = await fx.guest("alice")
        notes = fx.project / "notes.txt"
        async with dashboard_for(fx) as (app, pilot):
            result = await alice.call(
                "edit_file", path="notes.txt", old_string="gamma", new_string="GAMMA"
            )
            change_id = result["change"]["id"]
            await wait_until(pilot, lambda: app.shown_change_id == change_id, "the diff")
            notes.write_text("ALPHA\nbeta\ngamma\n", encoding="utf-8")  # the host's own edit

            await pilot.press("a")
            await wait_until(pilot, lambda: "merges cleanly" in app.notices[-1][1], "the merge")
            await wait_until(pilot, lambda: "+GAMMA" in app.diff_text, "the merged diff")
            assert notes.read_text() == "ALPHA\nbeta\ngamma\n"  # shown, not written

            await pilot.press("a")
            await wait_until(pilot, lambda: notes.read_text() == "ALPHA\nbeta\nGAMMA\n", "write")
            await wait_until(pilot, lambda: change_id not in app.pending, "the queue to empty")


async def test_a_conflict_resubmitted_under_its_id_shows_its_new_diff_not_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_hub(project(tmp_path)) as fx:
        alice = await fx.guest("alice")
        host = await fx.host()
        notes = fx.project / "notes.txt"
        async with dashboard_for(fx) as (app, pilot):
            change_id = await propose_notes(alice)
            await wait_until(pilot, lambda: app.shown_change_id == change_id, "the diff")
            assert "+BETA" in app.diff_text
            # The conflict and the resubmission come before any reload of the queue.
            load = app._load
            monkeypatch.setattr(app, "_load", lambda *args: None)
            notes.write_text("alpha\nbeta\nGAMMA\n", encoding="utf-8")
            assert (await host.call("approve_change", id=change_id))["change"]["status"] == (
                "conflict"
            )
            seen = len(app.notices)
            await alice.call("update_change", id=change_id, content="alpha\nEVIL\nGAMMA\n")
            await wait_until(pilot, lambda: len(app.notices) > seen, "the resubmission")
            monkeypatch.setattr(app, "_load", load)
            app._request_refresh()
            await wait_until(pilot, lambda: "+EVIL" in app.diff_text, "the new diff")


async def test_a_on_a_stale_screen_does_not_approve_a_change_resubmitted_since_it_was_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_hub(project(tmp_path)) as fx:
        alice = await fx.guest("alice")
        host = await fx.host()
        notes = fx.project / "notes.txt"
        async with dashboard_for(fx) as (app, pilot):
            change_id = await propose_notes(alice)
            await wait_until(pilot, lambda: app.shown_change_id == change_id, "the diff")
            assert "+BETA" in app.diff_text
            # The screen stays as it is (no reload, the resubmission's event not acted on),
            # as when `a` is pressed before they arrive.
            load, forget = app._load, app.forget_change
            monkeypatch.setattr(app, "_load", lambda *args: None)
            monkeypatch.setattr(app, "forget_change", lambda change_id: None)
            notes.write_text("alpha\nbeta\nGAMMA\n", encoding="utf-8")
            assert (await host.call("approve_change", id=change_id))["change"]["status"] == (
                "conflict"
            )
            seen = len(app.notices)
            await alice.call("update_change", id=change_id, content="alpha\nEVIL\nGAMMA\n")
            await wait_until(pilot, lambda: len(app.notices) > seen, "the resubmission")
            monkeypatch.setattr(app, "_load", load)
            monkeypatch.setattr(app, "forget_change", forget)
            assert "+BETA" in app.diff_text and "EVIL" not in app.diff_text

            await pilot.press("a")
            await wait_until(pilot, lambda: "resubmitted" in app.notices[-1][1], "the refusal")
            await wait_until(pilot, lambda: "+EVIL" in app.diff_text, "the new diff")
            assert notes.read_text() == "alpha\nbeta\nGAMMA\n"
            still = await host.call("get_change", id=change_id)
            assert still["change"]["status"] == "pending"

            await pilot.press("a")
            await wait_until(pilot, lambda: notes.read_text() == "alpha\nEVIL\nGAMMA\n", "write")


async def test_a_before_the_diff_is_on_screen_approves_nothing(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx:
        alice = await fx.guest("alice")
        async with dashboard_for(fx) as (app, pilot):
            change_id = await propose_notes(alice)
            await wait_until(pilot, lambda: change_id in app.pending, "the queue")
            app._diffs.pop(change_id, None)  # as while its diff is still being fetched
            app.shown_change_id = None
            await app.approve_change(change_id)
            assert "not on screen yet" in app.notices[-1][1]
            assert (fx.project / "notes.txt").read_text() == OLD_NOTES
