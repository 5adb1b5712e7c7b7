"""The role table of design section 6, enforced by the hub op by op."""

from __future__ import annotations

import pytest

from letswork.shared.errors import ErrorCode, OpError
from tests.support.hubs import HubFixture

HOST_ONLY = {
    "approve_change": {"id": "abcd"},
    "reject_change": {"id": "abcd"},
    "force_unlock": {"path": "notes.txt"},
    "kick": {"name": "someone"},
    "admit": {"name": "someone"},
    "deny": {"name": "someone"},
    "trust": {"name": "someone"},
    "untrust": {"name": "someone"},
    "create_invite": {"role": "editor"},
    "list_invites": {},
    "revoke_invite": {"label": "x"},
    "pending_changes": {},
    "shutdown": {},
}
PROPOSALS = {
    "write_file": {"path": "notes.txt", "content": "x\n"},
    "edit_file": {"path": "notes.txt", "old_string": "alpha", "new_string": "ALPHA"},
    "delete_file": {"path": "notes.txt"},
    "move_file": {"path": "notes.txt", "new_path": "moved.txt"},
    "lock_file": {"path": "notes.txt"},
}


async def _code(call: object) -> ErrorCode:
    with pytest.raises(OpError) as info:
        await call  # type: ignore[misc]
    return info.value.code


async def test_two_guests_and_the_host_are_connected_at_once(hub: HubFixture) -> None:
    host = await hub.host()
    await hub.guest("alice", "editor")
    await hub.guest("bob", "viewer")
    status = await host.call("status")
    roles = sorted((p["name"], p["role"]) for p in status["peers"])
    assert ("alice", "editor") in roles
    assert ("bob", "viewer") in roles
    assert ("host", "host") in roles


@pytest.mark.parametrize("op", sorted(PROPOSALS))
async def test_a_viewer_cannot_propose_or_lock(hub: HubFixture, op: str) -> None:
    viewer = await hub.guest("vera", "viewer")
    assert await _code(viewer.call(op, **PROPOSALS[op])) == ErrorCode.FORBIDDEN
    assert (hub.project / "notes.txt").read_text() == "alpha\nbeta\ngamma\n"


@pytest.mark.parametrize("op", sorted(HOST_ONLY))
async def test_an_editor_cannot_call_host_ops(hub: HubFixture, op: str) -> None:
    editor = await hub.guest("eddie", "editor")
    assert await _code(editor.call(op, **HOST_ONLY[op])) == ErrorCode.FORBIDDEN


@pytest.mark.parametrize("op", sorted(HOST_ONLY))
async def test_a_viewer_cannot_call_host_ops(hub: HubFixture, op: str) -> None:
    viewer = await hub.guest("vic", "viewer")
    assert await _code(viewer.call(op, **HOST_ONLY[op])) == ErrorCode.FORBIDDEN


@pytest.mark.parametrize("name", ["host", "Host", " host ", "HOST", "h.o.s.t", "h o s t", "ho_st"])
async def test_a_guest_cannot_take_the_host_name_when_joining(hub: HubFixture, name: str) -> None:
    secret = await hub.invite("editor")
    with pytest.raises(OpError) as info:
        await hub.connect(secret, name)
    assert info.value.code == ErrorCode.NAME_TAKEN


@pytest.mark.parametrize("name", ["host", "Host", " host "])
async def test_a_guest_cannot_rename_itself_to_host(hub: HubFixture, name: str) -> None:
    guest = await hub.guest("mallory", "editor")
    assert await _code(guest.call("set_display_name", name=name)) == ErrorCode.NAME_TAKEN
    status = await guest.call("status")
    assert status["you"]["role"] == "editor"
    assert status["you"]["name"] == "mallory"


async def test_renaming_never_changes_the_role(hub: HubFixture) -> None:
    guest = await hub.guest("carol", "viewer")
    await guest.call("set_display_name", name="carol2")
    status = await guest.call("status")
    assert status["you"] == {**status["you"], "name": "carol2", "role": "viewer"}
    assert await _code(guest.call("write_file", path="x.txt", content="x")) == ErrorCode.FORBIDDEN


async def test_a_guest_cannot_approve_its_own_change(hub: HubFixture) -> None:
    guest = await hub.guest("dave", "editor")
    result = await guest.call("write_file", path="new.txt", content="hi\n")
    assert result["status"] == "pending"
    change_id = result["change"]["id"]
    assert await _code(guest.call("approve_change", id=change_id)) == ErrorCode.FORBIDDEN
    assert not (hub.project / "new.txt").exists()


async def test_display_names_are_unique_ignoring_case(hub: HubFixture) -> None:
    await hub.guest("erin", "editor")
    secret = await hub.invite("editor")
    with pytest.raises(OpError) as info:
        await hub.connect(secret, "ERIN")
    assert info.value.code == ErrorCode.NAME_TAKEN


async def test_a_display_name_with_forbidden_characters_is_refused(hub: HubFixture) -> None:
    secret = await hub.invite("editor")
    with pytest.raises(OpError) as info:
        await hub.connect(secret, "<b>evil</b>")
    assert info.value.code == ErrorCode.INVALID
