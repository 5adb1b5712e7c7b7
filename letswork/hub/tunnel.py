"""Supervise a cloudflared quick tunnel in front of the hub (design section 11).

The process runs as::

    cloudflared tunnel --no-autoupdate --url http://127.0.0.1:PORT --metrics 127.0.0.1:MPORT

- Its output is drained continuously (a full pipe would stall cloudflared).
- The public URL is read from its log (``https://<name>.trycloudflare.com``), or, if the log
  never shows it, from the metrics endpoint ``/quicktunnel``.
- Readiness is ``/ready`` on the metrics endpoint (200 once an edge connection is registered),
  or the log line ``Registered tunnel connection``, whichever comes first; after
  :data:`READY_TIMEOUT_SECONDS` the URL is announced anyway, with a warning.
- When the process exits it is restarted with exponential backoff; each new URL is passed to
  ``on_url`` so the caller can print a fresh invite.
- :meth:`TunnelSupervisor.stop` terminates it (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shutil
import socket
from collections.abc import Callable

from letswork.shared.errors import UsageError

log = logging.getLogger("letswork.tunnel")

URL_RE = re.compile(r"https://([a-z0-9-]+\.trycloudflare\.com)\b")
READY_LINE = "Registered tunnel connection"
READY_TIMEOUT_SECONDS = 20.0
MAX_BACKOFF_SECONDS = 30.0


def free_port() -> int:
    """A free TCP port on loopback (for cloudflared's metrics server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """A minimal HTTP/1.0 GET on loopback; returns (status, body). Raises OSError."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port), timeout=timeout
    )
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(65536), timeout=timeout)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise OSError("not an HTTP response") from None
    return status, body


class TunnelSupervisor:
    """Run and supervise cloudflared for the hub listening on ``local_port``.

    Args:
        local_port: the hub's loopback port.
        on_url: called with the tunnel's ``wss://`` URL each time a (new) tunnel is ready.
        binary: the cloudflared executable (default: found on PATH).
    """

    def __init__(
        self,
        *,
        local_port: int,
        on_url: Callable[[str], None],
        binary: str | None = None,
        base_backoff: float = 1.0,
    ) -> None:
        found = binary or shutil.which("cloudflared")
        if found is None:
            raise UsageError("cloudflared is not installed")
        self.binary = found
        self.local_port = local_port
        self.on_url = on_url
        self.base_backoff = base_backoff
        self.url: str | None = None
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.first_url = asyncio.Event()

    async def start(self) -> None:
        """Start supervising; returns at once (the URL arrives through ``on_url``)."""
        self._task = asyncio.create_task(self._supervise())

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                announced = await self._run_once()
            except OSError as exc:
                log.error("cannot start cloudflared: %s", exc)
                announced = False
            if self._stopping:
                return
            failures = 0 if announced else failures + 1
            delay = min(MAX_BACKOFF_SECONDS, self.base_backoff * 2 ** min(failures, 5))
            self.restarts += 1
            log.warning("cloudflared exited; restarting in %.0fs", delay)
            await asyncio.sleep(delay)

    async def _run_once(self) -> bool:
        """One cloudflared process, from start to exit; True if it announced a URL."""
        metrics = free_port()
        self._proc = proc = await asyncio.create_subprocess_exec(
            self.binary,
            "tunnel",
            "--no-autoupdate",
            "--url",
            f"http://127.0.0.1:{self.local_port}",
            "--metrics",
            f"127.0.0.1:{metrics}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        found: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        ready = asyncio.Event()
        drain = asyncio.create_task(self._drain(proc, found, ready))
        announced = False
        try:
            url = await self._await_url(found, metrics, proc)
            if url is not None:
                await self._await_ready(ready, metrics, proc)
                if proc.returncode is None:
                    self.url = f"wss://{url}"
                    log.info("tunnel ready at %s", self.url)
                    self.on_url(self.url)
                    self.first_url.set()
                    announced = True
            await proc.wait()
        finally:
            await drain
        return announced

    async def _drain(
        self, proc: asyncio.subprocess.Process, found: asyncio.Future[str], ready: asyncio.Event
    ) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            log.debug("cloudflared: %s", line)
            match = URL_RE.search(line)
            if match and not found.done():
                found.set_result(match.group(1))
            if READY_LINE in line:
                ready.set()

    async def _await_url(
        self, found: asyncio.Future[str], metrics: int, proc: asyncio.subprocess.Process
    ) -> str | None:
        """The quick-tunnel host name from the log, or from ``/quicktunnel``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_SECONDS
        while proc.returncode is None and loop.time() < deadline:
            with contextlib.suppress(asyncio.TimeoutError):
                return await asyncio.wait_for(asyncio.shield(found), timeout=0.5)
            with contextlib.suppress(OSError, asyncio.TimeoutError, ValueError):
                status, body = await http_get(metrics, "/quicktunnel")
                host = json.loads(body).get("hostname") if status == 200 else None
                if isinstance(host, str) and host.endswith(".trycloudflare.com"):
                    return host
        if found.done():
            return found.result()
        return None

    async def _await_ready(
        self, ready: asyncio.Event, metrics: int, proc: asyncio.subprocess.Process
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_SECONDS
        while proc.returncode is None and loop.time() < deadline and not ready.is_set():
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                status, _ = await http_get(metrics, "/ready")
                if status == 200:
                    return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ready.wait(), timeout=0.5)
        if not ready.is_set() and proc.returncode is None:
            log.warning("the tunnel is not confirmed ready yet; guests may need to retry")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop supervising and end the process (SIGTERM, then SIGKILL)."""
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=grace)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
