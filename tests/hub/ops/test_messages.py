"""The messages group over real connections: messages and receipts, delivery to a peer that
was away, file references, and peer text kept intact on the wire."""

from __future__ import annotations

import pytest

from letswork.shared.errors import ErrorCode, OpError
from tests.hub.ops.helpers import HOSTILE, bodies, error_code, three
from tests.support.hubs import HubFixture

# ---------------------------------------------------------------------------- messages


async def test_a_directed_message_reaches_only_its_target(hub: HubFixture) -> None:
    alice, bob, carol = await three(hub)
    await alice.call("send_message", to="bob", body="just for bob", type="question")
    got = await bob.wait_event("message")
    assert got.data["message"]["body"] == "just for bob"
    assert got.data["message"]["sender"] == "alice"
    assert got.data["message"]["type"] == "question"
    # Events to one connection keep their order: once carol has the later broadcast, she
    # would already have the directed message had it been sent to her.
    await alice.call("send_message", body="marker")
    await carol.wait_event("message", lambda d: d["message"]["body"] == "marker")
    assert bodies(carol) == ["marker"]


async def test_a_broadcast_reaches_every_other_peer(hub: HubFixture) -> None:
    alice, bob, carol = await three(hub)
    host = await hub.host()
    sent = await alice.call("send_message", body="hello all", type="status")
    assert sent["message"].get("to") is None
    for peer in (bob, carol, host):
        got = await peer.wait_event("message")
        assert got.data["message"]["body"] == "hello all"
    assert sorted(r["name"] for r in sent["message"]["receipts"]) == ["bob", "carol", "host"]
    assert bodies(alice) == []


async def test_receipts_move_to_delivered_then_read_and_the_sender_sees_it(
    hub: HubFixture,
) -> None:
    alice, bob, _ = await three(hub)
    sent = await alice.call("send_message", to="bob", body="ping?")
    [receipt] = sent["message"]["receipts"]
    assert (receipt["name"], receipt["status"]) == ("bob", "delivered")
    message_id = sent["message"]["id"]
    await bob.wait_event("message")
    unread = await bob.call("get_messages")
    assert [m["id"] for m in unread["messages"]] == [message_id]
    assert unread["messages"][0]["read"] is False
    read = await alice.wait_event("message_receipt", lambda d: d["status"] == "read")
    assert read.data["message_id"] == message_id
    assert read.data["recipient"] == "bob"
    mine = await alice.call("get_messages", include_read=True)
    [entry] = mine["messages"]
    assert entry["receipts"][0]["status"] == "read"
    assert entry["receipts"][0]["read_at"] is not None
    assert (await bob.call("get_messages"))["messages"] == []


async def test_mark_read_marks_only_messages_received(hub: HubFixture) -> None:
    alice, bob, carol = await three(hub)
    to_bob = (await alice.call("send_message", to="bob", body="b"))["message"]["id"]
    to_carol = (await alice.call("send_message", to="carol", body="c"))["message"]["id"]
    marked = await bob.call("mark_read", ids=[to_bob, to_carol, to_bob])
    assert marked["marked"] == [to_bob]
    await alice.wait_event("message_receipt", lambda d: d["status"] == "read")
    assert (await carol.call("get_messages", mark_read=False))["messages"][0]["id"] == to_carol


async def test_an_offline_peer_gets_its_directed_messages_on_reconnect_exactly_once(
    hub: HubFixture,
) -> None:
    alice, _, carol = await three(hub)
    carol_secret = bytes.fromhex(carol.conn.hello["resume_secret"])
    await carol.conn.close()
    await alice.wait_event("peer_left", lambda d: d["name"] == "carol")
    first = await alice.call("send_message", to="carol", body="while you were out")
    second = await alice.call("send_message", to="carol", body="and this")
    assert first["message"]["receipts"][0]["status"] == "sent"

    back = await hub.connect(carol_secret, "carol")
    await back.wait_event("message", lambda d: d["message"]["body"] == "and this")
    assert bodies(back) == ["while you were out", "and this"]
    delivered = await alice.wait_event(
        "message_receipt",
        lambda d: d["message_id"] == second["message"]["id"] and d["status"] == "delivered",
    )
    assert delivered.data["recipient"] == "carol"

    back_id = back.conn.hello["peer_id"]
    await back.conn.close()
    await alice.wait_event("peer_left", lambda d: d["peer_id"] == back_id)
    again = await hub.connect(carol_secret, "carol")
    await alice.call("send_message", to="carol", body="third")
    await again.wait_event("message")
    assert bodies(again) == ["third"]
    unread = await again.call("get_messages")
    assert [m["body"] for m in unread["messages"]] == ["while you were out", "and this", "third"]


async def test_a_message_to_someone_unknown_is_not_found(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    assert (
        await error_code(alice.call("send_message", to="nobody", body="hi")) == ErrorCode.NOT_FOUND
    )
    assert await error_code(alice.call("send_message", to="alice", body="me")) == ErrorCode.INVALID


async def test_a_body_over_the_limit_in_utf8_bytes_is_too_large(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    body = "é" * 9000  # 9000 characters (within the field), 18000 bytes (over 16 KiB)
    assert await error_code(alice.call("send_message", body=body)) == ErrorCode.TOO_LARGE


async def test_a_viewer_can_message_and_read_the_board_but_not_change_tasks(
    hub: HubFixture,
) -> None:
    vera = await hub.guest("vera", "viewer")
    await vera.call("send_message", body="viewers can talk")
    assert (await vera.call("board"))["total"] == 0
    assert await error_code(vera.call("add_task", title="x")) == ErrorCode.FORBIDDEN
    assert await error_code(vera.call("set_var", key="k", value="v")) == ErrorCode.FORBIDDEN


# ---------------------------------------------------------------------------- file references


async def test_a_guest_message_referencing_env_is_refused_as_not_shared(hub: HubFixture) -> None:
    alice, bob, _ = await three(hub)
    refs = [{"path": ".env", "start_line": 1}]
    code = await error_code(alice.call("send_message", to="bob", body="look", refs=refs))
    assert code == ErrorCode.NOT_SHARED
    assert (await bob.call("get_messages", include_read=True))["messages"] == []


async def test_a_host_message_to_a_guest_cannot_quote_an_unshared_file(hub: HubFixture) -> None:
    host = await hub.host()
    await hub.guest("alice")
    refs = [{"path": ".env", "start_line": 1}]
    code = await error_code(host.call("send_message", to="alice", body="key", refs=refs))
    assert code == ErrorCode.NOT_SHARED


async def test_a_message_referencing_a_shared_file_carries_the_right_lines(
    hub: HubFixture,
) -> None:
    alice, bob, _ = await three(hub)
    refs = [
        {"path": "notes.txt", "start_line": 2, "end_line": 3},
        {"path": "./src/app.py", "start_line": 1},
    ]
    await alice.call("send_message", to="bob", body="see these", type="review", refs=refs)
    got = await bob.wait_event("message")
    first, second = got.data["message"]["refs"]
    assert (first["path"], first["start_line"], first["end_line"]) == ("notes.txt", 2, 3)
    assert first["text"] == "beta\ngamma\n"
    assert first["truncated"] is False
    assert (second["path"], second["end_line"], second["text"]) == (
        "src/app.py",
        1,
        "def main():\n",
    )


@pytest.mark.parametrize("line", [4, 10])
async def test_a_reference_past_the_end_of_the_file_is_invalid(hub: HubFixture, line: int) -> None:
    alice = await hub.guest("alice")
    refs = [{"path": "notes.txt", "start_line": line}]
    with pytest.raises(OpError) as info:
        await alice.call("send_message", body="x", refs=refs)
    assert info.value.code == ErrorCode.INVALID
    assert info.value.message == f"line {line} is past the end of 'notes.txt' (3 lines)"


# ---------------------------------------------------------------------------- hostile text


async def test_hostile_strings_round_trip_intact_on_the_wire(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    bob = await hub.guest("bob")
    await alice.call("send_message", to="bob", body=HOSTILE)
    got = await bob.wait_event("message")
    assert got.data["message"]["body"] == HOSTILE
    task = (await alice.call("add_task", title=HOSTILE[:200], description=HOSTILE))["task"]
    assert (await bob.call("get_task", id=task["id"]))["task"]["title"] == HOSTILE[:200]
    assert (await bob.call("get_task", id=task["id"]))["task"]["description"] == HOSTILE
    await alice.call("update_task", id=task["id"], note=HOSTILE)
    assert (await bob.call("board"))["open"][0]["note"] == HOSTILE
    await alice.call("set_var", key="evil", value=HOSTILE)
    assert (await bob.call("get_var", key="evil"))["vars"][0]["value"] == HOSTILE
    changed = await bob.wait_event("var_changed")
    assert changed.data["value"] == HOSTILE


async def test_mark_read_cannot_reveal_a_broadcast_sent_before_the_reader_joined(
    hub: HubFixture,
) -> None:
    alice = await hub.guest("alice")
    await alice.call("send_message", type="chat", body="secret plan before carol joined")
    carol = await hub.guest("carol")
    before = await carol.call("get_messages", include_read=True)
    assert before["messages"] == []
    await carol.call("mark_read", ids=list(range(1, 5)))
    after = await carol.call("get_messages", include_read=True)
    assert after["messages"] == []
