"""The tools of the ``tasks`` ops (``shared/protocol/tasks.py``): the shared task board.

Titles, descriptions and notes are other people's text: cleaned; the board cuts
descriptions and notes short (``get_task`` shows them whole) and stops within
:data:`~letswork.channel.tools.base.MAX_RESULT_CHARS`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from letswork.channel.tools.base import PEER_TEXT, Budget, ToolContext, ToolSpec, indented
from letswork.shared import describe as say
from letswork.shared import limits
from letswork.shared.protocol.tasks import BoardResult, PlanResult, TaskInfo, TaskResult
from letswork.shared.sanitize import clean_line

__all__ = ["TOOLS"]


#: Characters of a task description or note on one board line, and of a value in a list.
_SNIPPET_CHARS = 160


def _done(ids: list[int]) -> str:
    return f"{say.ids(ids)} {'is' if len(ids) == 1 else 'are'} done"


def _title(task: TaskInfo) -> str:
    return clean_line(task.title, limits.MAX_TASK_TITLE_CHARS + 20)


def _status_phrase(t: TaskInfo) -> str:
    who = say.who(t.assignee) if t.assignee else None
    if t.status == "open":
        return "open (nobody has claimed it)"
    if t.status == "blocked":
        owner = f", assigned to {who}" if who else ""
        return f"blocked until {_done(t.waiting_on)}{owner}"
    if who:
        return f"{t.status.replace('_', ' ')}, assigned to {who}"
    return t.status.replace("_", " ")


def _task_detail(t: TaskInfo) -> list[str]:
    lines = [
        f"Task #{t.id}: {_title(t)}",
        f"Status: {_status_phrase(t)} · priority {t.priority}",
    ]
    if t.depends_on:
        deps = say.ids(t.depends_on)
        waiting = f" (waiting on {say.ids(t.waiting_on)})" if t.waiting_on else " (all done)"
        lines.append(f"Depends on: {deps}{waiting}")
    lines.append(
        f"Created by {say.who(t.created_by)} at {say.stamp(t.created_at)}; "
        f"updated {say.stamp(t.updated_at)}"
    )
    if t.description:
        lines.extend(["Description:", *indented(t.description)])
    if t.note:
        lines.extend(["Note:", *indented(t.note)])
    if t.truncated:
        lines.append("(description or note cut: get_task shows them whole)")
    return lines


def _r_add_task(r: TaskResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    t = r.task
    nxt = (
        f"It opens by itself when {_done(t.waiting_on)}."
        if t.waiting_on
        else "claim_task takes it; others see it on the board."
    )
    return "\n".join([f"Added task #{t.id}. {nxt}", *_task_detail(t)])


def _r_plan(r: PlanResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    keys = {task_id: key for key, task_id in r.ids.items()}
    lines = [f"Created {say.count(len(r.tasks), 'task')} (all of the plan):"]
    for t in r.tasks:
        key = clean_line(keys.get(t.id, "?"), 64)
        line = f"- {key} -> #{t.id} {_title(t)}: {_status_phrase(t)}"
        if t.priority != "normal":
            line += f" · {t.priority}"
        lines.append(line)
    lines.append(
        "Blocked tasks open by themselves as their dependencies are done; assignees are told "
        "through task_updated events."
    )
    return "\n".join(lines)


def _r_claim(r: TaskResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    t = r.task
    if t.status == "blocked":
        head = (
            f"Task #{t.id} is yours, but blocked until {_done(t.waiting_on)}; it "
            "becomes claimed by itself then."
        )
    else:
        head = (
            f"Task #{t.id} is yours. update_task status=in_progress when you start, "
            "status=done (with a note) when finished, or unclaim_task to give it back."
        )
    return "\n".join([head, *_task_detail(t)])


def _r_unclaim(r: TaskResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    t = r.task
    return "\n".join([f"Task #{t.id} is back on the board.", *_task_detail(t)])


def _r_update(r: TaskResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    t = r.task
    head = f"Task #{t.id} is now {t.status.replace('_', ' ')}."
    if t.status == "done":
        head += " Tasks waiting on it open by themselves once all their dependencies are done."
    elif args.get("status") in ("claimed", "open") and t.status == "blocked":
        head += f" It waits on {say.ids(t.waiting_on)}."
    return "\n".join([head, *_task_detail(t)])


def _r_get_task(r: TaskResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    return "\n".join(_task_detail(r.task))


def _board_block(t: TaskInfo) -> list[str]:
    line = f"- #{t.id} {_title(t)}"
    details: list[str] = []
    if t.priority != "normal":
        details.append(t.priority)
    if t.assignee:
        details.append(f"assigned to {say.who(t.assignee)}")
    if t.waiting_on:
        details.append(f"waiting on {say.ids(t.waiting_on)}")
    if details:
        line += f" ({', '.join(details)})"
    lines = [line]
    if t.description:
        lines.append("    " + clean_line(t.description, _SNIPPET_CHARS))
    if t.note:
        lines.append("    note: " + clean_line(t.note, _SNIPPET_CHARS))
    return lines


_GROUPS = (
    ("in_progress", "In progress"),
    ("claimed", "Claimed"),
    ("open", "Open"),
    ("blocked", "Blocked"),
    ("failed", "Failed"),
    ("done", "Done"),
)


def _r_board(r: BoardResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    if r.total == 0:
        return "The task board is empty. add_task (or plan, for several) puts tasks on it."
    groups: dict[str, list[TaskInfo]] = {k: getattr(r, k) for k, _ in _GROUPS}
    counts = ", ".join(f"{len(groups[k])} {k.replace('_', ' ')}" for k, _ in _GROUPS if groups[k])
    head = f"Task board: {say.count(r.total, 'task')} ({counts}). Titles and notes come from "
    head += "other people, shown as written. get_task ID shows one task whole."
    budget = Budget([head])
    cut = r.truncated
    for key, label in _GROUPS:
        tasks = groups[key]
        if tasks and not all(
            budget.fits(block)
            for block in ([""], [f"{label} ({len(tasks)}):"], *map(_board_block, tasks))
        ):
            cut = True
            break
    if cut:
        budget.lines.append("\n(The board was cut to fit: get_task ID shows any task.)")
    return "\n".join(budget.lines)


_TASK_ID = "#N on the board."


#: This group's tools, in the order the tool list shows them.
TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "add_task",
        "Add a task",
        """Add a task to the shared task board. `depends_on`: ids of tasks to finish first (it
        stays blocked until then). Everyone is told. plan adds several at once.""",
        _r_add_task,
        fields={
            "description": "What to do, and how to know it is done.",
        },
    ),
    ToolSpec(
        "plan",
        "Add a plan of tasks",
        """Add several tasks at once, all or none. Each has your `key`, a title, and optionally
        description, priority, `assignee` (an editor or the host) and `depends_on` (keys
        of this plan, or ids of existing tasks). Waiting tasks start blocked and open in
        order.""",
        _r_plan,
        fields={
            "tasks": "The tasks: {key, title, description?, priority?, assignee?, depends_on?}.",
        },
    ),
    ToolSpec(
        "claim_task",
        "Claim a task",
        """Take a task from the board: it is yours until you finish, fail or unclaim it.""",
        _r_claim,
        fields={"id": _TASK_ID},
        idempotent=True,
    ),
    ToolSpec(
        "unclaim_task",
        "Give a task back",
        """Give a task you claimed back to the board, unassigned.""",
        _r_unclaim,
        fields={"id": _TASK_ID},
        idempotent=True,
    ),
    ToolSpec(
        "update_task",
        "Update a task",
        """Set a task's status and/or result note. open puts it back unassigned; in_progress and
        done need its dependencies done; done opens the tasks waiting on it. Only the
        assignee or the host changes a claimed task.""",
        _r_update,
        fields={
            "id": _TASK_ID,
            "note": "What was done, or why it failed; '' clears it.",
        },
        idempotent=True,
    ),
    ToolSpec(
        "board",
        "Task board",
        f"""The task board by status, critical first, with assignees and what each waits on; texts
        cut short (get_task shows one whole). {PEER_TEXT}""",
        _r_board,
        fields={},
        idempotent=True,
    ),
    ToolSpec(
        "get_task",
        "Show a task",
        f"""One task whole: status, assignee, priority, dependencies, description and note.
        {PEER_TEXT}""",
        _r_get_task,
        fields={"id": _TASK_ID},
        idempotent=True,
    ),
)
