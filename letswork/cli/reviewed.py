"""``letswork approve`` approves the proposal the host reviewed, never one resubmitted since
(a follow-up of issue 17): the change is read with its ``proposal_sha256`` and the approval
names it, so a change its author resubmitted (``update_change``) in between is refused by the
hub. What the host reviewed is, in order: the digest it passes (``--proposal``, as ``letswork
diff`` prints it), else at a terminal the diff printed here and confirmed, else (a script) the
change as read just before approving.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import click

from letswork.shared.errors import LetsworkError, UsageError
from letswork.ui import printer
from letswork.ui.printer import one_line

__all__ = ["MIN_PROPOSAL_PREFIX", "OLDER_HUB", "confirm_reviewed", "proposal_line"]

#: The fewest hex characters of a ``proposal_sha256`` that ``--proposal`` takes: 64 bits. The
#: author knows its first version's digest, so it could grind a resubmission sharing a short
#: prefix of it offline (32 bits take minutes); 64 bits are out of reach.
MIN_PROPOSAL_PREFIX = 16

_HEX = re.compile(rf"^[0-9a-f]{{{MIN_PROPOSAL_PREFIX},64}}$")

#: A hub older than proposal digests refuses the argument: there is nothing to pin then.
OLDER_HUB = (
    "the running hub was started by an older letswork, which cannot approve a change by the "
    "proposal reviewed; restart it (`letswork stop`, then `letswork start`) and review again"
)


def proposal_line(change: dict[str, Any]) -> str | None:
    """``proposal: <sha256> (revision N)`` for a change read with its digest, else None."""
    digest = change.get("proposal_sha256")
    if not digest:
        return None
    revision = change.get("revision")
    return f"proposal: {digest}" + (f" (revision {revision})" if revision else "")


def confirm_reviewed(change: dict[str, Any], expected: str | None, head: str) -> str | None:
    """The ``proposal_sha256`` to approve ``change`` (as just read) by, once the host's
    review is known to be of it: ``expected`` (``--proposal``, a prefix of at least
    ``MIN_PROPOSAL_PREFIX`` hex characters) must be its start; without it, at a terminal the
    change is printed (``head``, its one-line summary, then its diff) and a yes asked;
    otherwise (a script) it is approved as read. Returns None from an older hub (nothing to
    pin).

    Raises:
        UsageError: ``expected`` is not hex, or too short.
        LetsworkError: it is not this change's proposal (resubmitted since it was reviewed),
            or the hub is too old to pin one.
        SystemExit: 1, the host said no at the terminal.
    """
    digest = change.get("proposal_sha256")
    cid = one_line(str(change["id"]), 64)
    if expected is not None:
        wanted = expected.strip().lower()
        if not _HEX.fullmatch(wanted):
            raise UsageError(
                f"--proposal takes the proposal's sha256 (at least {MIN_PROPOSAL_PREFIX} hex "
                "characters), as `letswork diff` prints it"
            )
        if digest is None:
            raise LetsworkError(OLDER_HUB)
        if not digest.startswith(wanted):
            raise LetsworkError(
                f"change {cid} is not the proposal you reviewed: its author resubmitted it "
                f"since (revision {change.get('revision') or '?'} now, proposal {digest}). "
                f"Nothing was approved; review it again with `letswork diff {cid}`"
            )
        return str(digest)
    if sys.stdin.isatty():
        printer.echo(head)
        line = proposal_line(change)
        if line is not None:
            printer.echo(line)
        printer.echo(change.get("diff") or "")
        if not click.confirm("Approve this change as shown?", default=False):
            printer.echo(f"letswork: change {cid} was not approved", err=True)
            raise SystemExit(1)
    return None if digest is None else str(digest)
