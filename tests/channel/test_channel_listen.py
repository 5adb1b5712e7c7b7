"""Change notifications as clients speak MCP now (issue 18): a client on 2026-07-28 (the SDK's
``Client(mode="auto")``, through ``server/discover`` and ``subscriptions/listen``) and one on
2025-11-25 (the ``initialize`` handshake) both learn that the tool list changed when a guest's
role arrives after the viewer's list was served.

The role arrives late the way it does for a user: the hub is down when the assistant starts
(the channel's first attempt fails, so ``tools/list`` answers at once with the viewer's tools),
and the hub comes back on the same port.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

from letswork.hub.app import HubConfig, RunningHub
from tests.channel.mcp_support import ROOT, WAIT, coverage_env, invite_code
from tests.support.hubs import make_project, running_hub


def channel_params(*args: str, code: str) -> StdioServerParameters:
    """`letswork channel ARGS` as an MCP client starts it, with invite ``code``."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "letswork", "channel", *args],
        env={
            "LETSWORK_STATE_DIR": os.environ["LETSWORK_STATE_DIR"],
            "PYTHONPATH": str(ROOT),
            "LETSWORK_INVITE": code,
            **coverage_env(),
        },
        cwd=ROOT,
    )


async def _stopped_hub(project: Path) -> tuple[str, int]:
    """An invite for a guest `eve` (editor) at a hub that is then stopped: (code, port)."""
    async with running_hub(project) as hub:
        code = await invite_code(hub, "editor", "eve")
        return code, hub.hub.port


def _names(listed: types.ListToolsResult) -> set[str]:
    return {tool.name for tool in listed.tools}


async def test_a_2026_client_listening_for_tool_changes_sees_the_list_change_when_the_role_arrives(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    code, port = await _stopped_hub(project)
    hub = RunningHub(HubConfig(project=project, port=port, auto_admit=True, watch=False))
    async with Client(channel_params("--name", "eve", code=code), mode="auto") as client:
        version = client.protocol_version
        caps = client.server_capabilities
        before = _names(await asyncio.wait_for(client.list_tools(), WAIT))
        async with client.listen(tools_list_changed=True) as subscription:
            honored = subscription.honored
            await hub.start()
            try:
                event = await asyncio.wait_for(anext(aiter(subscription)), 120)
                after = _names(await asyncio.wait_for(client.list_tools(), WAIT))
            finally:
                await hub.stop()
    assert version == "2026-07-28"
    assert caps.tools is not None
    assert caps.tools.list_changed is True
    assert honored.tools_list_changed is True
    assert type(event).__name__ == "ToolsListChanged"
    assert "read_file" in before and "write_file" not in before  # the viewer's, meanwhile
    assert "write_file" in after  # the editor's, once the hub said so


async def test_a_2025_client_sees_tools_list_changed_when_the_role_arrives(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    code, port = await _stopped_hub(project)
    hub = RunningHub(HubConfig(project=project, port=port, auto_admit=True, watch=False))
    changed = asyncio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with Client(
        channel_params("--name", "eve", code=code), mode="legacy", message_handler=on_message
    ) as client:
        version = client.protocol_version
        caps = client.server_capabilities
        before = _names(await asyncio.wait_for(client.list_tools(), WAIT))
        await hub.start()
        try:
            await asyncio.wait_for(changed.wait(), 120)
            after = _names(await asyncio.wait_for(client.list_tools(cache_mode="bypass"), WAIT))
        finally:
            await hub.stop()
    assert version == "2025-11-25"
    assert caps.tools is not None
    assert caps.tools.list_changed is True
    assert "read_file" in before and "write_file" not in before
    assert "write_file" in after


async def test_a_2026_client_is_told_the_channel_serves_listen_and_claude_channel(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        code = await invite_code(hub, "viewer", "vera")
        async with Client(channel_params("--name", "vera", code=code), mode="auto") as client:
            caps = client.server_capabilities
            async with client.listen(
                tools_list_changed=True, resource_subscriptions=["letswork://file/notes.txt"]
            ) as subscription:
                honored = subscription.honored
    assert caps.experimental == {"claude/channel": {}}
    assert caps.resources is not None and caps.resources.subscribe is True
    assert honored.resource_subscriptions == ["letswork://file/notes.txt"]
