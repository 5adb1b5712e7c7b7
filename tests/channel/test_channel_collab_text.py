"""What the collaboration tools and notes say, from hub results and events alone."""

from __future__ import annotations

from typing import Any

from letswork.channel.events import describe_event
from letswork.channel.tools.base import MAX_RESULT_CHARS, ToolContext
from letswork.channel.tools.catalogue import TOOLS
from letswork.shared.protocol.messages import GetMessagesResult
from letswork.shared.protocol.wire import Event

CTX = ToolContext(me="alice", role="editor", link="connected")


def _message(id: int, body: str, **extra: Any) -> dict[str, Any]:
    return {"id": id, "type": "chat", "sender": "bob", "body": body, "created_at": 1.0, **extra}


def _note(name: str, data: dict[str, Any], me: str = "alice") -> str | None:
    note = describe_event(Event(name, 7, data), seq=1, me=me, role="editor", now=2.0)
    return None if note is None else note.content


def _task(**extra: Any) -> dict[str, Any]:
    task = {
        "id": 3,
        "title": "Ship it",
        "description": "",
        "priority": "normal",
        "status": "open",
        "depends_on": [],
        "waiting_on": [],
        "created_by": "bob",
        "created_at": 1.0,
        "updated_at": 1.0,
    }
    return {**task, **extra}


def test_a_message_too_long_for_one_result_is_shown_cut_and_paging_moves_past_it() -> None:
    result = GetMessagesResult(
        messages=[_message(1, "&" * 16_384, read=False), _message(2, "next", read=False)],
        has_more=False,
    )
    text = TOOLS["get_messages"].render(result, {}, CTX)
    assert len(text) < MAX_RESULT_CHARS + 500
    assert "message #1 is cut" in text
    assert "1 more message did not fit in this result: call get_messages since_id=1" in text


def test_a_long_message_body_is_cut_in_its_note_and_points_to_get_messages() -> None:
    content = _note("message", {"message": _message(4, "word " * 200, to="alice")})
    assert content is not None
    assert content.startswith("bob to you (chat, message #4): word word")
    assert content.endswith("… (get_messages shows it whole)")
    assert len(content) < 400


def test_a_peers_own_task_message_and_variable_changes_are_not_announced_to_it() -> None:
    assert _note("task_updated", {"task": _task(), "change": "added", "by": "alice"}) is None
    assert _note("message", {"message": _message(1, "hi")}, me="bob") is None
    var = {"key": "k", "value": "v", "deleted": False, "by": "alice", "at": 1.0}
    assert _note("var_changed", var) is None


def test_read_receipts_are_not_announced() -> None:
    receipt = {"message_id": 1, "recipient": "bob", "status": "read", "at": 1.0}
    assert _note("message_receipt", receipt) is None


def test_a_task_released_by_the_hub_is_announced_without_an_author() -> None:
    content = _note("task_updated", {"task": _task(), "change": "released"})
    assert content == 'task #3 "Ship it" is back on the board: its assignee left'
