"""The activity feed's pieces: how many lines it keeps, the clock stamp of a line, and the
message that brings a line in from outside the app (log records, ``letswork start``).

The feed itself is the ``#activity`` :class:`textual.widgets.RichLog` laid out by
:class:`letswork.ui.dashboard.app.Dashboard`; lines are added with
:meth:`letswork.ui.dashboard.core.DashboardCore.add_activity`.
"""

from __future__ import annotations

import time

from textual.message import Message

#: Lines kept in the activity feed.
MAX_ACTIVITY_LINES = 1000


def _clock_text(ts: float | None = None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def minute_text(ts: float) -> str:
    """``ts`` (seconds since the epoch) as "14:02", on the local clock like the feed's times."""
    return time.strftime("%H:%M", time.localtime(ts))


class ActivityLine(Message):
    """A line for the activity feed from outside the app (log records, ``letswork start``)."""

    def __init__(self, text: str, style: str = "") -> None:
        super().__init__()
        self.text = text
        self.style = style
