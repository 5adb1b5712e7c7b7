"""Bytes a reply carries, before and after the reader says how much it shows (issue 15).

    python -m bench.reply_bytes

A hub runs in this process on a small tree; one connection asks each thing twice, the way a
channel before issue 15 asked it and the way it asks now, and the figure is the size of the
reply's JSON (what the record carries; encryption adds a fixed 16-byte tag and framing):

- ``read_first_page``: ``read_file`` of a 1 MiB file of 66-character lines, 2,000 lines
  (the channel's default), without and with ``max_chars`` = the channel's 60,000;
- ``read_cached_page``: the same for a page in the middle, once the file is in the page cache;
- ``read_wide_line``: the first page of a 1 MiB file of one line, which the channel shows only
  the start of;
- ``write_new_1mib``: a guest's ``write_file`` of a new 1 MiB file (queued for the host),
  without and with ``diff_head`` = the channel's 16,000;
- ``write_replace_1mib``: the host's ``write_file`` that replaces every line of a 1 MiB file
  (applied at once: the diff is 2 MiB).

Prints JSON. Sizes are deterministic for a given version.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from letswork.channel.tools.changes import REPLY_DIFF_HEAD_CHARS
from letswork.channel.tools.files import DEFAULT_READ_LIMIT, MAX_READ_CHARS
from letswork.client.connection import HubConnection
from letswork.hub.app import HubConfig, RunningHub
from letswork.hub.workspace import pages
from letswork.local import statedir
from letswork.shared import invite
from letswork.shared.limits import Limits

MIB = 1 << 20
LINE = "x" * 66 + "\n"


def _size(result: dict[str, Any]) -> int:
    return len(json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


async def _pair(
    conn: HubConnection, op: str, args: dict[str, Any], extra: dict[str, Any]
) -> dict[str, int]:
    before = _size(await conn.request(op, args))
    after = _size(await conn.request(op, {**args, **extra}))
    return {"before": before, "after": after}


async def measure(project: Path, url: str, secret: bytes, host_secret: bytes) -> dict[str, Any]:
    (project / "big.txt").write_text(LINE * (MIB // len(LINE)), "utf-8")
    (project / "wide.txt").write_text("w" * (MIB - 1) + "\n", "utf-8")
    (project / "old.txt").write_text(LINE * (MIB // len(LINE)), "utf-8")
    budget = {"max_chars": MAX_READ_CHARS}
    out: dict[str, Any] = {}
    conn = HubConnection(url, secret, name="bench")
    await conn.connect()
    try:
        page = {"path": "big.txt", "limit": DEFAULT_READ_LIMIT}
        out["read_first_page"] = await _pair(conn, "read_file", page, budget)
        out["read_cached_page"] = await _pair(conn, "read_file", {**page, "offset": 5000}, budget)
        out["read_wide_line"] = await _pair(conn, "read_file", {"path": "wide.txt"}, budget)
        content = LINE * (MIB // len(LINE))
        before = _size(await conn.request("write_file", {"path": "n1.txt", "content": content}))
        after = _size(
            await conn.request(
                "write_file",
                {"path": "n2.txt", "content": content, "diff_head": REPLY_DIFF_HEAD_CHARS},
            )
        )
        out["write_new_1mib"] = {"before": before, "after": after}
    finally:
        await conn.close()
    host = HubConnection(url, host_secret, name="host")
    await host.connect()
    try:
        replaced = ("y" * 66 + "\n") * (MIB // len(LINE))
        before = _size(await host.request("write_file", {"path": "old.txt", "content": replaced}))
        again = ("z" * 66 + "\n") * (MIB // len(LINE))
        after = _size(
            await host.request(
                "write_file",
                {"path": "old.txt", "content": again, "diff_head": REPLY_DIFF_HEAD_CHARS},
            )
        )
        out["write_replace_1mib"] = {"before": before, "after": after}
    finally:
        await host.close()
    for figure in out.values():
        figure["saved"] = figure["before"] - figure["after"]
    return out


async def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="letswork-replybytes-") as tmp:
        work = Path(tmp)
        project = work / "project"
        project.mkdir()
        os.environ["LETSWORK_STATE_DIR"] = str(work / "hub-state")
        pages.SETTLE_SECONDS = 0.0  # the files were written a moment ago: cache them at once
        hub = RunningHub(
            HubConfig(
                project=project,
                watch=False,
                auto_admit=True,
                limits=Limits(rate_per_second=1000, rate_burst=10**6),
            )
        )
        await hub.start()
        try:
            assert hub.first_invite is not None
            code = invite.parse(hub.first_invite)
            host_secret = statedir.read_secret_file(hub.state.host_key_path)
            return await measure(project, hub.local_url, code.secret, host_secret)
        finally:
            await hub.stop()


def main() -> None:
    print(json.dumps(asyncio.run(run()), indent=2))


if __name__ == "__main__":
    main()
