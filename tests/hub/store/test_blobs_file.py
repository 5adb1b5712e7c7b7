"""The blobs file (``state.db.changes``, schema 8) as the store opens it: its modes, a file a
local process placed there, and errors that name it rather than the state database."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from letswork.hub.store import Store
from letswork.hub.store.blobs import blobs_path
from letswork.shared.errors import StoreError
from tests.hub.store.helpers import KEY, posix_only


def _side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


@posix_only
def test_the_blobs_file_and_its_side_files_are_private_even_if_made_wide(db_path: Path) -> None:
    blobs = blobs_path(db_path)
    blobs.touch(mode=0o644)
    blobs.chmod(0o644)
    with Store.open(db_path, KEY):
        for path in (blobs, _side(blobs, "-wal"), _side(blobs, "-shm")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@posix_only
def test_a_blobs_file_that_is_a_symlink_is_refused(db_path: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"")
    elsewhere.chmod(0o644)
    os.symlink(elsewhere, blobs_path(db_path))
    with pytest.raises(StoreError, match="cannot open") as info:
        Store.open(db_path, KEY)
    assert str(blobs_path(db_path)) in info.value.message
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o644


def test_a_corrupt_blobs_file_is_named_in_the_error_not_the_state_database(
    db_path: Path,
) -> None:
    # The host reads the message to decide which file to move aside: naming the state
    # database would send them to delete the session (invites, pending changes) for nothing.
    with Store.open(db_path, KEY) as store:
        store.set_meta("k", "v")
    blobs_path(db_path).write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(StoreError, match="not a database") as info:
        Store.open(db_path, KEY)
    assert str(blobs_path(db_path)) in info.value.message
    blobs_path(db_path).unlink()  # moving the named file aside is enough: the session is kept
    with Store.open(db_path, KEY) as store:
        assert store.get_meta("k") == "v"


@posix_only
def test_a_symlinked_blobs_wal_is_refused_and_the_error_names_the_blobs_file(
    db_path: Path, tmp_path: Path
) -> None:
    with Store.open(db_path, KEY):
        pass
    victim = tmp_path / "victim"
    victim.write_bytes(b"x")
    victim.chmod(0o644)
    wal = _side(blobs_path(db_path), "-wal")
    if os.path.lexists(wal):
        wal.unlink()
    os.symlink(victim, wal)
    with pytest.raises(StoreError) as info:
        Store.open(db_path, KEY)
    assert str(blobs_path(db_path)) in info.value.message
    assert victim.read_bytes() == b"x"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644


def test_a_corrupt_state_database_is_named_in_the_error(db_path: Path) -> None:
    db_path.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(StoreError, match="not a database") as info:
        Store.open(db_path, KEY)
    assert str(db_path) in info.value.message
    assert "blobs" not in info.value.message
