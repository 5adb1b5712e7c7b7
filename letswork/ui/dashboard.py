"""The host's live terminal dashboard (design section 12), built on Textual.

The dashboard is one more protocol client of the hub: it connects over loopback with the host
key, exactly like the admin CLI, as a peer named ``host`` (client ``dashboard``). It shows:

- the invite box, with the exact ``letswork join CODE`` line;
- the people connected, with role and state; guests waiting for admission are highlighted,
  ``y`` admits the selected (or first) waiting guest, ``A`` admits all of them, ``n`` denies;
- the pending changes and a syntax-highlighted diff of the selected one; ``a`` approves it,
  ``r`` rejects it with a reason typed into a prompt;
- the locks;
- an activity feed: one line per event, newest last: people, changes, locks, the messages the
  host can read (to the host, or to everyone), task board and shared variable changes, read
  receipts. On connecting it first shows the recent history from the hub's ``activity_log``
  (after a reconnect: what happened while it was away).

State comes from the hub's ``status`` and ``pending_changes`` ops, reloaded (coalesced) after
every event that can change it and every few seconds; diffs are fetched one at a time with
``get_change`` for the selected change, so a long queue never makes one huge response.

Every string another person supplied (names, paths, diffs, reasons, error messages) goes through
:func:`letswork.shared.sanitize.clean_terminal` and is put on screen as a :class:`rich.text.Text`
(or a :class:`rich.syntax.Syntax`), never as markup, so neither an ANSI escape nor ``[bold]``
written by a guest is interpreted, and invisible characters (Unicode tags, zero-width
characters, ...) show as ``[hidden text removed]`` rather than as nothing.
``tests/test_one_printer.py`` keeps markup out of this module. Hub errors become
notifications; a lost connection shows a banner while the dashboard reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel
from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, RichLog, Static

from letswork.client.connection import HubConnection
from letswork.local.statedir import ProjectState, read_secret_file
from letswork.shared import invite as invite_codes
from letswork.shared.errors import HandshakeError, LetsworkError, ProtocolError
from letswork.shared.limits import MAX_SHORT_TEXT_CHARS, Limits
from letswork.shared.protocol.base import LockInfo, NameResult
from letswork.shared.protocol.changes import (
    ChangeDecidedData,
    ChangeDetail,
    ChangeInfo,
    ChangeList,
    ChangeSubmittedData,
)
from letswork.shared.protocol.files import FileChangedData
from letswork.shared.protocol.locks import LockReleasedData, LockTakenData
from letswork.shared.protocol.messages import MessageData, MessageInfo, MessageReceiptData
from letswork.shared.protocol.presence import ActivityEntry, ActivityLogResult
from letswork.shared.protocol.session import (
    NameChangedData,
    PeerData,
    PeerInfo,
    PeerLeftData,
    StatusResult,
)
from letswork.shared.protocol.tasks import TaskUpdatedData
from letswork.shared.protocol.variables import VarChangedData
from letswork.shared.protocol.wire import Event, parse_event_data, parse_result
from letswork.shared.sanitize import clean_terminal, terminal_line

log = logging.getLogger("letswork.ui")

M = TypeVar("M", bound=BaseModel)


class _PublicAddress(Protocol):
    @property
    def public_url(self) -> str: ...


class _HubSettings(Protocol):
    @property
    def limits(self) -> Limits: ...


class HostedHub(Protocol):
    """What the dashboard uses of the hub it runs beside: :class:`letswork.hub.app.RunningHub`,
    which ``letswork start`` passes. A protocol, so the terminal layer imports nothing of the
    hub (docs/architecture.md, "The cut")."""

    @property
    def root(self) -> Path: ...

    @property
    def state(self) -> ProjectState: ...

    @property
    def config(self) -> _HubSettings: ...

    @property
    def core(self) -> _PublicAddress | None: ...

    @property
    def host_url(self) -> str: ...

    @property
    def stop_requested(self) -> asyncio.Event: ...

    def current_invite(self) -> str: ...


#: Longest diff shown, in lines; the rest is summarised (``letswork diff ID`` shows it all).
MAX_DIFF_LINES = 2000
#: Longest diff shown, in characters (one huge line would otherwise pass).
MAX_DIFF_CHARS = 200_000
#: Lines kept in the activity feed.
MAX_ACTIVITY_LINES = 1000
#: Entries of the hub's activity log shown when the dashboard first connects.
HISTORY_ENTRIES = 50
#: The dashboard reloads the hub's state this often even without events, seconds.
REFRESH_INTERVAL_SECONDS = 5.0
#: Reconnect backoff: first delay and ceiling, seconds.
RECONNECT_FIRST_DELAY = 0.5
RECONNECT_MAX_DELAY = 10.0

#: Style of a guest waiting for admission (its row in the people table).
WAITING_STYLE = "bold black on yellow"
_ERROR_STYLE = "bold red"
_WARN_STYLE = "yellow"
_OK_STYLE = "green"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
_ONE_LINE = re.compile(r"\s+")


# ------------------------------------------------------------------------------ peer text


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


def _clock_text(ts: float | None = None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def _in_words(seconds: float) -> str:
    if seconds <= 0:
        return "now"
    if seconds < 90:
        return f"in {seconds:.0f}s"
    if seconds < 90 * 60:
        return f"in {seconds / 60:.0f}m"
    return f"in {seconds / 3600:.1f}h"


def _cursor_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor, or None for an empty table."""
    if table.row_count == 0:
        return None
    row = min(max(table.cursor_row, 0), table.row_count - 1)
    return table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value


# ------------------------------------------------------------------------------ messages


class HubEvent(Message):
    """An event from the hub, delivered through the app's message queue."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class ActivityLine(Message):
    """A line for the activity feed from outside the app (log records, ``letswork start``)."""

    def __init__(self, text: str, style: str = "") -> None:
        super().__init__()
        self.text = text
        self.style = style


class InviteChanged(Message):
    """The invite code changed (the tunnel restarted with a new address)."""

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code


# ------------------------------------------------------------------------------ reason prompt


class ReasonScreen(ModalScreen[str | None]):
    """Ask for a reason. Dismissed with the text typed (may be empty), or None on Escape."""

    DEFAULT_CSS = """
    ReasonScreen {
        align: center middle;
    }
    ReasonScreen > Vertical {
        width: 80%;
        max-width: 110;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 1 2;
    }
    ReasonScreen Static {
        margin-bottom: 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, prompt: Text, placeholder: str) -> None:
        super().__init__()
        self._prompt = prompt
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._prompt)
            yield Input(placeholder=self._placeholder, max_length=MAX_SHORT_TEXT_CHARS)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, message: Input.Submitted) -> None:
        message.stop()
        self.dismiss(message.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


# ------------------------------------------------------------------------------ the app


class Dashboard(App[None]):
    """The host's dashboard for the hub at ``url``.

    Args:
        url: the hub's local ``ws://`` URL.
        host_secret: the host key (``host.key``).
        invite: the invite code shown in the invite box.
        project: the project folder, for the title line.
        limits: the hub's limits (frame size, request timeout); defaults to the defaults.
        stop_event: when set by someone else (Ctrl+C in ``letswork start``, ``letswork stop``),
            the dashboard exits.
        notes: lines for the activity feed at start (e.g. the Claude Code set-up result).
    """

    TITLE = "letswork"
    CSS = """
    Screen {
        layout: vertical;
    }
    #status {
        height: 1;
        padding: 0 1;
        background: $primary-background;
    }
    #banner {
        height: auto;
        padding: 0 1;
        background: $error;
        color: $text;
        display: none;
    }
    #invite {
        height: auto;
        border: round $success;
        padding: 0 1;
    }
    #main {
        height: 3fr;
    }
    #left {
        width: 45%;
    }
    #left > DataTable {
        height: 1fr;
        min-height: 4;
        border: round $primary;
    }
    #left > DataTable:focus {
        border: round $accent;
    }
    #diff-pane {
        width: 1fr;
        border: round $primary;
    }
    #activity {
        height: 1fr;
        min-height: 4;
        max-height: 12;
        border: round $primary;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve"),
        Binding("r", "reject", "Reject"),
        Binding("y", "admit", "Admit"),
        Binding("A", "admit_all", "Admit all"),
        Binding("n", "deny", "Deny"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        url: str,
        host_secret: bytes,
        invite: str,
        project: str,
        *,
        limits: Limits | None = None,
        stop_event: asyncio.Event | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.hub_url = url
        self.project_name = project
        self.invite_code = invite
        self.conn = HubConnection(
            url,
            host_secret,
            name="host",
            client="dashboard",
            on_event=self._forward_event,
            limits=limits,
        )
        #: The people connected, from the last ``status`` (the dashboard itself left out).
        self.peer_list: list[PeerInfo] = []
        #: The pending changes by id, in queue order (without diffs).
        self.pending: dict[str, ChangeInfo] = {}
        #: The locks, from the last ``status``.
        self.lock_list: list[LockInfo] = []
        #: Every line of the activity feed, oldest first.
        self.activity: list[Text] = []
        #: The change whose diff is on screen, and that diff (sanitised).
        self.shown_change_id: str | None = None
        self.diff_text = ""
        #: ``connecting``, ``connected``, ``disconnected`` or ``refused``.
        self.connection_state = "connecting"
        #: How many times the hub's state was loaded (tests wait on it).
        self.loads = 0
        #: The last notifications shown, as ``(severity, text)``, oldest first.
        self.notices: list[tuple[SeverityLevel, str]] = []
        self._diffs: dict[str, ChangeInfo] = {}
        self._fetching: str | None = None
        self._refresh_wanted = asyncio.Event()
        self._stop_event = stop_event
        self._notes = list(notes)
        self._banner_text: Text | None = None
        #: When the link to the hub was last lost (None before the first connection).
        self._lost_at: float | None = None
        #: How many times the activity log's history was loaded (tests wait on it).
        self.history_loads = 0

    # -------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield Static(id="banner")
        yield Static(id="invite")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield DataTable(id="peers", cursor_type="row")
                yield DataTable(id="changes", cursor_type="row")
                yield DataTable(id="locks", cursor_type="row")
            with VerticalScroll(id="diff-pane"):
                yield Static(id="diff")
        yield RichLog(
            id="activity", markup=False, highlight=False, wrap=True, max_lines=MAX_ACTIVITY_LINES
        )
        yield Footer()

    def on_mount(self) -> None:
        peers = self.query_one("#peers", DataTable)
        peers.border_title = "People"
        peers.add_column("Name", key="name")
        peers.add_column("Role", key="role")
        peers.add_column("State", key="state")
        changes = self.query_one("#changes", DataTable)
        changes.border_title = "Pending changes (a approve, r reject)"
        changes.add_column("ID", key="id")
        changes.add_column("By", key="author")
        changes.add_column("Change", key="change")
        locks = self.query_one("#locks", DataTable)
        locks.border_title = "Locks"
        locks.add_column("Path", key="path")
        locks.add_column("Holder", key="holder")
        locks.add_column("Expires", key="expires")
        self.query_one("#invite", Static).border_title = "Invite"
        self.query_one("#diff-pane", VerticalScroll).border_title = "Diff"
        self.query_one("#activity", RichLog).border_title = "Activity"
        self._render_invite()
        self._render_status()
        self._render_diff(None)
        for note in self._notes:
            self.add_activity(note)
        changes.focus()
        self.run_worker(self._connection_loop(), name="connection", exit_on_error=False)
        self.run_worker(self._refresher(), name="refresher", exit_on_error=False)
        if self._stop_event is not None:
            self.run_worker(self._exit_on_stop(self._stop_event), exit_on_error=False)
        self.set_interval(REFRESH_INTERVAL_SECONDS, self._request_refresh)

    async def on_unmount(self) -> None:
        await self.conn.close()

    # -------------------------------------------------------------- public helpers

    @property
    def join_line(self) -> str:
        """The exact line a guest runs."""
        return f"letswork join {clean_terminal(self.invite_code)}"

    def add_activity(self, line: str | Text, style: str = "", *, at: float | None = None) -> None:
        """Append one line to the activity feed (a str is sanitised, kept on one line and shown
        literally); ``at`` is when it happened, if not now."""
        body = line.copy() if isinstance(line, Text) else Text(one_line(line, 2000), style=style)
        entry = Text(_clock_text(at) + " ", style="dim", end="")
        entry.append_text(body)
        self.activity.append(entry)
        del self.activity[:-MAX_ACTIVITY_LINES]
        self.query_one("#activity", RichLog).write(entry)

    def set_invite(self, code: str) -> None:
        """Show a new invite code (the tunnel's address changed)."""
        self.invite_code = code
        self._render_invite()
        self.add_activity("the invite changed; send the new line to your guests", _WARN_STYLE)

    @on(ActivityLine)
    def _activity_line(self, message: ActivityLine) -> None:
        self.add_activity(message.text, message.style)

    @on(InviteChanged)
    def _invite_changed(self, message: InviteChanged) -> None:
        if message.code != self.invite_code:
            self.set_invite(message.code)

    # -------------------------------------------------------------- connection

    async def _exit_on_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.exit()

    async def _connection_loop(self) -> None:
        delay = RECONNECT_FIRST_DELAY
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.conn.connect()
            except HandshakeError as exc:
                self.connection_state = "refused"
                self._show_banner(
                    f"The hub refused the host key ({exc.message}). "
                    "Restart `letswork start` in this folder."
                )
                self._render_status()
                return
            except LetsworkError as exc:
                self.connection_state = "disconnected"
                self._show_banner(
                    f"Not connected to the hub: {exc.message}. "
                    f"Retrying in {delay:.1f}s (attempt {attempt})."
                )
                self._render_status()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_DELAY)
                continue
            if attempt > 1 or self.connection_state != "connecting":
                self.add_activity("reconnected to the hub", _OK_STYLE)
            self.run_worker(
                self._load_history(self._lost_at, time.time()), group="history", exit_on_error=False
            )
            attempt, delay = 0, RECONNECT_FIRST_DELAY
            self.connection_state = "connected"
            self._show_banner(None)
            self._render_status()
            self._request_refresh()
            await self.conn.wait_disconnected()
            self._lost_at = time.time()
            self.connection_state = "disconnected"
            why = self.conn.last_error or "the connection was lost"
            self._show_banner(f"Connection to the hub lost: {why}. Reconnecting...")
            self._render_status()
            self.add_activity(f"connection to the hub lost: {why}", _ERROR_STYLE)

    def _forward_event(self, event: Event) -> None:
        self.post_message(HubEvent(event))

    @on(HubEvent)
    def _hub_event(self, message: HubEvent) -> None:
        event = message.event
        line, refresh = describe_event(event)
        self.add_activity(line)
        if event.name == "awaiting_admission":
            name = one_line(str(event.data.get("name", "a guest")), 64)
            self.bell()
            self._notify(f"{name} is waiting to be admitted: y admits, n denies.", "warning")
        elif event.name == "change_submitted" or _to_host(event):
            self._notify(line.plain, "information")
        elif event.name == "hub_stopping":
            self._show_banner("The hub is stopping.")
        if refresh:
            self._request_refresh()

    async def _load_history(self, since: float | None, until: float) -> None:
        """Show the activity log's entries from before this connection: the latest ones on
        the first connection, those since the link was lost after a reconnect."""
        args: dict[str, Any] = {"limit": HISTORY_ENTRIES}
        if since is not None:
            args["since"] = since
        try:
            log_result = await self._call("activity_log", ActivityLogResult, args)
        except LetsworkError as exc:
            self.add_activity(f"could not load the activity log: {exc.message}", _WARN_STYLE)
            return
        entries = [
            e
            for e in log_result.entries
            if e.at < until and not (e.actor == "host" and e.kind in ("join", "leave"))
        ]
        if entries:
            head = "earlier activity:" if since is None else "while the dashboard was away:"
            self.add_activity(head, "dim italic")
        for entry in entries:
            self.add_activity(describe_activity(entry), at=entry.at)
        self.history_loads += 1

    # -------------------------------------------------------------- loading state

    def _request_refresh(self) -> None:
        self._refresh_wanted.set()

    async def _refresher(self) -> None:
        """Reload status and the queue whenever asked; requests made meanwhile coalesce."""
        while True:
            await self._refresh_wanted.wait()
            self._refresh_wanted.clear()
            if not self.conn.connected:
                continue
            try:
                status = await self._call("status", StatusResult)
                queue = await self._call("pending_changes", ChangeList, {"include_diff": False})
            except LetsworkError as exc:
                if self.conn.connected:
                    self._error(f"could not load the hub's state: {exc.message}")
                continue
            try:
                self._load(status, queue)
            except Exception as exc:  # a display bug must not stop the updates
                log.exception("dashboard: cannot show the hub's state")
                self._error(f"cannot show the hub's state: internal error ({type(exc).__name__})")

    def _load(self, status: StatusResult, queue: ChangeList) -> None:
        me = status.you.peer_id
        self.peer_list = sorted(
            (p for p in status.peers if p.peer_id != me),
            key=lambda p: (p.state != "awaiting_admission", p.role == "host", p.name.lower()),
        )
        self.pending = {c.id: c for c in queue.changes}
        self.lock_list = sorted(status.locks, key=lambda lock: lock.path)
        for stale in set(self._diffs) - set(self.pending):
            del self._diffs[stale]
        self._render_peers()
        self._render_changes()
        self._render_locks()
        self._render_status()
        self._show_selected_change()
        self.loads += 1

    async def _call(self, op: str, model: type[M], args: Mapping[str, Any] | None = None) -> M:
        raw = await self.conn.request(op, args)
        result = parse_result(op, raw)
        assert isinstance(result, model)
        return result

    # -------------------------------------------------------------- rendering

    def _render_status(self) -> None:
        state_style = {"connected": _OK_STYLE, "connecting": _WARN_STYLE}.get(
            self.connection_state, _ERROR_STYLE
        )
        guests = [p for p in self.peer_list if p.role != "host"]
        waiting = sum(p.state == "awaiting_admission" for p in guests)
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append("letswork", style="bold")
        text.append("  " + one_line(self.project_name, 80))
        text.append("  " + self.connection_state, style=state_style)
        text.append(f"  {len(guests)} guest{'s' if len(guests) != 1 else ''}")
        if waiting:
            text.append(f"  {waiting} waiting", style=WAITING_STYLE)
        text.append(f"  {len(self.pending)} pending")
        self.query_one("#status", Static).update(text)

    def _show_banner(self, message: str | None) -> None:
        banner = self.query_one("#banner", Static)
        if message is None:
            self._banner_text = None
            banner.display = False
            return
        self._banner_text = Text(one_line(message, 2000), style="bold")
        banner.update(self._banner_text)
        banner.display = True

    @property
    def banner(self) -> str | None:
        """The banner's text, or None when no banner is shown."""
        return None if self._banner_text is None else self._banner_text.plain

    def _render_invite(self) -> None:
        text = Text(end="")
        text.append("Send this line to one person (it lets them join):\n", style="dim")
        text.append(self.join_line, style="bold green")
        with contextlib.suppress(LetsworkError, ValueError):
            url = invite_codes.parse(self.invite_code).url
            host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
            if host in _LOOPBACK_HOSTS:
                text.append(
                    "\nlocal mode: reachable from this machine only (see `letswork start --help`)",
                    style=_WARN_STYLE,
                )
        self.query_one("#invite", Static).update(text)

    def _render_peers(self) -> None:
        table = self.query_one("#peers", DataTable)
        keep = _cursor_key(table)
        table.clear()
        for peer in self.peer_list:
            waiting = peer.state == "awaiting_admission"
            style = WAITING_STYLE if waiting else ""
            if waiting:
                state = "WAITING: y admit, n deny"
            elif peer.role == "host":
                state = "online (your assistant or a command)"
            else:
                state = "online, trusted" if peer.trusted else "online"
            table.add_row(
                peer_text(peer.name, style, 64),
                Text(peer.role, style=style),
                Text(state, style=style),
                key=peer.peer_id,
            )
        guests = sum(p.role != "host" for p in self.peer_list)
        table.border_title = Text(f"People ({guests} guest{'s' if guests != 1 else ''})")
        _restore_cursor(table, keep)

    def _render_changes(self) -> None:
        table = self.query_one("#changes", DataTable)
        keep = _cursor_key(table)
        table.clear()
        for change in self.pending.values():
            what = peer_text(describe_change(change), "", 200)
            if change.sensitive:
                what.append(sensitive_mark(change), style=_WARN_STYLE)
            table.add_row(
                peer_text(change.id, "bold", 16),
                peer_text(change.author, "cyan", 32),
                what,
                key=change.id,
            )
        table.border_title = Text(f"Pending changes ({len(self.pending)}): a approve, r reject")
        _restore_cursor(table, keep)

    def _render_locks(self) -> None:
        table = self.query_one("#locks", DataTable)
        keep = _cursor_key(table)
        table.clear()
        now = time.time()
        keys: set[str] = set()
        for lock in self.lock_list:
            key = lock.path
            while key in keys:  # one row per lock, even if two spell one path differently
                key += "\0"
            keys.add(key)
            expires = (
                f"with change {one_line(lock.change_id, 16)}"
                if lock.change_id
                else _in_words(lock.expires_at - now)
            )
            table.add_row(
                peer_text(lock.path),
                peer_text(lock.holder, "", 64),
                Text(expires),
                key=key,
            )
        table.border_title = Text(f"Locks ({len(self.lock_list)})")
        _restore_cursor(table, keep)

    def _render_diff(self, change: ChangeInfo | None, note: str | None = None) -> None:
        view = self.query_one("#diff", Static)
        if change is None:
            self.diff_text = ""
            view.update(Text(note or "No pending change.", style="dim"))
            return
        self.diff_text, renderable = diff_renderable(change)
        view.update(renderable)

    @on(DataTable.RowHighlighted, "#changes")
    def _change_highlighted(self, message: DataTable.RowHighlighted) -> None:
        self._show_selected_change()

    def _show_selected_change(self) -> None:
        change_id = self.selected_change_id
        if change_id is None:
            self.shown_change_id = None
            self._render_diff(None)
            return
        cached = self._diffs.get(change_id)
        if cached is not None:
            if self.shown_change_id != change_id or self.diff_text == "":
                self.shown_change_id = change_id
                self._render_diff(cached)
            return
        if self.shown_change_id != change_id:
            self.shown_change_id = None
            self._render_diff(None, f"Loading the diff of change {one_line(change_id, 16)}...")
        if self._fetching != change_id:
            self._fetching = change_id
            self.run_worker(
                self._fetch_diff(change_id), group="diff", exclusive=True, exit_on_error=False
            )

    async def _fetch_diff(self, change_id: str) -> None:
        try:
            detail = await self._call("get_change", ChangeDetail, {"id": change_id})
        except LetsworkError as exc:
            if self.selected_change_id == change_id:
                self._render_diff(None, f"Cannot show this diff: {one_line(exc.message, 300)}")
            return
        finally:
            if self._fetching == change_id:
                self._fetching = None
        if change_id not in self.pending:
            return
        self._diffs[change_id] = detail.change
        if self.selected_change_id == change_id:
            self.shown_change_id = change_id
            self._render_diff(detail.change)

    # -------------------------------------------------------------- selection

    @property
    def selected_change_id(self) -> str | None:
        """The id of the pending change under the cursor."""
        return _cursor_key(self.query_one("#changes", DataTable))

    def _waiting_guests(self) -> list[PeerInfo]:
        return [p for p in self.peer_list if p.state == "awaiting_admission"]

    def _selected_waiting(self) -> PeerInfo | None:
        """The waiting guest under the people cursor, else the first one waiting."""
        waiting = self._waiting_guests()
        key = _cursor_key(self.query_one("#peers", DataTable))
        for peer in waiting:
            if peer.peer_id == key:
                return peer
        return waiting[0] if waiting else None

    # -------------------------------------------------------------- actions

    def action_approve(self) -> None:
        change_id = self.selected_change_id
        if change_id is None:
            self._notify("There is no pending change to approve.", "warning")
            return
        self.run_worker(self.approve_change(change_id), group="ops", exit_on_error=False)

    async def approve_change(self, change_id: str) -> None:
        with self._reporting(f"approve change {change_id}"):
            detail = await self._call("approve_change", ChangeDetail, {"id": change_id})
            change = detail.change
            if change.status == "applied":
                self._notify(f"Approved: {describe_change(change)}", "information")
            elif change.status == "conflict":
                self._notify(
                    f"Change {one_line(change.id, 16)} was not applied: {one_line(change.path)} "
                    "changed since it was proposed (conflict).",
                    "warning",
                )
            else:
                self._notify(f"Change {one_line(change.id, 16)} is {change.status}.", "warning")
        self._request_refresh()

    def action_reject(self) -> None:
        change_id = self.selected_change_id
        if change_id is None:
            self._notify("There is no pending change to reject.", "warning")
            return
        change = self.pending.get(change_id)
        prompt = Text(end="")
        prompt.append(f"Reject change {one_line(change_id, 16)}", style="bold")
        if change is not None:
            prompt.append(f": {describe_change(change)} by {one_line(change.author, 64)}")
        prompt.append("\nReason (optional, the author sees it). Enter sends, Escape cancels.")

        def done(reason: str | None) -> None:
            if reason is None:
                return
            self.run_worker(
                self.reject_change(change_id, reason or None), group="ops", exit_on_error=False
            )

        self.push_screen(ReasonScreen(prompt, "why this change is rejected"), done)

    async def reject_change(self, change_id: str, reason: str | None) -> None:
        with self._reporting(f"reject change {change_id}"):
            args: dict[str, Any] = {"id": change_id}
            if reason:
                args["reason"] = reason
            detail = await self._call("reject_change", ChangeDetail, args)
            self._notify(f"Rejected: {describe_change(detail.change)}", "information")
        self._request_refresh()

    def action_admit(self) -> None:
        peer = self._selected_waiting()
        if peer is None:
            self._notify("Nobody is waiting to be admitted.", "warning")
            return
        self.run_worker(self.admit_guests([peer.name]), group="ops", exit_on_error=False)

    def action_admit_all(self) -> None:
        names = [p.name for p in self._waiting_guests()]
        if not names:
            self._notify("Nobody is waiting to be admitted.", "warning")
            return
        self.run_worker(self.admit_guests(names), group="ops", exit_on_error=False)

    async def admit_guests(self, names: Iterable[str]) -> None:
        for name in names:
            with self._reporting(f"admit {name}"):
                await self._call("admit", NameResult, {"name": name})
                self.add_activity(f"you admitted {one_line(name, 64)}", _OK_STYLE)
        self._request_refresh()

    def action_deny(self) -> None:
        peer = self._selected_waiting()
        if peer is None:
            self._notify("Nobody is waiting to be admitted.", "warning")
            return
        name = peer.name
        prompt = Text(end="")
        prompt.append(f"Deny {one_line(name, 64)}", style="bold")
        prompt.append(" (they are disconnected and cannot rejoin with this invite).")
        prompt.append("\nReason (optional, they see it). Enter sends, Escape cancels.")

        def done(reason: str | None) -> None:
            if reason is None:
                return
            self.run_worker(self.deny_guest(name, reason or None), group="ops", exit_on_error=False)

        self.push_screen(ReasonScreen(prompt, "why they are refused"), done)

    async def deny_guest(self, name: str, reason: str | None) -> None:
        with self._reporting(f"deny {name}"):
            args: dict[str, Any] = {"name": name}
            if reason:
                args["reason"] = reason
            await self._call("deny", NameResult, args)
            self.add_activity(f"you denied {one_line(name, 64)}", _WARN_STYLE)
        self._request_refresh()

    # -------------------------------------------------------------- errors

    @contextlib.contextmanager
    def _reporting(self, what: str) -> Iterator[None]:
        """Turn any failure of the block into a notification and a feed line."""
        try:
            yield
        except LetsworkError as exc:
            self._error(f"could not {what}: {exc.message}")
        except Exception as exc:
            log.exception("dashboard: %s failed", what)
            self._error(f"could not {what}: internal error ({type(exc).__name__})")

    def _error(self, message: str) -> None:
        self.add_activity(message, _ERROR_STYLE)
        self._notify(message, "error")

    def _notify(self, message: str, severity: SeverityLevel) -> None:
        text = one_line(message, 400)
        self.notices.append((severity, text))
        del self.notices[:-100]
        self.notify(text, severity=severity, markup=False)


def _to_host(event: Event) -> bool:
    """``event`` is a message to the host alone (the host is told, not just the feed)."""
    message = event.data.get("message") if event.name == "message" else None
    return isinstance(message, Mapping) and message.get("to") == "host"


def _restore_cursor(table: DataTable[Any], key: str | None) -> None:
    if key is None or table.row_count == 0:
        return
    with contextlib.suppress(Exception):
        table.move_cursor(row=table.get_row_index(key), animate=False)


# ------------------------------------------------------------------------------ running


class _FeedHandler(logging.Handler):
    """Log records (warnings and worse) to the activity feed, from any thread."""

    def __init__(self, app: Dashboard, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.WARNING)
        self._app = app
        self._loop = loop
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            style = _ERROR_STYLE if record.levelno >= logging.ERROR else _WARN_STYLE
            message = ActivityLine(f"{record.levelname.lower()}: {record.getMessage()}", style)
            if threading.get_ident() == self._thread:
                self._app.post_message(message)
            else:
                self._loop.call_soon_threadsafe(self._app.post_message, message)
        except Exception:  # a log record must never break the caller
            self.handleError(record)


def _is_terminal_handler(handler: logging.Handler) -> bool:
    if isinstance(handler, logging.FileHandler) or not isinstance(handler, logging.StreamHandler):
        return False
    streams = (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)
    return any(handler.stream is s for s in streams if s is not None)


@contextlib.contextmanager
def _logs_to_feed(app: Dashboard) -> Iterator[None]:
    """While the dashboard owns the terminal, log lines go to its feed, not to stderr."""
    loggers = [logging.getLogger(), logging.getLogger("letswork")]
    muted: list[tuple[logging.Logger, logging.Handler]] = []
    for logger in loggers:
        for handler in list(logger.handlers):
            if _is_terminal_handler(handler):
                logger.removeHandler(handler)
                muted.append((logger, handler))
    feed = _FeedHandler(app, asyncio.get_running_loop())
    target = logging.getLogger("letswork")
    target.addHandler(feed)
    try:
        yield
    finally:
        target.removeHandler(feed)
        for logger, handler in muted:
            logger.addHandler(handler)


async def _follow_invite(hub: HostedHub, app: Dashboard, every: float = 1.0) -> None:
    """Show the new invite when the tunnel's public address changes."""
    seen = hub.core.public_url if hub.core is not None else None
    while True:
        await asyncio.sleep(every)
        core = hub.core
        if core is None or core.public_url == seen:
            continue
        seen = core.public_url
        try:
            code = hub.current_invite()
        except Exception:
            log.debug("cannot read the current invite", exc_info=True)
            continue
        app.post_message(InviteChanged(code))


async def run_dashboard(
    hub: HostedHub,
    *,
    notes: Sequence[str] = (),
    headless: bool = False,
    on_start: Callable[[Dashboard], None] | None = None,
) -> None:
    """Run the dashboard for ``hub`` until the user quits or ``hub.stop_requested`` is set.

    Quitting (``q``, Ctrl+C) sets ``hub.stop_requested``, which stops ``letswork start``.

    Args:
        hub: the running hub (its local URL, host key, invite and limits are used).
        notes: lines for the activity feed at start (e.g. from
            :func:`letswork.ui.claude.register_host_assistant`).
        headless: run without a terminal (tests).
        on_start: called with the app before it runs (tests).
    """
    host_secret = read_secret_file(hub.state.host_key_path)
    app = Dashboard(
        hub.host_url,
        host_secret,
        hub.current_invite(),
        str(hub.root),
        limits=hub.config.limits,
        stop_event=hub.stop_requested,
        notes=notes,
    )
    if on_start is not None:
        on_start(app)
    follow = asyncio.create_task(_follow_invite(hub, app))
    try:
        with _logs_to_feed(app):
            await app.run_async(headless=headless)
    finally:
        follow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follow
        hub.stop_requested.set()
