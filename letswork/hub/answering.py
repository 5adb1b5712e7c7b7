"""Answering an admitted peer's requests: the core's verdict, file work in worker pools, and
the pace of a guest's replies.

The event loop only routes: guests' walks and searches run in one thread pool
(``limits.search_workers``), their reads (with their hashes), diffs and quoted lines in another
(``limits.file_workers``), so searches never hold up reads and writes; the host's file work has
its own (``limits.host_workers``), so no guest's work delays it. Each peer's requests are
answered one at a time, in order, by that peer's own task (:meth:`Answerer.answer_in_order`),
so one peer's long search delays only that peer.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from letswork.hub.connections import Connection
from letswork.hub.core import HubCore, Job, Peer, describe_error
from letswork.shared import crypto
from letswork.shared.errors import ErrorCode, LetsworkError, op_error
from letswork.shared.limits import MAX_QUEUED_REQUESTS_PER_PEER, REPLY_BYTES_PER_REQUEST, Limits
from letswork.shared.protocol import wire

log = logging.getLogger("letswork.hub")

#: How soon a thread that asks for the GIL gets it (CPython's default is 5 ms). Worker threads
#: run Python code between files (walking, sharing rules); with 1 ms the event loop waits at
#: most about that long each time it wants the GIL back, so pings stay fast during searches.
GIL_SWITCH_SECONDS = 0.001


def shorten_gil_switch() -> None:
    """Set the process's GIL switch interval to GIL_SWITCH_SECONDS if it is longer."""
    if sys.getswitchinterval() > GIL_SWITCH_SECONDS:
        sys.setswitchinterval(GIL_SWITCH_SECONDS)  # process-wide; see the constant


class Answerer:
    """Turns one peer's decoded requests into encoded replies.

    Args:
        core: the hub's rules (``begin``, ``after_reply``).
        limits: the worker counts and the request rate that paces guests' replies.
        clock: wall clock in seconds.
    """

    def __init__(self, core: HubCore, limits: Limits, clock: Callable[[], float]) -> None:
        self.core = core
        self.limits = limits
        self._clock = clock
        self._search_pool = ThreadPoolExecutor(
            max_workers=limits.search_workers, thread_name_prefix="letswork-search"
        )
        self._file_pool = ThreadPoolExecutor(
            max_workers=limits.file_workers, thread_name_prefix="letswork-files"
        )
        self._host_pool = ThreadPoolExecutor(
            max_workers=limits.host_workers, thread_name_prefix="letswork-host"
        )
        #: per guest identity: the bytes of replies it may still be sent at once
        self._reply_budgets: dict[str, ReplyBudget] = {}
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # tests record it
        self._monotonic: Callable[[], float] = time.monotonic  # tests freeze it

    def shutdown(self) -> None:
        """Stop the pools without waiting: work not started is cancelled (every peer is gone
        by now, so running file work stops at its next file)."""
        self._search_pool.shutdown(wait=False, cancel_futures=True)
        self._file_pool.shutdown(wait=False, cancel_futures=True)
        self._host_pool.shutdown(wait=False, cancel_futures=True)

    async def answer_in_order(
        self, conn: Connection, requests: asyncio.Queue[wire.Request]
    ) -> None:
        """Answer one peer's requests one at a time, in the order they came; returns when the
        core ended the peer's session (its reply, then a 1000 close, are queued)."""
        peer = conn.peer
        while True:
            await conn.wait_for_room()
            request = await requests.get()
            reply = await self.answer(peer, request)
            conn.put(reply)
            size = len(reply)
            del request, reply  # not pinned while the next one is awaited
            if self.after_reply(peer):
                # The session ended in this request (leave) or the peer was removed: reply,
                # then close (a kick's 4403 is already queued ahead of this 1000).
                conn.close(crypto.CloseCode.NORMAL, "")
                return
            await self.pace(peer, size)

    async def pace(self, peer: Peer, size: int) -> None:
        """Hold a guest's next request while its replies run ahead of its byte rate
        (REPLY_BYTES_PER_REQUEST per request its rate limit allows): encoding them holds the
        GIL, so unpaced large replies would keep the loop busy for everyone."""
        if peer.is_host or not peer.admitted:
            return
        rate = self.limits.rate_per_second * REPLY_BYTES_PER_REQUEST
        budget = self._reply_budgets.setdefault(peer.guest_id, ReplyBudget(rate))
        wait = budget.spend(size, self._monotonic())
        if wait > 0:
            await self._sleep(wait)

    def after_reply(self, peer: Peer) -> bool:
        """What follows a reply (queued events such as messages that waited for this peer);
        True when the core ended the peer's session. Never raises."""
        try:
            return self.core.after_reply(peer, self._clock())
        except Exception:  # pragma: no cover - a bug must only cost this connection
            log.exception("after-reply work for %s failed", peer.peer_id)
            return False

    async def answer(self, peer: Peer, request: wire.Request) -> bytes:
        """Run and encode one decoded request; never raises. File work runs in the pool."""
        try:
            outcome = self.core.begin(peer, request, self._clock())
            while isinstance(outcome, Job):
                outcome = await self._run_work(outcome)
            return wire.encode_response_ok(request.id, outcome, op=request.op)
        except LetsworkError as exc:
            return wire.encode_response_error(request.id, exc)
        except Exception as exc:
            log.exception("request from %s failed", peer.peer_id)
            return wire.encode_response_error(request.id, describe_error(exc))
        finally:
            self.reap_blobs()

    def reap_blobs(self) -> None:
        """Delete, in the file pool, the blobs (schema 8) of large changes that no row names
        any more since the last request: a DELETE of a 64 MiB blob reads its page chain,
        ~0.2 s. Never raises."""
        store = self.core.store
        if not store.dropped_blob_keys:
            return
        try:
            keys = store.take_unreferenced_blobs()
            if keys:
                done = asyncio.get_running_loop().run_in_executor(
                    self._file_pool, store.blobs.delete, keys
                )
                done.add_done_callback(_log_reap_failure)
        except Exception:  # the start-up sweep deletes what is left
            log.exception("deleting the data of decided changes failed")

    async def _run_work(self, job: Job) -> Mapping[str, Any] | Job:
        """One piece of a job's file work in its pool, then its next step on the loop."""
        loop = asyncio.get_running_loop()
        if job.peer.is_host:
            pool = self._host_pool  # never behind guests' work
        else:
            pool = self._search_pool if job.search else self._file_pool
        try:
            value = await loop.run_in_executor(pool, job.work)
        except asyncio.CancelledError:  # the peer went: closed before answer's reap_blobs
            job.close()
            raise
        except Exception as exc:
            return job.fail(exc)
        return job.resume(value)


def _log_reap_failure(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("deleting the data of decided changes failed: %s", done.exception())


class ReplyBudget:
    """Bytes of replies refilled at ``rate`` a second, up to two seconds' worth; spending
    more than there is leaves a debt, which the guest waits out."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.left = 2 * rate
        self.last: float | None = None

    def spend(self, size: int, now: float) -> float:
        """Spend ``size`` bytes; returns the seconds to wait before the next request."""
        if self.last is not None:
            self.left = min(2 * self.rate, self.left + (now - self.last) * self.rate)
        self.last = now
        self.left -= size
        return -self.left / self.rate if self.left < 0 else 0.0


def too_many_in_flight(request_id: int) -> bytes:
    """The encoded ``rate_limited`` reply to a request over MAX_QUEUED_REQUESTS_PER_PEER."""
    return wire.encode_response_error(
        request_id,
        op_error(
            ErrorCode.RATE_LIMITED,
            f"more than {MAX_QUEUED_REQUESTS_PER_PEER} of your requests are waiting for an "
            "answer; wait for some replies, then retry",
            retry_after=1.0,
        ),
    )
