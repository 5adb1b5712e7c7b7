"""Every tool, assembled from the group modules: :data:`TOOLS` and :func:`tools_for_role`.

A new tool goes in its group's module (``channel/tools/<group>.py``, the group of its op in
``shared/protocol/``); this file changes only for a new group.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from letswork.channel.tools import (
    changes,
    commands,
    files,
    local,
    locks,
    messages,
    presence,
    session,
    tasks,
    variables,
)
from letswork.channel.tools.base import ToolSpec

__all__ = ["TOOLS", "tools_for_role"]

#: The tools of the first release, in the places the tool list has always shown them (a
#: client may show the list as it comes); every later tool follows in group order.
_FIRST = (
    "ping",
    "get_status",
    "get_notifications",
    "list_files",
    "read_file",
    "search_files",
    "find_files",
    "set_display_name",
    "write_file",
    "edit_file",
    "delete_file",
    "move_file",
    "lock_file",
    "unlock_file",
    "my_pending_changes",
    "get_pending_changes",
    "approve_change",
    "reject_change",
    "force_unlock",
)


def _assemble(groups: tuple[tuple[ToolSpec, ...], ...]) -> dict[str, ToolSpec]:
    specs = [spec for group in groups for spec in group]
    by_name = {spec.name: spec for spec in specs}
    if len(by_name) != len(specs):  # pragma: no cover - a declaration error
        raise ValueError("two tools share a name")
    first = {name: by_name.pop(name) for name in _FIRST}
    return {**first, **by_name}


#: Every tool, by name, in the order the tool list shows them.
TOOLS: Mapping[str, ToolSpec] = MappingProxyType(
    _assemble(
        (
            session.TOOLS,
            local.TOOLS,
            files.TOOLS,
            changes.TOOLS,
            locks.TOOLS,
            messages.TOOLS,
            tasks.TOOLS,
            variables.TOOLS,
            presence.TOOLS,
            commands.TOOLS,
        )
    )
)


def tools_for_role(role: str) -> list[ToolSpec]:
    """The tools whose list a peer of ``role`` sees, in :data:`TOOLS` order."""
    return [spec for spec in TOOLS.values() if role in spec.roles]
