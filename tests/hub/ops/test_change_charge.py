"""Attack (a-charge) on a guest's change paid by its stored bytes before the commit's checks
(issue 15): a refusal it could not foresee costs it no more than the change accepted, the
host pays nothing for its bytes, a change prepared again is paid once, and the debt is
bounded. Real hubs, real SQLite, an injected clock (no refill between the readings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from letswork.hub.changes import CHANGE_BYTES_PER_REQUEST
from letswork.hub.peers import Peer
from letswork.hub.ratelimit import TokenBucket
from letswork.shared.errors import ErrorCode, OpError
from tests.hub.ops.test_large_changes import NEW, OLD
from tests.hub.ops.test_large_files import lock_file
from tests.hub.test_admission import FakeClock
from tests.support.hubs import HubFixture, running_hub

PATH = "package-lock.json"


def _peer(fx: HubFixture, name: str) -> Peer:
    assert fx.hub.core is not None
    (peer,) = [p for p in fx.hub.core.peers.values() if p.name == name]
    return peer


async def test_a_guests_edit_refused_by_a_lock_taken_meanwhile_costs_what_it_would_accepted(
    project: Path,
) -> None:
    clock = FakeClock()
    async with running_hub(project, clock=clock) as fx:
        data = lock_file(fx.project)
        guest = await fx.guest("alice")
        host = await fx.host()
        await host.call("lock_file", path=PATH)
        peer = _peer(fx, "alice")
        before = peer.bucket.tokens(clock.now)
        with pytest.raises(OpError) as refused:
            await guest.call("edit_file", path=PATH, old_string=OLD, new_string=NEW)
        assert refused.value.code == ErrorCode.LOCKED  # not rate_limited: it was let in
        refused_cost = before - peer.bucket.tokens(clock.now)
        await host.call("unlock_file", path=PATH)
        clock.now += 3600.0  # full again
        before = peer.bucket.tokens(clock.now)
        accepted = await guest.call("edit_file", path=PATH, old_string=OLD, new_string=NEW)
        assert accepted["status"] == "pending"
        accepted_cost = before - peer.bucket.tokens(clock.now)
        assert refused_cost == pytest.approx(accepted_cost)  # no more than if accepted
        assert refused_cost > len(data) / CHANGE_BYTES_PER_REQUEST


async def test_the_hosts_large_edit_costs_it_one_request(project: Path) -> None:
    clock = FakeClock()
    async with running_hub(project, clock=clock) as fx:
        lock_file(fx.project)
        host = await fx.host()
        await host.call("list_files")
        assert fx.hub.core is not None
        (peer,) = [p for p in fx.hub.core.peers.values() if p.is_host]
        before = peer.bucket.tokens(clock.now)
        done = await host.call("edit_file", path=PATH, old_string=OLD, new_string=NEW)
        assert done["status"] == "applied"
        assert before - peer.bucket.tokens(clock.now) == pytest.approx(1.0)


async def test_a_change_prepared_again_after_a_write_is_paid_once(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    async with running_hub(project, clock=clock) as fx:
        lock_file(fx.project)
        (fx.project / "b.json").write_bytes((fx.project / PATH).read_bytes())
        guest = await fx.guest("alice")
        peer = _peer(fx, "alice")
        before = peer.bucket.tokens(clock.now)
        await guest.call("edit_file", path=PATH, old_string=OLD, new_string=NEW)
        once = before - peer.bucket.tokens(clock.now)
        core = fx.hub.core
        assert core is not None
        real = core.written_since
        calls: list[int] = []

        def written_since(writes: int, *paths: Any) -> bool:
            calls.append(writes)
            return len(calls) == 1 or real(writes, *paths)  # the first read was "stale"

        monkeypatch.setattr(core, "written_since", written_since)
        clock.now += 3600.0
        before = peer.bucket.tokens(clock.now)
        done = await guest.call("edit_file", path="b.json", old_string=OLD, new_string=NEW)
        assert done["status"] == "pending" and len(calls) >= 2  # prepared twice
        assert before - peer.bucket.tokens(clock.now) == pytest.approx(once, rel=1e-3)


def test_a_charge_of_any_size_leaves_at_most_ten_bursts_of_debt() -> None:
    bucket = TokenBucket(50.0, 200)
    bucket.charge(0.0, 1e12)  # a 64 TiB change's worth
    assert bucket.tokens(0.0) == -2000.0
    assert bucket.retry_after(0.0) == pytest.approx(2001 / 50.0)  # ~40 s, then as before
    bucket.charge(1.0, 1 / CHANGE_BYTES_PER_REQUEST)  # a 1-byte change: a fraction
    assert bucket.tokens(1.0) == pytest.approx(-2000.0 + 50.0 - 1 / CHANGE_BYTES_PER_REQUEST)
