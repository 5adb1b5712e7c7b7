"""Platforms: the guest side (join, channel) runs without ``fcntl`` or POSIX signals, as on
native Windows; the host side refuses other platforms at once and says which it runs on."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import TextContent

from letswork.local import platforms
from tests.channel.mcp_support import ROOT, WAIT, coverage_env, invite_code
from tests.support.hubs import make_project, running_hub

NO_POSIX = ROOT / "tests" / "support" / "no_posix.py"

FAKE_CLAUDE = """#!/bin/sh
# A stand-in for Claude Code's CLI: records its argv; knows no plugin.
printf '%s\\n' "$*" >> "$FAKE_CLAUDE_LOG"
exit 0
"""


def _fake_claude(tmp_path: Path) -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    claude = bin_dir / "claude"
    claude.write_text(FAKE_CLAUDE, encoding="utf-8")
    claude.chmod(0o755)
    log = tmp_path / "claude.log"
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_CLAUDE_LOG": str(log)}, log


async def test_join_and_the_channel_work_without_fcntl_or_posix_signals(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    blocked = tmp_path / "blocked.log"
    claude_env, claude_log = _fake_claude(tmp_path)
    env = {**os.environ, **claude_env, "PYTHONPATH": str(ROOT)}
    env.pop("LETSWORK_INVITE", None)
    async with running_hub(project) as hub:
        code = await invite_code(hub, "editor", "wendy")
        join = await asyncio.create_subprocess_exec(
            sys.executable, str(NO_POSIX), str(blocked), "join", code, "--no-launch",
            "--name", "wendy",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )  # fmt: skip
        _out, err = await asyncio.wait_for(join.communicate(), WAIT)
        assert join.returncode == 0, err.decode()
        assert "mcp add -s local letswork" in claude_log.read_text()

        params = StdioServerParameters(
            command=sys.executable,
            args=[str(NO_POSIX), str(blocked), "channel", "--session", "letswork"],
            env={
                "LETSWORK_STATE_DIR": os.environ["LETSWORK_STATE_DIR"],
                "PYTHONPATH": str(ROOT),
                **coverage_env(),
            },
            cwd=ROOT,
        )
        with open(tmp_path / "channel-stderr.log", "a", encoding="utf-8") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await asyncio.wait_for(session.initialize(), WAIT)
                result = await asyncio.wait_for(
                    session.call_tool("read_file", {"path": "notes.txt"}), WAIT
                )
    assert not result.is_error
    text = result.content[0]
    assert isinstance(text, TextContent) and "beta" in text.text
    # The simulation was in force: the channel's stdio transport looked for fcntl, was told
    # there is none, and served through the SDK's own transport.
    assert "import fcntl letswork.channel.stdio" in blocked.read_text().splitlines()


@pytest.mark.parametrize(
    "args",
    [
        ["start", "{project}", "--no-ui", "--tunnel", "none"],
        ["channel", "--host", "--project", "{project}"],
    ],
    ids=["start", "channel-host"],
)
def test_the_host_side_on_native_windows_stops_before_creating_anything_and_names_wsl(
    tmp_path: Path, state_dir: Path, args: list[str]
) -> None:
    project = make_project(tmp_path / "project")
    argv = [a.format(project=project) for a in args]
    boot = (
        "import sys, types\n"
        "from letswork.cli import main\n"
        "from letswork.local import platforms\n"
        "# only the platform check sees Windows: the rest of Python stays on this OS\n"
        "platforms.sys = types.SimpleNamespace(platform='win32')\n"
        f"sys.argv = ['letswork', *{argv!r}]\n"
        "main()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", boot],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert out.returncode == 2, out.stderr
    assert "Linux and macOS (on Windows, inside WSL)" in out.stderr
    assert "native Windows" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (state_dir / "projects").exists()


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_linux_and_macos_may_host(platform: str) -> None:
    assert platforms.host_unsupported_reason(platform) is None


@pytest.mark.parametrize("platform", ["win32", "cygwin", "freebsd14"])
def test_other_platforms_are_told_where_hosting_runs(platform: str) -> None:
    reason = platforms.host_unsupported_reason(platform)
    assert reason is not None and platforms.HOST_PLATFORMS in reason


def test_the_case_probe_of_an_empty_case_sensitive_folder_says_so_and_leaves_it_empty(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (tmp_path / "Probe.txt").write_text("x", encoding="utf-8")
    if (tmp_path / "pROBE.TXT").exists():
        pytest.skip("this test's folder is on a case-folding file system")
    assert platforms.folds_case(folder) is False
    assert list(folder.iterdir()) == []


def test_the_case_probe_answers_for_the_folder_itself_not_its_name_in_the_parent(
    tmp_path: Path,
) -> None:
    # The parent tells Proj and pROJ apart; inside Proj every name also answers to its
    # swapped spelling (a hard link stands in for a folding volume mounted there).
    project = tmp_path / "Proj"
    project.mkdir()
    (tmp_path / "pROJ").mkdir()
    (project / "notes.txt").write_text("x", encoding="utf-8")
    os.link(project / "notes.txt", project / "NOTES.TXT")
    assert platforms.folds_case(project) is True
    assert platforms.folds_case(tmp_path) is False
