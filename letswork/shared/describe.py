"""The one place that turns catalogue data into words: people, paths, counts, times, changes.

The channel's tool results and event notes say "bob proposed an edit of src/a.py", "3 entries",
"held by alice until 14:32 UTC" with these functions, and the host's dashboard says "bob
proposes: edit src/a.py" with the terminal ones below, so the same thing reads the same way in
every text of its audience (docs/architecture.md, "The cut"). Pure: no I/O, no clock of its own
(a time is always passed in, as a Unix timestamp, and shown in UTC), no styling (a terminal
turns each piece's :data:`Tone` into its own).

Every string another person or the hub wrote (a name, a path, an id, a reason) goes through
:mod:`letswork.shared.sanitize` here: :func:`~letswork.shared.sanitize.clean_line` for a model
(invisible and control characters removed and marked, ``&``, ``<``, ``>`` escaped, one line),
:func:`~letswork.shared.sanitize.terminal_line` for a terminal (the same removal, no escaping),
each cut to the length the function names.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel

from letswork.shared.protocol.base import LockInfo
from letswork.shared.protocol.changes import ChangeDecidedData, ChangeInfo, ChangeSubmittedData
from letswork.shared.protocol.files import FileChangedData
from letswork.shared.protocol.locks import LockReleasedData, LockTakenData
from letswork.shared.protocol.messages import MessageData, MessageInfo, MessageReceiptData
from letswork.shared.protocol.presence import ActivityEntry
from letswork.shared.protocol.session import (
    EventsMissedData,
    NameChangedData,
    PeerData,
    PeerLeftData,
)
from letswork.shared.protocol.tasks import TaskUpdatedData
from letswork.shared.protocol.variables import VarChangedData
from letswork.shared.sanitize import clean_line, terminal_line

__all__ = [
    "ID_CHARS",
    "NAME_CHARS",
    "PATH_CHARS",
    "TERMINAL_NAME_CHARS",
    "Piece",
    "Tone",
    "activity_line",
    "change_summary",
    "change_what",
    "clock",
    "count",
    "feed_line",
    "ident",
    "ids",
    "lock_held",
    "message_line",
    "path",
    "sensitive_mark",
    "size",
    "stamp",
    "task_change_line",
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


# ------------------------------------------------------------------------- for a terminal
#
# The host's dashboard shows the same catalogue data in shorter lines, cleaned for a terminal
# (:func:`letswork.shared.sanitize.terminal_line`: no escapes, controls or invisible
# characters, whitespace folded, one line). A line is a list of pieces, each with a tone the
# terminal turns into its own styling; the words are all here.

#: How a terminal may set a piece off: ``""`` plain, ``aside`` (dim), ``title`` (bold),
#: ``sender`` (a message's sender and recipient), ``ok``, ``warn``, ``error``, ``waiting``
#: (someone waits for the host).
Tone = Literal["", "aside", "title", "sender", "ok", "warn", "error", "waiting"]
#: Words and their tone.
Piece = tuple[str, Tone]

#: Characters of a name, an id and other short peer text on one terminal line.
TERMINAL_NAME_CHARS = 64


def _t(text: str, max_chars: int = 160) -> str:
    return terminal_line(text, max_chars)


def _tname(text: str) -> str:
    return terminal_line(text, TERMINAL_NAME_CHARS)


def change_summary(change: ChangeInfo) -> str:
    """``write src/app.py`` or ``move a.txt -> b.txt``, for a terminal."""
    where = _t(change.path)
    if change.new_path is not None:
        where += " -> " + _t(change.new_path)
    return f"{change.kind} {where}"


def sensitive_mark(change: ChangeInfo) -> str:
    """`` [sensitive: reason]`` for a change to a sensitive path (it alters what guests see or
    runs code on the host), for a terminal; ``""`` for any other change."""
    if not change.sensitive:
        return ""
    return f" [sensitive: {_t(change.sensitive, 300)}]"


#: The tone of a decision: applied, rejected, else (a conflict) an error.
_DECISION_TONES: Mapping[str, Tone] = {"applied": "ok", "rejected": "warn"}


def feed_line(name: str, data: BaseModel) -> list[Piece]:
    """The pieces of one feed line for the event ``name`` whose data (parsed against the
    catalogue) is ``data``; an event without words of its own is named."""
    if isinstance(data, PeerData):
        who = _tname(data.name)
        if name == "awaiting_admission":
            return [(f"{who} is waiting to be admitted", "waiting"), (" (y admit, n deny)", "")]
        return [(f"{who} joined as {data.role}", "ok")]
    if isinstance(data, PeerLeftData):
        return [(f"{_tname(data.name)} left ({_t(data.reason, 200)})", "")]
    if isinstance(data, NameChangedData):
        return [(f"{_tname(data.old)} is now called {_tname(data.new)}", "")]
    if isinstance(data, ChangeSubmittedData):
        change = data.change
        return [
            (f"{_tname(change.author)} proposes: {change_summary(change)}", ""),
            (sensitive_mark(change), "warn"),
            (f" [{_tname(change.id)}] (a approve, r reject)", "aside"),
        ]
    if isinstance(data, ChangeDecidedData):
        change = data.change
        tone = _DECISION_TONES.get(change.status, "error")
        by = f" by {_tname(change.decided_by)}" if change.decided_by else ""
        pieces: list[Piece] = [
            (f"change {_tname(change.id)} {change.status}{by}", tone),
            (f": {change_summary(change)}", ""),
        ]
        if change.reason:
            pieces.append((f" (reason: {_t(change.reason, 200)})", ""))
        return pieces
    if isinstance(data, LockTakenData):
        lock = data.lock
        pieces = [(f"{_tname(lock.holder)} locked {_t(lock.path)}", "")]
        if lock.change_id:
            pieces.append((f" (pending change {_tname(lock.change_id)})", "aside"))
        return pieces
    if isinstance(data, LockReleasedData):
        return [
            (
                f"{_tname(data.holder)}'s lock on {_t(data.path)} was released ({data.reason})",
                "",
            )
        ]
    if isinstance(data, FileChangedData):
        by = f" by {_tname(data.by)}" if data.by else " on disk"
        return [(f"{_t(data.path)} {data.change}{by}", "aside")]
    if isinstance(data, MessageData):
        return message_line(data.message)
    if isinstance(data, MessageReceiptData):
        what = "read" if data.status == "read" else "received"
        return [(f"{_tname(data.recipient)} {what} message #{data.message_id}", "aside")]
    if isinstance(data, TaskUpdatedData):
        return task_change_line(data)
    if isinstance(data, VarChangedData):
        key = _t(data.key, 128)
        if data.deleted or data.value is None:
            return [(f"{_tname(data.by)} deleted variable {key}", "")]
        return [(f"{_tname(data.by)} set variable {key} = ", ""), (_t(data.value, 200), "")]
    if name == "hub_stopping":
        return [("the hub is stopping", "error")]
    if isinstance(data, EventsMissedData):
        return [(missed_events(data.lost), "warn")]
    return [(f"event {_tname(name)}", "aside")]


def missed_events(lost: int | None) -> str:
    """What a reconnect could not replay: ``lost`` events (None: an unknown number)."""
    many = "some events" if lost is None else f"{lost} event{'s' if lost != 1 else ''}"
    them = "it" if lost == 1 else "them"
    return f"missed {many} while this connection was down: the hub no longer kept {them}"


def message_line(message: MessageInfo) -> list[Piece]:
    """``alice -> host [question] #4: body...``, the body on one line."""
    to = "everyone" if message.to is None else _tname(message.to)
    pieces: list[Piece] = [
        (f"{_tname(message.sender)} -> {to}", "sender"),
        (f" [{message.type}] #{message.id}: ", "aside"),
        (_t(message.body, 300), ""),
    ]
    if message.refs:
        quoted = ", ".join(f"{_t(r.path)}:{r.start_line}-{r.end_line}" for r in message.refs[:5])
        pieces.append((f" (quotes {quoted})", "aside"))
    return pieces


def task_change_line(data: TaskUpdatedData) -> list[Piece]:
    """One line for a ``task_updated`` event."""
    task = data.task
    who = _tname(data.by) if data.by is not None else "the hub"
    head = {
        "added": f"{who} added task #{task.id}: ",
        "claimed": f"{who} claimed task #{task.id}: ",
        "unclaimed": f"{who} put back task #{task.id}: ",
        "updated": f"{who} set task #{task.id} to {task.status}: ",
        "released": f"task #{task.id} went back to the board (its assignee left): ",
        "unblocked": f"task #{task.id} is unblocked: ",
        "blocked": f"task #{task.id} is blocked again: ",
    }[data.change]
    pieces: list[Piece] = [(head, ""), (_t(task.title, 200), "title")]
    if task.assignee is not None and data.change in ("added", "updated"):
        pieces.append((f" (assigned to {_tname(task.assignee)})", "aside"))
    if task.note and data.change == "updated":
        pieces.append((f" — {_t(task.note, 200)}", "aside"))
    return pieces


#: How the activity log's entry kinds read (``{actor}`` and the entry's details).
_ACTIVITY_PHRASES: Mapping[str, str] = {
    "join": "{actor} joined ({role})",
    "leave": "{actor} left ({reason})",
    "rename": "{old} is now called {new}",
    "lock": "{actor} locked {path}",
    "unlock": "{actor} unlocked {path}",
    "force_unlock": "{actor} broke {holder}'s lock on {path}",
    "write_proposed": "{actor} proposed a write of {path} [{change}]",
    "edit_proposed": "{actor} proposed an edit of {path} [{change}]",
    "delete_proposed": "{actor} proposed a delete of {path} [{change}]",
    "move_proposed": "{actor} proposed a move of {path} to {new_path} [{change}]",
    "change_applied": "{actor}: change {change} applied ({path})",
    "change_rejected": "{actor}: change {change} rejected ({path})",
    "change_conflict": "change {change} hit a conflict ({path})",
    "message": "{actor} sent a {type} message to {to} (#{id})",
    "task_add": "{actor} added task #{task}: {title}",
    "plan": "{actor} planned tasks {tasks}",
    "task_claim": "{actor} claimed task #{task}",
    "task_unclaim": "{actor} put back task #{task}",
    "task_update": "{actor} set task #{task} to {status}",
    "var_set": "{actor} set variable {key}",
    "var_delete": "{actor} deleted variable {key}",
    "card": "{actor} published a capability card",
    "admit": "{actor} admitted {guest}",
    "deny": "{actor} denied {guest}",
    "kick": "{actor} removed {guest}",
    "trust": "{actor} trusted {guest}",
    "untrust": "{actor} stopped trusting {guest}",
    "invite": "{actor} created an invite: {role} {label}",
    "revoke": "{actor} revoked invite {invite} {label}",
    "shutdown": "{actor} stopped the hub",
}
_SPACES = re.compile(r"\s+")


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def activity_line(entry: ActivityEntry) -> str:
    """One line for an entry of the hub's activity log, every value cleaned for a terminal
    (a detail the entry's kind names but lacks reads ``?``)."""
    values = _Blank()
    for key, value in entry.detail.items():
        if isinstance(value, list):
            value = ", ".join(f"#{v}" if isinstance(v, int) else str(v) for v in value[:20])
        values[str(key)] = _t("" if value is None else str(value), 120)
    values["actor"] = _tname(entry.actor)
    values["path"] = _t(entry.path or "")
    if entry.kind == "message" and not values.get("to"):
        values["to"] = "everyone"
    phrase = _ACTIVITY_PHRASES.get(entry.kind)
    if phrase is None:
        rest = " ".join(f"{k}={v}" for k, v in values.items() if k not in ("actor", "path") and v)
        line = f"{values['actor']} {_tname(entry.kind)} {values['path']} {rest}"
        return _SPACES.sub(" ", line).strip()
    return _SPACES.sub(" ", phrase.format_map(values)).strip()
