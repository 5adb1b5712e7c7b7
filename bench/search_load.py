"""Ping latency while peers run worst-case searches (issue 13, item 3).

    python -m bench.search_load [--duration S] [--searchers N] [--files N] [--src PATH]

Starts ``letswork start --tunnel none`` as a subprocess on loopback, on a generated tree of
``--files`` text files (34-character lines, the line of the issue's report), and connects over
real WebSockets:

- ``--searchers`` guests (default 8), each running searches back to back for ``--duration``
  seconds, alternating the catastrophic regex ``(.|.)*#`` and a plain search that matches
  nothing, both over the whole tree (so every file is read and scanned);
- one more guest and the host, each sending a ``ping`` every 20 ms and timing its reply.

Prints the pings' p50/p95/p99/max and the searches done, as JSON. ``--src`` runs another
checkout's code (for a before/after comparison; before issue 13 the regex stalls the hub, so
pass ``--plain-only`` there). Timings are measurements, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import start_hub, stop_hub, summary
from letswork.client.connection import HubConnection
from letswork.local import statedir
from letswork.shared import invite

LINE = "x" * 33 + "\n"  # 34 characters: (.|.)*# took Python's re over 8 s on one such line
CATASTROPHIC = "(.|.)*#"
PING_EVERY = 0.02


def make_tree(root: Path, files: int, lines: int) -> int:
    """``files`` files of ``lines`` 34-character lines, 100 per folder; returns total bytes."""
    body = LINE * lines
    for i in range(files):
        folder = root / "tree" / f"d{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:05d}.txt").write_text(body, encoding="utf-8")
    return files * len(body)


async def pinger(conn: HubConnection, until: float, samples: list[float]) -> None:
    while time.monotonic() < until:
        t0 = time.perf_counter()
        await conn.request("ping", {})
        samples.append(time.perf_counter() - t0)
        await asyncio.sleep(PING_EVERY)


async def searcher(
    conn: HubConnection, until: float, plain_only: bool, done: dict[str, Any]
) -> None:
    turn = 0
    while time.monotonic() < until:
        regex = not plain_only and turn % 2 == 0
        t0 = time.perf_counter()
        result = await conn.request(
            "search_files",
            {"pattern": CATASTROPHIC if regex else "no such text", "regex": regex, "path": "tree"},
        )
        done["seconds"].append(time.perf_counter() - t0)
        done["regex" if regex else "plain"] += 1
        done["cut_short"] += bool(result.get("cut_short"))
        done["files_scanned"] = max(done["files_scanned"], result["files_scanned"])
        turn += 1


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="letswork-search-load-") as tmp:
        project = Path(tmp) / "project"
        state = Path(tmp) / "state"
        project.mkdir()
        state.mkdir()
        size = make_tree(project, args.files, args.lines)
        hub = start_hub(project, state, src=Path(args.src).resolve())
        conns: list[HubConnection] = []
        try:
            secret = invite.parse(hub.code).secret
            url = invite.parse(hub.code).url
            os.environ[statedir.STATE_DIR_ENV] = str(state)  # where the hub keeps host.key
            host_secret = statedir.read_secret_file(
                statedir.project_state(project.resolve()).host_key_path
            )
            for i in range(args.searchers + 1):
                conn = HubConnection(url, secret, name=f"peer{i}")
                await conn.connect()
                conns.append(conn)
            host = HubConnection(url, host_secret, name="host")
            await host.connect()
            conns.append(host)
            pings: list[float] = []
            done: dict[str, Any] = {
                "regex": 0, "plain": 0, "cut_short": 0, "files_scanned": 0, "seconds": [],
            }  # fmt: skip
            until = time.monotonic() + args.duration
            await asyncio.gather(
                *(searcher(c, until, args.plain_only, done) for c in conns[: args.searchers]),
                pinger(conns[args.searchers], until, pings),
                pinger(host, until, pings),
            )
            search_seconds = done.pop("seconds")
            return {
                "tree": {"files": args.files, "bytes": size},
                "searchers": args.searchers,
                "duration_s": args.duration,
                "ping_ms": {**summary(pings), "max": max(pings) * 1000 if pings else 0},
                "searches": {**done, "latency_ms": summary(search_seconds)},
            }
        finally:
            for conn in conns:
                with contextlib.suppress(Exception):
                    await conn.close()
            stop_hub(hub)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--searchers", type=int, default=8)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=300, help="34-character lines per file")
    parser.add_argument("--src", default=str(ROOT), help="checkout whose letswork to run")
    parser.add_argument("--plain-only", action="store_true", help="no regex searches")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args)), indent=2))


if __name__ == "__main__":
    main()
