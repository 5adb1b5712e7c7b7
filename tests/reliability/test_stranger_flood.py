"""1,000 strangers without an invite do their worst; the hub's memory stays bounded (issue 13,
item 4) and admitted peers keep being answered.

The hub runs in a process of its own (``hub_child``) behind the tunnel, so that every stranger
is a source of its own (``CF-Connecting-IP``), the worst case for per-source caps. Each of the
``STRANGERS`` attackers loops, reconnecting as soon as it is closed, through one of:

- ``big``: a completed upgrade, then a 4 MiB binary frame (header and payload);
- ``loris``: an HTTP upgrade request with just under the hub's 16 KiB of header lines, then
  one byte a second, never finished;
- ``half``: a completed upgrade, then nothing;
- ``partial``: a completed upgrade, then the header and half the body of a ClientHello;
- ``guess``: a completed upgrade, then a well-formed ClientHello for no invite.

Meanwhile two guests (tunnel sources of their own) and the host (its Unix socket) each send
``read_file`` requests back to back. The hub's ``VmRSS`` is sampled throughout.

Run: ``pytest tests/reliability/test_stranger_flood.py --slow -s`` (``LETSWORK_FLOOD_STRANGERS``,
``LETSWORK_FLOOD_SECONDS`` change the size; the figures go to docs/security.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import statistics
import struct
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from letswork.client.connection import HubConnection
from letswork.local import statedir
from letswork.shared import crypto, invite
from letswork.shared.limits import MiB
from tests.reliability.support import env_int, report, slow_size
from tests.reliability.test_soak import Child, hub_child

STRANGERS = env_int("LETSWORK_FLOOD_STRANGERS", 1000)  # the count, in CI too
SECONDS = slow_size(30, 15, "LETSWORK_FLOOD_SECONDS")
RSS_BOUND = 120 * MiB
KINDS = tuple(os.environ.get("LETSWORK_FLOOD_KINDS", "big,loris,half,partial,guess").split(","))
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def upgrade_request(host: str, ip: str, padding: int = 0) -> bytes:
    lines = [
        "GET / HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {KEY.decode()}",
        "Sec-WebSocket-Version: 13",
        f"CF-Connecting-IP: {ip}",
    ]
    head = ("\r\n".join(lines) + "\r\n").encode()
    return head + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(padding))


def frame_header(length: int) -> bytes:
    """A masked binary frame's header (mask key 0: the payload goes as is)."""
    if length < 126:
        return bytes([0x82, 0x80 | length]) + b"\0\0\0\0"
    if length < 1 << 16:
        return bytes([0x82, 0x80 | 126]) + struct.pack("!H", length) + b"\0\0\0\0"
    return bytes([0x82, 0x80 | 127]) + struct.pack("!Q", length) + b"\0\0\0\0"


class Stranger:
    def __init__(self, index: int, host: str, port: int, stop: asyncio.Event) -> None:
        self.kind = KINDS[index % len(KINDS)]
        self.ip = f"10.{index // 250}.{index % 250}.{1 + index % 7}"
        self.host, self.port, self.stop = host, port, stop
        self.connections = 0

    async def run(self) -> None:
        while not self.stop.is_set():
            self.connections += 1
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                try:
                    await self.attack(reader, writer)
                finally:
                    writer.transport.abort()
            await asyncio.sleep(0.05)  # the hub closed us: come straight back

    async def attack(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.kind == "loris":
            writer.write(upgrade_request(self.host, self.ip, padding=15))
            await writer.drain()
            while not self.stop.is_set():
                writer.write(b"X")
                await writer.drain()
                if await self._closed(reader, 1.0):
                    return
            return
        writer.write(upgrade_request(self.host, self.ip) + b"\r\n")
        await writer.drain()
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
        if self.kind == "big":
            writer.write(frame_header(4 * MiB))
            chunk = bytes(64 * 1024)
            for _ in range(64):
                writer.write(chunk)
                await writer.drain()
        elif self.kind == "partial":
            writer.write(frame_header(crypto.CLIENT_HELLO_LEN) + bytes(49))
        elif self.kind == "guess":
            hello = crypto.ClientHandshake(os.urandom(16)).client_hello()
            writer.write(frame_header(len(hello)) + hello)
        await writer.drain()
        while not self.stop.is_set() and not await self._closed(reader, 1.0):
            pass

    @staticmethod
    async def _closed(reader: asyncio.StreamReader, wait: float) -> bool:
        try:
            data = await asyncio.wait_for(reader.read(65536), wait)
        except asyncio.TimeoutError:
            return False
        return not data


async def keep_working(conn: HubConnection, stop: asyncio.Event, latencies: list[float]) -> int:
    answered = 0
    while not stop.is_set():
        started = time.monotonic()
        page = await conn.request("read_file", {"path": "notes.txt"})
        assert page["text"] == "alpha\nbeta\ngamma\n"
        latencies.append(time.monotonic() - started)
        answered += 1
        await asyncio.sleep(0.05)
    return answered


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= need, "raise ulimit -n"


@pytest.mark.slow
async def test_hub_memory_stays_bounded_while_1000_strangers_do_their_worst(
    project: Path,
) -> None:
    raise_fd_limit(STRANGERS * 2 + 256)
    with hub_child(project, "--behind-tunnel") as child:
        await run_flood(project, child)


async def run_flood(project: Path, child: Child) -> None:
    url = urlsplit(str(child.info["url"]))
    assert url.hostname is not None and url.port is not None
    code = invite.parse(str(child.info["invite"]))
    host_secret = statedir.read_secret_file(statedir.project_state(project).host_key_path)
    peers = [
        HubConnection(str(child.info["url"]), code.secret, name=f"guest{i}", headers=h)
        for i, h in enumerate([{"CF-Connecting-IP": "198.51.100.1"}, {"CF-Connecting-IP": "::2"}])
    ]
    peers.append(HubConnection(str(child.info["host_url"]), host_secret, name="host"))
    for conn in peers:
        await conn.connect()
    baseline = child.rss()
    stop = asyncio.Event()
    strangers = [Stranger(i, url.hostname, url.port, stop) for i in range(STRANGERS)]
    latencies: list[float] = []
    samples: list[int] = []
    fds: list[int] = []
    attack = [asyncio.create_task(s.run()) for s in strangers]
    work = [asyncio.create_task(keep_working(c, stop, latencies)) for c in peers]
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        samples.append(child.rss())
        fds.append(child.fds())
        await asyncio.sleep(0.25)
    stop.set()
    answered = await asyncio.gather(*work)
    for task in attack:
        task.cancel()
    await asyncio.gather(*attack, return_exceptions=True)
    stats = child.read_stats()
    for conn in peers:
        await conn.close()
    peak = max(samples)
    latencies.sort()
    report(
        "stranger_flood",
        strangers=STRANGERS,
        seconds=SECONDS,
        connections=sum(s.connections for s in strangers),
        rss_baseline_mib=round(baseline / MiB, 1),
        rss_peak_mib=round(peak / MiB, 1),
        rss_median_mib=round(statistics.median(samples) / MiB, 1),
        fds_peak=max(fds),
        answered=answered,
        latency_p50_ms=round(1000 * latencies[len(latencies) // 2], 1),
        latency_p99_ms=round(1000 * latencies[int(len(latencies) * 0.99)], 1),
        hub_stats=stats,
    )
    assert peak < RSS_BOUND, f"hub RSS peaked at {peak / MiB:.1f} MiB"
    assert all(n > 0 for n in answered), answered
