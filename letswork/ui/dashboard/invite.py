"""The invite box: the exact ``letswork join CODE`` line a guest runs, only while that invite is
live (not revoked, not used up), cut into rows whose copy still parses
(:func:`letswork.ui.sharing.join_lines`); ``i`` makes a new invite (role, label), ``c`` copies
the current line and shows it on its own, ``h`` explains local mode. A new tunnel address
rewrites the shown code with it.

Whether the shown invite is live comes from the hub's ``list_invites``, read with every reload
of the hub's state, and judged in one place, :func:`invite_standing`.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from typing import Any, Literal

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import Static

from letswork.shared import crypto
from letswork.shared import invite as invite_codes
from letswork.shared.errors import LetsworkError
from letswork.shared.protocol.admin import CreateInviteResult, InviteInfo, ListInvitesResult
from letswork.shared.sanitize import clean_terminal
from letswork.ui.dashboard.core import DashboardCore
from letswork.ui.dashboard.invite_screens import NewInvite, NewInviteScreen, TextScreen
from letswork.ui.dashboard.words import _OK_STYLE, _WARN_STYLE, one_line
from letswork.ui.sharing import JOIN_COMMAND, join_lines, local_mode_help

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")

#: ``live``: it admits someone; ``used``: used up; ``revoked``; ``unknown``: not (yet) listed.
Standing = Literal["live", "used", "revoked", "unknown"]


def invite_standing(info: InviteInfo) -> Standing:
    """Whether ``info``'s invite can still admit someone.

    An invite admits as many people as its ``max_uses`` when the hub reports one, else one
    (the box says "send this line to one person"). A hub that reports ``expires_at`` (seconds
    since the epoch) makes it used up from then on.
    """
    if info.revoked:
        return "revoked"
    limit = getattr(info, "max_uses", None)
    if info.uses >= (limit if isinstance(limit, int) and limit > 0 else 1):
        return "used"
    expires = getattr(info, "expires_at", None)
    if isinstance(expires, (int, float)) and expires <= _now():
        return "used"
    return "live"


def _now() -> float:
    import time

    return time.time()


def invite_id_of(code: str) -> str | None:
    """The hex id the hub lists ``code``'s invite under, or None for a code that does not
    parse."""
    try:
        return crypto.derive_invite_id(invite_codes.parse(code).secret).hex()
    except (LetsworkError, ValueError):
        return None


class InviteChanged(Message):
    """The invite code changed (the tunnel restarted with a new address)."""

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code


class InvitePane(DashboardCore):
    """The invite box of the dashboard."""

    #: The shown invite's standing, from the last ``list_invites``.
    invite_state: Standing = "unknown"
    #: How many people joined with the shown invite.
    invite_uses = 0

    @property
    def join_line(self) -> str:
        """The exact line a guest runs."""
        return f"{JOIN_COMMAND} {clean_terminal(self.invite_code)}"

    @property
    def local_mode(self) -> bool:
        """The shown invite points at this machine only (no tunnel, no public URL)."""
        with contextlib.suppress(LetsworkError, ValueError):
            url = invite_codes.parse(self.invite_code).url
            host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
            return host in _LOOPBACK_HOSTS
        return False

    def set_invite(self, code: str, note: str | None = None) -> None:
        """Show ``code`` (a new invite, or the same one at a new address)."""
        self.invite_code = code
        self.invite_state, self.invite_uses = "live", 0
        self._render_invite()
        self.add_activity(note or "the invite changed; send the new line", _WARN_STYLE)
        self._request_refresh()

    @on(InviteChanged)
    def _invite_changed(self, message: InviteChanged) -> None:
        """The tunnel's address changed: the shown invite, wherever it came from, moves there."""
        try:
            url = invite_codes.parse(message.code).url
            moved = invite_codes.parse(self.invite_code).with_url(url).format()
        except (LetsworkError, ValueError):
            moved = message.code
        if moved != self.invite_code:
            self.set_invite(moved, "the hub's address changed; send the new line to your guests")

    def _load_invites(self, listed: ListInvitesResult) -> None:
        """Judge the shown invite against the hub's list."""
        shown = invite_id_of(self.invite_code)
        info = next((i for i in listed.invites if i.invite_id == shown), None)
        state: Standing = "unknown" if info is None else invite_standing(info)
        uses = 0 if info is None else info.uses
        if (state, uses) == (self.invite_state, self.invite_uses):
            return
        if state == "used" and self.invite_state == "live":
            self.add_activity("the shown invite was used; press i for a new one", _OK_STYLE)
        elif state == "revoked" and self.invite_state != "revoked":
            self.add_activity("the shown invite was revoked; press i for a new one", _WARN_STYLE)
        self.invite_state, self.invite_uses = state, uses
        self._render_invite()

    def _invite_width(self) -> int:
        box = self.query_one("#invite", Static)
        width = box.content_size.width or (self.size.width - 2)
        return max(width, 1)

    def _render_invite(self) -> None:
        box = self.query_one("#invite", Static)
        text = Text(end="")
        if self.invite_state in ("live", "unknown"):
            box.border_title = Text("Invite: send this line to one person")
            rows = join_lines(clean_terminal(self.invite_code), self._invite_width())
            text.append("\n".join(rows), style="bold green")
            if self.local_mode:
                text.append(
                    "\nlocal mode: this machine only; h shows how to share it", style=_WARN_STYLE
                )
        elif self.invite_state == "used":
            box.border_title = Text("Invite used")
            joined = f"{self.invite_uses} person" if self.invite_uses == 1 else "people"
            text.append(f"This invite has been used: {joined} joined with it.", style=_OK_STYLE)
            text.append("\nPress i for a new invite.")
        else:
            box.border_title = Text("Invite revoked")
            text.append("This invite was revoked.", style=_WARN_STYLE)
            text.append("\nPress i for a new invite.")
        box.border_subtitle = Text("i new · c copy · h help")
        box.update(text)

    def action_new_invite(self) -> None:
        def done(answer: NewInvite | None) -> None:
            if answer is not None:
                role, label = answer
                self.run_worker(self.create_invite(role, label), group="ops", exit_on_error=False)

        self.push_screen(NewInviteScreen(), done)

    async def create_invite(self, role: str, label: str | None) -> None:
        """Make a new invite on the hub and show it."""
        with self._reporting("make an invite"):
            args: dict[str, Any] = {"role": role}
            if label:
                args["label"] = label
            made = await self._call("create_invite", CreateInviteResult, args)
            named = f" {one_line(label, 64)!r}" if label else ""
            self.set_invite(made.code, f"new {role} invite{named}: send the line to one person")

    def action_copy_invite(self) -> None:
        """Copy the join line (OSC 52: the terminal may refuse) and show it on its own."""
        if self.invite_state not in ("live", "unknown"):
            self._notify("There is no live invite to copy: press i for a new one.", "warning")
            return
        self.copy_to_clipboard(self.join_line)
        body = Text(end="")
        body.append(
            "Copied to the clipboard (if your terminal allows it). Or select these lines; "
            "a copy of them runs as one command:\n\n",
            style="dim",
        )
        width = max(self.size.width - 4, 1)
        body.append("\n".join(join_lines(clean_terminal(self.invite_code), width)), style="bold")
        self.push_screen(TextScreen(body))

    def action_sharing_help(self) -> None:
        """How to share this hub: local mode's ways out, or the tunnel's line."""
        url = None
        port = None
        with contextlib.suppress(LetsworkError, ValueError):
            url = invite_codes.parse(self.invite_code).url
            # None for an address without a port (a tunnel's): indexing after the last ":"
            # raised IndexError there and ended the dashboard.
            port = urllib.parse.urlsplit(url).port
        if self.local_mode:
            body = Text(clean_terminal(local_mode_help(url, port)), end="")
        else:
            body = Text(
                "The invite points at a public address: send the line to one person, and "
                "make one invite per person (i), so revoking one spares the rest.",
                end="",
            )
        self.push_screen(TextScreen(body))
