"""Merges at approval (issue 17, part 2): what keeping a base and merging cost, in a worker.

    python -m bench.merge

For source-like files of 3,000 and 30,000 lines (each line distinct, ~52 bytes) with ten lines
changed by the host and ten others, between those, by the guest (and a dense case: every tenth
line of 3,000 by the host, the fifth after each by the guest): the zlib ratio
of the kept base, the time of ``pack_text`` and of a clean ``merge_texts``, and that time as a
ratio to one ``unified_diff`` of the same file (the diff a proposal already pays). Then a
hostile case: 20,000 lines drawn from 200 values (difflib's quadratic case), merged within
``MAX_MERGE_DIFF_STEPS`` and, for the ratio, with the budget lifted. Prints JSON;
measurements, never assertions.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from letswork.hub import merging
from letswork.hub.workspace.diff import unified_diff
from letswork.shared import limits


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _source(n: int) -> list[str]:
    return [f"    value_{i} = compute({i}, 'x' * {i % 7})  # line {i}\n" for i in range(n)]


def main() -> None:
    results: dict[str, Any] = {}
    for n, gap in ((3_000, 300), (30_000, 3_000), (3_000, 10)):
        lines = _source(n)
        base = "".join(lines)
        cur, prop = lines[:], lines[:]
        for k in range(0, n, gap):
            cur[k] = f"host {k}\n"
        for k in range(gap // 2, n, gap):
            prop[k] = f"guest {k}\n"
        current, proposed = "".join(cur), "".join(prop)
        pack_s, blob = _timed(lambda: merging.pack_text(base))  # noqa: B023
        merge_s, out = _timed(lambda: merging.merge_texts(base, current, proposed))  # noqa: B023
        diff_s, _ = _timed(lambda: unified_diff("a.py", base, proposed))  # noqa: B023
        results[f"{n}_lines_{n // gap}_changes_a_side"] = {
            "bytes": len(base),
            "zlib_ratio": round(len(base) / len(blob), 1),
            "pack_ms": round(pack_s * 1000, 1),
            "merge_ms": round(merge_s * 1000, 1),
            "merge_over_one_diff": round(merge_s / diff_s, 2),
            "outcome": out.how,
        }
    rng = random.Random(2)
    values = [f"v{k}\n" for k in range(200)]
    base = "".join(rng.choice(values) for _ in range(20_000))
    proposed = "".join(rng.choice(values) for _ in range(20_000))
    bounded_s, _ = _timed(lambda: merging.merge_texts(base, "x\n" + base, proposed))
    budget = limits.MAX_MERGE_DIFF_STEPS
    limits.MAX_MERGE_DIFF_STEPS = 10**12
    try:
        free_s, _ = _timed(lambda: merging.merge_texts(base, "x\n" + base, proposed))
    finally:
        limits.MAX_MERGE_DIFF_STEPS = budget
    results["hostile_20000_lines"] = {
        "bounded_s": round(bounded_s, 2),
        "unbounded_s": round(free_s, 2),
        "unbounded_over_bounded": round(free_s / bounded_s, 1),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
