"""Joins and leaves in the feed, driven headless against a real hub: a connection that comes
and goes within seconds (a `claude mcp list` health check) writes no lines and is summed up
once; one that stays gets its join line, and its leave line when it goes."""

from __future__ import annotations

from pathlib import Path

from letswork.shared.protocol.presence import ActivityEntry
from letswork.ui.dashboard import Dashboard
from letswork.ui.dashboard.presence import BRIEF_VISIT_SECONDS, drop_brief_visits
from tests.support.hubs import running_hub
from tests.ui.dashboard.support import dashboard_for, project, wait_until


def _feed(app: Dashboard) -> list[str]:
    return [line.plain for line in app.activity]


async def test_brief_connections_write_no_lines_and_are_summed_up_once(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx, dashboard_for(fx) as (app, pilot):
        app.brief_visit_seconds = 600.0  # no join settles during the test
        # The first visit joins with the invite; the next two come back with carol's stored
        # session, as a `claude mcp list` health check of a joined channel does.
        carol = await fx.connect(await fx.invite(), "carol")
        resume = bytes.fromhex(carol.conn.hello["resume_secret"])
        await carol.conn.close()
        for _ in range(2):
            carol = await fx.connect(resume, "carol")
            await carol.conn.close()
        await wait_until(pilot, lambda: app.visits.counts["carol"] == 3, "three brief visits")
        assert not [line for line in _feed(app) if "carol" in line]
        app.summarise_brief_visits()
        carols = [line for line in _feed(app) if "carol" in line]
        assert len(carols) == 1 and "carol connected briefly 3 times" in carols[0]
        app.summarise_brief_visits()
        assert sum("carol" in line for line in _feed(app)) == 1  # summed up once


async def test_a_connection_that_stays_gets_its_join_and_leave_lines(tmp_path: Path) -> None:
    async with running_hub(project(tmp_path)) as fx, dashboard_for(fx) as (app, pilot):
        app.brief_visit_seconds = 0.01
        dave = await fx.guest("dave")
        await wait_until(pilot, lambda: any("dave joined" in t for t in _feed(app)), "dave")
        await dave.conn.close()
        await wait_until(pilot, lambda: any("dave left" in t for t in _feed(app)), "dave left")
        assert app.visits.counts["dave"] == 0


def _entry(n: int, at: float, actor: str, kind: str) -> ActivityEntry:
    return ActivityEntry(id=n, at=at, actor=actor, kind=kind)


def test_the_history_leaves_out_brief_visits_and_keeps_the_rest() -> None:
    quick = BRIEF_VISIT_SECONDS / 10
    entries = [
        _entry(1, 100.0, "carol", "join"),
        _entry(2, 100.0 + quick, "carol", "leave"),
        _entry(3, 200.0, "dave", "join"),
        _entry(4, 201.0, "carol", "join"),
        _entry(5, 201.0 + quick, "carol", "leave"),
        _entry(6, 300.0, "dave", "leave"),
        _entry(7, 301.0, "dave", "change_submitted"),
    ]
    kept, dropped = drop_brief_visits(entries)
    assert [e.id for e in kept] == [3, 6, 7]
    assert dropped == 2
