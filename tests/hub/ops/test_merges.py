"""Approvals that merge, over real connections (issue 17, part 2): a clean merge is shown and
approved by its hashes, an overlap is a conflict with its hunks, ``get_change`` shows the
merge view, ``update_change`` resubmits with the same id."""

from __future__ import annotations

from pathlib import Path

import pytest

from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.limits import Limits
from tests.support.hubs import HubFixture, make_project, running_hub

TEXT = "".join(f"line {i}\n" for i in range(1, 11))


def _with(text: str, number: int, new: str) -> str:
    lines = text.splitlines(keepends=True)
    lines[number - 1] = new
    return "".join(lines)


@pytest.fixture
def code(hub: HubFixture) -> str:
    (hub.project / "code.py").write_text(TEXT, encoding="utf-8")
    return "code.py"


async def test_clean_merge_is_shown_first_and_written_only_when_approved_by_its_hashes(
    hub: HubFixture, code: str
) -> None:
    guest = await hub.guest("alice")
    host = await hub.host()
    proposed = await guest.call("write_file", path=code, content=_with(TEXT, 9, "guest 9\n"))
    cid = proposed["change"]["id"]
    host_text = _with(TEXT, 2, "host 2\n")
    (hub.project / code).write_text(host_text, encoding="utf-8")

    shown = await host.call("approve_change", id=cid, merge=True)
    merge = shown["merge"]
    assert shown["change"]["status"] == "pending" and merge["outcome"] == "merged"
    assert "-line 9\n+guest 9\n" in merge["diff"] and "host 2" not in merge["diff"].replace(
        " host 2", ""
    )
    assert (hub.project / code).read_text() == host_text  # nothing merged is written unseen

    done = await host.call(
        "approve_change",
        id=cid,
        merge=True,
        current_sha256=merge["current_sha256"],
        merged_sha256=merge["merged_sha256"],
    )
    assert done["change"]["status"] == "applied"
    assert done["change"]["reason"].startswith("merged cleanly")
    assert (hub.project / code).read_text() == _with(host_text, 9, "guest 9\n")
    event = await guest.wait_event("change_decided")
    assert event.data["change"]["reason"].startswith("merged cleanly")


async def test_merge_approved_against_a_file_changed_since_it_was_shown_is_shown_again(
    hub: HubFixture, code: str
) -> None:
    guest = await hub.guest("bob")
    host = await hub.host()
    proposed = await guest.call("write_file", path=code, content=_with(TEXT, 9, "guest 9\n"))
    cid = proposed["change"]["id"]
    (hub.project / code).write_text(_with(TEXT, 2, "host 2\n"), encoding="utf-8")
    shown = (await host.call("approve_change", id=cid, merge=True))["merge"]
    later = _with(_with(TEXT, 2, "host 2\n"), 4, "host 4\n")
    (hub.project / code).write_text(later, encoding="utf-8")
    again = await host.call(
        "approve_change",
        id=cid,
        merge=True,
        current_sha256=shown["current_sha256"],
        merged_sha256=shown["merged_sha256"],
    )
    assert again["change"]["status"] == "pending"
    assert again["merge"]["current_sha256"] != shown["current_sha256"]
    assert (hub.project / code).read_text() == later


async def test_edit_that_still_matches_is_reapplied_as_an_edit(hub: HubFixture, code: str) -> None:
    guest = await hub.guest("carol")
    host = await hub.host()
    proposed = await guest.call(
        "edit_file", path=code, old_string="line 8\n", new_string="guest 8\n"
    )
    host_text = _with(TEXT, 9, "host 9\n")  # adjacent: a line merge would conflict
    (hub.project / code).write_text(host_text, encoding="utf-8")
    shown = await host.call("approve_change", id=proposed["change"]["id"], merge=True)
    assert shown["merge"]["outcome"] == "edit"


async def test_overlap_is_a_conflict_with_its_hunks_for_host_and_proposer(
    hub: HubFixture, code: str
) -> None:
    guest = await hub.guest("dave")
    host = await hub.host()
    proposed = await guest.call("write_file", path=code, content=_with(TEXT, 5, "guest 5\n"))
    (hub.project / code).write_text(_with(TEXT, 5, "host 5\n"), encoding="utf-8")
    result = await host.call("approve_change", id=proposed["change"]["id"], merge=True)
    change = result["change"]
    assert change["status"] == "conflict" and change["reason"] == "conflict in line 5"
    assert result["merge"]["hunks"] == [
        {"start": 5, "end": 5, "base": "line 5\n", "current": "host 5\n", "proposed": "guest 5\n"}
    ]
    assert "<<<<<<< current" in change["diff"]
    event = await guest.wait_event("change_decided")
    assert event.data["change"]["reason"] == "conflict in line 5"
    assert "guest 5" in event.data["change"]["diff"]


async def test_delete_against_an_edit_is_a_conflict(hub: HubFixture, code: str) -> None:
    guest = await hub.guest("erin")
    host = await hub.host()
    proposed = await guest.call("delete_file", path=code)
    (hub.project / code).write_text(_with(TEXT, 3, "host 3\n"), encoding="utf-8")
    result = await host.call("approve_change", id=proposed["change"]["id"], merge=True)
    assert result["change"]["status"] == "conflict"
    assert (hub.project / code).exists()


async def test_conflict_then_update_change_then_approve_keeps_the_id(
    hub: HubFixture, code: str
) -> None:
    guest = await hub.guest("frank")
    host = await hub.host()
    proposed = await guest.call("write_file", path=code, content=_with(TEXT, 5, "guest 5\n"))
    cid = proposed["change"]["id"]
    host_text = _with(TEXT, 5, "host 5\n")
    (hub.project / code).write_text(host_text, encoding="utf-8")
    await host.call("approve_change", id=cid, merge=True)

    view = await guest.call("get_change", id=cid, merge=True)
    assert view["change"]["status"] == "conflict"
    assert view["merge"]["base"] == TEXT and view["merge"]["current"] == host_text
    assert "+guest 5" in view["merge"]["proposed_diff"]
    assert view["merge"]["hunks"][0]["start"] == 5

    updated = await guest.call(
        "update_change", id=cid, old_string="host 5\n", new_string="host 5 and guest 5\n"
    )
    assert updated["status"] == "pending" and updated["change"]["id"] == cid
    approved = await host.call("approve_change", id=cid, merge=True)
    assert approved["change"]["status"] == "applied"
    assert (hub.project / code).read_text() == _with(TEXT, 5, "host 5 and guest 5\n")
    mine = (await guest.call("my_changes"))["changes"]
    assert [c["id"] for c in mine] == [cid]


async def test_update_change_of_an_applied_change_is_refused(hub: HubFixture, code: str) -> None:
    guest = await hub.guest("gina")
    host = await hub.host()
    proposed = await guest.call("write_file", path=code, content="new\n")
    await host.call("approve_change", id=proposed["change"]["id"])
    with pytest.raises(OpError) as err:
        await guest.call("update_change", id=proposed["change"]["id"], content="again\n")
    assert err.value.code == ErrorCode.ALREADY_DECIDED


async def test_kept_base_counts_in_the_pending_bytes(hub: HubFixture, code: str) -> None:
    guest = await hub.guest("hank")
    before = hub.hub.core.store.usage("pending", "*")[1]
    proposed = await guest.call("write_file", path=code, content=_with(TEXT, 1, "x\n"))
    data = hub.hub.core.store.get_merge_data(proposed["change"]["id"])
    assert data.base_z is not None
    row = hub.hub.core.store.get_change(proposed["change"]["id"])
    assert row is not None
    stored = hub.hub.core.store.usage("pending", "*")[1] - before
    assert stored == len(row.content or b"") + len(row.diff.encode()) + data.size


async def test_without_merge_a_moved_on_file_is_a_conflict_as_before(
    hub: HubFixture, code: str
) -> None:
    guest = await hub.guest("ivan")
    host = await hub.host()
    proposed = await guest.call("write_file", path=code, content=_with(TEXT, 9, "guest 9\n"))
    (hub.project / code).write_text(_with(TEXT, 2, "host 2\n"), encoding="utf-8")
    result = await host.call("approve_change", id=proposed["change"]["id"])
    assert result["change"]["status"] == "conflict" and "merge" not in result


async def test_update_change_and_merge_view_of_someone_elses_change_are_not_found(
    hub: HubFixture, code: str
) -> None:
    alice = await hub.guest("jane")
    mallory = await hub.guest("mallory")
    host = await hub.host()
    proposed = await alice.call("write_file", path=code, content=_with(TEXT, 5, "jane\n"))
    cid = proposed["change"]["id"]
    for peer in (mallory, host):  # the host decides changes, it does not rewrite them
        with pytest.raises(OpError) as err:
            await peer.call("update_change", id=cid, content="taken over\n")
        assert err.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(OpError) as err:
        await mallory.call("get_change", id=cid, merge=True)
    assert err.value.code == ErrorCode.NOT_FOUND
    row = hub.hub.core.store.get_change(cid)
    assert row is not None and row.content == _with(TEXT, 5, "jane\n").encode()


async def test_update_change_cannot_grow_a_pending_change_past_the_byte_cap(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project, limits=Limits(max_pending_bytes_per_guest=64 * 1024)) as fx:
        guest = await fx.guest("kate")
        host = await fx.host()
        proposed = await guest.call("write_file", path="notes.txt", content="small\n")
        cid = proposed["change"]["id"]
        (project / "notes.txt").write_text("the host moved on\n", encoding="utf-8")
        await host.call("approve_change", id=cid)  # a conflict, which update_change fixes
        with pytest.raises(OpError) as err:
            await guest.call("update_change", id=cid, content="y" * 40_000)
        assert err.value.code == ErrorCode.QUOTA_EXCEEDED
        row = fx.hub.core.store.get_change(cid)
        assert row is not None and row.content == b"small\n"
        smaller = await guest.call("update_change", id=cid, content="x" * 1_000)
        assert smaller["status"] == "pending"
