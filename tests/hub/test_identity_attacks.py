"""Attacks on identities, invites and removal (issue 16): what a hostile guest tried, each the
test of a finding that was fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from letswork.shared import invite
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.limits import Limits
from tests.support.hubs import Client, HubFixture, running_hub


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def gone(guest: Client, watcher: Client) -> None:
    peer_id = guest.conn.hello["peer_id"]
    await guest.conn.close()
    await watcher.wait_event("peer_left", lambda d: d["peer_id"] == peer_id)


async def test_revoking_a_hex_label_that_also_starts_an_invite_id_is_ambiguous(
    hub: HubFixture,
) -> None:
    host = await hub.host()
    other = await host.call("create_invite", role="editor")
    prefix = other["invite_id"][:4]
    labelled = await host.call("create_invite", role="editor", label=prefix)
    with pytest.raises(OpError) as info:
        await host.call("revoke_invite", invite_id=prefix)
    invites = {i["invite_id"]: i["revoked"] for i in (await host.call("list_invites"))["invites"]}
    assert info.value.code == ErrorCode.AMBIGUOUS
    assert invites[other["invite_id"]] is False and invites[labelled["invite_id"]] is False
    # The CLI sends an all-hex INVITE lowercased: an upper-case hex label is still found.
    upper = await host.call("create_invite", role="editor", label="BEEF")
    revoked = await host.call("revoke_invite", invite_id="beef")
    assert revoked["invite_id"] == upper["invite_id"] and revoked["revoked"] is True


async def test_renaming_by_reconnecting_counts_against_the_rename_limit(project: Path) -> None:
    clock = FakeClock()
    limits = Limits(renames_per_minute=2)
    async with running_hub(project, clock=clock, limits=limits) as fx:
        host = await fx.host()
        alice = await fx.guest("alice")
        resume = bytes.fromhex(alice.conn.hello["resume_secret"])
        await gone(alice, host)
        for n in range(2):
            again = await fx.connect(resume, f"alice{n}")
            await gone(again, host)
        with pytest.raises(OpError) as info:
            await fx.connect(resume, "one-more")
        same = await fx.connect(resume, "alice1")
    assert info.value.code == ErrorCode.RATE_LIMITED
    assert same.conn.hello["name"] == "alice1"


async def test_a_rename_leaves_the_rows_an_earlier_holder_of_the_name_wrote(
    hub: HubFixture,
) -> None:
    host = await hub.host()
    made = await host.call("create_invite", role="editor", label="team", uses=2)
    first = await hub.connect(invite.parse(made["code"]).secret, "alice")
    await first.call("add_task", title="the first alice's task")
    await first.call("set_var", key="k", value="v")
    await host.call("kick", name="alice")
    await first.wait_event("kicked")
    await host.call("revoke_invite", label="team")  # frees the name
    second = await hub.guest("alice")
    await second.call("set_display_name", name="mallory")
    task = (await host.call("get_task", id=1))["task"]
    var = await host.call("get_var", key="k")
    assert task["created_by"] == "alice"
    assert "mallory" not in str(var)


async def test_a_knocking_stranger_is_not_told_who_was_kicked_or_when_people_were_seen(
    hub: HubFixture,
) -> None:
    host = await hub.host()
    made = await host.call("create_invite", role="editor", label="team", uses=3)
    code = invite.parse(made["code"]).secret
    alice = await hub.connect(code, "alice")
    bob = await hub.connect(code, "bob")
    await gone(bob, host)
    await host.call("kick", name="alice")
    await alice.wait_event("kicked")
    stranger = await hub.invite(label="stranger")
    errors = []
    for name in ("alice", "bob"):
        with pytest.raises(OpError) as info:
            await hub.connect(stranger, name)
        errors.append(info.value)
    assert [e.code for e in errors] == [ErrorCode.NAME_TAKEN] * 2
    for e in errors:
        assert "removed" not in e.message and "since" not in e.message, e.message


@pytest.mark.parametrize(
    ("holder", "impostor"),
    [("alice", "aIice"), ("alice", "al1ce"), ("bob", "B0B"), ("mallory", "rnallory")],
)
async def test_a_guest_cannot_take_a_name_that_looks_the_same(
    hub: HubFixture, holder: str, impostor: str
) -> None:
    await hub.guest(holder)
    with pytest.raises(OpError) as info:
        await hub.guest(impostor)
    assert info.value.code == ErrorCode.NAME_TAKEN


@pytest.mark.parametrize("impostor", ["h0st", "HO5T", "h o s t"])
async def test_a_guest_cannot_be_called_what_looks_like_host(
    hub: HubFixture, impostor: str
) -> None:
    with pytest.raises(OpError) as info:
        await hub.guest(impostor)
    assert info.value.code == ErrorCode.NAME_TAKEN


async def test_a_channel_older_than_offline_people_is_never_sent_them(hub: HubFixture) -> None:
    # A guest on main (e9584dc) validates list_peers against states without "offline" and no
    # offline_since: one offline person made it drop its connection (seen for real).
    host = await hub.host()
    alice = await hub.guest("alice")
    bob = await hub.guest("bob")
    await gone(alice, host)
    older = (await bob.call("list_peers"))["peers"]
    newer = (await bob.call("list_peers", offline=True))["peers"]
    assert {p["state"] for p in older} <= {"online", "idle", "away", "awaiting_admission"}
    assert all("offline_since" not in p for p in older)
    assert [p["name"] for p in newer if p["state"] == "offline"] == ["alice"]
