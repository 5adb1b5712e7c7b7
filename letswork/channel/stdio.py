"""The channel's stdio transport: MCP frames on stdin and stdout without worker threads.

The SDK's :func:`mcp.server.stdio.stdio_server` reads and writes through ``anyio.wrap_file``,
so every tool call costs three worker-thread round trips (read a line, write it, flush):
~0.2 ms of a ~1 ms call on the benchmark's machine (docs/performance.md, item 17). When fd 0
and fd 1 are pipes or sockets, which is how an MCP client starts a server, :func:`serve_stdio`
hands the SDK's own ``stdio_server`` (its JSON-RPC framing and validation are unchanged)
non-blocking asyncio streams on those descriptors instead. Anything else (a terminal, a
regular file, Windows) goes through the SDK's transport as it is.

As in the SDK's transport, while serving, fd 0 reads the null device and fd 1 points at
stderr, so a stray read sees end of file and a stray write (a ``print``, a child process)
cannot corrupt the frame stream; both are restored on exit.

Limits: a line (one JSON-RPC message) may be up to :data:`MAX_LINE_BYTES`. A longer one is
dropped whole and logged, and is then treated as the SDK treats any line that is not JSON-RPC
(it gets no answer: its id cannot be read).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import stat
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from mcp.server.stdio import stdio_server

if TYPE_CHECKING:
    from mcp.shared._stream_protocols import ReadStream, WriteStream
    from mcp.shared.message import SessionMessage

__all__ = ["MAX_LINE_BYTES", "serve_stdio"]

log = logging.getLogger("letswork.channel")

#: The longest line read from stdin (bytes); reading pauses while twice this is buffered.
#: A request the hub could take is far shorter: its frame limit is 4 MiB, and a 1 MiB file is
#: at most ~6 MiB as JSON even with every character escaped as ``\uXXXX``.
MAX_LINE_BYTES = 16 * 1024 * 1024


def _is_pipe(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class _Lines:
    """``async for line in stdin``, the interface the SDK's ``stdio_server`` reads."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:
            if not end.partial:
                raise StopAsyncIteration from None
            line = end.partial  # a last message without a newline
        except asyncio.LimitOverrunError:
            await self._drop_line()
            log.warning("dropped an MCP message over %d bytes", MAX_LINE_BYTES)
            return "\n"  # not JSON-RPC: the SDK reports it like any malformed line
        return line.decode("utf-8", errors="replace")

    async def _drop_line(self) -> None:
        while True:
            try:
                await self._reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as over:
                await self._reader.readexactly(over.consumed)
            except asyncio.IncompleteReadError:
                return


class _Output:
    """``await stdout.write(text)`` and ``await stdout.flush()`` on a non-blocking pipe."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._gone = False

    async def write(self, text: str) -> None:
        if not self._gone:
            self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        if self._gone:
            return
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            # The client closed its end; its exit also ends stdin, which stops the session.
            self._gone = True
            log.info("the MCP client stopped reading stdout (%s)", exc)


@contextlib.asynccontextmanager
async def serve_stdio() -> AsyncIterator[
    tuple[ReadStream[SessionMessage | Exception], WriteStream[SessionMessage]]
]:
    """The SDK's ``stdio_server`` streams, on asyncio pipes when fd 0 and fd 1 allow it.

    Yields:
        ``(read_stream, write_stream)`` for :meth:`mcp.server.lowlevel.Server.run`.
    """
    if sys.platform == "win32" or not (_is_pipe(0) and _is_pipe(1)):
        async with stdio_server() as streams:
            yield streams
        return
    # The SDK types its arguments as anyio.AsyncFile; it only iterates, writes and flushes them.
    async with _pipes() as (lines, output), stdio_server(lines, output) as streams:  # type: ignore[arg-type]
        yield streams


@contextlib.asynccontextmanager
async def _pipes() -> AsyncIterator[tuple[_Lines, _Output]]:
    """Claim fd 0 and fd 1 for the wire (private duplicates) and divert them while serving."""
    loop = asyncio.get_running_loop()
    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    # The pipe transports switch the descriptions to non-blocking; give them back as found.
    blocking = os.get_blocking(wire_in), os.get_blocking(wire_out)
    transports: list[asyncio.BaseTransport] = []
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)
        reader = asyncio.StreamReader(limit=MAX_LINE_BYTES)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", buffering=0)
        )
        transports.append(read_transport)
        write_transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(wire_out, "wb", buffering=0)
        )
        transports.append(write_transport)
        # A high-water mark of 0 makes drain() wait until the pipe has taken every byte, so
        # flush() means what it says and the last reply before exit is never left behind.
        write_transport.set_write_buffer_limits(high=0)
        writer = asyncio.StreamWriter(write_transport, protocol, None, loop)
        yield _Lines(reader), _Output(writer)
    finally:
        _restore(0, wire_in, blocking[0])
        _restore(1, wire_out, blocking[1])
        for transport in transports:
            transport.close()
        if len(transports) < 2:  # the transports own the duplicates once they exist
            for fd in (wire_in, wire_out)[len(transports) :]:
                with contextlib.suppress(OSError):
                    os.close(fd)
        await asyncio.sleep(0)  # let the transports finish closing


def _restore(fd: int, wire: int, blocking: bool) -> None:
    with contextlib.suppress(OSError):
        os.set_blocking(wire, blocking)
        os.dup2(wire, fd)
