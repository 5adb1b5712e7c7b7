"""``get_run``'s wait against a run that ends at once (issue 17): the hub's answer says
``running`` and its ``ended`` event follows right behind it, read before the waiting call
resumes. The wait must see it, not sit out all its seconds."""

from __future__ import annotations

import asyncio
import secrets

from letswork.channel.config import ChannelConfig
from tests.channel.mcp_support import WAIT
from tests.channel.test_channel_hostile_hub import _UpChannel
from tests.support.fake_hub import FakeLink, fake_hub, good_result


async def test_a_run_that_ends_right_behind_the_answer_ends_the_wait() -> None:
    secret = secrets.token_bytes(16)
    ended = good_result("get_run")["run"]  # failed, exit 1
    running = {**ended, "state": "running", "ended_at": None, "exit_code": None}

    async def script(link: FakeLink) -> None:
        hello = await link.request()
        await link.reply(hello, good_result("hello"))
        first = await link.request()
        while first["op"] != "get_run":  # whatever the channel asks on connecting
            await link.reply(first, good_result(first["op"]))
            first = await link.request()
        await link.reply(first, {**good_result("get_run"), "run": running})
        # In the same breath: the run printed, then ended.
        output = {"run": {**running, "output_bytes": 200}, "change": "output"}
        await link.send_obj({"event": "run_updated", "seq": 1, "data": output})
        await link.send_obj(
            {"event": "run_updated", "seq": 2, "data": {"run": ended, "change": "ended"}}
        )
        await link.serve_good()

    messages: list[str] = []

    async def progress(done: float, message: str) -> None:
        messages.append(message)

    async with fake_hub([secret, bytes.fromhex("0f" * 32)], script) as hub:
        channel = _UpChannel(
            ChannelConfig(
                secret=secret, url=hub.url, name="alice", toolsets=frozenset({"commands"})
            )
        )
        supervisor = asyncio.create_task(channel.supervise())
        try:
            await asyncio.wait_for(channel.up.wait(), WAIT)
            # A wait far longer than the test's patience: only the event can end it in time.
            answer = await asyncio.wait_for(
                channel.call_tool("get_run", {"id": ended["id"], "wait": 120}, progress=progress),
                WAIT,
            )
        finally:
            await channel.close()
            await asyncio.wait_for(supervisor, WAIT)
    assert not answer.is_error
    assert "failed (exit 1)" in answer.content[0].text  # type: ignore[union-attr]
    assert messages and "failed" in messages[-1]


async def test_a_flood_of_run_events_during_a_wait_keeps_only_the_newest() -> None:
    """A hostile hub sends thousands of events about the run while the MCP client reads
    slowly: the wait keeps the newest ``MAX_FOLLOWED_EVENTS``, not all of them."""
    from letswork.shared.limits import MAX_FOLLOWED_EVENTS

    secret = secrets.token_bytes(16)
    ended = good_result("get_run")["run"]
    running = {**ended, "state": "running", "ended_at": None, "exit_code": None}
    flood = 20 * MAX_FOLLOWED_EVENTS

    async def script(link: FakeLink) -> None:
        hello = await link.request()
        await link.reply(hello, good_result("hello"))
        first = await link.request()
        while first["op"] != "get_run":
            await link.reply(first, good_result(first["op"]))
            first = await link.request()
        await link.reply(first, {**good_result("get_run"), "run": running})
        for seq in range(1, flood + 1):
            data = {"run": {**running, "output_bytes": seq}, "change": "output"}
            await link.send_obj({"event": "run_updated", "seq": seq, "data": data})
        data = {"run": ended, "change": "ended"}
        await link.send_obj({"event": "run_updated", "seq": flood + 1, "data": data})
        await link.serve_good()

    all_read = asyncio.Event()
    messages: list[str] = []

    async def progress(done: float, message: str) -> None:
        await all_read.wait()  # a client that reads nothing until the flood is in
        messages.append(message)

    async with fake_hub([secret, bytes.fromhex("0f" * 32)], script) as hub:
        channel = _UpChannel(
            ChannelConfig(
                secret=secret, url=hub.url, name="alice", toolsets=frozenset({"commands"})
            )
        )
        channel._followers.add(
            lambda e: all_read.set() if e.data.get("change") == "ended" else None
        )
        supervisor = asyncio.create_task(channel.supervise())
        try:
            await asyncio.wait_for(channel.up.wait(), WAIT)
            answer = await asyncio.wait_for(
                channel.call_tool("get_run", {"id": ended["id"], "wait": 120}, progress=progress),
                WAIT,
            )
        finally:
            await channel.close()
            await asyncio.wait_for(supervisor, WAIT)
    assert "failed (exit 1)" in answer.content[0].text  # type: ignore[union-attr]
    assert len(messages) <= MAX_FOLLOWED_EVENTS + 1
    assert "failed" in messages[-1]
