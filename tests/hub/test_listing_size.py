"""The size the hub's listings are cut by (``MAX_LISTING_BYTES``) is the byte count of the
item's JSON as before issue 14's re-cut, now made by pydantic-core in one call."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from letswork.hub.state import dump, json_size
from letswork.shared.protocol.base import WireModel
from letswork.shared.protocol.messages import MessageInfo
from letswork.shared.protocol.tasks import TaskInfo
from letswork.shared.protocol.variables import VarInfo
from tests.shared.protocol.examples import MESSAGE, TASK, VAR

TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
#: The hub's timestamps: its clock, so 0 or far above 1e-4, below the year 9999. (Below 1e-4
#: Python writes 6.1e-05 and pydantic-core 6.1e-5: a byte apart, never a hub's time.)
STAMP = st.just(0.0) | st.floats(1e-4, 253_402_300_799.0)


def old_size(model: WireModel) -> int:
    """What the hub measured before: ``json.dumps`` of the dump, compact, UTF-8."""
    return len(json.dumps(dump(model), ensure_ascii=False, separators=(",", ":")).encode())


def check(cls: type[WireModel], data: dict[str, Any]) -> None:
    try:
        model = cls.model_validate(data)
    except ValidationError:
        return  # not a valid item: the hub never lists one
    assert json_size(model) == old_size(model)


@settings(max_examples=300, deadline=None)
@given(title=TEXT, description=TEXT, note=TEXT | st.none(), at=STAMP)
def test_a_tasks_listing_size_is_its_json_byte_count(
    title: str, description: str, note: str | None, at: float
) -> None:
    data = {**TASK, "title": title, "description": description, "created_at": at}
    check(TaskInfo, data if note is None else {**data, "note": note})


@settings(max_examples=300, deadline=None)
@given(body=TEXT, at=STAMP)
def test_a_messages_listing_size_is_its_json_byte_count(body: str, at: float) -> None:
    check(MessageInfo, {**MESSAGE, "body": body, "created_at": at})


@settings(max_examples=300, deadline=None)
@given(value=TEXT, at=STAMP)
def test_a_variables_listing_size_is_its_json_byte_count(value: str, at: float) -> None:
    check(VarInfo, {**VAR, "value": value, "size": len(value.encode()), "updated_at": at})


def test_the_size_of_an_item_with_hostile_text_is_its_json_byte_count() -> None:
    hostile = '</b>\x1b[31m\u202e\u2028\x00"\\é😀'
    model = VarInfo.model_validate({**VAR, "value": hostile, "size": len(hostile.encode())})
    assert json_size(model) == old_size(model)
