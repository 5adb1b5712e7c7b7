"""The dashboard at 80x24 and at 160x50, with a pending change, a waiting guest, a known person
who is offline and a live invite: every pane shows its rows, and a copy of the invite's rows,
as a terminal copies them, runs as one ``letswork join`` whose code parses."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from letswork.cli.join import read_code
from letswork.shared import invite
from letswork.ui.dashboard import Dashboard
from tests.support.hubs import HubFixture, running_hub
from tests.ui.dashboard.support import project, propose_notes, wait_until, waiting_ids

TUNNEL_URL = "wss://sexual-rotation-newton-terrain.trycloudflare.com"


def screen_rows(app: Dashboard) -> list[str]:
    """The screen's rows as a terminal shows them (Textual's compositor, the cells it sends)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def copy_rows(rows: list[str], first: str, last: str, *, trim: bool) -> str:
    """What a terminal copies when the user drags from ``first`` to the end of ``last``: the
    rows between, joined by newlines; terminals that trim trailing blanks do (``trim``)."""
    start = next(i for i, row in enumerate(rows) if first in row)
    end = next(i for i in range(start, len(rows)) if last in rows[i])
    picked = [rows[start][rows[start].index(first) :], *rows[start + 1 : end + 1]]
    return "\n".join(row.rstrip() if trim else row for row in picked)


def shell_argument(pasted: str) -> str:
    """The code ``letswork join`` receives when ``pasted`` is pasted into bash."""
    script = "letswork() { printf '%s' \"$2\"; }\n" + pasted + "\n"
    done = subprocess.run(
        ["bash", "--norc", "--noprofile"],
        input=script,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


@contextlib.asynccontextmanager
async def busy_dashboard(
    tmp_path: Path, size: tuple[int, int]
) -> AsyncIterator[tuple[HubFixture, Dashboard, Pilot[None], str]]:
    async with contextlib.AsyncExitStack() as stack:
        fx = await stack.enter_async_context(running_hub(project(tmp_path), auto_admit=False))
        app, pilot, change_id = await stack.enter_async_context(_dashboard(fx, size))
        yield fx, app, pilot, change_id


@contextlib.asynccontextmanager
async def _dashboard(
    fx: HubFixture, size: tuple[int, int]
) -> AsyncIterator[tuple[Dashboard, Pilot[None], str]]:
    fx.hub.set_public_url(TUNNEL_URL)
    host = await fx.host()
    carol = await fx.guest("carol")  # a known person who is offline
    await host.call("admit", name="carol")
    await carol.conn.wait_admitted()
    await carol.conn.close()
    alice = await fx.guest("alice")
    await host.call("admit", name="alice")
    await alice.conn.wait_admitted()
    change_id = await propose_notes(alice)
    await fx.connect(fx.invite_secret, "bob")
    app = Dashboard(fx.url, fx.host_secret, fx.hub.current_invite(), str(fx.project))
    async with app.run_test(size=size, notifications=True) as pilot:
        await wait_until(
            pilot,
            lambda: change_id in app.pending and bool(waiting_ids(app)) and len(app.lock_list) == 1,
            "the change, bob waiting and the lock",
        )
        await wait_until(pilot, lambda: app.shown_change_id == change_id, "the diff")
        await wait_until(pilot, lambda: app.invite_state == "live", "the invite judged live")
        await wait_until(pilot, lambda: bool(app.offline_list), "carol offline")
        await pilot.pause()
        yield app, pilot, change_id


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
async def test_every_pane_shows_its_rows(tmp_path: Path, size: tuple[int, int]) -> None:
    async with busy_dashboard(tmp_path, size) as (_fx, app, _pilot, change_id):
        rows = screen_rows(app)
        assert len(rows) == size[1]
        screen = "\n".join(rows)
        assert "letswork join" in screen and "trycloudflare.com" in screen
        assert any("bob" in row and "WAITING" in row for row in rows), screen
        assert any("alice" in row and "online" in row for row in rows), screen
        since = time.strftime("%H:%M", time.localtime(app.offline_list[0].offline_since))
        assert any("carol" in row and f"offline since {since}" in row for row in rows), screen
        assert "no use limit" in screen and "one person" not in screen
        assert any(change_id in row and "alice" in row for row in rows), screen
        assert any("notes.txt" in row and "with change" in row for row in rows), screen
        assert "+BETA" in screen and "-beta" in screen
        assert "proposed a write of notes.txt" in screen
        assert "a Approve" in rows[-1] and "i Invite" in rows[-1] and "q Quit" in rows[-1]


@pytest.mark.parametrize("trim", [True, False], ids=["trimmed", "blank-padded"])
async def test_a_copy_of_the_invite_rows_at_80_columns_runs_as_one_join(
    tmp_path: Path, trim: bool
) -> None:
    async with busy_dashboard(tmp_path, (80, 24)) as (fx, app, _pilot, _change):
        code = fx.hub.current_invite()
        assert len(f"letswork join {code}") > 80  # the line cannot fit one row
        rows = screen_rows(app)
        pasted = copy_rows(rows, "letswork join", "trycloudflare.com", trim=trim)
        assert "\n" in pasted
        assert read_code(shell_argument(pasted)) == invite.parse(code)
        assert read_code(pasted) == invite.parse(code)  # pasted after `letswork join`


async def test_c_copies_the_join_line_and_shows_it(tmp_path: Path) -> None:
    async with busy_dashboard(tmp_path, (80, 24)) as (fx, app, pilot, _change):
        await pilot.press("c")
        assert app.clipboard == f"letswork join {fx.hub.current_invite()}"
        await pilot.press("escape")


async def test_a_hub_listing_one_offline_person_twice_still_shows_the_people(
    tmp_path: Path,
) -> None:
    """Attack (issue 16): odd ``list_peers`` data (one offline identity listed twice) must not
    stop the people pane from rendering (a duplicate row key raised in ``add_row``)."""
    async with busy_dashboard(tmp_path, (160, 50)) as (_fx, app, _pilot, _change_id):
        gone = app.offline_list[0]
        app.offline_list = [gone, gone]
        app._render_peers()
        rows = screen_rows(app)
        assert sum("carol" in row for row in rows) >= 1
