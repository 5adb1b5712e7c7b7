"""``letswork doctor``: one line per check of this machine (Python, the package, cloudflared,
Claude Code, the state directory) and of the folder's hub, if one runs."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import click

from letswork.cli.admin import host_call
from letswork.shared.errors import LetsworkError
from letswork.ui import printer


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
        note(
            "cloudflared not found: `letswork start` will run in local mode "
            "(install it to share over the internet; see `letswork start --help`)"
        )
    claude = shutil.which("claude")
    if claude:
        ok(f"Claude Code at {claude}")
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


def register(main: click.Group) -> None:
    """Add ``doctor`` to the ``letswork`` group."""
    main.add_command(doctor)
