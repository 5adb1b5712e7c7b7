"""A 64 MiB text file through a hub in this process: memory and time (issue 16, item 3).

    python -m bench.big_file --case page|oneline|search|edit|approve|update|merge [--mib N]

Each case runs in a fresh process (peak RSS only grows): a hub on a folder with one file of
``--mib`` MiB (default 64, ``MAX_TEXT_FILE_BYTES``), left to settle (3 s: the page cache keeps
the facts of a settled version only; ``--unsettled`` does not wait), and one guest through a
``HubConnection``:

- ``page``: the channel's way through the whole file, ``read_file`` of 2,000 lines cut to
  60,000 characters, page after page to the end;
- ``oneline``: the same on a file that is one 64 MiB line (a hostile file: every page is the
  start of that line, so the guest gets only the first page's worth);
- ``search``: ``search_files`` of a string on the last line;
- ``edit``: ``edit_file`` of one line in the middle (a pending change: diff and content
  stored);
- ``approve``: that edit, then the host's ``get_change`` and ``approve_change`` of it (the
  content read back and written to the file), timed apart (``approve_seconds``);
- ``update``, ``merge``: that edit, the file's first line edited on disk, then the guest's
  ``update_change`` of its conflict, or the host's approval of the clean merge it was shown;
  only the pings of that step count (``--mib`` 4 or 16: the pending-bytes and merge-base caps
  refuse more).

In every case another connection pings the hub meanwhile, one ping after another: the p50,
p99 and worst of their round trips (``ping_*_ms``); the worst is the event loop's longest
stall (issue 15's target: p99 at most 50 ms while any op runs).

Prints JSON: the peak RSS before the case (the hub started, the file written) and after it
(``ru_maxrss``), the first call's time, and for ``page`` the pages and the p50 of a later
page. Measurements, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import hub_in_process
from letswork.client.connection import HubConnection
from letswork.hub.workspace import pages
from letswork.local import statedir

MiB = 1024 * 1024


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _line(n: int) -> bytes:
    return f'    "node_modules/pkg-{n:08}": {{"version": "1.0.{n}"}},\n'.encode()


def _write(path: Path, mib: int, *, one_line: bool) -> tuple[int, int]:
    """Write a file of at most ``mib`` MiB; its size and the number of its last line's
    package (``one_line``: a single line)."""
    n = 0
    with open(path, "wb") as out:
        if one_line:
            chunk = b"x" * MiB
            for _ in range(mib - 1):
                out.write(chunk)
            out.write(chunk[:-1] + b"\n")
        else:
            room = mib * MiB
            while room > len(_line(n)):
                line = _line(n)
                out.write(line)
                room -= len(line)
                n += 1
    old = time.time() - 10
    os.utime(path, (old, old))
    # The ctime is now: the page cache keeps a version's facts once it has settled. Until
    # then every page streams the whole file again (measured apart: --case page --unsettled).
    return path.stat().st_size, n - 1


def _wait_settled(path: Path) -> None:
    ctime = path.stat().st_ctime
    time.sleep(max(0.0, ctime + pages.SETTLE_SECONDS + 0.1 - time.time()))


async def run(case: str, mib: int, *, unsettled: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "p"
        project.mkdir()
        size, last = _write(project / "big.json", mib, one_line=case == "oneline")
        if not unsettled:
            _wait_settled(project / "big.json")
        async with hub_in_process(project, Path(tmp) / "state") as (_hub, code):
            conn = HubConnection(code.url, code.secret, name="bench")
            await conn.connect()
            pinger = HubConnection(code.url, code.secret, name="pinger")
            await pinger.connect()
            host = None
            if case in ("approve", "update", "merge"):
                secret = statedir.read_secret_file(_hub.state.host_key_path)
                host = HubConnection(code.url, secret, name="host")
                await host.connect()
            rtts: list[float] = []
            done = asyncio.Event()

            async def ping_loop() -> None:
                while not done.is_set():
                    t = time.perf_counter()
                    await pinger.request("ping", timeout=120)
                    rtts.append(time.perf_counter() - t)

            before = _peak_mib()
            out: dict[str, Any] = {"case": case, "file_mib": round(size / MiB, 1)}
            pings = asyncio.create_task(ping_loop())
            t0 = time.perf_counter()
            if case in ("page", "oneline"):
                times: list[float] = []
                offset, pages, total = 0, 0, 1
                while offset < total:
                    t = time.perf_counter()
                    page = await conn.request(
                        "read_file",
                        {"path": "big.json", "offset": offset, "limit": 2000, "max_chars": 60_000},
                        timeout=120,
                    )
                    times.append(time.perf_counter() - t)
                    pages += 1
                    total = page["total_lines"]
                    if page["lines"] == 0:
                        break  # one line longer than a page: only its start is readable
                    offset += page["lines"]
                later = sorted(times[1:]) or [0.0]
                out |= {
                    "first_page_ms": round(times[0] * 1000, 1),
                    "pages": pages,
                    "later_page_p50_ms": round(later[len(later) // 2] * 1000, 2),
                }
            elif case == "search":
                found = await conn.request(
                    "search_files", {"pattern": f"pkg-{last:08}"}, timeout=120
                )
                out["matches"] = len(found["matches"])
            else:
                result = await conn.request(
                    "edit_file",
                    {
                        "path": "big.json",
                        "old_string": _line(last // 2).decode().strip(),
                        "new_string": _line(last // 2).decode().strip().replace("1.0.", "2.0."),
                    },
                    timeout=120,
                )
                out["status"] = result["status"]
                if case in ("update", "merge"):
                    assert host is not None
                    out |= await _rebase(case, project / "big.json", (conn, host), result, rtts)
                elif host is not None:
                    t1 = time.perf_counter()
                    change_id = result["change"]["id"]
                    await host.request("get_change", {"id": change_id}, timeout=120)
                    decided = await host.request("approve_change", {"id": change_id}, timeout=120)
                    out["approved"] = decided["change"]["status"]
                    out["approve_seconds"] = round(time.perf_counter() - t1, 2)
                    await host.close()
            out["seconds"] = round(time.perf_counter() - t0, 2)
            done.set()
            await pings
            await pinger.close()
            rtts.sort()
            out["pings"] = len(rtts)
            out["ping_p50_ms"] = round(rtts[len(rtts) // 2] * 1000, 2)
            out["ping_p99_ms"] = round(rtts[min(len(rtts) - 1, len(rtts) * 99 // 100)] * 1000, 2)
            out["worst_ping_ms"] = round(rtts[-1] * 1000, 1)  # the loop's longest stall
            out["peak_rss_before_mib"] = round(before, 1)
            out["peak_rss_after_mib"] = round(_peak_mib(), 1)
            await conn.close()
            return out


async def _rebase(
    case: str,
    path: Path,
    peers: tuple[HubConnection, HubConnection],
    result: Any,
    rtts: list[float],
) -> dict[str, Any]:
    """``update``/``merge``: the guest's pending edit, then the file's first line edited on
    disk (as the host's editor would); ``update``: the host's approve makes it a conflict and
    the guest resubmits it (``update_change``); ``merge``: the host's approve shows the clean
    merge, then writes it. Only the pings of that last step are kept (``rtts`` is emptied
    before it)."""
    guest, host = peers
    change_id = result["change"]["id"]
    data = path.read_bytes()
    path.write_bytes(data.replace(_line(0), _line(0).replace(b"1.0.", b"9.0."), 1))
    out: dict[str, Any] = {}
    if case == "update":
        decided = await host.request("approve_change", {"id": change_id}, timeout=120)
        assert decided["change"]["status"] == "conflict", decided
        mid = _line(int(path.stat().st_size / len(_line(0)) / 3)).decode().strip()
        rtts.clear()
        t1 = time.perf_counter()
        updated = await guest.request(
            "update_change",
            {"id": change_id, "old_string": mid, "new_string": mid.replace("1.0.", "3.0.")},
            timeout=120,
        )
        out["updated"] = updated["status"]
    else:
        shown = await host.request("approve_change", {"id": change_id, "merge": True}, timeout=120)
        merge = shown["merge"]
        rtts.clear()
        t1 = time.perf_counter()
        decided = await host.request(
            "approve_change",
            {
                "id": change_id,
                "merge": True,
                "current_sha256": merge["current_sha256"],
                "merged_sha256": merge["merged_sha256"],
            },
            timeout=120,
        )
        out["approved"] = decided["change"]["status"]
    out[f"{case}_seconds"] = round(time.perf_counter() - t1, 2)
    await host.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--case",
        choices=("page", "oneline", "search", "edit", "approve", "update", "merge"),
        default="page",
    )
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument(
        "--unsettled", action="store_true", help="do not wait for the file to settle"
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.case, args.mib, unsettled=args.unsettled))))


if __name__ == "__main__":
    main()
