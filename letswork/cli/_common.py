"""What every ``letswork`` command shares: the one place that turns errors into user messages
and exit codes, and the logging set-up.

- exit 0: success (and a clean stop on Ctrl+C or SIGTERM)
- exit 1: the operation failed (hub refused, not reachable, disk error, ...)
- exit 2: usage error (bad argument, mistyped invite code, folder missing, port in use)

Every command catches :class:`~letswork.shared.errors.LetsworkError` through :func:`run`
(or :func:`fail`) and prints one line to stderr; a traceback means a bug.

Everything written to the terminal goes through the one printer, :mod:`letswork.ui.printer`
(issue 13, item 10): an error message may quote what a hub or a peer sent, so it is cleaned
and kept on one line; log records are cleaned by the printer's formatter.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from letswork.shared.errors import LetsworkError, UsageError
from letswork.ui import printer

T = TypeVar("T")

#: The longest error message a command prints (characters, on one line).
MAX_ERROR_CHARS = 2000


def fail(exc: LetsworkError) -> int:
    """Print ``exc``'s message as one cleaned line on stderr; returns the exit code."""
    printer.echo(f"letswork: {printer.one_line(exc.message, MAX_ERROR_CHARS)}", err=True)
    return 2 if isinstance(exc, UsageError) else 1


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body; map LetsworkError to a message and an exit code."""
    try:
        return asyncio.run(_as_coro(coro_fn))
    except LetsworkError as exc:
        sys.exit(fail(exc))
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
