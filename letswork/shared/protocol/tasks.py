"""The ``tasks`` group: the task board (adding, planning, claiming, updating, showing tasks)
and the ``task_updated`` event.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from letswork.shared import limits
from letswork.shared.errors import ErrorCode as _E
from letswork.shared.protocol.base import (
    ALL_ROLES,
    WRITERS,
    Count,
    DisplayName,
    Empty,
    EventSpec,
    OpSpec,
    RowId,
    Timestamp,
    WireModel,
    op,
)

TaskStatus = Literal["open", "claimed", "in_progress", "blocked", "done", "failed"]
TaskPriority = Literal["low", "normal", "high", "critical"]
TaskChange = Literal["added", "claimed", "unclaimed", "updated", "unblocked", "blocked", "released"]
TaskTitle = Annotated[str, Field(min_length=1, max_length=limits.MAX_TASK_TITLE_CHARS)]
TaskDescription = Annotated[str, Field(max_length=limits.MAX_TASK_DESCRIPTION_CHARS)]
TaskNote = Annotated[str, Field(max_length=limits.MAX_TASK_NOTE_CHARS)]
#: A name for a task inside one ``plan`` call, so that its tasks can depend on each other.
PlanKey = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class TaskInfo(WireModel):
    """One task of the board. ``waiting_on`` lists the dependencies not yet done.

    On the ``board``, ``description`` and ``note`` are cut to ``MAX_BOARD_TEXT_CHARS``
    characters and ``truncated`` is true when either was; ``get_task`` gives them whole.
    """

    id: RowId
    title: TaskTitle
    description: TaskDescription
    priority: TaskPriority
    status: TaskStatus
    assignee: DisplayName | None = None
    depends_on: list[RowId]
    waiting_on: list[RowId]
    note: TaskNote | None = None
    created_by: DisplayName
    created_at: Timestamp
    updated_at: Timestamp
    truncated: bool = False


class AddTaskArgs(WireModel):
    title: TaskTitle
    description: TaskDescription = ""
    priority: TaskPriority = "normal"
    depends_on: Annotated[list[RowId], Field(max_length=limits.MAX_TASK_DEPS)] = Field(
        default_factory=list
    )


class TaskResult(WireModel):
    task: TaskInfo


class PlanTaskArgs(WireModel):
    """One task of a ``plan``: ``depends_on`` names keys of this plan (strings) or the ids of
    existing tasks (integers)."""

    key: PlanKey
    title: TaskTitle
    description: TaskDescription = ""
    priority: TaskPriority = "normal"
    assignee: DisplayName | None = None
    depends_on: Annotated[list[RowId | PlanKey], Field(max_length=limits.MAX_TASK_DEPS)] = Field(
        default_factory=list
    )


class PlanArgs(WireModel):
    tasks: Annotated[list[PlanTaskArgs], Field(min_length=1, max_length=limits.MAX_PLAN_TASKS)]


class PlanResult(WireModel):
    tasks: list[TaskInfo]
    ids: dict[PlanKey, RowId]


class TaskIdArgs(WireModel):
    id: RowId


class UpdateTaskArgs(WireModel):
    id: RowId
    status: TaskStatus | None = None
    note: TaskNote | None = None


class BoardResult(WireModel):
    """Every task, grouped by status; in each group by priority (critical first), then id."""

    open: list[TaskInfo]
    claimed: list[TaskInfo]
    in_progress: list[TaskInfo]
    blocked: list[TaskInfo]
    done: list[TaskInfo]
    failed: list[TaskInfo]
    total: Count
    truncated: bool


class TaskUpdatedData(WireModel):
    """``task_updated``: ``by`` is absent when the hub changed the task itself (unblocked
    because its dependencies are done, blocked again, released when its assignee left)."""

    task: TaskInfo
    change: TaskChange
    by: DisplayName | None = None


OPS: tuple[OpSpec, ...] = (
    op(
        "add_task",
        AddTaskArgs,
        TaskResult,
        WRITERS,
        "Add a task to the board, optionally depending on other tasks.",
        group="tasks",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.QUOTA_EXCEEDED),
    ),
    op(
        "plan",
        PlanArgs,
        PlanResult,
        WRITERS,
        "Add several tasks with assignees and dependencies at once, all or none.",
        group="tasks",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.QUOTA_EXCEEDED),
    ),
    op(
        "claim_task",
        TaskIdArgs,
        TaskResult,
        WRITERS,
        "Claim a task: it becomes yours until you finish, fail or unclaim it.",
        group="tasks",
        mutates=True,
        errors=(_E.NOT_FOUND,),
    ),
    op(
        "unclaim_task",
        TaskIdArgs,
        TaskResult,
        WRITERS,
        "Give a claimed task back to the board.",
        group="tasks",
        mutates=True,
        errors=(_E.NOT_FOUND,),
    ),
    op(
        "update_task",
        UpdateTaskArgs,
        TaskResult,
        WRITERS,
        "Change a task's status and/or its result note.",
        group="tasks",
        mutates=True,
        errors=(_E.NOT_FOUND,),
    ),
    op(
        "board",
        Empty,
        BoardResult,
        ALL_ROLES,
        "Show every task, grouped by status.",
        group="tasks",
    ),
    op(
        "get_task",
        TaskIdArgs,
        TaskResult,
        ALL_ROLES,
        "Show one task with its whole description and note.",
        group="tasks",
        errors=(_E.NOT_FOUND,),
    ),
)

EVENTS: tuple[EventSpec, ...] = (
    EventSpec("task_updated", TaskUpdatedData, "A task was added or changed."),
)
