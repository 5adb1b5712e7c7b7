"""Words for the ``commands`` group's data (issue 17): a run, its argv, its state, a command.

The same sentences for the channel (cleaned with :func:`~letswork.shared.sanitize.clean_line`)
and for the host's terminal (``terminal=True``: :func:`~letswork.shared.sanitize.terminal_line`,
which the printer and Rich show literally), in the manner of :mod:`letswork.shared.describe`,
kept in a module of its own so the ``commands`` group stays in one place. Every string here
came from the commands file, a peer or a process: each is cleaned and cut.
"""

from __future__ import annotations

import shlex

from letswork.shared.protocol.commands import CommandInfo, RunInfo, RunUpdatedData
from letswork.shared.sanitize import clean_line, terminal_line

__all__ = ["argv_text", "command_line", "run_event_line", "run_line", "run_state"]

#: Characters of an argv shown on one line to an assistant (the host's terminal shows it
#: whole). The host approves what it sees, so an argv is never cut before the peer's arguments:
#: the hub keeps those under ``MAX_RUN_ARGS_CHARS`` (each marked invisible character may take
#: 8 or so), and only a hostile hub's argv reaches this.
ARGV_CHARS = 64 * 1024


def _line(text: str, max_chars: int, terminal: bool) -> str:
    return terminal_line(text, max_chars) if terminal else clean_line(text, max_chars)


def argv_text(argv: list[str], *, terminal: bool = False) -> str:
    """``argv`` as a shell would quote it (it is never run by a shell), cleaned, one line;
    never cut for the terminal."""
    text = shlex.join(argv)
    return terminal_line(text, None) if terminal else clean_line(text, ARGV_CHARS)


def run_state(run: RunInfo, *, terminal: bool = False) -> str:
    """``waits for the host's approval``, ``running``, ``failed (exit 3)``, ``denied: why``."""
    why = f": {_line(run.reason, 200, terminal)}" if run.reason else ""
    if run.state == "pending":
        return "waits for the host's approval"
    if run.state == "running":
        return "running"
    if run.state in ("succeeded", "failed"):
        code = f" (exit {run.exit_code})" if run.exit_code is not None else ""
        return f"{run.state}{code}{why}"
    if run.state == "timed_out":
        return f"timed out after {run.timeout_seconds}s"
    return f"{run.state}{why}"


def run_line(run: RunInfo, *, terminal: bool = False) -> str:
    """``run 4 of 'test' by alice: failed (exit 1) · pytest -q tests/a.py``."""
    name = _line(run.command, 64, terminal)
    by = _line(run.by, 40, terminal)
    return (
        f"run {run.id} of '{name}' by {by}: {run_state(run, terminal=terminal)}"
        f" · {argv_text(run.argv, terminal=terminal)}"
    )


def run_event_line(data: RunUpdatedData, *, terminal: bool = False) -> str | None:
    """One line for a ``run_updated`` event, or None for ``output`` (it says nothing new)."""
    run = data.run
    name = _line(run.command, 64, terminal)
    by = _line(run.by, 40, terminal)
    if data.change == "asked":
        return (
            f"{by} asks to run '{name}' (run {run.id}): {argv_text(run.argv, terminal=terminal)}"
            f" — the host approves or denies it"
        )
    if data.change == "started":
        return f"run {run.id} of '{name}' by {by} started: {argv_text(run.argv, terminal=terminal)}"
    if data.change == "ended":
        return f"run {run.id} of '{name}' by {by} {run_state(run, terminal=terminal)}"
    return None


def command_line(command: CommandInfo, *, terminal: bool = False) -> str:
    """``test: pytest -q [+ args: tests/*, -x] · asks the host · 600s``."""
    name = _line(command.name, 64, terminal)
    line = f"{name}: {argv_text(command.run, terminal=terminal)}"
    if command.args == "any":
        line += " [+ any arguments]"
    elif command.args == "patterns":
        line += f" [+ arguments matching: {_line(', '.join(command.patterns), 300, terminal)}]"
    approval = "asks the host each run" if command.approval == "ask" else "runs without asking"
    line += f" · {approval} · timeout {command.timeout_seconds}s"
    if not command.allowed:
        line += " · not for your role"
    if command.description:
        line += f" — {_line(command.description, 200, terminal)}"
    return line
