"""The locks pane: each lock's path, holder, and when it expires (or the change it waits on)."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import DataTable

from letswork.ui.dashboard.core import DashboardCore
from letswork.ui.dashboard.tables import _cursor_key, _restore_cursor
from letswork.ui.dashboard.words import one_line, peer_text


def _in_words(seconds: float) -> str:
    if seconds <= 0:
        return "now"
    if seconds < 90:
        return f"in {seconds:.0f}s"
    if seconds < 90 * 60:
        return f"in {seconds / 60:.0f}m"
    return f"in {seconds / 3600:.1f}h"


class LocksPane(DashboardCore):
    """The locks table."""

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
