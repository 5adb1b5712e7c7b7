"""Limits: per-peer rate limit, failed-handshake limit, frame size, session size."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from letswork.shared import crypto
from letswork.shared.errors import ErrorCode, HandshakeError, OpError, TransportError
from letswork.shared.limits import Limits
from tests.support.hubs import running_hub


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_burst_over_the_rate_limit_gets_rate_limited_and_the_connection_survives(
    project: Path,
) -> None:
    clock = FakeClock()
    limits = Limits(rate_per_second=1.0, rate_burst=5)
    async with running_hub(project, limits=limits, clock=clock) as fx:
        client = await fx.connect(fx.host_secret, "host")  # hello took one token
        results = await asyncio.gather(
            *(client.call("ping") for _ in range(10)), return_exceptions=True
        )
        limited = [r for r in results if isinstance(r, OpError)]
        assert len(limited) == 6
        assert all(r.code == ErrorCode.RATE_LIMITED for r in limited)
        assert all(r.data["retry_after"] > 0 for r in limited)


async def test_a_bucket_short_by_less_than_a_millisecond_still_says_to_wait(
    project: Path,
) -> None:
    # A change paid by its bytes (issue 16) leaves a fraction of a token: 0.99995 of the one a
    # request needs rounded retry_after to 0.0, "retry now", and the retry was refused again.
    clock = FakeClock()
    limits = Limits(rate_per_second=1.0, rate_burst=5)
    async with running_hub(project, limits=limits, clock=clock) as fx:
        client = await fx.connect(fx.host_secret, "host")
        peer = next(iter(fx.hub.core.peers.values()))
        peer.bucket.charge(clock.now, peer.bucket.tokens(clock.now) - 0.99995)
        with pytest.raises(OpError) as caught:
            await client.call("ping")
        assert caught.value.code == ErrorCode.RATE_LIMITED
        assert caught.value.data["retry_after"] > 0
        clock.now += 10
        assert "now" in await client.call("ping")


async def test_wrong_invites_beyond_the_per_source_limit_are_refused_before_any_dh(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    original = crypto.ServerHandshake.respond

    def counting(self: crypto.ServerHandshake, hello: crypto.ClientHello, psk: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return original(self, hello, psk)

    monkeypatch.setattr(crypto.ServerHandshake, "respond", counting)
    clock = FakeClock()
    async with running_hub(project, clock=clock) as fx:
        wrong_invite = bytes(16)
        wrong_mac_invite = fx.invite_secret[:-1] + bytes([fx.invite_secret[-1] ^ 1])
        for _ in range(3):
            with pytest.raises(HandshakeError):
                await fx.connect(wrong_invite, "mallory")
        for _ in range(2):
            with pytest.raises(HandshakeError):
                await fx.connect(wrong_mac_invite, "mallory")
        assert calls == 0  # unknown invite ids never reach the MAC or DH step
        for _ in range(3):
            with pytest.raises(TransportError, match="too many failed attempts"):
                await fx.connect(fx.invite_secret, "alice")
        assert calls == 0
        clock.now += 61
        guest = await fx.connect(fx.invite_secret, "alice")
        assert "now" in await guest.call("ping")
        assert calls == 1


async def test_an_oversized_frame_closes_only_that_connection(project: Path) -> None:
    limits = Limits(max_frame_bytes=1024 * 1024 + 64 * 1024, max_file_bytes=1024 * 1024)
    async with running_hub(project, limits=limits) as fx:
        bystander = await fx.guest("alice")
        async with connect(fx.url, compression=None, max_size=None) as raw:
            await raw.send(b"\x01" * (2 * 1024 * 1024))
            with pytest.raises(ConnectionClosed) as info:
                await raw.recv()
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 1009
        assert "now" in await bystander.call("ping")


async def test_a_tampered_record_closes_only_that_connection(project: Path) -> None:
    async with running_hub(project) as fx:
        bystander = await fx.guest("alice")
        async with connect(fx.url, compression=None) as raw:
            hs = crypto.ClientHandshake(fx.invite_secret)
            await raw.send(hs.client_hello())
            reply = await raw.recv()
            assert isinstance(reply, bytes)
            finished, session = hs.receive_server_hello(reply)
            await raw.send(finished)
            record = bytearray(session.seal(b'{"id":1,"op":"ping","args":{}}'))
            record[-1] ^= 0x01
            await raw.send(bytes(record))
            with pytest.raises(ConnectionClosed) as info:
                await raw.recv()
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == crypto.CloseCode.PROTOCOL_VIOLATION
        assert "now" in await bystander.call("ping")


async def test_garbage_before_the_handshake_closes_with_the_protocol_violation_code(
    project: Path,
) -> None:
    async with running_hub(project) as fx:
        async with connect(fx.url, compression=None) as raw:
            await raw.send(b"GET / HTTP/1.1\r\n\r\n")
            with pytest.raises(ConnectionClosed) as info:
                await raw.recv()
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == crypto.CloseCode.PROTOCOL_VIOLATION
        host = await fx.host()
        assert "now" in await host.call("ping")


async def test_a_full_session_refuses_one_more_guest_but_never_the_host(project: Path) -> None:
    async with running_hub(project, limits=Limits(max_peers=1)) as fx:
        await fx.connect(fx.invite_secret, "alice")
        with pytest.raises(OpError) as info:
            await fx.connect(fx.invite_secret, "bob")
        assert info.value.code == ErrorCode.QUOTA_EXCEEDED
        host = await fx.host()
        assert "now" in await host.call("ping")


async def test_an_idle_peer_does_not_keep_its_last_large_request_in_hub_memory(
    project: Path,
) -> None:
    content = "x" * (900 * 1024)
    async with running_hub(project) as fx:
        guest = await fx.guest("big")
        host = await fx.host()
        tracemalloc.start(25)
        try:
            result = await guest.call("write_file", path="big.txt", content=content)
            await host.call("reject_change", id=result["change"]["id"], reason="too big")
            await host.call("ping")  # the guest now idles, waiting for its next request
            gc.collect()
            snapshot = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    held = [
        stat
        for stat in snapshot.statistics("traceback")
        if stat.size >= 512 * 1024
        # the server, the core, its handlers (hub/ops/) and the change queue
        and any("/letswork/hub/" in frame.filename for frame in stat.traceback)
    ]
    assert held == [], [str(s) + "\n" + "\n".join(s.traceback.format()[-6:]) for s in held]
