"""Round trips and dead links over a slow link (issue 15, item 5).

    python -m bench.slow_link [--rtt-ms 50] [--calls N] [--skip-dead]

netem is not in this kernel, so the slow link is in-process: a loopback TCP proxy
(:class:`tests.support.links.TcpLink`) that delays every byte by half the round-trip time in
each direction. A hub runs in this process on a small tree; everything is measured three
times in one run, through links that add ``--rtt-ms`` of round-trip time (``slow``), twice
that (``slower``), and none (``fast``, the same proxy). The figure, in round trips, is the
slope: (``slower`` - ``slow``) / RTT, so the local work (crypto, the hub's admission write,
the channel storing its resume credential, building the tool list), which the processes may
overlap differently with no delay at all, cancels out. ``round_trips_over_no_delay`` is the
older figure, (``slow`` - ``fast``) / RTT, which is off by that overlap, mostly for the
channel (three processes on two CPUs):

- ``connect``: ``HubConnection.connect()`` (TCP, WebSocket upgrade, handshake, ``hello``);
- ``connect_first_result``: ``connect()`` with a ``read_file`` made at once with
  ``early=True`` (sent right behind ``hello``), until that result;
- ``request``: one ``read_file`` on a connected ``HubConnection``;
- ``channel_first_result``: a ``letswork channel`` subprocess under a real MCP client, from
  ``initialize`` answered to the first ``read_file`` result (the channel starts connecting
  when it starts, and its first call joins that attempt; seven channels a link, the links
  taking turns);
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
    """Median seconds of a connect, of a connect with a request sent behind ``hello``, and
    of one request through ``url``."""
    connects, firsts, requests = [], [], []
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
        cold = HubConnection(url, secret, name=f"cold{i}")
        t0 = time.perf_counter()
        # gather starts connect() first, so the request joins it.
        await asyncio.gather(cold.connect(), cold.request("read_file", READ, early=True))
        firsts.append(time.perf_counter() - t0)
        await cold.close()
    return {
        "connect": statistics.median(connects),
        "connect_first_result": statistics.median(firsts),
        "request": statistics.median(requests),
    }


async def channel_round_trips(
    codes: dict[str, str], work: Path, calls: int, rounds: int = 7
) -> dict[str, dict[str, float]]:
    """Per link name of ``codes`` (its invite code): median seconds from ``initialize`` to
    the first result, and of a later tool call; the links take turns, one channel each."""
    firsts: dict[str, list[float]] = {name: [] for name in codes}
    later: dict[str, list[float]] = {name: [] for name in codes}
    for i in range(rounds):
        for name, code in codes.items():
            env = {**env_for(work / f"guest-{name}-{i}"), "LETSWORK_INVITE": code}
            async with mcp_session(channel_args("--name", f"{name}{i}"), env) as guest:
                t0 = time.perf_counter()
                await guest.call("read_file", READ)
                firsts[name].append(time.perf_counter() - t0)
                for _ in range(calls // rounds):
                    t0 = time.perf_counter()
                    await guest.call("read_file", READ)
                    later[name].append(time.perf_counter() - t0)
    return {
        name: {
            "channel_first_result": statistics.median(firsts[name]),
            "tool_call": statistics.median(later[name]),
        }
        for name in codes
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
            async with (
                tcp_link(hub.local_url, delay=rtt) as slower,
                tcp_link(hub.local_url, delay=rtt / 2) as slow,
                tcp_link(hub.local_url) as fast,
            ):
                links = {"slower": slower, "slow": slow, "fast": fast}
                for name, link in links.items():
                    secret = code.with_url(link.url).secret
                    figures[name] = await connection_round_trips(link.url, secret, calls)
                codes = {name: code.with_url(link.url).format() for name, link in links.items()}
                for name, seconds in (await channel_round_trips(codes, work, calls)).items():
                    figures[name] |= seconds
            out: dict[str, Any] = {
                "rtt_ms": rtt * 1000,
                "round_trips": {
                    k: round((figures["slower"][k] - figures["slow"][k]) / rtt, 2)
                    for k in figures["slow"]
                },
                "round_trips_over_no_delay": {
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
