"""Rows a reconnect loop leaves in state.db (issue 13, item 6).

    python -m bench.admission_loop [--loops 300]

Runs a real hub on loopback port 0 with a fake clock (advanced past the knock limit between
knocks) and, for each of three loops, connects and disconnects ``--loops`` times, then prints the
rows the loop added to ``guests`` and ``audit``:

- ``waiting``: an invite holder knocking under a new name each time (the host never answers);
- ``auto-admit``: the same against ``--auto-admit`` (every hello is an admission);
- ``resume``: one admitted guest reconnecting with its resume credential.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path

from letswork.client.connection import HubConnection
from letswork.hub.app import HubConfig, RunningHub
from letswork.local import statedir
from letswork.shared import invite


class _Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _rows(hub: RunningHub) -> tuple[int, int]:
    with contextlib.closing(sqlite3.connect(hub.state.db_path)) as db:
        guests = db.execute("SELECT COUNT(*) FROM guests").fetchone()[0]
        audit = db.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    return int(guests), int(audit)


async def _loop(kind: str, loops: int, root: Path) -> tuple[int, int]:
    project = root / kind
    project.mkdir()
    (project / "a.txt").write_text("a\n", encoding="utf-8")
    clock = _Clock()
    hub = RunningHub(
        HubConfig(project=project, auto_admit=kind == "auto-admit", watch=False, clock=clock)
    )
    await hub.start()
    try:
        host_secret = statedir.read_secret_file(hub.state.host_key_path)
        host = HubConnection(hub.local_url, host_secret, name="host")
        await host.connect()
        made = await host.request("create_invite", {"role": "editor", "label": "loop"})
        secret = invite.parse(made["code"]).secret
        resume: list[bytes] = []
        if kind == "resume":
            first = HubConnection(hub.local_url, secret, name="r", on_resume_secret=resume.append)
            await first.connect()
            await host.request("admit", {"name": "r"})
            await first.wait_admitted(timeout=10)
            await first.close()
        await asyncio.sleep(0.2)  # let the set-up's disconnects land before counting
        before = _rows(hub)
        for i in range(loops):
            clock.now += 7.0  # past KNOCKS_PER_INVITE_PER_MINUTE
            use = resume[-1] if kind == "resume" else secret
            conn = HubConnection(hub.local_url, use, name=f"n{i}")
            await conn.connect()
            await conn.close()
        await asyncio.sleep(0.5)  # the last disconnects
        after = _rows(hub)
        await host.close()
    finally:
        await hub.stop()
    return after[0] - before[0], after[1] - before[1]


async def _main(loops: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[statedir.STATE_DIR_ENV] = str(Path(tmp) / "state")  # never the user's state
        for kind in ("waiting", "auto-admit", "resume"):
            guests, audit = await _loop(kind, loops, Path(tmp))
            print(f"{kind:>10}: {loops} connections added {guests} guest rows, {audit} audit rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=300)
    asyncio.run(_main(parser.parse_args().loops))


if __name__ == "__main__":
    main()
