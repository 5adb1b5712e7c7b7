"""A hub in a process of its own that can report its asyncio task count (for the soak test).

``python -m tests.reliability.hub_child PROJECT [--behind-tunnel]`` runs :class:`RunningHub`
(what ``letswork start`` runs, file watcher included, without the tunnel and the dashboard) with
auto-admit, prints one JSON line ``{"url", "host_url", "invite", "pid"}``, then prints
``{"tasks": n, "stats": {...}}`` each time it gets SIGUSR1. SIGTERM stops it. The test reads
memory and file descriptors from ``/proc``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from letswork.hub.app import HubConfig, RunningHub


async def main(project: Path, behind_tunnel: bool = False) -> None:
    hub = RunningHub(HubConfig(project=project, auto_admit=True, behind_tunnel=behind_tunnel))
    await hub.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def tasks() -> None:
        stats = hub.server.stats if hub.server is not None else {}
        print(json.dumps({"tasks": len(asyncio.all_tasks()), "stats": stats}), flush=True)

    loop.add_signal_handler(signal.SIGUSR1, tasks)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(
        json.dumps(
            {
                "url": hub.local_url,
                "host_url": hub.host_url,
                "invite": hub.first_invite,
                "pid": os.getpid(),
            }
        ),
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await hub.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), behind_tunnel="--behind-tunnel" in sys.argv[2:]))
