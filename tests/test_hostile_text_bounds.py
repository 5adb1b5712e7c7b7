"""Attacks on the one cleaner and the one printer (issue 13, items 9-10) by size rather than by
content: whatever a hostile hub or peer sends, what reaches a terminal, a log file or the
cleaner stays bounded (docs/security.md, "Attacks tried", items 9-10)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys

from websockets.exceptions import ConnectionClosed

from letswork.shared import protocol
from letswork.shared.errors import ProtocolError
from letswork.shared.sanitize import MARKER
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
        protocol.parse_result("hello", result)
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
