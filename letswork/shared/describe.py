"""The one place that turns catalogue data into words: people, paths, counts, times, changes.

The channel's tool results and event notes say "bob proposed an edit of src/a.py", "3 entries",
"held by alice until 14:32 UTC" with these functions, so the same thing reads the same way in
every text (docs/architecture.md, "The cut"). Pure: no I/O, no clock of its own (a time is
always passed in, as a Unix timestamp, and shown in UTC), no styling (a terminal adds its own).

Every string another person or the hub wrote (a name, a path, an id, a reason) goes through
:func:`letswork.shared.sanitize.clean_line` here, the one cleaner for text bound for a model:
invisible and control characters removed and marked, ``&``, ``<``, ``>`` escaped, one line, cut
to the length each function names.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from letswork.shared.protocol.base import LockInfo
from letswork.shared.protocol.changes import ChangeInfo
from letswork.shared.sanitize import clean_line

__all__ = [
    "ID_CHARS",
    "NAME_CHARS",
    "PATH_CHARS",
    "change_what",
    "clock",
    "count",
    "ident",
    "ids",
    "lock_held",
    "path",
    "size",
    "stamp",
    "who",
]

#: Characters of a display name shown (names are at most 32; a hub may send longer).
NAME_CHARS = 40
#: Characters of a path shown.
PATH_CHARS = 300
#: Characters of an id (a change's, a lock's change) shown.
ID_CHARS = 64


def who(name: str) -> str:
    """A person's display name: one clean line of at most :data:`NAME_CHARS`."""
    return clean_line(name, NAME_CHARS)


def path(text: str) -> str:
    """A project path: one clean line of at most :data:`PATH_CHARS`."""
    return clean_line(text, PATH_CHARS)


def ident(text: str) -> str:
    """An id the hub chose (a change id): one clean line of at most :data:`ID_CHARS`."""
    return clean_line(text, ID_CHARS)


def count(n: int, one: str, many: str | None = None) -> str:
    """``1 file``, ``3 files``; ``many`` for an irregular plural (``3 entries``)."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def ids(numbers: Iterable[int]) -> str:
    """``#1, #4`` for message or task ids."""
    return ", ".join(f"#{i}" for i in numbers)


def size(n: int) -> str:
    """A byte count for people: ``512 B``, ``1.5 KiB``, ``2.0 MiB``."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


def stamp(ts: float) -> str:
    """A Unix time as ``2026-12-02 14:32:05 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def clock(ts: float) -> str:
    """A Unix time as ``14:32 UTC`` (for times within the day: lock expiries, events)."""
    return time.strftime("%H:%M UTC", time.gmtime(ts))


def change_what(change: ChangeInfo) -> str:
    """What a change does: ``an edit of src/a.py``, ``a delete of b.txt``, ``move of a to b``."""
    where = path(change.path)
    if change.kind == "move" and change.new_path:
        return f"move of {where} to {path(change.new_path)}"
    article = "an" if change.kind == "edit" else "a"
    return f"{article} {change.kind} of {where}"


def lock_held(lock: LockInfo) -> str:
    """Who holds a lock and until when: ``held by alice until 14:32 UTC``, or ``held by
    alice's pending change ID`` for the lock a proposal keeps until it is decided."""
    if lock.change_id:
        return f"held by {who(lock.holder)}'s pending change {ident(lock.change_id)}"
    return f"held by {who(lock.holder)} until {clock(lock.expires_at)}"
