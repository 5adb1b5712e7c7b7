"""The per-guest request limit holds across reconnects (found by the soak test, issue 8 item 4).

Each connection used to get a fresh token bucket, full with the burst of 200, so a guest could
reconnect in a loop to get past 50 requests per second. The soak run showed 69 accepted
requests per guest per second with one reconnect every 10 seconds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.limits import Limits
from tests.reliability.support import FakeClock
from tests.support.hubs import Client, HubFixture, running_hub


async def spend(client: Client, n: int) -> tuple[int, int]:
    results = await asyncio.gather(*(client.call("ping") for _ in range(n)), return_exceptions=True)
    limited = [r for r in results if isinstance(r, OpError) and r.code == ErrorCode.RATE_LIMITED]
    assert all(isinstance(r, dict) for r in results if r not in limited)
    return len(results) - len(limited), len(limited)


async def reconnect(fx: HubFixture, client: Client, secret: bytes) -> Client:
    await client.conn.close()
    return await fx.connect(secret, "alice")


async def test_reconnecting_does_not_refill_a_guests_request_budget(project: Path) -> None:
    clock = FakeClock()
    limits = Limits(rate_per_second=1.0, rate_burst=5)
    async with running_hub(project, limits=limits, clock=clock) as fx:
        resume: dict[str, bytes] = {}
        alice = await fx.connect(
            fx.invite_secret, "alice", on_resume_secret=lambda s: resume.update(a=s)
        )
        assert await spend(alice, 10) == (4, 6)  # hello took one token of five
        for _ in range(3):
            alice = await reconnect(fx, alice, resume["a"])
            assert await spend(alice, 3) == (0, 3)  # still empty: same guest, same budget
        clock.now += 2
        assert await spend(alice, 3) == (2, 1)  # it refills at the configured rate


async def test_two_guests_and_two_host_connections_have_budgets_of_their_own(
    project: Path,
) -> None:
    clock = FakeClock()
    limits = Limits(rate_per_second=1.0, rate_burst=5)
    async with running_hub(project, limits=limits, clock=clock) as fx:
        alice = await fx.guest("alice")
        bob = await fx.guest("bob")
        host_a, host_b = await fx.host(), await fx.host()
        assert await spend(alice, 10) == (4, 6)
        assert await spend(bob, 4) == (4, 0)
        assert await spend(host_a, 10) == (4, 6)
        assert await spend(host_b, 4) == (4, 0)
