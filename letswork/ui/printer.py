"""The one way text reaches a terminal outside the dashboard (issue 13, item 10).

Every line ``letswork`` writes to stdout or stderr goes through :func:`echo`, which cleans it
with :func:`letswork.shared.sanitize.clean_terminal` before click writes it: a close reason,
a project name or an error message from a hub, a path or a name from a guest, loses its escape
sequences and invisible characters on the way, whoever composed the line. Log records reach
the terminal (and log files) through :class:`CleanFormatter`, which cleans the formatted
record, traceback included, and keeps each message on one line; :func:`install` puts the
same cleaning on Python's last-resort log handler (records of loggers nobody configured, such
as ``websockets``, or ``letswork`` itself in the admin commands and ``letswork join``) and on
uncaught exceptions.

The dashboard writes through Textual instead, and puts every peer string on screen as a
``rich.text.Text`` after :func:`~letswork.shared.sanitize.clean_terminal`, never as markup.

``tests/test_one_printer.py`` fails if a ``print``, ``click.echo``, ``sys.stdout.write``, a log
handler, Rich markup or a Textual cell built from a bare string appears anywhere else in
``letswork/``.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import click

from letswork.shared.sanitize import clean_terminal, terminal_line

__all__ = [
    "MAX_LOG_LINE_CHARS",
    "MAX_TRACEBACK_CHARS",
    "CleanFormatter",
    "echo",
    "file_handler",
    "install",
    "one_line",
    "stream_handler",
]


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Write ``text`` cleaned (escapes and invisible characters marked) to stdout or stderr."""
    click.echo(clean_terminal(text), err=err, nl=nl)


def one_line(text: str, max_chars: int | None = None) -> str:
    """A peer string for a one-line field: cleaned, whitespace runs (newlines too) folded."""
    return terminal_line(text, max_chars)


#: The longest log line a record's message makes (characters, cleaned); longer ones end in ``…``.
MAX_LOG_LINE_CHARS = 4000
#: The longest traceback (or stack) a record or an uncaught exception prints (characters).
MAX_TRACEBACK_CHARS = 20_000


def _bounded(text: str, max_chars: int) -> str:
    """``text`` cleaned, keeping its lines: at most ``max_chars`` of it are cleaned and shown
    (a hub's or a peer's text quoted in an exception could be megabytes)."""
    shown = clean_terminal(text[:max_chars])
    if len(text) <= max_chars and len(shown) <= max_chars:
        return shown
    return shown[:max_chars] + "\n… (cut: too long to show)"


class CleanFormatter(logging.Formatter):
    """A formatter whose output is cleaned for a terminal: the message (with its arguments) is
    cleaned and kept on one line of at most :data:`MAX_LOG_LINE_CHARS`, so a peer's text cannot
    forge a log line of its own nor make one megabytes long (a log file is kept on disk); a
    traceback is cleaned, keeps its lines and is cut at :data:`MAX_TRACEBACK_CHARS`."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal_line(super().formatMessage(record), MAX_LOG_LINE_CHARS)

    def formatException(self, ei: Any) -> str:
        return _bounded(super().formatException(ei), MAX_TRACEBACK_CHARS)

    def formatStack(self, stack_info: str) -> str:
        return _bounded(super().formatStack(stack_info), MAX_TRACEBACK_CHARS)


def stream_handler(
    stream: IO[str] | None = None, fmt: str | None = None, datefmt: str | None = None
) -> logging.Handler:
    """A handler writing cleaned records to ``stream`` (default: stderr)."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(CleanFormatter(fmt, datefmt))
    return handler


def file_handler(path: Path, fmt: str | None = None) -> logging.Handler:
    """A handler appending cleaned records to ``path`` (someone reads it with ``tail``)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(CleanFormatter(fmt))
    return handler


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time, as Python's own last resort does."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    shown = _bounded("".join(traceback.format_exception(kind, exc, tb)), MAX_TRACEBACK_CHARS)
    echo(shown, err=True, nl=not shown.endswith("\n"))


def install() -> None:
    """Clean what Python itself would write to stderr: last-resort log records and uncaught
    exceptions (their messages may quote what a hub or a peer sent)."""
    last_resort = _StderrHandler(logging.WARNING)
    last_resort.setFormatter(CleanFormatter())
    logging.lastResort = last_resort
    sys.excepthook = _excepthook
