"""The shared variable tools through real channels (``channel/tools/variables.py``)."""

from __future__ import annotations

from pathlib import Path

from tests.channel.mcp_support import (
    event_named,
    invite_code,
    joined,
    mcp_channel,
    observer,
)
from tests.support.hubs import make_project, running_hub


async def test_set_var_and_get_var_share_a_value_through_tools(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        watcher = await observer(hub)
        alice_code = await invite_code(hub, "editor", "alice")
        vera_code = await invite_code(hub, "viewer", "vera")
        async with (
            mcp_channel("--name", "alice", invite_code=alice_code) as alice,
            mcp_channel("--name", "vera", invite_code=vera_code) as vera,
        ):
            await joined(watcher, "alice")
            await joined(watcher, "vera")
            set_text = await alice.ok(
                "set_var", {"key": "api.base_url", "value": "http://localhost:8080"}
            )
            note = await vera.pushes.wait(event_named("var_changed"))
            one = await vera.ok("get_var", {"key": "api.base_url"})
            every = await vera.ok("get_var", {"key": "*"})
            missing = await vera.call("get_var", {"key": "nope"})
    assert set_text.startswith("Set the shared variable api.base_url (21 bytes).")
    assert note.content == "alice set the shared variable api.base_url = http://localhost:8080"
    assert note.meta["key"] == "api.base_url" and note.meta["deleted"] == "false"
    assert one.startswith("Shared variable api.base_url (21 bytes), set by alice at ")
    assert one.endswith("follows:\nhttp://localhost:8080")
    assert "- api.base_url = http://localhost:8080 (by alice)" in every
    assert missing.is_error and missing.text.startswith("not_found: no variable 'nope'")
