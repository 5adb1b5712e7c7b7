"""Progress notifications for long calls (issue 18): a client that passes a progressToken with
a search of a big tree gets ``notifications/progress`` for it, at each protocol version; one
that passes none gets none. The helper's ticks are checked with a session double."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp.client.client import Client

from letswork.channel.progress import Progress
from tests.channel.mcp_support import WAIT, invite_code
from tests.channel.test_channel_listen import channel_params
from tests.support.hubs import make_project, running_hub


def _big_tree(root: Path) -> Path:
    project = make_project(root)
    for folder in range(20):
        sub = project / "big" / f"d{folder:02}"
        sub.mkdir(parents=True)
        for n in range(50):
            (sub / f"f{n:02}.txt").write_text(f"needle {folder} {n}\n" * 20, encoding="utf-8")
    return project


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_search_of_a_big_tree_sends_progress_to_a_client_that_passed_a_token(
    tmp_path: Path, mode: str
) -> None:
    project = _big_tree(tmp_path / "project")
    seen: list[tuple[float, float | None, str | None]] = []
    notified: list[Any] = []  # every progress notification, whichever call it was for

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ProgressNotification):
            notified.append(message)

    async with running_hub(project) as hub:
        code = await invite_code(hub, "viewer", "vera")
        async with Client(
            channel_params("--name", "vera", code=code), mode=mode, message_handler=on_message
        ) as client:  # type: ignore[arg-type]
            version = client.protocol_version
            found = await asyncio.wait_for(
                client.call_tool(
                    "search_files", {"pattern": "needle"}, progress_callback=on_progress
                ),
                WAIT,
            )
            before_plain = len(notified)  # the first call's all came before its result
            plain = await asyncio.wait_for(client.call_tool("search_files", {"pattern": "x"}), WAIT)
    assert version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
    assert found.is_error is False and plain.is_error is False
    assert len(seen) >= 2
    assert seen[0][2] == "search_files: started"
    values = [progress for progress, _, _ in seen]
    assert values == sorted(set(values))  # only grows
    last = seen[-1]
    assert last[1] == last[0]  # total given once done
    assert last[2] is not None and last[2].startswith("search_files: done")
    assert len(notified) == before_plain == len(seen)  # the call with no token got none


class _Session:
    """Records progress notifications; ``ticked`` is set once one while-working one came."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, float | None, str | None]] = []
        self.ticked = asyncio.Event()

    async def send_progress_notification(
        self, token: Any, progress: float, total: float | None = None, message: str | None = None,
        related_request_id: str | None = None,
    ) -> None:  # fmt: skip
        self.sent.append((progress, total, message))
        if message is not None and "working" in message:
            self.ticked.set()


async def test_a_call_still_running_after_an_interval_sends_a_notification_each_interval() -> None:
    session = _Session()
    progress = Progress(session, "tok", 7, interval=0.001, clock=lambda: 0.0)  # type: ignore[arg-type]
    assert Progress.current() is None
    async with progress.around("get_run"):
        await asyncio.wait_for(session.ticked.wait(), WAIT)
        current = Progress.current()
        assert current is not None
        await current.step("get_run: 12 lines of output")
    assert Progress.current() is None
    messages = [m for _, _, m in session.sent]
    assert messages[0] == "get_run: started"
    assert "get_run: working (0 s)" in messages
    assert "get_run: 12 lines of output" in messages
    assert messages[-1] == "get_run: done (0.0 s)"
    assert [p for p, _, _ in session.sent] == list(range(1, len(session.sent) + 1))
    assert session.sent[-1][1] == session.sent[-1][0]
