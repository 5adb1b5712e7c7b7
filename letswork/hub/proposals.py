"""The host approves exactly the proposal it reviewed (a follow-up of issue 17).

``update_change`` lets a guest resubmit its conflicting change under the same id, so an
approval by id alone (a host re-running ``letswork approve 7``, a stale dashboard, an assistant
approving from an earlier ``get_change``) could write bytes nobody reviewed. Each change has a
digest of what the host reviews, :func:`digest` (the wire's ``proposal_sha256``), and
``approve_change`` given the digest shown refuses any other proposal (:func:`check_shown`).

Its inputs are short: the content's sha256 (``new_sha256``) is hashed from the exact bytes
stored, off the loop, by the worker that prepared them, and :func:`write_checked` (a
worker) checks again, before writing, that the bytes read back still hash to it.
"""

from __future__ import annotations

from letswork.hub.applying import check_stored_content, write_change
from letswork.hub.state import HubState
from letswork.hub.store.changes import ChangeRow
from letswork.shared.errors import ErrorCode, op_error
from letswork.shared.protocol.changes import ChangeInfo, proposal_sha256

__all__ = ["check_shown", "digest", "with_digest", "write_checked"]


def digest(row: ChangeRow) -> str:
    """``row``'s ``proposal_sha256`` (:func:`letswork.shared.protocol.changes.proposal_sha256`)."""
    return proposal_sha256(row.kind, row.path, row.new_path, row.base_sha256, row.new_sha256)


def with_digest(info: ChangeInfo, row: ChangeRow) -> ChangeInfo:
    """``info`` (the view of ``row``) carrying its ``proposal_sha256`` and ``revision``, for a
    request that asked for them (an older client refuses a field it does not know)."""
    return info.model_copy(update={"proposal_sha256": digest(row), "revision": row.revision})


def check_shown(row: ChangeRow, shown: str | None) -> None:
    """Refuse to approve ``row`` when the caller showed another proposal (``shown``: the
    ``proposal_sha256`` it passed; None, an older caller: nothing is checked).

    Raises:
        OpError: ``conflict``, with ``data.proposal_sha256`` the change's digest now: it was
            resubmitted (or merged) since it was shown; nothing is written and it stays as it
            is.
    """
    if shown is None:
        return
    now = digest(row)
    if shown != now:
        raise op_error(
            ErrorCode.CONFLICT,
            f"change {row.id} is not the proposal you were shown: its author resubmitted it "
            f"(update_change) since, or it was merged; it is revision {row.revision} now. "
            f"Nothing was written and it is still {row.status}. Review it again (get_change "
            f"{row.id}) and approve what you see (its proposal_sha256 is now given here).",
            change_id=row.id,
            proposal_sha256=now,
            revision=row.revision,
        )


def write_checked(ctx: HubState, row: ChangeRow) -> None:
    """Worker: :func:`write_change`, after checking that a write's or edit's content, as read
    back from the store (the row or the blobs file), still hashes to ``row.new_sha256``, the
    value its digest names. Hashing 64 MiB here costs ~54 ms, off the loop (hashlib lets go of
    the GIL).

    Raises:
        OpError: ``conflict`` when the stored bytes are not those the digest names (the store
            was changed under the hub); nothing is written.
    """
    check_stored_content(row)
    write_change(ctx, row)
