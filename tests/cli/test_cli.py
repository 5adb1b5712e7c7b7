"""The CLI as a user runs it: real subprocesses of `letswork start` and the admin commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from letswork.cli import main
from letswork.client.connection import HubConnection
from letswork.shared import invite
from tests.support.hubs import make_project
from tests.support.processes import hub_process


def letswork(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "letswork", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


ADMIN = [
    ["status"],
    ["pending"],
    ["diff", "abcd"],
    ["approve", "abcd"],
    ["reject", "abcd"],
    ["invite"],
    ["invites"],
    ["revoke", "first"],
    ["kick", "alice"],
    ["admit", "alice"],
    ["deny", "alice"],
    ["trust", "alice"],
    ["untrust", "alice"],
    ["stop"],
]


@pytest.mark.parametrize("argv", ADMIN, ids=lambda a: a[0])
def test_admin_commands_without_a_running_hub_say_so_clearly(
    project: Path, argv: list[str]
) -> None:
    out = CliRunner().invoke(main, [*argv, "--project", str(project)])
    assert out.exit_code == 2
    assert "no hub is running for" in out.stderr
    assert "letswork start" in out.stderr
    assert out.exception is None or isinstance(out.exception, SystemExit)


@pytest.mark.parametrize("argv", ADMIN, ids=lambda a: a[0])
def test_every_admin_command_has_help(argv: list[str]) -> None:
    out = CliRunner().invoke(main, [argv[0], "--help"])
    assert out.exit_code == 0
    assert "--project" in out.stdout


def test_start_help_says_the_first_invite_has_no_use_limit() -> None:
    # The first invite admits any number (max_uses None): help, README and the dashboard's box
    # say so instead of "send this line to one person".
    out = CliRunner().invoke(main, ["start", "--help"])
    assert out.exit_code == 0
    said = " ".join(out.stdout.split())
    assert "That first invite has no use limit" in said
    assert "letswork revoke first" in said and "letswork invite" in said


def test_start_in_a_missing_folder_fails_clearly(tmp_path: Path) -> None:
    out = letswork("start", str(tmp_path / "nope"), "--no-ui", "--tunnel", "none")
    assert out.returncode == 2
    assert "does not exist" in out.stderr


def test_a_second_start_in_the_same_folder_fails_clearly(project: Path) -> None:
    with hub_process(project) as hp:
        out = letswork("start", str(project), "--no-ui", "--tunnel", "none")
        assert out.returncode == 2
        assert "already running" in out.stderr
        assert hp.proc.poll() is None  # the first hub is untouched


def test_start_on_a_port_in_use_fails_clearly(project: Path, tmp_path: Path) -> None:
    with hub_process(project) as hp:
        port = invite.parse(hp.code).url.rsplit(":", 1)[1].strip("/")
        other = make_project(tmp_path / "other")
        out = letswork("start", str(other), "--no-ui", "--tunnel", "none", "--port", port)
        assert out.returncode == 2
        assert f"port {port}" in out.stderr
        assert "in use" in out.stderr


async def test_pending_json_lists_a_proposal_and_approve_applies_it(project: Path) -> None:
    with hub_process(project, "--auto-admit") as hp:
        inv = invite.parse(hp.code)
        guest = HubConnection(inv.url, inv.secret, name="alice")
        await guest.connect()
        await guest.request("write_file", {"path": "notes.txt", "content": "from alice\n"})
        listed = letswork("pending", "--json", "--project", str(project))
        assert listed.returncode == 0, listed.stderr
        [change] = json.loads(listed.stdout)
        assert change["author"] == "alice"
        assert "+from alice" in change["diff"]
        reviewed = change["proposal_sha256"]
        approved = letswork(
            "approve", change["id"], "--proposal", reviewed, "--project", str(project)
        )
        assert approved.returncode == 0, approved.stderr
        assert (project / "notes.txt").read_text() == "from alice\n"
        await guest.close()
        assert hp.terminate(timeout=10) == 0


async def test_pending_names_the_reason_a_change_to_a_sensitive_path_waits(project: Path) -> None:
    with hub_process(project, "--auto-admit") as hp:
        inv = invite.parse(hp.code)
        guest = HubConnection(inv.url, inv.secret, name="alice")
        await guest.connect()
        await guest.request("write_file", {"path": "sub/.gitignore", "content": "!secret\n"})
        await guest.request("write_file", {"path": "notes.txt", "content": "plain\n"})
        listed = letswork("pending", "--project", str(project))
        assert listed.returncode == 0, listed.stderr
        _header, sensitive, plain = listed.stdout.splitlines()
        assert "sub/.gitignore" in sensitive
        assert "[sensitive: .gitignore: an ignore file: it decides which files guests" in sensitive
        assert "notes.txt" in plain and "sensitive" not in plain
        await guest.close()
        assert hp.terminate(timeout=10) == 0


async def test_a_waiting_guest_is_admitted_by_the_admit_command_and_not_asked_again(
    project: Path,
) -> None:
    resume: list[bytes] = []
    with hub_process(project) as hp:
        inv = invite.parse(hp.code)
        guest = HubConnection(inv.url, inv.secret, name="alice", on_resume_secret=resume.append)
        hello = await guest.connect()
        assert hello["state"] == "awaiting_admission"
        out = letswork("admit", "alice", "--project", str(project))
        assert out.returncode == 0, out.stderr
        await guest.wait_admitted(timeout=10)
        assert guest.state == "connected"
        await guest.close()
        assert hp.terminate() == 0
    [secret] = resume
    with hub_process(project) as hp:
        again = HubConnection(inv.url, secret, name="alice")  # same port: it is remembered
        hello = await again.connect()
        assert hello["state"] == "admitted"
        await again.close()


def test_sigterm_stops_start_with_exit_code_0(project: Path) -> None:
    with hub_process(project) as hp:
        assert hp.terminate(timeout=10) == 0
    assert "Traceback" not in "".join(hp.stderr_lines)


def test_stop_command_stops_the_hub(project: Path) -> None:
    with hub_process(project) as hp:
        out = letswork("stop", "--project", str(project))
        assert out.returncode == 0, out.stderr
        assert hp.proc.wait(timeout=10) == 0


def test_invite_and_revoke_commands_manage_invites(project: Path) -> None:
    with hub_process(project) as hp:
        made = letswork("invite", "--role", "viewer", "--label", "bob", "--project", str(project))
        assert made.returncode == 0, made.stderr
        code = made.stdout.strip().removeprefix("letswork join ")
        invite.parse(code)  # a valid code
        revoked = letswork("revoke", "bob", "--project", str(project))
        assert revoked.returncode == 0, revoked.stderr
        listed = letswork("invites", "--json", "--project", str(project))
        by_label = {i["label"]: i for i in json.loads(listed.stdout)}
        assert by_label["bob"]["revoked"] is True
        assert by_label["first"]["revoked"] is False
        assert hp.terminate() == 0


def test_python_dash_m_letswork_and_the_console_script_agree() -> None:
    out = letswork("--version")
    assert out.returncode == 0
    assert "letswork" in out.stdout
    assert os.path.basename(sys.executable)


def _children(pid: int) -> set[int]:
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        kids.update(int(k) for k in text)
    return kids


async def test_start_then_an_mcp_guest_proposes_and_the_cli_approves_on_a_real_tree(
    tmp_path: Path,
) -> None:
    """The issue-5 walk-through as subprocesses: `letswork start` on a copy of click's sources,
    a real MCP client driving `letswork channel` with the printed invite, `letswork pending
    --json`, `letswork approve`, then SIGTERM: exit 0, no child left."""
    import click as click_pkg

    from tests.channel.mcp_support import mcp_channel
    from tests.support.hubs import copy_tree

    project = copy_tree(Path(click_pkg.__file__).parent, tmp_path / "click-src")
    with hub_process(project, "--auto-admit") as hp:
        async with mcp_channel("--name", "alice", invite_code=hp.code) as guest:
            answer = await guest.ok(
                "write_file", {"path": "NOTES.md", "content": "# proposed by alice\n"}
            )
            assert "pending" in answer
            listed = letswork("pending", "--json", "--project", str(project))
            assert listed.returncode == 0, listed.stderr
            [change] = json.loads(listed.stdout)
            assert change["author"] == "alice"
            assert change["path"] == "NOTES.md"
            approved = letswork("approve", change["id"], "--project", str(project))
            assert approved.returncode == 0, approved.stderr
            assert (project / "NOTES.md").read_text() == "# proposed by alice\n"
        children = _children(hp.pid)
        assert hp.terminate(timeout=10) == 0
    alive = [c for c in children if Path(f"/proc/{c}").exists()]
    assert alive == []
