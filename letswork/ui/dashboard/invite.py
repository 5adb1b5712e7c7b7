"""The invite box: the exact ``letswork join CODE`` line a guest runs, only while that invite is
live (not revoked, not used up), cut into rows whose copy still parses
(:func:`letswork.ui.sharing.join_lines`); ``i`` makes a new invite (role, label), ``c`` copies
the current line and shows it on its own, ``h`` explains local mode. A new tunnel address
rewrites the shown code with it.

Whether the shown invite is live, how many more people it admits ("admits 1 more person", or
"no use limit" for the first invite of ``letswork start``) and until when come from the hub's
``list_invites`` (its ``max_uses``, ``expires_at``), read with every reload of the hub's state,
and judged in one place, :func:`invite_standing`.
"""

from __future__ import annotations

import contextlib
import time
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
from letswork.ui.dashboard.feed import minute_text
from letswork.ui.dashboard.invite_screens import NewInvite, NewInviteScreen, TextScreen
from letswork.ui.dashboard.words import _OK_STYLE, _WARN_STYLE, one_line
from letswork.ui.sharing import JOIN_COMMAND, join_lines, local_mode_help

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")

#: ``live``: it admits someone; ``used``: used up; ``expired``; ``revoked``; ``unknown``: not
#: (yet) listed. The hub's own judgement (``InviteView.state``) in the box's words.
Standing = Literal["live", "used", "expired", "revoked", "unknown"]


def invite_standing(info: InviteInfo, now: float) -> Standing:
    """Whether ``info``'s invite can still admit someone at ``now`` (seconds since the epoch),
    by the hub's rule (``invite_state``): revoked, else expired once ``expires_at`` has come,
    else used up when ``uses`` reached ``max_uses`` (None: no limit, as the first invite of
    ``letswork start`` has), else live."""
    if info.revoked:
        return "revoked"
    if info.expires_at is not None and now >= info.expires_at:
        return "expired"
    if info.max_uses is not None and info.uses >= info.max_uses:
        return "used"
    return "live"


def _now() -> float:
    """The clock an invite's expiry is judged by (tests move it)."""
    return time.time()


def uses_text(max_uses: int | None, uses: int) -> str:
    """How many more people a live invite admits, in the box's words: "admits 2 more people",
    or "no use limit" for ``max_uses`` None."""
    if max_uses is None:
        return "no use limit"
    left = max(max_uses - uses, 0)
    return f"admits {left} more {'person' if left == 1 else 'people'}"


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
    #: The shown invite's use limit (None: none, or not yet listed) and expiry (None: never).
    invite_max_uses: int | None = None
    invite_expires_at: float | None = None

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
        """Show ``code`` (a new invite, or the same one at a new address); its uses and expiry
        come with the next ``list_invites``."""
        self.invite_code = code
        self.invite_state, self.invite_uses = "unknown", 0
        self.invite_max_uses = self.invite_expires_at = None
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
        state: Standing = "unknown" if info is None else invite_standing(info, _now())
        uses = 0 if info is None else info.uses
        max_uses = None if info is None else info.max_uses
        expires = None if info is None else info.expires_at
        if (state, uses, max_uses, expires) == (
            self.invite_state,
            self.invite_uses,
            self.invite_max_uses,
            self.invite_expires_at,
        ):
            return
        was = self.invite_state
        if state != was and state in ("used", "expired", "revoked") and was != "unknown":
            what = {"used": "was used up", "expired": "expired", "revoked": "was revoked"}[state]
            style = _OK_STYLE if state == "used" else _WARN_STYLE
            self.add_activity(f"the shown invite {what}; press i for a new one", style)
        self.invite_state, self.invite_uses = state, uses
        self.invite_max_uses, self.invite_expires_at = max_uses, expires
        self._render_invite()

    def _invite_width(self) -> int:
        box = self.query_one("#invite", Static)
        width = box.content_size.width or (self.size.width - 2)
        return max(width, 1)

    def _render_invite(self) -> None:
        box = self.query_one("#invite", Static)
        text = Text(end="")
        joined = f"{self.invite_uses} {'person' if self.invite_uses == 1 else 'people'} joined"
        if self.invite_state in ("live", "unknown"):
            title = "Invite"
            if self.invite_state == "live":
                title += f": {uses_text(self.invite_max_uses, self.invite_uses)}"
                if self.invite_expires_at is not None:
                    title += f", until {minute_text(self.invite_expires_at)}"
                if self.invite_max_uses is None:
                    title += ", anyone with it may ask to join"
            box.border_title = Text(title)
            rows = join_lines(clean_terminal(self.invite_code), self._invite_width())
            text.append("\n".join(rows), style="bold green")
            if self.local_mode:
                text.append(
                    "\nlocal mode: this machine only; h shows how to share it", style=_WARN_STYLE
                )
        elif self.invite_state == "used":
            box.border_title = Text("Invite used up")
            text.append(f"This invite has been used up: {joined} with it.", style=_OK_STYLE)
            text.append("\nPress i for a new invite.")
        elif self.invite_state == "expired":
            box.border_title = Text("Invite expired")
            ended = self.invite_expires_at
            until = "" if ended is None else f" at {minute_text(ended)}"
            text.append(f"This invite expired{until} ({joined} with it).", style=_WARN_STYLE)
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
            # One person, as `letswork invite` makes by default: the box's line is for them.
            args: dict[str, Any] = {"role": role, "uses": 1}
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
                "The invite points at a public address: anyone with the line may knock, as "
                "often as the box's title allows. Make one invite per person (i, for one "
                "person), so revoking one spares the rest.",
                end="",
            )
        self.push_screen(TextScreen(body))
