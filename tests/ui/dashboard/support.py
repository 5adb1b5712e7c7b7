"""Helpers for the dashboard's tests: a dashboard driven headless with Textual's pilot against
a real hub on loopback, and waiting on it without timed sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from rich.console import Console, RenderableType
from textual.pilot import Pilot

from letswork.ui.dashboard import Dashboard, run_dashboard
from tests.support.hubs import Client, HubFixture, make_project

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


async def wait_plain(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0)  # a yield to the loop, not a timed wait
