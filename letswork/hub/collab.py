"""The hub's collaboration layer: messages, the task board, shared variables, presence, the
activity log and leaving (issue 6).

:class:`CollabOps` is a mixin of :class:`letswork.hub.core.HubCore`: its ``op_*`` methods are
found by name like every other handler, and it uses the core's helpers (``_send``,
``_broadcast``, ``_audit``, ``disconnect``). Like the rest of the core it never reads a clock
and never touches a socket.

Who is who. A *participant* (an identity) is ``"host"`` for every host connection, else the
guest's ``guest_id``, which survives reconnects. Messages, receipts and task assignments belong
to identities; presence (``list_peers``) and capability cards belong to connections.

Peer-supplied text (bodies, titles, notes, values) is stored and sent exactly as received; only
sizes and characters are checked here. The channel and the dashboard neutralise it at the exits
(:mod:`letswork.shared.sanitize`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from letswork.hub.store import Store
from letswork.hub.store.messages import MessageRow, ReceiptRow
from letswork.hub.store.tasks import TaskRow
from letswork.hub.store.variables import VarRow
from letswork.hub.workspace import Workspace
from letswork.shared import limits as lim
from letswork.shared.errors import ErrorCode, OpError, op_error
from letswork.shared.limits import Limits

if TYPE_CHECKING:
    from letswork.hub.core import Peer
    from letswork.hub.locks import Lock, LockTable

#: The host's identity, and its display name (reserved for it).
HOST_ID = "host"
_NAME_FOLD_RE = re.compile(r"[\s._-]+")

TASK_STATUSES = ("open", "claimed", "in_progress", "blocked", "done", "failed")
_PRIORITY_RANK = {"critical": 0, "high": 1, "normal": 2, "low": 3}
#: Task statuses that mean "its assignee is working on it, or will".
_ACTIVE = frozenset({"claimed", "in_progress", "blocked"})
_FINISHED = frozenset({"done", "failed"})

#: Audit kinds without a path that guests may see in ``activity_log``.
GUEST_VISIBLE_KINDS = frozenset(
    {
        "join",
        "leave",
        "rename",
        "task_add",
        "plan",
        "task_claim",
        "task_unclaim",
        "task_update",
        "var_set",
        "var_delete",
    }
)
#: Audit rows a guest's ``activity_log`` looks through at most, to find its visible entries.
_MAX_ACTIVITY_SCAN = 20_000


def name_key(name: str) -> str:
    """Comparison key of a display name: case-folded, spaces and ``._-`` removed."""
    return _NAME_FOLD_RE.sub("", name).casefold()


def _assignee(row: TaskRow) -> tuple[str, str] | None:
    if row.assignee_id is None or row.assignee_name is None:
        return None
    return row.assignee_id, row.assignee_name


def _past_end(path: str, line: int, total: int) -> OpError:
    return op_error(
        ErrorCode.INVALID,
        f"line {line} is past the end of {path!r} ({total} lines)",
        total_lines=total,
    )


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _clip(text: str | None, n: int) -> tuple[str | None, bool]:
    if text is None or len(text) <= n:
        return text, False
    return text[: n - 1] + "…", True


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle of ``graph`` (node -> the nodes it depends on) as a path whose first
    and last nodes are the same, or None. Nodes outside the graph's keys are ignored."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for start in graph:
        if state.get(start):
            continue
        path = [start]
        todo = [iter(graph[start])]
        state[start] = 1
        while todo:
            step = next(todo[-1], None)
            if step is None:
                state[path.pop()] = 2
                todo.pop()
                continue
            if step not in graph:
                continue
            if state.get(step) == 1:
                return [*path[path.index(step) :], step]
            if not state.get(step):
                state[step] = 1
                path.append(step)
                todo.append(iter(graph[step]))
    return None


def topological_order(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """The nodes of an acyclic ``graph`` with every node after the nodes it depends on."""
    order: list[str] = []
    seen: set[str] = set()
    for start in graph:
        if start in seen:
            continue
        seen.add(start)
        stack = [(start, iter(graph[start]))]
        while stack:
            node, deps = stack[-1]
            step = next(deps, None)
            if step is None:
                order.append(node)
                stack.pop()
            elif step in graph and step not in seen:
                seen.add(step)
                stack.append((step, iter(graph[step])))
    return order


class Person(NamedTuple):
    """A participant named in a request: its identity, display name and role."""

    ident: str
    name: str
    role: str


class CollabOps:
    """Messages, tasks, variables, presence, activity log and ``leave`` for :class:`HubCore`."""

    store: Store
    workspace: Workspace
    locks: LockTable
    limits: Limits
    peers: dict[str, Peer]
    observer: Callable[[str, Mapping[str, Any]], None] | None

    if TYPE_CHECKING:  # provided by HubCore

        def _send(self, peer: Peer, name: str, data: Mapping[str, Any]) -> None: ...

        def _broadcast(
            self,
            name: str,
            data: Mapping[str, Any],
            *,
            exclude: Peer | None = None,
            path: str | None = None,
            hosts_only: bool = False,
        ) -> None: ...

        def _broadcast_lock_released(self, lock: Lock, reason: str) -> None: ...

        def _audit(self, peer: Peer | None, kind: str, now: float, **detail: Any) -> None: ...

        def disconnect(self, peer: Peer, now: float, reason: str = "disconnected") -> None: ...

    # ------------------------------------------------------------------ identities

    @staticmethod
    def _ident(peer: Peer) -> str:
        return HOST_ID if peer.is_host else peer.guest_id

    def _connections(self, ident: str) -> list[Peer]:
        """The admitted connections of one participant."""
        return [p for p in self.peers.values() if p.admitted and self._ident(p) == ident]

    def _resolve_person(self, name: str) -> Person:
        """The participant called ``name``: the host, a connected guest, or an admitted guest
        that is offline (the most recently admitted one, if several had that name)."""
        key = name_key(name)
        if key == HOST_ID:
            return Person(HOST_ID, HOST_ID, "host")
        for peer in self.peers.values():
            if peer.admitted and not peer.is_host and name_key(peer.name) == key:
                return Person(peer.guest_id, peer.name, peer.role)
        known = [g for g in self.store.list_guests(state="admitted") if name_key(g.name) == key]
        if known:
            guest = max(known, key=lambda g: g.admitted_at or g.created_at)
            return Person(guest.guest_id, guest.name, guest.role)
        raise op_error(
            ErrorCode.NOT_FOUND,
            f"no one called {name!r} is in this session; list_peers shows who is",
            name=name,
        )

    def _joined_at(self, peer: Peer) -> float:
        """When this participant first joined (0 for the host): broadcasts from before are not
        shown to it."""
        if peer.is_host:
            return 0.0
        row = self.store.get_guest(peer.guest_id)
        return row.created_at if row is not None else 0.0

    # ------------------------------------------------------------------ messages

    def _resolve_refs(self, refs: Iterable[Any]) -> list[dict[str, Any]]:
        """Read the referenced lines in the guests' view: a path that is not shared is
        ``not_shared`` whoever sends it, since the text may reach a guest."""
        out: list[dict[str, Any]] = []
        for ref in refs:
            end = ref.end_line if ref.end_line is not None else ref.start_line
            wanted = min(end - ref.start_line + 1, lim.MAX_REF_LINES)
            try:
                page = self.workspace.read_file(
                    ref.path, offset=ref.start_line - 1, limit=wanted, is_host=False
                )
            except OpError as exc:
                if "total_lines" not in exc.data:
                    raise
                total = exc.data["total_lines"]
                raise _past_end(ref.path, ref.start_line, total) from None
            if page.lines == 0:
                raise _past_end(page.path, ref.start_line, page.total_lines)
            pieces = page.text.split("\n")
            lines = [p + "\n" for p in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
            kept: list[str] = []
            size = 0
            truncated = end - ref.start_line + 1 > wanted and page.truncated
            for line in lines:
                n = len(line.encode("utf-8"))
                if size + n > lim.MAX_REF_TEXT_BYTES:
                    truncated = True
                    if not kept:  # one huge line: keep its start, cut at a character boundary
                        head = line.encode("utf-8")[: lim.MAX_REF_TEXT_BYTES]
                        kept.append(head.decode("utf-8", "ignore"))
                    break
                kept.append(line)
                size += n
            out.append(
                {
                    "path": page.path,
                    "start_line": ref.start_line,
                    "end_line": ref.start_line + len(kept) - 1,
                    "text": "".join(kept),
                    "sha256": page.sha256,
                    "truncated": truncated,
                }
            )
        return out

    def _message_info(
        self,
        row: MessageRow,
        reader: Peer | None,
        *,
        receipt: ReceiptRow | None = None,
        receipts: list[ReceiptRow] | None = None,
    ) -> dict[str, Any]:
        """``row`` as ``reader`` sees it: a guest gets no text of a path no longer shared.

        ``reader`` None is the hub's own view (for :attr:`observer`): no ``read``/``receipts``.
        """
        refs = []
        for ref in row.refs:
            ref = dict(ref)
            if (
                reader is not None
                and not reader.is_host
                and not self.workspace.rules.is_shared(ref["path"])
            ):
                ref["text"] = None
                ref["sha256"] = None
            refs.append(ref)
        info: dict[str, Any] = {
            "id": row.id,
            "type": row.type,
            "sender": row.sender_name,
            "to": row.to_name,
            "body": row.body,
            "refs": refs,
            "created_at": row.created_at,
        }
        if reader is None:
            return info
        if row.sender_id == self._ident(reader):
            info["receipts"] = [
                {
                    "name": r.recipient_name,
                    "status": r.status,
                    "delivered_at": r.delivered_at,
                    "read_at": r.read_at,
                }
                for r in receipts or []
            ]
        else:
            info["read"] = receipt is not None and receipt.status == "read"
        return info

    def _notify_receipt(self, row: MessageRow, receipt: ReceiptRow) -> None:
        at = receipt.read_at if receipt.status == "read" else receipt.delivered_at
        data = {
            "message_id": row.id,
            "recipient": receipt.recipient_name,
            "status": receipt.status,
            "at": at,
        }
        for peer in self._connections(row.sender_id):
            self._send(peer, "message_receipt", data)

    def _deliver_pending(self, peer: Peer, now: float) -> None:
        """Send ``peer`` every message directed to its participant while it was away, each
        exactly once (its receipt becomes ``delivered``; the sender is told)."""
        ident = self._ident(peer)
        for row in self.store.undelivered(ident):
            receipt = self.store.advance_receipt(row.id, ident, peer.name, "delivered", now)
            self._send(peer, "message", {"message": self._message_info(row, peer)})
            if receipt is not None:
                self._notify_receipt(row, receipt)

    def after_reply(self, peer: Peer, now: float) -> bool:
        """Run what must follow the reply to ``peer``'s request; True when the session ended
        (``leave``), so the server closes the connection normally once the reply is out.

        Messages that waited for a participant are delivered here, after the ``hello``
        response, so that they reach a client that is ready for events.
        """
        if peer.deliver_pending and peer.admitted and not peer.closed:
            peer.deliver_pending = False
            self._deliver_pending(peer, now)
        return peer.closed

    def _mark_read(self, peer: Peer, rows: Iterable[MessageRow], now: float) -> list[int]:
        ident = self._ident(peer)
        joined = self._joined_at(peer)
        marked: list[int] = []
        notes: list[tuple[MessageRow, ReceiptRow]] = []
        with self.store.transaction():
            for row in rows:
                if row.sender_id == ident or (row.to_id is not None and row.to_id != ident):
                    continue
                if row.to_id is None and row.created_at < joined:
                    continue  # a broadcast from before this guest joined stays invisible to it
                receipt = self.store.advance_receipt(row.id, ident, peer.name, "read", now)
                if receipt is not None:
                    marked.append(row.id)
                    notes.append((row, receipt))
        for row, receipt in notes:
            self._notify_receipt(row, receipt)
        return marked

    def op_send_message(
        self, peer: Peer, args: Any, now: float
    ) -> Generator[Callable[[], Any], Any, Mapping[str, Any]]:
        size = len(args.body.encode("utf-8"))
        if size > self.limits.max_chat_bytes:
            raise op_error(
                ErrorCode.TOO_LARGE,
                f"the message is {size} bytes; the limit is {self.limits.max_chat_bytes}",
                size=size,
                limit=self.limits.max_chat_bytes,
            )
        me = self._ident(peer)
        target: Person | None = None
        if args.to is not None:
            target = self._resolve_person(args.to)
            if target.ident == me:
                raise op_error(ErrorCode.INVALID, "you cannot send a message to yourself")
        refs: list[dict[str, Any]] = []
        if args.refs:  # reading and hashing the files is a worker's job (HubCore.begin)
            refs = yield functools.partial(self._resolve_refs, args.refs)
        stored = size + len(json.dumps(refs, ensure_ascii=False, separators=(",", ":")).encode())
        if stored > self.limits.max_message_stored_bytes:
            # Quoted text full of quotes, backslashes or control characters escapes to several
            # times its size in JSON: the stored row, not the raw text, is what is capped.
            raise op_error(
                ErrorCode.TOO_LARGE,
                f"with its file references the message would store {stored} bytes; the limit "
                f"is {self.limits.max_message_stored_bytes}: reference fewer lines",
                size=stored,
                limit=self.limits.max_message_stored_bytes,
            )
        if target is not None:
            readers = self._connections(target.ident)
            recipients = [(target.ident, target.name, "delivered" if readers else "sent")]
        else:
            names: dict[str, str] = {}
            for p in self.peers.values():
                if p.admitted and self._ident(p) != me:
                    names.setdefault(self._ident(p), p.name)
            readers = [p for p in self.peers.values() if p.admitted and self._ident(p) != me]
            recipients = [(ident, name, "delivered") for ident, name in names.items()]
        with self.store.transaction():
            row = self.store.add_message(
                type=args.type,
                sender_id=me,
                sender_name=peer.name,
                to_id=target.ident if target else None,
                to_name=target.name if target else None,
                body=args.body,
                refs=refs,
                now=now,
                recipients=recipients,
            )
            self._audit(
                peer,
                "message",
                now,
                id=row.id,
                type=args.type,
                to=target.name if target else None,
                refs=[r["path"] for r in refs],
            )
        receipts = self.store.receipts([row.id])[row.id]
        # The recipients' connections, and the sender's other ones (the host's dashboard shows
        # what the host's assistant said).
        for reader in [*readers, *(p for p in self._connections(me) if p is not peer)]:
            info = self._message_info(row, reader, receipts=receipts)
            self._send(reader, "message", {"message": info})
        if self.observer is not None and HOST_ID in (me, row.to_id or HOST_ID):
            # The host's log and dashboard see what the host could read: broadcasts and the
            # host's own conversations, not what two guests said to each other.
            self.observer("message", {"message": self._message_info(row, None)})
        return {"message": self._message_info(row, peer, receipts=receipts)}

    def op_get_messages(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        me = self._ident(peer)
        rows = self.store.list_messages(
            me,
            since_id=args.since_id or 0,
            sender_name=args.sender,
            type=args.type,
            unread_only=not args.include_read,
            broadcasts_since=self._joined_at(peer),
            limit=args.limit + 1,
        )
        has_more = len(rows) > args.limit
        rows = rows[: args.limit]
        receipts = self.store.receipts([m.id for m, _ in rows if m.sender_id == me])
        messages: list[dict[str, Any]] = []
        total = 0
        for message, receipt in rows:
            info = self._message_info(
                message, peer, receipt=receipt, receipts=receipts.get(message.id)
            )
            size = _json_size(info)
            if messages and total + size > lim.MAX_LISTING_BYTES:
                has_more = True
                break
            messages.append(info)
            total += size
        if args.mark_read:
            self._mark_read(peer, [m for m, _ in rows[: len(messages)]], now)
        return {"messages": messages, "has_more": has_more}

    def op_mark_read(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        rows = [row for mid in dict.fromkeys(args.ids) if (row := self.store.get_message(mid))]
        return {"marked": self._mark_read(peer, rows, now)}

    # ------------------------------------------------------------------ tasks

    def _task(self, task_id: int) -> TaskRow:
        row = self.store.get_task(task_id)
        if row is None:
            raise op_error(ErrorCode.NOT_FOUND, f"no task {task_id}; board lists them", id=task_id)
        return row

    def _waiting_on(self, row: TaskRow, statuses: Mapping[int, str] | None = None) -> list[int]:
        waiting = []
        for dep in row.depends_on:
            if statuses is not None:
                status = statuses.get(dep)
            else:
                found = self.store.get_task(dep)
                status = found.status if found is not None else None
            if status != "done":
                waiting.append(dep)
        return waiting

    def _task_info(
        self, row: TaskRow, statuses: Mapping[int, str] | None = None, *, clip: bool = False
    ) -> dict[str, Any]:
        description: str | None = row.description
        note, cut = row.note, False
        if clip:
            description, cut_d = _clip(row.description, lim.MAX_BOARD_TEXT_CHARS)
            note, cut_n = _clip(row.note, lim.MAX_BOARD_TEXT_CHARS)
            cut = cut_d or cut_n
        return {
            "id": row.id,
            "title": row.title,
            "description": description or "",
            "priority": row.priority,
            "status": row.status,
            "assignee": row.assignee_name,
            "depends_on": list(row.depends_on),
            "waiting_on": self._waiting_on(row, statuses),
            "note": note,
            "created_by": row.created_by,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "truncated": cut,
        }

    def _task_event(self, row: TaskRow, change: str, by: Peer | None) -> None:
        data = {
            "task": self._task_info(row),
            "change": change,
            "by": by.name if by is not None else None,
        }
        self._broadcast("task_updated", data)

    @staticmethod
    def _check_title(title: str) -> None:
        if not title.strip():
            raise op_error(ErrorCode.INVALID, "a task needs a title that is not blank")

    def _check_room(self, adding: int) -> None:
        count = self.store.count_tasks()
        if count + adding > lim.MAX_TASKS:
            raise op_error(
                ErrorCode.QUOTA_EXCEEDED,
                f"the board holds {count} tasks; the limit is {lim.MAX_TASKS}",
                count=count,
                limit=lim.MAX_TASKS,
            )

    def _check_assignee(self, name: str) -> Person:
        person = self._resolve_person(name)
        if person.role == "viewer":
            raise op_error(
                ErrorCode.INVALID, f"{person.name!r} is a viewer; viewers cannot take tasks"
            )
        return person

    def _set_task(
        self,
        row: TaskRow,
        now: float,
        *,
        status: str,
        assignee: tuple[str, str] | None,
        note: str | None,
    ) -> TaskRow:
        return self.store.update_task(
            row.id,
            status=status,
            assignee_id=assignee[0] if assignee else None,
            assignee_name=assignee[1] if assignee else None,
            note=note,
            now=now,
        )

    def _follow_dependencies(
        self, before: TaskRow, after: TaskRow, now: float, events: list[tuple[TaskRow, str]]
    ) -> None:
        """A task became done: its blocked dependents whose dependencies are now all done open
        (``claimed`` when they have an assignee). A done task was reopened: its open or claimed
        dependents are blocked again."""
        if before.status != "done" and after.status == "done":
            for dep in self.store.dependents(after.id):
                if dep.status == "blocked" and not self._waiting_on(dep):
                    assignee = _assignee(dep)
                    status = "claimed" if assignee else "open"
                    new = self._set_task(dep, now, status=status, assignee=assignee, note=dep.note)
                    events.append((new, "unblocked"))
        elif before.status == "done" and after.status != "done":
            for dep in self.store.dependents(after.id):
                if dep.status in ("open", "claimed"):
                    new = self._set_task(
                        dep, now, status="blocked", assignee=_assignee(dep), note=dep.note
                    )
                    events.append((new, "blocked"))

    def op_add_task(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        self._check_title(args.title)
        self._check_room(1)
        deps = sorted(set(args.depends_on))
        waiting = [d for d in deps if self._task(d).status != "done"]
        with self.store.transaction():
            row = self.store.add_task(
                title=args.title,
                description=args.description,
                priority=args.priority,
                status="blocked" if waiting else "open",
                assignee_id=None,
                assignee_name=None,
                created_by=peer.name,
                now=now,
                depends_on=tuple(deps),
            )
            self._audit(peer, "task_add", now, task=row.id, title=row.title[:100])
        self._task_event(row, "added", peer)
        return {"task": self._task_info(row)}

    def op_plan(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        specs = list(args.tasks)
        keys: dict[str, int] = {}
        for index, spec in enumerate(specs):
            if spec.key in keys:
                raise op_error(ErrorCode.INVALID, f"the key {spec.key!r} is used twice in the plan")
            keys[spec.key] = index
        self._check_room(len(specs))
        existing: dict[int, str] = {}
        assignees: dict[str, Person | None] = {}
        for spec in specs:
            self._check_title(spec.title)
            for dep in spec.depends_on:
                if isinstance(dep, str):
                    if dep not in keys:
                        raise op_error(
                            ErrorCode.INVALID,
                            f"task {spec.key!r} depends on {dep!r}, which is not a key of this "
                            "plan (existing tasks are named by their numeric id)",
                        )
                    if dep == spec.key:
                        raise op_error(ErrorCode.INVALID, f"task {spec.key!r} depends on itself")
                elif dep not in existing:
                    found = self.store.get_task(dep)
                    if found is None:
                        raise op_error(
                            ErrorCode.NOT_FOUND,
                            f"task {spec.key!r} depends on task {dep}, which does not exist",
                            id=dep,
                        )
                    existing[dep] = found.status
            assignees[spec.key] = (
                self._check_assignee(spec.assignee) if spec.assignee is not None else None
            )
        graph = {s.key: [d for d in s.depends_on if isinstance(d, str)] for s in specs}
        cycle = find_cycle(graph)
        if cycle is not None:
            raise op_error(
                ErrorCode.INVALID,
                "the plan's dependencies form a cycle: " + " -> ".join(cycle) + "; nothing was "
                "created",
                cycle=cycle,
            )
        ids: dict[str, int] = {}
        rows: dict[str, TaskRow] = {}
        with self.store.transaction():
            for key in topological_order(graph):
                spec = specs[keys[key]]
                dep_ids = tuple(ids[d] if isinstance(d, str) else d for d in spec.depends_on)
                blocked = any(isinstance(d, str) or existing[d] != "done" for d in spec.depends_on)
                person = assignees[key]
                status = "blocked" if blocked else ("claimed" if person else "open")
                row = self.store.add_task(
                    title=spec.title,
                    description=spec.description,
                    priority=spec.priority,
                    status=status,
                    assignee_id=person.ident if person else None,
                    assignee_name=person.name if person else None,
                    created_by=peer.name,
                    now=now,
                    depends_on=dep_ids,
                )
                ids[key] = row.id
                rows[key] = row
            self._audit(peer, "plan", now, tasks=[ids[s.key] for s in specs])
        ordered = [rows[s.key] for s in specs]
        for row in ordered:
            self._task_event(row, "added", peer)
        return {"tasks": [self._task_info(r) for r in ordered], "ids": ids}

    def _check_owner(self, peer: Peer, row: TaskRow) -> None:
        """Only the assignee (or the host) changes a claimed task."""
        mine = row.assignee_id is None or row.assignee_id == self._ident(peer)
        if not mine and not peer.is_host:
            raise op_error(
                ErrorCode.FORBIDDEN,
                f"task {row.id} is claimed by {row.assignee_name}; only they or the host "
                "can change it",
                assignee=row.assignee_name,
            )

    def op_claim_task(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        row = self._task(args.id)
        me = self._ident(peer)
        if row.status in _FINISHED:
            raise op_error(
                ErrorCode.INVALID,
                f"task {row.id} is {row.status}; reopen it with update_task (status open) first",
            )
        if row.assignee_id == me:
            return {"task": self._task_info(row)}
        self._check_owner(peer, row)
        status = row.status if row.status in ("blocked", "in_progress") else "claimed"
        with self.store.transaction():
            new = self._set_task(row, now, status=status, assignee=(me, peer.name), note=row.note)
            self._audit(peer, "task_claim", now, task=row.id)
        self._task_event(new, "claimed", peer)
        return {"task": self._task_info(new)}

    def _open_or_blocked(self, row: TaskRow) -> str:
        return "blocked" if self._waiting_on(row) else "open"

    def op_unclaim_task(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        row = self._task(args.id)
        if row.assignee_id is None:
            return {"task": self._task_info(row)}
        self._check_owner(peer, row)
        if row.status in _FINISHED:
            raise op_error(
                ErrorCode.INVALID,
                f"task {row.id} is {row.status}; reopen it with update_task (status open) instead",
            )
        status = "blocked" if row.status == "blocked" else self._open_or_blocked(row)
        with self.store.transaction():
            new = self._set_task(row, now, status=status, assignee=None, note=row.note)
            self._audit(peer, "task_unclaim", now, task=row.id)
        self._task_event(new, "unclaimed", peer)
        return {"task": self._task_info(new)}

    def op_update_task(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        if args.status is None and args.note is None:
            raise op_error(ErrorCode.INVALID, "give a status, a note, or both")
        row = self._task(args.id)
        self._check_owner(peer, row)
        me = (self._ident(peer), peer.name)
        assignee = _assignee(row)
        status = row.status
        if args.status is not None and args.status != row.status:
            status = args.status
            waiting = self._waiting_on(row)
            if status == "open":
                assignee = None
                status = "blocked" if waiting else "open"
            elif status == "claimed":
                assignee = assignee or me
                status = "blocked" if waiting else "claimed"
            elif status in ("in_progress", "done"):
                if waiting:
                    raise op_error(
                        ErrorCode.INVALID,
                        f"task {row.id} waits for task(s) {', '.join(map(str, waiting))}, "
                        "which are not done",
                        waiting_on=waiting,
                    )
                assignee = assignee or me
            elif status == "failed":
                assignee = assignee or me
        note = (args.note or None) if args.note is not None else row.note  # "" clears it
        events: list[tuple[TaskRow, str]] = []
        with self.store.transaction():
            new = self._set_task(row, now, status=status, assignee=assignee, note=note)
            self._audit(peer, "task_update", now, task=row.id, status=new.status, old=row.status)
            self._follow_dependencies(row, new, now, events)
        self._task_event(new, "updated", peer)
        for changed, change in events:
            self._task_event(changed, change, None)
        return {"task": self._task_info(new)}

    def op_board(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        rows = self.store.list_tasks()
        statuses = {r.id: r.status for r in rows}
        groups: dict[str, list[dict[str, Any]]] = {s: [] for s in TASK_STATUSES}
        total_bytes = 0
        truncated = False
        for row in sorted(rows, key=lambda r: (_PRIORITY_RANK.get(r.priority, 9), r.id)):
            info = self._task_info(row, statuses, clip=True)
            size = _json_size(info)
            if total_bytes + size > lim.MAX_LISTING_BYTES:
                truncated = True
                break
            groups[row.status].append(info)
            total_bytes += size
        return {**groups, "total": len(rows), "truncated": truncated}

    def op_get_task(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        return {"task": self._task_info(self._task(args.id))}

    def _release_claims(self, ident: str, now: float) -> int:
        """Give back the unfinished tasks of a participant who left or was removed."""
        released: list[TaskRow] = []
        with self.store.transaction():
            for row in self.store.tasks_assigned(ident):
                if row.status in _FINISHED:
                    continue
                status = "blocked" if row.status == "blocked" else self._open_or_blocked(row)
                new = self._set_task(row, now, status=status, assignee=None, note=row.note)
                released.append(new)
        for row in released:
            self._task_event(row, "released", None)
        return len(released)

    # ------------------------------------------------------------------ shared variables

    @staticmethod
    def _var_info(row: VarRow, *, with_value: bool = True) -> dict[str, Any]:
        return {
            "key": row.key,
            "value": row.value if with_value else None,
            "size": len(row.value.encode("utf-8")),
            "updated_by": row.updated_by,
            "updated_at": row.updated_at,
        }

    def op_set_var(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        size = len(args.value.encode("utf-8"))
        if size > lim.MAX_VAR_VALUE_BYTES:
            raise op_error(
                ErrorCode.TOO_LARGE,
                f"the value is {size} bytes; the limit is {lim.MAX_VAR_VALUE_BYTES}",
                size=size,
                limit=lim.MAX_VAR_VALUE_BYTES,
            )
        if self.store.get_var(args.key) is None and self.store.count_vars() >= lim.MAX_VARS:
            raise op_error(
                ErrorCode.QUOTA_EXCEEDED,
                f"there are {lim.MAX_VARS} variables, the limit; delete some first",
                limit=lim.MAX_VARS,
            )
        with self.store.transaction():
            row = self.store.set_var(args.key, args.value, peer.name, now)
            self._audit(peer, "var_set", now, key=args.key, size=size)
        self._broadcast(
            "var_changed",
            {"key": row.key, "value": row.value, "deleted": False, "by": peer.name, "at": now},
        )
        return {"var": self._var_info(row)}

    def op_get_var(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        if args.key != "*":
            row = self.store.get_var(args.key)
            if row is None:
                raise op_error(
                    ErrorCode.NOT_FOUND, f"no variable {args.key!r}; get_var '*' lists them"
                )
            return {"vars": [self._var_info(row)], "truncated": False}
        out: list[dict[str, Any]] = []
        total = 0
        truncated = False
        for row in self.store.list_vars():
            info = self._var_info(row, with_value=not truncated)
            size = _json_size(info)
            if not truncated and total + size > lim.MAX_LISTING_BYTES:
                truncated = True
                info = self._var_info(row, with_value=False)
            out.append(info)
            total += size
        return {"vars": out, "truncated": truncated}

    def op_delete_var(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        with self.store.transaction():
            deleted = self.store.delete_var(args.key)
            if deleted:
                self._audit(peer, "var_delete", now, key=args.key)
        if deleted:
            self._broadcast(
                "var_changed", {"key": args.key, "deleted": True, "by": peer.name, "at": now}
            )
        return {"deleted": deleted}

    # ------------------------------------------------------------------ presence

    def op_list_peers(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        visible = [p for p in self.peers.values() if p.admitted or peer.is_host or p is peer]
        locks: dict[str, list[str]] = {}
        for lock in self.locks.all(now):
            if peer.is_host or self.workspace.rules.is_shared(lock.path):
                locks.setdefault(lock.holder_id, []).append(lock.path)
        tasks: dict[str, list[int]] = {}
        for row in self.store.list_tasks():
            if row.assignee_id is not None and row.status in _ACTIVE:
                tasks.setdefault(row.assignee_id, []).append(row.id)
        peers = []
        for p in visible:
            idle = max(0.0, now - p.last_active)
            if not p.admitted:
                state = "awaiting_admission"
            elif idle < lim.IDLE_AFTER_SECONDS:
                state = "online"
            elif idle <= lim.AWAY_AFTER_SECONDS:
                state = "idle"
            else:
                state = "away"
            peers.append(
                {
                    "peer_id": p.peer_id,
                    "name": p.name,
                    "role": p.role,
                    "state": state,
                    "idle_minutes": int(idle // 60),
                    "connected_at": p.connected_at,
                    "last_active_at": p.last_active,
                    "locks": locks.get(p.peer_id if p.is_host else p.guest_id, []),
                    "tasks": tasks.get(self._ident(p), []) if p.admitted else [],
                    "card": p.card,
                }
            )
        return {"peers": peers}

    def op_publish_card(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        if args.opt_in is not True:
            raise op_error(
                ErrorCode.INVALID,
                "a capability card is published only with the user's opt-in: ask them, then "
                "send opt_in: true",
            )
        card = {"client": args.client, "mcp_servers": list(args.mcp_servers)}
        peer.card = card
        self._audit(peer, "card", now, client=args.client, servers=len(card["mcp_servers"]))
        return {"card": card}

    # ------------------------------------------------------------------ activity log

    def _guest_may_see(self, kind: str, path: str | None, detail: Mapping[str, Any]) -> bool:
        if path is None:
            return kind in GUEST_VISIBLE_KINDS
        rules = self.workspace.rules
        new_path = detail.get("new_path")
        return rules.is_shared(path) and (
            not isinstance(new_path, str) or rules.is_shared(new_path)
        )

    def op_activity_log(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        filters = {"actor": args.actor, "kind": args.kind, "since": args.since}
        if peer.is_host:
            rows = self.store.audit_log(**filters, limit=args.limit)
        else:
            rows = []
            before: int | None = None
            scanned = 0
            while len(rows) < args.limit and scanned < _MAX_ACTIVITY_SCAN:
                batch = self.store.audit_log(**filters, before_id=before, limit=500)
                if not batch:
                    break
                scanned += len(batch)
                for row in reversed(batch):
                    if self._guest_may_see(row.kind, row.path, row.detail):
                        rows.append(row)
                        if len(rows) == args.limit:
                            break
                before = batch[0].id
            rows.reverse()
        return {
            "entries": [
                {
                    "id": r.id,
                    "at": r.at,
                    "actor": r.actor,
                    "kind": r.kind,
                    "path": r.path,
                    "detail": r.detail,
                }
                for r in rows
            ]
        }

    # ------------------------------------------------------------------ leaving

    def op_leave(self, peer: Peer, args: Any, now: float) -> Mapping[str, Any]:
        ident = self._ident(peer)
        if peer.is_host:
            changes = self.store.change_counts(author_name=HOST_ID)
        else:
            changes = self.store.change_counts(author_id=peer.guest_id)
        released_locks = self.locks.release_all(peer.peer_id if peer.is_host else peer.guest_id)
        for lock in released_locks:
            self._broadcast_lock_released(lock, "left")
        # Claims follow the participant: they go back to the board when its last connection
        # leaves.
        others = [p for p in self._connections(ident) if p is not peer]
        released_tasks = 0 if others else self._release_claims(ident, now)
        summary = {
            "changes_proposed": changes["proposed"],
            "changes_applied": changes["applied"],
            "changes_rejected": changes["rejected"],
            "messages_sent": self.store.count_messages_sent(ident),
            "tasks_done": self.store.count_tasks_done(ident),
            "locks_released": len(released_locks),
            "tasks_released": released_tasks,
        }
        self.disconnect(peer, now, "left")
        return summary
