"""Crash reconciliation at start (design section 8): what a hub that stopped mid-way left.

Runs once, before the hub serves: pending changes take their locks again, and a change
recorded ``approved`` but never marked ``applied`` is settled against the disk. Split from
:mod:`letswork.hub.changes`, whose steps it uses (issue 14)."""

from __future__ import annotations

import logging

from letswork.hub import change_blobs
from letswork.hub.applying import drop_stale_guest_versions
from letswork.hub.changes import (
    current_sha_for,
    decide,
    finish_approved,
    lock_for_change,
    remember_mark,
    sensitivity_on_disk,
    set_status,
)
from letswork.hub.peers import HOST_ID
from letswork.hub.state import HubState
from letswork.shared.errors import ErrorCode, OpError, StoreError

log = logging.getLogger("letswork.hub")


def recover(ctx: HubState, now: float) -> dict[str, int]:
    """Crash reconciliation, run once at start (design section 8).

    Re-takes the lock of every pending change; a change recorded as ``approved`` but not
    ``applied`` is marked applied when the disk already has its result, applied now when the
    disk still has its base, and marked ``conflict`` otherwise. Removes leftover temp files,
    and prunes the store's rings to the caps in force.
    """
    counts = {"pending": 0, "reconciled": 0, "temp_files": ctx.workspace.cleanup_temp_files()}
    # Rows an older hub wrote at every hello; waiting guests now live in memory only.
    counts["unadmitted_guests"] = ctx.store.drop_unadmitted_guests()
    ctx.store.prune()  # a database that grew under larger caps (or before schema 4)
    counts["host_took_back"] = drop_stale_guest_versions(ctx)
    counts["orphan_blobs"] = ctx.store.sweep_blobs()
    for row in ctx.store.list_changes(status="approved"):
        if row.blob_key is not None:  # before serving: the loop may wait for it
            try:
                row = change_blobs.with_loaded(row, change_blobs.load(ctx, row, content=True))
            except StoreError as exc:
                if exc.code != ErrorCode.NOT_FOUND:
                    raise
                # The blobs file commits apart from this row: a power loss, or the file
                # removed, lost it. Its result cannot be written; not a reason to stop.
                if row.kind in ("write", "edit") and current_sha_for(ctx, row) != row.new_sha256:
                    log.warning("approved change %s lost its data: rejected", row.id)
                    why = "its content was lost from the hub's state (state.db.changes)"
                    decide(ctx, row, "rejected", now, by=HOST_ID, reason=why)
                    counts["reconciled"] += 1
                    continue
        try:
            finish_approved(ctx, row, now, by=row.decided_by or HOST_ID)
        except OpError as exc:
            # Refused now (git metadata, a full disk, the ignore files' cap): it waits for
            # the host again instead of stopping the hub.
            log.warning("approved change %s not applied at start: %s", row.id, exc.message)
            set_status(ctx, row, "pending", now, by=None)
        counts["reconciled"] += 1
    for row in ctx.store.list_changes(status="pending", include_content=False, include_diff=False):
        lock_for_change(ctx, row, now)
        remember_mark(ctx, row, sensitivity_on_disk(ctx, row))
        counts["pending"] += 1
    return counts
