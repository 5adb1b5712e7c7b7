"""Joins and leaves in the activity feed, without the flood (issue 16).

Every ``claude mcp list`` starts each registered channel for a health check: a connection that
joins and leaves within a second or two. Shown one line each, they buried everything else.
So a join waits :data:`BRIEF_VISIT_SECONDS` before its line is written (stamped with the time
it happened); a connection that leaves before then writes neither line, and is counted
instead: :meth:`BriefVisits.summary` gives one line per person for all such visits since the
last summary. The people table shows every connection at once either way.

The same rule applies to the activity log the dashboard shows on connecting
(:func:`drop_brief_visits`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.text import Text

from letswork.shared.protocol.presence import ActivityEntry
from letswork.ui.dashboard.words import one_line

#: A connection that leaves within this many seconds of joining is a brief visit: no lines.
BRIEF_VISIT_SECONDS = 5.0
#: Brief visits are summed up in the feed this often, seconds.
BRIEF_SUMMARY_SECONDS = 60.0


@dataclass
class BriefVisits:
    """The joins not yet written, and the brief visits not yet summed up."""

    #: peer id -> (when it joined, its feed line).
    waiting: dict[str, tuple[float, Text]] = field(default_factory=dict)
    #: name -> brief visits since the last summary.
    counts: Counter[str] = field(default_factory=Counter)

    def joined(self, peer_id: str, at: float, line: Text) -> None:
        """A connection joined: its line waits."""
        self.waiting[peer_id] = (at, line)

    def settled(self, peer_id: str) -> tuple[float, Text] | None:
        """The connection stayed :data:`BRIEF_VISIT_SECONDS`: its join line and time, to write
        now; None when it has left (or was written) already."""
        return self.waiting.pop(peer_id, None)

    def left(self, peer_id: str, name: str) -> bool:
        """A connection left; True when its leave line should be written (its join line was),
        False for a brief visit, which is counted instead."""
        if self.waiting.pop(peer_id, None) is None:
            return True
        self.counts[name] += 1
        return False

    def summary(self) -> list[str]:
        """One line per person with brief visits since the last summary; resets the counts."""
        lines = [
            f"{one_line(name, 64)} connected briefly {n} time{'s' if n != 1 else ''} "
            f"(each under {BRIEF_VISIT_SECONDS:.0f}s, e.g. `claude mcp list` health checks)"
            for name, n in sorted(self.counts.items())
        ]
        self.counts.clear()
        return lines


def drop_brief_visits(entries: Iterable[ActivityEntry]) -> tuple[list[ActivityEntry], int]:
    """The activity log without the joins and leaves of brief visits (a ``join`` whose actor's
    next ``leave`` came within :data:`BRIEF_VISIT_SECONDS`), and how many visits were dropped.

    Entries are taken oldest first; one actor's overlapping connections pair in order.
    """
    kept = list(entries)
    drop: set[int] = set()
    open_joins: dict[str, list[int]] = {}
    for i, entry in enumerate(kept):
        if entry.kind == "join":
            open_joins.setdefault(entry.actor, []).append(i)
        elif entry.kind == "leave" and open_joins.get(entry.actor):
            j = open_joins[entry.actor].pop(0)
            if entry.at - kept[j].at < BRIEF_VISIT_SECONDS:
                drop.update((i, j))
    return [e for i, e in enumerate(kept) if i not in drop], len(drop) // 2
