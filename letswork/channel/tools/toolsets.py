"""Toolsets: which tools a channel lists, chosen by the user (issue 18, "Tool definitions cost
context").

Every tool definition is sent to the model in every conversation, so the list a channel shows
is what its user asked for, as the GitHub MCP server does it: named sets, a ``default`` group
of them, ``all`` for every set, chosen with ``letswork channel --toolsets default,collaboration``
or ``LETSWORK_TOOLSETS`` (the flag wins). ``context`` (ping, get_status, get_notifications,
set_display_name, leave) is always on: ``get_status`` is where a model learns what is on.

Each tool group module (``channel/tools/<group>.py``) names its set in the catalogue's one list
(:data:`~letswork.channel.tools.catalogue.GROUPS`), so a new group is placed where it is added;
a tool kept apart from its group's set is named in :data:`_APART`. A set named there that is
not in :data:`_ABOUT`, or a set with no tool, is a declaration error (checked at import).

The hub enforces roles on every call whatever is listed; a set that is off only keeps its tools
out of the list, and a call to one is answered with how to turn it on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from letswork.channel.tools.base import ToolSpec
from letswork.channel.tools.catalogue import GROUPS, TOOLS
from letswork.shared.errors import UsageError

__all__ = [
    "ALWAYS_ON",
    "DEFAULT_TOOLSETS",
    "TOOLSETS",
    "TOOLSETS_ENV",
    "Toolset",
    "off_text",
    "parse_toolsets",
    "set_of",
    "tools_for",
]

#: Environment variable naming the toolsets (like the flag; the flag wins).
TOOLSETS_ENV = "LETSWORK_TOOLSETS"

#: The set every channel lists, whatever was chosen.
ALWAYS_ON = "context"


@dataclasses.dataclass(frozen=True)
class Toolset:
    """A named group of tools: ``about`` says what for (shown by ``get_status`` and
    ``--help``), ``tools`` names them in :data:`~letswork.channel.tools.catalogue.TOOLS`
    order."""

    name: str
    about: str
    tools: tuple[str, ...]


#: Every set's name and what it is for, in the order ``get_status`` shows them.
_ABOUT: dict[str, str] = {
    ALWAYS_ON: "status, events, your name, leaving",
    "files": "list, read, search, lock shared files",
    "changes": "write, edit, delete, move; pending changes",
    "commands": "run the host's commands (tests, linters), with the host's approval",
    "collaboration": "messages, task board, shared variables, who is here, activity log",
}

#: Tools listed in another set than their group's (``GROUPS``): tool -> set.
_APART: dict[str, str] = {"leave": ALWAYS_ON}

#: The sets ``default`` stands for (and a channel lists when none are chosen).
DEFAULT_TOOLSETS: frozenset[str] = frozenset({ALWAYS_ON, "files", "changes"})


def _build() -> dict[str, Toolset]:
    owner = {spec.name: name for module, name in GROUPS for spec in module.TOOLS}
    owner.update(_APART)
    unknown = set(owner.values()) - set(_ABOUT)
    if unknown or set(owner) != set(TOOLS):  # pragma: no cover - a declaration error
        raise ValueError(
            f"unknown toolsets {sorted(unknown)} or tools {sorted(set(owner) ^ set(TOOLS))}"
        )
    sets = {
        name: Toolset(name, about, tuple(t for t in TOOLS if owner[t] == name))
        for name, about in _ABOUT.items()
    }
    if empty := [name for name, ts in sets.items() if not ts.tools]:  # pragma: no cover
        raise ValueError(f"toolsets with no tool: {empty}")
    return sets


#: Every toolset, by name, in the order ``get_status`` shows them.
TOOLSETS: Mapping[str, Toolset] = MappingProxyType(_build())
_SET_OF = {tool: ts.name for ts in TOOLSETS.values() for tool in ts.tools}


def set_of(tool: str) -> str:
    """The name of the toolset ``tool`` is in (``KeyError`` for an unknown tool)."""
    return _SET_OF[tool]


def parse_toolsets(text: str | Iterable[str]) -> frozenset[str]:
    """The sets a ``--toolsets`` value turns on: comma- or space-separated names of
    :data:`TOOLSETS`, ``default`` (:data:`DEFAULT_TOOLSETS`) and ``all``; ``context`` is
    always added. An empty value means ``default``.

    Raises:
        UsageError: a name that is none of these (the message lists them).
    """
    words = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    chosen = {ALWAYS_ON}
    for raw in words or ["default"]:
        word = raw.strip().lower()
        if word == "all":
            chosen.update(TOOLSETS)
        elif word == "default":
            chosen.update(DEFAULT_TOOLSETS)
        elif word in TOOLSETS:
            chosen.add(word)
        else:
            known = ", ".join(["default", "all", *TOOLSETS])
            raise UsageError(f"unknown toolset {raw[:40]!r}: choose from {known}")
    return frozenset(chosen)


def tools_for(role: str, enabled: Iterable[str]) -> list[ToolSpec]:
    """The tools a peer of ``role`` sees with the sets ``enabled`` on, in :data:`TOOLS`
    order."""
    on = set(enabled) | {ALWAYS_ON}
    return [spec for spec in TOOLS.values() if role in spec.roles and _SET_OF[spec.name] in on]


def off_text(tool: str, enabled: Iterable[str]) -> str:
    """The answer to a call of ``tool`` whose set is off: which set, and how to turn it on."""
    name = set_of(tool)
    on = sorted(set(enabled) | {name}, key=list(TOOLSETS).index)
    if set(on) >= DEFAULT_TOOLSETS:  # the short way, as the README writes it
        on = ["default", *(n for n in on if n not in DEFAULT_TOOLSETS)]
    value = ",".join(on)
    return (
        f"toolset_off: {tool} is in the {name} toolset, which is off in this channel.\n"
        f"Next step: ask the user to turn it on (add `--toolsets {value}` to the `letswork "
        f"channel` command of this MCP server, or set {TOOLSETS_ENV}={value}) and restart the "
        "MCP server; do not retry until then."
    )
