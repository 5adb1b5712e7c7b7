"""Tasks and their dependencies (schema 2)."""

from __future__ import annotations

import pytest

from letswork.hub.store import Store
from letswork.shared.errors import StoreError


def test_a_task_cannot_depend_on_a_missing_task(store: Store) -> None:
    with pytest.raises(StoreError):
        store.add_task(
            title="t",
            description="",
            priority="normal",
            status="blocked",
            assignee_id=None,
            assignee_name=None,
            created_by="host",
            now=1.0,
            depends_on=(42,),
        )
    assert store.count_tasks() == 0


def test_a_claimed_task_must_have_an_assignee(store: Store) -> None:
    with pytest.raises(StoreError):
        store.add_task(
            title="t",
            description="",
            priority="normal",
            status="claimed",
            assignee_id=None,
            assignee_name=None,
            created_by="host",
            now=1.0,
        )
