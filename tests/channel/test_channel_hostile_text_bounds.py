"""A hostile hub against the channel, by size (issue 13, items 9-10): whatever it sends, each
line the channel writes to its log file stays short, so reconnecting to it cannot fill the
guest's disk, and the cleaner only ever works on what a note can show, so megabytes of text
cannot hold up the channel's event loop (docs/security.md, "Attacks tried", items 9-10)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import pytest
from websockets.exceptions import ConnectionClosed

from letswork.channel.config import ChannelConfig
from letswork.channel.server import Channel
from letswork.local import statedir
from letswork.shared import sanitize
from letswork.shared.sanitize import MARKER
from tests.channel.mcp_support import WAIT, mcp_channel
from tests.support.fake_hub import GOOD_HELLO, FakeLink, fake_hub, good_result

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


class _UpChannel(Channel):
    """A Channel that lets the test wait for the link to come up."""

    def __init__(self, config: ChannelConfig) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    def _on_state(self, state: str) -> None:
        super()._on_state(state)
        if state == "connected":
            self.up.set()


async def test_an_unknown_event_with_megabyte_fields_is_cleaned_only_as_far_as_its_note_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sizes: list[int] = []
    real = sanitize.mark_hidden

    def spy(text: str) -> str:
        sizes.append(len(text))
        return real(text)

    monkeypatch.setattr(sanitize, "mark_hidden", spy)
    secret = secrets.token_bytes(16)
    big = "a\u200b" * (256 * 1024)  # 1 MiB as UTF-8, in each of three fields and a key

    async def script(link: FakeLink) -> None:
        hello = await link.request()
        await link.reply(hello, good_result("hello"))
        ping = await link.request()
        data = {"a": big, "b": {"c": big}, big: "d"}
        await link.send_obj({"event": "from_a_newer_hub", "seq": 1, "data": data})
        await link.reply(ping, good_result("ping"))  # after the event, in record order
        await link.serve_good()

    async with fake_hub([secret, bytes.fromhex("0f" * 32)], script) as hub:
        channel = _UpChannel(ChannelConfig(secret=secret, url=hub.url, name="alice"))
        supervisor = asyncio.create_task(channel.supervise())
        try:
            await asyncio.wait_for(channel.up.wait(), WAIT)
            assert channel.conn is not None
            await asyncio.wait_for(channel.conn.request("ping"), WAIT)
            notes, _ = channel.inbox.take()
        finally:
            await channel.close()
            await asyncio.wait_for(supervisor, WAIT)
    [note] = [n for n in notes if n.event == "from_a_newer_hub"]
    assert note.content.startswith(f"hub event from_a_newer_hub: a=a{MARKER}a")
    assert len(note.content) < 2000
    assert max(sizes) <= 160 * sanitize.LINE_WINDOW + 1024
