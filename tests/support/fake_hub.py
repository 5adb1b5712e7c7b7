"""Test support: a hostile hub on loopback that speaks the real handshake and record layer.

:class:`FakeHub` listens on ``127.0.0.1`` (port 0 unless told), runs the real server side of the
handshake (:class:`letswork.shared.crypto.ServerHandshake`) for any credential it was given, then
hands each authenticated connection to a *script*: a coroutine that reads the client's requests
and answers whatever it likes, sealed with the real record layer. The client under test cannot
tell it from a real hub until the answers break the catalogue, which is the point: the tests of
hub-to-client frames (``tests/reliability/test_fuzz_client.py``) and of a malformed ``hello``
(``tests/cli/test_join_hostile_hub.py``, ``tests/channel/test_channel_hostile_hub.py``) use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from letswork.shared import crypto, invite
from letswork.shared.errors import LetsworkError
from tests.shared.protocol.examples import EVENT_EXAMPLES, RESULT_EXAMPLES

#: A valid ``hello`` result: an admitted editor with a well-formed resume secret.
GOOD_HELLO: dict[str, Any] = {
    **RESULT_EXAMPLES["hello"],
    "state": "admitted",
    "role": "editor",
    "resume_secret": "0f" * 32,
}
#: A ``hello`` result whose ``resume_secret`` is not hex (issue 13, item 11).
NON_HEX_HELLO: dict[str, Any] = {**GOOD_HELLO, "resume_secret": "zz" * 32}


def good_result(op: str) -> dict[str, Any]:
    """A valid result for ``op`` (the protocol tests' example; for ``hello`` :data:`GOOD_HELLO`)."""
    return copy.deepcopy(GOOD_HELLO if op == "hello" else RESULT_EXAMPLES[op])


def good_event(name: str) -> dict[str, Any]:
    """Valid data for event ``name`` (the protocol tests' example)."""
    return copy.deepcopy(EVENT_EXAMPLES[name])


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class FakeLink:
    """One authenticated connection of the fake hub.

    Attributes:
        ws: the server side of the WebSocket.
        session: the hub's record-layer session (seals s2c, opens c2s).
        index: how many connections completed the handshake before this one (0 for the first).
    """

    ws: ServerConnection
    session: crypto.Session
    index: int

    async def request(self) -> dict[str, Any]:
        """The client's next request, decoded (the client is the trusted side here).

        Raises:
            ConnectionClosed: the client went away.
        """
        frame = await self.ws.recv()
        assert isinstance(frame, bytes), frame
        message: dict[str, Any] = json.loads(self.session.open(frame))
        return message

    async def send(self, plaintext: bytes) -> None:
        """Seal ``plaintext`` (any bytes, valid JSON or not) into one record and send it."""
        await self.ws.send(self.session.seal(plaintext))

    async def send_obj(self, obj: Any) -> None:
        await self.send(dumps(obj))

    async def reply(self, request: dict[str, Any], result: dict[str, Any]) -> None:
        await self.send_obj({"id": request["id"], "ok": True, "result": result})

    async def serve_good(self) -> None:
        """Answer every request with a valid result for its op until the client goes."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                request = await self.request()
                await self.reply(request, good_result(request["op"]))


Script = Callable[[FakeLink], Awaitable[None]]


async def good_script(link: FakeLink) -> None:
    """A well-behaved hub: answers everything validly."""
    await link.serve_good()


async def non_hex_hello_script(link: FakeLink) -> None:
    """Answers ``hello`` with a non-hex ``resume_secret``, then waits for the client to go."""
    with contextlib.suppress(ConnectionClosed):
        request = await link.request()
        await link.reply(request, NON_HEX_HELLO)
        await link.ws.wait_closed()


class FakeHub:
    """A hub that authenticates like the real one and answers as its script says.

    Args:
        secrets: the credential secrets it accepts (invite, resume); others get 4401.
        script: run for each authenticated connection; its default answers validly.
        port: the loopback port (0: any free port).
        server_hello: if given, called with (connection number, the real ServerHello); bytes
            it returns are sent instead (and the connection ends there), to test the client's
            side of the handshake; ``None`` means send the real one.

    Attributes:
        connections: how many connections completed the handshake.
        script: may be replaced between connections (a hub that starts behaving).
    """

    def __init__(
        self,
        secrets: Iterable[bytes],
        script: Script = good_script,
        *,
        port: int = 0,
        server_hello: Callable[[int, bytes], bytes | None] | None = None,
    ) -> None:
        self._psks = {crypto.derive_invite_id(s): crypto.derive_psk(s) for s in secrets}
        self.script = script
        self.server_hello = server_hello
        self.port = port
        self.connections = 0
        self.hellos = 0  # ClientHellos received (including ones whose ServerHello was mangled)
        self._changed = asyncio.Condition()
        self._server: Server | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def code(self, secret: bytes) -> str:
        """An invite code for ``secret`` at this hub's address."""
        return invite.Invite(secret, self.url).format()

    async def start(self) -> None:
        self._server = await serve(
            self._handle, "127.0.0.1", self.port, compression=None, max_size=None
        )
        self.port = int(next(iter(self._server.sockets)).getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def wait_connections(self, count: int, timeout: float = 60.0) -> None:
        """Wait until ``count`` connections in all have completed the handshake."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: self.connections >= count), timeout
            )

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            raw = await ws.recv()
            assert isinstance(raw, bytes)
            hello = crypto.parse_client_hello(raw)
            psk = self._psks.get(hello.invite_id)
            if psk is None:
                await ws.close(crypto.CloseCode.AUTH_FAILED)
                return
            handshake = crypto.ServerHandshake()
            reply = handshake.respond(hello, psk)
            number = self.hellos
            self.hellos += 1
            mangled = self.server_hello(number, reply) if self.server_hello else None
            if mangled is not None:
                await ws.send(mangled)
                await ws.wait_closed()
                return
            await ws.send(reply)
            finished = await ws.recv()
            assert isinstance(finished, bytes)
            session = handshake.receive_client_finished(finished)
        except (ConnectionClosed, LetsworkError):
            return
        link = FakeLink(ws, session, self.connections)
        async with self._changed:
            self.connections += 1
            self._changed.notify_all()
        with contextlib.suppress(ConnectionClosed):
            await self.script(link)


@contextlib.asynccontextmanager
async def fake_hub(
    secrets: Iterable[bytes], script: Script = good_script, **options: Any
) -> AsyncIterator[FakeHub]:
    """A started :class:`FakeHub`, stopped on exit."""
    hub = FakeHub(secrets, script, **options)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()
