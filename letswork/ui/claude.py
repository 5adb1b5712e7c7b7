"""Claude Code and letswork: one registration per folder, made only when asked, and whether the
installed Claude Code can receive the channel's pushes.

- :func:`register_host_assistant` (``letswork start --register-claude``) registers the host's
  channel for the project folder in Claude Code's *local* scope (this user, this folder only),
  under the same name the README and ``letswork join`` use, :data:`SERVER_NAME`::

      claude mcp remove -s local letswork-host      # what older versions added silently
      claude mcp remove -s local letswork           # a stale entry; failure ignored
      claude mcp add -s local letswork -- letswork channel --host --project <PATH>

  All run with the project folder as the working directory, because the local scope is keyed
  by it. Their output is captured, never printed: the dashboard owns the terminal by then.
  The registered command line holds no secret.
- :func:`host_registration_hint`: the line ``start`` prints instead when not asked.
- :func:`find_registrations` reads Claude Code's configuration (``~/.claude.json``, or
  ``$CLAUDE_CONFIG_DIR/.claude.json``, and the folder's ``.mcp.json``) without running
  ``claude``, and lists every MCP server that starts ``letswork channel`` for a folder:
  ``doctor`` reports more than one as duplicates (the assistant would see every tool twice).
- :func:`supports_channels` asks the installed ``claude`` whether it knows
  :data:`CHANNELS_FLAG` (Claude Code hides the flag from ``--help``): ``join`` launches with it
  when it does, and ``doctor`` says whether pushes can arrive.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The name of the MCP server entry in Claude Code, for the host and for guests alike.
SERVER_NAME = "letswork"
#: Names older versions registered (``letswork start`` added ``letswork-host`` unasked).
LEGACY_SERVER_NAMES = ("letswork-host",)
#: How long one ``claude`` command may take.
CLAUDE_TIMEOUT_SECONDS = 30.0
#: The flag that lets Claude Code load a channel server that is not on its allowlist.
CHANNELS_FLAG = "--dangerously-load-development-channels"
#: What follows the flag: our server, by its registered name.
CHANNELS_ARG = f"server:{SERVER_NAME}"
#: The most bytes of Claude Code's configuration file read (it also holds its history).
MAX_CLAUDE_CONFIG_BYTES = 64 * 1024 * 1024
#: The most bytes of a folder's ``.mcp.json`` read: it comes with the project, and a few
#: hundred bytes is usual; 64 MiB of ``[],`` cost 1.6 GB of memory to parse.
MAX_PROJECT_MCP_BYTES = 1024 * 1024


def channel_command(project: Path) -> list[str]:
    """The command Claude Code runs to start the host's channel for ``project``.

    ``letswork`` by name when it is on PATH (a pipx or activated-venv install), otherwise this
    interpreter with ``-m letswork``, so the entry works even when the venv is not activated.
    """
    exe = "letswork" if shutil.which("letswork") else None
    prefix = [exe] if exe else [sys.executable, "-m", "letswork"]
    return [*prefix, "channel", "--host", "--project", str(project)]


def host_registration_hint(project: Path) -> str:
    """The command that registers the host's channel for ``project`` (one line)."""
    args = " ".join(shell_word(a) for a in channel_command(project.resolve()))
    return f"claude mcp add -s local {SERVER_NAME} -- {args}"


def shell_word(word: str) -> str:
    """``word`` as one POSIX shell word: as it is when safe, else in single quotes."""
    safe = all(c.isalnum() or c in "-_./:=@+," for c in word)
    return word if safe and word else "'" + word.replace("'", "'\\''") + "'"


def register_host_assistant(project: Path) -> str | None:
    """Register ``letswork channel --host`` with Claude Code for ``project``, replacing an entry
    of an older version.

    Returns:
        One line for the activity feed (success, or why it failed), or None when ``claude``
        is not on PATH. Never raises for a failing or missing ``claude``.
    """
    claude = shutil.which("claude")
    if claude is None:
        return None
    project = project.resolve()
    try:
        for stale in (*LEGACY_SERVER_NAMES, SERVER_NAME):
            _claude(claude, project, ["mcp", "remove", "-s", "local", stale])
        done = _claude(
            claude,
            project,
            ["mcp", "add", "-s", "local", SERVER_NAME, "--", *channel_command(project)],
        )
    except subprocess.TimeoutExpired:
        return (
            f"Could not register Claude Code: `claude mcp add` did not finish within "
            f"{CLAUDE_TIMEOUT_SECONDS:.0f}s."
        )
    except OSError as exc:
        return f"Could not register Claude Code: cannot run {claude}: {exc.strerror or exc}."
    if done.returncode != 0:
        detail = _first_line(done.stderr) or _first_line(done.stdout)
        why = f": {detail}" if detail else ""
        return f"Could not register Claude Code (`claude mcp add` exited {done.returncode}){why}."
    return (
        f"Claude Code is set up for this folder (MCP server '{SERVER_NAME}'): "
        "run `claude` here to work on the project as the host."
    )


def _claude(claude: str, cwd: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [claude, *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=CLAUDE_TIMEOUT_SECONDS,
        check=False,
    )


def supports_channels(claude: str) -> bool:
    """Whether the ``claude`` at that path accepts :data:`CHANNELS_FLAG`.

    Asked with ``claude FLAG server:letswork --print`` and no input: a Claude Code that knows
    the flag stops at "no input" (no request is made), one that does not says "unknown
    option". False when it cannot be run or does not answer within the timeout.

    It runs in an empty folder of its own: print mode skips Claude Code's folder trust
    dialog, so in the current folder (a project someone else wrote, when ``doctor`` runs
    there) it would start on that folder's settings and hooks unasked.
    """
    try:
        with tempfile.TemporaryDirectory(
            prefix="letswork-probe-", ignore_cleanup_errors=True
        ) as empty:
            done = subprocess.run(
                [os.path.abspath(claude), CHANNELS_FLAG, CHANNELS_ARG, "--print"],
                cwd=empty,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=CLAUDE_TIMEOUT_SECONDS,
                check=False,
            )
    except (OSError, subprocess.TimeoutExpired):
        return False
    said = (done.stdout or "") + (done.stderr or "")
    return "unknown option" not in said


def launch_argv(claude: str, channels: bool) -> list[str]:
    """How ``join`` starts Claude Code: with the channel loaded when it can receive pushes."""
    return [claude, CHANNELS_FLAG, CHANNELS_ARG] if channels else [claude]


@dataclass(frozen=True)
class Registration:
    """One MCP server in Claude Code's configuration that starts ``letswork channel``.

    Attributes:
        scope: ``local`` (this folder, this user), ``project`` (the folder's ``.mcp.json``)
            or ``user`` (every folder).
        name: the server's name in Claude Code.
        command: its command line.
    """

    scope: str
    name: str
    command: tuple[str, ...]


def claude_config_path() -> Path:
    """Where Claude Code keeps its user and local scopes."""
    base = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(base) if base else Path.home()) / ".claude.json"


def _read_json(path: Path, max_bytes: int = MAX_CLAUDE_CONFIG_BYTES) -> dict[str, Any]:
    """``path``'s JSON object; {} for anything else. A project's ``.mcp.json`` is written by
    whoever wrote the project: a FIFO there is opened without waiting for a writer and, like
    any file that is not a regular one, counts as empty; so do a file over ``max_bytes`` and
    nesting too deep for ``json`` (RecursionError)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return {}
            raw = f.read(max_bytes + 1)
        if len(raw) > max_bytes:
            return {}
        data = json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _letswork_servers(scope: str, servers: object) -> list[Registration]:
    found: list[Registration] = []
    if not isinstance(servers, dict):
        return found
    for name, entry in servers.items():
        if not isinstance(entry, dict):
            continue
        args = entry.get("args")
        argv = [str(entry.get("command", ""))]
        argv += [str(a) for a in args] if isinstance(args, list) else []
        runs_letswork = any(Path(a).name == "letswork" or a == "letswork" for a in argv)
        if runs_letswork and "channel" in argv:
            found.append(Registration(scope, str(name), tuple(argv)))
    return found


def find_registrations(project: Path) -> list[Registration]:
    """Every MCP server Claude Code would start in ``project`` that runs ``letswork channel``:
    the user scope, the folder's local scope, and the folder's ``.mcp.json``. Unreadable or
    malformed files count as empty."""
    project = project.resolve()
    config = _read_json(claude_config_path())
    found = _letswork_servers("user", config.get("mcpServers"))
    projects = config.get("projects")
    if isinstance(projects, dict):
        local = projects.get(str(project))
        if isinstance(local, dict):
            found += _letswork_servers("local", local.get("mcpServers"))
    shipped = _read_json(project / ".mcp.json", MAX_PROJECT_MCP_BYTES)
    found += _letswork_servers("project", shipped.get("mcpServers"))
    return found


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""
