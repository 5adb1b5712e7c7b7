"""Fixtures of the workspace tests: the sample project and a Workspace on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from letswork.hub.workspace import Workspace
from tests.hub.workspace.helpers import LETSWORKIGNORE, SECRETS, SHARED, _write


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = (tmp_path / "project").resolve()
    root.mkdir()
    for rel, text in {**SECRETS, **SHARED}.items():
        _write(root, rel, text)
    _write(root, ".letsworkignore", LETSWORKIGNORE)
    return root


@pytest.fixture
def ws(root: Path) -> Workspace:
    return Workspace(root)
