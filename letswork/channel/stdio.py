"""The channel's stdio transport: MCP frames on stdin and stdout without worker threads.

The SDK's :func:`mcp.server.stdio.stdio_server` reads and writes through ``anyio.wrap_file``,
so every tool call costs three worker-thread round trips (read a line, write it, flush):
~0.2 ms of a ~1 ms call on the benchmark's machine (docs/performance.md, item 17). When fd 0
and fd 1 are pipes or sockets, which is how an MCP client starts a server, :func:`serve_stdio`
hands the SDK's own ``stdio_server`` (its JSON-RPC framing and validation are unchanged)
non-blocking asyncio streams on those descriptors instead. Anything else (a terminal, a
regular file, or a Python without ``fcntl`` such as native Windows) goes through the SDK's
transport as it is.

As in the SDK's transport, while serving, fd 0 reads the null device and fd 1 points at
stderr, so a stray read sees end of file and a stray write (a ``print``, a child process)
cannot corrupt the frame stream; both are restored on exit.

At the end of input the streams hold the end back until every request read before it has
been answered, for at most :data:`EOF_DRAIN_SECONDS`: the SDK cancels requests still running
when its input ends, so a client that writes its requests and closes stdin (a script, or a
client shutting down right after its last call) would otherwise lose the answers.

Limits: a line (one JSON-RPC message) may be up to :data:`MAX_LINE_BYTES`. A longer one is
dropped whole and logged, and is then treated as the SDK treats any line that is not JSON-RPC
(it gets no answer: its id cannot be read).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import sys
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.stdio import stdio_server
from mcp_types import JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse
from typing_extensions import Self

try:
    import fcntl
except ImportError:  # native Windows: the SDK's own transport serves stdio there
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from mcp.shared._stream_protocols import ReadStream, WriteStream
    from mcp.shared.message import SessionMessage

__all__ = ["EOF_DRAIN_SECONDS", "MAX_LINE_BYTES", "serve_stdio"]

log = logging.getLogger("letswork.channel")

#: The longest line read from stdin (bytes); reading pauses while twice this is buffered.
#: A request the hub could take is far shorter: its frame limit is 4 MiB, and a 1 MiB file is
#: at most ~6 MiB as JSON even with every character escaped as ``\uXXXX``.
MAX_LINE_BYTES = 16 * 1024 * 1024
#: After the end of input, how long the channel goes on answering the requests read before it
#: (seconds); a tool call waits at most REQUEST_TIMEOUT_SECONDS for the hub, so most finish.
EOF_DRAIN_SECONDS = 10.0


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
    if fcntl is None or sys.platform == "win32" or not (_is_pipe(0) and _is_pipe(1)):
        async with stdio_server() as (read_stream, write_stream):
            yield drain_on_eof(read_stream, write_stream)
        return
    # The SDK types its arguments as anyio.AsyncFile; it only iterates, writes and flushes them.
    async with _pipes() as (lines, output), stdio_server(lines, output) as streams:  # type: ignore[arg-type]
        yield drain_on_eof(*streams)


def drain_on_eof(
    read_stream: ReadStream[SessionMessage | Exception], write_stream: WriteStream[SessionMessage]
) -> tuple[ReadStream[SessionMessage | Exception], WriteStream[SessionMessage]]:
    """Wrap an MCP stream pair so that the end of input reaches the SDK only once every
    request read before it is answered (a response or an error with its id, or a
    ``notifications/cancelled`` for it), or after :data:`EOF_DRAIN_SECONDS`."""
    drain = _Drain()
    return _DrainingReader(read_stream, drain), _AnswerWatcher(write_stream, drain)


class _Drain:
    """The ids of requests read and not yet answered."""

    def __init__(self) -> None:
        self.open: set[Any] = set()
        self.idle = asyncio.Event()
        self.idle.set()

    def read(self, message: object) -> None:
        if isinstance(message, JSONRPCRequest):
            self.open.add(message.id)
            self.idle.clear()
        elif isinstance(message, JSONRPCNotification) and message.method == (
            "notifications/cancelled"
        ):
            params = message.params or {}
            self.answered(params.get("requestId"))

    def answered(self, request_id: Any) -> None:
        self.open.discard(request_id)
        if not self.open:
            self.idle.set()

    async def wait(self) -> None:
        if self.open:
            log.info("input ended; answering %d request(s) still running", len(self.open))
        with anyio.move_on_after(EOF_DRAIN_SECONDS):
            await self.idle.wait()


class _Wrapper:
    """Closing and ``async with`` of a wrapped SDK stream."""

    def __init__(self, inner: Any, drain: _Drain) -> None:
        self._inner = inner
        self._drain = drain

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        await self.aclose()
        return None


class _DrainingReader(_Wrapper):
    """A ReadStream whose end waits for :class:`_Drain`."""

    _inner: ReadStream[SessionMessage | Exception]

    @property
    def last_context(self) -> Any:  # the sender's contextvars, where the SDK's stream has them
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        try:
            item = await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            await self._drain.wait()
            raise
        self._drain.read(getattr(item, "message", None))
        return item

    def __aiter__(self) -> _DrainingReader:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None


class _AnswerWatcher(_Wrapper):
    """A WriteStream that tells :class:`_Drain` which requests were answered."""

    _inner: WriteStream[SessionMessage]

    async def send(self, item: SessionMessage, /) -> None:
        await self._inner.send(item)
        message = item.message
        if isinstance(message, (JSONRPCResponse, JSONRPCError)):
            self._drain.answered(message.id)


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
