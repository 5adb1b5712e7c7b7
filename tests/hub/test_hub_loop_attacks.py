"""Issue 13 item 3, attacked again: what a hostile peer can still make the hub's event loop,
its worker threads and its memory pay for, now that file work runs off the loop.

Each test names one behaviour that a found flaw broke; docs/security.md ("Attacks tried", the
event loop) lists the attack beside it. Tests wait on events, never on time: ``WAIT`` only
bounds how long a broken hub may take to fail them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from letswork.hub.core import HubCore
from letswork.shared.errors import ErrorCode, OpError
from tests.support.hubs import HubFixture

WAIT = 10.0  # seconds any one event may take before the test fails

#: ``*?`` ten times: Python's ``re`` tries every way to split a name among the stars (28 s on a
#: 43-character name, ten times that per two more stars); RE2 answers in microseconds.
BACKTRACKING_GLOB = "*?" * 10 + "x"


def core_of(hub: HubFixture) -> HubCore:
    core = hub.hub.core
    assert core is not None
    return core


def long_name(project: Path) -> str:
    name = "a" * 40 + ".py"
    (project / "src" / name).write_text("hello\n", encoding="utf-8")
    return name


async def test_a_glob_that_backtracks_does_not_stall_the_hub(hub: HubFixture) -> None:
    long_name(hub.project)
    viewer = await hub.guest("viewer", role="viewer")
    pinger = await hub.guest("pinger", role="viewer")

    found, pong = await asyncio.wait_for(
        asyncio.gather(
            viewer.call("find_files", glob=BACKTRACKING_GLOB),
            pinger.call("ping"),
        ),
        WAIT,
    )

    assert found["paths"] == []
    assert "now" in pong


async def test_a_search_glob_that_backtracks_does_not_stall_the_hub(hub: HubFixture) -> None:
    long_name(hub.project)
    viewer = await hub.guest("viewer", role="viewer")

    found = await asyncio.wait_for(
        viewer.call("search_files", pattern="hello", glob=BACKTRACKING_GLOB), WAIT
    )

    assert found["matches"] == []


async def test_an_ignore_file_too_big_for_re2_still_hides_what_it_names(hub: HubFixture) -> None:
    # RE2 (pathspec's matcher once google-re2 is installed) refuses a set this big; the file
    # used to count as empty then, and everything it hid was shared.
    lines = [f"/generated{i}/\n*.tmp{i}\ndocs/_gen{i}/**\n" for i in range(2000)]
    (hub.project / ".gitignore").write_text("".join(lines) + "secret.yml\n", encoding="utf-8")
    (hub.project / "secret.yml").write_text("token: hunter2\n", encoding="utf-8")
    viewer = await hub.guest("viewer", role="viewer")

    with pytest.raises(OpError) as caught:
        await viewer.call("read_file", path="secret.yml")
    listed = await viewer.call("list_files")

    assert caught.value.code == ErrorCode.NOT_SHARED
    assert "secret.yml" not in [e["path"] for e in listed["entries"]]
