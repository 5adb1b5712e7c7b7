"""Shared fixtures: an isolated state directory for every test, the ``--slow`` tier, and the
``unprivileged`` tests, which skip where file permissions do not bind (root)."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow", action="store_true", default=False, help="also run the long reliability tier"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        # The slow tier's tests run for minutes each. Run first, pytest-xdist's scheduler deals
        # them out round-robin and fills in behind them with short tests; run last (collection
        # order), one of them held one worker alone while the other core idled (CI: ~1.2 cores
        # of 2). A stable sort: every worker must collect the same order.
        items.sort(key=lambda item: "slow" not in item.keywords)
        return
    skip = pytest.mark.skip(reason="slow tier: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@functools.cache
def _permissions_ignored() -> bool:
    """Whether this process may write into a folder it made read-only (root, or a capability
    such as CAP_DAC_OVERRIDE): the ``unprivileged`` tests cannot show anything then."""
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o500)
        try:
            with open(os.path.join(folder, "probe"), "w"):
                pass
        except PermissionError:
            return False
        finally:
            os.chmod(folder, 0o700)
    return True


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "unprivileged" in item.keywords and _permissions_ignored():
        pytest.skip(
            "running with privileges that ignore file permissions; "
            ".ci/unprivileged runs these as an unprivileged user"
        )


@pytest.fixture(autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own LETSWORK_STATE_DIR, so no test touches the user's state."""
    path = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("LETSWORK_STATE_DIR", str(path))
    return path
