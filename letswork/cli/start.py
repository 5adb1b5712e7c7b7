"""``letswork start``: share a folder. Starts the hub, the tunnel and the dashboard (or, with
``--no-ui``, plain log lines and the join line)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from letswork.cli._common import fail, run, setup_logging
from letswork.shared.errors import UsageError
from letswork.shared.limits import (
    MAX_FILE_BYTES,
    MAX_FILE_BYTES_CEILING,
    MAX_PEERS,
    RATE_PER_SECOND,
    Limits,
)
from letswork.ui import claude_plugin, printer
from letswork.ui.sharing import local_mode_help

log = logging.getLogger("letswork")


@click.command()
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
    help="Role of the first invite (it has no use limit; `letswork invite` makes one per person).",
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
@click.option(
    "--register-claude",
    is_flag=True,
    help="Register this folder's host channel with Claude Code (MCP server 'letswork', local "
    "scope); without it, start prints the command instead.",
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
    register_claude: bool,
    verbose: bool,
) -> None:
    """Share the folder PATH (default: the current folder) and print an invite.

    That first invite has no use limit: anyone with its line may ask to join until you revoke
    it (`letswork revoke first`); for one person, make one with `letswork invite` (or i in the
    dashboard). Starts the hub, the tunnel and the dashboard. Ctrl+C stops everything; the
    session (invites, pending changes) is kept for the next `letswork start` in the same folder.
    """
    from letswork.local import platforms, statedir

    try:
        platforms.require_host_platform()  # before anything is created or started
    except UsageError as exc:
        sys.exit(fail(exc))
    from letswork.hub.app import HubConfig, RunningHub

    if not path.is_dir():
        sys.exit(fail(UsageError(f"the folder {path} does not exist")))
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
            # Without POSIX signal handlers Ctrl+C still stops the hub (KeyboardInterrupt).
            with contextlib.suppress(NotImplementedError):
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
                    printer.echo(local_mode_help(hub.local_url, hub.port) + "\n", err=True)
                _announce(hub.current_invite())
            claude_note = await asyncio.to_thread(_claude_note, project, register_claude)
            if not ui:
                if claude_note:
                    printer.echo(claude_note, err=True)
                await hub.stop_requested.wait()
            else:
                from letswork.ui.dashboard import run_dashboard

                notes = []
                if tunnel == "auto" and not use_tunnel and public_url is None:
                    notes.append(
                        "local mode: cloudflared is not installed, so only this machine can "
                        "join; press h for how to install it or share over a LAN or SSH"
                    )
                if claude_note:
                    notes.append(claude_note)
                await run_dashboard(hub, notes=notes)
        finally:
            if supervisor is not None:
                await supervisor.stop()
            await hub.stop()
            log.info("hub stopped")

    run(body)


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


def _claude_note(project: Path, register: bool) -> str | None:
    """Register the host's channel with Claude Code when asked, else say how (once per folder:
    nothing when it is registered already). None when there is nothing to say."""
    from letswork.ui.claude import (
        find_registrations,
        host_registration_hint,
        register_host_assistant,
    )

    claude = shutil.which("claude")
    # A server in the folder's .mcp.json came with the project: not the host's registration.
    own = [r for r in find_registrations(project) if r.scope != "project"]
    if claude is None or (own and not register):
        return register_host_assistant(project) if register else None
    plugin = claude_plugin.find_plugin(claude, project)  # its channel is the host's here
    if plugin is not None:
        return (
            f"Claude Code's plugin {printer.one_line(plugin.id, 100)} runs the host's channel "
            "in this folder: nothing to register"
        )
    if register:
        return register_host_assistant(project)
    return (
        "To work on this folder with Claude Code as the host, register its channel once: "
        f"{host_registration_hint(project)} (or start with --register-claude)"
    )


def _log_event(name: str, data: Mapping[str, Any]) -> None:
    """--no-ui: every hub event as one plain log line, peer text neutralised."""
    log.info("event %s %s", name, printer.one_line(json.dumps(data, ensure_ascii=False), 400))


def _announce(code: str) -> None:
    """Print the invite: the exact join line on stdout (scripts read it), its heading on
    stderr. No border on the line's row: a terminal wraps it, and a copy of it still parses."""
    line = f"letswork join {code}"
    if sys.stderr.isatty():
        printer.echo("Invite (no use limit: anyone with this line may ask to join):", err=True)
    printer.echo(line)
    sys.stdout.flush()


def register(main: click.Group) -> None:
    """Add ``start`` to the ``letswork`` group."""
    main.add_command(start)
