"""Invites and guests."""

from __future__ import annotations

from pathlib import Path

import pytest

from letswork.hub.store import Store, base
from letswork.hub.store.migrations import load_migrations
from letswork.shared.errors import ErrorCode, OpError, StoreError
from tests.hub.store.helpers import INVITE_ID, KEY

# -- invites -----------------------------------------------------------------------------------


def test_invite_round_trips_with_its_secret(store: Store) -> None:
    added = store.add_invite(INVITE_ID, b"s" * 20, "editor", "for bob", now=10.0)
    assert store.get_invite(INVITE_ID) == added
    assert added.uses == 0
    assert added.revoked_at is None


def test_unknown_invite_is_none(store: Store) -> None:
    assert store.get_invite(b"x" * 16) is None


def test_invite_secret_is_not_in_repr(store: Store) -> None:
    row = store.add_invite(INVITE_ID, b"topsecret-bytes", "viewer", None, now=1.0)
    assert "topsecret" not in repr(row)


def test_list_invites_is_oldest_first_and_includes_revoked(store: Store) -> None:
    store.add_invite(b"b" * 16, b"s2", "viewer", None, now=2.0)
    store.add_invite(b"a" * 16, b"s1", "editor", None, now=1.0)
    store.revoke_invite(b"b" * 16, now=3.0)
    assert [r.invite_id for r in store.list_invites()] == [b"a" * 16, b"b" * 16]


def test_revoke_invite_reports_only_the_first_revocation(store: Store) -> None:
    store.add_invite(INVITE_ID, b"s", "editor", None, now=1.0)
    assert store.revoke_invite(INVITE_ID, now=5.0) is True
    assert store.revoke_invite(INVITE_ID, now=6.0) is False
    row = store.get_invite(INVITE_ID)
    assert row is not None
    assert row.revoked_at == 5.0


def test_revoke_unknown_invite_is_false(store: Store) -> None:
    assert store.revoke_invite(b"u" * 16, now=1.0) is False


def test_count_invite_use_increments(store: Store) -> None:
    store.add_invite(INVITE_ID, b"s", "editor", None, now=1.0)
    store.count_invite_use(INVITE_ID)
    store.count_invite_use(INVITE_ID)
    row = store.get_invite(INVITE_ID)
    assert row is not None
    assert row.uses == 2


def test_invalid_role_is_refused_as_store_error(store: Store) -> None:
    with pytest.raises(StoreError):
        store.add_invite(INVITE_ID, b"s", "host", None, now=1.0)


# -- guests ------------------------------------------------------------------------------------


def test_new_guest_awaits_admission(store: Store, invite: bytes) -> None:
    guest = store.add_guest("alice", "editor", invite, now=2.0)
    assert guest.state == "awaiting_admission"
    assert guest.trusted is False
    assert guest.resume_id is None
    assert store.get_guest(guest.guest_id) == guest


def test_admitted_guest_is_found_by_resume_id_with_its_psk(store: Store, invite: bytes) -> None:
    guest = store.add_guest("alice", "editor", invite, now=2.0)
    admitted = store.admit_guest(guest.guest_id, b"R" * 16, b"P" * 32, now=3.0)
    assert admitted.state == "admitted"
    assert admitted.admitted_at == 3.0
    found = store.find_guest_by_resume_id(b"R" * 16)
    assert found == (admitted, b"P" * 32)


@pytest.mark.parametrize("state", ["denied", "kicked"])
def test_denied_or_kicked_guest_loses_its_resume_credential(
    store: Store, invite: bytes, state: str
) -> None:
    guest = store.add_guest("alice", "editor", invite, now=2.0)
    store.admit_guest(guest.guest_id, b"R" * 16, b"P" * 32, now=3.0)
    store.set_guest_state(guest.guest_id, state)
    assert store.find_guest_by_resume_id(b"R" * 16) is None
    row = store.get_guest(guest.guest_id)
    assert row is not None
    assert row.state == state
    assert row.resume_id is None


def test_guest_name_and_trust_are_updated(store: Store, invite: bytes) -> None:
    guest = store.add_guest("alice", "editor", invite, now=2.0)
    store.set_guest_name(guest.guest_id, "alice2")
    store.set_trusted(guest.guest_id, True)
    row = store.get_guest(guest.guest_id)
    assert row is not None
    assert (row.name, row.trusted) == ("alice2", True)


def test_updating_an_unknown_guest_is_not_found(store: Store) -> None:
    with pytest.raises(OpError) as info:
        store.set_trusted("nobody", True)
    assert info.value.code is ErrorCode.NOT_FOUND


def test_guests_of_invite_lists_only_that_invite(store: Store, invite: bytes) -> None:
    store.add_invite(b"o" * 16, b"other", "viewer", None, now=1.0)
    a = store.add_guest("alice", "editor", invite, now=2.0)
    store.add_guest("carol", "viewer", b"o" * 16, now=3.0)
    assert [g.guest_id for g in store.guests_of_invite(invite)] == [a.guest_id]


def test_revoke_guests_of_invite_kicks_waiting_and_admitted_guests(
    store: Store, invite: bytes
) -> None:
    waiting = store.add_guest("w", "editor", invite, now=2.0)
    admitted = store.add_guest("a", "editor", invite, now=3.0)
    denied = store.add_guest("d", "editor", invite, now=4.0)
    store.admit_guest(admitted.guest_id, b"R" * 16, b"P" * 32, now=5.0)
    store.set_guest_state(denied.guest_id, "denied")
    changed = store.revoke_guests_of_invite(invite)
    assert [g.guest_id for g in changed] == [waiting.guest_id, admitted.guest_id]
    assert all(g.state == "kicked" and g.resume_id is None for g in changed)
    assert store.find_guest_by_resume_id(b"R" * 16) is None
    row = store.get_guest(denied.guest_id)
    assert row is not None
    assert row.state == "denied"


def test_list_guests_filters_by_state(store: Store, invite: bytes) -> None:
    a = store.add_guest("a", "editor", invite, now=2.0)
    b = store.add_guest("b", "editor", invite, now=3.0)
    store.admit_guest(b.guest_id, b"R" * 16, b"P" * 32, now=4.0)
    assert [g.guest_id for g in store.list_guests()] == [a.guest_id, b.guest_id]
    assert [g.guest_id for g in store.list_guests(state="admitted")] == [b.guest_id]


def test_an_admission_past_the_invites_uses_is_refused_and_counts_nothing(store: Store) -> None:
    invite_id = b"\x01" * 16
    store.add_invite(invite_id, b"s" * 16, "editor", None, 1.0, max_uses=1)
    store.add_admitted_guest("g1", "one", "editor", invite_id, b"r" * 16, b"p" * 32, 2.0)
    with pytest.raises(OpError) as info:
        store.add_admitted_guest("g2", "two", "editor", invite_id, b"q" * 16, b"p" * 32, 3.0)
    row = store.get_invite(invite_id)
    assert info.value.code == ErrorCode.QUOTA_EXCEEDED
    assert row is not None and (row.uses, row.uses_left()) == (1, 0)
    assert [g.guest_id for g in store.list_guests()] == ["g1"]


def test_a_guest_kicked_before_schema_6_keeps_her_invite_from_auto_admitting(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = load_migrations()
    monkeypatch.setattr(base, "load_migrations", lambda: real[:5])
    with Store.open(db_path, KEY) as old:  # as letswork with schema 5 wrote it
        for invite_id, label, guest, state in (
            (b"k" * 16, "kicked", "alice", "kicked"),
            (b"o" * 16, "other", "bob", "admitted"),
        ):
            old._conn.execute(
                "INSERT INTO invites (invite_id, secret, role, label, created_at, uses)"
                " VALUES (?, ?, 'editor', ?, 1, 1)",
                (invite_id, old._seal("invites", "secret", invite_id, b"s"), label),
            )
            old._conn.execute(
                "INSERT INTO guests (guest_id, name, role, invite_id, state, trusted,"
                " created_at, admitted_at) VALUES (?, ?, 'editor', ?, ?, 0, 2, 3)",
                (guest, guest, invite_id, state),
            )
    monkeypatch.setattr(base, "load_migrations", lambda: real)
    with Store.open(db_path, KEY) as new:
        flags = {r.label: r.kicked for r in new.list_invites()}
        guests = {g.name: g.state for g in new.list_guests()}
    assert flags == {"kicked": True, "other": False}
    assert guests == {"alice": "kicked", "bob": "admitted"}
