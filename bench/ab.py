"""A/B: two letswork source trees, each with its own hub and channel, in alternating rounds.

    python -m bench.ab TREE_A TREE_B [--ops ping,read_file,read_file_1m] [--calls 1000]

For a change too small for the run-to-run drift of ``python -m bench``: both trees are timed
through MCP in the same minute, taking turns one round of 10 calls at a time. Make TREE_A
with ``git worktree add /tmp/a HEAD`` (or ``git archive HEAD | tar -x -C /tmp/a``). Run it
with the same trees as A and B first: the A/A ratio is the noise floor (±1-5% here).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.run import HubProc, KiB, Mcp, env_for, mcp_session, start_hub, stop_hub, text_of

ROUND = 10
#: op name -> (tool, arguments)
OPS: dict[str, tuple[str, dict[str, Any]]] = {
    "ping": ("ping", {}),
    "read_file": ("read_file", {"path": "payload.txt"}),  # 10 KiB
    "read_file_1m": ("read_file", {"path": "big.txt"}),  # the first page of 1 MiB
    "list_files": ("list_files", {}),
    # Issue 14 re-cut every handler: the read-only ops of the other groups, through dispatch,
    # the handler tables and the result models. (Writes fill the guest's pending quota.)
    "search_files": ("search_files", {"pattern": "no such text anywhere"}),
    "find_files": ("find_files", {"glob": "*.txt"}),
    "get_status": ("get_status", {}),
    "list_peers": ("list_peers", {}),
    "my_pending_changes": ("my_pending_changes", {}),
    "board": ("board", {}),
    "get_var": ("get_var", {"key": "*"}),
    "activity_log": ("activity_log", {"limit": 20}),
}


async def compare(trees: list[Path], ops: list[str], calls: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="letswork-ab-"))
    hubs: list[HubProc] = []
    envs: list[dict[str, str]] = []
    for tag, src in zip("ab", trees, strict=True):
        project = work / tag
        project.mkdir()
        (project / "payload.txt").write_text(text_of(10 * KiB), encoding="utf-8")
        (project / "big.txt").write_text(text_of(1024 * KiB), encoding="utf-8")
        state = work / f"state-{tag}"
        hubs.append(start_hub(project, state, src=src))
        envs.append({**env_for(state, src), "LETSWORK_INVITE": hubs[-1].code})
    try:
        async with (
            mcp_session(["-m", "letswork", "channel", "--name", "a"], envs[0], trees[0]) as a,
            mcp_session(["-m", "letswork", "channel", "--name", "b"], envs[1], trees[1]) as b,
        ):
            for op in ops:
                tool, args = OPS[op]
                samples: dict[str, list[float]] = {"a": [], "b": []}
                sessions: list[tuple[str, Mcp]] = [("a", a), ("b", b)]
                for _ in range(20):  # warm-up
                    for _, session in sessions:
                        await session.call(tool, args)
                while len(samples["b"]) < calls:
                    for tag, session in sessions:
                        for _ in range(ROUND):
                            t0 = time.perf_counter()
                            await session.call(tool, args)
                            samples[tag].append(time.perf_counter() - t0)
                pa = statistics.median(samples["a"]) * 1000
                pb = statistics.median(samples["b"]) * 1000
                print(f"{op:<10} A p50 {pa:.3f} ms   B p50 {pb:.3f} ms   B/A {pb / pa:.3f}")
    finally:
        for hub in hubs:
            stop_hub(hub)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("tree_a", type=Path, help="a letswork source tree (holds letswork/)")
    parser.add_argument("tree_b", type=Path, help="the other tree")
    parser.add_argument("--ops", default="ping,read_file", help=f"of {', '.join(OPS)}")
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per op and tree")
    a = parser.parse_args(argv)
    trees = [a.tree_a.resolve(), a.tree_b.resolve()]
    for tree in trees:
        if not (tree / "letswork" / "__init__.py").is_file():
            parser.error(f"{tree} has no letswork/ package")
    ops = [op for op in a.ops.split(",") if op]
    unknown = [op for op in ops if op not in OPS]
    if unknown:
        parser.error(f"unknown op(s): {', '.join(unknown)}; choose from {', '.join(OPS)}")
    asyncio.run(compare(trees, ops, a.calls))


if __name__ == "__main__":
    main()
