"""A large change made a change of the file as it is now (``update_change``, a clean merge
approved) keeps its new content and diff in the blobs file, written by a worker, as a
proposal does (issue 15): not in its row on the event loop. Real hubs, real SQLite."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest

from letswork.hub.changes import CHANGE_BYTES_PER_REQUEST
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.limits import MAX_INLINE_CHANGE_BYTES
from tests.hub.ops.test_large_changes import NEW, OLD, _blob_keys, _change_data, _propose
from tests.hub.ops.test_large_files import lock_file
from tests.hub.test_admission import FakeClock
from tests.hub.test_hub_event_loop import WAIT, hold
from tests.support.hubs import Client, HubFixture, running_hub

#: The guest's edit again, of the file as the host left it.
AGAIN = '"node_modules/pkg-30001": {"version": "3.0.30001"}'


def _blob(fx: HubFixture, key: str) -> tuple[bytes, int]:
    """The content kept under ``key`` in the blobs file, and its diff's bytes."""
    assert fx.hub.core is not None
    found = fx.hub.core.store.blobs.get(key, content=True, diff_head=0)
    assert found is not None and found[0] is not None
    return found[0], found[2]


async def _conflict(fx: HubFixture) -> tuple[str, Client]:
    """A guest's large edit, in conflict (every line of the file moved on since), and the
    guest."""
    lock_file(fx.project)
    guest = await fx.guest("alice")
    proposed = await guest.call(
        "edit_file", path="package-lock.json", old_string=OLD, new_string=NEW
    )
    change_id = proposed["change"]["id"]
    path = fx.project / "package-lock.json"
    path.write_bytes(path.read_bytes().replace(b'"1.0.', b'"4.0.'))
    host = await fx.host()
    decided = await host.call("approve_change", id=change_id)
    assert decided["change"]["status"] == "conflict"
    return change_id, guest


async def test_a_large_update_change_is_stored_in_the_blobs_file_and_approved_byte_for_byte(
    hub: HubFixture,
) -> None:
    change_id, guest = await _conflict(hub)
    _, old_key, _ = _change_data(hub, change_id)
    path = hub.project / "package-lock.json"
    old, new = AGAIN.replace("3.0.", "4.0."), AGAIN
    updated = await guest.call("update_change", id=change_id, old_string=old, new_string=new)
    assert updated["status"] == "pending"
    length, key, data_bytes = _change_data(hub, change_id)
    assert length is None and key is not None and key != old_key  # not in the row
    stored, diff_bytes = _blob(hub, key)
    expected = path.read_bytes().replace(old.encode(), new.encode())
    assert stored == expected and len(stored) > MAX_INLINE_CHANGE_BYTES
    assert hub.hub.core is not None
    kept = hub.hub.core.store.get_merge_data(change_id).size
    assert data_bytes == len(stored) + diff_bytes + kept  # what the pending caps count
    assert hub.hub.core.store.pending_grand_totals()[1] >= data_bytes
    host = await hub.host()
    shown = (await host.call("get_change", id=change_id, include_proposal=True))["change"]
    assert shown["new_sha256"] == hashlib.sha256(stored).hexdigest()
    done = await host.call("approve_change", id=change_id, proposal_sha256=shown["proposal_sha256"])
    assert done["change"]["status"] == "applied"
    assert path.read_bytes() == stored


async def test_a_large_clean_merge_approved_is_stored_in_the_blobs_file_and_written(
    hub: HubFixture,
) -> None:
    change_id, _ = await _propose(hub)
    _, old_key, _ = _change_data(hub, change_id)
    path = hub.project / "package-lock.json"
    host_text = b'{"edited by": "the host",\n' + path.read_bytes()[2:]
    path.write_bytes(host_text)
    host = await hub.host()
    merge = (await host.call("approve_change", id=change_id, merge=True))["merge"]
    done = await host.call(
        "approve_change",
        id=change_id,
        merge=True,
        current_sha256=merge["current_sha256"],
        merged_sha256=merge["merged_sha256"],
    )
    assert done["change"]["status"] == "applied"
    length, key, data_bytes = _change_data(hub, change_id)
    assert length is None and key is not None and key != old_key
    stored, diff_bytes = _blob(hub, key)
    assert stored == path.read_bytes() == host_text.replace(OLD.encode(), NEW.encode())
    assert hashlib.sha256(stored).hexdigest() == merge["merged_sha256"]
    assert data_bytes == len(stored) + diff_bytes


async def test_a_refused_large_update_change_leaves_no_blob_behind(project: Path) -> None:
    async with running_hub(project) as fx:
        change_id, guest = await _conflict(fx)
        (kept,) = _blob_keys(fx)  # the conflict's diff
        host = await fx.host()
        await host.call("lock_file", path="package-lock.json")
        with pytest.raises(OpError):  # refused after the worker stored the new data
            await guest.call(
                "update_change",
                id=change_id,
                old_string=AGAIN.replace("3.0.", "4.0."),
                new_string=AGAIN,
            )
        assert fx.hub.server is not None
        # The delete was handed to the file pool before the reply: wait for the pool.
        fx.hub.server._answerer._file_pool.shutdown(wait=True)
        assert _blob_keys(fx) == {kept}
        assert _change_data(fx, change_id)[1] == kept


async def test_a_large_update_change_refused_after_its_worker_stored_it_is_still_charged(
    project: Path,
) -> None:
    # Attack (a-writer): an update refused at commit (here a lock) after the worker made its
    # diff and wrote its blob cost the guest one request; each could make the hub write and
    # delete up to ~192 MiB. The stored bytes are charged to its rate whatever the answer.
    clock = FakeClock()
    async with running_hub(project, clock=clock) as fx:
        change_id, guest = await _conflict(fx)
        host = await fx.host()
        await host.call("lock_file", path="package-lock.json")
        assert fx.hub.core is not None
        (peer,) = [p for p in fx.hub.core.peers.values() if p.name == "alice"]
        before = peer.bucket.tokens(clock.now)
        with pytest.raises(OpError) as refused:
            await guest.call(
                "update_change",
                id=change_id,
                old_string=AGAIN.replace("3.0.", "4.0."),
                new_string=AGAIN,
            )
        assert refused.value.code != ErrorCode.RATE_LIMITED
        size = (fx.project / "package-lock.json").stat().st_size
        # the content alone is over MAX_INLINE_CHANGE_BYTES: 16+ requests' worth, not 1
        assert before - peer.bucket.tokens(clock.now) > size / CHANGE_BYTES_PER_REQUEST


async def test_a_large_update_changes_diff_is_counted_and_cut_off_the_loop(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Attack (issue 15): the channel always sends diff_head; an update_change that rewrites
    # every line of a 64 MiB file has a ~128 MiB diff, whose counting (diff_counts), cut
    # (cut_diff) and UTF-8 size ran on the event loop: ~340 ms, more than the blob write
    # this merge moved off it; and the summary's diff_lines counted only the half frame
    # change_info had fitted the diff to (9385 lines of ~120000).
    from letswork.hub import changes as hub_changes
    from letswork.hub.ops import changes as op_changes
    from letswork.hub.workspace import diff as diff_module

    loop_thread = threading.get_ident()
    on_loop: list[tuple[str, int]] = []

    def watch(name: str, real: Any) -> Any:
        def watched(diff: str, *args: Any) -> Any:
            if threading.get_ident() == loop_thread:
                on_loop.append((name, len(diff)))
            return real(diff, *args)

        return watched

    monkeypatch.setattr(op_changes, "diff_counts", watch("counts", op_changes.diff_counts))
    monkeypatch.setattr(hub_changes, "cut_diff", watch("cut", hub_changes.cut_diff))
    monkeypatch.setattr(diff_module, "cut_diff", watch("fit", diff_module.cut_diff))
    change_id, guest = await _conflict(hub)
    updated = await guest.call(
        "update_change",
        id=change_id,
        old_string='"4.0.',
        new_string='"5.0.',
        replace_all=True,
        diff_head=4000,
    )
    assert updated["status"] == "pending"
    summary = updated["summary"]
    lines = (hub.project / "package-lock.json").read_text().count('"4.0.')
    assert summary["lines_added"] == summary["lines_removed"] == lines > 1000
    assert summary["diff_cut"] and summary["diff_lines"] > 2 * lines
    assert len(updated["change"]["diff"]) <= 4000
    assert all(size <= 4000 for _, size in on_loop), on_loop


async def test_a_guest_kicked_while_its_large_update_is_stored_leaves_no_blob(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Attack: the blob is written by a worker; the guest is kicked before it is. The loop's
    # drop of its key may run before the write: nothing may be left in the blobs file.
    change_id, guest = await _conflict(hub)
    (kept,) = _blob_keys(hub)  # the conflict's diff
    assert hub.hub.core is not None and hub.hub.server is not None
    gate = hold(monkeypatch, hub.hub.core.store.blobs, "put")  # type: ignore[arg-type]
    update = asyncio.create_task(
        guest.call(
            "update_change",
            id=change_id,
            old_string=AGAIN.replace("3.0.", "4.0."),
            new_string=AGAIN,
        )
    )
    await gate.wait_entered()
    host = await hub.host()
    await host.call("kick", name="alice")
    gate.open()
    await asyncio.wait_for(asyncio.gather(update, return_exceptions=True), WAIT)
    hub.hub.server._answerer._file_pool.shutdown(wait=True)  # the worker, and the drop
    assert gate.results == [None]  # it was written
    assert _blob_keys(hub) == {kept}
    row = hub.hub.core.store.get_change(change_id)
    assert row is not None and row.status == "conflict" and row.blob_key == kept


async def test_a_reject_while_a_large_clean_merge_is_stored_stands(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Attack: the approval of a clean merge writes the merged text to the blobs file in a
    # worker; the host rejects the change meanwhile (another window). The worker must not
    # overturn the reject (nothing written, the change stays rejected), nor leave its blob.
    change_id, _ = await _propose(hub)
    path = hub.project / "package-lock.json"
    path.write_bytes(b'{"edited by": "the host",\n' + path.read_bytes()[2:])
    before = path.read_bytes()
    host = await hub.host()
    merge = (await host.call("approve_change", id=change_id, merge=True))["merge"]
    assert hub.hub.core is not None and hub.hub.server is not None
    gate = hold(monkeypatch, hub.hub.core.store.blobs, "put")  # type: ignore[arg-type]
    approve = asyncio.create_task(
        host.call(
            "approve_change",
            id=change_id,
            merge=True,
            current_sha256=merge["current_sha256"],
            merged_sha256=merge["merged_sha256"],
        )
    )
    await gate.wait_entered()
    other = await hub.host()
    rejected = await other.call("reject_change", id=change_id, reason="no")
    assert rejected["change"]["status"] == "rejected"
    gate.open()
    with pytest.raises(OpError) as caught:
        await asyncio.wait_for(approve, WAIT)
    assert caught.value.code == ErrorCode.ALREADY_DECIDED
    assert path.read_bytes() == before
    row = hub.hub.core.store.get_change(change_id)
    assert row is not None and row.status == "rejected"
    await other.call("ping")  # a request after the approval's: its blob's drop is handed over
    hub.hub.server._answerer._file_pool.shutdown(wait=True)
    assert gate.results == [None]
    named = {row.blob_key} - {None}
    assert _blob_keys(hub) <= named


async def test_many_large_updates_keep_one_blob_and_count_it_once(hub: HubFixture) -> None:
    # Attack: conflict, update, conflict, update... Each update's old blob (the conflict's
    # diff) must go, and the pending bytes count only what the row names now.
    change_id, guest = await _conflict(hub)
    path = hub.project / "package-lock.json"
    host = await hub.host()
    assert hub.hub.core is not None and hub.hub.server is not None
    store = hub.hub.core.store
    for n in range(5, 9):
        old = AGAIN.replace("3.0.", f"{n - 1}.0.")
        updated = await guest.call("update_change", id=change_id, old_string=old, new_string=AGAIN)
        assert updated["status"] == "pending"
        _, key, data_bytes = _change_data(hub, change_id)
        stored, diff_bytes = _blob(hub, key)
        assert data_bytes == len(stored) + diff_bytes + store.get_merge_data(change_id).size
        assert store.pending_grand_totals()[1] == data_bytes
        path.write_bytes(path.read_bytes().replace(f'"{n - 1}.0.'.encode(), f'"{n}.0.'.encode()))
        decided = await host.call("approve_change", id=change_id)
        assert decided["change"]["status"] == "conflict"
        await host.call("ping")  # the replaced blobs' deletes are handed to the pool
    hub.hub.server._answerer._file_pool.shutdown(wait=True)
    assert _blob_keys(hub) == {_change_data(hub, change_id)[1]}
    assert store.pending_grand_totals()[1] == 0
