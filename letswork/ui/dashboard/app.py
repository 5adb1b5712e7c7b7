"""The dashboard app: the layout and its CSS, the key bindings, the connection loop (reconnecting
with backoff), the hub's events into the feed, and reloading the hub's state.

Each pane's rendering and actions live in its own module; :class:`Dashboard` joins them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, RichLog, Static

from letswork.shared.errors import HandshakeError, LetsworkError
from letswork.shared.protocol.admin import ListInvitesResult
from letswork.shared.protocol.changes import ChangeList
from letswork.shared.protocol.presence import ActivityLogResult, ListPeersResult
from letswork.shared.protocol.session import StatusResult
from letswork.shared.protocol.wire import Event
from letswork.ui.dashboard.changes import ChangesPane
from letswork.ui.dashboard.core import HubEvent
from letswork.ui.dashboard.feed import MAX_ACTIVITY_LINES, ActivityLine
from letswork.ui.dashboard.invite import InvitePane
from letswork.ui.dashboard.locks import LocksPane
from letswork.ui.dashboard.people import PeoplePane
from letswork.ui.dashboard.presence import (
    BRIEF_SUMMARY_SECONDS,
    BRIEF_VISIT_SECONDS,
    drop_brief_visits,
)
from letswork.ui.dashboard.runs import RunsPane
from letswork.ui.dashboard.words import (
    _ERROR_STYLE,
    _OK_STYLE,
    _WARN_STYLE,
    describe_activity,
    describe_event,
    one_line,
)

log = logging.getLogger("letswork.ui")

#: Entries of the hub's activity log shown when the dashboard first connects.
HISTORY_ENTRIES = 50
#: The dashboard reloads the hub's state this often even without events, seconds.
REFRESH_INTERVAL_SECONDS = 5.0
#: Reconnect backoff: first delay and ceiling, seconds.
RECONNECT_FIRST_DELAY = 0.5
RECONNECT_MAX_DELAY = 10.0


class Dashboard(InvitePane, PeoplePane, ChangesPane, LocksPane, RunsPane):
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
    #: A connection leaving within this many seconds of joining writes no feed lines.
    brief_visit_seconds = BRIEF_VISIT_SECONDS
    ENABLE_COMMAND_PALETTE = False
    #: Below this many rows the tables leave out their header row (their titles name them).
    TABLE_HEADER_MIN_ROWS = 30
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
        border-top: round $success;
        border-bottom: round $success;
        padding: 0 1;
    }
    #main {
        height: 3fr;
    }
    #left {
        /* at 80 columns: "offline since 14:02" whole in the people pane */
        width: 48%;
    }
    #left > DataTable {
        height: 1fr;
        min-height: 4;
        border: round $primary;
        scrollbar-size-horizontal: 0;
        scrollbar-size-vertical: 1;
    }
    #left > #peers {
        /* people, offline ones included, get the most rows: 3 at 80x24 */
        height: 3fr;
    }
    #left > #changes, #left > #locks {
        height: 2fr;
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
        Binding("A", "admit_all", "All"),
        Binding("n", "deny", "Deny"),
        Binding("g", "approve_run", "Run", show=False),
        Binding("x", "deny_run", "Deny run", show=False),
        Binding("i", "new_invite", "Invite"),
        Binding("c", "copy_invite", "Copy"),
        Binding("h", "sharing_help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

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
        self.query_one("#diff-pane", VerticalScroll).border_title = "Diff"
        self.query_one("#activity", RichLog).border_title = "Activity"
        self._fit_to_size()
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
        self.set_interval(BRIEF_SUMMARY_SECONDS, self.summarise_brief_visits)

    def on_resize(self) -> None:
        self._fit_to_size()

    def _fit_to_size(self) -> None:
        """The join line's rows follow the width; short screens drop the tables' headers so
        each table keeps rows for its data."""
        self._render_invite()
        for table in self.query("#left > DataTable").results(DataTable):
            table.show_header = self.size.height >= self.TABLE_HEADER_MIN_ROWS

    async def on_unmount(self) -> None:
        await self.conn.close()

    @on(ActivityLine)
    def _activity_line(self, message: ActivityLine) -> None:
        self.add_activity(message.text, message.style)

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

    @on(HubEvent)
    def _hub_event(self, message: HubEvent) -> None:
        event = message.event
        if event.name == "run_updated":
            self.note_run_event(event)
            return
        line, refresh = describe_event(event)
        peer_id = str(event.data.get("peer_id", ""))
        if event.name == "peer_joined" and peer_id:
            self.visits.joined(peer_id, time.time(), line)  # written once it stays
            self.set_timer(self.brief_visit_seconds, lambda: self._settle_visit(peer_id))
        elif event.name != "peer_left" or self.visits.left(
            peer_id, str(event.data.get("name", ""))
        ):
            self.add_activity(line)
        if event.name == "awaiting_admission":
            name = one_line(str(event.data.get("name", "a guest")), 64)
            self.bell()
            self._notify(f"{name} is waiting to be admitted: y admits, n denies.", "warning")
        elif event.name == "change_submitted" or _to_host(event):
            if event.name == "change_submitted":
                change = event.data.get("change")
                if isinstance(change, dict):
                    self.forget_change(str(change.get("id", "")))
            self._notify(line.plain, "information")
        elif event.name == "hub_stopping":
            self._show_banner("The hub is stopping.")
        if refresh:
            self._request_refresh()

    def _settle_visit(self, peer_id: str) -> None:
        settled = self.visits.settled(peer_id)
        if settled is not None:
            at, line = settled
            self.add_activity(line, at=at)

    def summarise_brief_visits(self) -> None:
        """One feed line per person who connected only briefly since the last summary."""
        for line in self.visits.summary():
            self.add_activity(line, "dim")

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
        entries, brief = drop_brief_visits(
            e
            for e in log_result.entries
            if e.at < until and not (e.actor == "host" and e.kind in ("join", "leave"))
        )
        if entries:
            head = "earlier activity:" if since is None else "while the dashboard was away:"
            self.add_activity(head, "dim italic")
        for entry in entries:
            self.add_activity(describe_activity(entry), at=entry.at)
        if brief:
            many = f"{brief} brief connections" if brief != 1 else "1 brief connection"
            self.add_activity(f"({many} left out: joined and left within seconds)", "dim")
        self.history_loads += 1

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
                invites = await self._call("list_invites", ListInvitesResult)
                # Only for the known people who are offline: `status` lists connections.
                known = await self._call("list_peers", ListPeersResult, {"offline": True})
                await self.reload_runs()
            except LetsworkError as exc:
                if self.conn.connected:
                    self._error(f"could not load the hub's state: {exc.message}")
                continue
            try:
                self.offline_list = [p for p in known.peers if p.state == "offline"]
                self._load(status, queue)
                self._load_invites(invites)
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
        for stale in set(self._merges) - set(self.pending):
            del self._merges[stale]
        self._render_peers()
        self._render_changes()
        self._render_locks()
        self._render_status()
        self._show_selected_change()
        self.loads += 1


def _to_host(event: Event) -> bool:
    """``event`` is a message to the host alone (the host is told, not just the feed)."""
    message = event.data.get("message") if event.name == "message" else None
    return isinstance(message, Mapping) and message.get("to") == "host"
