"""``letswork doctor``: one line per check of this machine (Python, the package, cloudflared and
what local mode means without it, Claude Code: its letswork registrations for the folder and
whether it can receive the channel's pushes, the state directory), of the folder's hub if one
runs, and else of the guest sessions stored by ``letswork join``."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import click

from letswork.cli.admin import host_call
from letswork.shared.errors import LetsworkError
from letswork.ui import claude_plugin, printer
from letswork.ui.claude import Registration
from letswork.ui.sharing import local_mode_help


@click.command()
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default="the current folder",
)
def doctor(project: Path) -> None:
    """Check Python, the package, cloudflared, Claude Code, the state directory and the hub."""
    problems = run_doctor(project.resolve())
    sys.exit(1 if problems else 0)


def run_doctor(project: Path) -> int:
    """Print one line per check; returns the number of problems that need fixing."""
    from letswork import __version__
    from letswork.local import statedir
    from letswork.local.hubinfo import hub_info

    problems = 0

    def ok(text: str) -> None:
        printer.echo(f"ok    {text}")

    def bad(text: str, fix: str) -> None:
        nonlocal problems
        problems += 1
        printer.echo(f"FIX   {text}\n      -> {fix}")

    def note(text: str) -> None:
        printer.echo(f"note  {text}")

    v = sys.version_info
    if v >= (3, 10):
        ok(f"Python {v.major}.{v.minor}.{v.micro}")
    else:
        bad(f"Python {v.major}.{v.minor}", "install Python 3.10 or newer")
    # the package's folder (this module is letswork/cli/doctor.py)
    ok(f"letswork {__version__} ({Path(__file__).parent.parent})")
    cloudflared = shutil.which("cloudflared")
    if cloudflared:
        ok(f"cloudflared at {cloudflared}")
    else:
        note("cloudflared not found: `letswork start` will run in local mode")
        for line in local_mode_help().splitlines():
            printer.echo(f"      {line}".rstrip())
    claude = shutil.which("claude")
    if claude:
        ok(f"Claude Code at {claude}")
        _check_claude(claude, project, ok, bad, note)
    else:
        note(
            "Claude Code (`claude`) not found: `letswork join` will print MCP JSON instead "
            "(npm install -g @anthropic-ai/claude-code)"
        )
    root = statedir.state_root()
    if root.exists():
        mode = root.stat().st_mode & 0o777
        if mode & 0o077:
            bad(f"state directory {root} is mode {mode:o}", f"chmod 700 {root}")
        else:
            ok(f"state directory {root} (mode {mode:o})")
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.stat().st_mode & 0o077:
                bad(f"{path} is readable by others", f"chmod 600 {path}")
    else:
        ok(f"state directory {root} (not created yet)")
    info = hub_info(project)
    if info is None:
        note(f"no hub is running for {project} (start one with `letswork start`)")
        _check_sessions(ok, bad, note)
    else:
        try:
            asyncio.run(host_call(project, "ping"))
            where = f"pid {info['pid']}, {info['local_url']}"
            ok(f"hub running for {project} ({where}), answers as host")
        except LetsworkError as exc:
            bad(
                f"hub for {project} (pid {info['pid']}) does not answer: "
                f"{printer.one_line(exc.message, 2000)}",
                "stop it (`letswork stop` or kill the pid) and start again",
            )
    return problems


Say = Callable[[str], None]
#: The most servers of a folder's ``.mcp.json`` doctor names (a 1 MiB file holds ~20,000).
_MAX_SHIPPED_NAMED = 3
Fix = Callable[[str, str], None]


def _check_claude(claude: str, project: Path, ok: Say, bad: Fix, note: Say) -> None:
    """Claude Code's letswork registrations for ``project`` (one is right; more are
    duplicates), and whether it can receive pushes. ``bad`` counts the problems.

    A server in the folder's ``.mcp.json`` (project scope) is named with its command but never
    counted as the host's registration: the file comes with the project, and its "letswork"
    may run anything."""
    from letswork.ui import claude as cc

    found = cc.find_registrations(project)
    shipped = [r for r in found if r.scope == "project"]
    for one in shipped[:_MAX_SHIPPED_NAMED]:
        command = " ".join(cc.shell_word(a) for a in one.command)
        note(
            f"the folder's .mcp.json (written by whoever wrote the project) has a server "
            f"'{_shown(one.name)}' that runs: {printer.one_line(command, 300)}; Claude Code "
            "asks before starting it: approve it only if that is your letswork"
        )
    if len(shipped) > _MAX_SHIPPED_NAMED:
        more = len(shipped) - _MAX_SHIPPED_NAMED
        note(f"the folder's .mcp.json has {more} more servers that run letswork: not listed")
    found = [r for r in found if r.scope != "project"]
    plugin = claude_plugin.find_plugin(claude, project)
    if plugin is not None:
        _check_with_plugin(plugin, found, project, ok, bad)
    elif not found:
        note(
            f"Claude Code has no letswork server for {project}: as the host, run "
            f"`{cc.host_registration_hint(project)}` (or `letswork start --register-claude`); "
            "as a guest, `letswork join` registers it"
        )
    elif len(found) == 1:
        one = found[0]
        shown = _shown(one.name)
        ok(f"Claude Code starts letswork here once: server '{shown}' ({one.scope} scope)")
    else:
        listed = "; ".join(f"'{_shown(r.name)}' ({r.scope} scope)" for r in found)
        keep = next((r for r in found if r.name == cc.SERVER_NAME), found[0])
        fixes = " && ".join(
            f"claude mcp remove -s {r.scope} {_name(r.name)}" for r in found if r is not keep
        )
        bad(
            f"Claude Code starts letswork {len(found)} times in {project}, so the assistant "
            f"sees every tool more than once: {listed}",
            f"keep '{_shown(keep.name)}': {fixes}",
        )
    if cc.supports_channels(claude):
        which = cc.CHANNELS_ARG if plugin is None else printer.one_line(plugin.channels_arg, 100)
        ok(
            "this Claude Code can receive the channel's pushes when started with "
            f"`claude {cc.CHANNELS_FLAG} {which}` (`letswork join` starts it so)"
        )
    else:
        note(
            f"this Claude Code does not know {cc.CHANNELS_FLAG}: pushes cannot arrive; events "
            "reach the assistant in the digest at the end of tool results and through the "
            "get_notifications tool"
        )


def _check_with_plugin(
    plugin: claude_plugin.Plugin,
    found: list[Registration],
    project: Path,
    ok: Say,
    bad: Fix,
) -> None:
    """The plugin's server is the folder's channel; every other registration is one too many."""
    shown = printer.one_line(plugin.id, 100)
    if not found:
        ok(f"Claude Code starts letswork here once: the plugin {shown}")
        return
    listed = "; ".join(f"'{_shown(r.name)}' ({r.scope} scope)" for r in found)
    fixes = " && ".join(f"claude mcp remove -s {r.scope} {_name(r.name)}" for r in found)
    bad(
        f"Claude Code starts letswork {len(found) + 1} times in {project}: the plugin {shown} "
        f"and {listed}",
        f"keep the plugin's: {fixes}",
    )


def _shown(name: str) -> str:
    """A server's name from Claude Code's configuration on one clean line: a project's
    ``.mcp.json`` is written by whoever wrote the project (a newline in a name forged a
    doctor line of its own)."""
    return printer.one_line(name, 64)


def _name(name: str) -> str:
    """A server's name as one shell word, for the command doctor tells the host to run
    (``x; curl ...|sh #`` was printed into it as it was); after ``--`` when it starts with
    ``-``, so ``claude`` cannot take it for an option (``--scope=user``)."""
    from letswork.ui import claude as cc

    shown = _shown(name)
    return ("-- " if shown.startswith("-") else "") + cc.shell_word(shown)


def _check_sessions(ok: Say, bad: Fix, note: Say) -> None:
    """Each stored guest session: its hub answers and still knows this guest."""
    from letswork.channel import sessions
    from letswork.cli.admin import guest_call

    for name in sessions.list_sessions():
        try:
            record = sessions.load_session(name)
        except LetsworkError as exc:
            bad(f"session {name!r} cannot be read: {exc.message}", "run `letswork join` again")
            continue
        url = printer.one_line(record.url, 200)
        if record.resume_secret is None:
            note(f"session {name!r} ({url}) has not been admitted yet: run `letswork join` again")
            continue
        try:
            result = asyncio.run(guest_call(name, "ping"))
        except LetsworkError as exc:
            bad(
                f"session {name!r}: the hub at {url} does not answer: "
                f"{printer.one_line(exc.message, 2000)}",
                "ask the host whether the hub runs (and for a new invite if you were removed)",
            )
            continue
        if result is not None:
            ok(f"session {name!r}: the hub at {url} answers")


def register(main: click.Group) -> None:
    """Add ``doctor`` to the ``letswork`` group."""
    main.add_command(doctor)
