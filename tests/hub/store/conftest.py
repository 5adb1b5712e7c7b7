"""Fixtures of the store tests: a fresh database under a fixed key, and an invite in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from letswork.hub.store import Store
from tests.hub.store.helpers import INVITE_ID, KEY


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store.open(db_path, KEY)
    yield s
    s.close()


@pytest.fixture
def invite(store: Store) -> bytes:
    store.add_invite(INVITE_ID, b"secret", "editor", None, now=1.0)
    return INVITE_ID
