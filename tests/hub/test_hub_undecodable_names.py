"""Names that are not UTF-8 on the host's disk (issue 13, items 9-10, decode-level tricks): a
file named so does not stop the hub's file watcher (before, the watcher library's decoding error
ended it for the rest of the session, silently), and a project folder named so does not stop
every ``hello`` (before, the hub could not encode the project's name, and nobody got in)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tests.support.hubs import Client, make_project, running_hub


async def _heard(project: Path, guest: Client, name: str) -> bool:
    """Edit ``name`` until the guest hears of it (the watcher may be starting or restarting)."""
    for attempt in range(30):
        (project / name).write_text(f"host edit {attempt}\n", encoding="utf-8")
        try:
            await guest.wait_event("file_changed", lambda d: d["path"] == name, timeout=1)
            return True
        except asyncio.TimeoutError:
            continue
    return False


async def test_a_file_name_that_is_not_utf8_does_not_stop_the_file_watcher(
    project: Path,
) -> None:
    async with running_hub(project, watch=True) as fx:
        guest = await fx.guest("wanda", "viewer")
        assert await _heard(project, guest, "notes.txt")
        # Bytes 0xFF and 0xFE are not UTF-8: an archive or another tool can name a file so.
        fd = os.open(
            os.path.join(os.fsencode(project), b"bad\xff\xfe.txt"), os.O_CREAT | os.O_WRONLY
        )
        os.close(fd)
        assert await _heard(project, guest, "after.txt")
        listed = await guest.call("list_files", path="")
    assert all("bad" not in e["path"] for e in listed["entries"])  # not addressable: not listed


async def test_a_project_folder_whose_name_is_not_utf8_still_lets_everyone_in(
    tmp_path: Path,
) -> None:
    folder = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"proj\xff\xfe")))
    project = make_project(folder)
    async with running_hub(project) as fx:
        host = await fx.host()
        guest = await fx.guest("wanda", "viewer")
        status = await guest.call("status")
        listed = await host.call("list_files", path="")
    assert status["project"] == "proj\ufffd\ufffd"  # each byte that is not UTF-8 shows as U+FFFD
    assert any(e["path"] == "notes.txt" for e in listed["entries"])
