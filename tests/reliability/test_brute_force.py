"""Brute force: streams of wrong-invite handshakes (issue 8, item 5).

The hub runs in tunnel mode (``behind_tunnel=True``); the attacker's connections come from
loopback with a ``CF-Connecting-IP`` header, as cloudflared delivers them. The clock is fake, so
"a minute later" costs nothing. Limits (design section 9): 5 failed handshakes per source per
minute, 60 in all.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from letswork.shared import crypto
from letswork.shared.errors import HandshakeError, TransportError
from letswork.shared.limits import Limits
from tests.reliability.support import FakeClock, report
from tests.support.hubs import Client, HubFixture, running_hub

PER_SOURCE = 5
TOTAL = 60
#: Room for every parallel guess here, so that these tests hold the failed-handshake window;
#: the caps on handshakes in progress have their own tests (test_handshake_limits.py).
ROOMY = Limits(max_handshakes_in_progress=500, max_handshakes_in_progress_per_source=500)


def cf(ip: str) -> dict[str, str]:
    return {"CF-Connecting-IP": ip}


async def attempt(fx: HubFixture, secret: bytes, ip: str | None) -> str:
    """One connection attempt; returns "ok", "refused" (4401) or "limited" (4429)."""
    try:
        client = await fx.connect(
            secret, "guest" + os.urandom(3).hex(), headers=cf(ip) if ip else {}
        )
    except HandshakeError:
        return "refused"
    except TransportError as exc:
        message = exc.message
    else:
        await client.conn.close()
        return "ok"
    assert "too many failed attempts" in message, message
    return "limited"


async def wrong_guesses(fx: HubFixture, ips: Sequence[str | None]) -> list[str]:
    return list(await asyncio.gather(*(attempt(fx, os.urandom(16), ip) for ip in ips)))


async def still_works(client: Client) -> None:
    page = await client.call("read_file", path="notes.txt")
    assert page["text"] == "alpha\nbeta\ngamma\n"


async def test_one_source_is_cut_off_after_five_failures_and_others_are_not(
    project: Path,
) -> None:
    clock = FakeClock()
    async with running_hub(project, behind_tunnel=True, clock=clock) as fx:
        bystander = await fx.connect(fx.invite_secret, "alice", headers=cf("198.51.100.20"))
        outcomes = await wrong_guesses(fx, ["203.0.113.7"] * PER_SOURCE)
        assert outcomes == ["refused"] * PER_SOURCE
        # From now on that source is refused before any work, even with the right invite.
        assert await wrong_guesses(fx, ["203.0.113.7"] * 3) == ["limited"] * 3
        assert await attempt(fx, fx.invite_secret, "203.0.113.7") == "limited"
        # Everyone else is untouched: a new tunnel guest, the host, a connected guest.
        assert await attempt(fx, fx.invite_secret, "198.51.100.21") == "ok"
        assert await attempt(fx, fx.host_secret, None) == "ok"
        await still_works(bystander)
        clock.now += 61
        assert await attempt(fx, fx.invite_secret, "203.0.113.7") == "ok"
        assert fx.hub.server is not None
        report(
            "brute_force_one_source",
            guesses=PER_SOURCE + 3 + 1,
            refused_4401=PER_SOURCE,
            limited_4429=4,
            stats=fx.hub.server.stats,
        )


async def test_many_sources_hit_the_global_cap_but_the_local_host_keeps_working(
    project: Path,
) -> None:
    clock = FakeClock()
    async with running_hub(project, behind_tunnel=True, clock=clock) as fx:
        bystander = await fx.connect(fx.invite_secret, "alice", headers=cf("198.51.100.20"))
        ips = [f"203.0.113.{i}" for i in range(1, 101)]
        outcomes = await wrong_guesses(fx, ips[:TOTAL])
        assert outcomes == ["refused"] * TOTAL
        # The global cap: every further tunnel source is refused for the rest of the minute,
        # including a legitimate guest who joins now (the documented trade-off).
        assert set(await wrong_guesses(fx, ips[TOTAL:])) == {"limited"}
        assert await attempt(fx, fx.invite_secret, "198.51.100.21") == "limited"
        # The host's own local connections (loopback, no tunnel header) are not locked out,
        # and connected peers never notice the attack.
        assert await attempt(fx, fx.host_secret, None) == "ok"
        host = await fx.host()
        await still_works(host)
        await still_works(bystander)
        clock.now += 61
        assert await attempt(fx, fx.invite_secret, "198.51.100.21") == "ok"
        report(
            "brute_force_many_sources",
            sources=len(ips),
            refused_4401=TOTAL,
            limited_4429=len(ips) - TOTAL + 1,
        )


async def test_parallel_guesses_from_one_source_get_only_five_through(project: Path) -> None:
    clock = FakeClock()
    async with running_hub(project, behind_tunnel=True, clock=clock, limits=ROOMY) as fx:
        outcomes = await wrong_guesses(fx, ["203.0.113.7"] * 30)
        assert outcomes.count("refused") == PER_SOURCE
        assert outcomes.count("limited") == 30 - PER_SOURCE


async def test_a_local_source_still_has_its_own_limit_of_five(project: Path) -> None:
    clock = FakeClock()
    async with running_hub(project, behind_tunnel=True, clock=clock) as fx:
        assert await wrong_guesses(fx, [None] * PER_SOURCE) == ["refused"] * PER_SOURCE
        assert await attempt(fx, fx.invite_secret, None) == "limited"
        assert await attempt(fx, fx.host_secret, None) == "ok"  # the host key is exempt
        assert await attempt(fx, fx.invite_secret, "198.51.100.21") == "ok"


async def test_a_forged_tunnel_header_is_ignored_when_not_behind_the_tunnel(
    project: Path,
) -> None:
    clock = FakeClock()
    async with running_hub(project, behind_tunnel=False, clock=clock) as fx:
        ips = [f"203.0.113.{i}" for i in range(PER_SOURCE)]
        assert await wrong_guesses(fx, ips) == ["refused"] * PER_SOURCE
        # Rotating the header does not make a new source: all of it is loopback.
        assert await attempt(fx, fx.invite_secret, "203.0.113.99") == "limited"


async def test_legitimate_peers_keep_working_during_a_sustained_attack(project: Path) -> None:
    clock = FakeClock()
    async with running_hub(project, behind_tunnel=True, clock=clock, limits=ROOMY) as fx:
        alice = await fx.connect(fx.invite_secret, "alice", headers=cf("198.51.100.20"))
        host = await fx.host()
        served = 0
        for minute in range(3):
            attack = asyncio.gather(
                *(attempt(fx, os.urandom(16), f"203.0.{minute}.{i}") for i in range(80))
            )
            work = asyncio.gather(*(still_works(c) for c in (alice, host) for _ in range(20)))
            outcomes, _ = await asyncio.gather(attack, work)
            served += 40
            assert outcomes.count("refused") == TOTAL  # parallel guesses: the cap still holds
            assert outcomes.count("limited") == 80 - TOTAL
            clock.now += 61
        report("brute_force_sustained", minutes=3, guesses=240, requests_served=served)


async def test_the_log_tells_what_happened_and_holds_no_secret(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="letswork")
    clock = FakeClock()
    guesses = [os.urandom(16) for _ in range(PER_SOURCE + 2)]
    async with running_hub(project, behind_tunnel=True, clock=clock) as fx:
        for secret in guesses:
            await attempt(fx, secret, "203.0.113.7")
        tampered = fx.invite_secret[:-1] + bytes([fx.invite_secret[-1] ^ 1])
        await attempt(fx, tampered, "203.0.113.8")
        secrets = [*guesses, tampered, fx.invite_secret, fx.host_secret]
    text = caplog.text
    assert "203.0.113.7" in text and "failed" in text
    assert "unknown or revoked invite id" in text
    assert "too many failed handshakes" in text
    for secret in secrets:
        for form in (secret.hex(), crypto.derive_psk(secret).hex()):
            assert form not in text
        assert repr(secret)[2:-1] not in text
