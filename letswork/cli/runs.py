"""The host's commands for runs of the commands file's commands (issue 17, part 1):
``letswork commands | runs | approve-run | deny-run | cancel-run``.

Each talks to the folder's running hub as the host (:func:`letswork.cli.admin.host_call`) and
prints through the one printer; a run's argv, its asker and reasons are cleaned for the
terminal (:mod:`letswork.shared.describe_runs`, ``terminal=True``). ``approve-run`` prints the
exact argv it starts. Run approvals are their own: ``letswork approve`` is for changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from letswork.cli._common import run
from letswork.cli.admin import PROJECT_OPTION, host_call
from letswork.shared.describe_runs import argv_text, command_line, run_line
from letswork.shared.protocol.commands import CommandInfo, RunInfo
from letswork.shared.sanitize import terminal_line
from letswork.ui import printer


def _call(project: Path, op: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    root = project.resolve()

    async def body() -> dict[str, Any]:
        return await host_call(root, op, args)

    return run(body)


def _run(data: dict[str, Any]) -> RunInfo:
    return RunInfo.model_validate(data)


def register(main: click.Group) -> None:
    """Add the run commands to ``main``."""

    @main.command(name="commands")
    @PROJECT_OPTION
    def commands_(project: Path) -> None:
        """List the commands the project's commands file names (letswork.toml, or
        [tool.letswork] in pyproject.toml)."""
        result = _call(project, "list_commands")
        if result.get("problem"):
            printer.echo(
                f"the commands file gives no commands: {terminal_line(result['problem'], 400)}"
            )
            raise SystemExit(1)
        if not result["commands"]:
            printer.echo("no commands: add [commands.NAME] tables to letswork.toml")
            return
        for command in result["commands"]:
            printer.echo(command_line(CommandInfo.model_validate(command), terminal=True))
        if result.get("warning"):
            printer.echo(f"warning: {terminal_line(result['warning'], 400)}", err=True)

    @main.command()
    @PROJECT_OPTION
    def runs(project: Path) -> None:
        """List the runs, newest first: ID, command, asker, state and the exact argv."""
        result = _call(project, "list_runs")
        if not result["runs"]:
            printer.echo("no runs")
            return
        for item in result["runs"]:
            printer.echo(run_line(_run(item), terminal=True))

    @main.command(name="approve-run")
    @PROJECT_OPTION
    @click.argument("run_id", type=int)
    def approve_run(project: Path, run_id: int) -> None:
        """Start run RUN_ID, which waits for you: it runs its argv (shown) in the project."""
        started = _run(_call(project, "approve_run", {"id": run_id})["run"])
        printer.echo(run_line(started, terminal=True))
        printer.echo(f"started: {argv_text(started.argv, terminal=True)}")

    @main.command(name="deny-run")
    @PROJECT_OPTION
    @click.argument("run_id", type=int)
    @click.option("--reason", default=None, help="Told to the guest.")
    def deny_run(project: Path, run_id: int, reason: str | None) -> None:
        """Refuse run RUN_ID, which waits for you; nothing runs."""
        denied = _call(project, "deny_run", {"id": run_id, "reason": reason})["run"]
        printer.echo(run_line(_run(denied), terminal=True))

    @main.command(name="cancel-run")
    @PROJECT_OPTION
    @click.argument("run_id", type=int)
    def cancel_run(project: Path, run_id: int) -> None:
        """Cancel run RUN_ID: a waiting one ends; a running one's process group is stopped."""
        cancelled = _call(project, "cancel_run", {"id": run_id})["run"]
        printer.echo(run_line(_run(cancelled), terminal=True))
