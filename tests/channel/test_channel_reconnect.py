"""The hub goes away mid-session and comes back: the channel copes without a restart."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

from letswork.channel import sessions
from letswork.hub.app import HubConfig, RunningHub
from tests.channel.mcp_support import (
    WAIT,
    ChannelParams,
    guest_channel,
    invite_code,
    joined,
    mcp_channel,
    observer,
)
from tests.support.hubs import make_project, running_hub


def _link(state: str) -> Callable[[ChannelParams], bool]:
    def match(note: ChannelParams) -> bool:
        return note.meta.get("event") == "connection" and note.meta.get("state") == state

    return match


async def test_the_channel_reconnects_by_itself_and_answers_at_once_during_the_outage(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        watcher = await observer(hub)
        code = await invite_code(hub, "editor", "alice")
        port = hub.hub.port
        async with mcp_channel("--name", "alice", invite_code=code) as guest:
            await joined(watcher, "alice")
            assert (await guest.ok("read_file", {"path": "notes.txt"})).endswith("gamma\n")

            await hub.close_clients()
            await hub.hub.stop()
            lost = await guest.pushes.wait(_link("disconnected"))
            during = await asyncio.wait_for(guest.call("read_file", {"path": "notes.txt"}), WAIT)
            status = await guest.call("get_status")

            again = RunningHub(HubConfig(project=project, port=port, auto_admit=True, watch=False))
            await again.start()
            try:
                back = await guest.pushes.wait(_link("connected"), timeout=120)
                after = await guest.ok("read_file", {"path": "notes.txt"})
                proposed = await guest.ok("write_file", {"path": "n.txt", "content": "n\n"})
            finally:
                await again.stop()
    assert "Lost the link to the letswork hub" in lost.content
    assert during.is_error
    assert during.text.startswith("unavailable: not connected to the hub: ")
    assert "letswork is reconnecting by itself" in during.text
    assert status.is_error and status.text.startswith("unavailable: ")
    assert "The link to the letswork hub is up" in back.content
    assert after.endswith("gamma\n")
    assert "Proposed change" in proposed  # resumed as the same admitted guest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_host_channel_waits_for_its_hub_and_follows_it_to_a_new_port(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    first = RunningHub(HubConfig(project=project, watch=False))
    await first.start()  # creates the host key
    await first.stop()
    async with mcp_channel("--host", "--project", str(project)) as host:
        waiting = await host.call("get_status")
        hub = RunningHub(HubConfig(project=project, watch=False))
        await hub.start()
        try:
            await host.pushes.wait(_link("connected"))
            status = await host.ok("get_status")
            await hub.stop()
            await host.pushes.wait(_link("disconnected"))
            seen = len(host.pushes.notes)
            moved = RunningHub(HubConfig(project=project, port=_free_port(), watch=False))
            await moved.start()
            try:
                back = await host.pushes.wait(_link("connected"), after=seen)
                pong = await host.ok("ping")
            finally:
                await moved.stop()
        finally:
            await hub.stop()
    assert waiting.is_error
    assert "no letswork hub is running for" in waiting.text
    assert "letswork start" in waiting.text
    assert "You: host (host)" in status
    assert "The link to the letswork hub is up" in back.content
    assert pong.startswith("pong")


async def test_a_guest_waits_for_admission_then_works_and_keeps_its_resume_credential(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project, auto_admit=False) as hub:
        code = await invite_code(hub, "editor", "alice")
        host = await hub.host()
        async with mcp_channel("--name", "alice", "--session", "work", invite_code=code) as guest:
            await host.wait_event("awaiting_admission", lambda d: d["name"] == "alice")
            tools = await guest.tool_names()
            early = await guest.call("read_file", {"path": "notes.txt"})
            await host.call("admit", name="alice")
            admitted = await guest.pushes.wait(lambda n: n.meta.get("event") == "admitted")
            later = await guest.ok("read_file", {"path": "notes.txt"})
    assert "write_file" in tools  # the role is known while waiting
    assert early.is_error and early.text.startswith("not_admitted: ")
    assert "admitted you" in admitted.content
    assert later.endswith("gamma\n")
    stored = sessions.load_session("work")
    assert stored.resume_secret is not None
    assert stored.role == "editor" and stored.name == "alice"


async def test_a_revoked_invite_stops_the_channel_retrying_and_tools_say_to_join_again(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub, guest_channel(hub, "alice", "editor") as guest:
        host = await hub.host()
        await host.call("revoke_invite", label="alice")
        revoked = await guest.pushes.wait(_link("revoked"))
        answer = await guest.call("get_status")
    assert "refused this channel's credential" in revoked.content
    assert answer.is_error
    assert answer.text.startswith("auth_failed: ")
    assert "letswork join" in answer.text
