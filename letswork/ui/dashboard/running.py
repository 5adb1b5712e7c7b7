"""Running the dashboard beside a hub (``letswork start``): the hub it is given, log records to
its feed while it owns the terminal, following the tunnel's invite, and stopping the hub when the
host quits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from letswork.local.statedir import ProjectState, read_secret_file
from letswork.shared.limits import Limits
from letswork.ui.dashboard.app import Dashboard
from letswork.ui.dashboard.feed import ActivityLine
from letswork.ui.dashboard.invite import InviteChanged
from letswork.ui.dashboard.words import _ERROR_STYLE, _WARN_STYLE

log = logging.getLogger("letswork.ui")


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
