"""letswork benchmark: what users feel, next to the floor, in one run.

    python -m bench [--quick] [--out results.json] [--iterations N] [--duration S]

Everything starts on loopback from this script: a hub (``letswork start --tunnel none`` as a
subprocess), ``letswork channel`` subprocesses driven by real MCP client sessions, a floor MCP
server (``bench/floor_server.py``) answering the same text from memory, and a raw WebSocket
echo server with the hub's settings. See ``docs/performance.md`` for what each figure means.
Timings here are measurements, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from letswork.client.connection import HubConnection
from letswork.hub.app import HubConfig, RunningHub
from letswork.local import statedir
from letswork.shared import invite
from letswork.shared.limits import Limits

KiB, MiB = 1024, 1024 * 1024
RATE = 100_000.0  # the benchmark measures speed, not the per-peer rate limit


# ---------------------------------------------------------------------------- stats


def summary(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds of samples in seconds."""
    if not samples:
        return {"n": 0}
    xs = sorted(samples)

    def q(p: float) -> float:
        return xs[min(len(xs) - 1, round(p * (len(xs) - 1)))] * 1000

    return {
        "n": len(xs),
        "p50": q(0.50),
        "p95": q(0.95),
        "p99": q(0.99),
        "mean": statistics.fmean(xs) * 1000,
    }


async def timed(fn: Callable[[], Awaitable[Any]], n: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        await fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t0)
    return out


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# ---------------------------------------------------------------------------- processes


def env_for(state: Path, src: Path = ROOT) -> dict[str, str]:
    """The environment of a letswork process with state in ``state``, code from ``src``."""
    return {**os.environ, "LETSWORK_STATE_DIR": str(state), "PYTHONPATH": str(src)}


#: Every `letswork start` of this run, subprocess to join line, in seconds.
STARTS: list[float] = []


@dataclass
class HubProc:
    proc: subprocess.Popen[str]
    code: str
    startup_s: float


def start_hub(project: Path, state: Path, *extra: str, src: Path = ROOT) -> HubProc:
    """``letswork start`` (code from ``src``) until it prints its invite."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "letswork",
            "start",
            str(project),
            "--tunnel",
            "none",
            "--no-ui",
            "--auto-admit",
            "--rate-limit",
            str(RATE),
            "--max-guests",
            "16",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env_for(state, src),
        cwd=src,  # python -m imports from here first
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("letswork join "):
            STARTS.append(time.perf_counter() - t0)
            return HubProc(proc, line.split(" ", 2)[2].strip(), STARTS[-1])
    raise RuntimeError("letswork start exited before printing its invite")


def stop_hub(hub: HubProc) -> None:
    hub.proc.terminate()
    try:
        hub.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        hub.proc.kill()
        hub.proc.wait()
    if hub.proc.stdout is not None:
        hub.proc.stdout.close()


class Mcp:
    """A real MCP client session over stdio to a server subprocess."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def call(self, name: str, args: dict[str, Any]) -> str:
        result = await self.session.call_tool(name, args)
        text = "".join(b.text for b in result.content[:1] if isinstance(b, types.TextContent))
        if result.is_error:
            raise RuntimeError(f"{name} failed: {text[:300]}")
        return text


@contextlib.asynccontextmanager
async def mcp_session(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> AsyncIterator[Mcp]:
    # ``python -m`` imports from its working directory first: ``cwd`` picks the tree.
    params = StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(cwd))
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        async with (
            stdio_client(params, errlog=devnull) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield Mcp(session)


def channel_args(*extra: str) -> list[str]:
    return ["-m", "letswork", "channel", *extra]


@contextlib.asynccontextmanager
async def hub_in_process(
    project: Path, state: Path
) -> AsyncIterator[tuple[RunningHub, invite.Invite]]:
    """A hub for ``project`` started in this process, its state in ``state`` (no watcher,
    guests admitted at once, no rate limit to speak of), with its first invite."""
    os.environ["LETSWORK_STATE_DIR"] = str(state)
    hub = RunningHub(
        HubConfig(
            project=project,
            watch=False,
            auto_admit=True,
            limits=Limits(rate_per_second=RATE, rate_burst=10**6),
        )
    )
    await hub.start()
    try:
        assert hub.first_invite is not None
        yield hub, invite.parse(hub.first_invite)
    finally:
        await hub.stop()


# ---------------------------------------------------------------------------- trees


def make_tree(dest: Path, min_files: int) -> int:
    """Copy real Python sources from site-packages into ``dest`` until ``min_files``."""
    import site

    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    roots = [Path(p) for p in site.getsitepackages()]
    for base in roots:
        for pkg in sorted(base.iterdir()):
            if not pkg.is_dir() or pkg.name.endswith((".dist-info", "__pycache__")):
                continue
            for src in pkg.rglob("*.py"):
                if count >= min_files:
                    return count
                rel = src.relative_to(base)
                out = dest / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                try:
                    shutil.copyfile(src, out)
                except OSError:
                    continue
                count += 1
    # Not enough sources installed: replicate what we have.
    gen = 0
    files = list(dest.rglob("*.py"))
    while count < min_files and files:
        src = files[gen % len(files)]
        out = dest / "copies" / f"{gen // len(files)}" / src.relative_to(dest)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)
        count += 1
        gen += 1
    return count


def text_of(size: int) -> str:
    line = "the quick brown fox jumps over the lazy dog 0123456789\n"
    return (line * (size // len(line) + 1))[:size]


# ---------------------------------------------------------------------------- sections


#: Calls per round: letswork and the floor take turns, one round each, so that both see the
#: same machine (a shared VM drifts by tens of percent within a minute).
ROUND = 10


async def bench_end_to_end(
    work: Path, iterations: int, results: dict[str, Any], payload_sizes: list[int]
) -> None:
    """letswork through MCP vs the floor, op by op, in alternating rounds."""
    project = work / "e2e"
    n_files = make_tree(project / "tree", 2000)
    for size in payload_sizes:
        (project / f"payload-{size}.txt").write_text(text_of(size), encoding="utf-8")
    state = work / "state-e2e"
    hub = start_hub(project, state)
    results["startup"] = {"subprocess_to_join_line_ms": hub.startup_s * 1000}
    env = {**env_for(state), "LETSWORK_INVITE": hub.code}
    ops: dict[str, tuple[str, Callable[[int], dict[str, Any]]]] = {
        "ping": ("ping", lambda i: {}),
        "list_files": ("list_files", lambda i: {"path": "tree"}),
        "search_files": ("search_files", lambda i: {"pattern": "def __init__", "max_results": 50}),
    }
    for size in payload_sizes:
        ops[f"read_file_{size // KiB}k"] = (
            "read_file",
            lambda i, s=size: {"path": f"payload-{s}.txt"},
        )
        ops[f"write_file_{size // KiB}k"] = (
            "write_file",
            lambda i, s=size: {"path": f"w/{s}/{i:05d}.txt", "content": text_of(s)},
        )
    timings: dict[str, list[float]] = {}
    floor: dict[str, list[float]] = {}
    disk: dict[str, list[float]] = {}  # the honest floor: a plain MCP server on the disk
    payloads: dict[str, str] = {}
    payload_file = work / "payloads.json"

    def change_id(text: str) -> str:
        found = re.search(r"change ([0-9a-f]{4,64})", text)
        assert found, text
        return found.group(1)

    try:
        async with (
            mcp_session(channel_args("--name", "bench"), env) as guest,
            mcp_session(channel_args("--host", "--project", str(project)), env_for(state)) as host,
        ):
            # What letswork answers for each op becomes what the floor answers from memory.
            for key, (tool, make_args) in ops.items():
                payloads[key] = await guest.call(tool, make_args(99_999))
                if tool == "write_file":
                    await host.call(
                        "reject_change", {"id": change_id(payloads[key]), "reason": "bench"}
                    )
            first = await guest.call(
                "write_file", {"path": "approve/first.txt", "content": text_of(10 * KiB)}
            )
            payloads["approve_change"] = await host.call("approve_change", {"id": change_id(first)})
            payload_file.write_text(json.dumps(payloads), encoding="utf-8")
            async with (
                mcp_session(
                    [str(ROOT / "bench" / "floor_server.py"), str(payload_file)], dict(os.environ)
                ) as fl,
                mcp_session(
                    [
                        str(ROOT / "bench" / "disk_floor_server.py"),
                        str(project),
                        str(work / "disk-floor-stage"),
                    ],
                    dict(os.environ),
                ) as dk,
            ):
                for key, (tool, make_args) in ops.items():
                    n = iterations if "1024k" not in key else max(10, iterations // 5)
                    counter = iter(range(n + 10))
                    proposed: list[str] = []

                    floor_args = {**make_args(0), "_key": key}

                    async def once(
                        tool: str = tool,
                        make: Any = make_args,
                        it: Any = counter,
                        ids: Any = proposed,
                    ) -> None:
                        text = await guest.call(tool, make(next(it)))
                        if tool == "write_file":
                            ids.append(change_id(text))

                    async def fonce(key: str = key, args: Any = floor_args) -> None:
                        await fl.call(key, args)

                    async def donce(tool: str = tool, make: Any = make_args) -> None:
                        await dk.call(tool, make(0))

                    lw: list[float] = []
                    fs: list[float] = []
                    ds: list[float] = []
                    while len(lw) < n:  # rounds under the pending-change caps
                        batch = min(ROUND, n - len(lw))
                        lw += await timed(once, batch, warmup=0 if lw else 3)
                        fs += await timed(fonce, batch, warmup=0 if fs else 3)
                        ds += await timed(donce, batch, warmup=0 if ds else 3)
                        for cid in proposed:
                            await host.call("reject_change", {"id": cid, "reason": "bench"})
                        proposed.clear()
                    timings[key], floor[key], disk[key] = lw, fs, ds
                # approve_change: propose, then time the approval, then one call of each floor.
                timings["approve_change"], floor["approve_change"] = [], []
                disk["approve_change"] = []
                for i in range(max(10, iterations // 2)):
                    text = await guest.call(
                        "write_file", {"path": f"approve/{i}.txt", "content": text_of(10 * KiB)}
                    )
                    cid = change_id(text)
                    t0 = time.perf_counter()
                    await host.call("approve_change", {"id": cid})
                    timings["approve_change"].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    await fl.call("approve_change", {"id": cid, "_key": "approve_change"})
                    floor["approve_change"].append(time.perf_counter() - t0)
                    text = await dk.call(
                        "write_file",
                        {"path": f"disk-floor/approve/{i}.txt", "content": text_of(10 * KiB)},
                    )
                    t0 = time.perf_counter()
                    await dk.call("approve_change", {"id": change_id(text)})
                    disk["approve_change"].append(time.perf_counter() - t0)
    finally:
        stop_hub(hub)
    table = {}
    for key in timings:
        lw_s, fs_s, dk_s = summary(timings[key]), summary(floor[key]), summary(disk[key])
        table[key] = {
            "letswork": lw_s,
            "floor": fs_s,
            "ratio_p50": lw_s["p50"] / fs_s["p50"],
            "disk_floor": dk_s,
            "ratio_disk_p50": lw_s["p50"] / dk_s["p50"],
        }
    results["end_to_end"] = table
    # What one read_file result carries: the channel pages at 60,000 characters, so the
    # "1024k" read through MCP is the first page of the 1 MiB file (the hub section reads it
    # whole).
    results["read_result_chars"] = {
        k: len(v) for k, v in payloads.items() if k.startswith("read_file")
    }
    results["search_tree_files"] = n_files


async def bench_hub_ops(
    work: Path, iterations: int, results: dict[str, Any], sizes: list[int]
) -> None:
    """Reads (whole file) and write proposals at the hub level: one protocol client, no MCP.

    Unlike the MCP tool, the protocol has no page cap, so ``read_file`` here returns all of a
    1 MiB file; the write target (1.5x the read) is checked against this read.
    """
    project = work / "hubops"
    project.mkdir()
    for size in sizes:
        (project / f"payload-{size}.txt").write_text(text_of(size), encoding="utf-8")
    state = work / "state-hubops"
    hub = start_hub(project, state)
    inv = invite.parse(hub.code)
    os.environ["LETSWORK_STATE_DIR"] = str(state)
    host_secret = statedir.read_secret_file(statedir.project_state(project).host_key_path)
    out: dict[str, Any] = {}
    try:
        guest = HubConnection(inv.url, inv.secret, name="ops")
        host = HubConnection(inv.url, host_secret, name="host")
        await guest.connect()
        await host.connect()
        for size in sizes:
            path = f"payload-{size}.txt"
            n = iterations if size < MiB else max(10, iterations // 5)

            async def read(path: str = path) -> None:
                r = await guest.request("read_file", {"path": path})
                assert not r["truncated"]

            out[f"read_file_{size // KiB}k"] = summary(await timed(read, n))
            content = text_of(size)
            counter = iter(range(10**6))
            ids: list[str] = []

            async def write(
                content: str = content, size: int = size, it: Any = counter, ids: Any = ids
            ) -> None:
                r = await guest.request(
                    "write_file", {"path": f"w/{size}/{next(it)}.txt", "content": content}
                )
                ids.append(r["change"]["id"])

            samples: list[float] = []
            while len(samples) < n:  # batches under the pending-change caps
                batch = min(40, n - len(samples))
                samples += await timed(write, batch, warmup=0 if samples else 3)
                for cid in ids:
                    await host.request("reject_change", {"id": cid, "reason": "bench"})
                ids.clear()
            out[f"write_file_{size // KiB}k"] = summary(samples)
        await guest.close()
        await host.close()
    finally:
        stop_hub(hub)
    results["hub_ops"] = out


async def bench_raw_ws(iterations: int, results: dict[str, Any], sizes: list[int]) -> None:
    """The transport's own floor: a WebSocket echo with the hub's settings."""

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    limits = Limits()
    async with serve(
        echo, "127.0.0.1", 0, compression=None, max_size=limits.max_frame_bytes
    ) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        async with connect(
            f"ws://127.0.0.1:{port}", compression=None, max_size=limits.max_frame_bytes
        ) as ws:
            out = {}
            for size in [64, *sizes]:
                data = os.urandom(size)

                async def rt(data: bytes = data) -> None:
                    await ws.send(data)
                    await ws.recv()

                n = iterations if size < MiB else max(10, iterations // 5)
                out[f"{size}B"] = summary(await timed(rt, n))
    results["raw_websocket"] = out


async def bench_throughput(work: Path, duration: float, results: dict[str, Any]) -> None:
    """8 guests issuing small reads for ``duration`` seconds: via MCP and at the hub level."""
    project = work / "tp"
    project.mkdir()
    (project / "small.txt").write_text(text_of(1 * KiB), encoding="utf-8")
    state = work / "state-tp"
    hub = start_hub(project, state)
    inv = invite.parse(hub.code)
    out: dict[str, Any] = {}
    try:
        # Hub level: 1 protocol client, then 8, no MCP (issue 15: 8 should do >= 1.6x one).
        conns = [HubConnection(inv.url, inv.secret, name=f"p{i}") for i in range(8)]
        for c in conns:
            await c.connect()
        out["hub_level_1"] = await _drive(
            [lambda c=conns[0]: c.request("read_file", {"path": "small.txt"})], duration
        )
        out["hub_level"] = await _drive(
            [lambda c=c: c.request("read_file", {"path": "small.txt"}) for c in conns], duration
        )
        for c in conns:
            await c.close()
        # Through MCP: 8 client sessions, 8 channels.
        env = {**env_for(state), "LETSWORK_INVITE": hub.code}
        async with contextlib.AsyncExitStack() as stack:
            sessions = [
                await stack.enter_async_context(mcp_session(channel_args("--name", f"m{i}"), env))
                for i in range(8)
            ]
            for s in sessions:
                await s.call("ping", {})
            out["mcp"] = await _drive(
                [lambda s=s: s.call("read_file", {"path": "small.txt"}) for s in sessions],
                duration,
            )
            text = await sessions[0].call("read_file", {"path": "small.txt"})
    finally:
        stop_hub(hub)
    # The same through 8 floor servers (same SDK, same text, from memory): what 8 MCP
    # sessions on this machine can do before letswork adds anything.
    payload_file = work / "tp-payloads.json"
    payload_file.write_text(json.dumps({"read_file": text}), encoding="utf-8")
    async with contextlib.AsyncExitStack() as stack:
        floors = [
            await stack.enter_async_context(
                mcp_session([str(ROOT / "bench" / "floor_server.py"), str(payload_file)], env)
            )
            for _ in range(8)
        ]
        for f in floors:
            await f.call("read_file", {"path": "small.txt"})
        out["mcp_floor"] = await _drive(
            [lambda f=f: f.call("read_file", {"path": "small.txt"}) for f in floors], duration
        )
    results["throughput"] = out


async def _drive(workers: list[Callable[[], Awaitable[Any]]], duration: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration

    async def loop(call: Callable[[], Awaitable[Any]]) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                await call()
            except Exception:
                errors += 1
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in workers))
    elapsed = time.perf_counter() - t0
    return {
        "calls": len(latencies),
        "seconds": elapsed,
        "calls_per_second": len(latencies) / elapsed,
        "latency": summary(latencies),
        "errors": errors,
    }


async def bench_startup_handshake(work: Path, iterations: int, results: dict[str, Any]) -> None:
    """In-process hub start until it accepts connections, and the join handshake."""
    project = work / "startup"
    project.mkdir()
    os.environ["LETSWORK_STATE_DIR"] = str(work / "state-startup")
    starts = []
    for _ in range(5):
        t0 = time.perf_counter()
        hub = RunningHub(
            HubConfig(
                project=project,
                watch=False,
                auto_admit=True,
                limits=Limits(rate_per_second=RATE, rate_burst=10**6),
            )
        )
        await hub.start()
        starts.append(time.perf_counter() - t0)
        code = hub.first_invite
        if _ < 4:
            await hub.stop()
    assert code is not None
    inv = invite.parse(code)
    host_secret = statedir.read_secret_file(hub.state.host_key_path)
    handshakes = []
    for i in range(iterations):
        conn = HubConnection(inv.url, host_secret if i % 2 else inv.secret, name=f"h{i}")
        t0 = time.perf_counter()
        await conn.connect()
        handshakes.append(time.perf_counter() - t0)
        await conn.close()
    await hub.stop()
    results.setdefault("startup", {})["in_process_start_ms"] = summary(starts)
    results["handshake"] = summary(handshakes)


async def bench_memory(work: Path, proposals: int, results: dict[str, Any]) -> None:
    """Hub RSS idle, with 8 peers, and after ``proposals`` x 1 MiB proposals are rejected."""
    project = work / "mem"
    project.mkdir()
    state = work / "state-mem"
    os.environ["LETSWORK_STATE_DIR"] = str(state)
    hub = start_hub(project, state)
    pid = hub.proc.pid
    inv = invite.parse(hub.code)
    out: dict[str, Any] = {"idle_kib": rss_kib(pid)}
    try:
        peers = [HubConnection(inv.url, inv.secret, name=f"g{i}") for i in range(8)]
        for p in peers:
            await p.connect()
            await p.request("ping")
        out["with_8_peers_kib"] = rss_kib(pid)
        host = HubConnection(
            inv.url,
            statedir.read_secret_file(statedir.project_state(project).host_key_path),
            name="host",
        )
        await host.connect()
        big = text_of(MiB)
        peak = 0
        done = 0
        while done < proposals:
            batch = min(50, proposals - done)  # under the 64 MiB per-guest cap
            guest = peers[(done // 50) % 8]
            ids = []
            for i in range(batch):
                r = await guest.request("write_file", {"path": f"m/{done + i}.txt", "content": big})
                ids.append(r["change"]["id"])
            peak = max(peak, rss_kib(pid))
            for cid in ids:
                await host.request("reject_change", {"id": cid, "reason": "bench"})
            done += batch
        out["peak_during_kib"] = peak
        out["after_rejects_kib"] = rss_kib(pid)
        # The hub trims its heap every 10 s; read RSS again once that has run.
        deadline = time.perf_counter() + 12
        while time.perf_counter() < deadline:
            await asyncio.sleep(1)
        out["settled_kib"] = rss_kib(pid)
        out["proposals"] = proposals
        for p in [*peers, host]:
            await p.close()
    finally:
        stop_hub(hub)
    results["memory"] = out


async def bench_search_growth(work: Path, sizes: list[int], results: dict[str, Any]) -> None:
    """search_files at the hub level vs `git grep --no-index` on the same trees."""
    out = {}
    base = work / "search-src"
    make_tree(base, max(sizes))
    all_files = sorted(p for p in base.rglob("*.py"))
    for n in sizes:
        tree = work / f"search-{n}"
        for src in all_files[:n]:
            dst = tree / src.relative_to(base)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        os.environ["LETSWORK_STATE_DIR"] = str(work / f"state-search-{n}")
        hub = RunningHub(
            HubConfig(
                project=tree,
                watch=False,
                auto_admit=True,
                limits=Limits(rate_per_second=RATE, rate_burst=10**6),
            )
        )
        await hub.start()
        assert hub.first_invite is not None
        inv = invite.parse(hub.first_invite)
        conn = HubConnection(inv.url, inv.secret, name="searcher")
        await conn.connect()
        # A pattern found in no file, so that both tools read the whole tree: with a common
        # one, letswork stops at max_results (1,000) while git grep reads on, and the tree
        # sizes compare nothing (the larger trees repeat files, so rare lines repeat too).
        pattern = "letswork bench: a line no file holds"
        found: dict[str, Any] = {}

        async def lw(
            conn: HubConnection = conn, pattern: str = pattern, found: Any = found
        ) -> None:
            found.update(
                await conn.request("search_files", {"pattern": pattern, "max_results": 1000})
            )

        lw_t = await timed(lw, 5, warmup=1)
        await conn.close()
        await hub.stop()
        git = shutil.which("git")
        gg: list[float] = []
        if git:
            for _ in range(6):
                t0 = time.perf_counter()
                subprocess.run(
                    [git, "grep", "--no-index", "-I", "-n", "-i", "-F", pattern],
                    cwd=tree,
                    capture_output=True,
                    check=False,
                )
                gg.append(time.perf_counter() - t0)
            gg = gg[1:]
        out[str(n)] = {
            "matches": len(found["matches"]),
            "truncated": found["truncated"],
            "files_scanned": found["files_scanned"],
            "letswork_ms": summary(lw_t)["p50"],
            "git_grep_ms": summary(gg)["p50"] if gg else None,
        }
        if gg:
            out[str(n)]["ratio"] = out[str(n)]["letswork_ms"] / out[str(n)]["git_grep_ms"]
    results["search_growth"] = out


# ---------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
    }


def print_table(r: dict[str, Any]) -> None:
    print(
        f"\nletswork benchmark  ({r['machine']['cpu']}, {r['machine']['cpus']} cpus, "
        f"Python {r['machine']['python']})"
    )
    if "end_to_end" in r:
        print(
            f"\n{'op':<18}{'letswork p50':>13}{'p95':>9}{'p99':>9}{'floor p50':>11}{'ratio':>7}"
            f"{'disk floor p50':>16}{'ratio':>7}"
        )
        for op, row in r["end_to_end"].items():
            lw, fl, dk = row["letswork"], row["floor"], row["disk_floor"]
            print(
                f"{op:<18}{lw['p50']:>11.2f}ms{lw['p95']:>7.2f}ms{lw['p99']:>7.2f}ms"
                f"{fl['p50']:>9.2f}ms{row['ratio_p50']:>6.2f}x"
                f"{dk['p50']:>14.2f}ms{row['ratio_disk_p50']:>6.2f}x"
            )
    if "read_result_chars" in r:
        print(
            "  (characters one read_file result carries: "
            + ", ".join(f"{k} {v:,}" for k, v in r["read_result_chars"].items())
            + "; the channel pages at 60,000)"
        )
    if "hub_ops" in r:
        print(
            "\nhub level, no MCP (p50/p99): "
            + ", ".join(f"{k} {v['p50']:.2f}/{v['p99']:.2f}ms" for k, v in r["hub_ops"].items())
        )
    if "raw_websocket" in r:
        print(
            "\nraw WebSocket round trip (p50): "
            + ", ".join(f"{k} {v['p50']:.3f}ms" for k, v in r["raw_websocket"].items())
        )
    if "throughput" in r:
        for k, v in r["throughput"].items():
            print(
                f"throughput {k:<11}: {v['calls_per_second']:8.0f} calls/s, "
                f"p99 {v['latency']['p99']:.2f}ms, errors {v['errors']}"
            )
        t = r["throughput"]
        if "hub_level_1" in t and "hub_level" in t:
            eight_over_one = (
                t["hub_level"]["calls_per_second"] / t["hub_level_1"]["calls_per_second"]
            )
            print(f"throughput hub level, 8 guests / 1: {eight_over_one:.2f}x")
    if "startup" in r:
        s = r["startup"]
        if "in_process_start_ms" in s:
            print(f"start-up: in-process {s['in_process_start_ms']['p50']:.1f}ms (p50); ", end="")
        if "subprocess_to_join_line" in s:
            j = s["subprocess_to_join_line"]
            print(
                f"`letswork start` to join line p50 {j['p50']:.0f}ms "
                f"(min {min(x * 1000 for x in STARTS):.0f}ms, n={j['n']})",
                end="",
            )
        print()
    if "handshake" in r:
        print(
            f"handshake + hello: p50 {r['handshake']['p50']:.2f}ms, "
            f"p99 {r['handshake']['p99']:.2f}ms"
        )
    if "memory" in r:
        m = r["memory"]
        print(
            f"hub RSS: idle {m['idle_kib'] / 1024:.1f} MiB, 8 peers "
            f"{m['with_8_peers_kib'] / 1024:.1f} MiB, peak {m['peak_during_kib'] / 1024:.1f} MiB,"
            f" after {m['proposals']} x 1 MiB rejected {m['after_rejects_kib'] / 1024:.1f} MiB"
            f" (12 s later {m.get('settled_kib', 0) / 1024:.1f} MiB)"
        )
    if "search_growth" in r:
        for n, v in r["search_growth"].items():
            ratio = f"{v['ratio']:.2f}x" if "ratio" in v else "-"
            gg = f"{v['git_grep_ms']:.1f}ms" if v["git_grep_ms"] else "n/a"
            print(
                f"search {n:>6} files: letswork {v['letswork_ms']:.1f}ms, git grep {gg}, {ratio}"
                f"  ({v['matches']} matches, {v['files_scanned']} files scanned"
                f"{', truncated' if v['truncated'] else ''})"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small counts; under a minute")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--iterations", type=int, help="calls per op (default 200, quick 30)")
    parser.add_argument("--duration", type=float, help="throughput seconds (default 10, quick 3)")
    parser.add_argument(
        "--payload-sizes",
        default="10240,1048576",
        help="read/write payload sizes in bytes, comma-separated",
    )
    parser.add_argument("--proposals", type=int, help="1 MiB proposals in the memory test (400)")
    parser.add_argument("--search-sizes", default=None, help="tree sizes (default 1000,5000,20000)")
    parser.add_argument(
        "--only", default="", help="comma-separated sections to run (index: only when named)"
    )
    a = parser.parse_args(argv)
    iterations = a.iterations or (30 if a.quick else 200)
    duration = a.duration or (3.0 if a.quick else 10.0)
    proposals = a.proposals or (50 if a.quick else 400)
    sizes = [int(x) for x in a.payload_sizes.split(",")]
    search_sizes = [
        int(x)
        for x in (a.search_sizes or ("300,1000" if a.quick else "1000,5000,20000")).split(",")
    ]
    only = set(filter(None, a.only.split(",")))
    results: dict[str, Any] = {
        "machine": machine(),
        "quick": a.quick,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }

    def want(name: str) -> bool:
        return not only or name in only

    async def run_all() -> None:
        with tempfile.TemporaryDirectory(prefix="letswork-bench-") as tmp:
            work = Path(tmp)
            if want("e2e"):
                await bench_end_to_end(work, iterations, results, sizes)
            if want("hub"):
                await bench_hub_ops(work, iterations, results, sizes)
            if want("raw"):
                await bench_raw_ws(iterations, results, sizes)
            if want("throughput"):
                await bench_throughput(work, duration, results)
            if want("startup"):
                await bench_startup_handshake(work, iterations, results)
            if want("memory"):
                await bench_memory(work, proposals, results)
            if want("search"):
                await bench_search_growth(work, search_sizes, results)
            if want("index") and only:  # minutes on 100k files: only when asked for
                from bench.large_tree import bench_large_tree

                await bench_large_tree(work, 100_000, results)

    asyncio.run(run_all())
    if STARTS:
        results.setdefault("startup", {})["subprocess_to_join_line"] = summary(STARTS)
    print_table(results)
    if "large_tree" in results:
        from bench.large_tree import print_large_tree

        print_large_tree(results)
    if a.out:
        a.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
        print(f"\nresults written to {a.out}")


if __name__ == "__main__":
    main()
