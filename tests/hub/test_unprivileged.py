"""What the hub does with folders and files it may not read or write.

Root ignores file permissions, so these are marked ``unprivileged`` and skip as root (see
tests/conftest.py). CI runs as root; ``.ci/unprivileged`` runs them again as ``nobody``, where
they must pass. Real hubs on loopback, real folders with ``chmod``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from letswork.shared.errors import ErrorCode, OpError
from tests.support.hubs import HubFixture

pytestmark = pytest.mark.unprivileged


@contextlib.contextmanager
def mode(path: Path, bits: int) -> Iterator[None]:
    """``chmod bits`` for the block; the tmp_path cleanup needs the old mode back."""
    old = path.stat().st_mode & 0o777
    path.chmod(bits)
    try:
        yield
    finally:
        path.chmod(old)


async def test_a_folder_the_hub_cannot_read_lists_as_empty_and_the_rest_is_listed(
    hub: HubFixture,
) -> None:
    private = hub.project / "private"
    private.mkdir()
    (private / "secret.txt").write_text("kept\n", encoding="utf-8")
    host = await hub.host()
    with mode(private, 0o000):
        listed = await host.call("list_files", path="", recursive=True)
        inside = await host.call("list_files", path="private")
    paths = [e["path"] for e in listed["entries"]]
    assert "private" in paths and "private/secret.txt" not in paths
    assert "src/app.py" in paths and "notes.txt" in paths
    assert inside["entries"] == []


async def test_a_search_passes_over_a_file_it_cannot_read(hub: HubFixture) -> None:
    locked = hub.project / "locked.txt"
    locked.write_text("beta is here too\n", encoding="utf-8")
    guest = await hub.guest("alice")
    with mode(locked, 0o000):
        found = await guest.call("search_files", pattern="beta")
    assert [m["path"] for m in found["matches"]] == ["notes.txt"]


async def test_reading_a_file_the_hub_cannot_read_is_a_disk_error_saying_so(
    hub: HubFixture,
) -> None:
    locked = hub.project / "locked.txt"
    locked.write_text("unreadable\n", encoding="utf-8")
    guest = await hub.guest("alice")
    with mode(locked, 0o000), pytest.raises(OpError) as info:
        await guest.call("read_file", path="locked.txt")
    assert info.value.code == ErrorCode.DISK_ERROR
    assert "permission denied" in info.value.message
    assert "unreadable" not in info.value.message


async def test_a_file_in_a_folder_the_hub_cannot_search_is_a_disk_error_not_internal(
    hub: HubFixture,
) -> None:
    # Found attacking issue 15's read checks (as on main): after the open's EACCES a read
    # asked Path.is_dir, find and search Path.exists, a write Path.is_symlink and exists, and
    # each of those raises on EACCES: every one ended as an internal error and a traceback.
    sealed = hub.project / "sealed"
    sealed.mkdir()
    (sealed / "a.txt").write_text("kept\n", encoding="utf-8")
    host = await hub.host()
    guest = await hub.guest("alice")
    with mode(sealed, 0o000):
        for peer in (host, guest):
            for op in ("read_file", "stat_file"):
                with pytest.raises(OpError) as info:
                    await peer.call(op, path="sealed/a.txt")
                assert info.value.code == ErrorCode.DISK_ERROR, (op, info.value)
                assert "permission denied" in info.value.message
            # A search or find below it has nothing it can look at, as for a missing path.
            for op, args in (
                ("find_files", {"glob": "*"}),
                ("search_files", {"pattern": "kept"}),
            ):
                with pytest.raises(OpError) as info:
                    await peer.call(op, path="sealed/a.txt", **args)
                assert info.value.code == ErrorCode.NOT_FOUND, (op, info.value)
            with pytest.raises(OpError) as info:
                await peer.call("write_file", path="sealed/a.txt", content="x\n")
            assert info.value.code == ErrorCode.DISK_ERROR, info.value
            assert "permission denied" in info.value.message


async def test_approving_into_a_folder_the_hub_cannot_write_keeps_the_change_pending(
    hub: HubFixture,
) -> None:
    guest = await hub.guest("alice")
    host = await hub.host()
    change_id = (await guest.call("write_file", path="src/new.py", content="x = 1\n"))["change"][
        "id"
    ]
    with mode(hub.project / "src", 0o555), pytest.raises(OpError) as info:
        await host.call("approve_change", id=change_id)
    pending = (await host.call("pending_changes"))["changes"]
    again = await host.call("approve_change", id=change_id)
    assert info.value.code == ErrorCode.DISK_ERROR
    assert "permission denied" in info.value.message
    assert [c["id"] for c in pending] == [change_id]
    assert again["change"]["status"] == "applied"
    assert (hub.project / "src" / "new.py").read_text() == "x = 1\n"
    assert [p.name for p in (hub.project / "src").iterdir() if p.name.startswith(".letswork")] == []


async def test_a_host_write_into_a_folder_it_cannot_write_is_a_disk_error_and_not_recorded(
    hub: HubFixture,
) -> None:
    host = await hub.host()
    with mode(hub.project / "src", 0o555), pytest.raises(OpError) as info:
        await host.call("write_file", path="src/app.py", content="changed\n")
    mine = await host.call("my_changes", status="applied")
    assert info.value.code == ErrorCode.DISK_ERROR
    assert mine["changes"] == []
    assert (hub.project / "src" / "app.py").read_text().startswith("def main")
