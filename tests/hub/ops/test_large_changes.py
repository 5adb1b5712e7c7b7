"""A change over ``MAX_INLINE_CHANGE_BYTES`` keeps its content and diff in the blobs file,
written and read by workers (schema 7, issue 15), and behaves as before: stored before it is
visible, approved byte for byte, shown with the same diff, decided once, recovered after a
restart. Real hubs, real SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from letswork.hub import change_blobs, changes
from letswork.hub.store.blobs import ChangeBlobs
from letswork.hub.workspace.diff import fit_diff, unified_diff
from letswork.shared.errors import ErrorCode, OpError, StoreError
from letswork.shared.limits import MAX_FRAME_BYTES, MAX_INLINE_CHANGE_BYTES
from tests.hub.ops.test_large_files import lock_file
from tests.hub.test_admission import leave
from tests.hub.test_hub_event_loop import trusted_editor
from tests.support.hubs import HubFixture, running_hub

OLD = '"node_modules/pkg-30000": {"version": "1.0.30000"}'
NEW = '"node_modules/pkg-30000": {"version": "2.0.30000"}'
WAIT = 30.0


def _db(fx: HubFixture) -> Path:
    return fx.hub.state.db_path


def _change_data(fx: HubFixture, change_id: str) -> tuple[int | None, str | None, int]:
    """(length of the row's content, its blob key, data_bytes), read with a connection of
    its own."""
    with sqlite3.connect(_db(fx)) as conn:
        row = conn.execute(
            "SELECT length(d.content), d.blob_key, c.data_bytes FROM change_data d"
            " JOIN changes c ON c.id = d.change_id WHERE d.change_id = ?",
            (change_id,),
        ).fetchone()
    return row[0], row[1], int(row[2])


def _blob_keys(fx: HubFixture) -> set[str]:
    assert fx.hub.core is not None
    return fx.hub.core.store.blobs.keys()


async def _propose(fx: HubFixture) -> tuple[str, bytes]:
    data = lock_file(fx.project)
    guest = await fx.guest("alice")
    result = await guest.call("edit_file", path="package-lock.json", old_string=OLD, new_string=NEW)
    assert result["status"] == "pending"
    return result["change"]["id"], data.replace(OLD.encode(), NEW.encode())


async def test_a_large_pending_edit_is_stored_in_the_blobs_file_not_in_its_row(
    hub: HubFixture,
) -> None:
    change_id, expected = await _propose(hub)
    length, key, data_bytes = _change_data(hub, change_id)
    assert length is None and key in _blob_keys(hub)
    assert data_bytes > len(expected) > MAX_INLINE_CHANGE_BYTES  # the caps still count it


async def test_a_large_change_is_approved_byte_for_byte(hub: HubFixture) -> None:
    change_id, expected = await _propose(hub)
    host = await hub.host()
    decided = await host.call("approve_change", id=change_id)
    assert decided["change"]["status"] == "applied"
    assert (hub.project / "package-lock.json").read_bytes() == expected
    assert f"+    {NEW}," in decided["change"]["diff"]


async def test_get_change_of_a_large_change_shows_the_diff_a_row_would(hub: HubFixture) -> None:
    change_id, expected = await _propose(hub)
    old = (hub.project / "package-lock.json").read_text()
    host = await hub.host()
    shown = (await host.call("get_change", id=change_id))["change"]["diff"]
    whole = unified_diff("package-lock.json", old, expected.decode())
    assert shown == fit_diff(whole, MAX_FRAME_BYTES // 2)


async def test_a_large_diff_is_cut_from_its_head_as_fit_diff_cuts_it(hub: HubFixture) -> None:
    data = lock_file(hub.project)
    guest = await hub.guest("alice")
    # Every line changes: a diff of twice the file, over half a frame.
    new = data.decode().replace('"1.0.', '"3.0.')
    result = await guest.call("write_file", path="package-lock.json", content=new[:900_000])
    host = await hub.host()
    shown = (await host.call("get_change", id=result["change"]["id"]))["change"]["diff"]
    whole = unified_diff("package-lock.json", data.decode(), new[:900_000])
    assert len(whole.encode()) > MAX_FRAME_BYTES // 2
    assert shown == fit_diff(whole, MAX_FRAME_BYTES // 2)


async def test_a_large_proposal_s_reply_counts_every_diff_line_cut_off_the_loop(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the attack on update_change (issue 15): a proposal's reply fitted its whole
    # diff to half a frame and cut it on the event loop (~40 ms for 128 MiB), and the
    # summary's diff_lines then counted only the half frame's lines.
    from letswork.hub.workspace import diff as diff_module

    loop_thread = threading.get_ident()
    on_loop: list[int] = []

    def watch(real: Any) -> Any:
        def watched(diff: str, *args: Any) -> Any:
            if threading.get_ident() == loop_thread:
                on_loop.append(len(diff))
            return real(diff, *args)

        return watched

    monkeypatch.setattr(changes, "cut_diff", watch(changes.cut_diff))
    monkeypatch.setattr(diff_module, "cut_diff", watch(diff_module.cut_diff))
    data = lock_file(hub.project)
    guest = await hub.guest("alice")
    new = data.decode().replace('"1.0.', '"3.0.')  # every line changes
    result = await guest.call(
        "write_file", path="package-lock.json", content=new[:900_000], diff_head=4000
    )
    whole = unified_diff("package-lock.json", data.decode(), new[:900_000])
    assert len(whole.encode()) > MAX_FRAME_BYTES // 2
    summary = result["summary"]
    assert summary["diff_cut"] and summary["diff_lines"] == whole.count("\n")
    assert whole.startswith(result["change"]["diff"]) and len(result["change"]["diff"]) <= 4000
    assert all(size <= 4000 for size in on_loop), on_loop


async def test_a_large_change_is_not_visible_when_its_data_could_not_be_stored(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: ChangeBlobs, key: str, content: bytes | None, diff: str) -> None:
        raise StoreError("state database: disk I/O error")

    monkeypatch.setattr(ChangeBlobs, "put", refuse)
    lock_file(hub.project)
    guest = await hub.guest("alice")
    with pytest.raises(OpError):
        await guest.call("edit_file", path="package-lock.json", old_string=OLD, new_string=NEW)
    host = await hub.host()
    assert (await host.call("pending_changes"))["changes"] == []


async def test_pending_changes_lists_a_large_change_without_its_diff(hub: HubFixture) -> None:
    change_id, _ = await _propose(hub)
    host = await hub.host()
    listed = (await host.call("pending_changes"))["changes"]
    assert [c["id"] for c in listed] == [change_id]
    assert listed[0].get("diff") is None


async def test_a_decision_on_a_change_whose_file_is_being_written_is_refused(
    hub: HubFixture,
) -> None:
    change_id, _ = await _propose(hub)
    assert hub.hub.core is not None
    hub.hub.core.applying.add(change_id)  # as approve_change does while a worker writes
    host = await hub.host()
    for op in ("reject_change", "approve_change"):
        with pytest.raises(OpError) as caught:
            await host.call(op, id=change_id)
        assert caught.value.code == ErrorCode.CONFLICT
    hub.hub.core.applying.discard(change_id)
    assert (await host.call("reject_change", id=change_id))["change"]["status"] == "rejected"


async def test_a_large_conflict_stores_its_new_diff_and_drops_the_old_data(
    hub: HubFixture,
) -> None:
    change_id, _ = await _propose(hub)
    _, old_key, _ = _change_data(hub, change_id)
    path = hub.project / "package-lock.json"
    path.write_bytes(path.read_bytes().replace(b'"1.0.', b'"4.0.'))  # every line moved on
    host = await hub.host()
    decided = await host.call("approve_change", id=change_id)
    assert decided["change"]["status"] == "conflict"
    assert "the diff is cut here" in decided["change"]["diff"]
    _, new_key, data_bytes = _change_data(hub, change_id)
    assert new_key is not None and new_key != old_key
    assert hub.hub.core is not None
    kept = hub.hub.core.store.get_merge_data(change_id).size  # still held by the row
    assert kept > 0
    found = hub.hub.core.store.blobs.get(new_key, content=False, diff_head=0)
    assert found is not None
    assert data_bytes == found[2] + kept  # the new diff and the kept base, as the row holds
    shown = (await host.call("get_change", id=change_id))["change"]["diff"]
    assert shown == decided["change"]["diff"]


async def test_an_approved_large_change_is_applied_at_the_next_start(project: Path) -> None:
    async with running_hub(project) as fx:
        change_id, expected = await _propose(fx)
        assert fx.hub.core is not None
        # As if the hub stopped between the committed approval and the write.
        fx.hub.core.store.set_change_status(change_id, "approved", now=1.0, by="host")
    async with running_hub(project) as fx:
        assert (project / "package-lock.json").read_bytes() == expected
        host = await fx.host()
        assert (await host.call("get_change", id=change_id))["change"]["status"] == "applied"


async def test_blobs_no_change_names_are_swept_at_start(project: Path) -> None:
    async with running_hub(project) as fx:
        change_id, _ = await _propose(fx)
        _, kept, _ = _change_data(fx, change_id)
        assert fx.hub.core is not None
        fx.hub.core.store.blobs.put("orphan", b"x" * 10, "")  # a crash before its row
    async with running_hub(project) as fx:
        assert _blob_keys(fx) == {kept}


async def test_a_refused_large_proposal_leaves_no_blob_behind(project: Path) -> None:
    async with running_hub(project) as fx:
        assert not _blob_keys(fx)
        lock_file(fx.project)
        host = await fx.host()
        await host.call("lock_file", path="package-lock.json")
        guest = await fx.guest("alice")
        with pytest.raises(OpError):
            await guest.call("edit_file", path="package-lock.json", old_string=OLD, new_string=NEW)
        assert fx.hub.server is not None
        # The delete was handed to the file pool before the reply: wait for the pool.
        fx.hub.server._answerer._file_pool.shutdown(wait=True)
        assert _blob_keys(fx) == set()


async def test_the_hosts_large_edit_is_applied_at_once_and_stored_in_the_blobs_file(
    hub: HubFixture,
) -> None:
    data = lock_file(hub.project)
    host = await hub.host()
    result = await host.call("edit_file", path="package-lock.json", old_string=OLD, new_string=NEW)
    assert result["status"] == "applied"
    assert (hub.project / "package-lock.json").read_bytes() == data.replace(
        OLD.encode(), NEW.encode()
    )
    length, key, _ = _change_data(hub, result["change"]["id"])
    assert length is None and key in _blob_keys(hub)


async def test_a_large_change_counts_its_blob_and_its_kept_base_in_the_pending_bytes(
    hub: HubFixture,
) -> None:
    # Issue 15's blobs file and issue 17's kept base together: keeping the base must not
    # recount data_bytes from the row, which holds neither content nor diff.
    change_id, expected = await _propose(hub)
    assert hub.hub.core is not None
    merge = hub.hub.core.store.get_merge_data(change_id)
    _length, key, data_bytes = _change_data(hub, change_id)
    assert key is not None and merge.size > 0
    assert data_bytes > len(expected) + merge.size


async def test_a_large_change_merged_with_a_host_edit_writes_the_merged_text(
    hub: HubFixture,
) -> None:
    change_id, _expected = await _propose(hub)
    _length, key, _bytes = _change_data(hub, change_id)
    path = hub.project / "package-lock.json"
    host_text = b'{"edited by": "the host",\n' + path.read_bytes()[2:]
    path.write_bytes(host_text)
    host = await hub.host()
    shown = await host.call("approve_change", id=change_id, merge=True)
    merge = shown["merge"]
    assert merge["outcome"] in ("edit", "merged")
    assert path.read_bytes() == host_text  # shown, not written
    done = await host.call(
        "approve_change",
        id=change_id,
        merge=True,
        current_sha256=merge["current_sha256"],
        merged_sha256=merge["merged_sha256"],
    )
    assert done["change"]["status"] == "applied"
    # the merged text, not the proposal kept in the blobs file
    assert path.read_bytes() == host_text.replace(OLD.encode(), NEW.encode())
    # the row names the merged text's blob, no longer the proposal's (committed with the
    # rebase; the old blob is deleted by a worker after the request, not waited for here)
    new_key = _change_data(hub, change_id)[1]
    assert key is not None and new_key is not None and new_key != key


@pytest.mark.parametrize("held", ["in_the_put", "after_the_draft"])
async def test_a_guest_gone_while_its_large_proposal_is_prepared_leaves_no_blob(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch, held: str
) -> None:
    # A hostile guest sends edit_file on a large file and closes its connection at once,
    # again and again: each blob written by the worker whose result nobody takes must still
    # be deleted, or the blobs file grows by the file's size each time until a restart.
    stored, release = threading.Event(), threading.Event()
    if held == "in_the_put":  # the guest is gone before the worker returns
        put = ChangeBlobs.put

        def holding_put(self: ChangeBlobs, key: str, content: bytes | None, diff: str) -> None:
            put(self, key, content, diff)
            stored.set()
            release.wait(WAIT)

        monkeypatch.setattr(ChangeBlobs, "put", holding_put)
    else:  # the worker returned its draft, the loop never takes it
        store_draft = change_blobs.store_draft

        def holding_store(*args: Any, **kw: Any) -> Any:
            done = store_draft(*args, **kw)
            stored.set()
            release.wait(WAIT)
            return done

        monkeypatch.setattr(change_blobs, "store_draft", holding_store)
    lock_file(hub.project)
    host = await hub.host()
    guest = await hub.guest("mallory")
    edit = asyncio.create_task(
        guest.call("edit_file", path="package-lock.json", old_string=OLD, new_string=NEW)
    )
    assert await asyncio.to_thread(stored.wait, WAIT)
    assert len(_blob_keys(hub)) == 1
    await leave(hub, guest, host)
    release.set()
    await asyncio.gather(edit, return_exceptions=True)
    assert hub.hub.server is not None
    hub.hub.server._answerer._file_pool.shutdown(wait=True)  # the worker, and any delete
    assert _blob_keys(hub) == set()


@pytest.mark.parametrize("decision", ["reject_change", "approve_change"])
async def test_no_decision_on_a_trusted_large_change_while_a_worker_writes_it(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch, decision: str
) -> None:
    # A trusted editor's large change is recorded 'approved', then written by a worker: a
    # reject meanwhile was answered 'rejected', and the write then landed and marked it
    # 'applied' anyway (the host told one thing, the disk and the store another).
    writing, release = threading.Event(), threading.Event()
    write = changes.write_change

    def holding_write(ctx: Any, row: Any) -> None:
        writing.set()
        release.wait(WAIT)
        write(ctx, row)

    monkeypatch.setattr(changes, "write_change", holding_write)
    expected = lock_file(hub.project).replace(OLD.encode(), NEW.encode())
    host, editor = await trusted_editor(hub)
    edit = asyncio.create_task(
        editor.call("edit_file", path="package-lock.json", old_string=OLD, new_string=NEW)
    )
    assert await asyncio.to_thread(writing.wait, WAIT)
    assert hub.hub.core is not None
    (approved,) = hub.hub.core.store.list_changes(status="approved", include_content=False)
    with pytest.raises(OpError) as caught:
        await host.call(decision, id=approved.id)
    assert caught.value.code == ErrorCode.CONFLICT
    release.set()
    assert (await edit)["status"] == "applied"
    assert (hub.project / "package-lock.json").read_bytes() == expected
    decided = await host.call("get_change", id=approved.id)
    assert decided["change"]["status"] == "applied"


async def test_an_approved_large_change_whose_blob_was_lost_does_not_stop_the_hub(
    project: Path,
) -> None:
    # The two files commit apart: a power loss (synchronous NORMAL), or a removed
    # state.db.changes, can leave an approved row naming no blob. The hub must still start.
    async with running_hub(project) as fx:
        change_id, _expected = await _propose(fx)
        assert fx.hub.core is not None
        fx.hub.core.store.set_change_status(change_id, "approved", now=1.0, by="host")
        _, key, _ = _change_data(fx, change_id)
        assert key is not None
        fx.hub.core.store.blobs.delete([key])
        before = (project / "package-lock.json").read_bytes()
    async with running_hub(project) as fx:
        assert (project / "package-lock.json").read_bytes() == before  # nothing half-written
        host = await fx.host()
        decided = (await host.call("get_change", id=change_id))["change"]
        assert decided["status"] == "rejected"
        assert "lost" in decided["reason"]
        assert decided.get("data_pruned") is True


async def test_an_approve_reading_a_large_change_writes_it_while_an_update_is_refused(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The author's update_change while the host's approve reads the blob. It used to swap
    # the pending change (and delete the blob the approve was reading: a store error); since
    # a pending change cannot change under its id (a17-merge), the update is refused and the
    # approve writes what the host reviewed.
    loading, release, deleted = threading.Event(), threading.Event(), threading.Event()
    load, delete = change_blobs.load, ChangeBlobs.delete

    def holding_load(*args: Any, **kw: Any) -> Any:
        if not loading.is_set():
            loading.set()
            release.wait(WAIT)
        return load(*args, **kw)

    def noting_delete(self: ChangeBlobs, keys: list[str]) -> None:
        delete(self, keys)
        deleted.set()

    monkeypatch.setattr(change_blobs, "load", holding_load)
    monkeypatch.setattr(ChangeBlobs, "delete", noting_delete)
    change_id, expected = await _propose(hub)
    guest = hub.clients[-1]
    host = await hub.host()
    approve = asyncio.create_task(host.call("approve_change", id=change_id))
    assert await asyncio.to_thread(loading.wait, WAIT)
    with pytest.raises(OpError, match="cannot change under its id"):
        await guest.call("update_change", id=change_id, content="small now\n")
    release.set()
    decided = await approve
    assert decided["change"]["status"] == "applied"
    assert (hub.project / "package-lock.json").read_bytes() == expected
    assert not deleted.is_set() or change_id not in str(deleted)  # nothing deleted under it


async def test_approving_a_large_change_again_shows_its_diff_not_an_empty_one(
    hub: HubFixture,
) -> None:
    change_id, _ = await _propose(hub)
    host = await hub.host()
    first = await host.call("approve_change", id=change_id)
    again = await host.call("approve_change", id=change_id)
    assert again["change"]["status"] == "applied"
    assert again["change"]["diff"] == first["change"]["diff"] != ""


async def test_an_edit_read_while_a_worker_writes_a_large_change_does_not_undo_it(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A trusted editor's large edit is written by a worker; the host's edit of the same file,
    # read before that write landed, was applied on top of the old text, and then the
    # worker's write replaced it (or the other way round): one of two 'applied' edits lost.
    writing, release = threading.Event(), threading.Event()
    write = changes.write_change

    def holding_write(ctx: Any, row: Any) -> None:
        if not writing.is_set():
            writing.set()
            release.wait(WAIT)
        write(ctx, row)

    monkeypatch.setattr(changes, "write_change", holding_write)
    lock_file(hub.project)
    host, editor = await trusted_editor(hub)
    edit = asyncio.create_task(
        editor.call("edit_file", path="package-lock.json", old_string=OLD, new_string=NEW)
    )
    assert await asyncio.to_thread(writing.wait, WAIT)
    other_old = OLD.replace("30000", "20000")
    other_new = NEW.replace("30000", "20000")
    with pytest.raises(OpError) as caught:  # read while the file is being written
        await host.call(
            "edit_file", path="package-lock.json", old_string=other_old, new_string=other_new
        )
    assert caught.value.code == ErrorCode.CONFLICT
    release.set()
    assert (await edit)["status"] == "applied"
    ours = await host.call(
        "edit_file", path="package-lock.json", old_string=other_old, new_string=other_new
    )
    assert ours["status"] == "applied"
    text = (hub.project / "package-lock.json").read_text()
    assert NEW in text and other_new in text  # both edits, each applied once


async def test_a_new_file_s_reply_head_is_cut_off_the_loop(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the attack on the proposal reply (issue 15): a new file's head was still built
    # on the loop, counting every line of its text there (a 3 MiB file, --max-file-size's
    # ceiling: ~3 ms), and a trusted editor's large new file fitted its whole diff there too.
    from letswork.hub.workspace import diff as diff_module

    loop_thread = threading.get_ident()
    on_loop: list[int] = []

    def watch(real: Any) -> Any:
        def watched(first: str, second: str, *args: Any) -> Any:
            if threading.get_ident() == loop_thread:
                on_loop.append(len(second))
            return real(first, second, *args)

        return watched

    monkeypatch.setattr(changes, "create_diff_head", watch(changes.create_diff_head))
    monkeypatch.setattr(diff_module, "create_diff_head", watch(diff_module.create_diff_head))
    text = "".join(f"line {i}\n" for i in range(80_000))
    guest = await hub.guest("alice")
    result = await guest.call("write_file", path="new.txt", content=text, diff_head=4000)
    old = await guest.call("write_file", path="new2.txt", content=text)
    assert on_loop == []
    whole = unified_diff("new.txt", None, text)
    head, rest = diff_module.cut_diff(whole, 4000)
    assert result["change"]["diff"] == head
    assert result["summary"]["diff_lines"] == whole.count("\n") and result["summary"]["diff_cut"]
    whole = unified_diff("new2.txt", None, text)
    head, rest = diff_module.cut_diff(whole, changes.REPLY_DIFF_CHARS)
    trailer = f"... ({rest} more diff lines; get_change {old['change']['id']} shows all)\n"
    assert old["change"]["diff"] == head + trailer
