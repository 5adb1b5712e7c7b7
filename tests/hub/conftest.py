from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.hubs import HubFixture, make_project, running_hub


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture
async def hub(project: Path) -> AsyncIterator[HubFixture]:
    async with running_hub(project) as fx:
        yield fx
