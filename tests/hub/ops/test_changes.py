"""The changes group over real connections: proposals, the approval queue, conflicts and the
text-only rules."""

from __future__ import annotations

import asyncio
import hashlib
import mmap
import os
from pathlib import Path

import pytest

from letswork.hub.workspace import pages
from letswork.shared.errors import ErrorCode, OpError
from tests.support.hubs import HubFixture

NOTES = "alpha\nbeta\ngamma\n"


def no_temp_files(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.startswith(".letswork-tmp-")]


async def test_host_sees_the_diff_and_approving_writes_the_proposal(hub: HubFixture) -> None:
    guest = await hub.guest("alice")
    host = await hub.host()
    proposed = await guest.call("write_file", path="notes.txt", content="alpha\nBETA\ngamma\n")
    assert proposed["status"] == "pending"
    assert (hub.project / "notes.txt").read_text() == NOTES
    pending = await host.call("pending_changes")
    [change] = pending["changes"]
    assert change["author"] == "alice"
    assert "-beta" in change["diff"] and "+BETA" in change["diff"]
    approved = await host.call("approve_change", id=change["id"])
    assert approved["change"]["status"] == "applied"
    assert (hub.project / "notes.txt").read_text() == "alpha\nBETA\ngamma\n"
    assert no_temp_files(hub.project)


async def test_rejecting_keeps_the_disk_and_tells_the_guest_why(hub: HubFixture) -> None:
    guest = await hub.guest("bob")
    host = await hub.host()
    proposed = await guest.call("edit_file", path="notes.txt", old_string="beta", new_string="B")
    await host.call("reject_change", id=proposed["change"]["id"], reason="keep beta please")
    mine = await guest.call("my_changes")
    [change] = mine["changes"]
    assert change["status"] == "rejected"
    assert change["reason"] == "keep beta please"
    decided = await guest.wait_event("change_decided")
    assert decided.data["change"]["reason"] == "keep beta please"
    assert (hub.project / "notes.txt").read_text() == NOTES


async def test_host_edit_in_between_turns_approval_into_a_conflict(hub: HubFixture) -> None:
    guest = await hub.guest("carol")
    host = await hub.host()
    proposed = await guest.call("edit_file", path="notes.txt", old_string="gamma", new_string="G")
    (hub.project / "notes.txt").write_text("host was here\n", encoding="utf-8")
    result = await host.call("approve_change", id=proposed["change"]["id"])
    assert result["change"]["status"] == "conflict"
    assert "host was here" in result["change"]["diff"]
    assert (hub.project / "notes.txt").read_text() == "host was here\n"


async def test_approving_twice_reports_the_status_and_writes_once(hub: HubFixture) -> None:
    guest = await hub.guest("dave")
    host = await hub.host()
    proposed = await guest.call("write_file", path="new.txt", content="one\n")
    change_id = proposed["change"]["id"]
    first = await host.call("approve_change", id=change_id)
    (hub.project / "new.txt").write_text("changed after approval\n", encoding="utf-8")
    second = await host.call("approve_change", id=change_id)
    assert first["change"]["status"] == second["change"]["status"] == "applied"
    assert (hub.project / "new.txt").read_text() == "changed after approval\n"


async def test_rejecting_twice_is_idempotent_and_approve_after_reject_is_refused(
    hub: HubFixture,
) -> None:
    guest = await hub.guest("erin")
    host = await hub.host()
    change_id = (await guest.call("write_file", path="n.txt", content="x"))["change"]["id"]
    await host.call("reject_change", id=change_id, reason="no")
    again = await host.call("reject_change", id=change_id, reason="still no")
    assert again["change"]["status"] == "rejected"
    with pytest.raises(OpError) as info:
        await host.call("approve_change", id=change_id)
    assert info.value.code == ErrorCode.ALREADY_DECIDED
    assert not (hub.project / "n.txt").exists()


async def test_an_ambiguous_old_string_is_a_clear_error(hub: HubFixture) -> None:
    (hub.project / "dup.txt").write_text("x = 1\nx = 1\n", encoding="utf-8")
    guest = await hub.guest("frank")
    with pytest.raises(OpError) as info:
        await guest.call("edit_file", path="dup.txt", old_string="x = 1", new_string="x = 2")
    assert info.value.code == ErrorCode.AMBIGUOUS
    assert "2" in info.value.message


async def test_replace_all_edits_every_occurrence(hub: HubFixture) -> None:
    (hub.project / "dup.txt").write_text("x = 1\nx = 1\n", encoding="utf-8")
    host = await hub.host()
    result = await host.call(
        "edit_file", path="dup.txt", old_string="x = 1", new_string="x = 2", replace_all=True
    )
    assert result["status"] == "applied"
    assert (hub.project / "dup.txt").read_text() == "x = 2\nx = 2\n"


async def test_host_writes_apply_at_once_keeping_the_file_mode(hub: HubFixture) -> None:
    script = hub.project / "run.sh"
    script.write_text("#!/bin/sh\necho 1\n", encoding="utf-8")
    script.chmod(0o755)
    host = await hub.host()
    result = await host.call("write_file", path="run.sh", content="#!/bin/sh\necho 2\n")
    assert result["status"] == "applied"
    assert script.read_text() == "#!/bin/sh\necho 2\n"
    assert script.stat().st_mode & 0o777 == 0o755


async def test_a_stale_base_sha256_is_refused_as_a_conflict(hub: HubFixture) -> None:
    guest = await hub.guest("gina")
    read = await guest.call("read_file", path="notes.txt")
    assert read["sha256"] == hashlib.sha256(NOTES.encode()).hexdigest()
    (hub.project / "notes.txt").write_text("moved on\n", encoding="utf-8")
    with pytest.raises(OpError) as info:
        await guest.call(
            "write_file", path="notes.txt", content="mine\n", base_sha256=read["sha256"]
        )
    assert info.value.code == ErrorCode.CONFLICT


async def test_a_trusted_guest_writes_apply_at_once(hub: HubFixture) -> None:
    guest = await hub.guest("hank")
    host = await hub.host()
    await host.call("trust", name="hank")
    result = await guest.call("write_file", path="t.txt", content="trusted\n")
    assert result["status"] == "applied"
    assert (hub.project / "t.txt").read_text() == "trusted\n"
    await host.call("untrust", name="hank")
    result = await guest.call("write_file", path="t.txt", content="again\n")
    assert result["status"] == "pending"


async def test_delete_and_move_proposals_apply_on_approval(hub: HubFixture) -> None:
    guest = await hub.guest("ivy")
    host = await hub.host()
    moved = await guest.call("move_file", path="notes.txt", new_path="docs/notes.txt")
    deleted = await guest.call("delete_file", path="README.md")
    for change in (moved, deleted):
        await host.call("approve_change", id=change["change"]["id"])
    assert not (hub.project / "notes.txt").exists()
    assert (hub.project / "docs" / "notes.txt").read_text() == NOTES
    assert not (hub.project / "README.md").exists()


async def test_a_pending_change_holds_the_lock_on_its_path(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    bob = await hub.guest("bob")
    await alice.call("write_file", path="notes.txt", content="alice's\n")
    with pytest.raises(OpError) as info:
        await bob.call("write_file", path="notes.txt", content="bob's\n")
    assert info.value.code == ErrorCode.LOCKED
    assert info.value.data["holder"] == "alice"


async def test_content_with_a_nul_byte_is_refused_as_binary(hub: HubFixture) -> None:
    host = await hub.host()
    with pytest.raises(OpError) as info:
        await host.call("write_file", path="bin.dat", content="a\x00b")
    assert info.value.code == ErrorCode.BINARY_FILE
    assert not (hub.project / "bin.dat").exists()


async def test_content_over_the_size_limit_is_refused(hub: HubFixture) -> None:
    host = await hub.host()
    with pytest.raises(OpError) as info:
        await host.call("write_file", path="big.txt", content="x" * (1024 * 1024 + 1))
    assert info.value.code == ErrorCode.TOO_LARGE
    assert not (hub.project / "big.txt").exists()


async def test_content_that_is_not_valid_utf8_is_refused(hub: HubFixture) -> None:
    host = await hub.host()
    with pytest.raises(OpError) as info:
        await host.call("write_file", path="bad.txt", content="lone \ud800 surrogate")
    assert info.value.code == ErrorCode.BINARY_FILE
    assert not (hub.project / "bad.txt").exists()


async def test_editing_a_binary_file_is_refused_and_nothing_is_written(hub: HubFixture) -> None:
    (hub.project / "image.bin").write_bytes(b"\x89PNG\x00\x00")
    host = await hub.host()
    with pytest.raises(OpError) as info:
        await host.call("write_file", path="image.bin", content="text now")
    assert info.value.code == ErrorCode.BINARY_FILE
    assert (hub.project / "image.bin").read_bytes() == b"\x89PNG\x00\x00"


async def test_a_proposal_records_the_canonical_path(hub: HubFixture) -> None:
    guest = await hub.guest("hal")
    result = await guest.call("write_file", path="./src//app.py", content="x = 1\n")
    assert result["change"]["path"] == "src/app.py"
    assert "a/src/app.py" in result["change"]["diff"]


async def test_an_edit_on_disk_by_the_host_reaches_guests_as_file_changed(
    project: Path,
) -> None:
    from tests.support.hubs import running_hub

    async with running_hub(project, watch=True) as fx:
        guest = await fx.guest("wanda", "viewer")
        event = None
        for attempt in range(20):  # the watcher may still be starting: edit until it is heard
            (project / "notes.txt").write_text(f"host edit {attempt}\n", encoding="utf-8")
            try:
                event = await guest.wait_event(
                    "file_changed", lambda d: d["path"] == "notes.txt", timeout=1
                )
                break
            except asyncio.TimeoutError:
                continue
        assert event is not None
        assert event.data["change"] in ("modified", "created")
        assert event.data.get("by") is None


@pytest.mark.parametrize("who", ["guest", "host"])
async def test_a_large_new_file_gets_a_reply_with_the_head_of_its_diff_and_the_host_sees_all(
    hub: HubFixture, who: str
) -> None:
    content = "".join(f"line {i}\n" for i in range(20_000))  # ~190 KB, over the reply's cut
    whole = "--- /dev/null\n+++ b/big.txt\n@@ -0,0 +1,20000 @@\n" + "".join(
        f"+line {i}\n" for i in range(20_000)
    )
    author = await (hub.guest("dora") if who == "guest" else hub.host())
    host = await hub.host()
    reply = await author.call("write_file", path="big.txt", content=content)
    head = reply["change"]["diff"]
    shown, note = head.rsplit("... (", 1)
    assert whole.startswith(shown) and shown.endswith("\n")
    rest = whole.count("\n") - shown.count("\n")
    assert note == f"{rest} more diff lines; get_change {reply['change']['id']} shows all)\n"
    full = await host.call("get_change", id=reply["change"]["id"])
    assert full["change"]["diff"] == whole
    if who == "guest":
        [pending] = (await host.call("pending_changes"))["changes"]
        assert pending["diff"] == whole
        await host.call("approve_change", id=pending["id"])
    assert (hub.project / "big.txt").read_text() == content


@pytest.mark.parametrize("trusted", [False, True])
async def test_a_stale_sha256_from_the_page_cache_is_refused_as_a_conflict(
    hub: HubFixture, trusted: bool
) -> None:
    # Attacking issue 15: a write through a dirty mmap page keeps the file's version key, so
    # the page cache answers with the old sha256; a change made on it must still be refused.
    path = hub.project / "notes.txt"
    guest = await hub.guest("gina")
    if trusted:
        await (await hub.host()).call("trust", name="gina")
    fd = os.open(path, os.O_RDWR)
    try:
        with pytest.MonkeyPatch.context() as patch, mmap.mmap(fd, 0) as mapping:
            patch.setattr(pages, "SETTLE_SECONDS", 0.0)
            mapping[0:1] = b"A"  # the page is dirty: later writes to it stamp no time
            first = await guest.call("read_file", path="notes.txt")
            mapping[1:2] = b"L"
            page = await guest.call("read_file", path="notes.txt", offset=1, limit=1)
            assert page["sha256"] == first["sha256"]  # stale: the cache did not see the write
            with pytest.raises(OpError) as info:
                await guest.call(
                    "write_file", path="notes.txt", content="mine\n", base_sha256=page["sha256"]
                )
    finally:
        os.close(fd)
    assert info.value.code == ErrorCode.CONFLICT
    assert info.value.data["current_sha256"] == hashlib.sha256(b"ALpha\nbeta\ngamma\n").hexdigest()
    assert path.read_bytes() == b"ALpha\nbeta\ngamma\n"


# A write's reply with ``diff_head`` (issue 15, item 5): a summary and the head of the diff.


def _lines_of(diff: str) -> tuple[int, int]:
    """Lines a one-file diff adds and removes, counted line by line."""
    body = diff.splitlines()[2:]
    return sum(x.startswith("+") for x in body), sum(x.startswith("-") for x in body)


@pytest.mark.parametrize("who", ["guest", "host"])
@pytest.mark.parametrize(
    ("op", "args"),
    [
        ("write_file", {"path": "big.txt", "content": "".join(f"é {i}\n" for i in range(9000))}),
        ("write_file", {"path": "notes.txt", "content": "alpha\n" + "new\n" * 3000}),
        ("edit_file", {"path": "notes.txt", "old_string": "beta\n", "new_string": "b\n" * 5000}),
        ("write_file", {"path": "notes.txt", "content": "one line, no end"}),
        ("delete_file", {"path": "notes.txt"}),
        ("move_file", {"path": "notes.txt", "new_path": "moved.txt"}),
    ],
)
@pytest.mark.parametrize("head", [0, 7, 100, 4000, 64 * 1024])
async def test_a_reply_with_diff_head_carries_the_diffs_head_and_a_summary_of_all_of_it(
    hub: HubFixture, who: str, op: str, args: dict[str, str], head: int
) -> None:
    author = await (hub.guest("dora") if who == "guest" else hub.host())
    host = await hub.host()
    reply = await author.call(op, **args, diff_head=head)
    whole = (await host.call("get_change", id=reply["change"]["id"]))["change"]["diff"]
    shown, summary = reply["change"]["diff"], reply["summary"]
    assert len(shown) <= head and whole.startswith(shown)
    if len(whole) > head:  # whole lines within the budget, or the start of the first line
        end = whole.rfind("\n", 0, head) + 1
        assert shown == (whole[:end] if end else whole[:head])
    else:
        assert shown == whole
    added, removed = _lines_of(whole)
    assert summary == {
        "lines_added": added,
        "lines_removed": removed,
        "diff_lines": whole.count("\n"),
        "diff_cut": shown != whole,
    }


async def test_a_reply_without_diff_head_is_as_older_hubs_sent_it(hub: HubFixture) -> None:
    # an older channel refuses a field it does not know: it must never see ``summary``
    guest = await hub.guest("dora")
    reply = await guest.call("write_file", path="notes.txt", content="x\n" * 40_000)
    assert "summary" not in reply
    assert reply["change"]["diff"].endswith(" shows all)\n")


@pytest.mark.parametrize("head", [-1, 64 * 1024 + 1, "10", True])
async def test_a_diff_head_out_of_bounds_is_invalid_and_nothing_is_proposed(
    hub: HubFixture, head: object
) -> None:
    guest = await hub.guest("dora")
    with pytest.raises(OpError) as caught:
        await guest.call("write_file", path="notes.txt", content="x\n", diff_head=head)
    assert caught.value.code == ErrorCode.INVALID
    assert (await guest.call("my_changes"))["changes"] == []
