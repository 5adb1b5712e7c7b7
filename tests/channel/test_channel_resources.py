"""Shared files as MCP resources (issue 18): ``letswork://file/{path}`` lists and reads through
the hub under the sharing policy, and the hub's watcher feeds resource updates to a 2025-11-25
client that subscribed and to a 2026-07-28 client that listens."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp.client.client import Client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from letswork.channel.config import ChannelConfig
from letswork.channel.resources import MAX_RESOURCE_CHARS, TEMPLATE, file_uri, path_of
from letswork.channel.server import Channel
from letswork.shared.errors import OpError
from letswork.shared.protocol.files import ReadFileResult
from tests.channel.mcp_support import WAIT, invite_code
from tests.channel.test_channel_listen import channel_params
from tests.support.hubs import make_project, running_hub

NOTES = "letswork://file/notes.txt"


async def test_shared_files_are_listed_and_read_as_resources_and_secrets_are_not(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    (project / "src" / "my file.py").write_text("x = 1\n", encoding="utf-8")
    async with running_hub(project) as hub:
        code = await invite_code(hub, "viewer", "vera")
        async with Client(channel_params("--name", "vera", code=code), mode="legacy") as client:
            listed = await asyncio.wait_for(client.list_resources(), WAIT)
            templates = await asyncio.wait_for(client.list_resource_templates(), WAIT)
            read = await asyncio.wait_for(client.read_resource(NOTES), WAIT)
            spaced = await asyncio.wait_for(client.read_resource(file_uri("src/my file.py")), WAIT)
            with pytest.raises(MCPError) as secret:
                await asyncio.wait_for(client.read_resource("letswork://file/.env"), WAIT)
            with pytest.raises(MCPError) as escape:
                await asyncio.wait_for(client.read_resource("letswork://file/../x"), WAIT)
    uris = {str(r.uri) for r in listed.resources}
    assert {NOTES, "letswork://file/src/app.py", "letswork://file/src/my%20file.py"} <= uris
    assert "letswork://file/.env" not in uris
    assert "letswork://file/debug.log" not in uris  # ignored by .gitignore: not shared
    assert [t.uri_template for t in templates.resource_templates] == [TEMPLATE]
    content = read.contents[0]
    assert isinstance(content, types.TextResourceContents)
    assert content.text == "alpha\nbeta\ngamma\n"
    assert content.meta is not None
    assert content.meta["sha256"] == hashlib.sha256(b"alpha\nbeta\ngamma\n").hexdigest()
    assert content.meta["truncated"] is False
    assert isinstance(spaced.contents[0], types.TextResourceContents)
    assert spaced.contents[0].text == "x = 1\n"
    assert secret.value.error.code == -32002
    assert "supersecret" not in secret.value.error.message
    assert escape.value.error.code == -32002


def test_a_file_uri_names_its_path_and_nothing_outside_the_project() -> None:
    assert path_of(file_uri("src/a b#c.py")) == "src/a b#c.py"
    for bad in (
        "letswork://file/",
        "letswork://file/a//b",
        "file:///etc/passwd",
        "letswork://file/%2E%2E/x",
        "letswork://file/src/%2E%2E/.env",
        "letswork://file/%2Fetc%2Fpasswd",
        "letswork://file/notes.txt%00.md",
        "letswork://file/%FF",  # not UTF-8: the resource error, not a Python exception's text
        "letswork://file/caf%C3",
    ):
        with pytest.raises(MCPError) as refused:
            path_of(bad)
        assert refused.value.error.code == -32002, bad


async def test_a_2025_client_subscribed_to_a_file_is_told_when_it_changes_on_disk(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    updated: asyncio.Queue[str] = asyncio.Queue()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.put_nowait(str(message.params.uri))

    async with running_hub(project, watch=True) as hub:
        code = await invite_code(hub, "viewer", "vera")
        async with Client(
            channel_params("--name", "vera", code=code), mode="legacy", message_handler=on_message
        ) as client:
            await asyncio.wait_for(client.list_tools(), WAIT)  # the link is up
            with pytest.warns(MCPDeprecationWarning):  # removed at 2026-07-28, not at 2025
                await client.session.subscribe_resource(NOTES)
            (project / "README.md").write_text("# not subscribed\n", encoding="utf-8")
            (project / "notes.txt").write_text("changed\n", encoding="utf-8")
            uri = await asyncio.wait_for(updated.get(), WAIT)
    assert uri == NOTES  # README.md changed too, but nobody subscribed to it


async def test_a_2026_client_listening_on_a_file_is_told_when_it_changes_on_disk(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project, watch=True) as hub:
        code = await invite_code(hub, "viewer", "vera")
        async with Client(channel_params("--name", "vera", code=code), mode="auto") as client:
            version = client.protocol_version
            await asyncio.wait_for(client.list_tools(), WAIT)
            async with client.listen(resource_subscriptions=[NOTES]) as subscription:
                (project / "notes.txt").write_text("changed\n", encoding="utf-8")
                event = await asyncio.wait_for(anext(aiter(subscription)), WAIT)
            read = await asyncio.wait_for(client.read_resource(NOTES), WAIT)
    assert version == "2026-07-28"
    assert getattr(event, "uri", None) == NOTES
    assert isinstance(read.contents[0], types.TextResourceContents)
    assert read.contents[0].text == "changed\n"


class _OlderHub:
    """A hub link that answers ``read_file`` as a hub from before ``max_chars`` (issue 15):
    the argument is refused as unknown, and a page comes whole."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sent: list[dict[str, Any]] = []
        self.connected = True
        self.name = "alice"
        self.state = "connected"

    async def call(self, op: str, args: dict[str, Any], *, early: bool = False) -> Any:
        self.sent.append(dict(args))
        if "max_chars" in args:
            raise OpError(
                "args.max_chars: unknown field",
                data={"reason": "extra_field", "field": "args.max_chars"},
            )
        lines = self.text.count("\n")
        return ReadFileResult(
            path="big.txt", text=self.text, sha256="0" * 64, offset=0, lines=lines,
            total_lines=lines, size=len(self.text), truncated=False,
        )  # fmt: skip


async def test_a_resource_from_a_hub_older_than_the_page_budget_is_read_and_cut() -> None:
    channel = Channel(ChannelConfig(secret=b"s" * 16, url="ws://127.0.0.1:1/"))
    channel._settled.set()
    hub = _OlderHub("x" * 99 + "\n" * 1 + ("y" * 99 + "\n") * 999)  # 100,000 characters
    channel.conn = hub  # type: ignore[assignment]
    params = types.ReadResourceRequestParams(uri="letswork://file/big.txt")
    first = await channel.resources.handle_read(None, params)  # type: ignore[arg-type]
    second = await channel.resources.handle_read(None, params)  # type: ignore[arg-type]
    for read in (first, second):
        [content] = read.contents
        assert isinstance(content, types.TextResourceContents)
        assert len(content.text) <= MAX_RESOURCE_CHARS
        assert content.meta is not None and content.meta["truncated"] is True
        assert content.meta["lines"] == content.text.count("\n") == 600
    assert [a.get("max_chars") for a in hub.sent] == [MAX_RESOURCE_CHARS, None, None]


async def test_a_2025_and_a_2026_client_on_one_hub_each_hear_of_changes_their_own_way(
    tmp_path: Path,
) -> None:
    # The two eras side by side: the 2025-11-25 client is told on its connection (only of the
    # URI it subscribed to), the 2026-07-28 client on its listen stream only, and neither
    # gets the other's kind of notification.
    project = make_project(tmp_path / "project")
    legacy_seen: asyncio.Queue[Any] = asyncio.Queue()
    modern_bare: list[Any] = []

    async def on_legacy(message: Any) -> None:
        if isinstance(
            message, types.ResourceUpdatedNotification | types.ResourceListChangedNotification
        ):
            legacy_seen.put_nowait(message)

    async def on_modern(message: Any) -> None:
        if isinstance(
            message, types.ResourceUpdatedNotification | types.ResourceListChangedNotification
        ):
            meta = (message.params.meta if message.params is not None else None) or {}
            if "io.modelcontextprotocol/subscriptionId" not in meta:  # not the stream's
                modern_bare.append(message)

    async with running_hub(project, watch=True) as hub:
        old_code = await invite_code(hub, "viewer", "olga")
        new_code = await invite_code(hub, "viewer", "nina")
        async with (
            Client(
                channel_params("--name", "olga", code=old_code),
                mode="legacy",
                message_handler=on_legacy,
            ) as old,
            Client(
                channel_params("--name", "nina", code=new_code),
                mode="auto",
                message_handler=on_modern,
            ) as new,
        ):
            await asyncio.wait_for(old.list_tools(), WAIT)
            await asyncio.wait_for(new.list_tools(), WAIT)
            with pytest.warns(MCPDeprecationWarning):
                await old.session.subscribe_resource(NOTES)
            async with new.listen(
                resources_list_changed=True, resource_subscriptions=[NOTES]
            ) as stream:
                (project / "notes.txt").write_text("changed\n", encoding="utf-8")
                old_first = await asyncio.wait_for(legacy_seen.get(), WAIT)
                new_first = await asyncio.wait_for(anext(aiter(stream)), WAIT)
                (project / "fresh.txt").write_text("new\n", encoding="utf-8")
                old_second = await asyncio.wait_for(legacy_seen.get(), WAIT)
                new_second = await asyncio.wait_for(anext(aiter(stream)), WAIT)
            versions = (old.protocol_version, new.protocol_version)
    assert versions == ("2025-11-25", "2026-07-28")
    assert isinstance(old_first, types.ResourceUpdatedNotification)
    assert str(old_first.params.uri) == NOTES
    assert getattr(new_first, "uri", None) == NOTES
    # fresh.txt: no update for an unsubscribed URI, a list change for both
    assert isinstance(old_second, types.ResourceListChangedNotification)
    assert type(new_second).__name__ == "ResourcesListChanged"
    assert modern_bare == []  # nothing bare on a 2026 connection


async def test_a_2025_client_subscribed_by_another_spelling_of_the_uri_is_told_in_it(
    tmp_path: Path,
) -> None:
    # A client that builds the URI from the template itself may leave é unencoded or write
    # lower-case hex: the subscription is to the same file, and is told in its own spelling.
    project = make_project(tmp_path / "project")
    (project / "café.txt").write_text("1\n", encoding="utf-8")
    spellings = ["letswork://file/café.txt", "letswork://file/caf%c3%a9.txt"]
    updated: asyncio.Queue[str] = asyncio.Queue()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.put_nowait(str(message.params.uri))

    async with running_hub(project, watch=True) as hub:
        code = await invite_code(hub, "viewer", "vera")
        async with Client(
            channel_params("--name", "vera", code=code), mode="legacy", message_handler=on_message
        ) as client:
            await asyncio.wait_for(client.list_tools(), WAIT)
            for uri in spellings:
                with pytest.warns(MCPDeprecationWarning):
                    await client.session.subscribe_resource(uri)
            (project / "café.txt").write_text("2\n", encoding="utf-8")
            told = {await asyncio.wait_for(updated.get(), WAIT) for _ in spellings}
    assert told == set(spellings)
