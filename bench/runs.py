"""What a run flooding its output costs everyone else (issue 17), as a ratio within one run.

    python -m bench.runs [--pings 400] [--mib 64]

A real hub on loopback; the host's ``ping`` round trip (median and 95th percentile, in ms) is
timed with no run, then while an ``auto`` command writes ``--mib`` MiB to its stdout as fast as
it can (the hub reads the pipe on the event loop, keeps the head and tail, and sends at most
one ``run_updated`` a second). The ratio of the two is the cost; timings are measurements,
never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from letswork.client.connection import HubConnection
from letswork.hub.app import HubConfig, RunningHub
from letswork.local import statedir
from letswork.shared.limits import Limits


async def _pings(conn: HubConnection, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await conn.request("ping", {})
        times.append((time.perf_counter() - start) * 1000)
    return times


def _summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


async def _bench(root: Path, pings: int, mib: int) -> None:
    project = root / "project"
    project.mkdir()
    code = (
        "import sys\nchunk = b'x' * 65535 + b'\\n'\n"
        f"for _ in range({mib * 16}):\n    sys.stdout.buffer.write(chunk)\n"
    )
    (project / "flood.py").write_text(code, encoding="utf-8")
    (project / "letswork.toml").write_text(
        f"[commands.flood]\nrun = [{sys.executable!r}, 'flood.py']\napproval = 'auto'\n",
        encoding="utf-8",
    )
    limits = Limits(rate_burst=1_000_000, rate_per_second=1_000_000.0)  # pings unpaced
    hub = RunningHub(HubConfig(project=project, watch=False, limits=limits))
    await hub.start()
    try:
        host = HubConnection(
            hub.local_url, statedir.read_secret_file(hub.state.host_key_path), name="host"
        )
        await host.connect()
        await _pings(host, 50)  # warm up
        idle = _summary(await _pings(host, pings))
        started = time.perf_counter()
        run = (await host.request("run_command", {"name": "flood"}))["run"]
        during: list[float] = []
        while (await host.request("get_run", {"id": run["id"]}))["run"]["state"] == "running":
            during += await _pings(host, 20)  # for as long as the flood lasts
        took = time.perf_counter() - started
        busy = _summary(during)
        print(f"ping idle:        median {idle[0]:.3f} ms, p95 {idle[1]:.3f} ms")
        print(f"ping during flood: median {busy[0]:.3f} ms, p95 {busy[1]:.3f} ms")
        print(f"ratio (median):    {busy[0] / idle[0]:.2f}x; p95 {busy[1] / idle[1]:.2f}x")
        print(
            f"the run's {mib} MiB read in {took:.2f} s ({mib / took:.0f} MiB/s), "
            f"{len(during)} pings meanwhile"
        )
        await host.close()
    finally:
        await hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pings", type=int, default=400)
    parser.add_argument("--mib", type=int, default=64)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[statedir.STATE_DIR_ENV] = str(Path(tmp) / "state")  # never the user's state
        asyncio.run(_bench(Path(tmp), ns.pings, ns.mib))


if __name__ == "__main__":
    main()
