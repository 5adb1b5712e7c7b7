"""letswork's Claude Code plugin (``.claude-plugin/`` in the repository), as ``join`` sees it.

The plugin declares an MCP server ``letswork`` running ``letswork channel --plugin``; Claude
Code names it ``plugin:letswork:letswork``, beside any ``letswork`` entry ``claude mcp add``
made. So that a user who installed the plugin gets one channel, not two,
:func:`find_plugin` asks the installed Claude Code (``claude plugin list --json``) for an
enabled plugin whose servers run ``letswork channel``; when there is one, ``join`` registers
nothing, removes a ``letswork`` entry of its own from before, and binds the folder to the
session (:mod:`letswork.channel.folders`), which is where the plugin's channel looks.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from letswork.ui import claude as claude_ui

__all__ = ["MAX_PLUGIN_LIST_BYTES", "Plugin", "find_plugin", "runs_channel"]

#: The most bytes of ``claude plugin list --json`` parsed (a few KiB per plugin).
MAX_PLUGIN_LIST_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Plugin:
    """An enabled Claude Code plugin that starts ``letswork channel``.

    Attributes:
        id: ``name@marketplace``, as ``claude plugin list`` gives it.
        server: the name of its MCP server that runs the channel.
    """

    id: str
    server: str

    @property
    def channels_arg(self) -> str:
        """What follows :data:`letswork.ui.claude.CHANNELS_FLAG` to load this plugin's
        channel."""
        return f"plugin:{self.id}"


def runs_channel(spec: object) -> bool:
    """Whether an ``mcpServers`` entry starts ``letswork channel`` (by name, by path, or as
    ``python -m letswork``)."""
    if not isinstance(spec, dict):
        return False
    args = spec.get("args")
    argv = [str(spec.get("command", ""))]
    argv += [str(a) for a in args] if isinstance(args, list) else []
    names = [Path(a).name for a in argv]
    return "channel" in argv and any(n in ("letswork", "letswork.exe") for n in names)


def find_plugin(claude: str, cwd: Path) -> Plugin | None:
    """The enabled plugin, seen from ``cwd``, that runs the channel; None when there is none,
    or when ``claude`` cannot say (an older version without ``plugin list --json``, a
    failure, a timeout: then ``join`` registers the channel itself, as before)."""
    try:
        done = subprocess.run(
            [claude, "plugin", "list", "--json"],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=claude_ui.CLAUDE_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0 or len(done.stdout) > MAX_PLUGIN_LIST_BYTES:
        return None
    try:
        listed = json.loads(done.stdout)
    except (ValueError, RecursionError):
        return None
    if not isinstance(listed, list):
        return None
    for entry in listed:
        if not isinstance(entry, dict) or entry.get("enabled") is not True:
            continue
        servers = entry.get("mcpServers")
        plugin_id = entry.get("id")
        if not isinstance(servers, dict) or not isinstance(plugin_id, str):
            continue
        for name, spec in servers.items():
            if runs_channel(spec):
                return Plugin(plugin_id, str(name))
    return None
