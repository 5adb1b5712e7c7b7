"""The channel's link to the hub: a part of :class:`letswork.channel.server.Channel`.

:class:`HubLink` keeps the :class:`HubConnection` up (``supervise``: the hub's address from
``hub.json`` for the host, the invite again when the hub forgot the resume credential), follows
its state (lost, back, refused: notes for the assistant), learns the role and name the hub
gives, keeps the stored session up to date, and turns hub events into notes to push.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from letswork.channel import sessions
from letswork.channel.config import ChannelConfig
from letswork.channel.events import Inbox, Note, describe_event, local_note
from letswork.client.connection import HubConnection
from letswork.local.hubinfo import hub_info
from letswork.shared import crypto
from letswork.shared.errors import LetsworkError
from letswork.shared.limits import MAX_QUEUED_PUSHES
from letswork.shared.protocol.wire import Event
from letswork.shared.sanitize import clean_line

__all__ = ["HubLink"]

log = logging.getLogger("letswork.channel")


class HubLink:
    """The hub link of :class:`~letswork.channel.server.Channel`, which sets these attributes
    in its ``__init__``."""

    config: ChannelConfig
    clock: Callable[[], float]
    inbox: Inbox
    conn: HubConnection | None
    _secret: bytes
    _role: str | None
    _role_known: asyncio.Event
    _fallback_list_served: bool
    _wait_reason: str
    _outbox: asyncio.Queue[Note | tuple[str, str, Any] | None]
    _pushes_dropped: bool
    _up: bool
    _ever_up: bool
    _told_down: bool
    _settled: asyncio.Event
    _closing: bool
    _followers: set[Callable[[Event], None]]
    _hub_lacks: set[tuple[str, str]]

    @property
    def role(self) -> str | None:
        return self._role

    @property
    def me(self) -> str:
        return self.conn.name if self.conn is not None else self.config.name

    @property
    def link(self) -> str:
        """The link to the hub, for people and models: ``connected``, ``connecting (...)``."""
        conn = self.conn
        if conn is None:
            return self._wait_reason
        state = conn.state
        if state not in ("connected", "awaiting admission") and conn.last_error:
            return f"{state}; last error: {conn.last_error}"
        return state

    @property
    def revoked(self) -> bool:
        return self.conn is not None and self.conn.state == "revoked"

    # ------------------------------------------------------------------ the hub link

    def _new_connection(self, url: str) -> HubConnection:
        return HubConnection(
            url,
            self._secret,
            name=self.config.name,
            client=self.config.client,
            on_event=self._on_event,
            on_resume_secret=self._on_resume_secret,
            on_state_change=self._on_state,
            limits=self.config.limits,
        )

    def _hub_url(self) -> str | None:
        if self.config.project is None:
            return self.config.url
        info = hub_info(self.config.project)
        url = _host_url(info)
        if not isinstance(url, str):
            self._wait_reason = (
                f"waiting for the hub: no letswork hub is running for {self.config.project}; "
                "start it with `letswork start` in that folder"
            )
            self._settled.set()
            return None
        return url

    async def supervise(self) -> None:
        """Keep the link up until :meth:`close`; returns when the hub refuses us for good.

        Whatever a hub sends, this loop goes on: ``run_forever`` turns the hub's faults into
        backoff, and an unexpected error out of it (a bug) is logged and retried after a pause
        rather than ending the supervisor, which would leave the channel down for good.
        """
        delay = 0.5
        while not self._closing:
            if self.conn is None:
                url = self._hub_url()
                if url is None:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                self.conn = self._new_connection(url)
            conn = self.conn
            try:
                await conn.run_forever()
            except Exception:
                log.exception("the hub link failed unexpectedly; retrying")
                with contextlib.suppress(Exception):
                    await conn.close()
                self.conn = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if self._closing:
                return
            invite_secret = self.config.invite_secret
            if (
                invite_secret is not None
                and self._secret != invite_secret
                and conn.close_code != crypto.CloseCode.REMOVED
            ):
                # The hub no longer knows the resume credential (a `--new` session, say):
                # join again with the invite; the host is asked to admit us again.
                log.warning("the hub refused the resume credential; joining with the invite")
                self._forget_resume_secret()
                self._secret = invite_secret
                self.conn = None
                continue
            self._up = False
            self._settled.set()
            self._raise(
                "The hub refused this channel's credential (the invite was revoked, or you were "
                "removed from the session). Tools fail until you join again with a new invite "
                "(`letswork join`).",
                state="revoked",
            )
            return

    def _on_state(self, state: str) -> None:
        conn = self.conn
        if conn is None:  # pragma: no cover - only connections we made call this
            return
        first_attempt = state.startswith("connecting (attempt 1)") and "next in" not in state
        if state != "closed" and not first_attempt:
            self._settled.set()  # the first attempt succeeded or failed
        if state in ("connected", "awaiting admission"):
            self._learn(conn.hello)
            if not self._up:
                # The hub may have been restarted by a newer letswork (as an older hub's
                # refusals tell the host to): what it lacked is asked for again.
                self._hub_lacks.clear()
                if self._ever_up or self._told_down:
                    self._raise("The link to the letswork hub is up; tools work again.")
                self._up = self._ever_up = True
                self._told_down = False
        elif state == "disconnected" or state.startswith("connecting"):
            if self._up and self._closing:
                self._up = False  # we are leaving or closing: nothing was lost
            elif self._up:
                self._up = False
                why = clean_line(conn.last_error or "the connection was lost", 200)
                self._raise(
                    f"Lost the link to the letswork hub ({why}). letswork is reconnecting by "
                    "itself; meanwhile tools answer `unavailable`.",
                    state="disconnected",
                )
            if self.config.project is not None and state.startswith("connecting"):
                info = hub_info(self.config.project)  # a restarted hub may use another port
                url = _host_url(info)
                if isinstance(url, str) and url != conn.url:
                    log.info("the hub now listens at %s", url)
                    conn.url = url

    def _learn(self, hello: dict[str, Any]) -> None:
        role, name = hello.get("role"), hello.get("name")
        if isinstance(role, str) and role != self._role:
            had_none = self._role is None
            self._role = role
            self._role_known.set()
            if had_none and self._fallback_list_served:
                self._outbox.put_nowait(None)  # tools/list_changed
        if self.config.session is not None and isinstance(role, str) and isinstance(name, str):
            self._update_session(role=role, name=name)

    def _on_resume_secret(self, secret: bytes) -> None:
        self._secret = secret
        if self.config.session is not None:
            self._update_session(resume_secret=secret)
            log.info("stored the resume credential in session %s", self.config.session)

    def _forget_resume_secret(self) -> None:
        if self.config.session is not None:
            self._update_session(resume_secret=None)

    def _update_session(self, **changes: Any) -> None:
        assert self.config.session is not None
        try:
            current = sessions.load_session(self.config.session)
            if any(getattr(current, k) != v for k, v in changes.items()):
                sessions.update_session(self.config.session, **changes)
        except (LetsworkError, OSError) as exc:
            log.warning("cannot update session %s: %s", self.config.session, exc)

    def _on_event(self, event: Event) -> None:
        for follower in list(self._followers):
            follower(event)
        path = event.data.get("path") if event.name == "file_changed" else None
        if isinstance(path, str) and self._outbox.qsize() < MAX_QUEUED_PUSHES:
            self._outbox.put_nowait(("file_changed", path, event.data.get("change")))
        note = describe_event(
            event, seq=self.inbox.next_seq(), me=self.me, role=self._role, now=self.clock()
        )
        if note is not None:
            self._deliver(note)

    def _raise(self, content: str, *, state: str = "connected") -> None:
        self._deliver(local_note(self.inbox.next_seq(), self.clock(), content, state=state))

    def _deliver(self, note: Note) -> None:
        self.inbox.add(note)
        # The MCP client may stop reading while a hub floods events: the pushes waiting for
        # it are capped, and what is left out stays in the (bounded) inbox.
        if self._outbox.qsize() < MAX_QUEUED_PUSHES:
            self._outbox.put_nowait(note)
        elif not self._pushes_dropped:
            self._pushes_dropped = True
            log.warning("the MCP client is not reading notifications; holding them back")

    async def close(self) -> None:
        self._closing = True
        if self.conn is not None:
            await self.conn.close()


def _host_url(info: dict[str, Any] | None) -> Any:
    """Where the host channel connects: the hub's Unix socket, which strangers cannot reach
    (so cannot lock out), or its local URL from an older hub.json."""
    if not info:
        return None
    return info.get("host_url") or info.get("local_url")
