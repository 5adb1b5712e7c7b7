"""A/B of the folder's index: two letswork source trees on one large tree, in alternating
processes (issue 15: the index's memory went down; its speed must not).

    python -m bench.index_ab TREE_A TREE_B [--files 100000] [--rounds 3]

Make TREE_A with ``git archive <branch> | tar -x -C /tmp/a``. The large tree is the sdists
one of :mod:`bench.large_tree` (``--sdists``). Each round runs one process per source tree,
A then B; each process builds the index (its time and the RSS it added, after
``malloc_trim``), then times, at the workspace level with the index on:

* ``find_files``: the first 1,000 of ``**/*.py`` (guest), and a glob no path matches (the
  whole tree; guest and host);
* ``list_files``: a recursive listing of one top-level folder (guest, 5,000 entries);
* ``search_files``: a word in no file under one sdist (guest, the ripgrep engine);
* the watcher's updates: 1,000 new files in one folder, noted and applied by ``sync``, then
  1,000 of them written again (a size change), then removed; and ``sync`` with a noted path
  in each of 1,000 folders.

Each figure is the median of its samples; the report gives B's over A's. Timings are
measurements, never assertions.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: Calls per op per process.
CALLS = 9
#: Bursts of each kind (create, write, remove) per process.
UPDATE_ROUNDS = 9


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _median_ms(fn: Any, calls: int = CALLS) -> float:
    fn()  # warm-up
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def measure(tree: Path) -> dict[str, float]:
    """One process's figures on ``tree`` (run in a child with the code under test)."""
    from letswork.hub.workspace import Workspace
    from letswork.hub.workspace.index import TreeIndex

    libc = ctypes.CDLL("libc.so.6")
    ws = Workspace(tree)
    gc.collect()
    libc.malloc_trim(0)
    before = _rss_mib()
    t0 = time.perf_counter()
    index = TreeIndex(ws)
    index.build()
    out = {"build_ms": (time.perf_counter() - t0) * 1000}
    gc.collect()
    libc.malloc_trim(0)
    out["index_rss_mib"] = _rss_mib() - before
    ws.index = index
    ws.search_engine = "ripgrep"  # type: ignore[assignment]
    top = sorted(p.name for p in tree.iterdir() if p.is_dir() and p.name != "copies")
    out["find_first_1000_py_guest_ms"] = _median_ms(
        lambda: ws.find_files("**/*.py", max_results=1000, is_host=False)
    )
    for who in ("guest", "host"):
        out[f"find_whole_tree_{who}_ms"] = _median_ms(
            lambda who=who: ws.find_files("**/*.none", max_results=1000, is_host=who == "host")
        )
    out["list_recursive_guest_ms"] = _median_ms(
        lambda: ws.list_files(top[-1], recursive=True, is_host=False)
    )
    out["search_one_sdist_guest_ms"] = _median_ms(
        lambda: ws.search_files("letswork_bench_rare_word", path=top[0], is_host=False), 3
    )
    out.update(_updates(tree, index))
    return out


def _updates(tree: Path, index: Any) -> dict[str, float]:
    """The watcher's path: note the changed paths, then one ``sync``."""
    folder = tree / "letswork-ab-burst"
    folder.mkdir()
    names = [f"f{i:04}.txt" for i in range(1000)]
    times: dict[str, list[float]] = {"create": [], "write": [], "remove": []}
    for _ in range(UPDATE_ROUNDS):
        for step in ("create", "write", "remove"):
            for name in names:
                path = folder / name
                if step == "remove":
                    path.unlink()
                else:
                    path.write_text("x" * (2 if step == "write" else 1), encoding="utf-8")
            t0 = time.perf_counter()
            index.note_abspaths(str(folder / name) for name in names)
            index.sync()
            times[step].append(time.perf_counter() - t0)
    folder.rmdir()
    index.note_abspaths([str(folder)])
    index.sync()
    dirs = [str(p) for p in sorted(tree.glob("*/*/*/*")) if p.is_dir()][:1000]

    def touch_1000_folders() -> None:
        index.note_abspaths(dirs)
        index.sync()

    out = {f"sync_1000_{step}_ms": statistics.median(ts) * 1000 for step, ts in times.items()}
    out["sync_1000_folders_ms"] = _median_ms(touch_1000_folders, 5)
    assert index.ready
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.index_ab", description=__doc__)
    parser.add_argument("trees", type=Path, nargs=2, help="letswork source trees A and B")
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child's side
    a = parser.parse_args(argv)
    if a.measure is not None:
        import letswork

        figures = measure(a.measure)
        print(f"letswork from {Path(letswork.__file__).parent}", file=sys.stderr)
        print(json.dumps(figures))
        return
    from bench.large_tree import make_large_tree, unpacked_sdists

    with tempfile.TemporaryDirectory(prefix="letswork-index-ab-") as tmp:
        tree = Path(tmp) / "tree"
        make_large_tree(tree, a.files, [unpacked_sdists()])
        runs: dict[str, list[dict[str, float]]] = {"a": [], "b": []}
        for _ in range(a.rounds):
            for tag, src in zip("ab", a.trees, strict=True):
                env = {**os.environ, "PYTHONPATH": str(src.resolve())}
                script = str(Path(__file__).resolve())  # this file, with the code of ``src``
                done = subprocess.run(
                    [sys.executable, script, *map(str, a.trees), "--measure", str(tree)],
                    env=env,
                    cwd=src,  # python -m imports letswork from here first
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[tag].append(json.loads(done.stdout.splitlines()[-1]))
                origin = done.stderr.strip().splitlines()[-1]
                assert str(src.resolve()) in origin, origin
    print(f"index A/B, {a.files:,} files, {a.rounds} rounds; A={a.trees[0]} B={a.trees[1]}")
    for key in runs["a"][0]:
        fa = statistics.median(r[key] for r in runs["a"])
        fb = statistics.median(r[key] for r in runs["b"])
        print(f"  {key:<30} A {fa:9.1f}  B {fb:9.1f}  B/A {fb / fa:5.2f}")


if __name__ == "__main__":
    main()
