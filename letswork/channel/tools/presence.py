"""The tools of the ``presence`` ops (``shared/protocol/presence.py``): who is here,
capability cards, the activity log and ``leave``.

Two of them need the channel itself, through their :class:`~letswork.channel.tools.base.ToolSpec`:
``publish_card`` is refused unless the user started the channel with ``--publish-card``
(``refuse``), and after ``leave`` the channel closes its link to the hub for good
(``ends_session``; every tool then answers :data:`LEFT_TEXT`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from letswork.channel.config import ChannelConfig
from letswork.channel.tools.base import MAX_RESULT_CHARS, PEER_TEXT, Budget, ToolContext, ToolSpec
from letswork.shared import describe as say
from letswork.shared.protocol.presence import (
    ActivityLogResult,
    CapabilityCard,
    CardResult,
    LeaveResult,
    ListPeersResult,
)
from letswork.shared.sanitize import clean_line

__all__ = ["CARD_NOT_ALLOWED", "LEFT_TEXT", "TOOLS"]


#: The ``publish_card`` refusal when the user did not start the channel with the flag.
CARD_NOT_ALLOWED = (
    "invalid: publishing a capability card needs the user's opt-in, and this channel was "
    "started without it, so nothing was sent.\nNext step: go on without a card; if the user "
    "wants the others to see their client and MCP servers, they add `--publish-card` to the "
    "`letswork channel` command in their MCP client's configuration and restart it."
)


#: What every tool answers once ``leave`` has ended the session.
LEFT_TEXT = (
    "unavailable: you left the letswork session (leave); this channel no longer talks to the "
    "hub and will not reconnect.\nNext step: to take part again, restart this MCP server (in "
    "Claude Code: /mcp, then reconnect letswork); a guest's stored session joins again."
)


def _card_text(card: CapabilityCard) -> str:
    client = clean_line(card.client, 64) or "(not given)"
    servers = ", ".join(clean_line(s, 64) for s in card.mcp_servers) or "none listed"
    return f"client {client}; MCP servers: {servers}"


def _r_peers(r: ListPeersResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    online = [p for p in r.peers if p.state != "offline"]
    lines = [f"{say.count(len(online), 'connection')} in the session:"]
    if len(online) < len(r.peers):
        lines[0] = (
            lines[0][:-1] + f", and {say.count(len(r.peers) - len(online), 'known guest')} offline:"
        )
    for p in r.peers:
        if p.state == "offline":
            state = (
                f"offline since {say.stamp(p.offline_since)}" if p.offline_since else "offline"
            ) + " (messages wait for them)"
        elif p.state == "awaiting_admission":
            state = "waiting for the host's admission"
        elif p.state == "online":
            state = "online"
        else:
            state = f"{p.state} ({p.idle_minutes} min without a request)"
        role = p.role + (", you" if p.name == ctx.me and p.role != "host" else "")
        line = f"- {say.who(p.name)} ({role}) · {state}"
        if p.locks:
            line += f" · locks: {', '.join(say.path(x) for x in p.locks[:20])}"
            if len(p.locks) > 20:
                line += f" and {len(p.locks) - 20} more"
        if p.tasks:
            line += f" · tasks: {say.ids(p.tasks)}"
        if p.card is not None:
            line += f" · card: {_card_text(p.card)}"
        lines.append(line)
    if any(p.role == "host" for p in r.peers):
        lines.append("Each host connection (its assistant, the dashboard, a command) is listed.")
    return "\n".join(lines)


def _r_card(r: CardResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    return (
        f"Published your capability card: {_card_text(r.card)}. The others see it in "
        "list_peers while this channel stays connected; publish again to change it."
    )


def _detail_text(detail: Mapping[str, Any]) -> str:
    parts = []
    for key, value in list(detail.items())[:8]:
        if value is None or value == "":
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value[:10]) + ("..." if len(value) > 10 else "")
        parts.append(f"{clean_line(str(key), 40)}={clean_line(str(value), 120)}")
    return " ".join(parts)


def _r_activity(r: ActivityLogResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    if not r.entries:
        return "No activity matches."
    head = f"{say.count(len(r.entries), 'entry', 'entries')}, oldest first (time, who, what):"
    lines = []
    for e in r.entries:
        line = f"- {say.stamp(e.at)} {say.who(e.actor)} {clean_line(e.kind, 64)}"
        if e.path:
            line += f" {say.path(e.path)}"
        detail = _detail_text(e.detail)
        if detail:
            line += f" ({detail})"
        lines.append(line)
    budget = Budget([head])
    start = 0
    total = sum(len(x) + 1 for x in lines)
    while total + budget.size > MAX_RESULT_CHARS and start < len(lines):
        total -= len(lines[start]) + 1
        start += 1
    if start:
        budget.lines.append(f"({start} older entries did not fit: narrow with since or kind)")
    budget.lines.extend(lines[start:])
    return "\n".join(budget.lines)


def _r_leave(r: LeaveResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    proposed = say.count(r.changes_proposed, "change")
    return (
        f"You left the letswork session. Over the session you proposed {proposed} "
        f"({r.changes_applied} applied, {r.changes_rejected} rejected), sent "
        f"{say.count(r.messages_sent, 'message')} and finished {say.count(r.tasks_done, 'task')}. "
        f"Released now: {say.count(r.locks_released, 'lock')} and "
        f"{say.count(r.tasks_released, 'claimed task')} (back on the board).\n"
        "This channel has closed its link to the hub and will not reconnect; its tools answer "
        "`unavailable` from now on. To take part again, restart this MCP server."
    )


def _card_refused(config: ChannelConfig) -> str | None:
    """``publish_card`` needs the user's opt-in, given as ``letswork channel --publish-card``."""
    return None if config.publish_card else CARD_NOT_ALLOWED


#: This group's tools, in the order the tool list shows them.
TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "list_peers",
        "Who is here",
        f"""Who is in the session: name, role, online, idle or away, locks, tasks and published
        card. Use the names in send_message `to` or plan `assignee`. {PEER_TEXT}""",
        _r_peers,
        fields={},
        # the offline people too; a hub older than them refuses it and is asked again without
        sends={"offline": True},
        idempotent=True,
    ),
    ToolSpec(
        "publish_card",
        "Publish your capability card",
        """Show the others your MCP client and the MCP servers you choose to mention (in
        list_peers). Only if the user started the channel with --publish-card; otherwise
        refused, and nothing is sent. Names only, never paths.""",
        _r_card,
        fields={
            "client": "e.g. 'claude-code'.",
            "mcp_servers": "e.g. ['github'].",
        },
        defaults={"opt_in": True},
        idempotent=True,
        refuse=_card_refused,
    ),
    ToolSpec(
        "activity_log",
        "Activity log",
        f"""The session's activity log, the most recent `limit` entries oldest first: joins, locks,
        changes, tasks and variables, with time and who. Filter by `actor`, `kind` (e.g.
        task_update, write_proposed) and `since` (Unix time). {PEER_TEXT}""",
        _r_activity,
        fields={},
        idempotent=True,
    ),
    ToolSpec(
        "leave",
        "Leave the session",
        """End your part in the session for good: releases your locks, returns your claimed tasks,
        and gives a summary. The channel then disconnects until restarted. Only when the
        user wants to stop.""",
        _r_leave,
        fields={},
        destructive=True,
        ends_session=True,
    ),
)
