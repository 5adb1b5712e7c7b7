"""The invite box: the exact join line, and a new line when the tunnel's address changes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from textual.widgets import Input, RadioButton, Static

from letswork.shared import invite
from letswork.ui.dashboard import Dashboard
from letswork.ui.dashboard import invite as invite_box
from letswork.ui.dashboard.invite_screens import NewInviteScreen, TextScreen
from tests.support.hubs import running_hub
from tests.ui.dashboard.support import (
    SIZE,
    dashboard_for,
    project,
    rendered,
    start_dashboard,
    wait_plain,
    wait_until,
)


async def test_the_invite_box_shows_the_exact_join_line(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx, dashboard_for(fx) as (app, _pilot):
        code = fx.hub.current_invite()
        assert app.join_line == f"letswork join {code}"
        box = _box(app)
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


def _box(app: Dashboard) -> str:
    return rendered(app.query_one("#invite", Static).content)  # type: ignore[arg-type]


async def test_a_revoked_invite_leaves_the_box_and_i_makes_a_new_one(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx, dashboard_for(fx) as (app, pilot):
        first = fx.hub.current_invite()
        await wait_until(pilot, lambda: app.invite_state == "live", "the invite judged live")
        host = await fx.host()
        await host.call("revoke_invite", label="first")
        app._request_refresh()
        await wait_until(pilot, lambda: app.invite_state == "revoked", "the revoke seen")
        assert "letswork join" not in _box(app)
        assert "revoked" in _box(app) and "Press i" in _box(app)

        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, NewInviteScreen), "the form")
        app.screen.query_one("#viewer", RadioButton).value = True
        app.screen.query_one(Input).value = "carol"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.invite_code != first, "the new invite")
        await wait_until(pilot, lambda: app.invite_state == "live", "the new one judged live")
        assert f"letswork join {app.invite_code}" in _box(app).replace("\n", "")
        listed = (await host.call("list_invites"))["invites"]
        made = [i for i in listed if i["label"] == "carol"]
        assert [i["role"] for i in made] == ["viewer"]


def _title(app: Dashboard) -> str:
    title = app.query_one("#invite", Static).border_title
    return rendered(title).strip() if title is not None else ""


async def test_the_first_invite_says_it_has_no_use_limit_and_stays_live_when_used(
    tmp_path: Path,
) -> None:
    # `letswork start`'s invite has max_uses None: a use leaves it live, and the box must not
    # claim it is for one person.
    async with running_hub(project(tmp_path)) as fx, dashboard_for(fx) as (app, pilot):
        await wait_until(pilot, lambda: app.invite_state == "live", "the invite judged live")
        assert "no use limit" in _title(app) and "one person" not in _title(app)
        await fx.connect(invite.parse(app.invite_code).secret, "dora")
        await wait_until(pilot, lambda: app.invite_uses == 1, "the use seen")
        assert app.invite_state == "live" and "no use limit" in _title(app)
        assert f"letswork join {app.invite_code}" in _box(app).replace("\n", "")


async def test_an_invite_made_with_i_admits_one_person_then_the_box_says_used_up(
    tmp_path: Path,
) -> None:
    async with running_hub(project(tmp_path)) as fx, dashboard_for(fx) as (app, pilot):
        first = app.invite_code
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, NewInviteScreen), "the form")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.invite_code != first, "the new invite")
        await wait_until(pilot, lambda: app.invite_state == "live", "the new one judged live")
        assert "admits 1 more person" in _title(app)
        await fx.connect(invite.parse(app.invite_code).secret, "dora")
        await wait_until(pilot, lambda: app.invite_state == "used", "the use seen")
        box = _box(app)
        assert "letswork join" not in box
        assert "used up: 1 person joined with it" in box and "Press i" in box
        assert "used up" in _title(app).lower()
        assert any("was used up" in line.plain for line in app.activity)


async def test_a_two_use_invite_counts_down_then_expires_in_the_box(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_hub(project(tmp_path)) as fx, dashboard_for(fx) as (app, pilot):
        host = await fx.host()
        made = await host.call("create_invite", label="pair", uses=2, expires_in=3600)
        app.set_invite(made["code"])
        await wait_until(pilot, lambda: app.invite_state == "live", "the invite judged live")
        until = time.strftime("%H:%M", time.localtime(made["expires_at"]))
        assert f"admits 2 more people, until {until}" in _title(app)
        await fx.connect(invite.parse(made["code"]).secret, "erin")
        await wait_until(pilot, lambda: "admits 1 more person" in _title(app), "one use left")
        monkeypatch.setattr(invite_box, "_now", lambda: made["expires_at"] + 1)
        app._request_refresh()
        await wait_until(pilot, lambda: app.invite_state == "expired", "the expiry seen")
        assert "letswork join" not in _box(app)
        assert f"expired at {until} (1 person joined with it)" in _box(app)
        assert any("expired; press i" in line.plain for line in app.activity)


async def test_in_local_mode_h_explains_cloudflared_lan_and_ssh(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx, dashboard_for(fx) as (app, pilot):
        assert "h shows how to share it" in _box(app)
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, TextScreen), "the help")
        assert isinstance(app.screen, TextScreen)
        shown = app.screen.body.plain
        port = fx.hub.port
        assert "brew install cloudflared" in shown
        assert f"--bind 0.0.0.0 --port {port} --public-url ws://LAN-IP:{port}" in shown
        assert f"ssh -N -L {port}:127.0.0.1:{port}" in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, TextScreen), "closed")


async def test_h_behind_a_tunnel_explains_the_public_line(tmp_path: Path) -> None:
    # A tunnel's address has no port (wss://four-word-name.trycloudflare.com): reading one
    # raised IndexError in the h key's handler, which ended the host's dashboard.
    async with running_hub(project(tmp_path)) as fx:
        local = invite.parse(fx.hub.current_invite())
        code = local.with_url("wss://four-word-name.trycloudflare.com").format()
        app = Dashboard(fx.url, fx.host_secret, code, str(fx.project))
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.loads > 0, "the first load")
            assert not app.local_mode
            await pilot.press("h")
            await wait_until(pilot, lambda: isinstance(app.screen, TextScreen), "the help")
            assert isinstance(app.screen, TextScreen)
            assert "public address" in app.screen.body.plain
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, TextScreen), "closed")
