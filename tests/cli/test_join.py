"""`letswork join` and `letswork doctor` as a guest runs them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from letswork.shared import invite
from tests.support.hubs import make_project
from tests.support.processes import hub_process, spawn

FAKE_CLAUDE = """#!/bin/sh
# A stand-in for Claude Code's CLI: records its argv, one line per call.
printf '%s\\n' "$*" >> "$FAKE_CLAUDE_LOG"
exit 0
"""


def letswork(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "letswork", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture
def fake_claude(tmp_path: Path) -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    claude = bin_dir / "claude"
    claude.write_text(FAKE_CLAUDE, encoding="utf-8")
    claude.chmod(0o755)
    log = tmp_path / "claude.log"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_CLAUDE_LOG": str(log)}
    return env, log


def _typo(code: str) -> str:
    i = 2 if code[2] != "0" else 3
    return code[:i] + ("0" if code[i] != "0" else "1") + code[i + 1 :]


def test_a_mistyped_code_fails_before_connecting_and_names_the_problem() -> None:
    code = invite.generate("ws://127.0.0.1:9").format()  # nothing listens on port 9
    out = letswork("join", _typo(code), "--no-launch")
    assert out.returncode == 2
    assert "mistyped" in out.stderr
    assert "cannot reach" not in out.stderr
    assert "Traceback" not in out.stderr


def test_join_registers_a_channel_command_without_the_invite_and_a_0600_session(
    project: Path, fake_claude: tuple[dict[str, str], Path], state_dir: Path
) -> None:
    env, log = fake_claude
    with hub_process(project, "--auto-admit") as hp:
        out = letswork("join", hp.code, "--no-launch", "--name", "alice", env=env)
        assert out.returncode == 0, out.stderr
    calls = log.read_text().splitlines()
    add = next(c for c in calls if c.startswith("mcp add"))
    assert add.startswith("mcp add -s local letswork -- ")
    assert add.endswith("channel --session letswork")
    secret_hex = invite.parse(hp.code).secret.hex()
    assert hp.code not in add
    assert hp.code.split("@")[0] not in add
    assert secret_hex not in add
    session = state_dir / "sessions" / "letswork.json"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    stored = json.loads(session.read_text())
    assert stored["invite_secret"] == secret_hex
    assert stored["resume_secret"]  # admitted: the resume credential was stored


def test_join_with_toolsets_registers_the_channel_with_that_choice(
    project: Path, fake_claude: tuple[dict[str, str], Path]
) -> None:
    env, log = fake_claude
    with hub_process(project, "--auto-admit") as hp:
        args = [
            "join",
            hp.code,
            "--no-launch",
            "--name",
            "alice",
            "--toolsets",
            " Default, commands",
        ]
        out = letswork(*args, env=env)
        assert out.returncode == 0, out.stderr
    add = next(c for c in log.read_text().splitlines() if c.startswith("mcp add"))
    assert add.endswith("channel --session letswork --toolsets default,commands")


def test_join_refuses_an_unknown_toolset_before_connecting_and_lists_the_sets() -> None:
    code = invite.generate("ws://127.0.0.1:9").format()  # nothing listens on port 9
    out = letswork("join", code, "--no-launch", "--toolsets", "default,chat")
    assert out.returncode == 2
    assert "unknown toolset 'chat'" in out.stderr
    assert "commands" in out.stderr and "collaboration" in out.stderr
    assert "cannot reach" not in out.stderr


@pytest.mark.parametrize(
    "value",
    ["--print-config", "-x", "default,--help", "default=all", "default\x1b[2Jcommands", "a" * 5000],
)
def test_join_refuses_a_toolsets_value_that_is_no_set_name_before_connecting(value: str) -> None:
    # Nothing but set names ever reaches `claude mcp add ... -- letswork channel --toolsets`.
    code = invite.generate("ws://127.0.0.1:9").format()  # nothing listens on port 9
    out = letswork("join", code, "--no-launch", "--toolsets", value)
    assert out.returncode == 2, out.stderr
    assert "unknown toolset" in out.stderr and "cannot reach" not in out.stderr
    assert "\x1b[2J" not in out.stderr and len(out.stderr) < 400


def test_a_toolsets_value_is_written_as_lower_case_set_names_joined_by_commas() -> None:
    from letswork.cli.join import channel_command, mcp_json, toolsets_arg

    sets = toolsets_arg(
        "ALL\u3000commands,\x1c files"
    )  # any whitespace separates, as in the channel
    assert sets == "all,commands,files"
    assert channel_command("s", sets)[-4:] == ["--session", "s", "--toolsets", sets]
    assert json.loads(mcp_json("s", sets))["mcpServers"]["letswork"]["args"][-2:] == [
        "--toolsets",
        sets,
    ]


def test_join_help_explains_toolsets() -> None:
    out = letswork("join", "--help")
    assert out.returncode == 0
    assert "--toolsets SETS" in out.stdout
    assert "default,commands" in out.stdout


def test_join_without_claude_prints_the_mcp_json(project: Path, tmp_path: Path) -> None:
    with hub_process(project, "--auto-admit") as hp:
        out = letswork("join", hp.code, "--name", "bob", env={"PATH": str(tmp_path)})
        assert out.returncode == 0, out.stderr
    config = json.loads(out.stdout)
    server = config["mcpServers"]["letswork"]
    assert server["args"][-3:] == ["channel", "--session", "letswork"]
    assert hp.code not in out.stdout


def test_join_waits_for_admission_until_the_host_admits(project: Path) -> None:
    with hub_process(project) as hp:
        joiner = spawn(["join", hp.code, "--name", "carol", "--print-config"])
        try:
            assert joiner.wait_stderr("waiting for the host", timeout=30), "".join(
                joiner.stderr_lines
            )
            admitted = letswork("admit", "carol", "--project", str(project))
            assert admitted.returncode == 0, admitted.stderr
            assert joiner.proc.wait(timeout=30) == 0, "".join(joiner.stderr_lines)
        finally:
            joiner.close()


def test_doctor_reports_a_running_hub(project: Path) -> None:
    with hub_process(project):
        out = letswork("doctor", "--project", str(project))
    assert out.returncode == 0, out.stdout
    assert "hub running for" in out.stdout


def test_join_says_the_host_refused_and_exits_when_the_host_denies(project: Path) -> None:
    with hub_process(project) as hp:
        joiner = spawn(["join", hp.code, "--name", "mallory", "--print-config"])
        try:
            assert joiner.wait_stderr("waiting for the host", timeout=30), "".join(
                joiner.stderr_lines
            )
            denied = letswork("deny", "mallory", "--project", str(project))
            assert denied.returncode == 0, denied.stderr
            assert joiner.proc.wait(timeout=30) == 1, "".join(joiner.stderr_lines)
            again = letswork("join", hp.code, "--name", "mallory-2", "--print-config")
        finally:
            joiner.close()
    said = "".join(joiner.stderr_lines)
    assert "the host refused to admit you" in said
    assert "Traceback" not in said
    assert again.returncode == 1
    assert "turned this invite away" in again.stderr
    assert "Traceback" not in again.stderr
