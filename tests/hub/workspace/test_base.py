"""The Workspace's folder and its size limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from letswork.hub.workspace import Workspace
from letswork.shared import limits


def test_workspace_root_must_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(Exception, match="not a folder"):
        Workspace(tmp_path / "file")


def test_limits_default_file_size_is_used(root: Path) -> None:
    assert Workspace(root).max_file_bytes == limits.MAX_FILE_BYTES
