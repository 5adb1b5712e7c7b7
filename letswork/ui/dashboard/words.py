"""The dashboard's words: the pure functions that turn catalogue data (an event, a change, a
message, a task change, an entry of the activity log) into what the dashboard shows.

No widget here: each takes protocol models and returns a ``str``, a :class:`rich.text.Text` or
(for a diff) a renderable, and ``tests/test_text_snapshot.py`` holds them byte for byte. Every
peer-written string goes through :func:`one_line` (or
:func:`letswork.shared.sanitize.clean_terminal`) and is shown literally, never as markup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text

from letswork.shared.errors import ProtocolError
from letswork.shared.protocol.changes import ChangeDecidedData, ChangeInfo, ChangeSubmittedData
from letswork.shared.protocol.files import FileChangedData
from letswork.shared.protocol.locks import LockReleasedData, LockTakenData
from letswork.shared.protocol.messages import MessageData, MessageInfo, MessageReceiptData
from letswork.shared.protocol.presence import ActivityEntry
from letswork.shared.protocol.session import NameChangedData, PeerData, PeerLeftData
from letswork.shared.protocol.tasks import TaskUpdatedData
from letswork.shared.protocol.variables import VarChangedData
from letswork.shared.protocol.wire import Event, parse_event_data
from letswork.shared.sanitize import clean_terminal, terminal_line

#: Longest diff shown, in lines; the rest is summarised (``letswork diff ID`` shows it all).
MAX_DIFF_LINES = 2000
#: Longest diff shown, in characters (one huge line would otherwise pass).
MAX_DIFF_CHARS = 200_000

#: Style of a guest waiting for admission (its row in the people table).
WAITING_STYLE = "bold black on yellow"
_ERROR_STYLE = "bold red"
_WARN_STYLE = "yellow"
_OK_STYLE = "green"
_ONE_LINE = re.compile(r"\s+")


def one_line(text: str, max_chars: int = 160) -> str:
    """Peer-supplied text for one line of the terminal: escapes, controls and invisible
    characters removed (and marked), whitespace runs (newlines, tabs) folded to one space, cut
    to ``max_chars``."""
    return terminal_line(text, max_chars)


def peer_text(text: str, style: str = "", max_chars: int = 160) -> Text:
    """:func:`one_line` as a :class:`Text`: shown literally, never parsed as markup."""
    return Text(one_line(text, max_chars), style=style, no_wrap=True, overflow="ellipsis", end="")


def describe_change(change: ChangeInfo) -> str:
    """``write src/app.py`` or ``move a.txt -> b.txt``, sanitised, one line."""
    where = one_line(change.path)
    if change.new_path is not None:
        where += " -> " + one_line(change.new_path)
    return f"{change.kind} {where}"


def sensitive_mark(change: ChangeInfo) -> str:
    """`` [sensitive: reason]`` for a change to a sensitive path (it alters what guests see or
    runs code on the host), sanitised; ``""`` for any other change."""
    if not change.sensitive:
        return ""
    return f" [sensitive: {one_line(change.sensitive, 300)}]"


def diff_renderable(change: ChangeInfo) -> tuple[str, RenderableType]:
    """The sanitised diff text of ``change`` and what the diff viewer shows for it."""
    # Cut before cleaning: the cleaner's cost, and how much its markers can make a line grow,
    # are per character. Cleaning keeps every newline and adds none.
    lines = (change.diff or "").split("\n", MAX_DIFF_LINES)
    diff = clean_terminal("\n".join(lines[:MAX_DIFF_LINES])[:MAX_DIFF_CHARS])
    if len(lines) > MAX_DIFF_LINES or len(diff) > MAX_DIFF_CHARS:
        diff = diff[:MAX_DIFF_CHARS]
        more = (change.diff or "").count("\n") - diff.count("\n")
        see = f"letswork diff {one_line(change.id, 64)}"
        diff += f"\n... {more} more lines: see them all with `{see}`\n"
    header = Text(no_wrap=False, end="")
    header.append(f"change {one_line(change.id, 64)}", style="bold")
    header.append(f"  {describe_change(change)}")
    header.append(f"  by {one_line(change.author, 64)}", style="cyan")
    header.append(f"  {change.size} bytes", style="dim")
    if change.status != "pending":
        header.append(f"  [{change.status}]", style=_WARN_STYLE)
    if change.sensitive:
        header.append(
            f"\nsensitive path: {one_line(change.sensitive, 300)}. It waits for you even from a "
            "trusted editor: read it with care.",
            style=_WARN_STYLE,
        )
    body: RenderableType
    if diff.strip():
        body = Syntax(diff, "diff", theme="ansi_dark", word_wrap=True, background_color="default")
    else:
        body = Text("(no textual difference)", style="dim")
    return diff, Group(header, Text(""), body)


def describe_event(event: Event) -> tuple[Text, bool]:
    """One activity line for ``event``, and whether the hub's state should be reloaded."""
    try:
        data = parse_event_data(event.name, event.data)
    except ProtocolError:
        return Text(f"event {one_line(event.name, 64)} (not understood)", style="dim"), True
    text = Text(end="")
    refresh = True
    if isinstance(data, PeerData):
        name = one_line(data.name, 64)
        if event.name == "awaiting_admission":
            text.append(f"{name} is waiting to be admitted", style=WAITING_STYLE)
            text.append(" (y admit, n deny)")
        else:
            text.append(f"{name} joined as {data.role}", style=_OK_STYLE)
    elif isinstance(data, PeerLeftData):
        text.append(f"{one_line(data.name, 64)} left ({one_line(data.reason, 200)})")
    elif isinstance(data, NameChangedData):
        text.append(f"{one_line(data.old, 64)} is now called {one_line(data.new, 64)}")
    elif isinstance(data, ChangeSubmittedData):
        change = data.change
        text.append(f"{one_line(change.author, 64)} proposes: {describe_change(change)}")
        text.append(sensitive_mark(change), style=_WARN_STYLE)
        text.append(f" [{one_line(change.id, 64)}] (a approve, r reject)", style="dim")
    elif isinstance(data, ChangeDecidedData):
        change = data.change
        style = {"applied": _OK_STYLE, "rejected": _WARN_STYLE}.get(change.status, _ERROR_STYLE)
        who = f" by {one_line(change.decided_by, 64)}" if change.decided_by else ""
        text.append(f"change {one_line(change.id, 64)} {change.status}{who}", style=style)
        text.append(f": {describe_change(change)}")
        if change.reason:
            text.append(f" (reason: {one_line(change.reason, 200)})")
    elif isinstance(data, LockTakenData):
        lock = data.lock
        text.append(f"{one_line(lock.holder, 64)} locked {one_line(lock.path)}")
        if lock.change_id:
            text.append(f" (pending change {one_line(lock.change_id, 64)})", style="dim")
    elif isinstance(data, LockReleasedData):
        text.append(
            f"{one_line(data.holder, 64)}'s lock on {one_line(data.path)} "
            f"was released ({data.reason})"
        )
    elif isinstance(data, FileChangedData):
        by = f" by {one_line(data.by, 64)}" if data.by else " on disk"
        text.append(f"{one_line(data.path)} {data.change}{by}", style="dim")
        refresh = False
    elif isinstance(data, MessageData):
        text.append_text(describe_message(data.message))
        refresh = False
    elif isinstance(data, MessageReceiptData):
        what = "read" if data.status == "read" else "received"
        text.append(f"{one_line(data.recipient, 64)} {what} message #{data.message_id}", "dim")
        refresh = False
    elif isinstance(data, TaskUpdatedData):
        text.append_text(describe_task_change(data))
        refresh = False
    elif isinstance(data, VarChangedData):
        key = one_line(data.key, 128)
        if data.deleted or data.value is None:
            text.append(f"{one_line(data.by, 64)} deleted variable {key}")
        else:
            text.append(f"{one_line(data.by, 64)} set variable {key} = ")
            text.append(one_line(data.value, 200))
        refresh = False
    elif event.name == "hub_stopping":
        text.append("the hub is stopping", style=_ERROR_STYLE)
        refresh = False
    else:
        text.append(f"event {one_line(event.name, 64)}", style="dim")
    return text, refresh


def describe_message(message: MessageInfo) -> Text:
    """``alice -> host [question] #4: body...``, the body on one line, shown literally."""
    text = Text(end="")
    to = "everyone" if message.to is None else one_line(message.to, 64)
    text.append(f"{one_line(message.sender, 64)} -> {to}", style="bold cyan")
    text.append(f" [{message.type}] #{message.id}: ", style="dim")
    text.append(one_line(message.body, 300))
    if message.refs:
        quoted = ", ".join(
            f"{one_line(r.path)}:{r.start_line}-{r.end_line}" for r in message.refs[:5]
        )
        text.append(f" (quotes {quoted})", style="dim")
    return text


def describe_task_change(data: TaskUpdatedData) -> Text:
    """One line for a ``task_updated`` event."""
    task = data.task
    who = one_line(data.by, 64) if data.by is not None else "the hub"
    head = {
        "added": f"{who} added task #{task.id}: ",
        "claimed": f"{who} claimed task #{task.id}: ",
        "unclaimed": f"{who} put back task #{task.id}: ",
        "updated": f"{who} set task #{task.id} to {task.status}: ",
        "released": f"task #{task.id} went back to the board (its assignee left): ",
        "unblocked": f"task #{task.id} is unblocked: ",
        "blocked": f"task #{task.id} is blocked again: ",
    }[data.change]
    text = Text(head, end="")
    text.append(one_line(task.title, 200), style="bold")
    if task.assignee is not None and data.change in ("added", "updated"):
        text.append(f" (assigned to {one_line(task.assignee, 64)})", style="dim")
    if task.note and data.change == "updated":
        text.append(f" — {one_line(task.note, 200)}", style="dim")
    return text


#: How the activity log's entry kinds read in the feed (``{actor}`` and the details).
_ACTIVITY_PHRASES: Mapping[str, str] = {
    "join": "{actor} joined ({role})",
    "leave": "{actor} left ({reason})",
    "rename": "{old} is now called {new}",
    "lock": "{actor} locked {path}",
    "unlock": "{actor} unlocked {path}",
    "force_unlock": "{actor} broke {holder}'s lock on {path}",
    "write_proposed": "{actor} proposed a write of {path} [{change}]",
    "edit_proposed": "{actor} proposed an edit of {path} [{change}]",
    "delete_proposed": "{actor} proposed a delete of {path} [{change}]",
    "move_proposed": "{actor} proposed a move of {path} to {new_path} [{change}]",
    "change_applied": "{actor}: change {change} applied ({path})",
    "change_rejected": "{actor}: change {change} rejected ({path})",
    "change_conflict": "change {change} hit a conflict ({path})",
    "message": "{actor} sent a {type} message to {to} (#{id})",
    "task_add": "{actor} added task #{task}: {title}",
    "plan": "{actor} planned tasks {tasks}",
    "task_claim": "{actor} claimed task #{task}",
    "task_unclaim": "{actor} put back task #{task}",
    "task_update": "{actor} set task #{task} to {status}",
    "var_set": "{actor} set variable {key}",
    "var_delete": "{actor} deleted variable {key}",
    "card": "{actor} published a capability card",
    "admit": "{actor} admitted {guest}",
    "deny": "{actor} denied {guest}",
    "kick": "{actor} removed {guest}",
    "trust": "{actor} trusted {guest}",
    "untrust": "{actor} stopped trusting {guest}",
    "invite": "{actor} created an invite: {role} {label}",
    "revoke": "{actor} revoked invite {invite} {label}",
    "shutdown": "{actor} stopped the hub",
}


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def describe_activity(entry: ActivityEntry) -> Text:
    """One feed line for an entry of the hub's activity log, every value sanitised."""
    values = _Blank()
    for key, value in entry.detail.items():
        if isinstance(value, list):
            value = ", ".join(f"#{v}" if isinstance(v, int) else str(v) for v in value[:20])
        values[str(key)] = one_line("" if value is None else str(value), 120)
    values["actor"] = one_line(entry.actor, 64)
    values["path"] = one_line(entry.path or "")
    if entry.kind == "message" and not values.get("to"):
        values["to"] = "everyone"
    phrase = _ACTIVITY_PHRASES.get(entry.kind)
    if phrase is None:
        rest = " ".join(f"{k}={v}" for k, v in values.items() if k not in ("actor", "path") and v)
        line = f"{values['actor']} {one_line(entry.kind, 64)} {values['path']} {rest}"
        return Text(_ONE_LINE.sub(" ", line).strip(), style="dim", end="")
    return Text(_ONE_LINE.sub(" ", phrase.format_map(values)).strip(), style="dim", end="")
