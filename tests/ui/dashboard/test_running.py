"""``run_dashboard`` beside a hub: it stops with the hub, quitting stops the hub, and log
warnings go to the feed while it runs."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from letswork.shared.sanitize import MARKER
from tests.support.hubs import running_hub
from tests.ui.dashboard.support import (
    project,
    start_dashboard,
    wait_plain,
)


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
