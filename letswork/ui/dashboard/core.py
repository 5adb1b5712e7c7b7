"""The dashboard's state and what every pane uses: the connection to the hub, the last state
loaded from it, the activity feed, the banner and status line, and turning failures into
notifications.

:class:`DashboardCore` holds it; each pane is a subclass of it that adds its rendering and its
actions (:mod:`.invite`, :mod:`.people`, :mod:`.changes`, :mod:`.locks`), and
:class:`letswork.ui.dashboard.app.Dashboard` joins them with the layout and the connection loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from rich.text import Text
from textual.app import App
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.widgets import RichLog, Static

from letswork.client.connection import HubConnection
from letswork.shared.errors import LetsworkError
from letswork.shared.limits import Limits
from letswork.shared.protocol.base import LockInfo
from letswork.shared.protocol.changes import ChangeInfo
from letswork.shared.protocol.presence import PresenceInfo
from letswork.shared.protocol.session import PeerInfo
from letswork.shared.protocol.wire import Event, parse_result
from letswork.ui.dashboard.feed import MAX_ACTIVITY_LINES, _clock_text
from letswork.ui.dashboard.presence import BriefVisits
from letswork.ui.dashboard.words import (
    _ERROR_STYLE,
    _OK_STYLE,
    _WARN_STYLE,
    WAITING_STYLE,
    one_line,
)

log = logging.getLogger("letswork.ui")

M = TypeVar("M", bound=BaseModel)


class HubEvent(Message):
    """An event from the hub, delivered through the app's message queue."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class DashboardCore(App[None]):
    """The state and helpers every pane shares; :class:`letswork.ui.dashboard.app.Dashboard`
    documents the arguments."""

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
        #: The known guests who are offline, from the last ``list_peers`` (most recently seen
        #: first, at most ``MAX_OFFLINE_LISTED``).
        self.offline_list: list[PresenceInfo] = []
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
        #: A clean merge shown for a change (issue 17 part 2): the file's and the merged text's
        #: sha256, which the next ``a`` on that change approves exactly.
        self._merges: dict[str, tuple[str | None, str | None]] = {}
        self._fetching: str | None = None
        self._refresh_wanted = asyncio.Event()
        self._stop_event = stop_event
        self._notes = list(notes)
        self._banner_text: Text | None = None
        #: When the link to the hub was last lost (None before the first connection).
        self._lost_at: float | None = None
        #: How many times the activity log's history was loaded (tests wait on it).
        self.history_loads = 0
        #: Joins not yet written to the feed, and brief visits not yet summed up.
        self.visits = BriefVisits()

    def add_activity(self, line: str | Text, style: str = "", *, at: float | None = None) -> None:
        """Append one line to the activity feed (a str is sanitised, kept on one line and shown
        literally); ``at`` is when it happened, if not now."""
        body = line.copy() if isinstance(line, Text) else Text(one_line(line, 2000), style=style)
        entry = Text(_clock_text(at) + " ", style="dim", end="")
        entry.append_text(body)
        self.activity.append(entry)
        del self.activity[:-MAX_ACTIVITY_LINES]
        self.query_one("#activity", RichLog).write(entry)

    def _forward_event(self, event: Event) -> None:
        self.post_message(HubEvent(event))

    def _request_refresh(self) -> None:
        self._refresh_wanted.set()

    async def _call(self, op: str, model: type[M], args: Mapping[str, Any] | None = None) -> M:
        raw = await self.conn.request(op, args)
        result = parse_result(op, raw)
        assert isinstance(result, model)
        return result

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
