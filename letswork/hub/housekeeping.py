"""The hub's once-a-second housekeeping: the core's timers, and freed heap back to the OS."""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Callable

from letswork.hub.core import HubCore

log = logging.getLogger("letswork.hub")


async def tick_loop(core: HubCore, clock: Callable[[], float]) -> None:
    """Forever: ``core.tick`` every second, and the heap trimmed every ten. A failed tick is
    logged; the loop goes on."""
    ticks = 0
    while True:
        await asyncio.sleep(1.0)
        ticks += 1
        if ticks % 10 == 0:
            _trim_heap()
        try:
            core.tick(clock())
        except Exception:  # pragma: no cover - housekeeping must never kill the hub
            log.exception("housekeeping failed")


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
        # Buffers of 256 KiB and more (1 MiB proposals) get their own mappings, which go back
        # to the OS the moment they are freed (M_MMAP_THRESHOLD is -3 in glibc's malloc.h).
        libc.mallopt(-3, 256 * 1024)
    except (OSError, AttributeError):
        return None
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def _trim_heap() -> None:
    """Hand freed heap back to the OS: glibc keeps it after large proposals are decided, so
    the hub's RSS would stay at its peak (measured in docs/performance.md)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
