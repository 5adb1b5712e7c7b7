"""Round trips and dead links over a slow link (issue 15, item 5).

    python -m bench.slow_link [--rtt-ms 50] [--calls N] [--skip-dead]

netem is not in this kernel, so the slow link is in-process: a loopback TCP proxy
(:class:`tests.support.links.TcpLink`) that delays every byte by half the round-trip time in
each direction. A hub runs in this process on a small tree; everything is measured twice in
one run, through a link with ``--rtt-ms`` of delay and through the same proxy with none, and
the difference divided by the round-trip time is the figure, in round trips:

- ``connect``: ``HubConnection.connect()`` (TCP, WebSocket upgrade, handshake, ``hello``);
- ``request``: one ``read_file`` on a connected ``HubConnection``;
- ``channel_first_result``: a ``letswork channel`` subprocess under a real MCP client, from
  ``initialize`` answered to the first ``read_file`` result (the channel connects then);
- ``tool_call``: each later ``read_file`` through that channel.

Then, with the default limits and no delay:

- ``dead_link_noticed_s``: the link starts dropping every byte; seconds from a request to its
  failure (``STALL_PING_SECONDS`` + ``PONG_TIMEOUT_SECONDS``; the keepalive alone took
  22-42 s);
- ``hub_back_s``: the link refuses connections (a hub that is down) for 3 s, then forwards;
  seconds from forwarding to connected again.

Prints JSON. Timings are measurements, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import channel_args, env_for, hub_in_process, mcp_session
from letswork.client.connection import HubConnection
from letswork.shared.errors import TransportError
from tests.support.links import TcpLink, tcp_link

READ = {"path": "src/app.py"}


async def connection_round_trips(url: str, secret: bytes, calls: int) -> dict[str, float]:
    """Median seconds of a connect and of one request through ``url``."""
    connects, requests = [], []
    for i in range(5):
        conn = HubConnection(url, secret, name=f"bench{i}")
        t0 = time.perf_counter()
        await conn.connect()
        connects.append(time.perf_counter() - t0)
        for _ in range(calls // 5):
            t0 = time.perf_counter()
            await conn.request("read_file", READ)
            requests.append(time.perf_counter() - t0)
        await conn.close()
    return {"connect": statistics.median(connects), "request": statistics.median(requests)}


async def channel_round_trips(code: str, state: Path, calls: int) -> dict[str, float]:
    """Median seconds from ``initialize`` to the first result, and of a later tool call."""
    env = {**env_for(state), "LETSWORK_INVITE": code}
    firsts, later = [], []
    for i in range(3):
        async with mcp_session(channel_args("--name", f"ch{i}"), env) as guest:
            t0 = time.perf_counter()
            await guest.call("read_file", READ)
            firsts.append(time.perf_counter() - t0)
            for _ in range(calls // 3):
                t0 = time.perf_counter()
                await guest.call("read_file", READ)
                later.append(time.perf_counter() - t0)
    return {
        "channel_first_result": statistics.median(firsts),
        "tool_call": statistics.median(later),
    }


async def dead_link_noticed(link: TcpLink, secret: bytes) -> float:
    conn = HubConnection(link.url, secret, name="dead")
    await conn.connect()
    link.go_dead()
    t0 = time.perf_counter()
    with contextlib.suppress(TransportError):
        await conn.request("read_file", READ)
    took = time.perf_counter() - t0
    await conn.close()
    link.forward()
    return took


async def hub_back(link: TcpLink, secret: bytes) -> float:
    connected = asyncio.Event()
    conn = HubConnection(
        link.url,
        secret,
        name="back",
        on_state_change=lambda s: connected.set() if s == "connected" else connected.clear(),
    )
    runner = asyncio.create_task(conn.run_forever())
    await asyncio.wait_for(connected.wait(), 30)
    link.refuse()
    await asyncio.sleep(3.0)  # the outage being simulated, not a wait for an event
    connected.clear()
    link.forward()
    t0 = time.perf_counter()
    await asyncio.wait_for(connected.wait(), 60)
    took = time.perf_counter() - t0
    await conn.close()
    await runner
    return took


async def run(rtt: float, calls: int, skip_dead: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="letswork-slowlink-") as tmp:
        work = Path(tmp)
        project = work / "project"
        (project / "src").mkdir(parents=True)
        (project / "src" / "app.py").write_text("def main():\n    return 1\n" * 20, "utf-8")
        async with hub_in_process(project, work / "hub-state") as (hub, code):
            figures: dict[str, dict[str, float]] = {}
            for name, delay in (("slow", rtt / 2), ("fast", 0.0)):
                async with tcp_link(hub.local_url, delay=delay) as link:
                    via = code.with_url(link.url)
                    seconds = await connection_round_trips(link.url, via.secret, calls)
                    seconds |= await channel_round_trips(
                        via.format(), work / f"guest-{name}", calls
                    )
                    figures[name] = seconds
            out: dict[str, Any] = {
                "rtt_ms": rtt * 1000,
                "round_trips": {
                    k: round((figures["slow"][k] - figures["fast"][k]) / rtt, 2)
                    for k in figures["slow"]
                },
                "seconds": figures,
            }
            if not skip_dead:
                async with tcp_link(hub.local_url) as link:
                    dead = await dead_link_noticed(link, code.secret)
                    out["dead_link_noticed_s"] = round(dead, 2)
                    out["hub_back_s"] = round(await hub_back(link, code.secret), 2)
            return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.slow_link",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rtt-ms", type=float, default=50.0, help="round-trip time to add")
    parser.add_argument("--calls", type=int, default=30, help="requests and tool calls timed")
    parser.add_argument("--skip-dead", action="store_true", help="skip the dead-link figures")
    a = parser.parse_args(argv)
    result = asyncio.run(run(a.rtt_ms / 1000, max(a.calls, 5), a.skip_dead))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
