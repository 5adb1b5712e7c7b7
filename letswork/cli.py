"""The ``letswork`` command line (click).

This module is the one place that turns errors into user messages and exit codes:

- exit 0: success (and a clean stop on Ctrl+C or SIGTERM)
- exit 1: the operation failed (hub refused, not reachable, disk error, ...)
- exit 2: usage error (bad argument, mistyped invite code, folder missing, port in use)

Every command catches :class:`~letswork.shared.errors.LetsworkError` through :func:`_run`
and prints one line to stderr; a traceback means a bug.

Everything written to the terminal goes through the one printer, :mod:`letswork.ui.printer`
(issue 13, item 10): an error message may quote what a hub or a peer sent, so it is cleaned
and kept on one line; log records are cleaned by the printer's formatter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from letswork import __version__
from letswork.shared.errors import LetsworkError, UsageError
from letswork.shared.limits import (
    MAX_FILE_BYTES,
    MAX_FILE_BYTES_CEILING,
    MAX_PEERS,
    RATE_PER_SECOND,
    Limits,
)
from letswork.ui import printer

T = TypeVar("T")
log = logging.getLogger("letswork")

LOCAL_MODE_BANNER = """\
letswork is running in LOCAL MODE: cloudflared is not installed, so the hub is only reachable
from this machine ({url}).

To share over the internet, install cloudflared and run `letswork start` again:
  macOS:          brew install cloudflared
  Debian/Ubuntu:  see https://pkg.cloudflare.com/ (package "cloudflared")
  Windows (WSL):  install the Linux package inside WSL, as for Debian/Ubuntu

To share over a LAN:  letswork start --bind 0.0.0.0 --tunnel none
To share over SSH:    the guest runs  ssh -N -L {port}:127.0.0.1:{port} you@this-host
                      and joins with the code printed below.
"""


#: The longest error message a command prints (characters, on one line).
MAX_ERROR_CHARS = 2000


def _fail(exc: LetsworkError) -> int:
    """Print ``exc``'s message as one cleaned line on stderr; returns the exit code."""
    printer.echo(f"letswork: {printer.one_line(exc.message, MAX_ERROR_CHARS)}", err=True)
    return 2 if isinstance(exc, UsageError) else 1


def _run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body; map LetsworkError to a message and an exit code."""
    try:
        return asyncio.run(_as_coro(coro_fn))
    except LetsworkError as exc:
        sys.exit(_fail(exc))
    except KeyboardInterrupt:
        sys.exit(130)


async def _as_coro(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()


def setup_logging(level: int, log_file: Path | None = None) -> None:
    """Logs go to stderr (never stdout) and, when given, to a 0600 log file, both cleaned by
    the printer's formatter (a record may quote a peer's name or a hub's close reason)."""
    root = logging.getLogger("letswork")
    root.setLevel(level)
    root.handlers.clear()
    root.addHandler(
        printer.stream_handler(sys.stderr, "%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    )
    if log_file is not None:
        log_file.touch(mode=0o600, exist_ok=True)
        log_file.chmod(0o600)
        root.addHandler(
            printer.file_handler(log_file, "%(asctime)s %(name)s %(levelname)s %(message)s")
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="letswork")
def main() -> None:
    """Real-time collaboration on one codebase, each person through their own AI assistant.

    The host runs `letswork start` in a project folder and shares the printed invite code;
    each guest runs `letswork join CODE`. Everything between them is end-to-end encrypted.
    """
    printer.install()


# ---------------------------------------------------------------------------- admin

from letswork import cli_admin, cli_join  # noqa: E402 - register the other commands

cli_admin.register(main)
cli_join.register(main)

# ---------------------------------------------------------------------------- start


@main.command()
@click.argument(
    "path", required=False, default=".", type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default="a free port",
    help="TCP port of the hub (the previous session's port is tried first).",
)
@click.option(
    "--bind",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on. 0.0.0.0 shares over the LAN (no tunnel needed).",
)
@click.option(
    "--tunnel",
    type=click.Choice(["auto", "cloudflared", "none"]),
    default="auto",
    show_default=True,
    help="auto: cloudflared when installed, else local mode. none: no tunnel.",
)
@click.option(
    "--public-url",
    metavar="URL",
    help="Address guests use (your own reverse proxy, ngrok, Tailscale); ws:// or wss://.",
)
@click.option(
    "--role",
    type=click.Choice(["editor", "viewer"]),
    default="editor",
    show_default=True,
    help="Role of the first invite.",
)
@click.option("--auto-admit", is_flag=True, help="Admit guests without asking.")
@click.option(
    "--max-guests",
    type=click.IntRange(1, 64),
    default=MAX_PEERS,
    show_default=True,
    help="Admitted guests connected at once (guests still waiting for admission do not count).",
)
@click.option(
    "--max-file-size",
    type=click.IntRange(1024, MAX_FILE_BYTES_CEILING),
    default=MAX_FILE_BYTES,
    show_default=True,
    help="Largest file read or written, bytes.",
)
@click.option(
    "--fsync",
    is_flag=True,
    help="Flush every change to disk before acknowledging it (survives a power cut, "
    "not only a crash; slower).",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(1, 100_000),
    default=RATE_PER_SECOND,
    show_default=True,
    help="Requests per second each peer may send (burst: 4x this).",
)
@click.option(
    "--new",
    is_flag=True,
    help="Discard this folder's previous session (invites, pending changes, log).",
)
@click.option(
    "--no-ui",
    is_flag=True,
    help="No dashboard: plain log lines on stderr, the join line on stdout.",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def start(
    path: Path,
    port: int,
    bind: str,
    tunnel: str,
    public_url: str | None,
    role: str,
    auto_admit: bool,
    max_guests: int,
    max_file_size: int,
    fsync: bool,
    rate_limit: float,
    new: bool,
    no_ui: bool,
    verbose: bool,
) -> None:
    """Share the folder PATH (default: the current folder) and print an invite.

    Starts the hub, the tunnel and the dashboard. Ctrl+C stops everything; the session
    (invites, pending changes) is kept for the next `letswork start` in the same folder.
    """
    from letswork.hub.app import HubConfig, RunningHub
    from letswork.local import statedir

    if not path.is_dir():
        sys.exit(_fail(UsageError(f"the folder {path} does not exist")))
    project = path.resolve()
    state = statedir.project_state(project)
    setup_logging(logging.DEBUG if verbose else logging.INFO, state.log_path)
    if tunnel == "cloudflared" and shutil.which("cloudflared") is None:
        printer.echo(CLOUDFLARED_MISSING, err=True)
        sys.exit(1)
    use_tunnel = tunnel != "none" and public_url is None and shutil.which("cloudflared") is not None
    limits = Limits(
        max_peers=max_guests,
        max_file_bytes=max_file_size,
        max_frame_bytes=max(Limits().max_frame_bytes, max_file_size * 2 + 64 * 1024),
        rate_per_second=rate_limit,
        rate_burst=max(1, int(rate_limit * 4)),
    )
    config = HubConfig(
        project=project,
        bind=bind,
        port=port,
        public_url=public_url,
        behind_tunnel=use_tunnel,
        auto_admit=auto_admit,
        new=new,
        first_role=role,
        limits=limits,
        fsync=fsync,
    )

    ui = not no_ui and sys.stdout.isatty()

    async def body() -> None:
        hub = RunningHub(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, hub.stop_requested.set)
        await hub.start()
        if not ui:
            assert hub.core is not None
            hub.core.observer = _log_event
        supervisor: Any = None
        try:
            if use_tunnel:
                from letswork.hub.tunnel import TunnelSupervisor

                def on_url(url: str) -> None:
                    hub.set_public_url(url)
                    if not ui:  # the dashboard shows the new invite itself
                        _announce(hub.current_invite())

                supervisor = TunnelSupervisor(local_port=hub.port, on_url=on_url)
                await supervisor.start()
            elif not ui:
                if tunnel == "auto" and public_url is None:
                    banner = LOCAL_MODE_BANNER.format(url=hub.local_url, port=hub.port)
                    printer.echo(banner, err=True)
                _announce(hub.current_invite())
            if not ui:
                await hub.stop_requested.wait()
            else:
                from letswork.ui.claude import register_host_assistant
                from letswork.ui.dashboard import run_dashboard

                notes = []
                if tunnel == "auto" and not use_tunnel and public_url is None:
                    notes.append(
                        "local mode: cloudflared is not installed (see letswork start --help)"
                    )
                registered = await asyncio.to_thread(register_host_assistant, project)
                if registered:
                    notes.append(registered)
                await run_dashboard(hub, notes=notes)
        finally:
            if supervisor is not None:
                await supervisor.stop()
            await hub.stop()
            log.info("hub stopped")

    _run(body)


CLOUDFLARED_MISSING = """\
letswork: --tunnel cloudflared was given, but cloudflared is not installed.

Install it, then run `letswork start` again:
  macOS:          brew install cloudflared
  Debian/Ubuntu:  add Cloudflare's apt repository (https://pkg.cloudflare.com/) and
                  sudo apt-get install cloudflared
  Windows (WSL):  inside WSL, install the Debian/Ubuntu package as above

Or share without a tunnel: --tunnel none (this machine only), --bind 0.0.0.0 (LAN),
or --public-url URL behind your own proxy.
"""


def _log_event(name: str, data: Mapping[str, Any]) -> None:
    """--no-ui: every hub event as one plain log line, peer text neutralised."""
    log.info("event %s %s", name, printer.one_line(json.dumps(data, ensure_ascii=False), 400))


def _announce(code: str) -> None:
    """Print the invite: the exact join line on stdout (scripts read it), a box on stderr."""
    line = f"letswork join {code}"
    if sys.stderr.isatty():
        width = max(len(line), 44) + 4
        printer.echo("┌" + "─" * width + "┐", err=True)
        printer.echo("│  " + "Invite (send it to one person):".ljust(width - 2) + "│", err=True)
        printer.echo("│  " + line.ljust(width - 2) + "│", err=True)
        printer.echo("└" + "─" * width + "┘", err=True)
    printer.echo(line)
    sys.stdout.flush()


# ============================================================================ channel
# `letswork channel`: the stdio MCP server an assistant's MCP client starts
# (letswork/channel/). Kept as one section at the end of this module.


@main.command()
@click.option(
    "--session",
    "session_name",
    metavar="NAME",
    help="Stored session to connect with (written by `letswork join`).",
)
@click.option(
    "--host",
    "host_mode",
    is_flag=True,
    help="Connect as the host, to the hub running for --project.",
)
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --host: the shared folder (default: the current folder).",
)
@click.option("--name", metavar="NAME", help="Display name the others see (guests only).")
@click.option(
    "--publish-card",
    is_flag=True,
    help="Allow the assistant to show the session its client name and the MCP servers it "
    "chooses to mention (the publish_card tool). Off by default: nothing is sent without it.",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def channel(
    session_name: str | None,
    host_mode: bool,
    project: Path | None,
    name: str | None,
    publish_card: bool,
    verbose: bool,
) -> None:
    """Run the stdio MCP server your assistant talks to (its MCP client starts this).

    A guest connects with the invite in LETSWORK_INVITE, or with a session stored by
    `letswork join` (--session NAME). The host connects with --host to the hub running for
    --project. Only MCP messages go to stdout; logs go to stderr and to
    <state dir>/logs/channel-NAME.log.
    """
    from letswork.channel.config import channel_log_path, resolve
    from letswork.channel.server import run_stdio

    try:
        config = resolve(session=session_name, host=host_mode, project=project, name=name)
        config = dataclasses.replace(config, publish_card=publish_card)
        log_file = channel_log_path(config.label)
    except LetsworkError as exc:
        sys.exit(_fail(exc))
    setup_logging(logging.DEBUG if verbose else logging.INFO, log_file)
    _run(lambda: run_stdio(config))
