"""The commands group over real connections: the commands file, runs, approval, the run's
process group, its output, its environment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError
from tests.support.hubs import Client, HubFixture

PY = sys.executable


def write_commands(project: Path, body: str) -> None:
    (project / "letswork.toml").write_text(textwrap.dedent(body), encoding="utf-8")


def py_command(name: str, code: str, **extra: str) -> str:
    """A ``[commands.NAME]`` table running ``python -c CODE``."""
    lines = [f"[commands.{name}]", f"run = [{PY!r}, '-c', {code!r}]"]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


async def run_ended(client: Client, run_id: int) -> dict[str, Any]:
    event = await client.wait_event(
        "run_updated",
        lambda d: d["run"]["id"] == run_id and d["change"] == "ended",
        timeout=30,
    )
    return event.data["run"]  # type: ignore[no-any-return]


def live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (a zombie is dead, only not yet reaped
    by an init that may never reap it, as in some containers)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found


async def test_a_guests_run_waits_for_the_host_then_runs_and_its_exit_code_arrives(
    hub: HubFixture,
) -> None:
    write_commands(hub.project, py_command("check", "print('hello'); raise SystemExit(3)"))
    alice = await hub.guest("alice")
    host = await hub.host()
    run = (await alice.call("run_command", name="check"))["run"]
    assert run["state"] == "pending"
    assert run["argv"] == [PY, "-c", "print('hello'); raise SystemExit(3)"]
    asked = await host.wait_event("run_updated", lambda d: d["change"] == "asked")
    assert asked.data["run"]["argv"] == run["argv"]
    await host.call("approve_run", id=run["id"])
    ended = await run_ended(alice, run["id"])
    assert (ended["state"], ended["exit_code"]) == ("failed", 3)
    got = await alice.call("get_run", id=run["id"])
    assert got["output"] == "hello\n"
    kinds = [r.kind for r in hub.hub.store.audit_log()]  # type: ignore[union-attr]
    assert {"run_command", "approve_run", "run_ended"} <= set(kinds)


async def test_an_auto_command_runs_in_the_project_folder_with_a_minimal_environment(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LETSWORK_TEST_TOKEN", "secret-token")
    code = "import os, json; print(json.dumps([os.getcwd(), sorted(os.environ)]))"
    write_commands(hub.project, py_command("env", code, approval='"auto"', env="{ EXTRA = '1' }"))
    alice = await hub.guest("alice")
    run = (await alice.call("run_command", name="env"))["run"]
    assert run["state"] == "running"
    ended = await run_ended(alice, run["id"])
    assert ended["state"] == "succeeded"
    import json

    cwd, names = json.loads((await alice.call("get_run", id=run["id"]))["output"])
    assert Path(cwd).resolve() == hub.project.resolve()
    assert "LETSWORK_TEST_TOKEN" not in names
    assert set(names) - {"LC_CTYPE"} <= {"PATH", "HOME", "LANG", "EXTRA"}
    assert "EXTRA" in names


async def test_arguments_outside_args_are_refused(hub: HubFixture) -> None:
    write_commands(
        hub.project,
        py_command("none", "pass")
        + py_command("some", "pass", args='["tests/*", "-x"]', approval='"auto"'),
    )
    alice = await hub.guest("alice")
    with pytest.raises(OpError) as info:
        await alice.call("run_command", name="none", args=["--evil"])
    assert info.value.code == ErrorCode.INVALID
    assert "takes no arguments" in info.value.message
    with pytest.raises(OpError) as info:
        await alice.call("run_command", name="some", args=["-x", "--rootdir=/"])
    assert info.value.code == ErrorCode.INVALID
    assert "'--rootdir=/' is not allowed" in info.value.message
    assert (await alice.call("list_runs"))["runs"] == []
    run = (await alice.call("run_command", name="some", args=["tests/a.py", "-x"]))["run"]
    assert run["argv"][-2:] == ["tests/a.py", "-x"]


async def test_a_guest_cannot_change_the_commands_file_even_when_trusted(
    hub: HubFixture,
) -> None:
    write_commands(hub.project, py_command("check", "pass"))
    alice = await hub.guest("alice")
    host = await hub.host()
    await host.call("trust", name="alice")
    before = (hub.project / "letswork.toml").read_text()
    result = await alice.call(
        "write_file", path="letswork.toml", content=py_command("check", "import os")
    )
    assert result["status"] == "pending"
    assert "commands file" in (result["change"].get("sensitive") or "")
    assert (hub.project / "letswork.toml").read_text() == before


async def test_a_cancelled_run_leaves_no_process_of_its_group(hub: HubFixture) -> None:
    code = (
        "import os, subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
        "print(os.getpgid(0), flush=True); time.sleep(300)"
    )
    write_commands(hub.project, py_command("hang", code, approval='"auto"'))
    alice = await hub.guest("alice")
    run = (await alice.call("run_command", name="hang"))["run"]
    await alice.wait_event(
        "run_updated", lambda d: d["run"]["id"] == run["id"] and d["run"]["output_bytes"] > 0
    )
    pgid = int((await alice.call("get_run", id=run["id"]))["output"])
    assert live_members(pgid)
    await alice.call("cancel_run", id=run["id"])
    ended = await run_ended(alice, run["id"])
    assert ended["state"] == "cancelled"
    assert live_members(pgid) == []


async def test_a_run_past_its_timeout_is_killed_whole(hub: HubFixture) -> None:
    code = (
        "import os, subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
        "print(os.getpgid(0), flush=True); time.sleep(300)"
    )
    write_commands(hub.project, py_command("slow", code, approval='"auto"', timeout='"1s"'))
    alice = await hub.guest("alice")
    run = (await alice.call("run_command", name="slow"))["run"]
    ended = await run_ended(alice, run["id"])
    assert ended["state"] == "timed_out"
    pgid = int((await alice.call("get_run", id=run["id"]))["output"])
    assert live_members(pgid) == []


async def test_one_run_per_guest_at_a_time(hub: HubFixture) -> None:
    write_commands(hub.project, py_command("check", "pass"))
    alice = await hub.guest("alice")
    first = (await alice.call("run_command", name="check"))["run"]
    with pytest.raises(OpError) as info:
        await alice.call("run_command", name="check")
    assert info.value.code == ErrorCode.QUOTA_EXCEEDED
    assert f"run {first['id']}" in info.value.message


async def test_output_keeps_its_head_and_tail_within_the_limits(hub: HubFixture) -> None:
    total = limits.RUN_OUTPUT_HEAD_BYTES + limits.RUN_OUTPUT_TAIL_BYTES + 100_000
    code = f"import sys; sys.stdout.write('a' * {total} + 'END')"
    write_commands(hub.project, py_command("big", code, approval='"auto"'))
    alice = await hub.guest("alice")
    run = (await alice.call("run_command", name="big"))["run"]
    ended = await run_ended(alice, run["id"])
    assert ended["output_bytes"] == total + 3
    last = await alice.call("get_run", id=run["id"])
    assert last["output"].endswith("END")
    assert (
        last["left_out_bytes"]
        == total + 3 - limits.RUN_OUTPUT_HEAD_BYTES - limits.RUN_OUTPUT_TAIL_BYTES
    )
    first = await alice.call("get_run", id=run["id"], page=last["pages"])
    assert first["output"].startswith("a")


async def test_a_viewer_cannot_run_an_editors_command_and_a_broken_file_says_why(
    hub: HubFixture,
) -> None:
    write_commands(hub.project, py_command("check", "pass"))
    bob = await hub.guest("bob", role="viewer")
    listed = await bob.call("list_commands")
    assert [(c["name"], c["allowed"]) for c in listed["commands"]] == [("check", False)]
    with pytest.raises(OpError) as info:
        await bob.call("run_command", name="check")
    assert info.value.code == ErrorCode.FORBIDDEN
    write_commands(hub.project, "[commands.check]\nrun = 'pytest -q'\n")
    listed = await bob.call("list_commands")
    assert listed["commands"] == []
    assert "never a shell string" in listed["problem"]


async def test_the_host_is_warned_when_a_trusted_guest_meets_an_auto_command(
    hub: HubFixture,
) -> None:
    write_commands(hub.project, py_command("check", "pass", approval='"auto"'))
    await hub.guest("alice")
    host = await hub.host()
    assert (await host.call("list_commands")).get("warning") is None
    await host.call("trust", name="alice")
    assert "run code on this machine" in (await host.call("list_commands"))["warning"]


async def test_the_host_is_warned_when_a_trusted_guest_meets_any_command(
    hub: HubFixture,
) -> None:
    write_commands(hub.project, py_command("check", "pass"))  # "ask": the host approves runs
    await hub.guest("alice")
    host = await hub.host()
    assert (await host.call("list_commands")).get("warning") is None
    await host.call("trust", name="alice")
    warning = (await host.call("list_commands"))["warning"]
    assert "'check' run the project's code" in warning
    assert "runs code on this machine that guest may have written" in warning
    assert "without asking" not in warning  # the auto wording only for an auto command


async def test_a_viewers_auto_command_with_a_trusted_editor_gets_the_auto_warning(
    hub: HubFixture,
) -> None:
    # A viewer-only `auto` command: the trusted editor's file applies at once, then any viewer
    # runs it and the editor's code runs unasked. "A run you start or approve" is not so.
    write_commands(
        hub.project, py_command("check", "import mine", approval='"auto"', roles='["viewer"]')
    )
    alice = await hub.guest("alice")
    bob = await hub.guest("bob", "viewer")
    host = await hub.host()
    await host.call("trust", name="alice")
    warning = (await host.call("list_commands"))["warning"]
    written = await alice.call("write_file", path="mine.py", content="print('alice wrote this')\n")
    assert written["status"] == "applied"
    run = (await bob.call("run_command", name="check"))["run"]
    ended = await run_ended(bob, run["id"])
    assert (await bob.call("get_run", id=run["id"]))["output"] == "alice wrote this\n"
    assert ended["state"] == "succeeded"
    assert "'check' run without asking" in warning
    assert "you start or approve" not in warning


async def test_a_trusted_guest_without_commands_gives_no_warning(hub: HubFixture) -> None:
    await hub.guest("alice")
    host = await hub.host()
    await host.call("trust", name="alice")
    assert (await host.call("list_commands")).get("warning") is None


async def test_a_kicked_guests_run_is_killed(hub: HubFixture) -> None:
    code = "import os, time; print(os.getpgid(0), flush=True); time.sleep(300)"
    write_commands(hub.project, py_command("hang", code, approval='"auto"'))
    alice = await hub.guest("alice")
    host = await hub.host()
    run = (await alice.call("run_command", name="hang"))["run"]
    await host.wait_event(
        "run_updated", lambda d: d["run"]["id"] == run["id"] and d["run"]["output_bytes"] > 0
    )
    pgid = int((await host.call("get_run", id=run["id"]))["output"])
    await host.call("kick", name="alice")
    ended = await run_ended(host, run["id"])
    assert ended["state"] == "cancelled"
    assert live_members(pgid) == []


async def test_a_symlinked_commands_file_gives_no_commands(hub: HubFixture, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text(py_command("check", "pass"), encoding="utf-8")
    (hub.project / "letswork.toml").symlink_to(elsewhere)
    alice = await hub.guest("alice")
    listed = await alice.call("list_commands")
    assert listed["commands"] == [] and "cannot be read" in listed["problem"]
    with pytest.raises(OpError) as info:
        await alice.call("run_command", name="check")
    assert info.value.code == ErrorCode.INVALID


async def test_a_guest_cannot_cancel_or_approve_another_guests_run(hub: HubFixture) -> None:
    write_commands(hub.project, py_command("check", "pass"))
    alice = await hub.guest("alice")
    bob = await hub.guest("bob")
    run = (await alice.call("run_command", name="check"))["run"]
    for op in ("cancel_run", "approve_run", "deny_run"):
        with pytest.raises(OpError) as info:
            await bob.call(op, id=run["id"])
        assert info.value.code == ErrorCode.FORBIDDEN, op
    assert (await alice.call("get_run", id=run["id"]))["run"]["state"] == "pending"


async def test_commands_in_pyproject_are_read_when_there_is_no_letswork_toml(
    hub: HubFixture,
) -> None:
    table = py_command("check", "print(1)", approval='"auto"').replace(
        "[commands.check]", "[tool.letswork.commands.check]"
    )
    (hub.project / "pyproject.toml").write_text("[project]\nname = 'x'\n\n" + table)
    alice = await hub.guest("alice")
    listed = await alice.call("list_commands")
    assert listed["source"] == "pyproject.toml"
    assert [c["name"] for c in listed["commands"]] == ["check"]
    run = (await alice.call("run_command", name="check"))["run"]
    assert (await run_ended(alice, run["id"]))["exit_code"] == 0


async def test_stopping_the_hub_kills_every_runs_group(project: Path) -> None:
    from tests.support.hubs import running_hub

    code = "import os, time; print(os.getpgid(0), flush=True); time.sleep(300)"
    write_commands(project, py_command("hang", code, approval='"auto"'))
    async with running_hub(project) as fx:
        host = await fx.host()
        run = (await host.call("run_command", name="hang"))["run"]
        await host.wait_event(
            "run_updated", lambda d: d["run"]["id"] == run["id"] and d["run"]["output_bytes"] > 0
        )
        pgid = int((await host.call("get_run", id=run["id"]))["output"])
        members = live_members(pgid)
        assert members
    # SIGKILL is sent as the hub stops; the kernel ends the process a moment later.
    await asyncio.wait_for(dead(members), 30)
    assert live_members(pgid) == []


async def dead(pids: list[int]) -> None:
    """Wait (on pidfds, Linux) until each of ``pids`` has ended."""
    loop = asyncio.get_running_loop()
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        ended = loop.create_future()
        loop.add_reader(fd, lambda f=ended: f.done() or f.set_result(None))
        try:
            await ended
        finally:
            loop.remove_reader(fd)
            os.close(fd)


async def test_a_wildcard_never_makes_an_option_an_argument_file_or_an_outside_path(
    hub: HubFixture,
) -> None:
    """``*.py`` is meant for test files: it must not let ``--basetemp=/home/x.py`` (pytest
    empties its basetemp), ``@args.py`` (an argument file) or ``/elsewhere/x.py`` through;
    ``--junitxml=*`` must not write outside the project."""
    write_commands(
        hub.project,
        py_command("t", "pass", args='["*.py", "--junitxml=*", "-k*"]', approval='"auto"'),
    )
    alice = await hub.guest("alice")
    for bad in [
        "--basetemp=/home/someone/work.py",
        "-p.py",
        "@args.py",
        "+x.py",
        "/etc/x.py",
        "~/x.py",
        "--junitxml=/home/someone/.bashrc",
        "--junitxml=~/.profile",
        "a.py=/etc/b.py",
    ]:
        with pytest.raises(OpError) as info:
            await alice.call("run_command", name="t", args=[bad])
        assert info.value.code == ErrorCode.INVALID, bad
    assert (await alice.call("list_runs"))["runs"] == []
    run = (
        await alice.call(
            "run_command", name="t", args=["tests/a.py", "--junitxml=out/r.xml", "-kfast"]
        )
    )["run"]
    assert run["argv"][-3:] == ["tests/a.py", "--junitxml=out/r.xml", "-kfast"]


async def test_a_commands_file_with_a_huge_name_or_key_still_answers_with_its_problem(
    hub: HubFixture,
) -> None:
    """A hostile file in the project (a cloned repository's letswork.toml): the problem text
    quoted a command's name or an unknown key whole, past what a reply may carry."""
    alice = await hub.guest("alice")
    host = await hub.host()
    for body in [
        f'[commands."{"a" * 5000}"]\nrun = ["x"]\n',
        f'[commands.t]\nrun = ["x"]\n"{"b" * 5000}" = 1\n',
    ]:
        write_commands(hub.project, body)
        for peer in (alice, host):
            listed = await peer.call("list_commands")
            assert listed["commands"] == [] and listed["problem"]
        with pytest.raises(OpError) as info:
            await alice.call("run_command", name="t")
        assert info.value.code == ErrorCode.INVALID


async def test_a_pyproject_nested_past_the_parsers_depth_gives_a_problem_not_an_error(
    hub: HubFixture,
) -> None:
    """A hostile pyproject.toml in the project (arrays nested 50,000 deep): tomllib recurses
    and raises RecursionError, which is not a TOMLDecodeError."""
    (hub.project / "pyproject.toml").write_bytes(b"x = " + b"[" * 50_000)
    alice = await hub.guest("alice")
    listed = await alice.call("list_commands")
    assert listed["commands"] == [] and "not valid TOML" in listed["problem"]


async def test_no_sigkill_to_a_cancelled_runs_group_is_left_pending_once_it_ended(
    hub: HubFixture,
) -> None:
    """Cancel sends SIGTERM and schedules SIGKILL for 2 s later; a run that ended on the
    SIGTERM must not keep that SIGKILL (nor one per repeated cancel) aimed at a group id the
    system may give to another process group by then."""
    code = "import time; print('up', flush=True); time.sleep(300)"
    write_commands(hub.project, py_command("hang", code, approval='"auto"'))
    alice = await hub.guest("alice")
    run = (await alice.call("run_command", name="hang"))["run"]
    await alice.wait_event(
        "run_updated", lambda d: d["run"]["id"] == run["id"] and d["run"]["output_bytes"] > 0
    )
    await alice.call("cancel_run", id=run["id"])
    with contextlib.suppress(OpError):  # already ended, or a second SIGTERM
        await alice.call("cancel_run", id=run["id"])
    ended = await run_ended(alice, run["id"])
    assert ended["state"] == "cancelled"
    core = hub.hub.core  # type: ignore[union-attr]
    assert core is not None
    kept = core.runs.get(run["id"])
    assert kept.kill_timer is None
