"""A request sent right behind ``hello`` (``early=True``; issue 15, item 5: a cold start's
first result in three round trips).

Round trips are counted structurally: :attr:`tests.support.links.TcpLink.flights` counts the
client's flights to the hub, and a flight the client could only send after a reply is a new
one, so the count does not depend on timing. The hub is a real one on loopback, through the
link. A request joins the connect() under way when both are started together
(``asyncio.gather`` starts connect() first).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from letswork.client.connection import HubConnection
from letswork.shared.errors import ErrorCode, HandshakeError, OpError, TransportError
from letswork.shared.limits import Limits
from tests.support.fake_hub import FakeLink, fake_hub, good_result
from tests.support.hubs import HubFixture, make_project, running_hub
from tests.support.links import TcpLink, tcp_link

WAIT = 30.0  # seconds: a guard against hangs, never a measurement
READ = {"path": "src/app.py"}
WRITE = {"path": "src/app.py", "content": "changed\n"}


async def connect_with(conn: HubConnection, op: str, args: dict[str, Any]) -> Any:
    """connect() and ``op`` made at once with ``early=True``; returns their outcomes (a
    result or the exception raised), connect()'s first."""
    return await asyncio.wait_for(
        asyncio.gather(conn.connect(), conn.request(op, args, early=True), return_exceptions=True),
        WAIT,
    )


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[tuple[HubFixture, TcpLink]]:
    async with (
        running_hub(make_project(tmp_path / "p")) as fx,
        tcp_link(fx.url) as link,
    ):
        yield fx, link


async def test_an_early_request_is_answered_after_three_client_flights(
    hub: tuple[HubFixture, TcpLink],
) -> None:
    fx, link = hub
    conn = HubConnection(link.url, fx.invite_secret, name="alice")
    try:
        hello, result = await connect_with(conn, "read_file", READ)
        flights = link.flights
    finally:
        await conn.close()
    # The WebSocket upgrade, the ClientHello, then ClientFinished + hello + the request.
    assert flights == 3
    assert result["text"] == "def main():\n    return 1\n"
    assert hello["state"] == "admitted"


async def test_a_request_after_connect_costs_a_fourth_flight(
    hub: tuple[HubFixture, TcpLink],
) -> None:
    fx, link = hub
    conn = HubConnection(link.url, fx.invite_secret, name="alice")
    try:
        await asyncio.wait_for(conn.connect(), WAIT)
        await asyncio.wait_for(conn.request("read_file", READ), WAIT)
        flights = link.flights
    finally:
        await conn.close()
    assert flights == 4  # what the early request saves: the counting sees it


async def test_an_early_request_returns_once_hello_is_taken_in(
    hub: tuple[HubFixture, TcpLink],
) -> None:
    fx, link = hub
    seen: list[tuple[str, str]] = []
    conn = HubConnection(link.url, fx.invite_secret, name="alice")

    async def read_then_look() -> None:
        await conn.request("read_file", READ, early=True)
        seen.append((conn.state, conn.name))

    try:
        await asyncio.wait_for(asyncio.gather(conn.connect(), read_then_look()), WAIT)
    finally:
        await conn.close()
    assert seen == [("connected", "alice")]


async def test_a_request_made_while_connecting_without_early_fails_at_once(
    hub: tuple[HubFixture, TcpLink],
) -> None:
    fx, link = hub
    conn = HubConnection(link.url, fx.invite_secret, name="alice")

    async def read() -> Any:
        return await conn.request("read_file", READ)

    try:
        _, outcome = await asyncio.wait_for(
            asyncio.gather(conn.connect(), read(), return_exceptions=True), WAIT
        )
        flights = link.flights
    finally:
        await conn.close()
    assert isinstance(outcome, TransportError) and outcome.code == ErrorCode.UNAVAILABLE
    assert flights == 3  # the upgrade, the ClientHello, ClientFinished + hello: nothing more


async def test_an_early_request_of_a_guest_awaiting_admission_gets_not_admitted(
    tmp_path: Path,
) -> None:
    async with (
        running_hub(make_project(tmp_path / "p"), auto_admit=False) as fx,
        tcp_link(fx.url) as link,
    ):
        conn = HubConnection(link.url, fx.invite_secret, name="alice")
        try:
            hello, outcome = await connect_with(conn, "read_file", READ)
        finally:
            await conn.close()
    assert hello["state"] == "awaiting_admission"
    assert isinstance(outcome, OpError) and outcome.code == ErrorCode.NOT_ADMITTED


async def test_an_early_write_behind_a_refused_hello_fails_with_hellos_error_and_does_nothing(
    hub: tuple[HubFixture, TcpLink],
) -> None:
    fx, link = hub
    secret = fx.invite_secret
    await fx.connect(secret, "alice")  # holds the name
    twin = HubConnection(link.url, secret, name="alice")
    try:
        refusal, outcome = await connect_with(twin, "write_file", WRITE)
    finally:
        await twin.close()
    host = await fx.host()
    pending = await host.call("pending_changes")
    assert isinstance(refusal, OpError) and refusal.code == ErrorCode.NAME_TAKEN
    assert isinstance(outcome, OpError) and outcome.code == ErrorCode.NAME_TAKEN
    assert outcome.message == refusal.message and outcome is not refusal
    assert pending["changes"] == []
    assert (fx.project / "src" / "app.py").read_text() == "def main():\n    return 1\n"


async def test_an_early_request_behind_a_hello_the_hub_closes_on_fails_with_hellos_error(
    tmp_path: Path,
) -> None:
    # A full session: the hub refuses hello with quota_exceeded.
    async with (
        running_hub(make_project(tmp_path / "p"), limits=Limits(max_peers=1)) as fx,
        tcp_link(fx.url) as link,
    ):
        await fx.connect(fx.invite_secret, "alice")
        late = HubConnection(link.url, fx.invite_secret, name="bob")
        try:
            refusal, outcome = await connect_with(late, "read_file", READ)
        finally:
            await late.close()
    assert isinstance(refusal, OpError) and refusal.code == ErrorCode.QUOTA_EXCEEDED
    assert isinstance(outcome, OpError) and outcome.code == ErrorCode.QUOTA_EXCEEDED


async def test_an_early_request_fails_unavailable_when_the_handshake_is_refused(
    hub: tuple[HubFixture, TcpLink],
) -> None:
    _, link = hub
    conn = HubConnection(link.url, b"\x01" * 16, name="alice")
    try:
        refusal, outcome = await connect_with(conn, "read_file", READ)
    finally:
        await conn.close()
    assert isinstance(refusal, HandshakeError)  # the hub refused the credential: 4401
    assert isinstance(outcome, TransportError) and outcome.code == ErrorCode.UNAVAILABLE
    assert "refused this invite" in outcome.message


async def test_an_early_request_fails_unavailable_when_the_hub_is_unreachable(
    hub: tuple[HubFixture, TcpLink],
) -> None:
    fx, link = hub
    link.refuse()
    conn = HubConnection(link.url, fx.invite_secret, name="alice")
    try:
        refusal, outcome = await connect_with(conn, "read_file", READ)
    finally:
        await conn.close()
    assert isinstance(refusal, TransportError)
    assert isinstance(outcome, TransportError) and outcome.code == ErrorCode.UNAVAILABLE
    assert outcome.message.startswith("not connected to the hub: ")


async def test_an_early_request_that_times_out_before_hello_is_never_sent(
    hub: tuple[HubFixture, TcpLink],
) -> None:
    fx, link = hub
    link.stall()  # the upgrade waits until the link forwards again
    conn = HubConnection(link.url, fx.invite_secret, name="alice")
    connecting = asyncio.ensure_future(conn.connect(timeout=WAIT))
    # Started after connect(), so it joins it; it gives up while the link holds the upgrade.
    writing = asyncio.ensure_future(conn.request("write_file", WRITE, early=True, timeout=0.05))
    try:
        with pytest.raises(TransportError) as info:
            await writing
        link.forward()
        await asyncio.wait_for(connecting, WAIT)
        later = await asyncio.wait_for(conn.request("read_file", READ), WAIT)
    finally:
        connecting.cancel()
        await conn.close()
    host = await fx.host()
    pending = await host.call("pending_changes")
    assert info.value.code == ErrorCode.TIMEOUT
    assert pending["changes"] == []
    assert later["text"] == "def main():\n    return 1\n"


async def test_an_early_request_that_times_out_before_hello_is_dropped_from_the_queue_at_once(
    hub: tuple[HubFixture, TcpLink],
) -> None:
    # Its message (a write's whole content, up to a frame) is not held until hello goes out:
    # a caller retrying while the link holds the upgrade would pile them up. Being never sent
    # is the test above; _send_behind_hello's own check holds that too, so only this sees it.
    fx, link = hub
    link.stall()  # the upgrade waits until the link forwards again
    conn = HubConnection(link.url, fx.invite_secret, name="alice")
    connecting = asyncio.ensure_future(conn.connect(timeout=WAIT))
    writing = asyncio.ensure_future(conn.request("write_file", WRITE, early=True, timeout=0.05))
    try:
        with pytest.raises(TransportError):
            await writing
        queued = None if conn._behind_hello is None else list(conn._behind_hello)
        link.forward()
        await asyncio.wait_for(connecting, WAIT)
    finally:
        connecting.cancel()
        await conn.close()
    assert queued == []


async def test_an_early_reply_that_overtakes_hellos_returns_after_hello_is_taken_in() -> None:
    secret = secrets.token_bytes(16)
    answer_hello = asyncio.Event()

    async def script(link: FakeLink) -> None:
        hello = await link.request()
        early = await link.request()
        await link.reply(early, good_result("ping"))  # out of order: allowed by the envelope
        await answer_hello.wait()
        await link.reply(hello, good_result("hello"))
        await link.serve_good()

    async with fake_hub([secret], script) as fake:
        conn = HubConnection(fake.url, secret, name="alice")
        connecting = asyncio.ensure_future(conn.connect())
        pinging = asyncio.ensure_future(conn.request("ping", early=True))  # joins connect()
        try:
            # Its reply is in, hello's is not: it must not return (a guard, no measurement;
            # it cannot return before hello's answer, so waiting longer proves nothing more).
            done, _ = await asyncio.wait({pinging}, timeout=1.0)
            answer_hello.set()
            result = await asyncio.wait_for(pinging, WAIT)
            state = conn.state
            await asyncio.wait_for(connecting, WAIT)
        finally:
            answer_hello.set()
            pinging.cancel()
            connecting.cancel()
            await conn.close()
    assert not done
    assert result == good_result("ping")
    assert state == "connected"


def _refuse(request: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": request["id"],
        "ok": False,
        "error": {"code": "name_taken", "message": "someone here is already called alice"},
    }


@pytest.mark.parametrize("order", ["early_reply_first", "refusal_first"])
async def test_an_early_request_a_hostile_hub_answers_around_a_refused_hello_fails_with_it(
    order: str,
) -> None:
    # Found attacking issue 15: a hub that answered the early request (before hello's
    # refusal, or after it while the client closed) had its result returned, though hello
    # was refused: the call must fail with hello's refusal, as an honest hub's would.
    secret = secrets.token_bytes(16)

    async def script(link: FakeLink) -> None:
        hello = await link.request()
        early = await link.request()
        if order == "early_reply_first":
            await link.reply(early, good_result("ping"))
            await link.send_obj(_refuse(hello))
        else:
            await link.send_obj(_refuse(hello))
            await link.reply(early, good_result("ping"))
        with contextlib.suppress(ConnectionClosed):
            await link.request()  # until the client goes

    async with fake_hub([secret], script) as fake:
        conn = HubConnection(fake.url, secret, name="alice")
        try:
            refusal, outcome = await connect_with(conn, "ping", {})
        finally:
            await conn.close()
    assert isinstance(refusal, OpError) and refusal.code == ErrorCode.NAME_TAKEN
    assert isinstance(outcome, OpError) and outcome.code == ErrorCode.NAME_TAKEN


async def test_an_early_reply_to_a_hello_never_answered_is_not_returned() -> None:
    # Found attacking issue 15: it was returned once its timeout ran out, hello unanswered.
    secret = secrets.token_bytes(16)

    async def script(link: FakeLink) -> None:
        await link.request()  # hello: never answered
        early = await link.request()
        await link.reply(early, good_result("ping"))
        with contextlib.suppress(ConnectionClosed):
            await link.request()

    async with fake_hub([secret], script) as fake:
        conn = HubConnection(fake.url, secret, name="alice")
        connecting = asyncio.ensure_future(conn.connect())
        pinging = asyncio.ensure_future(conn.request("ping", early=True, timeout=0.2))
        try:
            outcome = await asyncio.wait_for(asyncio.gather(pinging, return_exceptions=True), WAIT)
        finally:
            connecting.cancel()
            await conn.close()
    assert isinstance(outcome[0], TransportError) and outcome[0].code == ErrorCode.TIMEOUT


async def test_an_early_request_given_up_while_those_ahead_of_it_are_sent_is_never_sent() -> None:
    # Found attacking issue 15: the requests behind hello were taken as a list when hello went
    # out; one given up (cancelled or timed out) while a request ahead of it waited for the
    # link to take it was still sealed and sent afterwards, its caller told it failed.
    secret = secrets.token_bytes(16)
    writes = 28  # 1 MiB each: more than the fake hub's queue and the kernel's buffers hold
    got_first = asyncio.Event()
    read_on = asyncio.Event()
    seen: list[tuple[int, str]] = []

    async def script(link: FakeLink) -> None:
        hello = await link.request()
        seen.append((hello["id"], hello["op"]))
        first = await link.request()
        seen.append((first["id"], first["op"]))
        got_first.set()
        await read_on.wait()  # meanwhile the client's sends back up
        for _ in range(writes - 1):
            request = await link.request()
            seen.append((request["id"], request["op"]))
        await link.reply(hello, good_result("hello"))
        after = await link.request()  # the ping made after connect(), or the given-up one
        seen.append((after["id"], after["op"]))
        await link.reply(after, good_result("ping"))
        await link.serve_good()

    big = {"path": "src/app.py", "content": "x" * (1024 * 1024 - 1)}
    async with fake_hub([secret], script) as fake:
        conn = HubConnection(fake.url, secret, name="alice")
        connecting = asyncio.ensure_future(conn.connect(timeout=WAIT))
        writing = [
            asyncio.ensure_future(conn.request("write_file", big, early=True, timeout=WAIT))
            for _ in range(writes)
        ]
        given_up = asyncio.ensure_future(conn.request("ping", early=True, timeout=WAIT))
        try:
            await asyncio.wait_for(got_first.wait(), WAIT)
            given_up.cancel()
            outcome = await asyncio.gather(given_up, return_exceptions=True)
            read_on.set()
            await asyncio.wait_for(connecting, WAIT)
            later = await asyncio.wait_for(conn.request("ping"), WAIT)
        finally:
            read_on.set()
            for task in (*writing, given_up, connecting):
                task.cancel()
            await conn.close()
    assert isinstance(outcome[0], asyncio.CancelledError)
    assert later == good_result("ping")
    assert [op for _, op in seen] == ["hello", *["write_file"] * writes, "ping"]
    assert seen[-1][0] > max(i for i, _ in seen[:-1])  # the later ping, not the given-up one
