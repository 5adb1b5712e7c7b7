"""Attacks on the one cleaner and the one printer (issue 13, items 9-10) by size rather than by
content: whatever a hostile hub or peer sends, what reaches a terminal, a log file or the
cleaner stays bounded (docs/security.md, "Attacks tried", items 9-10)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import sys

import pytest
from websockets.exceptions import ConnectionClosed

from letswork.shared import sanitize
from letswork.shared.errors import ProtocolError
from letswork.shared.protocol.wire import parse_result
from letswork.shared.sanitize import MARKER
from letswork.ui import printer
from tests.support.fake_hub import GOOD_HELLO, FakeLink, fake_hub

WAIT = 60.0  # seconds: a guard against hangs, never a measurement
#: A key a hostile hub puts in a reply: 256 Ki pairs of a letter and a zero-width space, so
#: every pair becomes a marker once cleaned (about 5.5 MB of terminal text if quoted whole).
HUGE_KEY = "a\u200b" * (256 * 1024)


async def _join(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "letswork",
        "join",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "LETSWORK_INVITE"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode("utf-8", "replace")


def test_a_protocol_error_names_a_hostile_key_in_at_most_64_characters() -> None:
    result = {**GOOD_HELLO, HUGE_KEY: 1}
    try:
        parse_result("hello", result)
    except ProtocolError as exc:
        message, field = exc.message, exc.data["field"]
    else:  # pragma: no cover - the catalogue refuses unknown fields
        raise AssertionError("an unknown field was accepted")
    assert message.endswith(": unknown field")
    assert len(message) < 200, len(message)
    assert len(field) < 100, len(field)
    assert field.startswith("result.a")


async def test_join_prints_a_hubs_reply_with_a_huge_unknown_key_as_one_short_line() -> None:
    invite_secret = secrets.token_bytes(16)

    async def script(link: FakeLink) -> None:
        with contextlib.suppress(ConnectionClosed):
            request = await link.request()
            await link.reply(request, {**GOOD_HELLO, HUGE_KEY: 1})
            await link.ws.wait_closed()

    async with fake_hub([invite_secret], script) as hub:
        exit_code, output = await _join(
            hub.code(invite_secret), "--name", "alice", "--print-config"
        )
    assert exit_code == 1, output[:2000]
    # Two lines say it: the connection's log warning, then the command's error.
    lines = [line for line in output.splitlines() if "malformed reply to 'hello'" in line]
    assert lines and all("unknown field" in line and MARKER in line for line in lines)
    assert lines[-1].startswith("letswork: the hub sent a malformed reply")
    assert len(output) < 4000, len(output)
    assert "\u200b" not in output


# ------------------------------------------------------------------ the cleaner's work is bounded
# Cleaning costs time per character (bench/sanitize.py: up to ~140 ms per MiB). A one-line field
# shows at most a few hundred characters, so it cleans only a window of its text: a field a hub
# made megabytes long must not cost a channel, the dashboard or the hub's log what it would cost
# to clean it all, on their event loops.


class _CleanerSpy:
    """Records how many characters each call of the cleaner was given."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        real = sanitize.mark_hidden

        def spy(text: str) -> str:
            self.sizes.append(len(text))
            return real(text)

        monkeypatch.setattr(sanitize, "mark_hidden", spy)

    @property
    def largest(self) -> int:
        return max(self.sizes, default=0)


#: 2 MiB as UTF-8: 512 Ki pairs of a letter and a zero-width space.
BIG = "a\u200b" * (512 * 1024)


def test_a_one_line_field_cleans_only_what_it_can_show(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _CleanerSpy(monkeypatch)
    line = sanitize.clean_line(BIG, 40)
    shown = sanitize.terminal_line(BIG, 40)
    hidden_run = sanitize.clean_line("\u200b" * 100_000 + "visible", 40)
    assert spy.largest <= 40 * sanitize.LINE_WINDOW + 1024
    assert line.endswith("…") and shown.endswith("…")
    assert len(line) <= 40 and len(shown) <= 40
    # A run longer than the window keeps what follows out of the line, and says so.
    assert hidden_run == f"{MARKER}…"


def test_a_field_within_the_catalogues_limits_is_never_cut_by_the_window() -> None:
    path = "\u200b" * 1023 + "x"  # a path of the longest length the catalogue allows
    assert sanitize.clean_line(path, 40) == f"{MARKER}x"
    assert sanitize.terminal_line(path, 40) == f"{MARKER}x"


def test_the_no_ui_event_log_cleans_only_the_line_it_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from letswork.cli import start

    spy = _CleanerSpy(monkeypatch)
    lines: list[str] = []
    monkeypatch.setattr(start.log, "info", lambda fmt, *args: lines.append(fmt % args))
    # A conflict's event carries the fresh diff: a whole file's worth of a guest's text.
    start._log_event("change_decided", {"change": {"id": "c1", "diff": BIG}})
    assert spy.largest <= 400 * sanitize.LINE_WINDOW + 1024
    [line] = lines
    assert len(line) < 500 and line.endswith("…")


def test_a_log_record_quoting_megabytes_is_cut_before_it_is_cleaned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = _CleanerSpy(monkeypatch)
    formatter = printer.CleanFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("letswork", logging.WARNING, __file__, 1, "got %s", (BIG,), None)
    try:
        raise ValueError(BIG)
    except ValueError:
        failed = logging.LogRecord("letswork", logging.ERROR, __file__, 1, "x", (), sys.exc_info())
    line = formatter.format(record)
    text = formatter.format(failed)
    assert len(line) <= printer.MAX_LOG_LINE_CHARS and line.endswith("…")
    assert line.startswith(f"WARNING got a{MARKER}a")
    assert len(text) < printer.MAX_TRACEBACK_CHARS + 100
    assert text.startswith("ERROR x\nTraceback") and text.endswith("(cut: too long to show)")
    assert spy.largest <= max(
        printer.MAX_LOG_LINE_CHARS * sanitize.LINE_WINDOW + 1024, printer.MAX_TRACEBACK_CHARS
    )
