"""Runs in the dashboard, driven headless against a real hub: a guest's run waits with its
exact argv in the feed, ``g`` starts it, ``x`` denies one; the trust-and-auto warning."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.hub.ops.test_commands import py_command, run_ended, write_commands
from tests.support.hubs import running_hub
from tests.ui.dashboard.support import dashboard_for, project, wait_until


def feed(app: object) -> str:
    return "\n".join(line.plain for line in app.activity)  # type: ignore[attr-defined]


async def test_a_waiting_run_shows_its_argv_and_g_starts_it(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx:
        write_commands(fx.project, py_command("check", "print('ok')"))
        alice = await fx.guest("alice")
        async with dashboard_for(fx) as (app, pilot):
            run = (await alice.call("run_command", name="check"))["run"]
            argv = f"{sys.executable} -c 'print('\"'\"'ok'\"'\"')'"
            await wait_until(pilot, lambda: run["id"] in app._runs_state(), "the waiting run")
            assert f"alice asks to run 'check' (run {run['id']}): {argv}" in feed(app)
            await pilot.press("g", "g")  # the first shows the argv it would start
            ended = await run_ended(alice, run["id"])
            assert ended["state"] == "succeeded"
            await wait_until(pilot, lambda: "succeeded (exit 0)" in feed(app), "the end")


async def test_x_denies_the_waiting_run_and_nothing_runs(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx:
        marker = fx.project / "ran.txt"
        write_commands(fx.project, py_command("touch", f"open({str(marker)!r}, 'w')"))
        alice = await fx.guest("alice")
        async with dashboard_for(fx) as (app, pilot):
            run = (await alice.call("run_command", name="touch"))["run"]
            await wait_until(pilot, lambda: run["id"] in app._runs_state(), "the waiting run")
            await pilot.press("x")
            ended = await run_ended(alice, run["id"])
            assert ended["state"] == "denied"
            assert not marker.exists()


async def test_the_host_is_told_when_a_trusted_guest_meets_an_auto_command(
    tmp_path: Path,
) -> None:
    async with running_hub(project(tmp_path)) as fx:
        write_commands(fx.project, py_command("check", "pass", approval='"auto"'))
        await fx.guest("alice")
        host = await fx.host()
        await host.call("trust", name="alice")
        async with dashboard_for(fx) as (app, pilot):
            await wait_until(pilot, lambda: "run code on this machine" in feed(app), "the warning")


async def test_the_host_is_told_once_when_a_trusted_guest_meets_an_ask_command(
    tmp_path: Path,
) -> None:
    async with running_hub(project(tmp_path)) as fx:
        write_commands(fx.project, py_command("check", "pass"))
        await fx.guest("alice")
        host = await fx.host()
        await host.call("trust", name="alice")
        async with dashboard_for(fx) as (app, pilot):
            said = "runs code on this machine that guest may have written"
            await wait_until(pilot, lambda: said in feed(app), "the warning")
            await app.reload_runs()  # asked again: the same warning is not repeated
            assert feed(app).count(said) == 1


async def test_a_long_argument_cannot_push_the_rest_of_the_argv_out_of_the_hosts_sight(
    tmp_path: Path,
) -> None:
    """The host approves what it sees: 700 characters of padding must not hide an argument
    after them (the argv was cut at 600 characters) in the feed, the notification, ``list_runs``
    for the host's assistant and ``letswork runs``."""
    from letswork.shared.describe_runs import argv_text, run_line
    from letswork.shared.protocol.commands import RunInfo

    async with running_hub(project(tmp_path)) as fx:
        write_commands(fx.project, py_command("check", "pass", args='"any"'))
        alice = await fx.guest("alice")
        async with dashboard_for(fx) as (app, pilot):
            padded = ["-k", "x" * 700, "--basetemp=/home/someone"]
            run = (await alice.call("run_command", name="check", args=padded))["run"]
            await wait_until(pilot, lambda: run["id"] in app._runs_state(), "the waiting run")
            assert "--basetemp=/home/someone" in feed(app)
        info = RunInfo.model_validate(run)
        assert "--basetemp=/home/someone" in run_line(info)
        assert "--basetemp=/home/someone" in run_line(info, terminal=True)
        assert argv_text(info.argv).endswith("--basetemp=/home/someone")


async def test_g_starts_only_the_run_whose_argv_it_showed(tmp_path: Path) -> None:
    """A guest cancels its run and asks again with other arguments in the moment before the
    host's key: ``g`` shows the argv of the run it would start, and starts a run only when
    pressed again for that same run."""
    async with running_hub(project(tmp_path)) as fx:
        write_commands(fx.project, py_command("check", "pass", args='"any"'))
        alice = await fx.guest("alice")
        async with dashboard_for(fx) as (app, pilot):
            first = (await alice.call("run_command", name="check", args=["tests/a.py"]))["run"]
            await wait_until(pilot, lambda: first["id"] in app._runs_state(), "the first run")
            await pilot.press("g")
            assert f"g again starts run {first['id']}" in feed(app)
            await alice.call("cancel_run", id=first["id"])
            swapped = (await alice.call("run_command", name="check", args=["--swapped"]))["run"]
            await wait_until(
                pilot,
                lambda: first["id"] not in app._runs_state() and swapped["id"] in app._runs_state(),
                "the swapped run",
            )
            await pilot.press("g")  # meant for the first run: shows the swapped one instead
            assert f"g again starts run {swapped['id']}" in feed(app)
            still = (await alice.call("get_run", id=swapped["id"]))["run"]
            assert still["state"] == "pending"
            await pilot.press("g")
            ended = await run_ended(alice, swapped["id"])
            assert ended["state"] == "succeeded"
