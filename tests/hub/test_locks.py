"""The lock table (pure; time is passed in)."""

from __future__ import annotations

from pathlib import Path

import pytest

from letswork.hub.locks import LockTable, filesystem_is_case_insensitive
from letswork.shared.errors import ErrorCode, OpError

TTL = 100.0


@pytest.fixture
def table() -> LockTable:
    return LockTable(case_insensitive=False, default_ttl=TTL)


def test_acquire_returns_a_lock_expiring_after_the_ttl(table: LockTable) -> None:
    lock = table.acquire("a.py", "g1", "alice", now=10.0)
    assert (lock.path, lock.holder_id, lock.holder_name) == ("a.py", "g1", "alice")
    assert lock.expires_at == 10.0 + TTL
    assert lock.change_id is None


def test_explicit_ttl_overrides_the_default(table: LockTable) -> None:
    assert table.acquire("a.py", "g1", "alice", now=10.0, ttl=5.0).expires_at == 15.0


def test_reacquire_by_the_holder_refreshes_the_expiry(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=10.0)
    assert table.acquire("a.py", "g1", "alice", now=50.0).expires_at == 50.0 + TTL


def test_other_holder_gets_locked_with_the_holder_name(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=10.0)
    with pytest.raises(OpError) as info:
        table.acquire("a.py", "g2", "bob", now=20.0)
    assert info.value.code is ErrorCode.LOCKED
    assert info.value.data["holder"] == "alice"
    assert info.value.data["expires_at"] == 10.0 + TTL
    assert "alice" in info.value.message


def test_expired_lock_can_be_taken_by_another_holder(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=10.0)
    assert table.holder_of("a.py", now=10.0 + TTL) is None
    assert table.acquire("a.py", "g2", "bob", now=10.0 + TTL).holder_id == "g2"


def test_expire_removes_and_returns_expired_locks(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0)
    table.acquire("b.py", "g1", "alice", now=50.0)
    expired = table.expire(now=TTL + 1)
    assert [lock.path for lock in expired] == ["a.py"]
    assert [lock.path for lock in table.all(now=TTL + 1)] == ["b.py"]


def test_change_lock_never_expires(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0, change_id="c1")
    assert table.expire(now=1000 * TTL) == []
    held = table.holder_of("a.py", now=1000 * TTL)
    assert held is not None
    assert held.change_id == "c1"


def test_change_lock_refuses_others_with_the_change_in_data(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0, change_id="c1")
    with pytest.raises(OpError) as info:
        table.check_writable("a.py", "g2", now=10 * TTL)
    assert info.value.data == {"holder": "alice", "expires_at": None, "change_id": "c1"}


def test_release_change_frees_the_lock(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0, change_id="c1")
    released = table.release_change("c1")
    assert released is not None
    assert released.path == "a.py"
    assert table.holder_of("a.py", now=0.0) is None
    assert table.release_change("c1") is None


def test_release_change_frees_both_paths_of_a_move_one_call_each(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0, change_id="m1")
    table.acquire("b.py", "g1", "alice", now=0.0, change_id="m1")
    paths = []
    while (lock := table.release_change("m1")) is not None:
        paths.append(lock.path)
    assert sorted(paths) == ["a.py", "b.py"]
    assert table.all(now=0.0) == []


def test_path_stays_locked_while_another_change_of_the_holder_is_pending(
    table: LockTable,
) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0, change_id="c1")
    table.acquire("a.py", "g1", "alice", now=0.0, change_id="c2")
    assert table.release_change("c1") is None
    held = table.holder_of("a.py", now=0.0)
    assert held is not None
    assert held.change_id == "c2"
    assert [lock.path for lock in table.release_change_locks("c2")] == ["a.py"]


def test_manual_lock_survives_the_decision_of_a_change_on_the_path(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0)
    table.acquire("a.py", "g1", "alice", now=1.0, change_id="c1")
    assert table.release_change("c1") is None
    held = table.holder_of("a.py", now=2.0)
    assert held is not None
    assert held.change_id is None
    assert held.expires_at == TTL


def test_keys_collide_across_case_when_case_insensitive() -> None:
    table = LockTable(case_insensitive=True, default_ttl=TTL)
    table.acquire("Src/Readme.md", "g1", "alice", now=0.0)
    with pytest.raises(OpError):
        table.acquire("src/README.MD", "g2", "bob", now=0.0)
    assert table.key("Straße") == table.key("STRASSE")


def test_composed_and_decomposed_names_collide_when_case_insensitive() -> None:
    table = LockTable(case_insensitive=True, default_ttl=TTL)
    assert table.key("caf\u00e9.txt") == table.key("cafe\u0301.txt")


def test_keys_differ_across_case_when_case_sensitive(table: LockTable) -> None:
    table.acquire("README.md", "g1", "alice", now=0.0)
    assert table.acquire("readme.md", "g2", "bob", now=0.0).holder_id == "g2"


def test_lock_keeps_the_path_as_written(table: LockTable) -> None:
    ci = LockTable(case_insensitive=True, default_ttl=TTL)
    lock = ci.acquire("Src/A.py", "g1", "alice", now=0.0)
    assert (lock.path, lock.key) == ("Src/A.py", "src/a.py")


def test_release_all_keeps_change_locks_by_default(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0)
    table.acquire("b.py", "g1", "alice", now=0.0, change_id="c1")
    table.acquire("c.py", "g2", "bob", now=0.0)
    released = table.release_all("g1")
    assert [lock.path for lock in released] == ["a.py"]
    assert [lock.path for lock in table.all(now=0.0)] == ["b.py", "c.py"]


def test_release_all_can_drop_change_locks_too(table: LockTable) -> None:
    table.acquire("b.py", "g1", "alice", now=0.0, change_id="c1")
    assert [lock.path for lock in table.release_all("g1", keep_change_locks=False)] == ["b.py"]
    assert table.all(now=0.0) == []


def test_release_own_lock_returns_it(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0)
    released = table.release("a.py", "g1")
    assert released is not None
    assert released.path == "a.py"
    assert table.holder_of("a.py", now=0.0) is None


def test_release_of_an_unlocked_path_is_none(table: LockTable) -> None:
    assert table.release("a.py", "g1") is None


def test_release_of_someone_elses_lock_is_refused(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0)
    with pytest.raises(OpError) as info:
        table.release("a.py", "g2")
    assert info.value.code is ErrorCode.LOCKED
    assert info.value.data["holder"] == "alice"
    assert table.holder_of("a.py", now=0.0) is not None


def test_release_of_someone_elses_expired_lock_is_none_given_now(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0)
    assert table.release("a.py", "g2", now=TTL) is None


def test_release_of_own_change_held_lock_is_refused(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0, change_id="c1")
    with pytest.raises(OpError, match="pending change c1"):
        table.release("a.py", "g1")
    assert table.holder_of("a.py", now=0.0) is not None


def test_force_release_removes_even_a_change_lock(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0, change_id="c1")
    forced = table.force_release("a.py")
    assert forced is not None
    assert forced.holder_name == "alice"
    assert table.holder_of("a.py", now=0.0) is None
    assert table.release_change("c1") is None


def test_check_writable_allows_the_holder_and_free_paths(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0)
    table.check_writable("a.py", "g1", now=0.0)
    table.check_writable("b.py", "g2", now=0.0)
    table.check_writable("a.py", "g2", now=TTL)  # expired


def test_check_writable_refuses_others(table: LockTable) -> None:
    table.acquire("a.py", "g1", "alice", now=0.0)
    with pytest.raises(OpError) as info:
        table.check_writable("a.py", "g2", now=1.0)
    assert info.value.code is ErrorCode.LOCKED


def test_all_lists_live_locks_sorted_by_path(table: LockTable) -> None:
    table.acquire("b.py", "g1", "alice", now=0.0)
    table.acquire("a.py", "g2", "bob", now=0.0)
    table.acquire("old.py", "g2", "bob", now=-TTL)
    assert [lock.path for lock in table.all(now=1.0)] == ["a.py", "b.py"]


def test_non_positive_ttl_is_refused(table: LockTable) -> None:
    with pytest.raises(ValueError, match="ttl"):
        table.acquire("a.py", "g1", "alice", now=0.0, ttl=0)


def test_case_probe_matches_the_filesystem(tmp_path: Path) -> None:
    (tmp_path / "Probe.txt").write_text("x")
    expected = (tmp_path / "pROBE.TXT").exists()
    assert filesystem_is_case_insensitive(tmp_path) is expected


def test_case_probe_of_an_empty_folder_leaves_it_empty(tmp_path: Path) -> None:
    (tmp_path / "Probe.txt").write_text("x")
    expected = (tmp_path / "pROBE.TXT").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert filesystem_is_case_insensitive(empty) is expected
    assert list(empty.iterdir()) == []
