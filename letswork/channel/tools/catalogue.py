"""Every tool, assembled from the group modules: :data:`GROUPS`, :data:`TOOLS` and
:func:`tools_for_role`.

A new tool goes in its group's module (``channel/tools/<group>.py``, the group of its op in
``shared/protocol/``); this file changes only for a new group: one line in :data:`GROUPS`,
which also places it in a toolset (``channel/tools/toolsets.py`` reads it).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, ModuleType

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

__all__ = ["GROUPS", "TOOLS", "tools_for_role"]

#: Every tool group module, in the order its tools follow in :data:`TOOLS`, with the name of
#: the toolset that lists them (one of ``toolsets._ABOUT``; checked at import there).
GROUPS: tuple[tuple[ModuleType, str], ...] = (
    (session, "context"),
    (local, "context"),
    (files, "files"),
    (changes, "changes"),
    (locks, "files"),
    (messages, "collaboration"),
    (tasks, "collaboration"),
    (variables, "collaboration"),
    (presence, "collaboration"),
    (commands, "commands"),
)

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


def _assemble(groups: tuple[tuple[ModuleType, str], ...]) -> dict[str, ToolSpec]:
    specs: list[ToolSpec] = [spec for module, _set in groups for spec in module.TOOLS]
    by_name = {spec.name: spec for spec in specs}
    if len(by_name) != len(specs):  # pragma: no cover - a declaration error
        raise ValueError("two tools share a name")
    first = {name: by_name.pop(name) for name in _FIRST}
    return {**first, **by_name}


#: Every tool, by name, in the order the tool list shows them.
TOOLS: Mapping[str, ToolSpec] = MappingProxyType(_assemble(GROUPS))


def tools_for_role(role: str) -> list[ToolSpec]:
    """The tools whose list a peer of ``role`` sees, in :data:`TOOLS` order."""
    return [spec for spec in TOOLS.values() if role in spec.roles]
