"""hub/strangers.py: who a connection counts as, and the failed-handshake limits it meets.

The limits on real connections (slots, upgrade size, Origin, 4429) are held end to end in
test_handshake_limits.py and tests/reliability/test_brute_force.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from letswork.hub.strangers import StrangerGate, is_loopback
from letswork.shared.limits import Limits


def gate(*, behind_tunnel: bool = False) -> StrangerGate:
    return StrangerGate(Limits(), {}, behind_tunnel=behind_tunnel)


def connection(remote: str, **headers: str) -> Any:
    """What :meth:`StrangerGate.source` reads of a connection: its peer and its request."""
    request = Request("/", Headers({k.replace("_", "-"): v for k, v in headers.items()}))
    return SimpleNamespace(remote_address=(remote, 40000), request=request)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.5.5.5", "::1"])
def test_loopback_addresses_are_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "2001:db8::1", "cf:127.0.0.1", "local", "?"])
def test_other_addresses_and_names_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_behind_the_tunnel_a_loopback_connection_counts_as_its_forwarded_address() -> None:
    ws = connection("127.0.0.1", CF_Connecting_IP=" 203.0.113.9 ")

    assert gate(behind_tunnel=True).source(ws) == "cf:203.0.113.9"


def test_a_forwarded_address_is_ignored_when_not_behind_the_tunnel() -> None:
    ws = connection("127.0.0.1", CF_Connecting_IP="203.0.113.9")

    assert gate(behind_tunnel=False).source(ws) == "127.0.0.1"


def test_a_forwarded_address_from_a_remote_peer_is_ignored_even_behind_the_tunnel() -> None:
    ws = connection("198.51.100.7", CF_Connecting_IP="203.0.113.9")

    assert gate(behind_tunnel=True).source(ws) == "198.51.100.7"


def test_a_forwarded_address_is_cut_to_64_characters() -> None:
    ws = connection("127.0.0.1", CF_Connecting_IP="x" * 100)

    assert gate(behind_tunnel=True).source(ws) == "cf:" + "x" * 64


def test_loopback_meets_its_own_limit_only_when_the_global_cap_is_reached() -> None:
    limits = Limits()
    g = StrangerGate(limits, {}, behind_tunnel=True)
    per_source = limits.handshake_fails_per_source_per_minute
    for n in range(limits.handshake_fails_total_per_minute):
        g.record_failure(f"cf:192.0.2.{n // per_source}", 0.0)

    assert not g.allowed("cf:198.51.100.1", 1.0)
    assert g.allowed("127.0.0.1", 1.0)
    for _ in range(per_source):
        g.record_failure("127.0.0.1", 1.0)
    assert not g.allowed("127.0.0.1", 1.0)
