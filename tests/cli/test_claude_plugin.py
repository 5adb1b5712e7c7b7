"""letswork's Claude Code plugin: valid in Claude Code's own validator, its skill and commands
name tools that exist, and installing it beside ``letswork join`` leaves one channel."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import TextContent

import letswork
from letswork.channel import config, folders, sessions
from letswork.channel.tools.catalogue import TOOLS
from letswork.ui import claude_plugin
from tests.channel.mcp_support import ROOT, WAIT, coverage_env, invite_code
from tests.support.hubs import make_project, running_hub
from tests.support.processes import hub_process

MANIFEST = ROOT / ".claude-plugin" / "plugin.json"
MARKETPLACE = ROOT / ".claude-plugin" / "marketplace.json"

#: A stand-in for Claude Code's CLI: records its argv; ``plugin list --json`` prints the
#: file FAKE_CLAUDE_PLUGINS names (what Claude Code 2.1 prints with the plugin installed).
FAKE_CLAUDE = """#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_CLAUDE_LOG"
if [ "$1 $2 $3" = "plugin list --json" ]; then cat "$FAKE_CLAUDE_PLUGINS"; fi
exit 0
"""


def _manifest() -> dict[str, object]:
    data = json.loads(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _frontmatter(path: Path) -> tuple[dict[str, str], str]:
    """The ``key: value`` lines between the leading ``---`` fences, and the body."""
    text = path.read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n(.*)", text, re.S)
    assert match, f"{path} has no frontmatter"
    fields = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        assert sep and re.fullmatch(r"[a-z-]+", key), f"{path}: not a key: value line: {line!r}"
        fields[key] = value.strip()
    return fields, match.group(2)


def _component_dir(key: str) -> Path:
    value = _manifest()[key]
    assert isinstance(value, str)
    return (ROOT / value).resolve()


@pytest.mark.skipif(shutil.which("claude") is None, reason="Claude Code is not installed")
@pytest.mark.parametrize("path", [ROOT, MARKETPLACE], ids=["plugin", "marketplace"])
def test_claude_code_validates_the_plugin_and_its_marketplace_strictly(
    path: Path, tmp_path: Path
) -> None:
    out = subprocess.run(
        ["claude", "plugin", "validate", "--strict", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "CLAUDE_CONFIG_DIR": str(tmp_path)},
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_plugin_declares_the_channel_under_the_readme_name_at_the_package_version() -> None:
    manifest = _manifest()
    assert manifest["name"] == "letswork"
    assert manifest["version"] == letswork.__version__
    servers = manifest["mcpServers"]
    assert isinstance(servers, dict)
    # The skill coordinates on the board and by messages: the collaboration set is on.
    assert servers == {
        "letswork": {
            "command": "letswork",
            "args": ["channel", "--plugin", "--toolsets", "default,collaboration"],
        }
    }
    assert claude_plugin.runs_channel(servers["letswork"])
    market = json.loads(MARKETPLACE.read_text(encoding="utf-8"))
    assert [(p["name"], p["source"]) for p in market["plugins"]] == [("letswork", "./")]


def test_the_skill_and_commands_have_what_claude_code_reads_and_name_only_real_tools() -> None:
    skills = _component_dir("skills")
    commands = _component_dir("commands")
    skill_files = sorted(skills.glob("*/SKILL.md"))
    assert [p.parent.name for p in skill_files] == ["letswork"]
    command_files = sorted(commands.glob("*.md"))
    assert [p.stem for p in command_files] == ["pending", "status"]
    named: set[str] = set()
    for path in [*skill_files, *command_files]:
        fields, body = _frontmatter(path)
        assert 20 <= len(fields.get("description", "")) <= 1024, path
        if path.name == "SKILL.md":
            assert fields["name"] == path.parent.name
            assert re.fullmatch(r"[a-z0-9-]{1,64}", fields["name"])
        named |= set(re.findall(r"`([a-z]+_[a-z_]+|board|[a-z]+)`", body))
    tools = set(TOOLS.keys()) | {spec.listed_as for spec in TOOLS.values() if spec.listed_as}
    mentioned = {n for n in named if "_" in n or n == "board"}
    assert mentioned - {"base_sha256"} <= tools, sorted(mentioned - tools)
    skill_text = skill_files[0].read_text(encoding="utf-8")
    for needed in ("base_sha256", "get_notifications", "board", "read_file", "edit_file"):
        assert f"`{needed}`" in skill_text
    status = (commands / "status.md").read_text(encoding="utf-8")
    pending = (commands / "pending.md").read_text(encoding="utf-8")
    assert "`get_status`" in status
    assert "`get_pending_changes`" in pending and "`my_pending_changes`" in pending


def _plugin_list(installed: bool) -> str:
    if not installed:
        return "[]"
    manifest = _manifest()
    return json.dumps(
        [
            {
                "id": "letswork@letswork",
                "version": manifest["version"],
                "scope": "user",
                "enabled": True,
                "mcpServers": manifest["mcpServers"],
            }
        ]
    )


async def _join(
    tmp_path: Path,
    folder: Path,
    code: str,
    *,
    plugin: bool,
    name: str = "pat",
    extra: tuple[str, ...] = (),
    said: list[str] | None = None,
) -> list[str]:
    """Run ``letswork join`` with a stand-in ``claude``: its calls, one line each (``said``
    gets join's stderr)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    claude = bin_dir / "claude"
    claude.write_text(FAKE_CLAUDE, encoding="utf-8")
    claude.chmod(0o755)
    listed = tmp_path / "plugins.json"
    listed.write_text(_plugin_list(plugin), encoding="utf-8")
    log = tmp_path / "claude.log"
    log.unlink(missing_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if k != "LETSWORK_INVITE"},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_CLAUDE_LOG": str(log),
        "FAKE_CLAUDE_PLUGINS": str(listed),
        "PYTHONPATH": str(ROOT),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "letswork", "join", code, "--no-launch", "--name", name, *extra,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=folder,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 0, err.decode()
    if said is not None:
        said.append(err.decode())
    return log.read_text(encoding="utf-8").splitlines()


async def test_join_with_the_plugin_installed_registers_nothing_and_the_plugin_channel_serves(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    async with running_hub(project) as hub:
        # Two sessions stored, so the plugin's channel can only find the right one through
        # the folder join ran in.
        other = await invite_code(hub, "viewer", "other")
        await _join(tmp_path, tmp_path, other, plugin=False, name="olga")
        calls = await _join(tmp_path, work, await invite_code(hub, "editor", "pat"), plugin=True)
        assert "plugin list --json" in calls
        assert not [c for c in calls if c.startswith("mcp add")]
        assert "mcp remove -s local letswork" in calls  # what an earlier join added here
        bound = folders.session_for_folder(work / "sub")
        assert bound is not None and bound != folders.session_for_folder(tmp_path)

        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "letswork", "channel", "--plugin"],
            env={
                "LETSWORK_STATE_DIR": os.environ["LETSWORK_STATE_DIR"],
                "PYTHONPATH": str(ROOT),
                **coverage_env(),
            },
            cwd=work / "sub",
        )
        with open(tmp_path / "channel-stderr.log", "a", encoding="utf-8") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await asyncio.wait_for(session.initialize(), WAIT)
                result = await asyncio.wait_for(session.call_tool("get_status", {}), WAIT)
    assert not result.is_error
    text = result.content[0]
    assert isinstance(text, TextContent)
    assert "pat" in text.text and "editor" in text.text


async def test_join_with_the_plugin_says_its_toolsets_choice_is_not_applied(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    said: list[str] = []
    async with running_hub(project) as hub:
        code = await invite_code(hub, "editor", "pat")
        extra = ("--toolsets", "default,commands")
        calls = await _join(tmp_path, tmp_path, code, plugin=True, extra=extra, said=said)
    assert not [c for c in calls if c.startswith("mcp add")]
    assert "--toolsets default,commands is not applied" in said[0]


async def test_join_without_the_plugin_registers_the_channel_once(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        calls = await _join(
            tmp_path, tmp_path, await invite_code(hub, "editor", "pat"), plugin=False
        )
    assert len([c for c in calls if c.startswith("mcp add -s local letswork -- ")]) == 1


async def test_the_plugin_channel_in_a_shared_folder_is_the_hosts(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project):
        resolved = config.resolve(plugin=True, folder=project, environ={})
    assert resolved.host and resolved.project == project.resolve()


async def test_the_plugin_channel_in_a_shared_folder_is_the_hosts_under_a_joined_folder(
    tmp_path: Path,
) -> None:
    # A guest session joined from a folder above the shared one (say the home folder) must
    # not take the host's own project, or its subfolders, over: the nearest of the two wins.
    project = make_project(tmp_path / "project")
    sessions.save_session(
        "friend", sessions.SessionRecord(url="ws://127.0.0.1:9/", invite_secret=b"s" * 32)
    )
    folders.bind_folder(tmp_path, "friend")
    async with running_hub(project):
        at_root = config.resolve(plugin=True, folder=project, environ={})
        below = config.resolve(plugin=True, folder=project / "src", environ={})
        beside = config.resolve(plugin=True, folder=tmp_path, environ={})
    assert at_root.host and at_root.project == project.resolve()
    assert below.host and below.project == project.resolve()
    assert beside.session == "friend"


async def test_a_folder_joined_inside_a_shared_folder_keeps_its_session(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    sessions.save_session(
        "friend", sessions.SessionRecord(url="ws://127.0.0.1:9/", invite_secret=b"s" * 32)
    )
    folders.bind_folder(project / "src", "friend")
    async with running_hub(project):
        inside = config.resolve(plugin=True, folder=project / "src", environ={})
    assert inside.session == "friend" and not inside.host


def test_the_plugin_channel_with_nothing_joined_says_to_join(tmp_path: Path) -> None:
    with pytest.raises(letswork.shared.errors.UsageError, match="letswork join"):
        config.resolve(plugin=True, folder=tmp_path, environ={})


def test_a_plugin_that_is_disabled_or_runs_something_else_is_not_the_channel(
    tmp_path: Path,
) -> None:
    script = tmp_path / "claude"
    channel = {"command": "letswork", "args": ["channel"]}
    node = {"command": "node", "args": ["channel.js"]}
    listed = [
        {"id": "off@m", "enabled": False, "mcpServers": {"x": channel}},
        {"id": "other@m", "enabled": True, "mcpServers": {"x": node}},
    ]
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(listed)}\nEOF\n", encoding="utf-8")
    script.chmod(0o755)
    assert claude_plugin.find_plugin(str(script), tmp_path) is None
    listed[1]["mcpServers"] = {
        "ch": {"command": "/opt/bin/letswork", "args": ["channel", "--plugin"]}
    }
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(listed)}\nEOF\n", encoding="utf-8")
    found = claude_plugin.find_plugin(str(script), tmp_path)
    assert found == claude_plugin.Plugin("other@m", "ch")
    assert found.channels_arg == "plugin:other@m"


def _doctor(tmp_path: Path, project: Path, local: dict[str, list[str]]) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "claude").write_text(FAKE_CLAUDE, encoding="utf-8")
    (bin_dir / "claude").chmod(0o755)
    listed = tmp_path / "plugins.json"
    listed.write_text(_plugin_list(True), encoding="utf-8")
    config = tmp_path / "claude-config"
    config.mkdir(exist_ok=True)
    entries = {n: {"type": "stdio", "command": a[0], "args": a[1:]} for n, a in local.items()}
    data = {"projects": {str(project.resolve()): {"mcpServers": entries}}}
    (config / ".claude.json").write_text(json.dumps(data), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "letswork", "doctor", "--project", str(project)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_CLAUDE_LOG": str(tmp_path / "claude.log"),
            "FAKE_CLAUDE_PLUGINS": str(listed),
            "CLAUDE_CONFIG_DIR": str(config),
            "PYTHONPATH": str(ROOT),
        },
        check=False,
    )
    return out.stdout


def test_doctor_counts_the_plugin_as_the_folders_channel(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    assert "starts letswork here once: the plugin letswork@letswork" in _doctor(
        tmp_path, project, {}
    )
    joined = ["letswork", "channel", "--session", "letswork"]
    report = _doctor(tmp_path, project, {"letswork": joined})
    assert "starts letswork 2 times" in report
    assert "keep the plugin's: claude mcp remove -s local letswork" in report


def test_start_with_the_plugin_installed_registers_nothing_even_when_asked(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "claude").write_text(FAKE_CLAUDE, encoding="utf-8")
    (bin_dir / "claude").chmod(0o755)
    listed = tmp_path / "plugins.json"
    listed.write_text(_plugin_list(True), encoding="utf-8")
    config = tmp_path / "claude-config"
    config.mkdir()
    log = tmp_path / "claude.log"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_CLAUDE_LOG": str(log),
        "FAKE_CLAUDE_PLUGINS": str(listed),
        "CLAUDE_CONFIG_DIR": str(config),
    }
    with hub_process(project, "--register-claude", env=env) as hp:
        assert hp.wait_stderr("runs the host's channel in this folder", timeout=60)
        assert hp.terminate() == 0
    calls = log.read_text(encoding="utf-8").splitlines()
    assert "plugin list --json" in calls
    assert not [c for c in calls if c.startswith("mcp add")]
