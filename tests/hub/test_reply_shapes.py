"""The hub fixture checks every reply and every event against the catalogue
(``tests/support/hubs.py``: ``check_reply``, ``check_event``): a hub that sends the wrong shape
fails a test. Each test here makes the hub send a wrong one on purpose."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from letswork.client.connection import HubProtocolError
from letswork.hub import core
from letswork.shared.protocol.base import Count, NameResult, WireModel
from letswork.shared.protocol.files import SearchFilesResult, SearchMatch
from letswork.shared.protocol.wire import decode_request, encode_request
from tests.support.hubs import HubFixture, check_event, check_reply


async def test_a_reply_that_does_not_fit_its_ops_model_fails_the_call(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def wrong(ctx: Any, peer: Any, args: Any, now: float) -> NameResult:
        return NameResult(name="not a ping")  # ping answers PingResult(now=...)

    client = await hub.guest("alice")
    monkeypatch.setitem(core.HANDLERS, "ping", wrong)
    with pytest.raises((HubProtocolError, ValidationError)):
        await client.call("ping")


def test_check_reply_refuses_a_result_of_another_ops_shape() -> None:
    check_reply("ping", {"now": 1.0})
    with pytest.raises(ValidationError):
        check_reply("ping", {"name": "not a ping"})


async def test_an_event_that_does_not_fit_its_model_is_recorded_by_the_fixture(
    hub: HubFixture,
) -> None:
    assert hub.hub.core is not None
    nobody = types.SimpleNamespace(peer_id="nobody")  # no connection: only the fixture sees it
    hub.hub.core._emit(nobody, "lock_taken", {"lock": {"path": "a.py"}}, 0)  # type: ignore[arg-type]
    hub.hub.core._emit(nobody, "no_such_event", {}, 0)  # type: ignore[arg-type]
    assert [name for name, _ in hub.bad_events] == ["lock_taken", "no_such_event"]
    hub.bad_events.clear()  # seen: the fixture's own check at the end would fail this test


def test_check_event_refuses_data_off_the_model_and_unknown_events() -> None:
    check_event("peer_left", {"peer_id": "p1", "name": "alice", "reason": "left"})
    with pytest.raises(ValidationError):
        check_event("peer_left", {"peer_id": "p1"})
    with pytest.raises(AssertionError):
        check_event("no_such_event", {})


class SearchFilesResultBeforeCutShort(WireModel):
    """``SearchFilesResult`` as a channel of the version before ``cut_short`` knows it."""

    matches: list[SearchMatch]
    truncated: bool
    files_scanned: Count


def sent_reply(hub: HubFixture, name: str, op: str, args: dict[str, Any]) -> Mapping[str, Any]:
    """The ``result`` the hub puts on the wire for peer ``name``'s ``op``, from its dispatch
    (the reply's ``result`` is exactly this dict)."""
    hub_core = hub.hub.core
    assert hub_core is not None
    peer = next(p for p in hub_core.peers.values() if p.name == name)
    return hub_core.handle(peer, decode_request(encode_request(1, op, args)), 1.0)


async def test_a_search_reply_fits_a_channel_model_older_than_cut_short(hub: HubFixture) -> None:
    await hub.guest("alice", "viewer")
    found = sent_reply(hub, "alice", "search_files", {"pattern": "alpha"})
    older = SearchFilesResultBeforeCutShort.model_validate(found)  # refuses unknown fields
    assert [m.path for m in older.matches] == ["notes.txt"]


async def test_a_reply_leaves_out_the_optional_fields_that_hold_their_default(
    hub: HubFixture,
) -> None:
    guest = await hub.guest("alice", "viewer")
    found = sent_reply(hub, "alice", "search_files", {"pattern": "alpha"})
    listed = sent_reply(hub, "alice", "list_files", {})
    filled = await guest.conn.call("search_files", {"pattern": "alpha"})
    assert set(found) == {"matches", "truncated", "files_scanned"}  # cut_short: false
    assert listed["entries"] and all("lock" not in e for e in listed["entries"])  # lock: null
    assert isinstance(filled, SearchFilesResult) and filled.cut_short is False  # the default
