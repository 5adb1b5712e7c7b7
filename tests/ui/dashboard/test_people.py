"""The people pane, driven headless against a real hub: a waiting guest highlighted, admitted
with ``y``, denied with ``n`` and a reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import DataTable, Input

from letswork.ui.dashboard import WAITING_STYLE, ReasonScreen
from tests.support.hubs import running_hub
from tests.ui.dashboard.support import (
    dashboard_for,
    project,
    wait_until,
    waiting_ids,
)


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
