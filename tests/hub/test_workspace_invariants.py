"""Workspace refusals that the OS would not make on its own (found by bench/mutants.py).

Replacing or unlinking a folder fails in the OS too (EISDIR), so the workspace's own checks of
what is at a path show only for special files: ``rename`` puts a regular file over a FIFO or a
socket, and ``unlink`` removes one, without complaint.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from letswork.hub.workspace import Workspace
from letswork.hub.workspace.disk import TEMP_PREFIX
from letswork.shared.errors import ErrorCode, OpError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = (tmp_path / "project").resolve()
    project.mkdir()
    return project


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_write_atomic_onto_a_fifo_is_not_a_file_and_keeps_the_fifo(root: Path) -> None:
    os.mkfifo(root / "pipe")
    with pytest.raises(OpError) as info:
        Workspace(root).write_atomic("pipe", b"x\n")
    assert info.value.code == ErrorCode.NOT_A_FILE
    assert stat.S_ISFIFO((root / "pipe").lstat().st_mode)
    assert [p.name for p in root.iterdir() if p.name.startswith(TEMP_PREFIX)] == []


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
def test_write_atomic_onto_a_socket_is_not_a_file_and_keeps_the_socket(root: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock"))
        with pytest.raises(OpError) as info:
            Workspace(root).write_atomic("sock", b"x\n")
    assert info.value.code == ErrorCode.NOT_A_FILE
    assert stat.S_ISSOCK((root / "sock").lstat().st_mode)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("op", ["delete", "move"])
def test_deleting_or_moving_a_fifo_is_not_a_file_and_keeps_it(root: Path, op: str) -> None:
    os.mkfifo(root / "pipe")
    ws = Workspace(root)
    with pytest.raises(OpError) as info:
        ws.delete("pipe") if op == "delete" else ws.move("pipe", "moved")
    assert info.value.code == ErrorCode.NOT_A_FILE
    assert stat.S_ISFIFO((root / "pipe").lstat().st_mode)
    assert not (root / "moved").exists()
