"""hub/answering.py: the pace of a guest's replies and the refusal of one request too many.

The order of answers, the worker pools and the pacing of a real guest against the host are
held end to end in test_hub_loop_attacks.py and test_hub_event_loop.py.
"""

from __future__ import annotations

import pytest

from letswork.hub.answering import ReplyBudget, too_many_in_flight
from letswork.shared.errors import ErrorCode
from letswork.shared.limits import MAX_QUEUED_REQUESTS_PER_PEER
from letswork.shared.protocol.wire import Response, decode_incoming


def test_a_reply_budget_lets_two_seconds_worth_through_at_once() -> None:
    budget = ReplyBudget(rate=100.0)

    assert budget.spend(200, now=0.0) == 0.0
    assert budget.spend(1, now=0.0) == pytest.approx(0.01)


def test_a_reply_budget_overspent_waits_out_its_debt_at_its_rate() -> None:
    budget = ReplyBudget(rate=100.0)

    assert budget.spend(350, now=0.0) == pytest.approx(1.5)


def test_a_reply_budget_refills_at_its_rate_up_to_two_seconds_worth() -> None:
    budget = ReplyBudget(rate=100.0)
    budget.spend(200, now=0.0)

    assert budget.spend(50, now=0.5) == 0.0  # 50 refilled
    assert budget.spend(300, now=60.0) == pytest.approx(1.0)  # refilled to 200, not 5,950


def test_one_request_too_many_is_answered_rate_limited_with_its_id() -> None:
    reply = decode_incoming(too_many_in_flight(7))

    assert isinstance(reply, Response)
    assert (reply.id, reply.ok) == (7, False)
    assert reply.error is not None
    assert reply.error["code"] == ErrorCode.RATE_LIMITED
    assert str(MAX_QUEUED_REQUESTS_PER_PEER) in reply.error["message"]
    assert reply.error["data"]["retry_after"] == 1.0
