"""The message tools (``channel/tools/messages.py``): their texts, and messages through real
channels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from letswork.channel.tools.base import MAX_RESULT_CHARS, ToolContext
from letswork.channel.tools.catalogue import TOOLS
from letswork.shared.protocol.messages import GetMessagesResult
from tests.channel.mcp_support import (
    event_named,
    invite_code,
    joined,
    mcp_channel,
    number_in,
    observer,
)
from tests.support.hubs import make_project, running_hub

CTX = ToolContext(me="alice", role="editor", link="connected")


def _message(id: int, body: str, **extra: Any) -> dict[str, Any]:
    return {"id": id, "type": "chat", "sender": "bob", "body": body, "created_at": 1.0, **extra}


def test_a_message_too_long_for_one_result_is_shown_cut_and_paging_moves_past_it() -> None:
    result = GetMessagesResult(
        # every zero-width space becomes a marker: far longer than a result once cleaned
        messages=[_message(1, "\u200bx" * 8_192, read=False), _message(2, "next", read=False)],
        has_more=False,
    )
    text = TOOLS["get_messages"].render(result, {}, CTX)
    assert len(text) < MAX_RESULT_CHARS + 500
    assert "message #1 is cut" in text
    assert "1 more message did not fit in this result: call get_messages since_id=1" in text


async def test_a_directed_message_is_pushed_to_its_target_and_listed_by_get_messages(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        watcher = await observer(hub)
        alice_code = await invite_code(hub, "editor", "alice")
        bob_code = await invite_code(hub, "viewer", "bob")
        async with (
            mcp_channel("--name", "alice", invite_code=alice_code) as alice,
            mcp_channel("--name", "bob", invite_code=bob_code) as bob,
        ):
            await joined(watcher, "alice")
            await joined(watcher, "bob")
            sent = await alice.ok(
                "send_message",
                {"to": "bob", "type": "question", "body": "Which port does the API use?"},
            )
            note = await bob.pushes.wait(event_named("message"))
            listed = await bob.ok("get_messages")
            again = await bob.ok("get_messages")
            # Events reach one connection in order: once the watcher has this broadcast, it
            # would already hold the directed message had it been sent to it.
            await alice.ok("send_message", {"body": "marker"})
            await watcher.wait_event("message", lambda d: d["message"]["body"] == "marker")
    message_id = number_in(r"Sent message #(\d+) \(question\) to bob", sent)
    assert "bob is online" in sent
    assert note.content == (
        f"alice to you (question, message #{message_id}): Which port does the API use?"
    )
    assert note.meta["from"] == "alice"
    assert note.meta["to"] == "bob"
    assert note.meta["type"] == "question"
    assert note.meta["message_id"] == str(message_id)
    assert f"#{message_id} [question] alice to you" in listed
    assert "(unread)" in listed and "  Which port does the API use?" in listed
    assert again.startswith("No unread messages.")
    assert [e.data["message"]["body"] for e in watcher.events if e.name == "message"] == ["marker"]
