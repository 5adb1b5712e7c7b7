"""The invite box: the exact ``letswork join CODE`` line a guest runs (with a warning in local
mode), and a new code when the tunnel's address changes."""

from __future__ import annotations

import contextlib

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import Static

from letswork.shared import invite as invite_codes
from letswork.shared.errors import LetsworkError
from letswork.shared.sanitize import clean_terminal
from letswork.ui.dashboard.core import DashboardCore
from letswork.ui.dashboard.words import _WARN_STYLE

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


class InviteChanged(Message):
    """The invite code changed (the tunnel restarted with a new address)."""

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code


class InvitePane(DashboardCore):
    """The invite box of the dashboard."""

    @property
    def join_line(self) -> str:
        """The exact line a guest runs."""
        return f"letswork join {clean_terminal(self.invite_code)}"

    def set_invite(self, code: str) -> None:
        """Show a new invite code (the tunnel's address changed)."""
        self.invite_code = code
        self._render_invite()
        self.add_activity("the invite changed; send the new line to your guests", _WARN_STYLE)

    @on(InviteChanged)
    def _invite_changed(self, message: InviteChanged) -> None:
        if message.code != self.invite_code:
            self.set_invite(message.code)

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
