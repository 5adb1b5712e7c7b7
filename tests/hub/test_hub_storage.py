"""What a peer can make the hub store, over real connections (issue 13, item 8).

Messages and the activity log are rings per peer, so a flood prunes the flooder's own oldest
rows and never the host's; a message is capped by what it stores, escapes included; pending
changes are capped across all guests; decided changes lose their diff after a bound and
``get_change`` says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from letswork.shared import limits as lim
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.limits import Limits
from tests.support.hubs import HubFixture, running_hub


async def _error(call: Any) -> OpError:
    with pytest.raises(OpError) as info:
        await call
    return info.value


async def test_a_viewers_message_flood_prunes_its_own_oldest_and_keeps_the_hosts(
    project: Path,
) -> None:
    limits = Limits(max_messages_per_sender=5)
    async with running_hub(project, limits=limits) as hub:
        host = await hub.host()
        vera = await hub.guest("vera", "viewer")
        for n in range(2):
            await host.call("send_message", body=f"host {n}")
        for n in range(12):
            await vera.call("send_message", body=f"vera {n}")
        got = await host.call("get_messages", include_read=True, limit=200)
        bodies = [m["body"] for m in got["messages"]]
        assert bodies == ["host 0", "host 1", *(f"vera {n}" for n in range(7, 12))]


async def test_a_message_whose_references_escape_past_the_stored_cap_is_refused(
    hub: HubFixture,
) -> None:
    # 200 lines of control characters: 8 KiB of quoted text per reference, six times that once
    # escaped in JSON, which is what state.db would hold.
    (hub.project / "ctl.txt").write_text(("\x01" * 40 + "\n") * 200, encoding="utf-8")
    vera = await hub.guest("vera", "viewer")
    refs = [{"path": "ctl.txt", "start_line": 1, "end_line": 200}] * lim.MAX_MESSAGE_REFS
    err = await _error(vera.call("send_message", body="look", refs=refs))
    assert err.code == ErrorCode.TOO_LARGE
    assert "reference fewer lines" in err.message
    assert err.data["limit"] == lim.MAX_MESSAGE_STORED_BYTES
    # Nothing was stored, and a message with fewer lines goes through.
    assert (await vera.call("get_messages", include_read=True))["messages"] == []
    one = [{"path": "ctl.txt", "start_line": 1, "end_line": 20}]
    sent = await vera.call("send_message", body="look", refs=one)
    assert sent["message"]["refs"][0]["end_line"] == 20


async def test_a_guests_activity_log_flood_cannot_push_out_the_hosts_entries(
    project: Path,
) -> None:
    limits = Limits(max_audit_entries_per_guest=10, renames_per_minute=100)
    async with running_hub(project, limits=limits) as hub:
        host = await hub.host()
        await host.call("create_invite", role="viewer", label="marker")
        mallory = await hub.guest("mallory", "editor")
        for n in range(40):
            await mallory.call("lock_file", path="notes.txt")
            await mallory.call("unlock_file", path="notes.txt")
            # A new name is not a new share of the log: shares follow the guest, not the name.
            await mallory.call("set_display_name", name=f"mallory{n % 2}")
        log = await host.call("activity_log", limit=500)
        kinds = [(e["actor"], e["kind"]) for e in log["entries"]]
        assert ("host", "invite") in kinds  # the host's own history is still there
        assert sum(1 for actor, _ in kinds if actor.startswith("mallory")) == 10
        assert kinds[-1] == ("mallory1", "rename")  # the newest are the ones kept


async def test_pending_changes_of_all_guests_together_are_capped_with_a_next_step(
    hub: HubFixture,
) -> None:
    per_guest = lim.MAX_PENDING_PER_GUEST
    guests = [await hub.guest(f"ed{n}") for n in range(lim.MAX_PENDING_TOTAL // per_guest)]
    for n, guest in enumerate(guests):
        for k in range(per_guest):
            reply = await guest.call("write_file", path=f"new/{n}-{k}.txt", content="x\n")
            assert reply["status"] == "pending"
    late = await hub.guest("late")
    err = await _error(late.call("write_file", path="new/late.txt", content="x\n"))
    assert err.code == ErrorCode.QUOTA_EXCEEDED
    assert "wait for the host to decide some" in err.message
    host = await hub.host()
    first = (await host.call("pending_changes", include_diff=False))["changes"][0]
    await host.call("reject_change", id=first["id"], reason="make room")
    reply = await late.call("write_file", path="new/late.txt", content="x\n")
    assert reply["status"] == "pending"


async def test_get_change_of_a_change_decided_long_ago_says_its_diff_was_pruned(
    hub: HubFixture,
) -> None:
    alice = await hub.guest("alice")
    proposed = await alice.call("write_file", path="old.txt", content="proposal\n")
    host = await hub.host()
    cid = proposed["change"]["id"]
    await host.call("reject_change", id=cid, reason="not now")
    last = ""
    for n in range(lim.MAX_DECIDED_WITH_DATA):  # the host's writes are decided at once
        written = await host.call("write_file", path=f"host/{n}.txt", content=f"{n}\n")
        last = written["change"]["id"]
    change = (await host.call("get_change", id=cid))["change"]
    assert change.get("diff") is None
    assert change["data_pruned"] is True
    summary = (change["status"], change["reason"], change["path"])
    assert summary == ("rejected", "not now", "old.txt")
    mine = (await alice.call("get_change", id=cid))["change"]
    assert mine["data_pruned"] is True and mine.get("diff") is None
    # Deciding it again still gets a sensible answer, with or without its data.
    err = await _error(host.call("approve_change", id=cid))
    assert err.code == ErrorCode.ALREADY_DECIDED
    again = (await host.call("reject_change", id=cid))["change"]
    assert again["status"] == "rejected" and again["data_pruned"] is True
    newest = (await host.call("get_change", id=last))["change"]
    assert not newest.get("data_pruned")
    assert f"+{lim.MAX_DECIDED_WITH_DATA - 1}" in newest["diff"]
