"""Disk faults (issue 8, item 7): a full disk and a read-only project folder.

A full disk is simulated with ``OSError(ENOSPC)`` at the ``os.write`` of the temporary file of
an atomic write, and a full state database with SQLite's ``max_page_count``. A read-only folder
is a real read-only bind mount where the test may mount (root with CAP_SYS_ADMIN), and is
simulated with ``OSError(EROFS)`` at the creation of the temporary file everywhere (as root,
``chmod`` does not stop writes). Every case must give the proposer or the host a clear
``disk_error``, leave the file and the folder as they were, and keep a pending change pending
(and locked) so that approving it again once the disk is fine applies it exactly.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from letswork.shared.errors import ErrorCode, OpError
from tests.reliability.support import tree_digest
from tests.support.hubs import HubFixture, running_hub

NOTES = "alpha\nbeta\ngamma\n"
NEW = "alpha\nBETA\ngamma\n"


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


@contextlib.contextmanager
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """``os.write`` to a temporary file of an atomic write fails with ENOSPC."""
    real_write = os.write
    hits: list[str] = []

    def write(fd: int, data: Any) -> int:
        path = _fd_path(fd)
        if ".letswork-tmp-" in path:
            hits.append(path)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    with monkeypatch.context() as m:
        m.setattr(os, "write", write)
        yield hits


@contextlib.contextmanager
def read_only(monkeypatch: pytest.MonkeyPatch, root: Path) -> Iterator[list[str]]:
    """Creating, renaming or removing anything under ``root`` fails with EROFS."""
    real_open, real_rename, real_replace, real_unlink = os.open, os.rename, os.replace, os.unlink
    hits: list[str] = []
    inside = str(root.resolve())

    def guard(real: Callable[..., Any], writes: Callable[..., bool]) -> Callable[..., Any]:
        def fn(*args: Any, **kw: Any) -> Any:
            if str(args[0]).startswith(inside) and writes(*args, **kw):
                hits.append(str(args[0]))
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))
            return real(*args, **kw)

        return fn

    with monkeypatch.context() as m:
        m.setattr(os, "open", guard(real_open, lambda p, flags, *a, **k: bool(flags & os.O_CREAT)))
        m.setattr(os, "rename", guard(real_rename, lambda *a, **k: True))
        m.setattr(os, "replace", guard(real_replace, lambda *a, **k: True))
        m.setattr(os, "unlink", guard(real_unlink, lambda *a, **k: True))
        yield hits


def assert_disk_error(error: OpError, reason: str, symbol: str) -> None:
    assert error.code == ErrorCode.DISK_ERROR
    assert reason in error.message, error.message
    assert error.data.get("errno") == symbol


def no_temp_files(root: Path) -> bool:
    return not list(root.rglob(".letswork-tmp-*"))


async def propose(fx: HubFixture) -> tuple[Any, Any, str]:
    guest = await fx.guest("alice")
    host = await fx.host()
    proposed = await guest.call("write_file", path="notes.txt", content=NEW)
    assert proposed["status"] == "pending"
    return guest, host, proposed["change"]["id"]


async def assert_still_pending(fx: HubFixture, host: Any, change_id: str) -> None:
    [change] = (await host.call("pending_changes"))["changes"]
    assert change["id"] == change_id and change["status"] == "pending"
    status = await host.call("status")
    assert any(lock["change_id"] == change_id for lock in status["locks"])
    assert (fx.project / "notes.txt").read_text() == NOTES


@pytest.mark.parametrize("fault", ["full_disk", "read_only"])
async def test_approving_on_a_broken_disk_is_a_disk_error_and_the_change_stays_pending(
    project: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    async with running_hub(project) as fx:
        _, host, change_id = await propose(fx)
        before = tree_digest(project)
        broken = full_disk(monkeypatch) if fault == "full_disk" else read_only(monkeypatch, project)
        with broken as hits, pytest.raises(OpError) as failed:
            await host.call("approve_change", id=change_id)
        assert hits, "the fault was never reached"
        if fault == "full_disk":
            assert_disk_error(failed.value, "no space left on device", "ENOSPC")
        else:
            assert_disk_error(failed.value, "read-only file system", "EROFS")
        assert tree_digest(project) == before and no_temp_files(project)
        await assert_still_pending(fx, host, change_id)
        # The disk is fine again: the same approval now applies the change, once.
        approved = await host.call("approve_change", id=change_id)
        assert approved["change"]["status"] == "applied"
        assert (project / "notes.txt").read_text() == NEW


@pytest.mark.parametrize("fault", ["full_disk", "read_only"])
async def test_a_host_write_on_a_broken_disk_is_a_disk_error_and_changes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    async with running_hub(project) as fx:
        host = await fx.host()
        before = tree_digest(project)
        broken = full_disk(monkeypatch) if fault == "full_disk" else read_only(monkeypatch, project)
        with broken, pytest.raises(OpError) as failed:
            await host.call("write_file", path="notes.txt", content=NEW)
        assert failed.value.code == ErrorCode.DISK_ERROR
        assert "could not write 'notes.txt'" in failed.value.message
        assert tree_digest(project) == before and no_temp_files(project)
        # The attempt is on record as rejected with the disk's reason; nothing is applied.
        [attempt] = (await host.call("my_changes"))["changes"]
        assert attempt["status"] == "rejected"
        assert "could not write" in attempt["reason"]
        written = await host.call("write_file", path="notes.txt", content=NEW)
        assert written["status"] == "applied"


async def test_a_trusted_guest_on_a_full_disk_gets_the_disk_error_itself(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_hub(project) as fx:
        guest = await fx.guest("tina")
        host = await fx.host()
        await host.call("trust", name="tina")
        with full_disk(monkeypatch), pytest.raises(OpError) as failed:
            await guest.call("write_file", path="notes.txt", content=NEW)
        assert_disk_error(failed.value, "no space left on device", "ENOSPC")
        assert (project / "notes.txt").read_text() == NOTES and no_temp_files(project)


async def test_a_proposal_when_the_state_database_is_full_is_a_disk_error_not_an_ack(
    project: Path,
) -> None:
    async with running_hub(project) as fx:
        guest = await fx.guest("alice")
        host = await fx.host()
        store = fx.hub.store
        assert store is not None
        conn = store._conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(OpError) as failed:
            await guest.call("write_file", path="big.txt", content="x" * 200_000)
        assert failed.value.code == ErrorCode.DISK_ERROR
        assert "full" in failed.value.message
        assert (await host.call("pending_changes"))["changes"] == []
        conn.execute("PRAGMA max_page_count = 1073741823")
        proposed = await guest.call("write_file", path="big.txt", content="x" * 200_000)
        assert proposed["status"] == "pending"


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@contextlib.contextmanager
def read_only_mount(source: Path, target: Path) -> Iterator[Callable[[bool], None]]:
    """Bind-mount ``source`` on ``target`` read-only; yields a switch to make it writable."""
    target.mkdir()
    try:
        subprocess.run(
            ["mount", "--bind", str(source), str(target)], check=True, capture_output=True
        )
    except (subprocess.CalledProcessError, OSError):
        pytest.skip("cannot bind-mount here (needs root with CAP_SYS_ADMIN)")

    def writable(yes: bool) -> None:
        opts = "remount,bind," + ("rw" if yes else "ro")
        subprocess.run(["mount", "-o", opts, str(target)], check=True, capture_output=True)

    try:
        writable(False)
        yield writable
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


@pytest.mark.skipif(not _can_mount(), reason="needs root to bind-mount the folder read-only")
async def test_a_read_only_project_folder_refuses_every_kind_of_change_clearly(
    project: Path, tmp_path: Path
) -> None:
    (project / "gone.txt").write_text("delete me\n", encoding="utf-8")
    (project / "old.txt").write_text("move me\n", encoding="utf-8")
    with read_only_mount(project, tmp_path / "mounted") as writable:
        writable(True)
        async with running_hub(tmp_path / "mounted") as fx:
            guest = await fx.guest("alice")
            host = await fx.host()
            ids = [
                (await guest.call("write_file", path="notes.txt", content=NEW))["change"]["id"],
                (await guest.call("delete_file", path="gone.txt"))["change"]["id"],
                (await guest.call("move_file", path="old.txt", new_path="new.txt"))["change"]["id"],
            ]
            writable(False)
            with pytest.raises(OpError) as direct:
                await host.call("write_file", path="host.txt", content="x\n")
            assert_disk_error(direct.value, "read-only file system", "EROFS")
            for change_id in ids:
                with pytest.raises(OpError) as failed:
                    await host.call("approve_change", id=change_id)
                assert_disk_error(failed.value, "read-only file system", "EROFS")
            pending = (await host.call("pending_changes"))["changes"]
            assert sorted(c["id"] for c in pending) == sorted(ids)
            writable(True)
            for change_id in ids:
                done = await host.call("approve_change", id=change_id)
                assert done["change"]["status"] == "applied"
    assert (project / "notes.txt").read_text() == NEW
    assert not (project / "gone.txt").exists()
    assert (project / "new.txt").read_text() == "move me\n" and not (project / "old.txt").exists()
    assert no_temp_files(project)
