"""The invite box: the exact join line, and a new line when the tunnel's address changes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Static

from tests.support.hubs import running_hub
from tests.ui.dashboard.support import (
    dashboard_for,
    project,
    rendered,
    start_dashboard,
    wait_plain,
)


async def test_the_invite_box_shows_the_exact_join_line(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx, dashboard_for(fx) as (app, _pilot):
        code = fx.hub.current_invite()
        assert app.join_line == f"letswork join {code}"
        box = rendered(app.query_one("#invite", Static).content)  # type: ignore[arg-type]
        assert f"letswork join {code}" in box
        assert "local mode" in box


async def test_a_new_tunnel_address_updates_the_invite_box(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx:
        app, task = await start_dashboard(fx)
        fx.hub.set_public_url("wss://four-word-name.trycloudflare.com")
        await wait_plain(lambda: "trycloudflare.com" in app.join_line, "the new invite")
        assert app.join_line == f"letswork join {fx.hub.current_invite()}"
        fx.hub.stop_requested.set()
        await asyncio.wait_for(task, timeout=10)
