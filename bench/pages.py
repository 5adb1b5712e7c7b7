"""Pages of a 1 MiB file at the hub level, next to their floor (issue 15, item 4).

    python -m bench.pages [--calls N] [--lines N]

A hub runs in this process on a folder with one 1 MiB text file (``--lines`` lines per page,
default 200, at random offsets). Three things are timed in alternating rounds of 10 calls:

- ``page``: ``read_file`` of one page through a ``HubConnection`` (handshake done: AEAD
  records, JSON, the hub's checks, the file work);
- ``ping``: the same connection's ``ping``, the protocol's own cost with no file work;
- ``disk``: a plain read of the same page from disk in this process (open, seek to the page's
  first byte, read its bytes, decode).

The floor of a page is ``ping + disk``; the figure is ``page / (ping + disk)`` at p50. Before
the page cache each page re-read, re-hashed and re-split the whole file. Prints JSON. Timings
are measurements, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import hub_in_process, summary
from letswork.client.connection import HubConnection
from letswork.hub.workspace import pages

LINE = "x" * 63 + "\n"  # 64 bytes: 16,384 lines make 1 MiB


async def run(calls: int, lines: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="letswork-pages-") as tmp:
        work = Path(tmp)
        project = work / "project"
        project.mkdir()
        total = (1024 * 1024) // len(LINE)
        big = project / "big.txt"
        big.write_text(LINE * total, encoding="utf-8")
        # The case measured is a file read page by page some time after it was written; one
        # younger than SETTLE_SECONDS is read whole on every page, as before the cache.
        pages.SETTLE_SECONDS = 0.0
        async with hub_in_process(project, work / "state") as (_, code):
            conn = HubConnection(code.url, code.secret, name="pages")
            await conn.connect()
            rng = random.Random(7)
            offsets = [rng.randrange(0, total - lines) for _ in range(calls)]

            async def page(i: int) -> None:
                await conn.request(
                    "read_file", {"path": "big.txt", "offset": offsets[i], "limit": lines}
                )

            async def ping(i: int) -> None:
                await conn.request("ping", {})

            async def disk(i: int) -> None:
                with open(big, "rb") as f:
                    f.seek(offsets[i] * len(LINE))
                    f.read(lines * len(LINE)).decode("utf-8")

            samples: dict[str, list[float]] = {"page": [], "ping": [], "disk": []}
            kinds = {"page": page, "ping": ping, "disk": disk}
            for fn in kinds.values():  # warm up
                for i in range(5):
                    await fn(i)
            for start in range(0, calls, 10):
                for name, fn in kinds.items():
                    for i in range(start, min(calls, start + 10)):
                        t0 = time.perf_counter()
                        await fn(i)
                        samples[name].append(time.perf_counter() - t0)
            await conn.close()
    figures = {name: summary(xs) for name, xs in samples.items()}
    floor = figures["ping"]["p50"] + figures["disk"]["p50"]
    return {
        "lines_per_page": lines,
        "ms": figures,
        "page_over_floor_p50": round(figures["page"]["p50"] / floor, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pages",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--calls", type=int, default=300, help="pages (and pings, disk reads)")
    parser.add_argument("--lines", type=int, default=200, help="lines per page")
    a = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(max(a.calls, 10), a.lines)), indent=2))


if __name__ == "__main__":
    main()
