"""HubConnection against a hub that breaks the catalogue (issue 13, item 11)."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from letswork.client.connection import HubConnection
from letswork.shared import crypto
from letswork.shared.errors import HubProtocolError, ProtocolError
from letswork.shared.protocol.base import MAX_TIMESTAMP
from letswork.shared.protocol.session import PingResult
from letswork.shared.protocol.wire import parse_event_data, parse_result
from tests.shared.protocol.examples import MESSAGE
from tests.support.fake_hub import FakeLink, fake_hub, good_result

WAIT = 30.0  # seconds: a guard against hangs, never a measurement


async def test_a_non_hex_resume_secret_in_admitted_is_refused_and_never_stored() -> None:
    invite_secret = secrets.token_bytes(16)
    stored: list[bytes] = []
    sent = asyncio.Event()

    async def script(link: FakeLink) -> None:
        hello = await link.request()
        await link.reply(hello, {**good_result("hello"), "state": "awaiting_admission"})
        await link.send_obj(
            {"event": "admitted", "seq": 1, "data": {"name": "alice", "resume_secret": "zz" * 32}}
        )
        sent.set()
        await link.ws.wait_closed()

    async with fake_hub([invite_secret, bytes.fromhex("0f" * 32)], script) as hub:
        conn = HubConnection(hub.url, invite_secret, name="alice", on_resume_secret=stored.append)
        try:
            await conn.connect()
            stored.clear()  # hello's own (valid) resume secret
            await asyncio.wait_for(sent.wait(), WAIT)
            await asyncio.wait_for(conn.wait_disconnected(), WAIT)
        finally:
            await conn.close()
    assert stored == []
    assert conn.close_code == crypto.CloseCode.PROTOCOL_VIOLATION
    assert conn.last_error is not None
    assert "malformed 'admitted' event" in conn.last_error
    assert "data.resume_secret" in conn.last_error


async def test_a_reply_to_a_request_never_sent_fails_the_request_in_flight() -> None:
    secret = secrets.token_bytes(16)

    async def script(link: FakeLink) -> None:
        hello = await link.request()
        await link.reply(hello, good_result("hello"))
        request = await link.request()
        await link.send_obj({"id": request["id"] + 7, "ok": True, "result": {"now": 1.0}})
        await link.ws.wait_closed()

    async with fake_hub([secret, bytes.fromhex("0f" * 32)], script) as hub:
        conn = HubConnection(hub.url, secret, name="alice")
        try:
            await conn.connect()
            with pytest.raises(HubProtocolError, match="never sent"):
                await asyncio.wait_for(conn.request("ping"), WAIT)
        finally:
            await conn.close()


@pytest.mark.parametrize("misdeed", ["garbage", "hang_up"])
async def test_run_forever_backs_off_longer_after_each_connection_the_hub_breaks(
    misdeed: str,
) -> None:
    secret = secrets.token_bytes(16)
    states: list[str] = []
    up_on_the_good_hub = asyncio.Event()

    async def script(link: FakeLink) -> None:
        hello = await link.request()
        await link.reply(hello, good_result("hello"))
        if link.index < 3:  # three hubs that each misbehave right after hello
            if misdeed == "garbage":
                await link.send(b"\xff not json")
                await link.ws.wait_closed()
            else:
                await link.ws.close()  # a normal close (1000), at once
            return
        await link.serve_good()

    async with fake_hub([secret, bytes.fromhex("0f" * 32)], script) as hub:

        def on_state(state: str) -> None:
            states.append(state)
            if state == "connected" and hub.connections > 3:
                up_on_the_good_hub.set()

        conn = HubConnection(hub.url, secret, name="alice", on_state_change=on_state)
        task = asyncio.create_task(conn.run_forever(base_delay=0.1, max_delay=5.0, rng=lambda: 1.0))
        try:
            await asyncio.wait_for(up_on_the_good_hub.wait(), WAIT)
            pong = await asyncio.wait_for(conn.request("ping"), WAIT)
        finally:
            await conn.close()
            await asyncio.wait_for(task, WAIT)
    assert pong == good_result("ping")
    waits = [s.split("next in ")[1] for s in states if "next in" in s]
    assert waits == ["0.2s)", "0.4s)", "0.8s)"], states  # doubling: 0.1 * 2**faults


def test_a_timestamp_past_the_year_9999_is_refused_in_results_and_events() -> None:
    # time.gmtime(1e300) raises OverflowError, so the renderers of tools and events would crash.
    with pytest.raises(ProtocolError, match=r"result\.now: number out of range"):
        parse_result("ping", {"now": 1e300})
    message = {**MESSAGE, "receipts": None, "read": False, "created_at": 1e17}
    with pytest.raises(ProtocolError, match=r"data\.message\.created_at"):
        parse_event_data("message", {"message": message})


def test_the_last_second_of_the_year_9999_is_a_valid_timestamp() -> None:
    result = parse_result("ping", {"now": 253_402_300_799.0})
    assert isinstance(result, PingResult)
    assert result.now == MAX_TIMESTAMP
