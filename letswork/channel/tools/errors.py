"""Errors as tool results: ``code: message`` and a next step for the model.

The hub's message may quote paths and names other people chose, so it is cleaned, and kept on
one line: a hub cannot write a "Next step:" line of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from letswork.shared.errors import ErrorCode, LetsworkError, TransportError
from letswork.shared.sanitize import clean_line

__all__ = ["format_error"]

_NEXT: Mapping[ErrorCode, str] = {
    ErrorCode.INVALID: "fix the argument the message names and call again.",
    ErrorCode.UNKNOWN_OP: "this hub does not know the operation; it may be an older version.",
    ErrorCode.NOT_FOUND: "check the path, id or name (list_files, find_files, "
    "get_pending_changes, board, get_var '*', list_peers).",
    ErrorCode.NOT_SHARED: "the host does not share this path with you; do not retry it.",
    ErrorCode.EXISTS: "the target already exists: pick another new_path.",
    ErrorCode.NOT_A_FILE: "that path is a folder or a special file; use list_files on folders.",
    ErrorCode.LOCKED: "ask the holder to unlock it, or wait until the lock expires, then retry "
    "(get_status lists every lock).",
    ErrorCode.CONFLICT: "the file changed since you read it: read_file again and redo the "
    "change against the new content and sha256.",
    ErrorCode.NO_MATCH: "read_file again and copy old_string exactly, whitespace included.",
    ErrorCode.AMBIGUOUS: "include more surrounding lines in old_string so it occurs once, or "
    "set replace_all=true.",
    ErrorCode.TOO_LARGE: "the message names the limit. A text file up to the hub's text-file "
    "limit reads in pages (read_file offset/limit) and changes with edit_file; only a "
    "whole-file write_file is capped lower. A file over the text-file limit cannot be used "
    "through letswork. Other text: send less.",
    ErrorCode.BINARY_FILE: "only UTF-8 text files can be read or written through letswork.",
    ErrorCode.FORBIDDEN: "your role does not allow this, the path is git metadata (never read "
    "or written through letswork: do not retry), or the task is someone else's; ask the host "
    "(or the task's assignee).",
    ErrorCode.RATE_LIMITED: "too many requests at once: wait a moment and retry.",
    ErrorCode.QUOTA_EXCEEDED: "for pending changes, wait for the host to decide some "
    "(my_pending_changes shows them); for tasks or variables, the message names the limit.",
    ErrorCode.NOT_ADMITTED: "the host has not admitted you yet; an event tells you when they "
    "do. Retry after that.",
    ErrorCode.NAME_TAKEN: "pick another display name.",
    ErrorCode.ALREADY_DECIDED: "the change was already decided; my_pending_changes or "
    "get_pending_changes show its status.",
    ErrorCode.DISK_ERROR: "the host's disk refused the operation; tell the host.",
    ErrorCode.UNAVAILABLE: "letswork is reconnecting by itself; retry in a few seconds "
    "(ping tells you when the link is back).",
    ErrorCode.TIMEOUT: "the hub may be overloaded or the network slow; retry in a few seconds.",
    ErrorCode.AUTH_FAILED: "ask the host for a new invite and run `letswork join` with it.",
    ErrorCode.INTERNAL: "this is a bug in letswork; tell the host (the hub's log has details).",
}

#: The next step after ``approve_change`` named a proposal that is not the change's now.
_RESUBMITTED = (
    "the change was resubmitted since you reviewed it; nothing was written. Read it again "
    "with get_change, and approve_change with its new proposal_sha256 only if you approve "
    "what it shows now."
)

_MAYBE_DONE = (
    " The request may or may not have reached the hub before the link broke: check "
    "(read_file, my_pending_changes, get_status) before repeating it."
)


#: The longest ``retry_after`` a ``rate_limited`` message shows (a day, in seconds).
_MAX_RETRY_AFTER_SECONDS = 86_400.0


def format_error(exc: LetsworkError, *, mutating: bool, link: str, revoked: bool) -> str:
    """The text of an ``isError`` tool result: ``code: message`` and a next step.

    The hub's message may quote paths and names other people chose, so it is cleaned, and kept
    on one line: a hub cannot write a "Next step:" line of its own.
    """
    code = exc.code
    message = clean_line(exc.message, 4000)
    if isinstance(exc, TransportError) and revoked:
        return (
            f"auth_failed: {message}\nNext step: the hub no longer accepts this channel's "
            "credential (the invite was revoked, or you were removed). Ask the host for a new "
            "invite and run `letswork join` with it; letswork will not retry by itself."
        )
    text = f"{code.value}: {message}"
    retry_after = exc.data.get("retry_after")
    # The hub's data is free-form: only a sane number is shown (10**309 cannot be formatted).
    if (
        code == ErrorCode.RATE_LIMITED
        and isinstance(retry_after, (int, float))
        and not isinstance(retry_after, bool)
        and 0 <= retry_after <= _MAX_RETRY_AFTER_SECONDS
    ):
        text += f" (retry after {retry_after:.1f}s)"
    nxt = _NEXT.get(code, "see the message.")
    if code == ErrorCode.CONFLICT and "proposal_sha256" in exc.data:
        nxt = _RESUBMITTED  # approve_change of a proposal its author replaced since
    if isinstance(exc, TransportError) and not message.startswith("not connected"):
        # The link broke (or timed out) during this call: the message says how, not the state.
        text += f"\nLink to the hub: {clean_line(link, 300)}."
        if mutating:
            nxt += _MAYBE_DONE
    return f"{text}\nNext step: {nxt}"
