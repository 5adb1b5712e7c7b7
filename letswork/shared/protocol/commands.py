"""The ``commands`` group: commands the host names in the project (``letswork.toml``, or
``[tool.letswork]`` in ``pyproject.toml``), runs of them that peers ask for and the host
approves, and the ``run_updated`` event (issue 17, part 1).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from letswork.shared import limits
from letswork.shared.errors import ErrorCode as _E
from letswork.shared.protocol.base import (
    ALL_ROLES,
    HOST_ONLY,
    Count,
    DisplayName,
    Empty,
    EventSpec,
    OpSpec,
    Role,
    RowId,
    ShortText,
    Timestamp,
    WireModel,
    op,
)

#: A command's name in the commands file.
CommandName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=limits.MAX_COMMAND_NAME_CHARS,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
    ),
]
#: One argv item, argument pattern, or argument a peer adds.
ArgText = Annotated[str, Field(max_length=limits.MAX_COMMAND_ARG_CHARS)]
#: A run's state; ``pending`` waits for the host, the last five are final
#: (hub/runs.py, ``RUN_STATE``).
RunState = Literal["pending", "running", "succeeded", "failed", "timed_out", "cancelled", "denied"]
#: A process's exit status; negative: killed by that signal.
ExitCode = Annotated[int, Field(ge=-255, le=255)]
EnvName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class CommandInfo(WireModel):
    """One command of the commands file.

    ``args`` says what a run may add after ``run``: ``any``, ``none``, or ``patterns`` (each
    added argument must match one of ``patterns``, shell-style: ``*``, ``?``, ``[...]``).
    ``allowed`` is whether the asking peer's role may run it; ``env`` names the variables it
    declares (their values are in the file).
    """

    name: CommandName
    run: Annotated[list[ArgText], Field(min_length=1, max_length=limits.MAX_COMMAND_ARGV)]
    args: Literal["any", "none", "patterns"]
    patterns: Annotated[list[ArgText], Field(max_length=limits.MAX_COMMAND_ARGV)]
    approval: Literal["ask", "auto"]
    timeout_seconds: Count
    roles: list[Role]
    env: Annotated[list[EnvName], Field(max_length=limits.MAX_COMMAND_ENV)]
    description: ShortText | None = None
    allowed: bool


class CommandsResult(WireModel):
    """``source`` is the file the commands came from (None: there is none); ``problem`` says
    why the file gives no commands (it does not parse, or breaks a rule); ``warning`` (the host
    only) says when a trusted guest can run code on the host without asking."""

    commands: Annotated[list[CommandInfo], Field(max_length=limits.MAX_COMMANDS)]
    source: ShortText | None = None
    problem: ShortText | None = None
    warning: ShortText | None = None


class RunInfo(WireModel):
    """One run. ``argv`` is exactly what starts (the command's ``run`` and the added
    arguments), in the project folder. ``output_bytes`` counts everything it printed
    (stdout and stderr, in one stream); ``exit_code`` is set once it ended on its own."""

    id: RowId
    command: CommandName
    argv: Annotated[list[ArgText], Field(max_length=2 * limits.MAX_COMMAND_ARGV)]
    by: DisplayName
    state: RunState
    approval: Literal["ask", "auto"]
    timeout_seconds: Count
    created_at: Timestamp
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    exit_code: ExitCode | None = None
    reason: ShortText | None = None
    output_bytes: Count = 0


class RunCommandArgs(WireModel):
    name: CommandName
    args: Annotated[list[ArgText], Field(max_length=limits.MAX_COMMAND_ARGV)] = Field(
        default_factory=list
    )


class RunIdArgs(WireModel):
    id: RowId


class DenyRunArgs(WireModel):
    id: RowId
    reason: ShortText | None = None


class GetRunArgs(WireModel):
    """``page`` counts back from the end of the kept output: 1 is its last
    ``RUN_PAGE_CHARS`` characters."""

    id: RowId
    page: Annotated[int, Field(ge=1, le=1000)] = 1


class RunResult(WireModel):
    run: RunInfo


class GetRunResult(WireModel):
    """A page of the run's kept output (the first ``RUN_OUTPUT_HEAD_BYTES`` and the last
    ``RUN_OUTPUT_TAIL_BYTES``; ``left_out_bytes`` were between them), as the process wrote it:
    the reader cleans it. ``pages`` is how many pages the kept output has."""

    run: RunInfo
    output: Annotated[str, Field(max_length=limits.RUN_PAGE_CHARS)]
    page: Count
    pages: Count
    left_out_bytes: Count = 0


class RunsResult(WireModel):
    """Every run the hub remembers, newest first."""

    runs: Annotated[list[RunInfo], Field(max_length=limits.MAX_RUNS_KEPT)]


#: What a ``run_updated`` announces: a run waits for the host (``asked``), started, printed
#: more, or ended (denied, cancelled, or its process ended).
RunChange = Literal["asked", "started", "output", "ended"]


class RunUpdatedData(WireModel):
    """``run_updated``: a run was asked for, started, printed more (at most every
    ``RUN_PROGRESS_EVENT_SECONDS``), or ended."""

    run: RunInfo
    change: RunChange


OPS: tuple[OpSpec, ...] = (
    op(
        "list_commands",
        Empty,
        CommandsResult,
        ALL_ROLES,
        "List the commands the host named in the project, with what each runs.",
        group="commands",
    ),
    op(
        "run_command",
        RunCommandArgs,
        RunResult,
        ALL_ROLES,
        "Ask to run one of the host's commands; returns the run at once (it may wait for "
        "the host).",
        group="commands",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.QUOTA_EXCEEDED),
    ),
    op(
        "get_run",
        GetRunArgs,
        GetRunResult,
        ALL_ROLES,
        "Show a run's state, exit code and a page of its output.",
        group="commands",
        errors=(_E.NOT_FOUND,),
    ),
    op(
        "list_runs",
        Empty,
        RunsResult,
        ALL_ROLES,
        "List the runs the hub remembers, newest first.",
        group="commands",
    ),
    op(
        "cancel_run",
        RunIdArgs,
        RunResult,
        ALL_ROLES,
        "Cancel a run that waits or runs (your own; the host: any).",
        group="commands",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.ALREADY_DECIDED),
    ),
    op(
        "approve_run",
        RunIdArgs,
        RunResult,
        HOST_ONLY,
        "Start a run that waits for the host.",
        group="commands",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.ALREADY_DECIDED, _E.QUOTA_EXCEEDED),
    ),
    op(
        "deny_run",
        DenyRunArgs,
        RunResult,
        HOST_ONLY,
        "Refuse a run that waits for the host.",
        group="commands",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.ALREADY_DECIDED),
    ),
)

EVENTS: tuple[EventSpec, ...] = (
    EventSpec("run_updated", RunUpdatedData, "A run was asked for, changed state or printed."),
)
