"""The folder's index in a running hub (issue 15): built after listening, kept by the
watcher, and the same answers as walks."""

from __future__ import annotations

import asyncio
from pathlib import Path

from letswork.hub.workspace import Workspace
from letswork.hub.workspace.disk import TEMP_PREFIX
from tests.support.hubs import running_hub


async def test_the_watcher_keeps_the_index_and_answers_equal_walks(project: Path) -> None:
    (project / "sub").mkdir()
    (project / "sub" / ".gitignore").write_text("hidden.py\n")
    (project / "sub" / "hidden.py").write_text("x = 1\n")
    async with running_hub(project, watch=True) as fx:
        await asyncio.wait_for(fx.hub.index_ready.wait(), 30)
        ws = fx.hub.core.workspace if fx.hub.core is not None else None
        assert ws is not None and ws.index is not None and ws.index.ready
        guest = await fx.guest("ina", "viewer")
        (project / "sub" / "new.py").write_text("y = 2\n")
        (project / "sub" / "secret.py").write_text("z = 3\n")
        (project / "sub" / ".gitignore").write_text("hidden.py\nsecret.py\n")
        await guest.wait_event("file_changed", lambda d: d["path"] == "sub/new.py", timeout=10)
        await guest.wait_event("file_changed", lambda d: d["path"] == "sub/.gitignore", timeout=10)
        found = await guest.call("find_files", glob="*.py")
        assert "sub/new.py" in found["paths"] and "sub/secret.py" not in found["paths"]
        walked, truncated = Workspace(project).find_files("*.py", is_host=False)
        assert found == {"paths": walked, "truncated": truncated}
        listed = await guest.call("list_files", path="", recursive=True)
        entries, _ = Workspace(project).list_files("", recursive=True, is_host=False)
        assert [e["path"] for e in listed["entries"]] == [e.path for e in entries]


async def test_leftover_temp_files_are_removed_after_listening(project: Path) -> None:
    left = project / "src" / f"{TEMP_PREFIX}crashed"
    left.write_text("half a write")
    async with running_hub(project, watch=True) as fx:
        await asyncio.wait_for(fx.hub.index_ready.wait(), 30)
        assert not left.exists()


async def test_leftover_temp_files_are_removed_without_a_watcher(project: Path) -> None:
    left = project / "src" / f"{TEMP_PREFIX}crashed"
    left.write_text("half a write")
    async with running_hub(project, watch=False) as fx:
        assert fx.hub._after_listen is not None
        await fx.hub._after_listen
        assert not left.exists()
