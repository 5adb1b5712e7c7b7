"""The commands group: the host's commands (``list_commands``) and runs of them
(``run_command``, ``get_run``, ``list_runs``, ``cancel_run``, ``approve_run``, ``deny_run``).

The commands file is read in a worker (``yield``), never on the loop; the runs and their
processes are :class:`letswork.hub.runs.RunTable`'s. Run approvals are their own: they never
touch the change queue.
"""

from __future__ import annotations

from letswork.hub.commands_file import Command, CommandsFile, check_args, load_commands
from letswork.hub.peers import HOST_ID, Peer
from letswork.hub.runs import Run, run_info
from letswork.hub.state import Handler, HubState, Steps, dump
from letswork.shared.errors import ErrorCode, op_error
from letswork.shared.protocol.base import Empty
from letswork.shared.protocol.commands import (
    CommandInfo,
    CommandsResult,
    DenyRunArgs,
    GetRunArgs,
    GetRunResult,
    RunCommandArgs,
    RunIdArgs,
    RunResult,
    RunsResult,
)

#: The host's warning when a guest is trusted and a command open to guests is ``auto``.
TRUST_AUTO_WARNING = (
    "a trusted guest's changes apply without your approval, and {names} run without asking: "
    "together they let that guest run code on this machine"
)
#: The host's warning when a guest is trusted and the project has commands (none ``auto``):
#: a trusted editor can change what a command runs (a conftest.py) before anyone runs it.
TRUST_COMMANDS_WARNING = (
    "a trusted guest's changes apply without your approval, and {names} run the project's "
    "code: a run you start or approve runs code on this machine that guest may have written "
    "(a conftest.py, a Makefile)"
)


def _allowed(peer: Peer, command: Command) -> bool:
    return peer.is_host or peer.role in command.roles


def _command_info(peer: Peer, command: Command) -> CommandInfo:
    return CommandInfo(
        name=command.name,
        run=list(command.run),
        args=command.args,  # type: ignore[arg-type]
        patterns=list(command.patterns),
        approval=command.approval,  # type: ignore[arg-type]
        timeout_seconds=command.timeout,
        roles=sorted(command.roles),  # type: ignore[arg-type]
        env=sorted(command.env),
        description=command.description,
        allowed=_allowed(peer, command),
    )


def trust_warning(ctx: HubState, found: CommandsFile) -> str | None:
    """The one warning the host sees when an admitted editor is trusted and the commands file
    defines any command: :data:`TRUST_AUTO_WARNING` when some command open to any guest role
    is ``auto`` (a viewer's run of it runs what the trusted editor wrote, unasked), else
    :data:`TRUST_COMMANDS_WARNING`; None without either. At most five command names are
    quoted."""
    if not found.commands:
        return None
    trusted = [g for g in ctx.store.list_guests(state="admitted") if g.trusted]
    if not trusted:
        return None
    commands = list(found.commands.values())
    auto = [c.name for c in commands if c.approval == "auto" and c.roles]
    text = TRUST_AUTO_WARNING if auto else TRUST_COMMANDS_WARNING
    names = ", ".join(f"'{n}'" for n in (auto or [c.name for c in commands])[:5])
    return text.format(names=names)


def list_commands(ctx: HubState, peer: Peer, args: Empty, now: float) -> Steps[CommandsResult]:
    found: CommandsFile = yield lambda: load_commands(ctx.root)
    return CommandsResult(
        commands=[_command_info(peer, c) for c in found.commands.values()],
        source=found.source,
        problem=found.problem,
        warning=trust_warning(ctx, found) if peer.is_host else None,
    )


def run_command(ctx: HubState, peer: Peer, args: RunCommandArgs, now: float) -> Steps[RunResult]:
    found: CommandsFile = yield lambda: load_commands(ctx.root)
    if found.problem is not None:
        raise op_error(
            ErrorCode.INVALID, f"the host's commands file has a problem: {found.problem}"
        )
    command = found.commands.get(args.name)
    if command is None:
        names = ", ".join(sorted(found.commands)[:20]) or "none"
        raise op_error(
            ErrorCode.NOT_FOUND,
            f"no command '{args.name}'; the host's commands: {names} (list_commands)",
            name=args.name,
        )
    if not _allowed(peer, command):
        raise op_error(
            ErrorCode.FORBIDDEN,
            f"'{command.name}' is not for the {peer.role} role",
            role=peer.role,
        )
    check_args(command, args.args)
    guest_id = HOST_ID if peer.is_host else peer.guest_id
    run = ctx.runs.add(command, list(args.args), by=peer.name, guest_id=guest_id, now=now)
    ctx.audit(peer, "run_command", now, run=run.id, command=command.name, argv=list(run.argv))
    if peer.is_host or command.approval == "auto":
        try:
            ctx.runs.start(run, now)
        except Exception:
            ctx.runs.cancel(run, now, "could not start")
            raise
    change = "asked" if run.state == "pending" else "started"
    ctx.broadcast("run_updated", {"run": dump(run_info(run)), "change": change})
    return RunResult(run=run_info(run))


def get_run(ctx: HubState, peer: Peer, args: GetRunArgs, now: float) -> GetRunResult:
    run = ctx.runs.get(args.id)
    output, pages = run.page(args.page)
    return GetRunResult(
        run=run_info(run), output=output, page=args.page, pages=pages, left_out_bytes=run.left_out
    )


def list_runs(ctx: HubState, peer: Peer, args: Empty, now: float) -> RunsResult:
    return RunsResult(runs=[run_info(r) for r in ctx.runs])


def _decided(run: Run) -> None:
    if run.final:
        raise op_error(
            ErrorCode.ALREADY_DECIDED, f"run {run.id} is already {run.state}", state=run.state
        )


def cancel_run(ctx: HubState, peer: Peer, args: RunIdArgs, now: float) -> RunResult:
    run = ctx.runs.get(args.id)
    if not peer.is_host and run.guest_id != peer.guest_id:
        raise op_error(
            ErrorCode.FORBIDDEN, f"run {run.id} is {run.by}'s; only they or the host may cancel it"
        )
    _decided(run)
    ctx.audit(peer, "cancel_run", now, run=run.id, command=run.command.name)
    who = "the host" if peer.is_host else peer.name
    ctx.runs.cancel(run, now, f"cancelled by {who}")
    return RunResult(run=run_info(run))


def approve_run(ctx: HubState, peer: Peer, args: RunIdArgs, now: float) -> RunResult:
    run = ctx.runs.get(args.id)
    if run.state != "pending":
        raise op_error(
            ErrorCode.ALREADY_DECIDED, f"run {run.id} is already {run.state}", state=run.state
        )
    ctx.runs.start(run, now)
    ctx.audit(peer, "approve_run", now, run=run.id, command=run.command.name, argv=list(run.argv))
    ctx.broadcast("run_updated", {"run": dump(run_info(run)), "change": "started"})
    return RunResult(run=run_info(run))


def deny_run(ctx: HubState, peer: Peer, args: DenyRunArgs, now: float) -> RunResult:
    run = ctx.runs.get(args.id)
    if run.state != "pending":
        raise op_error(
            ErrorCode.ALREADY_DECIDED, f"run {run.id} is already {run.state}", state=run.state
        )
    ctx.runs.deny(run, now, args.reason)
    ctx.audit(peer, "deny_run", now, run=run.id, command=run.command.name)
    ctx.broadcast("run_updated", {"run": dump(run_info(run)), "change": "ended"})
    return RunResult(run=run_info(run))


HANDLERS: dict[str, Handler] = {
    "list_commands": list_commands,
    "run_command": run_command,
    "get_run": get_run,
    "list_runs": list_runs,
    "cancel_run": cancel_run,
    "approve_run": approve_run,
    "deny_run": deny_run,
}
