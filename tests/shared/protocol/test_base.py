"""The records several groups share: frozen, and refusing what cannot travel."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from letswork.shared.protocol.base import LockInfo
from tests.shared.protocol.examples import LOCK


def test_models_are_frozen() -> None:
    lock = LockInfo.model_validate(LOCK)
    with pytest.raises(ValidationError):
        lock.path = "other"  # type: ignore[misc]


def test_a_result_model_refuses_a_surrogate_escaped_file_name() -> None:
    # os.listdir() gives such names for bytes that are not UTF-8; they cannot travel.
    with pytest.raises(ValidationError):
        LockInfo.model_validate({**LOCK, "path": "caf\udce9.txt"})
