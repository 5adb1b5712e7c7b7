"""Hub events as short, sanitised notes for an assistant, and the inbox that holds them.

Events reach the assistant three ways (design section 10): a ``notifications/claude/channel``
push (:attr:`Note.content` and :attr:`Note.meta`), a "since your last call" digest appended to
tool results (:meth:`Inbox.digest`), and the ``get_notifications`` tool (:meth:`Inbox.take`).

Every string another peer supplied (display names, paths, reasons) passes through
:func:`letswork.shared.sanitize.clean_line` before it enters a note, so no peer can open or
close a tag such as ``<channel>`` in the model's context or paint the host's terminal. Meta
values additionally have their quotes escaped, since a client may render them as attributes.

Events this peer caused itself (its own proposal, its own lock) are dropped: the tool result
already told the assistant. The exception is a decision on its own change, which is exactly
what it waits for. Every host connection is called ``host``, so the host's channel also
skips what the host did from the dashboard or the admin commands, and nobody is told each
time one of those host connections comes or goes.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from letswork.shared import protocol
from letswork.shared.errors import ProtocolError
from letswork.shared.sanitize import clean_line

__all__ = [
    "META_KEY",
    "Inbox",
    "Note",
    "clock_text",
    "describe_event",
    "local_note",
    "meta_value",
    "note_params",
]

#: What a meta key may look like (Claude Code drops other keys).
META_KEY = re.compile(r"^[A-Za-z0-9_]+$")
_DIGEST_LINES = 5
#: The display name every host connection has (reserved: no guest can take it).
_HOST = "host"
#: Events that say nothing an assistant needs (read receipts).
_QUIET = frozenset({"message_receipt"})


def clock_text(ts: float) -> str:
    """``14:32 UTC`` for a Unix timestamp."""
    return time.strftime("%H:%M UTC", time.gmtime(ts))


def meta_value(text: str) -> str:
    """A peer string made safe for a meta value: one clean line, quotes escaped."""
    return clean_line(text, 200).replace('"', "&quot;").replace("'", "&#39;")


@dataclasses.dataclass(frozen=True)
class Note:
    """One event, ready for the assistant.

    Attributes:
        seq: a local, increasing number (the inbox's order).
        at: when the channel received it (Unix time).
        event: the event name (``change_submitted``, ..., or ``connection`` for the channel's
            own link to the hub).
        content: one or two sanitised lines.
        meta: string values only, keys matching :data:`META_KEY`.
    """

    seq: int
    at: float
    event: str
    content: str
    meta: Mapping[str, str]

    def line(self) -> str:
        return f"[{clock_text(self.at)}] {self.content}"


def _who(name: str) -> str:
    return clean_line(name, 40)


def _id(ident: str) -> str:
    return clean_line(ident, 64)


def _path(path: str) -> str:
    return clean_line(path, 300)


def _kind_phrase(change: protocol.ChangeInfo) -> str:
    path = _path(change.path)
    if change.kind == "move" and change.new_path:
        return f"move of {path} to {_path(change.new_path)}"
    article = "an" if change.kind == "edit" else "a"
    return f"{article} {change.kind} of {path}"


def _generic(name: str, data: Mapping[str, Any]) -> str:
    """An event this module has no sentence for: its name and its short fields, sanitised."""
    fields: list[str] = []
    stack: list[tuple[str, Any]] = list(data.items())
    while stack and len(fields) < 8:
        key, value = stack.pop(0)
        if isinstance(value, Mapping):
            stack[:0] = [(f"{key}.{k}", v) for k, v in value.items()]
        elif isinstance(value, (str, int, bool)):  # not floats: they are timestamps
            fields.append(f"{clean_line(str(key), 40)}={clean_line(str(value), 160)}")
    text = f"hub event {clean_line(name, 64)}"
    return f"{text}: {', '.join(fields)}" if fields else text


def _describe(
    name: str, data: BaseModel, *, me: str, role: str | None
) -> tuple[str | None, dict[str, str]] | None:
    """(content, extra meta) for one parsed event, or None to drop it."""
    is_host = role == "host"
    if isinstance(data, protocol.PeerData):
        if data.name in (me, _HOST):
            return None  # the host's own tools (dashboard, admin commands) come and go
        if name == "awaiting_admission":
            return (
                f"{_who(data.name)} is waiting to join as {data.role}; the host admits them "
                "with `letswork admit NAME` or the dashboard",
                {"peer": data.name, "role": data.role},
            )
        return f"{_who(data.name)} joined as {data.role}", {"peer": data.name, "role": data.role}
    if isinstance(data, protocol.PeerLeftData):
        if data.name in (me, _HOST):
            return None
        return (
            f"{_who(data.name)} left ({clean_line(data.reason, 120)})",
            {"peer": data.name},
        )
    if isinstance(data, protocol.AdmittedData):
        return "The host admitted you: every tool works now.", {}
    if isinstance(data, protocol.NameChangedData):
        if data.new == me:
            return None
        return (
            f"{_who(data.old)} is now called {_who(data.new)}",
            {"peer": data.new, "old_name": data.old},
        )
    if isinstance(data, protocol.ChangeSubmittedData):
        change = data.change
        if change.author == me:
            return None
        nxt = (
            "review it with get_pending_changes, then approve_change or reject_change"
            if is_host
            else "it waits for the host's approval"
        )
        return (
            f"{_who(change.author)} proposed {_kind_phrase(change)} "
            f"(change {_id(change.id)}); {nxt}",
            {"change_id": change.id, "author": change.author, "path": change.path},
        )
    if isinstance(data, protocol.ChangeDecidedData):
        change = data.change
        by = _who(change.decided_by or "the host")
        mine = change.author == me
        subject = (
            f"Your change {_id(change.id)} ({_kind_phrase(change)})"
            if mine
            else f"Change {_id(change.id)} by {_who(change.author)} ({_kind_phrase(change)})"
        )
        if change.status == "applied":
            text = f"{subject} was approved by {by} and applied."
        elif change.status == "rejected":
            why = f": {clean_line(change.reason, 300)}" if change.reason else ""
            text = f"{subject} was rejected by {by}{why}."
        else:
            text = (
                f"{subject} hit a conflict: the file changed since it was proposed, so nothing "
                "was written."
            )
            if mine:
                text += " Read the file again and propose the change anew."
        extra = {"change_id": change.id, "author": change.author, "path": change.path}
        extra["status"] = change.status
        return text, extra
    if isinstance(data, protocol.LockTakenData):
        lock = data.lock
        if lock.holder == me or lock.change_id is not None:
            return None  # our own lock, or the lock a just-announced change holds
        return (
            f"{_who(lock.holder)} locked {_path(lock.path)} until {clock_text(lock.expires_at)}",
            {"path": lock.path, "holder": lock.holder},
        )
    if isinstance(data, protocol.LockReleasedData):
        if data.reason == "decided" or (data.holder == me and data.reason == "unlocked"):
            return None  # announced by change_decided / our own unlock
        why = {
            "unlocked": "released it",
            "expired": "lock expired",
            "forced": "lock was released by the host",
            "left": "left the session",
        }[data.reason]
        return (
            f"{_path(data.path)} is unlocked ({_who(data.holder)}'s {why})"
            if data.reason != "unlocked"
            else f"{_who(data.holder)} unlocked {_path(data.path)}",
            {"path": data.path, "holder": data.holder},
        )
    if isinstance(data, protocol.FileChangedData):
        if data.by == me:
            return None
        by = f"by {_who(data.by)}" if data.by else "on disk by the host's editor"
        return (
            f"{_path(data.path)} was {data.change} {by}; re-read it before editing",
            {"path": data.path},
        )
    if isinstance(data, protocol.ReasonData):
        why = f": {clean_line(data.reason, 300)}" if data.reason else ""
        if name == "denied":
            return f"The host refused to admit you{why}.", {}
        return f"The host removed you from the session{why}.", {}
    if name == "hub_stopping":
        return "The hub is shutting down; letswork reconnects by itself when it is back.", {}
    return None if name in _QUIET else _generic(name, data.model_dump(mode="json")), {}


def describe_event(
    event: protocol.Event,
    *,
    seq: int,
    me: str,
    role: str | None,
    now: float,
) -> Note | None:
    """The note for one hub event, or None when it is this peer's own doing.

    An event this version does not know, or whose data is malformed, becomes a generic note
    rather than an error: a newer hub must not break an older channel.
    """
    try:
        data = protocol.parse_event_data(event.name, event.data)
    except ProtocolError:
        described: tuple[str | None, dict[str, str]] | None = (
            _generic(event.name, event.data),
            {},
        )
    else:
        described = _describe(event.name, data, me=me, role=role)
    if described is None:
        return None
    content, extra = described
    if content is None:
        return None
    meta = {"event": meta_value(event.name), "hub_seq": str(event.seq)}
    meta.update({k: meta_value(v) for k, v in extra.items()})
    return Note(seq=seq, at=now, event=event.name, content=content, meta=_checked(meta))


def local_note(seq: int, now: float, content: str, **meta: str) -> Note:
    """A note the channel itself raises (its link to the hub), event name ``connection``.

    ``content`` must already be safe (it is built from local text and sanitised values).
    """
    values = {"event": "connection", **{k: meta_value(v) for k, v in meta.items()}}
    return Note(seq=seq, at=now, event="connection", content=content, meta=_checked(values))


def _checked(meta: dict[str, str]) -> dict[str, str]:
    for key in meta:
        if not META_KEY.match(key):  # pragma: no cover - the keys are ours
            raise ValueError(f"bad meta key {key!r}")
    return meta


class Inbox:
    """The notes not yet fetched with ``get_notifications``, and the digest mark.

    Holds at most ``capacity`` notes; older ones are dropped and counted.
    """

    def __init__(self, capacity: int = 500, *, clock: Callable[[], float] = time.time) -> None:
        self._notes: collections.deque[Note] = collections.deque()
        self._capacity = capacity
        self._dropped = 0
        self._digested = 0  # seq of the last note shown in a digest
        self._seq = itertools.count(1)
        self.clock = clock

    def next_seq(self) -> int:
        return next(self._seq)

    def add(self, note: Note) -> None:
        self._notes.append(note)
        while len(self._notes) > self._capacity:
            self._notes.popleft()
            self._dropped += 1

    def __len__(self) -> int:
        return len(self._notes)

    def digest(self) -> str | None:
        """A few lines about the notes since the previous digest, or None if there are none.

        The notes stay in the inbox (``get_notifications`` still returns them).
        """
        new = [n for n in self._notes if n.seq > self._digested]
        if not new:
            return None
        self._digested = new[-1].seq
        lines = [n.line() for n in new[-_DIGEST_LINES:]]
        head = "Since your last call (letswork session events):"
        if len(new) > _DIGEST_LINES:
            head += f" {len(new)} events, the latest {_DIGEST_LINES} shown; call get_notifications"
        return "\n".join([head, *(f"- {line}" for line in lines)])

    def take(self) -> tuple[list[Note], int]:
        """All notes, oldest first, and how many were dropped for lack of room; clears both."""
        notes, dropped = list(self._notes), self._dropped
        self._notes.clear()
        self._dropped = 0
        if notes:
            self._digested = max(self._digested, notes[-1].seq)
        return notes, dropped


def note_params(note: Note) -> dict[str, Any]:
    """The ``params`` of a ``notifications/claude/channel`` notification."""
    return {"content": note.content, "meta": dict(note.meta)}
