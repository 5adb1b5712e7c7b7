"""Claude Code and the commands: `start` registers nothing unless asked, `doctor` reports
duplicate registrations and whether pushes can arrive, `join` launches with channels when the
installed Claude Code knows them. A stand-in `claude` on PATH records its calls and answers the
channels probe as a newer (or an older) Claude Code does; its configuration lives in a
CLAUDE_CONFIG_DIR of the test's own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from letswork.ui import claude as cc
from tests.support.hubs import make_project
from tests.support.processes import hub_process

FAKE_CLAUDE = """#!/bin/sh
# A stand-in for Claude Code's CLI: records its argv, answers the channels probe.
printf '%s\\n' "$*" >> "$FAKE_CLAUDE_LOG"
case "$1 $3" in
  "--dangerously-load-development-channels --print")
    if [ "$FAKE_CLAUDE_CHANNELS" = yes ]; then
      echo "Error: Input must be provided either through stdin or as a prompt argument" >&2
    else
      echo "error: unknown option '--dangerously-load-development-channels'" >&2
    fi
    exit 1;;
esac
exit 0
"""


def letswork(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "letswork", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def claude_env(tmp_path: Path, *, channels: bool) -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "claude"
    script.write_text(FAKE_CLAUDE, encoding="utf-8")
    script.chmod(0o755)
    log = tmp_path / "claude.log"
    config = tmp_path / "claude-config"
    config.mkdir(exist_ok=True)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_CLAUDE_LOG": str(log),
        "FAKE_CLAUDE_CHANNELS": "yes" if channels else "no",
        "CLAUDE_CONFIG_DIR": str(config),
    }
    return env, log


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_start_registers_nothing_with_claude_code_and_says_how(
    project: Path, tmp_path: Path
) -> None:
    env, log = claude_env(tmp_path, channels=True)
    with hub_process(project, env=env) as hp:
        assert hp.wait_stderr("claude mcp add -s local letswork --", timeout=30)
        assert hp.terminate() == 0
    assert not [c for c in calls(log) if c.startswith("mcp")]
    hint = next(line for line in hp.stderr_lines if "claude mcp add" in line)
    assert f"channel --host --project {project.resolve()}" in hint
    assert "--register-claude" in hint


def test_start_with_register_claude_registers_once_under_the_readme_name(
    project: Path, tmp_path: Path
) -> None:
    env, log = claude_env(tmp_path, channels=True)
    with hub_process(project, "--register-claude", env=env) as hp:
        assert hp.wait_stderr("Claude Code is set up for this folder", timeout=30)
        assert hp.terminate() == 0
    mcp = [c for c in calls(log) if c.startswith("mcp")]
    assert mcp[:2] == ["mcp remove -s local letswork-host", "mcp remove -s local letswork"]
    assert [c for c in mcp if c.startswith("mcp add")] == [
        "mcp add -s local letswork -- " + " ".join(cc.channel_command(project.resolve()))
    ]


def _register(config: Path, project: Path, servers: dict[str, list[str]]) -> None:
    entries = {
        name: {"type": "stdio", "command": argv[0], "args": argv[1:], "env": {}}
        for name, argv in servers.items()
    }
    data = {"projects": {str(project.resolve()): {"mcpServers": entries}}}
    (config / ".claude.json").write_text(json.dumps(data), encoding="utf-8")


def test_doctor_reports_two_letswork_servers_for_one_folder(project: Path, tmp_path: Path) -> None:
    env, _log = claude_env(tmp_path, channels=True)
    host = ["letswork", "channel", "--host", "--project", str(project.resolve())]
    _register(Path(env["CLAUDE_CONFIG_DIR"]), project, {"letswork-host": host, "letswork": host})
    out = letswork("doctor", "--project", str(project), env=env)
    assert out.returncode == 1, out.stdout
    assert "starts letswork 2 times" in out.stdout
    assert "claude mcp remove -s local letswork-host" in out.stdout


def test_doctor_is_content_with_one_registration(project: Path, tmp_path: Path) -> None:
    env, _log = claude_env(tmp_path, channels=True)
    host = ["letswork", "channel", "--host", "--project", str(project.resolve())]
    _register(Path(env["CLAUDE_CONFIG_DIR"]), project, {"letswork": host})
    out = letswork("doctor", "--project", str(project), env=env)
    assert "starts letswork here once: server 'letswork' (local scope)" in out.stdout
    assert "FIX" not in out.stdout, out.stdout


@pytest.mark.parametrize("channels", [True, False], ids=["channels", "no-channels"])
def test_doctor_says_whether_pushes_can_arrive(
    project: Path, tmp_path: Path, channels: bool
) -> None:
    env, _log = claude_env(tmp_path, channels=channels)
    out = letswork("doctor", "--project", str(project), env=env)
    if channels:
        assert "can receive the channel's pushes" in out.stdout
    else:
        assert "pushes cannot arrive" in out.stdout and "get_notifications" in out.stdout


def test_doctor_explains_local_mode_without_cloudflared(project: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    python_dir = str(Path(sys.executable).parent)
    out = letswork("doctor", "--project", str(project), env={"PATH": f"{empty}:{python_dir}"})
    assert shutil.which("cloudflared", path=f"{empty}:{python_dir}") is None
    assert "local mode" in out.stdout
    assert "brew install cloudflared" in out.stdout
    assert "--bind 0.0.0.0" in out.stdout and "--public-url ws://LAN-IP" in out.stdout
    assert "ssh -N -L PORT:127.0.0.1:PORT" in out.stdout


@pytest.mark.parametrize("channels", [True, False], ids=["channels", "no-channels"])
def test_join_launches_claude_code_with_channels_when_it_knows_them(
    project: Path, tmp_path: Path, channels: bool
) -> None:
    env, log = claude_env(tmp_path, channels=channels)
    with hub_process(project, "--auto-admit") as hp:
        out = letswork("join", hp.code, "--name", "alice", env=env, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
    launched = calls(log)[-1]
    if channels:
        assert launched == "--dangerously-load-development-channels server:letswork"
    else:
        assert launched == ""
        assert "get_notifications" in out.stderr
