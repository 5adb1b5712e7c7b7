"""Hub events as short, sanitised notes for an assistant, and the inbox that holds them.

Events reach the assistant three ways (design section 10): a ``notifications/claude/channel``
push (:attr:`Note.content` and :attr:`Note.meta`), a "since your last call" digest appended to
tool results (:meth:`Inbox.digest`), and the ``get_notifications`` tool (:meth:`Inbox.take`).

Every string another peer or the hub supplied (display names, paths, reasons, message bodies,
task titles and notes, variable values, unknown events' fields) passes through
:func:`letswork.shared.sanitize.clean_line` before it enters a note, so no peer can paint the
host's terminal or hide text in invisible characters (they are removed, and marked). A note
is kept as that text: the digest and ``get_notifications`` (tool results) show it exactly.
Where it becomes a ``notifications/claude/channel`` message (:func:`note_params`), its content
and meta values are escaped for the ``<channel>`` tag Claude Code wraps them in
(:func:`letswork.shared.sanitize.for_channel_tag`), so no peer can close that tag or an
attribute.

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
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from letswork.shared import describe as say
from letswork.shared.describe_runs import run_event_line
from letswork.shared.errors import ProtocolError
from letswork.shared.protocol.base import ReasonData
from letswork.shared.protocol.changes import ChangeDecidedData, ChangeSubmittedData
from letswork.shared.protocol.commands import RunUpdatedData
from letswork.shared.protocol.files import FileChangedData
from letswork.shared.protocol.locks import LockReleasedData, LockTakenData
from letswork.shared.protocol.messages import MessageData, MessageInfo, MessageReceiptData
from letswork.shared.protocol.session import (
    AdmittedData,
    EventsMissedData,
    NameChangedData,
    PeerData,
    PeerLeftData,
)
from letswork.shared.protocol.tasks import TaskInfo, TaskUpdatedData
from letswork.shared.protocol.variables import VarChangedData
from letswork.shared.protocol.wire import Event, parse_event_data
from letswork.shared.sanitize import clean_line, for_channel_tag

__all__ = [
    "META_KEY",
    "Inbox",
    "Note",
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


def meta_value(text: str) -> str:
    """A peer string for a meta value: one clean line (escaped where it is sent,
    :func:`note_params`)."""
    return clean_line(text, 200)


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
        return f"[{say.clock(self.at)}] {self.content}"


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


# The collaboration layer (messages, the task board, shared variables). Bodies, titles, notes
# and values are other people's text: one clean line each, cut short (the tools show them
# whole). Read receipts are silent: get_messages shows them to the sender.

_COLLAB_DATA = (
    MessageData,
    MessageReceiptData,
    TaskUpdatedData,
    VarChangedData,
)
_BODY_CHARS = 300
_TITLE_CHARS = 120
_VALUE_CHARS = 200


def _excerpt(text: str, max_chars: int) -> tuple[str, bool]:
    """``text`` as one clean line of at most ``max_chars``, and whether it was cut."""
    whole = clean_line(text, sys.maxsize)  # markers and escapes make it longer than text
    if len(whole) <= max_chars:
        return whole, False
    return clean_line(text, max_chars), True


def _task_ref(task: TaskInfo) -> str:
    return f'task #{task.id} "{clean_line(task.title, _TITLE_CHARS)}"'


def _describe_message(m: MessageInfo, me: str) -> tuple[str | None, dict[str, str]] | None:
    if m.sender == me:
        return None  # our own message, seen by another of our connections
    body, cut = _excerpt(m.body, _BODY_CHARS)
    to = "everyone" if m.to is None else "you"
    text = f"{say.who(m.sender)} to {to} ({m.type}, message #{m.id}): {body}"
    if m.refs:
        quoted = ", ".join(f"{say.path(r.path)}:{r.start_line}-{r.end_line}" for r in m.refs)
        text += f" [quotes {quoted}]"
    if cut or m.refs:
        text += " (get_messages shows it whole)"
    extra = {"from": m.sender, "type": m.type, "message_id": str(m.id)}
    if m.to is not None:
        extra["to"] = m.to
    return text, extra


def _describe_task(data: TaskUpdatedData, me: str) -> tuple[str, dict[str, str]] | None:
    if data.by is not None and data.by == me:
        return None  # the tool result already said it
    task = data.task
    ref = _task_ref(task)
    by = say.who(data.by) if data.by is not None else "the hub"
    mine = task.assignee is not None and task.assignee == me
    change = data.change
    if change == "added":
        text = f"{by} added {ref} ({task.priority} priority"
        text += f", waiting on {say.ids(task.waiting_on)})" if task.waiting_on else ")"
        if task.assignee is not None:
            text += " for you" if mine else f" for {say.who(task.assignee)}"
    elif change == "claimed":
        text = f"{by} claimed {ref}"
    elif change == "unclaimed":
        text = f"{by} put {ref} back on the board"
    elif change == "updated":
        text = f"{by} set {ref} to {task.status}"
        if task.note:
            note, _ = _excerpt(task.note, _VALUE_CHARS)
            text += f"; note: {note}"
        if mine:
            text += " (it is assigned to you)"
    elif change == "unblocked":
        text = f"{ref} is unblocked: the tasks it depends on are done"
        if mine:
            text += "; it is yours, start it"
        elif task.assignee is None:
            text += "; claim_task takes it"
    elif change == "blocked":
        text = f"{ref} is blocked again: a task it depends on was reopened"
    else:  # released
        text = f"{ref} is back on the board: its assignee left"
    extra = {"task_id": str(task.id), "status": task.status, "change": change}
    if data.by is not None:
        extra["by"] = data.by
    if task.assignee is not None:
        extra["assignee"] = task.assignee
    return text, extra


def _describe_var(data: VarChangedData, me: str) -> tuple[str, dict[str, str]] | None:
    if data.by == me:
        return None
    key = clean_line(data.key, 128)
    extra = {"key": data.key, "by": data.by, "deleted": "true" if data.deleted else "false"}
    if data.deleted or data.value is None:
        return f"{say.who(data.by)} deleted the shared variable {key}", extra
    value, cut = _excerpt(data.value, _VALUE_CHARS)
    text = f"{say.who(data.by)} set the shared variable {key} = {value}"
    return text + (" (get_var shows it whole)" if cut else ""), extra


def _describe_collab(data: BaseModel, *, me: str) -> tuple[str | None, dict[str, str]] | None:
    if isinstance(data, MessageData):
        return _describe_message(data.message, me)
    if isinstance(data, TaskUpdatedData):
        return _describe_task(data, me)
    if isinstance(data, VarChangedData):
        return _describe_var(data, me)
    return None  # message_receipt: silent


def _describe(
    name: str, data: BaseModel, *, me: str, role: str | None
) -> tuple[str | None, dict[str, str]] | None:
    """(content, extra meta) for one parsed event, or None to drop it."""
    is_host = role == "host"
    if isinstance(data, PeerData):
        if data.name in (me, _HOST):
            return None  # the host's own tools (dashboard, admin commands) come and go
        if name == "awaiting_admission":
            return (
                f"{say.who(data.name)} is waiting to join as {data.role}; the host admits them "
                "with `letswork admit NAME` or the dashboard",
                {"peer": data.name, "role": data.role},
            )
        return f"{say.who(data.name)} joined as {data.role}", {
            "peer": data.name,
            "role": data.role,
        }
    if isinstance(data, PeerLeftData):
        if data.name in (me, _HOST):
            return None
        return (
            f"{say.who(data.name)} left ({clean_line(data.reason, 120)})",
            {"peer": data.name},
        )
    if isinstance(data, AdmittedData):
        return "The host admitted you: every tool works now.", {}
    if isinstance(data, NameChangedData):
        if data.new == me:
            return None
        return (
            f"{say.who(data.old)} is now called {say.who(data.new)}",
            {"peer": data.new, "old_name": data.old},
        )
    if isinstance(data, ChangeSubmittedData):
        change = data.change
        if change.author == me:
            return None
        nxt = (
            "review it with get_pending_changes, then approve_change or reject_change"
            if is_host
            else "it waits for the host's approval"
        )
        if change.sensitive:
            nxt = f"sensitive path ({clean_line(change.sensitive, 300)}); {nxt}"
        return (
            f"{say.who(change.author)} proposed {say.change_what(change)} "
            f"(change {say.ident(change.id)}); {nxt}",
            {"change_id": change.id, "author": change.author, "path": change.path},
        )
    if isinstance(data, ChangeDecidedData):
        change = data.change
        by = say.who(change.decided_by or "the host")
        mine = change.author == me
        subject = (
            f"Your change {say.ident(change.id)} ({say.change_what(change)})"
            if mine
            else f"Change {say.ident(change.id)} by {say.who(change.author)} "
            f"({say.change_what(change)})"
        )
        if change.status == "applied":
            # "merged cleanly ..." when the file had moved on (issue 17 part 2)
            how = f", {clean_line(change.reason, 300)}" if change.reason else ""
            text = f"{subject} was approved by {by} and applied{how}."
        elif change.status == "rejected":
            why = f": {clean_line(change.reason, 300)}" if change.reason else ""
            text = f"{subject} was rejected by {by}{why}."
        else:
            # "conflict in lines a-b" when a merge overlapped (issue 17 part 2)
            where = f" ({clean_line(change.reason, 300)})" if change.reason else ""
            text = (
                f"{subject} hit a conflict{where}: the file changed since it was proposed, so "
                "nothing was written."
            )
            if mine:
                text += (
                    " See the conflict with get_change and fix it with update_change (same id),"
                    " or read the file again and propose the change anew."
                )
        extra = {"change_id": change.id, "author": change.author, "path": change.path}
        extra["status"] = change.status
        return text, extra
    if isinstance(data, LockTakenData):
        lock = data.lock
        if lock.holder == me or lock.change_id is not None:
            return None  # our own lock, or the lock a just-announced change holds
        return (
            f"{say.who(lock.holder)} locked {say.path(lock.path)} "
            f"until {say.clock(lock.expires_at)}",
            {"path": lock.path, "holder": lock.holder},
        )
    if isinstance(data, LockReleasedData):
        if data.reason == "decided" or (data.holder == me and data.reason == "unlocked"):
            return None  # announced by change_decided / our own unlock
        why = {
            "unlocked": "released it",
            "expired": "lock expired",
            "forced": "lock was released by the host",
            "left": "left the session",
        }[data.reason]
        return (
            f"{say.path(data.path)} is unlocked ({say.who(data.holder)}'s {why})"
            if data.reason != "unlocked"
            else f"{say.who(data.holder)} unlocked {say.path(data.path)}",
            {"path": data.path, "holder": data.holder},
        )
    if isinstance(data, FileChangedData):
        if data.by == me:
            return None
        by = f"by {say.who(data.by)}" if data.by else "on disk by the host's editor"
        return (
            f"{say.path(data.path)} was {data.change} {by}; re-read it before editing",
            {"path": data.path},
        )
    if isinstance(data, RunUpdatedData):
        if data.change == "asked" and data.run.by == me:
            return None  # run_command's result said so
        line = run_event_line(data)
        return None if line is None else (line, {"run": str(data.run.id)})
    if isinstance(data, _COLLAB_DATA):
        return _describe_collab(data, me=me)
    if isinstance(data, ReasonData):
        why = f": {clean_line(data.reason, 300)}" if data.reason else ""
        if name == "denied":
            return f"The host refused to admit you{why}.", {}
        return f"The host removed you from the session{why}.", {}
    if name == "hub_stopping":
        return "The hub is shutting down; letswork reconnects by itself when it is back.", {}
    if isinstance(data, EventsMissedData):
        text = say.missed_events(data.lost)
        now = "status, my_changes and activity_log show the state now"
        return f"{text[0].upper()}{text[1:]}; {now}.", {}
    return None if name in _QUIET else _generic(name, data.model_dump(mode="json")), {}


def describe_event(
    event: Event,
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
        data = parse_event_data(event.name, event.data)
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
    """The ``params`` of a ``notifications/claude/channel`` notification: the content and
    every meta value escaped for the ``<channel>`` tag they are shown in."""
    return {
        "content": for_channel_tag(note.content),
        "meta": {k: for_channel_tag(v, attribute=True) for k, v in note.meta.items()},
    }
