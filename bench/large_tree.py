"""The large-tree section (issue 15): start-up and ``find_files`` on a tree of real packages.

    python -m bench.large_tree --files 100000          # alone
    python -m bench.large_tree --sdists --git          # the issue's tree, with git's floor
    python -m bench --only index                       # as a section of the full run

The tree is installed site-packages (or, with ``--sdists``, the unpacked sdists of Django,
sympy, botocore and ansible: the issue's tree, some 57,000 files, downloaded once into
``~/.cache/letswork-bench/sdists`` by ``pip download``) hard-linked (copied across filesystems)
into a work folder, repeated under ``copies/<n>/`` until it holds ``--files`` files, with a root
``.gitignore`` and one in every top-level folder so guests' answers go through nested ignore
files.

Figures, each pair measured in the same run:

* **start to listening**: ``RunningHub.start`` (watching) until it accepts connections, next to
  the walk the start-up no longer makes before listening (``cleanup_temp_files``), and when the
  folder's index is on;
* **search_files** at the hub level (a guest and the host), the ripgrep and the Python engines
  in alternating rounds, next to ``rg`` walking the same tree itself: a word in no file (the
  whole tree) and the first 200 matches of a common word;
* **find_files** at the hub level (a guest and the host over a real connection): the index on
  and off in alternating rounds of the same hub, for the first 1,000 matches of ``**/*.py`` and
  for a glob no path matches (the whole tree); with ``--git``, ``git ls-files '*.py'`` (a git
  index kept outside the tree) as the floor, in alternating rounds with the workspace's
  ``find_files`` of *all* the matches of ``**/*.py`` (the op's 1,000-result cap lifted: the op
  has no paging), and the hub-level whole-tree glob as a ratio to it, guest and host;
* **memory**: the RSS of ``letswork start`` (a subprocess) once its index is on, and with 8
  guests connected; its time to the join line.

Timings here are measurements, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.run import RATE, rss_kib, start_hub, stop_hub, summary
from letswork.client.connection import HubConnection
from letswork.hub.app import HubConfig, RunningHub
from letswork.hub.workspace import Workspace, ripgrep
from letswork.local import statedir
from letswork.shared import invite, limits
from letswork.shared.limits import Limits

#: Calls per round; the index on and off take turns, one round each.
ROUND = 5


#: The issue's tree: sdists of these, unpacked.
SDISTS = ("django", "sympy", "botocore", "ansible")
#: Where ``--sdists`` keeps what it downloads and unpacks, across runs.
SDIST_CACHE = Path.home() / ".cache" / "letswork-bench" / "sdists"


def unpacked_sdists(cache: Path = SDIST_CACHE) -> Path:
    """The folder holding :data:`SDISTS` unpacked, one folder each, downloading (``pip
    download --no-binary :all:``) and unpacking only what ``cache`` lacks.

    Raises:
        subprocess.CalledProcessError: pip could not fetch them (no network, no index).
    """
    cache.mkdir(parents=True, exist_ok=True)
    missing = [name for name in SDISTS if not list(cache.glob(f"{name}-*.tar.gz"))]
    if missing:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        subprocess.run([*pip, "--dest", str(cache), *missing], check=True)
    out = cache / "unpacked"
    for archive in sorted(cache.glob("*.tar.gz")):
        folder = out / archive.name.removesuffix(".tar.gz")
        if not folder.exists():
            part = out / (folder.name + ".part")
            shutil.rmtree(part, ignore_errors=True)
            with tarfile.open(archive) as tar:
                tar.extractall(part, filter="data")
            part.rename(folder)
    return out


def make_large_tree(dest: Path, min_files: int, bases: list[Path] | None = None) -> int:
    """Hard-link every file under ``bases`` (the installed site-packages by default) into
    ``dest`` (again under ``copies/<n>/`` until it holds ``min_files``); returns how many
    files it holds."""
    dest.mkdir(parents=True, exist_ok=True)
    sources: list[tuple[Path, Path]] = []
    for base in bases or map(Path, site.getsitepackages()):
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
                sources.append((path, path.relative_to(base)))
    count = 0
    copy = 0
    while count < min_files and sources:
        prefix = dest if copy == 0 else dest / "copies" / str(copy)
        for src, rel in sources:
            if count >= min_files:
                break
            out = prefix / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, out)
            except OSError:
                shutil.copyfile(src, out)
            count += 1
        copy += 1
    (dest / ".gitignore").write_text("*.so\n*.pyi\n", encoding="utf-8")
    for pkg in dest.iterdir():
        if pkg.is_dir():
            (pkg / ".gitignore").write_text("tests/\n!tests/conftest.py\n", encoding="utf-8")
    return count


async def bench_large_tree(
    work: Path,
    n_files: int,
    results: dict[str, Any],
    *,
    git: bool = False,
    rounds: int = 4,
    sdists: bool = False,
) -> None:
    """Fill ``results["large_tree"]``; see the module's docstring."""
    tree = work / "large-tree"
    t0 = time.perf_counter()
    n = make_large_tree(tree, n_files, [unpacked_sdists()] if sdists else None)
    out: dict[str, Any] = {
        "files": n,
        "tree_build_s": time.perf_counter() - t0,
        "source": "sdists of " + ", ".join(SDISTS) if sdists else "site-packages",
    }
    git_dir = work / "large-tree.git" if git and shutil.which("git") else None
    if git_dir is not None:  # before the hub watches: its index is outside the tree
        _git(git_dir, tree, "init", "-q")
        _git(git_dir, tree, "add", "-A")
    os.environ["LETSWORK_STATE_DIR"] = str(work / "state-large-tree")
    config = HubConfig(
        project=tree,
        watch=True,
        auto_admit=True,
        limits=Limits(rate_per_second=RATE, rate_burst=10**6),
    )
    starts, ready_after, walks = [], [], []
    rss_before = rss_kib(os.getpid())
    for attempt in range(3):
        t0 = time.perf_counter()
        walk = Workspace(tree).cleanup_temp_files()  # what start-up walked before listening
        walks.append(time.perf_counter() - t0)
        del walk
        hub = RunningHub(config)
        t0 = time.perf_counter()
        await hub.start()
        starts.append(time.perf_counter() - t0)
        await asyncio.wait_for(hub.index_ready.wait(), 120)
        ready_after.append(time.perf_counter() - t0)
        if attempt < 2:
            await hub.stop()
    out["start_to_listening_ms"] = summary(starts)
    out["walk_before_listening_was_ms"] = summary(walks)
    out["index_on_after_ms"] = summary(ready_after)
    assert hub.core is not None and hub.first_invite is not None
    ws = hub.core.workspace
    index = ws.index
    assert index is not None
    out["index_entries"] = len(index)
    out["rss_with_index_kib"] = rss_kib(os.getpid())
    out["rss_before_hub_kib"] = rss_before
    inv = invite.parse(hub.first_invite)
    peers = {
        "guest": HubConnection(inv.url, inv.secret, name="finder"),
        "host": HubConnection(
            inv.url, statedir.read_secret_file(hub.state.host_key_path), name="host"
        ),
    }
    for conn in peers.values():
        await conn.connect()
    globs = {"first_1000_py": "**/*.py", "whole_tree": "**/*.letswork-bench-none"}
    finds: dict[str, Any] = {}
    for who, conn in peers.items():
        for label, glob in globs.items():
            args = {"glob": glob, "max_results": 1000}
            answers: dict[bool, Any] = {}
            times: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(rounds):
                for on in (True, False):
                    ws.index = index if on else None
                    answers[on] = await conn.request("find_files", args)  # untimed warm-up
                    for _ in range(ROUND):
                        t0 = time.perf_counter()
                        await conn.request("find_files", args)
                        times[on].append(time.perf_counter() - t0)
            ws.index = index
            indexed, walked = summary(times[True]), summary(times[False])
            finds[f"{who}_{label}"] = {
                "paths": len(answers[True]["paths"]),
                "same_answer": answers[True] == answers[False],
                "index_ms": indexed,
                "walk_ms": walked,
                "ratio_walk_over_index": walked["p50"] / indexed["p50"],
            }
    out["find_files"] = finds
    if git_dir is not None:
        out["find_floor"] = _find_floor(ws, git_dir, tree, rounds, finds)
    out["search"] = await _search_figures(ws, peers, tree, rounds)
    for conn in peers.values():
        await conn.close()
    await hub.stop()
    out.update(await _as_a_process(work, tree))
    results["large_tree"] = out


def _git(git_dir: Path, tree: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", f"--work-tree={tree}", *args],
        cwd=tree,
        capture_output=True,
        check=True,
    ).stdout


def _find_floor(
    ws: Workspace, git_dir: Path, tree: Path, rounds: int, finds: dict[str, Any]
) -> dict[str, Any]:
    """``git ls-files '*.py'`` next to the workspace's ``find_files('**/*.py')`` of every
    match (guest and host, the result cap lifted), in alternating rounds; and the hub-level
    whole-tree figures of ``finds`` as ratios to git."""
    times: dict[str, list[float]] = {"git": [], "guest": [], "host": []}
    counts: dict[str, int] = {}
    capped = limits.MAX_RESULTS
    limits.MAX_RESULTS = 10**9  # find_files reads it at each call
    try:
        for _ in range(rounds):
            for _ in range(ROUND):
                t0 = time.perf_counter()
                listed = _git(git_dir, tree, "ls-files", "*.py")
                times["git"].append(time.perf_counter() - t0)
                counts["git"] = listed.count(b"\n")
                for who in ("guest", "host"):
                    t0 = time.perf_counter()
                    paths, cut = ws.find_files("**/*.py", max_results=10**9, is_host=who == "host")
                    times[who].append(time.perf_counter() - t0)
                    assert not cut
                    counts[who] = len(paths)
    finally:
        limits.MAX_RESULTS = capped
    git_ms = summary(times["git"])
    out: dict[str, Any] = {"git_ls_files_py_ms": git_ms, "paths": counts}
    for who in ("guest", "host"):
        out[f"{who}_all_py_ms"] = summary(times[who])
        out[f"{who}_all_py_over_git"] = out[f"{who}_all_py_ms"]["p50"] / git_ms["p50"]
        whole = finds[f"{who}_whole_tree"]["index_ms"]["p50"]
        out[f"{who}_whole_tree_over_git"] = whole / git_ms["p50"]
    return out


#: What each search figure looks for: a word in no file (the whole tree is read), and a
#: common one (the first 200 matches).
SEARCHES = {
    "whole_tree": {"pattern": "letswork_bench_rare_word", "max_results": 200},
    "first_200": {"pattern": "import", "max_results": 200},
}


async def _search_figures(
    ws: Workspace, peers: dict[str, HubConnection], tree: Path, rounds: int
) -> dict[str, Any]:
    """``search_files`` at the hub level with each engine, next to ``rg`` over the same tree
    (walking it itself: ignore files and hidden files skipped for the guest's floor, nothing
    skipped, ``-uuu``, for the host's), in alternating rounds of the same run."""
    rg = ripgrep.find_rg()
    out: dict[str, Any] = {"rg": rg is not None}
    for who, conn in peers.items():
        for label, args in SEARCHES.items():
            times: dict[str, list[float]] = {"python": [], "ripgrep": [], "rg": []}
            answers: dict[str, Any] = {}
            floor = [rg or "rg", "--no-config", "--ignore-case", "--files-with-matches"]
            if who == "host":
                floor.append("-uuu")
            floor += ["--max-count=1", "--regexp", str(args["pattern"]), "."]
            for _ in range(rounds):
                for engine in ("python", "ripgrep", "rg"):
                    if engine == "rg":
                        if rg is None or label != "whole_tree":
                            continue
                        t0 = time.perf_counter()
                        subprocess.run(floor, cwd=tree, capture_output=True, check=False)
                        times[engine].append(time.perf_counter() - t0)
                        continue
                    ws.search_engine = engine  # type: ignore[assignment]
                    t0 = time.perf_counter()
                    answers[engine] = await conn.request("search_files", args)
                    times[engine].append(time.perf_counter() - t0)
            ws.search_engine = "ripgrep"
            fig: dict[str, Any] = {
                "matches": len(answers["ripgrep"]["matches"]),
                "files_scanned": {e: answers[e]["files_scanned"] for e in answers},
                "cut_short": {e: answers[e].get("cut_short", False) for e in answers},
                "same_matches": answers["python"]["matches"] == answers["ripgrep"]["matches"],
            }
            for engine, samples in times.items():
                if samples:
                    fig[f"{engine}_ms"] = summary(samples)
            if times["rg"] and label == "whole_tree":  # rg lists all files for a common word
                rg_p50 = fig["rg_ms"]["p50"]
                fig["ratio_ripgrep_over_rg"] = fig["ripgrep_ms"]["p50"] / rg_p50
                fig["ratio_python_over_rg"] = fig["python_ms"]["p50"] / rg_p50
            out[f"{who}_{label}"] = fig
    return out


async def _as_a_process(work: Path, tree: Path) -> dict[str, Any]:
    """``letswork start`` as a subprocess: to its join line, and its RSS once its index is
    on (its log says so) with 8 guests connected."""
    state = work / "state-large-tree-process"
    os.environ["LETSWORK_STATE_DIR"] = str(state)
    log_path = statedir.project_state(tree.resolve()).log_path
    joins: list[float] = []
    rss: dict[str, int] = {}
    for attempt in range(3):
        hub = start_hub(tree, state)
        joins.append(hub.startup_s)
        if attempt == 2:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                text = log_path.read_text(encoding="utf-8") if log_path.exists() else ""
                if text.count("file index:") >= 3:  # this run's line (one per start)
                    break
                await asyncio.sleep(0.1)
            rss["process_with_index_kib"] = rss_kib(hub.proc.pid)
            inv = invite.parse(hub.code)
            guests = [HubConnection(inv.url, inv.secret, name=f"g{i}") for i in range(8)]
            for conn in guests:
                await conn.connect()
            await guests[0].request("find_files", {"glob": "**/*.py", "max_results": 1000})
            rss["process_with_index_and_8_peers_kib"] = rss_kib(hub.proc.pid)
            for conn in guests:
                await conn.close()
        stop_hub(hub)
    return {"process_start_to_join_line_ms": summary(joins), **rss}


def print_large_tree(r: dict[str, Any]) -> None:
    """The section's lines of the report."""
    lt = r["large_tree"]
    print(
        f"\nlarge tree, {lt['files']:,} files ({lt['index_entries']:,} index entries): "
        f"start to listening p50 {lt['start_to_listening_ms']['p50']:.0f}ms (the walk it no "
        f"longer makes first: {lt['walk_before_listening_was_ms']['p50']:.0f}ms), index on "
        f"after {lt['index_on_after_ms']['p50']:.0f}ms (in-process)"
    )
    for name, v in lt["find_files"].items():
        print(
            f"  find_files {name:<22} index {v['index_ms']['p50']:7.1f}ms  walk "
            f"{v['walk_ms']['p50']:7.1f}ms  {v['ratio_walk_over_index']:5.2f}x faster "
            f"({v['paths']} paths, same answer: {v['same_answer']})"
        )
    for name, v in lt.get("search", {}).items():
        if not isinstance(v, dict):
            continue
        floor = f"rg {v['rg_ms']['p50']:6.0f}ms" if "rg_ms" in v else "no rg floor"
        ratios = (
            f" = {v['ratio_ripgrep_over_rg']:.2f}x rg (python {v['ratio_python_over_rg']:.2f}x)"
            if "ratio_ripgrep_over_rg" in v
            else ""
        )
        print(
            f"  search_files {name:<18} ripgrep {v['ripgrep_ms']['p50']:6.0f}ms  python "
            f"{v['python_ms']['p50']:6.0f}ms  {floor}{ratios} ({v['matches']} matches, "
            f"same: {v['same_matches']}, scanned {v['files_scanned']})"
        )
    if "process_start_to_join_line_ms" in lt:
        print(
            f"  `letswork start` to join line p50 "
            f"{lt['process_start_to_join_line_ms']['p50']:.0f}ms; hub RSS with its index "
            f"{lt.get('process_with_index_kib', 0) / 1024:.1f} MiB, and 8 guests "
            f"{lt.get('process_with_index_and_8_peers_kib', 0) / 1024:.1f} MiB"
        )
    floor = lt.get("find_floor")
    if floor:
        git_ms = floor["git_ls_files_py_ms"]["p50"]
        print(f"  git ls-files '*.py': {git_ms:.1f}ms ({floor['paths']['git']} paths)")
        for who in ("guest", "host"):
            print(
                f"  find_files {who} all of **/*.py (workspace, cap lifted) "
                f"{floor[f'{who}_all_py_ms']['p50']:.1f}ms = "
                f"{floor[f'{who}_all_py_over_git']:.2f}x git ({floor['paths'][who]} paths); "
                f"whole tree (hub) {floor[f'{who}_whole_tree_over_git']:.2f}x git"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.large_tree", description=__doc__)
    parser.add_argument("--files", type=int, default=100_000, help="files in the tree")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of each find_files")
    parser.add_argument("--git", action="store_true", help="also time git ls-files (slow)")
    parser.add_argument(
        "--sdists",
        action="store_true",
        help="build the tree from sdists of " + ", ".join(SDISTS) + " (downloaded once)",
    )
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    a = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="letswork-bench-") as tmp:
        asyncio.run(
            bench_large_tree(
                Path(tmp), a.files, results, git=a.git, rounds=a.rounds, sdists=a.sdists
            )
        )
    print_large_tree(results)
    if a.out:
        a.out.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
