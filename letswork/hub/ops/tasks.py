"""The tasks group: the task board (``add_task``, ``plan``, ``claim_task``, ``unclaim_task``,
``update_task``, ``board``, ``get_task``) and its dependencies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from letswork.hub.peers import Peer, Person, participant
from letswork.hub.state import Handler, HubState, dump, json_size
from letswork.hub.store.tasks import TaskRow
from letswork.shared import limits as lim
from letswork.shared.errors import ErrorCode, op_error
from letswork.shared.protocol.base import Empty
from letswork.shared.protocol.tasks import (
    AddTaskArgs,
    BoardResult,
    PlanArgs,
    PlanResult,
    TaskIdArgs,
    TaskInfo,
    TaskResult,
    UpdateTaskArgs,
)

TASK_STATUSES = ("open", "claimed", "in_progress", "blocked", "done", "failed")
_PRIORITY_RANK = {"critical": 0, "high": 1, "normal": 2, "low": 3}
#: Task statuses that mean "its assignee is working on it, or will".
ACTIVE = frozenset({"claimed", "in_progress", "blocked"})
_FINISHED = frozenset({"done", "failed"})


def _assignee(row: TaskRow) -> tuple[str, str] | None:
    if row.assignee_id is None or row.assignee_name is None:
        return None
    return row.assignee_id, row.assignee_name


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


def _task(ctx: HubState, task_id: int) -> TaskRow:
    row = ctx.store.get_task(task_id)
    if row is None:
        raise op_error(ErrorCode.NOT_FOUND, f"no task {task_id}; board lists them", id=task_id)
    return row


def _waiting_on(
    ctx: HubState, row: TaskRow, statuses: Mapping[int, str] | None = None
) -> list[int]:
    waiting = []
    for dep in row.depends_on:
        if statuses is not None:
            status = statuses.get(dep)
        else:
            found = ctx.store.get_task(dep)
            status = found.status if found is not None else None
        if status != "done":
            waiting.append(dep)
    return waiting


def _task_info(
    ctx: HubState, row: TaskRow, statuses: Mapping[int, str] | None = None, *, clip: bool = False
) -> TaskInfo:
    """``row`` as peers see it; ``clip`` (the board) cuts its description and note to
    ``MAX_BOARD_TEXT_CHARS`` and says so in ``truncated``."""
    description: str | None = row.description
    note, cut = row.note, False
    if clip:
        description, cut_d = _clip(row.description, lim.MAX_BOARD_TEXT_CHARS)
        note, cut_n = _clip(row.note, lim.MAX_BOARD_TEXT_CHARS)
        cut = cut_d or cut_n
    return TaskInfo.model_validate(
        {
            "id": row.id,
            "title": row.title,
            "description": description or "",
            "priority": row.priority,
            "status": row.status,
            "assignee": row.assignee_name,
            "depends_on": list(row.depends_on),
            "waiting_on": _waiting_on(ctx, row, statuses),
            "note": note,
            "created_by": row.created_by,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "truncated": cut,
        }
    )


def _task_event(ctx: HubState, row: TaskRow, change: str, by: Peer | None) -> None:
    data = {
        "task": dump(_task_info(ctx, row)),
        "change": change,
        "by": by.name if by is not None else None,
    }
    ctx.broadcast("task_updated", data)


def _check_room(ctx: HubState, adding: int) -> None:
    count = ctx.store.count_tasks()
    if count + adding > lim.MAX_TASKS:
        raise op_error(
            ErrorCode.QUOTA_EXCEEDED,
            f"the board holds {count} tasks; the limit is {lim.MAX_TASKS}",
            count=count,
            limit=lim.MAX_TASKS,
        )


def _check_assignee(ctx: HubState, name: str) -> Person:
    person = ctx.resolve_person(name)
    if person.role == "viewer":
        raise op_error(ErrorCode.INVALID, f"{person.name!r} is a viewer; viewers cannot take tasks")
    return person


def _set_task(
    ctx: HubState,
    row: TaskRow,
    now: float,
    *,
    status: str,
    assignee: tuple[str, str] | None,
    note: str | None,
) -> TaskRow:
    return ctx.store.update_task(
        row.id,
        status=status,
        assignee_id=assignee[0] if assignee else None,
        assignee_name=assignee[1] if assignee else None,
        note=note,
        now=now,
    )


def _follow_dependencies(
    ctx: HubState, before: TaskRow, after: TaskRow, now: float, events: list[tuple[TaskRow, str]]
) -> None:
    """A task became done: its blocked dependents whose dependencies are now all done open
    (``claimed`` when they have an assignee). A done task was reopened: its open or claimed
    dependents are blocked again."""
    if before.status != "done" and after.status == "done":
        for dep in ctx.store.dependents(after.id):
            if dep.status == "blocked" and not _waiting_on(ctx, dep):
                assignee = _assignee(dep)
                status = "claimed" if assignee else "open"
                new = _set_task(ctx, dep, now, status=status, assignee=assignee, note=dep.note)
                events.append((new, "unblocked"))
    elif before.status == "done" and after.status != "done":
        for dep in ctx.store.dependents(after.id):
            if dep.status in ("open", "claimed"):
                new = _set_task(
                    ctx, dep, now, status="blocked", assignee=_assignee(dep), note=dep.note
                )
                events.append((new, "blocked"))


def add_task(ctx: HubState, peer: Peer, args: AddTaskArgs, now: float) -> TaskResult:
    _check_title(args.title)
    _check_room(ctx, 1)
    deps = sorted(set(args.depends_on))
    waiting = [d for d in deps if _task(ctx, d).status != "done"]
    with ctx.store.transaction():
        row = ctx.store.add_task(
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
        ctx.audit(peer, "task_add", now, task=row.id, title=row.title[:100])
    _task_event(ctx, row, "added", peer)
    return TaskResult.model_validate({"task": _task_info(ctx, row)})


def plan(ctx: HubState, peer: Peer, args: PlanArgs, now: float) -> PlanResult:
    specs = list(args.tasks)
    keys: dict[str, int] = {}
    for index, spec in enumerate(specs):
        if spec.key in keys:
            raise op_error(ErrorCode.INVALID, f"the key {spec.key!r} is used twice in the plan")
        keys[spec.key] = index
    _check_room(ctx, len(specs))
    existing: dict[int, str] = {}
    assignees: dict[str, Person | None] = {}
    for spec in specs:
        _check_title(spec.title)
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
                found = ctx.store.get_task(dep)
                if found is None:
                    raise op_error(
                        ErrorCode.NOT_FOUND,
                        f"task {spec.key!r} depends on task {dep}, which does not exist",
                        id=dep,
                    )
                existing[dep] = found.status
        assignees[spec.key] = (
            _check_assignee(ctx, spec.assignee) if spec.assignee is not None else None
        )
    graph = {s.key: [d for d in s.depends_on if isinstance(d, str)] for s in specs}
    cycle = find_cycle(graph)
    if cycle is not None:
        raise op_error(
            ErrorCode.INVALID,
            "the plan's dependencies form a cycle: " + " -> ".join(cycle) + "; nothing was created",
            cycle=cycle,
        )
    ids: dict[str, int] = {}
    rows: dict[str, TaskRow] = {}
    with ctx.store.transaction():
        for key in topological_order(graph):
            spec = specs[keys[key]]
            dep_ids = tuple(ids[d] if isinstance(d, str) else d for d in spec.depends_on)
            blocked = any(isinstance(d, str) or existing[d] != "done" for d in spec.depends_on)
            person = assignees[key]
            status = "blocked" if blocked else ("claimed" if person else "open")
            row = ctx.store.add_task(
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
        ctx.audit(peer, "plan", now, tasks=[ids[s.key] for s in specs])
    ordered = [rows[s.key] for s in specs]
    for row in ordered:
        _task_event(ctx, row, "added", peer)
    return PlanResult.model_validate({"tasks": [_task_info(ctx, r) for r in ordered], "ids": ids})


def _check_owner(ctx: HubState, peer: Peer, row: TaskRow) -> None:
    """Only the assignee (or the host) changes a claimed task."""
    mine = row.assignee_id is None or row.assignee_id == participant(peer)
    if not mine and not peer.is_host:
        raise op_error(
            ErrorCode.FORBIDDEN,
            f"task {row.id} is claimed by {row.assignee_name}; only they or the host can change it",
            assignee=row.assignee_name,
        )


def claim_task(ctx: HubState, peer: Peer, args: TaskIdArgs, now: float) -> TaskResult:
    row = _task(ctx, args.id)
    me = participant(peer)
    if row.status in _FINISHED:
        raise op_error(
            ErrorCode.INVALID,
            f"task {row.id} is {row.status}; reopen it with update_task (status open) first",
        )
    if row.assignee_id == me:
        return TaskResult.model_validate({"task": _task_info(ctx, row)})
    _check_owner(ctx, peer, row)
    status = row.status if row.status in ("blocked", "in_progress") else "claimed"
    with ctx.store.transaction():
        new = _set_task(ctx, row, now, status=status, assignee=(me, peer.name), note=row.note)
        ctx.audit(peer, "task_claim", now, task=row.id)
    _task_event(ctx, new, "claimed", peer)
    return TaskResult.model_validate({"task": _task_info(ctx, new)})


def _open_or_blocked(ctx: HubState, row: TaskRow) -> str:
    return "blocked" if _waiting_on(ctx, row) else "open"


def unclaim_task(ctx: HubState, peer: Peer, args: TaskIdArgs, now: float) -> TaskResult:
    row = _task(ctx, args.id)
    if row.assignee_id is None:
        return TaskResult.model_validate({"task": _task_info(ctx, row)})
    _check_owner(ctx, peer, row)
    if row.status in _FINISHED:
        raise op_error(
            ErrorCode.INVALID,
            f"task {row.id} is {row.status}; reopen it with update_task (status open) instead",
        )
    status = "blocked" if row.status == "blocked" else _open_or_blocked(ctx, row)
    with ctx.store.transaction():
        new = _set_task(ctx, row, now, status=status, assignee=None, note=row.note)
        ctx.audit(peer, "task_unclaim", now, task=row.id)
    _task_event(ctx, new, "unclaimed", peer)
    return TaskResult.model_validate({"task": _task_info(ctx, new)})


def update_task(ctx: HubState, peer: Peer, args: UpdateTaskArgs, now: float) -> TaskResult:
    if args.status is None and args.note is None:
        raise op_error(ErrorCode.INVALID, "give a status, a note, or both")
    row = _task(ctx, args.id)
    _check_owner(ctx, peer, row)
    me = (participant(peer), peer.name)
    assignee = _assignee(row)
    status = row.status
    if args.status is not None and args.status != row.status:
        status = args.status
        waiting = _waiting_on(ctx, row)
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
    with ctx.store.transaction():
        new = _set_task(ctx, row, now, status=status, assignee=assignee, note=note)
        ctx.audit(peer, "task_update", now, task=row.id, status=new.status, old=row.status)
        _follow_dependencies(ctx, row, new, now, events)
    _task_event(ctx, new, "updated", peer)
    for changed, change in events:
        _task_event(ctx, changed, change, None)
    return TaskResult.model_validate({"task": _task_info(ctx, new)})


def board(ctx: HubState, peer: Peer, args: Empty, now: float) -> BoardResult:
    rows = ctx.store.list_tasks()
    statuses = {r.id: r.status for r in rows}
    groups: dict[str, list[TaskInfo]] = {s: [] for s in TASK_STATUSES}
    total_bytes = 0
    truncated = False
    for row in sorted(rows, key=lambda r: (_PRIORITY_RANK.get(r.priority, 9), r.id)):
        info = _task_info(ctx, row, statuses, clip=True)
        size = json_size(info)
        if total_bytes + size > lim.MAX_LISTING_BYTES:
            truncated = True
            break
        groups[row.status].append(info)
        total_bytes += size
    return BoardResult.model_validate({**groups, "total": len(rows), "truncated": truncated})


def get_task(ctx: HubState, peer: Peer, args: TaskIdArgs, now: float) -> TaskResult:
    return TaskResult.model_validate({"task": _task_info(ctx, _task(ctx, args.id))})


def release_claims(ctx: HubState, ident: str, now: float) -> int:
    """Give back the unfinished tasks of a participant who left or was removed."""
    released: list[TaskRow] = []
    with ctx.store.transaction():
        for row in ctx.store.tasks_assigned(ident):
            if row.status in _FINISHED:
                continue
            status = "blocked" if row.status == "blocked" else _open_or_blocked(ctx, row)
            new = _set_task(ctx, row, now, status=status, assignee=None, note=row.note)
            released.append(new)
    for row in released:
        _task_event(ctx, row, "released", None)
    return len(released)


def _check_title(title: str) -> None:
    if not title.strip():
        raise op_error(ErrorCode.INVALID, "a task needs a title that is not blank")


#: This group's ops, by name.
HANDLERS: dict[str, Handler] = {
    "add_task": add_task,
    "plan": plan,
    "claim_task": claim_task,
    "unclaim_task": unclaim_task,
    "update_task": update_task,
    "board": board,
    "get_task": get_task,
}
