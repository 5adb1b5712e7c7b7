"""The task board tools through real channels (``channel/tools/tasks.py``)."""

from __future__ import annotations

from pathlib import Path

from tests.channel.mcp_support import (
    invite_code,
    joined,
    mcp_channel,
    number_in,
    observer,
)
from tests.support.hubs import make_project, running_hub


async def test_the_task_board_flow_add_claim_update_done_works_through_tools(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        watcher = await observer(hub)
        code = await invite_code(hub, "editor", "alice")
        async with (
            mcp_channel("--name", "alice", invite_code=code) as alice,
            mcp_channel("--host", "--project", str(project)) as host,
        ):
            await joined(watcher, "alice")
            added = await alice.ok(
                "add_task",
                {"title": "Write the parser", "priority": "high", "description": "parse.py"},
            )
            first = number_in(r"Added task #(\d+)\.", added)
            follow = await host.ok("add_task", {"title": "Ship it", "depends_on": [first]})
            second = number_in(r"Added task #(\d+)\.", follow)
            claimed = await alice.ok("claim_task", {"id": first})
            started = await alice.ok("update_task", {"id": first, "status": "in_progress"})
            done = await alice.ok(
                "update_task", {"id": first, "status": "done", "note": "parse.py, 12 tests"}
            )
            pushed = await host.pushes.wait(
                lambda n: n.meta.get("event") == "task_updated" and n.meta.get("status") == "done"
            )
            unblocked = await alice.pushes.wait(
                lambda n: (
                    n.meta.get("event") == "task_updated" and n.meta.get("change") == "unblocked"
                )
            )
            board = await host.ok("board")
            shown = await alice.ok("get_task", {"id": first})
    assert f"It opens by itself when #{first} is done." in follow
    assert f"Task #{first} is yours." in claimed
    assert f"Task #{first} is now in progress." in started
    assert f"Task #{first} is now done." in done
    assert pushed.content == (
        f'alice set task #{first} "Write the parser" to done; note: parse.py, 12 tests'
    )
    assert pushed.meta["by"] == "alice" and pushed.meta["task_id"] == str(first)
    assert unblocked.content == (
        f'task #{second} "Ship it" is unblocked: the tasks it depends on are done; '
        "claim_task takes it"
    )
    assert "Task board: 2 tasks (1 open, 1 done)" in board
    assert f"Done (1):\n- #{first} Write the parser (high, assigned to alice)" in board
    assert "    note: parse.py, 12 tests" in board
    assert f"Open (1):\n- #{second} Ship it" in board
    assert "Status: done, assigned to alice · priority high" in shown
    assert "Description:\n  parse.py" in shown
