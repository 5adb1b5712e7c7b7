"""Where a page's time goes: a timeline of one request, hub and client in one process.

    python -m bench.page_timeline [--calls N] [--work-on-loop]

The setting of ``bench.pages`` (a hub in this process, one ``HubConnection``, pages of 200
lines at random offsets of a 1 MiB file), with ``time.perf_counter_ns()`` stamps put around
each step a request takes (the client's encode, each seal and open, the hub's decode, the hop
to the peer's task, ``begin``, the hop to the file pool and back, the workspace's checks and
page read, the reply's encode, the writer task, the client's decode and check). ``page`` and
``ping`` alternate call by call; each step's p50 over the calls is printed (microseconds),
next to the same step of ``ping``. The stamps themselves cost ~1 us each, ~30 us a request.

``--work-on-loop`` is an experiment, never the hub's way: the page's file work runs on the
event loop instead of the file pool, to measure what the hop to the pool costs (a read on the
loop could stall every peer on a hung filesystem).

``--ab-plain-json`` times no steps: rounds of 10 pages with the replies of
``wire.PLAIN_RESULT_OPS`` written by pydantic-core and rounds with them written by
``json.dumps`` (as before), in turn on one connection, and the pings between them; prints the
p50s. Prints text; timings are measurements.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import letswork.client.connection as client_connection
import letswork.client.reading as client_reading
from bench.run import hub_in_process
from letswork.client.connection import HubConnection
from letswork.hub import answering, connections, core
from letswork.hub.workspace import files, pages
from letswork.shared import crypto
from letswork.shared.protocol import wire

LINE = "x" * 63 + "\n"  # as bench.pages: 16,384 lines make 1 MiB

Stamp = tuple[str, int]
STAMPS: list[Stamp] = []


def _stamp(label: str) -> None:
    STAMPS.append((label, time.perf_counter_ns()))


def _wrap(owner: Any, name: str, label: str) -> None:
    """Stamp ``label>`` before and ``label<`` after each call of ``owner.name``."""
    original = getattr(owner, name)
    if asyncio.iscoroutinefunction(original):

        @functools.wraps(original)
        async def stamped_async(*args: Any, **kwargs: Any) -> Any:
            _stamp(label + ">")
            try:
                return await original(*args, **kwargs)
            finally:
                _stamp(label + "<")

        setattr(owner, name, stamped_async)
        return

    @functools.wraps(original)
    def stamped(*args: Any, **kwargs: Any) -> Any:
        _stamp(label + ">")
        try:
            return original(*args, **kwargs)
        finally:
            _stamp(label + "<")

    setattr(owner, name, stamped)


def instrument(work_on_loop: bool) -> None:
    """Put the stamps in place (for this process: the bench's own hub and client)."""
    _wrap(client_connection, "encode_request", "client encode")
    _wrap(crypto.Session, "seal", "seal")
    _wrap(crypto.Session, "open", "open")
    _wrap(wire, "decode_request", "hub decode")
    _wrap(answering.Answerer, "answer", "answer")
    _wrap(core.HubCore, "begin", "begin")
    _wrap(core.Job, "resume", "resume")
    _wrap(wire, "encode_response_ok", "hub encode")
    _wrap(connections.Connection, "put", "put")
    _wrap(client_reading, "decode_incoming", "client decode")
    _wrap(client_reading, "parse_result", "client check")
    _wrap(files.FileOps, "_check", "path checks")
    _wrap(files.FileOps, "_cached_page", "cached page")
    run_work = answering.Answerer._run_work

    async def stamped_run_work(self: answering.Answerer, job: core.Job) -> Any:
        work: Callable[[], Any] = job.work

        def stamped_work() -> Any:
            _stamp("work>")
            try:
                return work()
            finally:
                _stamp("work<")

        job.work = stamped_work
        _stamp("submit")
        if work_on_loop:
            try:
                value = job.work()
            except Exception as exc:
                return job.fail(exc)
            return job.resume(value)
        return await run_work(self, job)

    answering.Answerer._run_work = stamped_run_work  # type: ignore[method-assign]


async def run(calls: int, lines: int) -> dict[str, list[list[Stamp]]]:
    with tempfile.TemporaryDirectory(prefix="letswork-timeline-") as tmp:
        work = Path(tmp)
        project = work / "project"
        project.mkdir()
        total = (1024 * 1024) // len(LINE)
        (project / "big.txt").write_text(LINE * total, encoding="utf-8")
        pages.SETTLE_SECONDS = 0.0  # as bench.pages: a file read some time after it was written
        runs: dict[str, list[list[Stamp]]] = {"page": [], "ping": []}
        async with hub_in_process(project, work / "state") as (_, code):
            conn = HubConnection(code.url, code.secret, name="timeline")
            await conn.connect()
            rng = random.Random(7)
            for i in range(calls + 20):
                for kind in ("page", "ping"):
                    STAMPS.clear()
                    _stamp("start")
                    if kind == "page":
                        offset = rng.randrange(0, total - lines)
                        args = {"path": "big.txt", "offset": offset, "limit": lines}
                        await conn.request("read_file", args)
                    else:
                        await conn.request("ping", {})
                    _stamp("end")
                    if i >= 20:  # warm-up
                        runs[kind].append(list(STAMPS))
            await conn.close()
    return runs


async def ab_plain_json(calls: int, lines: int) -> dict[str, float]:
    """p50 in us of pages with the plain-JSON writer on, off, and of pings, in rounds of 10."""
    plain = wire.PLAIN_RESULT_OPS
    with tempfile.TemporaryDirectory(prefix="letswork-timeline-") as tmp:
        work = Path(tmp)
        project = work / "project"
        project.mkdir()
        total = (1024 * 1024) // len(LINE)
        (project / "big.txt").write_text(LINE * total, encoding="utf-8")
        pages.SETTLE_SECONDS = 0.0
        samples: dict[str, list[float]] = {"on": [], "off": [], "ping": []}
        async with hub_in_process(project, work / "state") as (_, code):
            conn = HubConnection(code.url, code.secret, name="timeline")
            await conn.connect()
            rng = random.Random(7)
            try:
                for round_ in range(calls // 10 + 2):
                    for mode in ("off", "on", "ping"):
                        wire.PLAIN_RESULT_OPS = plain if mode == "on" else frozenset()
                        for _ in range(10):
                            offset = rng.randrange(0, total - lines)
                            args = {"path": "big.txt", "offset": offset, "limit": lines}
                            t0 = time.perf_counter()
                            if mode == "ping":
                                await conn.request("ping", {})
                            else:
                                await conn.request("read_file", args)
                            if round_ >= 2:  # warm-up
                                samples[mode].append(time.perf_counter() - t0)
            finally:
                wire.PLAIN_RESULT_OPS = plain
            await conn.close()
    return {mode: statistics.median(xs) * 1e6 for mode, xs in samples.items()}


def _steps(samples: list[list[Stamp]]) -> tuple[float, list[tuple[str, float]]]:
    """The p50 of the whole request and of each step between two stamps, in us."""
    labels = [label for label, _ in samples[0]]
    same = [s for s in samples if [label for label, _ in s] == labels]
    total = statistics.median((s[-1][1] - s[0][1]) / 1000 for s in same)
    steps = []
    for j in range(1, len(labels)):
        p50 = statistics.median((s[j][1] - s[j - 1][1]) / 1000 for s in same)
        steps.append((f"{labels[j - 1]} -> {labels[j]}", p50))
    return total, steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.page_timeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--calls", type=int, default=1000, help="pages (and pings)")
    parser.add_argument("--lines", type=int, default=200, help="lines per page")
    parser.add_argument(
        "--work-on-loop", action="store_true", help="experiment: the page's file work on the loop"
    )
    parser.add_argument(
        "--ab-plain-json",
        action="store_true",
        help="no stamps: pages with the plain-JSON reply writer on and off, in turn",
    )
    a = parser.parse_args(argv)
    if a.ab_plain_json:
        p50 = asyncio.run(ab_plain_json(max(a.calls, 10), a.lines))
        print(
            f"page, pydantic-core: {p50['on']:.1f} us; page, json.dumps: {p50['off']:.1f} us; "
            f"ping {p50['ping']:.1f} us; on / off {p50['on'] / p50['off']:.3f}"
        )
        return
    instrument(a.work_on_loop)
    runs = asyncio.run(run(max(a.calls, 10), a.lines))
    for kind, samples in runs.items():
        total, steps = _steps(samples)
        print(f"{kind}: p50 {total:.1f} us over {len(samples)} calls")
        for name, p50 in steps:
            print(f"  {name:<34} {p50:8.1f}")


if __name__ == "__main__":
    main()
