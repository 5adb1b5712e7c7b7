"""The host approves exactly the proposal it reviewed (a follow-up of issue 17): each change
has a ``proposal_sha256``, ``approve_change`` given the one shown refuses a change resubmitted
since (``update_change``) and writes nothing; without it an older caller is served as before.
Real hubs, real SQLite, real connections."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from letswork.hub.ops import changes as ops_changes
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.protocol.changes import proposal_sha256
from tests.hub.ops.test_large_changes import NEW, OLD, WAIT
from tests.hub.ops.test_large_files import lock_file
from tests.support.hubs import Client, HubFixture, make_project, running_hub

TEXT = "".join(f"line {i}\n" for i in range(1, 11))
V1 = TEXT.replace("line 5\n", "guest 5\n")
V2 = TEXT.replace("line 5\n", "host 5 and guest 5\n")


async def _resubmitted(hub: HubFixture) -> tuple[Client, Client, str, str]:
    """A guest's write of code.py (version 1), shown to the host (digest d1), made a
    conflict by the host's edit of the same line, then resubmitted (version 2). Returns the
    guest, the host, the change's id and d1."""
    (hub.project / "code.py").write_text(TEXT, encoding="utf-8")
    guest = await hub.guest("alice")
    host = await hub.host()
    cid = (await guest.call("write_file", path="code.py", content=V1))["change"]["id"]
    shown = await host.call("get_change", id=cid, include_proposal=True)
    d1 = shown["change"]["proposal_sha256"]
    assert shown["change"]["revision"] == 1
    (hub.project / "code.py").write_text(TEXT.replace("line 5\n", "host 5\n"), encoding="utf-8")
    tried = await host.call("approve_change", id=cid, merge=True, proposal_sha256=d1)
    assert tried["change"]["status"] == "conflict"
    updated = await guest.call("update_change", id=cid, content=V2)
    assert updated["status"] == "pending" and updated["change"]["id"] == cid
    return guest, host, cid, d1


async def test_approving_the_proposal_shown_before_a_resubmission_is_refused_and_writes_nothing(
    hub: HubFixture,
) -> None:
    _, host, cid, d1 = await _resubmitted(hub)
    before = (hub.project / "code.py").read_bytes()
    with pytest.raises(OpError) as refused:
        await host.call("approve_change", id=cid, merge=True, proposal_sha256=d1)
    assert refused.value.code == ErrorCode.CONFLICT
    assert "resubmitted" in refused.value.message and "Nothing was written" in refused.value.message
    d2 = (await host.call("get_change", id=cid, include_proposal=True))["change"]
    assert refused.value.data["proposal_sha256"] == d2["proposal_sha256"] != d1
    assert "it is revision 2 now" in refused.value.message
    assert refused.value.data["revision"] == d2["revision"] == 2
    assert d2["status"] == "pending"
    assert (hub.project / "code.py").read_bytes() == before


async def test_approving_the_resubmitted_proposal_once_shown_writes_it(hub: HubFixture) -> None:
    guest, host, cid, _ = await _resubmitted(hub)
    d2 = (await host.call("get_change", id=cid, include_proposal=True))["change"]
    done = await host.call(
        "approve_change", id=cid, merge=True, proposal_sha256=d2["proposal_sha256"]
    )
    assert done["change"]["status"] == "applied"
    assert done["change"]["proposal_sha256"] == d2["proposal_sha256"]
    assert (hub.project / "code.py").read_text() == V2
    await guest.wait_event("change_decided", lambda d: d["change"]["status"] == "applied")


async def test_an_approval_without_a_proposal_sha256_still_works_as_for_older_callers(
    hub: HubFixture,
) -> None:
    _, host, cid, _ = await _resubmitted(hub)
    done = await host.call("approve_change", id=cid)
    assert done["change"]["status"] == "applied" and "proposal_sha256" not in done["change"]
    assert (hub.project / "code.py").read_text() == V2


async def test_rejecting_after_a_resubmission_needs_no_proposal_and_writes_nothing(
    hub: HubFixture,
) -> None:
    _, host, cid, _ = await _resubmitted(hub)
    before = (hub.project / "code.py").read_bytes()
    rejected = await host.call("reject_change", id=cid, reason="not this")
    assert rejected["change"]["status"] == "rejected"
    assert (hub.project / "code.py").read_bytes() == before


async def test_the_proposal_sha256_is_sent_only_to_a_request_that_asks_for_it(
    hub: HubFixture,
) -> None:
    (hub.project / "code.py").write_text(TEXT, encoding="utf-8")
    guest = await hub.guest("bob")
    host = await hub.host()
    cid = (await guest.call("write_file", path="code.py", content=V1))["change"]["id"]
    plain = await host.call("get_change", id=cid)
    listed = await host.call("pending_changes")
    assert "proposal_sha256" not in plain["change"]
    assert all("proposal_sha256" not in c for c in listed["changes"])
    asked = await host.call("pending_changes", include_diff=False, include_proposal=True)
    one = await host.call("get_change", id=cid, include_proposal=True)
    assert [c["proposal_sha256"] for c in asked["changes"]] == [one["change"]["proposal_sha256"]]
    submitted = await host.wait_event("change_submitted")
    assert "proposal_sha256" not in submitted.data["change"]  # events: older clients refuse it


async def test_the_proposal_sha256_names_the_kind_paths_base_and_the_content_s_sha256(
    hub: HubFixture,
) -> None:
    (hub.project / "code.py").write_text(TEXT, encoding="utf-8")
    guest = await hub.guest("carol")
    host = await hub.host()
    cid = (await guest.call("write_file", path="code.py", content=V1))["change"]["id"]
    moved = (await guest.call("move_file", path="code.py", new_path="lib.py"))["change"]["id"]
    base = hashlib.sha256(TEXT.encode()).hexdigest()
    new = hashlib.sha256(V1.encode()).hexdigest()
    write = (await host.call("get_change", id=cid, include_proposal=True))["change"]
    move = (await host.call("get_change", id=moved, include_proposal=True))["change"]
    assert write["proposal_sha256"] == proposal_sha256("write", "code.py", None, base, new)
    assert move["proposal_sha256"] == proposal_sha256("move", "code.py", "lib.py", base, None)
    assert len({write["proposal_sha256"], move["proposal_sha256"]}) == 2


async def test_a_large_change_s_proposal_sha256_is_that_of_the_bytes_in_the_blobs_file(
    hub: HubFixture,
) -> None:
    data = lock_file(hub.project)
    guest = await hub.guest("dave")
    host = await hub.host()
    result = await guest.call("edit_file", path="package-lock.json", old_string=OLD, new_string=NEW)
    cid = result["change"]["id"]
    assert hub.hub.core is not None
    key = hub.hub.core.store.get_change(cid, include_content=False).blob_key  # type: ignore[union-attr]
    assert key is not None
    stored = hub.hub.core.store.blobs.get(key, content=True, diff_head=0)
    assert stored is not None and stored[0] == data.replace(OLD.encode(), NEW.encode())
    shown = (await host.call("get_change", id=cid, include_proposal=True))["change"]
    base = hashlib.sha256(data).hexdigest()
    new = hashlib.sha256(stored[0]).hexdigest()
    expected = proposal_sha256("edit", "package-lock.json", None, base, new)
    assert shown["proposal_sha256"] == expected
    done = await host.call("approve_change", id=cid, proposal_sha256=expected)
    assert done["change"]["status"] == "applied"
    assert (hub.project / "package-lock.json").read_bytes() == stored[0]


async def test_stored_content_that_no_longer_hashes_to_its_sha256_is_not_written(
    hub: HubFixture,
) -> None:
    (hub.project / "code.py").write_text(TEXT, encoding="utf-8")
    guest = await hub.guest("erin")
    host = await hub.host()
    cid = (await guest.call("write_file", path="code.py", content=V1))["change"]["id"]
    shown = (await host.call("get_change", id=cid, include_proposal=True))["change"]
    with sqlite3.connect(hub.hub.state.db_path) as conn:  # the store changed under the hub
        conn.execute("UPDATE change_data SET content = ? WHERE change_id = ?", (b"swapped\n", cid))
    with pytest.raises(OpError) as refused:
        await host.call("approve_change", id=cid, proposal_sha256=shown["proposal_sha256"])
    assert refused.value.code == ErrorCode.CONFLICT and "stored content" in refused.value.message
    assert (hub.project / "code.py").read_text() == TEXT
    again = (await host.call("get_change", id=cid))["change"]
    assert again["status"] == "pending"


async def test_a_change_pending_in_a_schema_8_state_db_keeps_its_proposal_after_the_upgrade(
    tmp_path: Path,
) -> None:
    # A change proposed under schema 8 (no revision column) is revision 1 once upgraded, and
    # its proposal_sha256 is the one computed before: it is made of the stored fields only.
    project = make_project(tmp_path / "project")
    async with running_hub(project) as fx:
        guest = await fx.guest("gail")
        host = await fx.host()
        cid = (await guest.call("write_file", path="notes.txt", content="v1\n"))["change"]["id"]
        before = (await host.call("get_change", id=cid, include_proposal=True))["change"]
        db = fx.hub.state.db_path
    with sqlite3.connect(db) as conn:  # back to schema 8, as a hub of before q-approve left it
        conn.execute("ALTER TABLE changes DROP COLUMN revision")
        conn.execute("PRAGMA user_version = 8")
    async with running_hub(project) as fx:
        host = await fx.host()
        after = (await host.call("get_change", id=cid, include_proposal=True))["change"]
        assert after["revision"] == 1
        assert after["proposal_sha256"] == before["proposal_sha256"]
        done = await host.call("approve_change", id=cid, proposal_sha256=after["proposal_sha256"])
        assert done["change"]["status"] == "applied"
    assert (project / "notes.txt").read_text() == "v1\n"


@pytest.mark.parametrize("large", [False, True], ids=["row", "blobs_file"])
async def test_an_approval_finished_at_the_next_start_writes_only_the_bytes_reviewed(
    tmp_path: Path, large: bool
) -> None:
    # The hub stopped between the committed approval and the write; meanwhile the stored
    # content changed (the row, or the blob in state.db.changes). The approving worker checks
    # the bytes against the sha256 the host reviewed; the start's reconciliation wrote them
    # unchecked. Now it leaves the file alone and the change waits for the host again.
    project = make_project(tmp_path / "project")
    async with running_hub(project) as fx:
        assert fx.hub.core is not None
        store = fx.hub.core.store
        guest = await fx.guest("frank")
        if large:
            lock_file(project)
            path = "package-lock.json"
            made = await guest.call("edit_file", path=path, old_string=OLD, new_string=NEW)
        else:
            path = "notes.txt"
            made = await guest.call("write_file", path=path, content="reviewed\n")
        cid, db = made["change"]["id"], fx.hub.state.db_path
        before = (project / path).read_bytes()
        store.set_change_status(cid, "approved", now=1.0, by="host")
    # The hub is stopped: the store changes under it.
    blobs = db.with_name(db.name + ".changes")
    with sqlite3.connect(blobs if large else db) as conn:
        if large:
            conn.execute("UPDATE change_blobs SET content = ?", (b"x\n",))
        else:
            conn.execute("UPDATE change_data SET content = ? WHERE change_id = ?", (b"x\n", cid))
    async with running_hub(project) as fx:
        assert (project / path).read_bytes() == before
        host = await fx.host()
        assert (await host.call("get_change", id=cid))["change"]["status"] == "pending"


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "unpinned"])
async def test_a_change_resubmitted_while_an_approval_hashes_the_file_is_not_decided_by_it(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch, pinned: bool
) -> None:
    # The approval's worker reads the file's hash of version 1; meanwhile another approval
    # makes it a conflict and its author resubmits version 2 (a small change: its blob_key
    # stays None, so status and blob_key alone looked unchanged). Version 2 must not be
    # decided on version 1's reading: pinned, it is refused; unpinned, it is judged afresh.
    (hub.project / "code.py").write_text(TEXT, encoding="utf-8")
    guest = await hub.guest("frank")
    host, other = await hub.host(), await hub.host()
    cid = (await guest.call("write_file", path="code.py", content=V1))["change"]["id"]
    d1 = (await host.call("get_change", id=cid, include_proposal=True))["change"]
    moved = TEXT.replace("line 5\n", "host 5\n")
    (hub.project / "code.py").write_text(moved, encoding="utf-8")

    hashing, release = threading.Event(), threading.Event()
    real = ops_changes.current_sha_for

    def held(*args: Any) -> Any:
        if not hashing.is_set():
            hashing.set()
            release.wait(WAIT)
        return real(*args)

    monkeypatch.setattr(ops_changes, "current_sha_for", held)
    pin = {"proposal_sha256": d1["proposal_sha256"]} if pinned else {}
    approve = asyncio.create_task(host.call("approve_change", id=cid, **pin))
    assert await asyncio.to_thread(hashing.wait, WAIT)
    assert (await other.call("approve_change", id=cid))["change"]["status"] == "conflict"
    await guest.call("update_change", id=cid, content=V2)
    release.set()
    if pinned:
        with pytest.raises(OpError, match="resubmitted"):
            await approve
        assert (await other.call("get_change", id=cid))["change"]["status"] == "pending"
        assert (hub.project / "code.py").read_text() == moved
    else:
        assert (await approve)["change"]["status"] == "applied"
        assert (hub.project / "code.py").read_text() == V2


async def test_the_raw_protocol_takes_only_the_whole_digest_in_lower_case(hub: HubFixture) -> None:
    # The 16-character prefix is the CLI's, checked there against the digest it read; on the
    # wire a prefix, upper case or a trailing newline is refused, nothing written.
    (hub.project / "code.py").write_text(TEXT, encoding="utf-8")
    guest = await hub.guest("hank")
    host = await hub.host()
    cid = (await guest.call("write_file", path="code.py", content=V1))["change"]["id"]
    digest = (await host.call("get_change", id=cid, include_proposal=True))["change"][
        "proposal_sha256"
    ]
    for shown in (digest[:16], digest.upper(), digest + "\n", digest[:63]):
        with pytest.raises(OpError) as refused:
            await host.call("approve_change", id=cid, proposal_sha256=shown)
        assert refused.value.code == ErrorCode.INVALID
    assert (hub.project / "code.py").read_text() == TEXT
    assert (await host.call("get_change", id=cid))["change"]["status"] == "pending"
