"""Register the host's own Claude Code with the hub of a folder (``letswork start``).

When ``claude`` is on PATH, the host's channel is registered for the project folder, in Claude
Code's *local* scope (this user, this folder only)::

    claude mcp remove -s local letswork-host          # a stale entry; failure ignored
    claude mcp add -s local letswork-host -- letswork channel --host --project <PATH>

Both run with the project folder as the working directory, because the local scope is keyed
by it. Their output is captured, never printed: the dashboard owns the terminal by then.
The registered command line holds no secret; the host's channel reads the host key from the
state directory itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

#: The name of the MCP server entry in Claude Code.
SERVER_NAME = "letswork-host"
#: How long one ``claude mcp`` command may take.
CLAUDE_TIMEOUT_SECONDS = 30.0


def channel_command(project: Path) -> list[str]:
    """The command Claude Code runs to start the host's channel for ``project``.

    ``letswork`` by name when it is on PATH (a pipx or activated-venv install), otherwise this
    interpreter with ``-m letswork``, so the entry works even when the venv is not activated.
    """
    exe = "letswork" if shutil.which("letswork") else None
    prefix = [exe] if exe else [sys.executable, "-m", "letswork"]
    return [*prefix, "channel", "--host", "--project", str(project)]


def register_host_assistant(project: Path) -> str | None:
    """Register ``letswork channel --host`` with Claude Code for ``project``.

    Returns:
        One line for the activity feed (success, or why it failed), or None when ``claude``
        is not on PATH. Never raises for a failing or missing ``claude``.
    """
    claude = shutil.which("claude")
    if claude is None:
        return None
    project = project.resolve()
    try:
        subprocess.run(
            [claude, "mcp", "remove", "-s", "local", SERVER_NAME],
            cwd=project,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CLAUDE_TIMEOUT_SECONDS,
            check=False,
        )
        done = subprocess.run(
            [claude, "mcp", "add", "-s", "local", SERVER_NAME, "--", *channel_command(project)],
            cwd=project,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=CLAUDE_TIMEOUT_SECONDS,
            check=False,
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


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""
