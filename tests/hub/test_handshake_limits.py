"""Strangers before the handshake (issue 13, items 4 and 5).

A connection without a credential gets frames of a ClientHello's size, a bounded number of
handshake slots (in all and per source), and a failure on the record if it stalls; the host's
own tools reach the hub on its Unix socket, where none of that can lock them out; and no web
page gets a WebSocket at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus

from letswork.client.connection import HubConnection
from letswork.local import statedir
from letswork.shared import crypto
from letswork.shared.errors import HandshakeError, TransportError, UsageError
from letswork.shared.limits import Limits, MiB
from tests.channel.mcp_support import joined, mcp_channel, observer
from tests.reliability.support import FakeClock
from tests.support.hubs import HubFixture, running_hub
from tests.support.processes import hub_process


def cf(ip: str) -> dict[str, str]:
    return {"CF-Connecting-IP": ip}


async def half_open(fx: HubFixture, ip: str | None = None) -> ClientConnection:
    """A WebSocket opened to the hub that never sends its ClientHello."""
    return await connect(
        fx.url, compression=None, additional_headers=cf(ip) if ip else None, open_timeout=5
    )


async def closed_code(ws: ClientConnection, timeout: float = 5) -> int | None:
    """Wait for the hub to close ``ws``; the close code it sent."""
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), timeout)
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


async def host_works(url: str, secret: bytes) -> None:
    conn = HubConnection(url, secret, name="host", client="test")
    await conn.connect(timeout=5)
    try:
        page = await conn.request("read_file", {"path": "notes.txt"})
        assert page["text"] == "alpha\nbeta\ngamma\n"
    finally:
        await conn.close()


async def bad_hello(url: str, ip: str | None = None) -> int | None:
    """One well-formed ClientHello for an invite that does not exist; the close code."""
    async with connect(url, additional_headers=cf(ip) if ip else None) as ws:
        try:
            await ws.send(crypto.ClientHandshake(os.urandom(16)).client_hello())
            await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
        raise AssertionError("the hub answered a ClientHello for an unknown invite")


@pytest.fixture
async def closing() -> AsyncIterator[list[ClientConnection]]:
    held: list[ClientConnection] = []
    yield held
    for ws in held:
        await ws.close()


def test_the_handshake_frame_limit_is_the_client_hellos_size() -> None:
    from letswork.shared.limits import MAX_HANDSHAKE_FRAME_BYTES

    assert MAX_HANDSHAKE_FRAME_BYTES == crypto.CLIENT_HELLO_LEN
    assert crypto.CLIENT_FINISHED_LEN <= MAX_HANDSHAKE_FRAME_BYTES


async def test_a_frame_one_byte_over_a_client_hello_closes_the_connection_with_1009(
    project: Path,
) -> None:
    async with running_hub(project) as fx, connect(fx.url) as ws:
        await ws.send(b"\x01" * (crypto.CLIENT_HELLO_LEN + 1))
        assert await closed_code(ws) == 1009  # message too big, not a judged hello (4400)


async def test_oversized_frames_before_the_handshake_count_as_failed_handshakes(
    project: Path,
) -> None:
    async with running_hub(project, behind_tunnel=True, clock=FakeClock()) as fx:
        for _ in range(5):
            async with connect(fx.url, additional_headers=cf("203.0.113.7")) as ws:
                await ws.send(bytes(crypto.CLIENT_HELLO_LEN + 1))
                assert await closed_code(ws) == 1009
        with pytest.raises(TransportError, match="too many failed attempts"):
            await fx.connect(fx.invite_secret, "alice", headers=cf("203.0.113.7"))


async def test_a_4_mib_frame_header_before_the_handshake_is_refused_before_its_payload(
    project: Path,
) -> None:
    async with running_hub(project) as fx, connect(fx.url) as ws:
        # Only the header of a masked 4 MiB binary frame: the hub must refuse it from the
        # length field instead of waiting for (and buffering) 4 MiB.
        ws.transport.write(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 4 * MiB) + b"mask")
        assert await closed_code(ws, timeout=5) == 1009


async def test_the_global_cap_closes_the_connection_after_n_half_open_handshakes(
    project: Path, closing: list[ClientConnection]
) -> None:
    limits = Limits(max_handshakes_in_progress=3, max_handshakes_in_progress_per_source=10)
    async with running_hub(project, limits=limits) as fx:
        for _ in range(3):
            closing.append(await half_open(fx))
        with pytest.raises((InvalidMessage, OSError)):
            await half_open(fx)
        # The host's own socket is not one of the slots; a freed slot takes a stranger again.
        await host_works(fx.hub.host_url, fx.host_secret)
        await closing.pop().close()
        await asyncio.wait_for(_until_free(fx), 5)
        closing.append(await half_open(fx))


async def _until_free(fx: HubFixture) -> None:
    assert fx.hub.server is not None
    while len(fx.hub.server._gate.in_progress) >= 3:
        await asyncio.sleep(0.01)


async def test_the_per_source_cap_refuses_the_next_half_open_handshake_with_503(
    project: Path, closing: list[ClientConnection]
) -> None:
    limits = Limits(max_handshakes_in_progress=20, max_handshakes_in_progress_per_source=2)
    async with running_hub(project, behind_tunnel=True, limits=limits) as fx:
        for _ in range(2):
            closing.append(await half_open(fx, "203.0.113.7"))
        with pytest.raises(InvalidStatus) as refused:
            await half_open(fx, "203.0.113.7")
        assert refused.value.response.status_code == 503
        # Another tunnel source has its own slots, and a connected guest is not counted.
        guest = await fx.connect(fx.invite_secret, "alice", headers=cf("198.51.100.20"))
        assert (await guest.call("read_file", path="notes.txt"))["text"].startswith("alpha")
        closing.append(await half_open(fx, "198.51.100.21"))


async def test_a_timed_out_handshake_counts_as_a_failed_handshake(project: Path) -> None:
    clock = FakeClock()
    limits = Limits(handshake_timeout_seconds=0.3)
    async with running_hub(project, behind_tunnel=True, clock=clock, limits=limits) as fx:
        stalled = [await half_open(fx, "203.0.113.7") for _ in range(5)]
        codes = await asyncio.gather(*(closed_code(ws) for ws in stalled))
        assert codes == [crypto.CloseCode.HANDSHAKE_TIMEOUT] * 5
        with pytest.raises(TransportError, match="too many failed attempts"):
            await fx.connect(fx.invite_secret, "alice", headers=cf("203.0.113.7"))
        clock.now += 61  # the window is a minute of the hub's (injected) clock
        await fx.connect(fx.invite_secret, "alice", headers=cf("203.0.113.7"))


async def test_a_websocket_upgrade_with_an_origin_header_is_refused_with_403(
    project: Path,
) -> None:
    async with running_hub(project) as fx:
        for opener in (
            lambda: connect(fx.url, origin="https://evil.example"),  # type: ignore[arg-type]
            lambda: unix_connect(
                fx.hub.host_url.removeprefix("ws+unix:"),
                "ws://localhost/",
                origin="null",  # type: ignore[arg-type]
            ),
        ):
            with pytest.raises(InvalidStatus) as refused:
                await opener()
            assert refused.value.response.status_code == 403
        # Our own client sends no Origin, so it is let in.
        await host_works(fx.url, fx.host_secret)


async def test_the_host_socket_still_connects_after_bad_client_hellos_from_loopback(
    project: Path, closing: list[ClientConnection]
) -> None:
    limits = Limits(max_handshakes_in_progress=4, max_handshakes_in_progress_per_source=4)
    async with running_hub(project, clock=FakeClock(), limits=limits) as fx:
        codes = [await bad_hello(fx.url) for _ in range(6)]
        assert codes[:5] == [crypto.CloseCode.AUTH_FAILED] * 5
        assert codes[5] == crypto.CloseCode.TOO_MANY_ATTEMPTS
        # Every handshake slot is held by half-open connections too: loopback TCP is full,
        # the host's socket is not.
        for _ in range(4):
            closing.append(await half_open(fx))
        with pytest.raises(TransportError):
            await host_works(fx.url, fx.host_secret)
        assert fx.hub.host_url.startswith("ws+unix:")
        await host_works(fx.hub.host_url, fx.host_secret)


async def test_the_host_key_gets_in_over_loopback_tcp_after_bad_client_hellos(
    project: Path,
) -> None:
    async with running_hub(project, clock=FakeClock()) as fx:
        codes = [await bad_hello(fx.url) for _ in range(6)]
        assert codes[-1] == crypto.CloseCode.TOO_MANY_ATTEMPTS
        # Strangers' invites from loopback are limited now; the host key is not.
        with pytest.raises(TransportError, match="too many failed attempts"):
            await fx.connect(fx.invite_secret, "alice")
        await host_works(fx.url, fx.host_secret)
        # Nor is a bad host-key hello a way around the limit for anyone else: it still fails.
        async with connect(fx.url) as ws:
            hello = bytearray(crypto.ClientHandshake(fx.host_secret).client_hello())
            hello[-1] ^= 1  # the MAC
            await ws.send(bytes(hello))
            assert await closed_code(ws) == crypto.CloseCode.AUTH_FAILED


async def test_the_host_socket_is_private_and_only_the_handshake_lets_one_in(
    project: Path,
) -> None:
    async with running_hub(project) as fx:
        path = Path(fx.hub.host_url.removeprefix("ws+unix:"))
        assert path.stat().st_mode & 0o077 == 0
        wrong = HubConnection(fx.hub.host_url, os.urandom(32), name="host")
        with pytest.raises(HandshakeError):
            await wrong.connect(timeout=5)
    assert not path.exists()


def test_the_admin_cli_gets_in_after_bad_client_hellos_from_loopback(project: Path) -> None:
    with hub_process(project) as hp:
        info = json.loads(statedir.project_state(project).hub_info_path.read_text())
        url = info["local_url"]

        async def attack() -> list[int | None]:
            return [await bad_hello(url) for _ in range(6)]

        codes = asyncio.run(attack())
        assert codes[-1] == crypto.CloseCode.TOO_MANY_ATTEMPTS  # loopback TCP is locked out
        status = subprocess.run(
            [sys.executable, "-m", "letswork", "status", "--project", str(project)],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert status.returncode == 0, status.stderr
        assert hp.terminate(timeout=10) == 0


async def test_a_file_in_the_way_of_the_host_socket_fails_start_clearly(project: Path) -> None:
    sock = statedir.project_state(project.resolve()).dir / "hub.sock"
    sock.write_text("not a socket")
    with pytest.raises(UsageError, match="host socket"):
        async with running_hub(project):
            pass
    assert sock.read_text() == "not a socket"  # only a socket is ever removed


async def test_an_upgrade_request_over_16_kib_is_closed_before_it_is_answered(
    project: Path,
) -> None:
    async with running_hub(project) as fx:
        host, port = fx.url.removeprefix("ws://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            head = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            writer.write(head + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(17)))
            await writer.drain()
            # No final blank line: websockets alone would wait for the rest until its timeout.
            assert await asyncio.wait_for(reader.read(), 5) == b""
        finally:
            writer.close()
        assert fx.hub.server is not None
        assert fx.hub.server.stats["refused_oversized"] == 1


async def test_the_host_channel_gets_in_after_bad_client_hellos_from_loopback(
    project: Path,
) -> None:
    async with running_hub(project, clock=FakeClock()) as fx:
        watcher = await observer(fx)
        codes = [await bad_hello(fx.url) for _ in range(6)]
        assert codes[-1] == crypto.CloseCode.TOO_MANY_ATTEMPTS  # loopback TCP is locked out
        async with mcp_channel("--host", "--project", str(project)) as host:
            await joined(watcher, "host")
            answer = await host.ok("read_file", {"path": "notes.txt"})
        assert "alpha" in answer
