"""A large change made a change of the file as it is now (``update_change``, a clean merge
approved) keeps its new content and diff in the blobs file, written by a worker, as a
proposal does (issue 15): not in its row on the event loop. Real hubs, real SQLite."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from letswork.shared.errors import OpError
from letswork.shared.limits import MAX_INLINE_CHANGE_BYTES
from tests.hub.ops.test_large_changes import NEW, OLD, _blob_keys, _change_data, _propose
from tests.hub.ops.test_large_files import lock_file
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
