"""Registering the host's Claude Code, against a stand-in `claude` script on PATH."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from letswork.ui.claude import LEGACY_SERVER_NAMES, SERVER_NAME, register_host_assistant

FAKE_CLAUDE = """#!{python}
import json, os, sys
with open({log!r}, "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd()}}) + "\\n")
if sys.argv[1:3] == ["mcp", "remove"]:
    print("No local MCP server found", file=sys.stderr)
    sys.exit(1)
sys.exit({add_exit})
"""


def fake_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, add_exit: int = 0) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "claude.log"
    script = bin_dir / "claude"
    script.write_text(FAKE_CLAUDE.format(python=sys.executable, log=str(log), add_exit=add_exit))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return log


def calls(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_register_host_assistant_replaces_the_local_and_legacy_entries_from_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_claude(tmp_path, monkeypatch)
    project = tmp_path / "my project"
    project.mkdir()

    message = register_host_assistant(project)

    assert message is not None and SERVER_NAME in message
    *removes, add = calls(log)
    assert [r["argv"] for r in removes] == [
        ["mcp", "remove", "-s", "local", name] for name in (*LEGACY_SERVER_NAMES, SERVER_NAME)
    ]
    argv = add["argv"]
    assert isinstance(argv, list)
    assert argv[:6] == ["mcp", "add", "-s", "local", SERVER_NAME, "--"]
    assert argv[-4:] == ["channel", "--host", "--project", str(project.resolve())]
    assert {r["cwd"] for r in [*removes, add]} == {str(project.resolve())}


def test_register_host_assistant_reports_a_failing_claude(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_claude(tmp_path, monkeypatch, add_exit=3)
    message = register_host_assistant(tmp_path)
    assert message is not None
    assert message.startswith("Could not register Claude Code") and "exited 3" in message


def test_register_host_assistant_is_none_without_claude(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert register_host_assistant(tmp_path) is None
