"""Progress notifications for long tool calls (issue 18).

When a client passes ``_meta.progressToken`` with a ``tools/call``, the channel sends
``notifications/progress`` for it: one when the call starts, one every
:data:`PROGRESS_INTERVAL_SECONDS` while the hub works on it (a search of a big tree, say), and
one when the answer is ready, before the result. Clients that time calls out reset their clock
on each (the TypeScript SDK's ``resetTimeoutOnProgress``), and can show the user that the call
is alive. The numbers only grow, as the spec requires; the last one carries ``total`` equal to
``progress`` (done).

:class:`Progress` is the one helper: a tool call wraps its work in ``async with
progress.around("search_files"):`` (the channel does so for every call that passed a token),
and a call that knows more (a command run's output lines, issue 17) adds
:meth:`Progress.step` with its own message, finding its progress with
:meth:`Progress.current`. Every message is the channel's own
words: no text a peer or the hub wrote goes into one.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession

__all__ = ["PROGRESS_INTERVAL_SECONDS", "Progress"]

log = logging.getLogger("letswork.channel")

#: Seconds between two notifications while a call is under way.
PROGRESS_INTERVAL_SECONDS = 2.0

#: The progress of the tool call this task runs, while :meth:`Progress.around` runs it.
_CURRENT: contextvars.ContextVar[Progress | None] = contextvars.ContextVar(
    "letswork_progress", default=None
)


class Progress:
    """The progress notifications of one request whose client asked for them.

    Args:
        session: the MCP session the request came on.
        token: the request's ``progressToken`` (a string or an integer).
        request_id: the request's id, so each notification goes with its request.
        interval: seconds between notifications while :meth:`around` runs.
        clock: seconds, for the elapsed time the messages give.
    """

    def __init__(
        self,
        session: ServerSession,
        token: str | int,
        request_id: str | int | None,
        *,
        interval: float = PROGRESS_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.token = token
        self.request_id = request_id
        self.interval = interval
        self.clock = clock
        self.sent = 0  # notifications sent; also the last ``progress`` value

    @classmethod
    def of(cls, ctx: ServerRequestContext[Any, Any]) -> Progress | None:
        """The progress of the request ``ctx`` answers, or None if it passed no token."""
        meta: Any = ctx.meta or {}
        token = meta.get("progress_token", meta.get("progressToken"))
        if not isinstance(token, (str, int)) or isinstance(token, bool):
            return None
        return cls(ctx.session, token, ctx.request_id)

    @staticmethod
    def current() -> Progress | None:
        """The progress of the tool call being answered, if its client asked for progress:
        code deep in a call (a command run's output arriving) adds :meth:`step` through it."""
        return _CURRENT.get()

    async def step(self, message: str, *, done: bool = False) -> None:
        """Send one notification: the next ``progress`` value, with ``message``; ``done``
        sets ``total`` to it. A client gone away is logged, never raised: progress is a
        courtesy and must not fail the call."""
        self.sent += 1
        try:
            await self.session.send_progress_notification(
                self.token,
                float(self.sent),
                total=float(self.sent) if done else None,
                message=message,
                related_request_id=None if self.request_id is None else str(self.request_id),
            )
        except Exception:
            log.debug("could not send a progress notification", exc_info=True)

    @contextlib.asynccontextmanager
    async def around(self, what: str) -> AsyncIterator[Progress]:
        """Notify when ``what`` starts, every :attr:`interval` while it runs, and when it
        ends (whether it succeeded or not)."""
        started = self.clock()
        await self.step(f"{what}: started")

        async def tick() -> None:
            while True:
                await asyncio.sleep(self.interval)
                await self.step(f"{what}: working ({self.clock() - started:.0f} s)")

        ticker = asyncio.create_task(tick(), name="letswork-progress")
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await self.step(f"{what}: done ({self.clock() - started:.1f} s)", done=True)
