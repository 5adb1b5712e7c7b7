"""The tools of the ``session`` ops (``shared/protocol/session.py``): ``ping``,
``get_status`` (op ``status``) and ``set_display_name``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from letswork.channel.tools.base import ToolContext, ToolSpec
from letswork.shared import describe as say
from letswork.shared.protocol.base import NameResult
from letswork.shared.protocol.session import PingResult, StatusResult
from letswork.shared.sanitize import clean_line

__all__ = ["TOOLS"]


def _r_ping(r: PingResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    link = clean_line(ctx.link, 300)
    return f"pong: the hub answered (hub clock {say.stamp(r.now)}). Link to the hub: {link}."


def _r_status(r: StatusResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    you = r.you
    lines = [
        f"Project: {clean_line(r.project, 120)}",
        f"You: {say.who(you.name)} ({you.role}"
        + (", awaiting the host's admission" if you.state != "online" else "")
        + ")",
        f"Link to the hub: {clean_line(ctx.link, 300)}",
        f"People connected ({len(r.peers)}):",
    ]
    for p in r.peers:
        notes: list[str] = [p.role]
        if p.peer_id == you.peer_id:
            notes.append("you")
        if p.state != "online":
            notes.append("awaiting admission")
        if p.trusted and p.role != "host":
            notes.append("trusted: changes apply without approval")
        lines.append(f"- {say.who(p.name)} ({', '.join(notes)})")
    lines.append(f"Locks ({len(r.locks)}):" if r.locks else "Locks: none")
    lines.extend(f"- {say.path(lock.path)}: {say.lock_held(lock)}" for lock in r.locks)
    lines.append(f"Changes waiting for the host's approval: {r.pending}")
    if you.role == "viewer":
        lines.append("As a viewer you can read and search; you cannot change files.")
    elif you.role == "editor":
        lines.append("As an editor your changes are proposals the host approves or rejects.")
    if ctx.toolsets:
        lines.append("Toolsets on: " + ", ".join(n for n, _about, on in ctx.toolsets if on))
        off = [f"{n} ({about})" for n, about, on in ctx.toolsets if not on]
        if off:
            lines.append(
                f"Toolsets off: {'; '.join(off)}. The user turns one on with `letswork channel "
                "--toolsets default,NAME` (or LETSWORK_TOOLSETS) and a restart."
            )
    return "\n".join(lines)


def _r_name(r: NameResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    return f"Your display name is now {say.who(r.name)}."


#: This group's tools, in the order the tool list shows them.
TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "ping",
        "Ping the letswork hub",
        """Check that the hub answers: its clock and this channel's link. Use it after
        `unavailable` (letswork reconnects by itself).""",
        _r_ping,
        idempotent=True,
    ),
    ToolSpec(
        "status",
        "Session status",
        """The session: project, your name and role, who is connected, locks, changes awaiting
        approval, the link, and which toolsets are on. Call it first: a viewer only
        reads; an editor's changes are proposals the host approves.""",
        _r_status,
        listed_as="get_status",
        idempotent=True,
    ),
    ToolSpec(
        "set_display_name",
        "Change your display name",
        """Change the name the others see: 1-32 letters, digits, spaces, '.', '_' or '-'; unique in
        the session; 'host' is reserved.""",
        _r_name,
        fields={"name": "The new name."},
        idempotent=True,
        renames_me=True,
    ),
)
