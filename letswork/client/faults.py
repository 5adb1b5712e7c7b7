"""Small helpers of :class:`letswork.client.connection.HubConnection`: the reconnect backoff,
and the texts and errors it makes of what the hub or the network did."""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.exceptions import ConnectionClosed

from letswork.shared.errors import ErrorCode, HubProtocolError, ProtocolError
from letswork.shared.limits import FAST_RECONNECT_MAX_DELAY_SECONDS, FAST_RECONNECT_WINDOW_SECONDS


def reconnect_delay(
    attempt: int, down_for: float, *, base: float, ceiling: float, jitter: float
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (from 1): exponential backoff
    with full jitter, ``min(cap, base * 2**attempt) * jitter`` and at least ``base / 2``
    ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015).

    ``cap`` is ``ceiling``, or :data:`~letswork.shared.limits.FAST_RECONNECT_MAX_DELAY_SECONDS`
    while ``down_for`` (seconds since the hub became unreachable; ``math.inf`` for a hub that
    broke the protocol) is under
    :data:`~letswork.shared.limits.FAST_RECONNECT_WINDOW_SECONDS`. ``jitter`` is in [0, 1).
    """
    cap = ceiling
    if down_for < FAST_RECONNECT_WINDOW_SECONDS:
        cap = min(ceiling, FAST_RECONNECT_MAX_DELAY_SECONDS)
    delay = min(cap, base * 2.0 ** min(attempt, 16)) * jitter
    return max(delay, base / 2)


def _code(value: Any) -> ErrorCode:
    try:
        return ErrorCode(value)
    except ValueError:
        return ErrorCode.INTERNAL


def _hub_fault(what: str, exc: ProtocolError) -> HubProtocolError:
    """The decoder's refusal of a hub message, as the hub's protocol error."""
    return HubProtocolError(
        f"the hub sent {what} ({exc.message}); dropped the connection",
        data={k: v for k, v in exc.data.items() if k in ("reason", "field")},
    )


def _why(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the hub running?)"
    text = str(exc) or type(exc).__name__
    return text[:200]


def _close_text(exc: ConnectionClosed) -> str:
    if exc.rcvd is None:
        return "no close frame"
    reason = f": {exc.rcvd.reason}" if exc.rcvd.reason else ""
    return f"code {exc.rcvd.code}{reason}"
