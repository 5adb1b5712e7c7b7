"""A channel's first tool call while its first connection attempt is under way (issue 15,
item 5): the call goes right behind ``hello``, so its result costs three round trips.

The round trips are the client's flights through :class:`tests.support.links.TcpLink`
(counted structurally, whatever the timing). The channel is the real one, in process, and
its tool call starts right after its link supervisor has started connecting, as when an
assistant calls a tool at once after ``initialize``.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from letswork.channel.config import ChannelConfig
from letswork.channel.server import Channel
from tests.support.hubs import make_project, running_hub
from tests.support.links import tcp_link

WAIT = 30.0  # seconds: a guard against hangs, never a measurement


async def test_a_first_call_made_while_connecting_is_answered_after_three_flights(
    tmp_path: Path,
) -> None:
    async with (
        running_hub(make_project(tmp_path / "p")) as fx,
        tcp_link(fx.url) as link,
    ):
        channel = Channel(ChannelConfig(secret=fx.invite_secret, url=link.url, name="alice"))
        supervising = asyncio.create_task(channel.supervise())  # starts connecting first
        calling = asyncio.create_task(channel.call_tool("read_file", {"path": "src/app.py"}))
        try:
            result = await asyncio.wait_for(calling, WAIT)
            flights = link.flights
        finally:
            await channel.close()
            supervising.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervising
    text = "".join(getattr(block, "text", "") for block in result.content)
    assert not result.is_error, text
    assert "def main():" in text
    assert flights == 3
    # The hub's answer to hello was taken in first: the role the tool list follows is known.
    assert channel.role == "editor"


async def test_a_first_call_behind_a_refused_hello_gets_hellos_refusal(tmp_path: Path) -> None:
    async with running_hub(make_project(tmp_path / "p")) as fx:
        await fx.connect(fx.invite_secret, "alice")  # holds the name
        channel = Channel(ChannelConfig(secret=fx.invite_secret, url=fx.url, name="alice"))
        supervising = asyncio.create_task(channel.supervise())
        calling = asyncio.create_task(channel.call_tool("read_file", {"path": "src/app.py"}))
        try:
            result = await asyncio.wait_for(calling, WAIT)
        finally:
            await channel.close()
            supervising.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervising
    text = "".join(getattr(block, "text", "") for block in result.content)
    assert result.is_error
    assert "name_taken" in text, text
