"""The locks group over real connections: locks taken, refused, released and forced."""

from __future__ import annotations

import pytest

from letswork.shared.errors import ErrorCode, OpError
from tests.support.hubs import HubFixture

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
