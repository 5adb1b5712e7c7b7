"""The locks group over real connections: locks taken, refused, released and forced."""

from __future__ import annotations

from pathlib import Path

import pytest

from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.limits import Limits
from tests.support.hubs import HubFixture, make_project, running_hub

NOTES = "alpha\nbeta\ngamma\n"


async def test_a_lock_blocks_other_writers_until_released(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    bob = await hub.guest("bob")
    await alice.call("lock_file", path="notes.txt")
    with pytest.raises(OpError) as info:
        await bob.call("edit_file", path="notes.txt", old_string="alpha", new_string="a")
    assert info.value.code == ErrorCode.LOCKED
    await alice.call("unlock_file", path="notes.txt")
    result = await bob.call("edit_file", path="notes.txt", old_string="alpha", new_string="a")
    assert result["status"] == "pending"


async def test_force_unlock_frees_a_guest_lock(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    host = await hub.host()
    await alice.call("lock_file", path="notes.txt")
    result = await host.call("force_unlock", path="notes.txt")
    assert result == {"released": True, "holder": "alice"}
    await alice.wait_event("lock_released", lambda d: d["reason"] == "forced")


@pytest.mark.parametrize("spelling", ["./notes.txt", "notes.txt/", ".//notes.txt"])
async def test_another_spelling_of_a_locked_path_is_still_locked(
    hub: HubFixture, spelling: str
) -> None:
    host = await hub.host()
    guest = await hub.guest("gus")
    await host.call("lock_file", path="notes.txt")
    with pytest.raises(OpError) as info:
        await guest.call("write_file", path=spelling, content="sneaky\n")
    assert info.value.code == ErrorCode.LOCKED


# Locks across a disconnect (issue 16, item 2): a guest's lock belongs to the guest and
# outlives its connection until it expires; a host's belongs to the host's connection.


async def test_a_guests_lock_outlives_its_connection_and_is_still_its_own_after_it_returns(
    hub: HubFixture,
) -> None:
    host = await hub.host()
    alice = await hub.guest("alice")
    bob = await hub.guest("bob")
    await alice.call("lock_file", path="notes.txt")
    await alice.conn.close()
    await host.wait_event("peer_left", lambda d: d["name"] == "alice")
    status = await host.call("status")
    assert [(lk["path"], lk["holder"]) for lk in status["locks"]] == [("notes.txt", "alice")]
    with pytest.raises(OpError) as info:
        await bob.call("edit_file", path="notes.txt", old_string="alpha", new_string="a")
    assert info.value.code == ErrorCode.LOCKED
    await alice.conn.connect()  # with the resume secret it was given: the same guest
    assert await alice.call("unlock_file", path="notes.txt") == {"released": True}
    released = await host.wait_event("lock_released", lambda d: d["path"] == "notes.txt")
    assert released.data["reason"] == "unlocked"


async def test_a_host_connections_lock_ends_when_that_connection_closes(
    hub: HubFixture,
) -> None:
    dashboard = await hub.host()
    channel = await hub.host()
    await channel.call("lock_file", path="notes.txt")
    await channel.conn.close()
    released = await dashboard.wait_event("lock_released", lambda d: d["path"] == "notes.txt")
    assert released.data["reason"] == "left"
    assert (await dashboard.call("status"))["locks"] == []


async def test_kicking_a_guest_releases_its_locks(hub: HubFixture) -> None:
    host = await hub.host()
    alice = await hub.guest("alice")
    await alice.call("lock_file", path="notes.txt")
    await host.call("kick", name="alice")
    released = await host.wait_event("lock_released", lambda d: d["path"] == "notes.txt")
    assert released.data["reason"] == "left"
    assert (await host.call("status"))["locks"] == []


async def test_a_guest_that_leaves_releases_its_locks(hub: HubFixture) -> None:
    host = await hub.host()
    alice = await hub.guest("alice")
    await alice.call("lock_file", path="notes.txt")
    assert (await alice.call("leave"))["locks_released"] == 1
    assert (await host.call("status"))["locks"] == []


async def test_a_guest_holds_at_most_max_locks_per_holder(
    tmp_path: Path,
) -> None:
    # A guest's locks outlive its connection (issue 16): without a cap one guest could lock
    # paths at its request rate, for up to a day each, and leave them all behind; every tick
    # and every decision walks the lock table.
    project = make_project(tmp_path / "p")
    async with running_hub(project, limits=Limits(max_locks_per_holder=3)) as hub:
        alice = await hub.guest("alice")
        for i in range(3):
            await alice.call("lock_file", path=f"a{i}.txt")
        with pytest.raises(OpError) as caught:
            await alice.call("lock_file", path="a3.txt")
        assert caught.value.code == ErrorCode.QUOTA_EXCEEDED
        await alice.call("lock_file", path="a0.txt")  # a refresh is not a new lock
        bob = await hub.guest("bob")
        await bob.call("lock_file", path="b0.txt")  # the cap is per holder
        await alice.call("unlock_file", path="a1.txt")
        await alice.call("lock_file", path="a3.txt")
