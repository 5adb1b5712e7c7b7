"""The people pane: who is connected, with role and state, then the known guests who are
offline ("offline since 14:02" on the local clock, dimmed; from ``list_peers`` with
``offline``); guests waiting for admission are highlighted, ``y`` admits the selected (or
first) waiting guest, ``A`` admits all of them, ``n`` denies one with a reason."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from letswork.shared.protocol.base import NameResult
from letswork.shared.protocol.session import PeerInfo
from letswork.ui.dashboard.core import DashboardCore
from letswork.ui.dashboard.feed import minute_text
from letswork.ui.dashboard.reason import ReasonScreen
from letswork.ui.dashboard.tables import _cursor_key, _restore_cursor
from letswork.ui.dashboard.words import _OK_STYLE, _WARN_STYLE, WAITING_STYLE, one_line, peer_text

log = logging.getLogger("letswork.ui")

#: Known guests with no connection now.
OFFLINE_STYLE = "dim"


class PeoplePane(DashboardCore):
    """The people table and the admission actions."""

    def _render_peers(self) -> None:
        """Waiting and connected guests, then the offline ones, then the host's own
        connections (last: on a short screen the guests are what the host must see)."""
        table = self.query_one("#peers", DataTable)
        keep = _cursor_key(table)
        table.clear()
        guests = [p for p in self.peer_list if p.role != "host"]
        hosts = [p for p in self.peer_list if p.role == "host"]
        for peer in guests:
            self._add_connection(table, peer)
        shown = {p.peer_id for p in self.peer_list}
        for gone in self.offline_list:
            # A guest id never equals a connection's, nor is listed twice by a sound hub; a
            # row key shown twice would make add_row raise and the pane stop updating.
            if gone.peer_id in shown:
                continue
            shown.add(gone.peer_id)
            since = gone.offline_since
            state = "offline" if since is None else f"offline since {minute_text(since)}"
            table.add_row(
                peer_text(gone.name, OFFLINE_STYLE, 64),
                Text(gone.role, style=OFFLINE_STYLE),
                Text(state, style=OFFLINE_STYLE),
                key=gone.peer_id,
            )
        for peer in hosts:
            self._add_connection(table, peer)
        title = f"People ({len(guests)} guest{'s' if len(guests) != 1 else ''}"
        if self.offline_list:
            title += f", {len(self.offline_list)} offline"
        table.border_title = Text(title + ")")
        _restore_cursor(table, keep)

    @staticmethod
    def _add_connection(table: DataTable[Any], peer: PeerInfo) -> None:
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
