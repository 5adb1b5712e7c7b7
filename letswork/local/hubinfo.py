"""The running hub's address on this machine: its ``hub.json`` in the project's state directory.

The hub writes the file when it listens (:func:`write_hub_info`) and removes it when it stops;
the host's tools (the channel with ``--host``, the dashboard, the admin commands, ``letswork
doctor``) read it with :func:`hub_info` to find the hub of a folder and the Unix socket they
connect to (``host_url``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from letswork.local import statedir


def hub_info(project: Path) -> dict[str, Any] | None:
    """The running hub's ``hub.json`` for ``project``, or None when no hub runs there.

    A file that is not what :func:`write_hub_info` writes (not a JSON object, ``pid`` not an
    integer, ``local_url`` not a string, ``host_url`` present but not a string) counts as no
    hub: any process of the user can write it, and its readers index it without checks.
    """
    state = statedir.project_state(project)
    try:
        info = json.loads(state.hub_info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not _well_formed(info):
        return None
    if not _pid_alive(info["pid"]):
        return None
    return dict(info)


def _well_formed(info: object) -> bool:
    if not isinstance(info, dict):
        return False
    pid, local, host = info.get("pid"), info.get("local_url"), info.get("host_url")
    return (
        isinstance(pid, int)
        and not isinstance(pid, bool)
        and pid > 0
        and isinstance(local, str)
        and (host is None or isinstance(host, str))
    )


def write_hub_info(state: statedir.ProjectState, info: dict[str, Any]) -> None:
    """Write ``info`` as the folder's ``hub.json`` (0600, atomically); the hub calls this once
    it listens. Keys: ``pid``, ``port``, ``bind``, ``local_url``, ``host_url``, ``project``,
    ``started_at``."""
    statedir.write_private_text(state.hub_info_path, json.dumps(info))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
