"""``letswork channel``: the stdio MCP server an assistant's MCP client starts
(:mod:`letswork.channel`)."""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

import click

from letswork.cli._common import fail, run, setup_logging
from letswork.shared.errors import LetsworkError


@click.command()
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
    "--plugin",
    is_flag=True,
    help="How the Claude Code plugin starts the channel: use the session `letswork join` "
    "stored for this folder, or the host's channel if a hub was started here.",
)
@click.option(
    "--publish-card",
    is_flag=True,
    help="Allow the assistant to show the session its client name and the MCP servers it "
    "chooses to mention (the publish_card tool). Off by default: nothing is sent without it.",
)
@click.option(
    "--toolsets",
    metavar="SETS",
    envvar="LETSWORK_TOOLSETS",
    default="default",
    show_default=True,
    help="Tool groups to list, comma-separated: context (always on), files, changes, "
    "commands (the host's commands), collaboration (messages, task board, shared variables, "
    "who is here); 'default' is "
    "files and changes, 'all' is every set. Env: LETSWORK_TOOLSETS.",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def channel(
    session_name: str | None,
    host_mode: bool,
    project: Path | None,
    name: str | None,
    plugin: bool,
    publish_card: bool,
    toolsets: str,
    verbose: bool,
) -> None:
    """Run the stdio MCP server your assistant talks to (its MCP client starts this).

    A guest connects with the invite in LETSWORK_INVITE, or with a session stored by
    `letswork join` (--session NAME). The host connects with --host to the hub running for
    --project. --toolsets chooses which tools the assistant sees (each costs context in every
    conversation). Only MCP messages go to stdout; logs go to stderr and to
    <state dir>/logs/channel-NAME.log.
    """
    from letswork.channel.config import channel_log_path, resolve
    from letswork.channel.server import run_stdio
    from letswork.channel.tools.toolsets import parse_toolsets

    try:
        sets = parse_toolsets(toolsets)
        config = resolve(
            session=session_name, host=host_mode, project=project, name=name, plugin=plugin
        )
        config = dataclasses.replace(config, publish_card=publish_card, toolsets=sets)
        log_file = channel_log_path(config.label)
    except LetsworkError as exc:
        sys.exit(fail(exc))
    setup_logging(logging.DEBUG if verbose else logging.INFO, log_file)
    run(lambda: run_stdio(config))


def register(main: click.Group) -> None:
    """Add ``channel`` to the ``letswork`` group."""
    main.add_command(channel)
