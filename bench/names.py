"""What names held by identities cost the hub (issue 16), as ratios within one run.

    python -m bench.names [--identities 4064] [--repeat 200]

A hub core over a real store, as the dispatch tests build it: ``hello`` of a new guest (which
checks its name against every known identity), ``set_display_name`` (which rewrites the name
stored with the identity's rows) and ``list_peers`` (which lists offline people), each timed
with no other identity known, then with ``--identities`` offline ones (the worst case is
``MAX_LIVE_INVITES`` x ``MAX_GUESTS_PER_INVITE`` = 4096; 4064 leaves one invite for the
bench). Medians in microseconds; timings
are measurements, never assertions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from letswork.hub.core import HubCore
from letswork.hub.peers import Peer
from letswork.hub.store import Store
from letswork.shared import crypto, invite
from letswork.shared.limits import Limits
from letswork.shared.protocol.wire import decode_request, encode_request

NOW = 1_800_000_000.0


def _core(root: Path, identities: int) -> HubCore:
    root.mkdir()
    (root / "a.txt").write_text("a\n", encoding="utf-8")
    store = Store.open(root.parent / (root.name + ".db"), os.urandom(32))
    core = HubCore(
        root.resolve(),
        store,
        host_secret=os.urandom(32),
        public_url="ws://127.0.0.1:9/",
        emit=lambda peer, name, data: None,
        close=lambda *a: None,
        limits=Limits(rate_burst=1_000_000, rate_per_second=1_000_000.0),
    )
    per_invite = 32
    for n in range((identities + per_invite - 1) // per_invite):
        invite_id, _ = core.create_invite("editor", f"i{n}", NOW)
        for k in range(min(per_invite, identities - n * per_invite)):
            store.add_admitted_guest(
                f"g{n}x{k}",
                f"p{n}x{k}",
                "editor",
                invite_id,
                os.urandom(16),
                os.urandom(32),
                NOW,
            )
    return core


def _call(core: HubCore, peer: Peer, op: str, **args: Any) -> Any:
    return core.handle(peer, decode_request(encode_request(1, op, args)), NOW)


def _median_us(work: Callable[[int], None], repeat: int) -> float:
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        work(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def _measure(core: HubCore, repeat: int) -> dict[str, float]:
    _, code = core.create_invite("editor", "bench", NOW)
    credential = core.lookup_credential(crypto.derive_invite_id(invite.parse(code).secret))
    assert credential is not None
    core.auto_admit = True
    me = core.new_peer(credential, NOW)
    _call(core, me, "hello", name="bencher")

    def hello(i: int) -> None:
        peer = core.new_peer(credential, NOW)
        _call(core, peer, "hello", name=f"new{i}")
        core.disconnect(peer, NOW)

    def rename(i: int, prefix: str = "b") -> None:
        core.renames.clear()  # the cost of a rename, not its rate limit (RENAMES_PER_MINUTE)
        _call(core, me, "set_display_name", name=f"{prefix}{i}")

    def rename_with_messages(i: int) -> None:
        rename(i, "m")

    results = {
        "hello (new guest)": _median_us(hello, repeat),
        "set_display_name": _median_us(rename, repeat),
        "list_peers": _median_us(lambda i: _call(core, me, "list_peers"), repeat),
    }
    # The messages cap of one sender (MAX_MESSAGES_PER_SENDER), each with its receipts.
    for n in range(2000):
        _call(core, me, "send_message", body=f"note {n}")
    results["set_display_name, 2,000 messages"] = _median_us(rename_with_messages, repeat)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=4064)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = _measure(_core(Path(tmp) / "none", 0), args.repeat)
        many = _measure(_core(Path(tmp) / "many", args.identities), args.repeat)
    print(f"{'op':<20} {'0 known':>10} {str(args.identities) + ' known':>12} {'ratio':>7}")
    for op, us in base.items():
        print(f"{op:<20} {us:>8.0f}us {many[op]:>10.0f}us {many[op] / us:>6.1f}x")


if __name__ == "__main__":
    main()
