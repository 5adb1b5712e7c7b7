"""The dashboard app as a whole, driven headless against a real hub: failures become
notifications, a lost hub shows a banner."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from tests.support.hubs import running_hub
from tests.ui.dashboard.support import (
    dashboard_for,
    project,
    wait_until,
)


async def test_a_refused_op_is_a_notification_not_a_crash(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx, dashboard_for(fx) as (app, pilot):
        # (approve_change asks nothing of the hub for a change whose diff is not on screen)
        await app.reject_change("0badc0de", None)
        severity, text = app.notices[-1]
        assert severity == "error"
        assert "could not reject change 0badc0de" in text and "no change with id" in text
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
