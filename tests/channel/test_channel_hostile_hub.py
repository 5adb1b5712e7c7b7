"""A hub that answers ``hello`` with a malformed reply: the channel says `unavailable`, keeps
retrying with backoff, and recovers once a hub behaves (issue 13, item 11)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from letswork.hub.app import HubConfig, RunningHub
from letswork.shared import invite
from tests.channel.mcp_support import ChannelParams, invite_code, mcp_channel
from tests.support.fake_hub import FakeHub, non_hex_hello_script
from tests.support.hubs import make_project, running_hub


def _link(state: str) -> Callable[[ChannelParams], bool]:
    def match(note: ChannelParams) -> bool:
        return note.meta.get("event") == "connection" and note.meta.get("state") == state

    return match


async def test_a_non_hex_resume_secret_leaves_the_channel_retrying_until_a_hub_behaves(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:  # makes the invite the real hub will know later
        code = await invite_code(hub, "editor", "alice")
        port = hub.hub.port
        await hub.close_clients()
        await hub.hub.stop()
    secret = invite.parse(code).secret
    hostile = FakeHub([secret], non_hex_hello_script, port=port)
    await hostile.start()
    async with mcp_channel("--name", "alice", invite_code=code) as guest:
        try:
            await hostile.wait_connections(1)
            during = await guest.call("read_file", {"path": "notes.txt"})
            # The supervisor is alive: it connects again after the bad reply, with backoff.
            await hostile.wait_connections(hostile.connections + 1)
        finally:
            await hostile.stop()
        good = RunningHub(HubConfig(project=project, port=port, auto_admit=True, watch=False))
        await good.start()
        try:
            back = await guest.pushes.wait(_link("connected"), timeout=120)
            after = await guest.ok("read_file", {"path": "notes.txt"})
        finally:
            await good.stop()
    assert during.is_error
    assert during.text.startswith("unavailable: not connected to the hub: ")
    assert "the hub sent a malformed reply to 'hello'" in during.text
    assert "resume_secret" in during.text
    assert "Traceback" not in during.text
    assert "The link to the letswork hub is up" in back.content
    assert after.endswith("gamma\n")
