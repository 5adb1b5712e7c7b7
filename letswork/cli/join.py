"""``letswork join``: the guest's one command.

``join`` validates the code before connecting, connects once to check it and waits for the
host's admission, then (only once the hub said yes) stores it in a 0600 session file, then
registers the channel with Claude Code
(``claude mcp add -s local letswork -- letswork channel --session NAME``, with
``--toolsets SETS`` when ``join`` was given them) or prints the JSON for any MCP client. The
invite never appears in the registered command line (croc's CVE-2023-43621 was a secret on a
command line).

Anyone answering at the invite's address can send ``join`` text before it has authenticated
anything (a close reason), and a hub sends the project name and error messages: all of it is
printed through :mod:`letswork.ui.printer`, cleaned, each field on one line (issue 13, item 10).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import getpass
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from letswork.cli._common import fail, run
from letswork.shared import invite
from letswork.shared.errors import HandshakeError, LetsworkError, TransportError, UsageError
from letswork.ui import claude as claude_ui
from letswork.ui import claude_plugin, printer

if TYPE_CHECKING:
    from letswork.channel.sessions import SessionRecord
    from letswork.client.connection import HubConnection
    from letswork.shared.protocol.wire import Event

CHANNEL_PUSH_HINT = (
    "To let Claude Code receive live events from the session, start it with:\n"
    f"  claude {claude_ui.CHANNELS_FLAG} {claude_ui.CHANNELS_ARG}"
)
NO_PUSH_NOTE = (
    f"This Claude Code does not know {claude_ui.CHANNELS_FLAG}, so events cannot be pushed: "
    "they reach it at the end of tool results and through the get_notifications tool."
)


def default_display_name() -> str:
    """The OS user name reduced to the display-name alphabet, or ``guest``."""
    try:
        raw = getpass.getuser()
    except (KeyError, OSError):
        raw = ""
    name = re.sub(r"[^A-Za-z0-9._-]", "", raw)[:32]
    if not name or re.sub(r"[\s._-]", "", name).casefold() == "host":
        return "guest"
    return name


def read_code(raw: str) -> invite.Invite:
    """Parse an invite code as pasted: the rows of a join line cut to a terminal's width
    (:func:`letswork.ui.sharing.join_lines`) come with newlines, blanks and maybe the quotes
    and the ``letswork join`` in front; a code never holds any of these, so they are dropped.

    Raises:
        InviteCodeError: what is left is not a valid code (the message says why).
    """
    words = raw.split()
    if [w.lower() for w in words[:2]] == ["letswork", "join"]:
        words = words[2:]
    return invite.parse("".join(words).strip("\"'"))


def toolsets_arg(text: str) -> str:
    """A ``--toolsets`` value checked by the channel's own parser and written as the channel
    reads it: lower-case names joined by commas (``" Default, commands"`` is
    ``default,commands``; empty is ``default``).

    Raises:
        UsageError: a name that is no toolset (the message lists them).
    """
    from letswork.channel.tools.toolsets import parse_toolsets

    parse_toolsets(text)
    return ",".join(word.lower() for word in text.replace(",", " ").split()) or "default"


def channel_command(session: str, toolsets: str | None = None) -> list[str]:
    """The argv an MCP client runs for this session (with ``--toolsets`` when ``toolsets``, a
    :func:`toolsets_arg` value, is given): never contains the invite."""
    chosen = ["--toolsets", toolsets] if toolsets is not None else []
    # shutil.which finds letswork.exe on Windows (PATHEXT) and checks X_OK elsewhere.
    found = shutil.which("letswork", path=str(Path(sys.executable).parent)) or shutil.which(
        "letswork"
    )
    if found:
        return [found, "channel", "--session", session, *chosen]
    return [sys.executable, "-m", "letswork", "channel", "--session", session, *chosen]


def mcp_json(session: str, toolsets: str | None = None) -> str:
    """The ``mcpServers`` snippet for any MCP client."""
    cmd = channel_command(session, toolsets)
    return json.dumps({"mcpServers": {"letswork": {"command": cmd[0], "args": cmd[1:]}}}, indent=2)


def register_with_claude(claude: str, session: str, toolsets: str | None = None) -> None:
    """Replace any stale ``letswork`` entry, then add ours (scope: local, the same name as the
    host's and the README's, :data:`letswork.ui.claude.SERVER_NAME`)."""
    subprocess.run(
        [claude, "mcp", "remove", "-s", "local", claude_ui.SERVER_NAME],
        capture_output=True,
        check=False,
        timeout=60,
    )
    added = subprocess.run(
        [
            claude,
            "mcp",
            "add",
            "-s",
            "local",
            claude_ui.SERVER_NAME,
            "--",
            *channel_command(session, toolsets),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if added.returncode != 0:
        raise LetsworkError(
            f"`claude mcp add` failed: {(added.stderr or added.stdout).strip()[:300]}"
        )


def use_plugin(claude: str, plugin: claude_plugin.Plugin, session: str) -> None:
    """Let the installed plugin's server be the folder's one channel: remove the ``letswork``
    entry an earlier ``join`` added here (failure ignored: there may be none) and say which
    session the plugin's channel will use (the folder is already bound to it)."""
    subprocess.run(
        [claude, "mcp", "remove", "-s", "local", claude_ui.SERVER_NAME],
        capture_output=True,
        check=False,
        timeout=60,
    )
    printer.echo(
        f"the Claude Code plugin {printer.one_line(plugin.id, 100)} runs the letswork channel; "
        f"in this folder it uses session {session!r} (nothing else registered)",
        err=True,
    )


def _pick_session_name(secret: bytes, wanted: str | None) -> str:
    from letswork.channel import sessions

    if wanted:
        return sessions.validate_session_name(wanted)
    for name in sessions.list_sessions():
        try:
            if sessions.load_session(name).invite_secret == secret:
                return name  # joining again with a fresh code for the same invite
        except UsageError:
            continue
    existing = set(sessions.list_sessions())
    name, n = "letswork", 1
    while name in existing:
        n += 1
        name = f"letswork-{n}"
    return name


async def _check_and_wait(
    record: SessionRecord, name: str
) -> tuple[dict[str, object], bytes | None]:
    """Connect once with ``record``'s credentials (its resume secret first, then the invite);
    wait for admission. Returns the hello result and the resume secret to keep (the one the
    hub minted now, else the one that worked). Nothing is stored here: the caller stores the
    session only once the hub has said yes.

    Raises:
        LetsworkError: the hub refused (the host denied us, with its reason; the invite is
            revoked, used up or expired).
    """
    from letswork.client.connection import HubConnection

    minted: list[bytes] = []
    secrets_to_try = [s for s in (record.resume_secret, record.invite_secret) if s]
    last: LetsworkError | None = None
    for secret in secrets_to_try:
        reasons: list[str] = []

        def on_event(event: Event, reasons: list[str] = reasons) -> None:
            if event.name == "denied" and isinstance(event.data.get("reason"), str):
                reasons.append(event.data["reason"])

        conn = HubConnection(
            record.url,
            secret,
            name=name,
            client="letswork-join",
            on_event=on_event,
            on_resume_secret=minted.append,
        )
        try:
            hello = await conn.connect()
        except HandshakeError as exc:
            last = exc  # a resume credential the hub forgot: fall back to the invite
            continue
        try:
            if hello.get("state") != "admitted":
                printer.echo(
                    "waiting for the host to admit you (you appear as "
                    f"{printer.one_line(str(hello.get('name')), 64)}); "
                    "they can run `letswork admit` or press the admit key in the dashboard...",
                    err=True,
                )
                await _wait_admitted(conn, reasons)
            kept = minted[-1] if minted else (secret if secret is record.resume_secret else None)
            return hello, kept
        finally:
            await conn.close()
    assert last is not None
    raise last


async def _wait_admitted(conn: HubConnection, reasons: list[str] | None = None) -> None:
    """Wait until the host admits this guest.

    Raises:
        LetsworkError: the host denied this guest (close 4403), with the host's reason when it
            gave one: its invite cannot ask again for a while (``DENY_COOLDOWN_SECONDS``).
        TransportError: the connection ended before an answer.
    """
    from letswork.shared import crypto

    admitted = asyncio.ensure_future(conn.wait_admitted())
    gone = asyncio.ensure_future(conn.wait_disconnected())
    await asyncio.wait({admitted, gone}, return_when=asyncio.FIRST_COMPLETED)
    gone.cancel()
    if admitted.done():
        return
    admitted.cancel()
    if conn.close_code == crypto.CloseCode.REMOVED:
        reason = printer.one_line(reasons[-1], 300) if reasons else ""
        if "has been used" in reason:  # another guest of the invite took its last use
            raise LetsworkError(f"you were not admitted: {reason}")
        why = f" ({reason})" if reason else ""
        raise LetsworkError(
            f"the host refused to admit you{why}; this invite cannot ask again for a while "
            "(ask the host for a new invite if that was a mistake)"
        )
    raise TransportError("the connection to the hub ended before the host admitted you")


def register(main: click.Group) -> None:
    """Add ``join`` to the ``letswork`` group."""

    @main.command()
    @click.argument("code", required=False)
    @click.option(
        "--session",
        "session_name",
        metavar="NAME",
        help="Name to store this session under (default: letswork).",
    )
    @click.option(
        "--name",
        "display_name",
        metavar="NAME",
        help="Your display name (1-32 of A-Z a-z 0-9 space . _ -).",
    )
    @click.option(
        "--no-launch", is_flag=True, help="Register the channel but do not start Claude Code."
    )
    @click.option(
        "--print-config",
        is_flag=True,
        help="Print the MCP JSON config instead of registering with Claude Code.",
    )
    @click.option(
        "--toolsets",
        metavar="SETS",
        default=None,
        help="Tool groups the registered channel lists, as for `letswork channel --toolsets`: "
        "comma-separated set names (context, files, changes, commands, collaboration), "
        "'default' for files and changes, 'all' for every set; e.g. default,commands to run "
        "the host's tests. Not given: the channel's default (or LETSWORK_TOOLSETS where it "
        "runs).",
    )
    def join(
        code: str | None,
        session_name: str | None,
        display_name: str | None,
        no_launch: bool,
        print_config: bool,
        toolsets: str | None,
    ) -> None:
        """Join a session with the invite CODE the host gave you.

        CODE may also come from LETSWORK_INVITE, or be typed at the prompt (so it stays out of
        your shell history). A mistyped code or an unknown toolset is reported before any
        connection is made. --toolsets is written into the registered channel command.
        """
        from letswork.channel import folders, sessions

        raw = code or os.environ.get("LETSWORK_INVITE") or ""
        if not raw:
            if not sys.stdin.isatty():
                sys.exit(fail(UsageError("no invite code: pass it, or set LETSWORK_INVITE")))
            raw = click.prompt("Invite code", err=True)
        try:
            inv = read_code(raw)
            sets = toolsets_arg(toolsets) if toolsets is not None else None
        except LetsworkError as exc:
            sys.exit(fail(exc))
        name = display_name or default_display_name()
        try:
            session = _pick_session_name(inv.secret, session_name)
        except LetsworkError as exc:
            sys.exit(fail(exc))
        try:
            old = sessions.load_session(session)
        except (LetsworkError, FileNotFoundError):
            old = None
        keep_resume = old.resume_secret if old and old.invite_secret == inv.secret else None
        record = sessions.SessionRecord(
            url=inv.url, invite_secret=inv.secret, resume_secret=keep_resume, name=name
        )

        async def body() -> tuple[dict[str, object], bytes | None]:
            return await _check_and_wait(record, name)

        # Stored only once the hub has said yes: a revoked or mistyped code must not overwrite
        # a good stored session.
        hello, resume = run(body)
        sessions.save_session(
            session,
            dataclasses.replace(
                record,
                resume_secret=resume,
                name=str(hello.get("name", name)),
                role=str(hello["role"]),
            ),
        )
        printer.echo(f"invite accepted; session stored as {session!r}", err=True)
        project = printer.one_line(str(hello.get("project")), 200)
        who = printer.one_line(str(hello.get("name")), 64)
        role = printer.one_line(str(hello.get("role")), 16)
        printer.echo(f"joined {project} as {who} ({role})", err=True)
        with contextlib.suppress(LetsworkError):  # where the plugin's channel looks
            folders.bind_folder(Path.cwd(), session)
        claude = shutil.which("claude")
        if claude is None or print_config:
            if claude is None:
                printer.echo(
                    "Claude Code is not installed; add this to your MCP client's config:", err=True
                )
            printer.echo(mcp_json(session, sets))
            return
        plugin = claude_plugin.find_plugin(claude, Path.cwd())
        if plugin is not None:
            use_plugin(claude, plugin, session)
            if sets is not None:
                printer.echo(
                    f"--toolsets {sets} is not applied: the plugin's channel lists the sets "
                    "its manifest names (uninstall the plugin to choose them with join)",
                    err=True,
                )
        else:
            try:
                register_with_claude(claude, session, sets)
            except LetsworkError as exc:
                sys.exit(fail(exc))
            printer.echo(
                "registered the letswork channel with Claude Code (scope: local)", err=True
            )
        channels = claude_ui.supports_channels(claude)
        argv = claude_ui.launch_argv(claude, channels)
        if plugin is not None and channels:
            argv = [claude, claude_ui.CHANNELS_FLAG, plugin.channels_arg]
        if not channels:
            printer.echo(NO_PUSH_NOTE, err=True)
        elif no_launch and plugin is not None:
            printer.echo(CHANNEL_PUSH_HINT.replace(claude_ui.CHANNELS_ARG, argv[2]), err=True)
        elif no_launch:
            printer.echo(CHANNEL_PUSH_HINT, err=True)
        if not no_launch:
            printer.echo(f"starting: {' '.join(['claude', *argv[1:]])}", err=True)
            if os.name == "nt":  # no exec on Windows: run Claude Code, pass on its exit code
                sys.exit(subprocess.call(argv))
            os.execvp(claude, argv)  # noqa: S606 - hand the terminal to Claude Code
