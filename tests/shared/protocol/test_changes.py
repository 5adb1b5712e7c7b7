"""The changes group's models: a decided change is never pending, a diff may be left out."""

from __future__ import annotations

import pytest

from letswork.shared.errors import ProtocolError
from letswork.shared.protocol.changes import ChangeInfo
from letswork.shared.protocol.wire import parse_event_data
from tests.shared.protocol.examples import CHANGE


def test_change_decided_rejects_a_pending_change() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_event_data("change_decided", {"change": CHANGE})
    assert info.value.data == {"reason": "bad_value", "field": "data"}


def test_change_info_diff_may_be_omitted() -> None:
    change = ChangeInfo.model_validate({k: v for k, v in CHANGE.items() if k != "diff"})
    assert change.diff is None
