"""The tasks group over real connections: the task board, plans and dependencies, claims."""

from __future__ import annotations

from typing import Any

import pytest

from letswork.shared.errors import ErrorCode, OpError
from tests.hub.ops.helpers import error_code, task_changed
from tests.support.hubs import HubFixture

# ---------------------------------------------------------------------------- task board


async def test_a_dependency_chain_unblocks_in_order(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    watcher = await hub.guest("bob")
    a = (await alice.call("add_task", title="A"))["task"]
    b = (await alice.call("add_task", title="B", depends_on=[a["id"]]))["task"]
    c = (await alice.call("add_task", title="C", depends_on=[b["id"]]))["task"]
    assert [a["status"], b["status"], c["status"]] == ["open", "blocked", "blocked"]
    assert c["waiting_on"] == [b["id"]]
    assert (
        await error_code(alice.call("update_task", id=b["id"], status="done")) == ErrorCode.INVALID
    )

    await alice.call("update_task", id=a["id"], status="done", note="shipped")
    unblocked_b = await task_changed(watcher, b["id"], "unblocked")
    assert unblocked_b.data["task"]["status"] == "open"
    assert "by" not in unblocked_b.data  # the hub did it; null fields are left out
    board = await alice.call("board")
    assert [t["title"] for t in board["done"]] == ["A"]
    assert [t["title"] for t in board["open"]] == ["B"]
    assert [t["title"] for t in board["blocked"]] == ["C"]

    await alice.call("claim_task", id=b["id"])
    await alice.call("update_task", id=b["id"], status="in_progress")
    await alice.call("update_task", id=b["id"], status="done")
    unblocked_c = await task_changed(watcher, c["id"], "unblocked")
    assert unblocked_c.data["task"]["waiting_on"] == []
    board = await alice.call("board")
    assert [t["title"] for t in board["done"]] == ["A", "B"]
    assert [t["title"] for t in board["open"]] == ["C"]


async def test_a_plan_with_a_dependency_cycle_is_refused(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    tasks = [
        {"key": "a", "title": "A", "depends_on": ["c"]},
        {"key": "b", "title": "B", "depends_on": ["a"]},
        {"key": "c", "title": "C", "depends_on": ["b"]},
    ]
    with pytest.raises(OpError) as info:
        await alice.call("plan", tasks=tasks)
    assert info.value.code == ErrorCode.INVALID
    assert "cycle" in info.value.message
    assert (await alice.call("board"))["total"] == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"key": "x", "title": "depends on a missing task", "depends_on": [999]},
        {"key": "x", "title": "depends on an unknown key", "depends_on": ["nope"]},
        {"key": "x", "title": "   "},
        {"key": "x", "title": "for a viewer", "assignee": "vera"},
        {"key": "a", "title": "a second 'a'"},
    ],
)
async def test_a_plan_with_one_invalid_task_creates_none(
    hub: HubFixture, bad: dict[str, Any]
) -> None:
    alice = await hub.guest("alice")
    await hub.guest("vera", "viewer")
    tasks = [
        {"key": "a", "title": "A"},
        {"key": "b", "title": "B", "depends_on": ["a"], "assignee": "alice"},
        bad,
    ]
    with pytest.raises(OpError):
        await alice.call("plan", tasks=tasks)
    assert (await alice.call("board"))["total"] == 0


async def test_a_plan_creates_tasks_with_assignees_and_dependencies(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    await hub.guest("bob")
    done = (await alice.call("add_task", title="already done"))["task"]["id"]
    await alice.call("update_task", id=done, status="done")
    result = await alice.call(
        "plan",
        tasks=[
            {"key": "test", "title": "Test", "depends_on": ["impl"], "priority": "high"},
            {"key": "impl", "title": "Implement", "assignee": "bob", "depends_on": [done]},
        ],
    )
    test, impl = result["tasks"]
    assert result["ids"] == {"test": test["id"], "impl": impl["id"]}
    assert (impl["status"], impl["assignee"]) == ("claimed", "bob")
    assert (test["status"], test["depends_on"]) == ("blocked", [impl["id"]])


async def test_a_non_assignee_guest_cannot_update_a_claimed_task(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    bob = await hub.guest("bob")
    host = await hub.host()
    task = (await alice.call("add_task", title="mine"))["task"]
    claimed = await alice.call("claim_task", id=task["id"])
    assert (claimed["task"]["status"], claimed["task"]["assignee"]) == ("claimed", "alice")
    for op, args in (
        ("update_task", {"status": "done"}),
        ("update_task", {"note": "hijack"}),
        ("unclaim_task", {}),
        ("claim_task", {}),
    ):
        assert await error_code(bob.call(op, id=task["id"], **args)) == ErrorCode.FORBIDDEN
    assert (await bob.call("get_task", id=task["id"]))["task"]["assignee"] == "alice"
    forced = await host.call("update_task", id=task["id"], status="failed", note="host says no")
    assert (forced["task"]["status"], forced["task"]["assignee"]) == ("failed", "alice")


async def test_unclaiming_gives_the_task_back_to_the_board(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    bob = await hub.guest("bob")
    task = (await alice.call("add_task", title="t"))["task"]
    await alice.call("claim_task", id=task["id"])
    back = await alice.call("unclaim_task", id=task["id"])
    assert (back["task"]["status"], back["task"].get("assignee")) == ("open", None)
    taken = await bob.call("claim_task", id=task["id"])
    assert taken["task"]["assignee"] == "bob"


async def test_a_kicked_guests_claims_go_back_to_the_board(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    host = await hub.host()
    task = (await alice.call("add_task", title="t"))["task"]
    await alice.call("claim_task", id=task["id"])
    await host.call("kick", name="alice")
    released = await task_changed(host, task["id"], "released")
    assert released.data["task"]["status"] == "open"
    assert (await host.call("get_task", id=task["id"]))["task"].get("assignee") is None


async def test_a_title_over_200_characters_is_too_large(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    assert await error_code(alice.call("add_task", title="x" * 201)) == ErrorCode.TOO_LARGE
