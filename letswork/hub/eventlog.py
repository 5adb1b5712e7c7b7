"""What each identity was sent, numbered, so a channel that reconnects receives what it missed.

Every identity (``"host"``, or a guest's ``guest_id``) admitted since the hub started has one
:class:`EventLog`. A broadcast event is numbered in the log of every identity it is for (1, 2,
3, ... per identity), whether or not that identity is connected, and sent with that number as
its ``seq`` to the identity's connections. Events addressed to one connection (``message``,
``message_receipt``, ``admitted``, ``denied``, ``kicked``, ``hub_stopping``) are not logged:
they carry the number of the log's last event (messages have their own offline delivery).

A reconnecting client sends the log's ``token`` and the last ``seq`` it saw in ``hello``
(``events``); the hub replays the logged events after that number once, after the reply to
``hello``. A log keeps at most ``event_log_entries`` events and ``event_log_bytes`` bytes of
their data; the client of a cursor older than what is kept is told how many it lost
(``events_missed``), as is a guest whose replays ran past its log's replay budget
(``replay_bytes_per_second``, after a burst of twice the log's bytes). Logs live in the hub's
memory: a hub restart starts new ones (new tokens), and at most ``event_logs`` identities have
one (the longest offline loses its log).
"""

from __future__ import annotations

import collections
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from letswork.hub.ratelimit import TokenBucket
from letswork.shared.limits import Limits


@dataclass(frozen=True)
class Entry:
    """One logged event: its number in the identity's log, its name, data and data size."""

    seq: int
    name: str
    data: Mapping[str, Any]
    size: int


@dataclass
class EventLog:
    """One identity's numbered events, the newest ``max_entries`` / ``max_bytes`` of them."""

    max_entries: int
    max_bytes: int
    #: Names this log for a client's cursor: a new log (a new hub, a dropped log) has a new
    #: one. It starts with the hub's epoch (EventLogs.epoch).
    token: str = ""
    #: The number of the last event logged (0: none yet).
    seq: int = 0
    entries: collections.deque[Entry] = field(default_factory=collections.deque)
    bytes: int = 0
    #: Bytes of events a guest's reconnects may replay (see REPLAY_BYTES_PER_SECOND).
    replay_budget: TokenBucket | None = None

    def record(self, name: str, data: Mapping[str, Any], size: int) -> int:
        """Log one event (``size``: bytes of its data as JSON); returns its number."""
        self.seq += 1
        self.entries.append(Entry(self.seq, name, data, size))
        self.bytes += size
        while len(self.entries) > self.max_entries or (
            self.bytes > self.max_bytes and len(self.entries) > 1
        ):
            self.bytes -= self.entries.popleft().size
        return self.seq

    def replayable(self, after: int, now: float) -> tuple[int, list[Entry]]:
        """:meth:`since`, within the replay budget: the newest events whose data fits it
        (the budget is spent on them); the older ones count as lost."""
        lost, kept = self.since(after)
        budget = self.replay_budget
        if budget is None or not kept:
            return lost, kept
        room = budget.tokens(now)
        first = len(kept)
        spent = 0
        while first > 0 and spent + kept[first - 1].size <= room:
            first -= 1
            spent += kept[first].size
        if spent:
            budget.take(now, spent)
        return lost + first, kept[first:]

    def since(self, after: int) -> tuple[int, list[Entry]]:
        """(events lost, events kept) numbered after ``after``: lost ones are those past the
        log's bounds. A cursor ahead of the log (not this log's) gets nothing."""
        if after >= self.seq:
            return 0, []
        kept = [e for e in self.entries if e.seq > after]
        first = kept[0].seq if kept else self.seq + 1
        return first - after - 1, kept


class EventLogs:
    """The event logs by identity, at most ``limits.event_logs`` of them.

    Thread safety: the hub's event loop only."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        #: Begins every token this hub gives: a cursor with it and an unknown token names a
        #: log this hub dropped, so its client lost events.
        self.epoch = secrets.token_hex(6)
        #: identity -> its log, the longest offline first (``open`` moves one to the end)
        self._logs: collections.OrderedDict[str, EventLog] = collections.OrderedDict()

    def __contains__(self, ident: str) -> bool:
        return ident in self._logs

    def __len__(self) -> int:
        return len(self._logs)

    def idents(self) -> list[str]:
        return list(self._logs)

    def get(self, ident: str) -> EventLog | None:
        return self._logs.get(ident)

    def open(self, ident: str, online: set[str]) -> EventLog:
        """The log of ``ident``, which just connected (made if new; the longest-offline log
        outside ``online`` is dropped past ``limits.event_logs``)."""
        log = self._logs.get(ident)
        if log is None:
            log = EventLog(
                self._limits.event_log_entries,
                self._limits.event_log_bytes,
                token=f"{self.epoch}.{secrets.token_hex(4)}",
                replay_budget=TokenBucket(
                    self._limits.replay_bytes_per_second, 2 * self._limits.event_log_bytes
                ),
            )
            self._logs[ident] = log
            for old in list(self._logs):
                if len(self._logs) <= self._limits.event_logs:
                    break
                if old != ident and old not in online:
                    del self._logs[old]
        self._logs.move_to_end(ident)
        return log

    def forget(self, ident: str) -> None:
        """Drop the log of an identity that will not come back (kicked, revoked)."""
        self._logs.pop(ident, None)

    def last_seq(self, ident: str) -> int:
        """The number of ``ident``'s last logged event (0 without a log)."""
        log = self._logs.get(ident)
        return log.seq if log is not None else 0
