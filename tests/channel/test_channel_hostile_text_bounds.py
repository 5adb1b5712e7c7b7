"""A hostile hub against the channel's log (issue 13, items 9-10): whatever it sends, each line
the channel writes to its log file stays short, so reconnecting to it cannot fill the guest's
disk (docs/security.md, "Attacks tried", items 9-10)."""

from __future__ import annotations

import contextlib
import secrets

from websockets.exceptions import ConnectionClosed

from letswork.hub import statedir
from letswork.shared.sanitize import MARKER
from tests.channel.mcp_support import mcp_channel
from tests.support.fake_hub import GOOD_HELLO, FakeLink, fake_hub

#: 256 Ki pairs of a letter and a zero-width space: about 5.5 MB once cleaned, if quoted whole.
HUGE_KEY = "a\u200b" * (256 * 1024)


async def _huge_key_hello(link: FakeLink) -> None:
    with contextlib.suppress(ConnectionClosed):
        request = await link.request()
        await link.reply(request, {**GOOD_HELLO, HUGE_KEY: 1})
        await link.ws.wait_closed()


async def test_a_hub_reply_with_a_huge_key_writes_short_lines_to_the_channel_log() -> None:
    secret = secrets.token_bytes(16)
    async with (
        fake_hub([secret], _huge_key_hello) as hub,
        mcp_channel("--name", "alice", invite_code=hub.code(secret)) as guest,
    ):
        await hub.wait_connections(2)  # the first fault was logged before it reconnected
        answer = await guest.call("ping")
    [log_file] = (statedir.state_root() / "logs").glob("channel-*.log")
    lines = log_file.read_text(encoding="utf-8").splitlines()
    faults = [line for line in lines if "malformed reply to 'hello'" in line]
    assert faults and all(MARKER in line and "unknown field" in line for line in faults)
    assert max(len(line) for line in lines) < 2000
    assert answer.is_error and "malformed reply to 'hello'" in answer.text
    assert len(answer.text) < 5000
