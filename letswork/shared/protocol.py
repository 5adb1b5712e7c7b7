"""The message catalogue: every application message that travels inside the record layer.

Design section 5. Three shapes travel, each one JSON object per record, UTF-8, compact::

    request   {"id": n, "op": "...", "args": {...}}                     peer -> hub
    response  {"id": n, "ok": true, "result": {...}}                    hub -> peer
              {"id": n, "ok": false, "error": {"code", "message", "data"}}
    event     {"event": "...", "seq": n, "data": {...}}                 hub -> peer

This module is the one place that says which ops and events exist and what their fields are:
:data:`OPS` maps an op name to its :class:`OpSpec` (argument model, result model, roles allowed,
error codes), :data:`EVENTS` maps an event name to its :class:`EventSpec`. Every model is a
frozen pydantic model that validates itself strictly (no coercion, no unknown fields, bounded
strings), so a value that exists is a valid one.

The functions are pure, bytes in and bytes out:

- the hub reads with :func:`decode_request` and writes with :func:`encode_response_ok`,
  :func:`encode_response_error` and :func:`encode_event`;
- the channel writes with :func:`encode_request`, reads with :func:`decode_incoming`, then
  validates a result with :func:`parse_result` and an event's data with
  :func:`parse_event_data`.

Decoding never raises anything but :class:`~letswork.shared.errors.ProtocolError`, whatever the
bytes; its ``data["reason"]`` says what was wrong (:data:`REASONS`) and ``data["field"]`` where.
Encoding validates too, and refuses with an :class:`~letswork.shared.errors.OpError` carrying
the code, message and data the other side would have answered with, so a request refused before
it is sent looks the same to the caller as one the hub refused.

Adding an op: write its args and result models, add an :func:`_op` line to the catalogue below,
an example to ``tests/shared/test_protocol.py`` and a section to the protocol document.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from itertools import accumulate
from types import MappingProxyType
from typing import Annotated, Any, Literal, NoReturn

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from letswork.shared import limits
from letswork.shared.errors import ErrorCode, LetsworkError, OpError, ProtocolError

__all__ = [
    "ALL_ROLES",
    "COMMON_ERRORS",
    "EVENTS",
    "MAX_ID",
    "MAX_TIMESTAMP",
    "OPS",
    "REASONS",
    "ActivityEntry",
    "ActivityLogArgs",
    "ActivityLogResult",
    "AddTaskArgs",
    "AdmittedData",
    "BoardResult",
    "CapabilityCard",
    "CardResult",
    "ChangeDecidedData",
    "ChangeDetail",
    "ChangeIdArgs",
    "ChangeInfo",
    "ChangeKind",
    "ChangeList",
    "ChangeResult",
    "ChangeStatus",
    "ChangeSubmittedData",
    "CreateInviteArgs",
    "CreateInviteResult",
    "DeleteFileArgs",
    "DeleteVarResult",
    "EditFileArgs",
    "Empty",
    "Entry",
    "Event",
    "EventSpec",
    "FileChangedData",
    "FindFilesArgs",
    "FindFilesResult",
    "ForceUnlockResult",
    "GetMessagesArgs",
    "GetMessagesResult",
    "GetVarArgs",
    "GetVarResult",
    "GuestRole",
    "HelloArgs",
    "HelloResult",
    "InviteInfo",
    "LeaveResult",
    "ListFilesArgs",
    "ListFilesResult",
    "ListInvitesResult",
    "ListPeersResult",
    "LockFileArgs",
    "LockInfo",
    "LockReleasedData",
    "LockResult",
    "LockTakenData",
    "MarkReadArgs",
    "MarkReadResult",
    "MessageData",
    "MessageInfo",
    "MessageReceiptData",
    "MessageRef",
    "MessageRefArgs",
    "MessageResult",
    "MessageType",
    "MoveFileArgs",
    "MyChangesArgs",
    "NameArgs",
    "NameChangedData",
    "NameReasonArgs",
    "NameResult",
    "OpSpec",
    "PathArgs",
    "PeerData",
    "PeerInfo",
    "PeerLeftData",
    "PendingChangesArgs",
    "PingResult",
    "PlanArgs",
    "PlanResult",
    "PlanTaskArgs",
    "PresenceInfo",
    "PublishCardArgs",
    "ReadFileArgs",
    "ReadFileResult",
    "ReasonData",
    "Receipt",
    "RejectChangeArgs",
    "Request",
    "Response",
    "RevokeInviteArgs",
    "RevokeInviteResult",
    "Role",
    "SearchFilesArgs",
    "SearchFilesResult",
    "SearchMatch",
    "SendMessageArgs",
    "SetVarArgs",
    "ShutdownResult",
    "StatusResult",
    "TaskIdArgs",
    "TaskInfo",
    "TaskPriority",
    "TaskResult",
    "TaskStatus",
    "TaskUpdatedData",
    "TrustResult",
    "UnlockResult",
    "UpdateTaskArgs",
    "VarChangedData",
    "VarInfo",
    "VarKeyArgs",
    "VarResult",
    "WireModel",
    "WriteFileArgs",
    "decode_incoming",
    "decode_request",
    "encode_event",
    "encode_request",
    "encode_response_error",
    "encode_response_ok",
    "error_from_response",
    "parse_event_data",
    "parse_result",
]

#: Largest request id and event sequence number: the largest integer a JSON number carries
#: exactly in every implementation (2**53 - 1, as in JavaScript's ``Number.MAX_SAFE_INTEGER``).
MAX_ID = 2**53 - 1

#: Every ``data["reason"]`` a decode function can put in a :class:`ProtocolError`.
REASONS = frozenset(
    {
        "too_large",  # the message is over the frame limit (code too_large)
        "not_json",  # not UTF-8, not JSON, or not I-JSON (NaN, duplicate key, lone surrogate)
        "too_deep",  # nested deeper than limits.MAX_JSON_DEPTH
        "not_object",  # the message (or a field that must be an object) is not an object
        "missing_field",  # a required field is absent
        "extra_field",  # a field the catalogue does not define
        "wrong_type",  # a field has the wrong JSON type
        "too_long",  # a string (or list) is over its maximum length (code too_large)
        "too_short",  # a string (or list) is under its minimum length
        "out_of_range",  # a number is outside its bounds
        "bad_value",  # right type, not an allowed value (enum, pattern, rule; file content
        # that is not valid Unicode has code binary_file)
        "unknown_op",  # the op is not in the catalogue (code unknown_op)
        "unknown_event",  # parse_event_data: the event is not in the catalogue
    }
)

Role = Literal["host", "editor", "viewer"]
GuestRole = Literal["editor", "viewer"]
ChangeKind = Literal["write", "edit", "delete", "move"]
ChangeStatus = Literal["pending", "applied", "rejected", "conflict"]

ALL_ROLES: frozenset[str] = frozenset({"host", "editor", "viewer"})
_HOST: frozenset[str] = frozenset({"host"})
_WRITERS: frozenset[str] = frozenset({"host", "editor"})

# --------------------------------------------------------------------------------------------
# Field types shared by the models.
# --------------------------------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def _file_text(value: Any) -> Any:
    """Refuse file content with an unpaired surrogate as ``binary_file``, the code the hub gives
    content that is not UTF-8 text (elsewhere pydantic refuses it as ``string_unicode``)."""
    # An ASCII string (an O(1) flag in CPython) has no surrogate, and encoding is ~10x faster
    # than scanning 1 MiB with the regex; the regex only runs on text that fails to encode.
    if (
        isinstance(value, str)
        and not value.isascii()
        and not _encodes(value)
        and _SURROGATE.search(value)
    ):
        raise PydanticCustomError(
            "binary_content", "content is not valid UTF-8 text (unpaired surrogate)"
        )
    return value


def _encodes(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_FileTextCheck = BeforeValidator(_file_text)

#: A path relative to the project root, ``/``-separated; ``""`` is the root. The hub's
#: ``safe_join`` decides whether it is acceptable; here only its length is checked.
RelPath = Annotated[str, Field(max_length=limits.MAX_PATH_CHARS)]
#: A relative path that must name something below the root (not empty).
FilePath = Annotated[str, Field(min_length=1, max_length=limits.MAX_PATH_CHARS)]
#: A SHA-256 digest as 64 lowercase hex digits.
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
#: A display name (design section 6). Reserved names are the hub's business.
DisplayName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=limits.MAX_DISPLAY_NAME_CHARS,
        pattern=r"^[A-Za-z0-9 ._-]+$",
    ),
]
#: Opaque identifiers chosen by the hub (peer ids, change ids).
Ident = Annotated[str, Field(min_length=1, max_length=64)]
#: Lowercase hex tokens chosen by the hub (invite ids).
HexToken = Annotated[str, Field(pattern=r"^[0-9a-f]{1,128}$")]
#: A credential secret the hub mints (resume secrets): 16 to 64 bytes as lowercase hex, an even
#: number of digits, the form a session file stores (the hub mints 32 bytes).
SecretHex = Annotated[str, Field(pattern=r"^(?:[0-9a-f]{2}){16,64}$")]
#: Short free text: reasons, patterns, globs.
ShortText = Annotated[str, Field(max_length=limits.MAX_SHORT_TEXT_CHARS)]
NonEmptyShortText = Annotated[str, Field(min_length=1, max_length=limits.MAX_SHORT_TEXT_CHARS)]
#: Invite labels.
Label = Annotated[str, Field(min_length=1, max_length=64)]
#: Free-form names of software (client, hub version); may be empty.
SoftwareName = Annotated[str, Field(max_length=64)]
#: Whole-file text sent by a peer; the hub re-checks the limit in bytes of UTF-8.
FileText = Annotated[str, Field(max_length=limits.MAX_FILE_BYTES_CEILING), _FileTextCheck]
NonEmptyFileText = Annotated[
    str, Field(min_length=1, max_length=limits.MAX_FILE_BYTES_CEILING), _FileTextCheck
]
#: The latest timestamp a message may carry: 9999-12-31T23:59:59Z, the last second that
#: ``time.gmtime`` and ``datetime`` can render on every platform.
MAX_TIMESTAMP = 253_402_300_799.0
#: Seconds since the Unix epoch.
Timestamp = Annotated[float, Field(ge=0, le=MAX_TIMESTAMP)]
#: Sizes, counts, line numbers and sequence numbers.
Count = Annotated[int, Field(ge=0, le=MAX_ID)]
MaxResults = Annotated[int, Field(ge=1, le=limits.MAX_RESULTS)]


class WireModel(BaseModel):
    """Base of every catalogue model: frozen, strict, no unknown fields, finite numbers.

    Every field whose type allows ``None`` defaults to ``None``; encoding leaves ``None`` fields
    out, so on the wire "absent" and ``null`` mean the same thing.
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        allow_inf_nan=False,
        hide_input_in_errors=True,
        defer_build=True,
    )


class Empty(WireModel):
    """No fields: ``{}``."""


# --------------------------------------------------------------------------------------------
# Reusable records.
# --------------------------------------------------------------------------------------------


class PeerInfo(WireModel):
    """One connected peer, as ``status`` reports it."""

    peer_id: Ident
    name: DisplayName
    role: Role
    state: Literal["online", "awaiting_admission"]
    trusted: bool
    connected_at: Timestamp


class LockInfo(WireModel):
    """A lock on one path. ``change_id`` is set when a pending change holds it."""

    path: FilePath
    holder: DisplayName
    expires_at: Timestamp
    change_id: Ident | None = None


class Entry(WireModel):
    """One item of a directory listing. ``size`` is in bytes (0 for a directory)."""

    path: FilePath
    kind: Literal["file", "dir", "symlink"]
    size: Count
    lock: LockInfo | None = None


class SearchMatch(WireModel):
    """One matching line; ``line`` counts from 1."""

    path: FilePath
    line: Annotated[int, Field(ge=1, le=MAX_ID)]
    text: str


class ChangeInfo(WireModel):
    """A proposed or applied change. ``diff`` is a unified diff, left out of some lists."""

    id: Ident
    author: DisplayName
    kind: ChangeKind
    path: FilePath
    new_path: FilePath | None = None
    base_sha256: Sha256 | None = None
    new_sha256: Sha256 | None = None
    status: ChangeStatus
    reason: ShortText | None = None
    diff: str | None = None
    created_at: Timestamp
    decided_at: Timestamp | None = None
    decided_by: DisplayName | None = None
    size: Count
    #: A decided change whose content and diff were pruned (only the newest decided changes
    #: keep theirs, ``MAX_DECIDED_WITH_DATA``); ``diff`` is then null. Sent only when true.
    data_pruned: bool = False
    #: Why the change needs the host's approval whoever proposes it: it touches a sensitive
    #: path (an ignore file, git attributes or modules, editor or CI config, hooks: the hub's
    #: ``SENSITIVE_PATHS``), e.g. ``".gitignore: an ignore file: it decides which files guests
    #: may see"``. Sent only for such a change; older hubs never send it.
    sensitive: ShortText | None = None


class InviteInfo(WireModel):
    """One invite, as ``list_invites`` reports it (never the code itself)."""

    invite_id: HexToken
    role: GuestRole
    label: Label | None = None
    created_at: Timestamp
    revoked: bool
    uses: Count


# --------------------------------------------------------------------------------------------
# Op arguments and results.
# --------------------------------------------------------------------------------------------


class HelloArgs(WireModel):
    name: DisplayName
    client: SoftwareName | None = None


class HelloResult(WireModel):
    peer_id: Ident
    name: DisplayName
    role: Role
    state: Literal["admitted", "awaiting_admission"]
    resume_secret: SecretHex | None = None
    project: ShortText
    hub_version: SoftwareName
    events_seq: Count


class PingResult(WireModel):
    now: Timestamp


class StatusResult(WireModel):
    project: ShortText
    you: PeerInfo
    peers: list[PeerInfo]
    locks: list[LockInfo]
    pending: Count


class NameArgs(WireModel):
    name: DisplayName


class NameReasonArgs(WireModel):
    name: DisplayName
    reason: ShortText | None = None


class NameResult(WireModel):
    name: DisplayName


class ListFilesArgs(WireModel):
    path: RelPath = ""
    recursive: bool = False
    depth: Annotated[int, Field(ge=1, le=64)] | None = None


class ListFilesResult(WireModel):
    entries: list[Entry]
    truncated: bool


class ReadFileArgs(WireModel):
    path: FilePath
    offset: Count = 0
    limit: Annotated[int, Field(ge=1, le=100_000)] | None = None


class ReadFileResult(WireModel):
    path: FilePath
    text: str
    sha256: Sha256
    offset: Count
    lines: Count
    total_lines: Count
    size: Count
    truncated: bool


class SearchFilesArgs(WireModel):
    pattern: NonEmptyShortText
    path: RelPath = ""
    regex: bool = False
    glob: NonEmptyShortText | None = None
    case_sensitive: bool = False
    max_results: MaxResults = 200


class SearchFilesResult(WireModel):
    matches: list[SearchMatch]
    truncated: bool
    files_scanned: Count
    #: The search stopped at its deadline (``SEARCH_DEADLINE_SECONDS``) before every file was
    #: searched; absent from older hubs.
    cut_short: bool = False


class FindFilesArgs(WireModel):
    glob: NonEmptyShortText
    path: RelPath = ""
    max_results: MaxResults = 200


class FindFilesResult(WireModel):
    paths: list[FilePath]
    truncated: bool


class WriteFileArgs(WireModel):
    path: FilePath
    content: FileText
    base_sha256: Sha256 | None = None


class EditFileArgs(WireModel):
    path: FilePath
    old_string: NonEmptyFileText
    new_string: FileText
    replace_all: bool = False
    base_sha256: Sha256 | None = None


class DeleteFileArgs(WireModel):
    path: FilePath
    base_sha256: Sha256 | None = None


class MoveFileArgs(WireModel):
    path: FilePath
    new_path: FilePath
    base_sha256: Sha256 | None = None


class ChangeResult(WireModel):
    """What a write, edit, delete or move did: applied at once, or queued for the host."""

    status: Literal["applied", "pending"]
    change: ChangeInfo


class PendingChangesArgs(WireModel):
    include_diff: bool = True


class MyChangesArgs(WireModel):
    status: ChangeStatus | None = None


class ChangeList(WireModel):
    changes: list[ChangeInfo]


class ChangeIdArgs(WireModel):
    id: Ident


class RejectChangeArgs(WireModel):
    id: Ident
    reason: ShortText | None = None


class ChangeDetail(WireModel):
    change: ChangeInfo


class LockFileArgs(WireModel):
    path: FilePath
    ttl_seconds: Annotated[float, Field(ge=1, le=86_400)] | None = None


class LockResult(WireModel):
    lock: LockInfo


class PathArgs(WireModel):
    path: FilePath


class UnlockResult(WireModel):
    released: bool


class ForceUnlockResult(WireModel):
    released: bool
    holder: DisplayName | None = None


class TrustResult(WireModel):
    name: DisplayName
    trusted: bool


class CreateInviteArgs(WireModel):
    role: GuestRole = "editor"
    label: Label | None = None


class CreateInviteResult(WireModel):
    invite_id: HexToken
    code: NonEmptyShortText
    role: GuestRole
    label: Label | None = None


class ListInvitesResult(WireModel):
    invites: list[InviteInfo]


class RevokeInviteArgs(WireModel):
    invite_id: HexToken | None = None
    label: Label | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> RevokeInviteArgs:
        if (self.invite_id is None) == (self.label is None):
            raise ValueError("give exactly one of invite_id, label")
        return self


class RevokeInviteResult(WireModel):
    invite_id: HexToken
    revoked: bool
    disconnected: list[DisplayName]


class ShutdownResult(WireModel):
    stopping: bool


# --------------------------------------------------------------------------------------------
# The collaboration layer: messages, task board, shared variables, presence, activity log.
# Text another person wrote travels as it is; the channel and the dashboard neutralise it at
# the exits (letswork.shared.sanitize). Here only sizes and characters are checked.
# --------------------------------------------------------------------------------------------

MessageType = Literal[
    "finding", "status", "question", "handoff", "task", "review", "context", "chat"
]
ReceiptStatus = Literal["sent", "delivered", "read"]
TaskStatus = Literal["open", "claimed", "in_progress", "blocked", "done", "failed"]
TaskPriority = Literal["low", "normal", "high", "critical"]
TaskChange = Literal["added", "claimed", "unclaimed", "updated", "unblocked", "blocked", "released"]

#: Ids the hub gives messages and tasks (positive integers).
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
#: A line number, counting from 1.
LineNumber = Annotated[int, Field(ge=1, le=MAX_ID)]
#: A message body; the hub also checks its size in bytes of UTF-8 (``MAX_CHAT_BYTES``).
MessageBody = Annotated[str, Field(min_length=1, max_length=limits.MAX_CHAT_BYTES)]
TaskTitle = Annotated[str, Field(min_length=1, max_length=limits.MAX_TASK_TITLE_CHARS)]
TaskDescription = Annotated[str, Field(max_length=limits.MAX_TASK_DESCRIPTION_CHARS)]
TaskNote = Annotated[str, Field(max_length=limits.MAX_TASK_NOTE_CHARS)]
#: A name for a task inside one ``plan`` call, so that its tasks can depend on each other.
PlanKey = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
VarKey = Annotated[
    str, Field(min_length=1, max_length=limits.MAX_VAR_KEY_CHARS, pattern=r"^[A-Za-z0-9_.:-]+$")
]
#: A variable key, or ``*`` for every variable.
VarKeyOrAll = Annotated[
    str,
    Field(
        min_length=1,
        max_length=limits.MAX_VAR_KEY_CHARS,
        pattern=r"^(?:\*|[A-Za-z0-9_.:-]+)$",
    ),
]
#: A variable's value; the hub also checks its size in bytes (``MAX_VAR_VALUE_BYTES``).
VarValue = Annotated[str, Field(max_length=limits.MAX_VAR_VALUE_BYTES)]
#: An audit entry's kind (``lock``, ``write_proposed``, ``message``, ...).
ActivityKind = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_]+$")]

# An absolute path where it starts a card string or follows a space, quote, '=', '(' or ','.
_ABSOLUTE_PATH = re.compile(r"""(?:^|[\s"'=(,;])(?:/|\\|~|[A-Za-z]:[\\/]|file:)""", re.I)


def _no_absolute_path(value: str) -> str:
    if _ABSOLUTE_PATH.search(value):
        raise ValueError("must not contain an absolute path (the card is shown to other people)")
    return value


#: A string of a capability card: no absolute paths (they reveal the user's folders).
CardText = Annotated[str, Field(max_length=64), AfterValidator(_no_absolute_path)]
CardName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_absolute_path)]


class MessageRefArgs(WireModel):
    """A file reference in ``send_message``: lines ``start_line``..``end_line`` of ``path``."""

    path: FilePath
    start_line: LineNumber
    end_line: LineNumber | None = None

    @model_validator(mode="after")
    def _ordered(self) -> MessageRefArgs:
        if self.end_line is not None and self.end_line < self.start_line:
            raise ValueError("end_line must not be before start_line")
        return self


class MessageRef(WireModel):
    """A file reference as the hub resolved it when the message was sent.

    ``text`` holds the lines (cut to ``MAX_REF_LINES`` lines and ``MAX_REF_TEXT_BYTES`` bytes,
    then ``truncated`` is true); it is ``null`` when the path is no longer shared with the
    reader. ``end_line`` is the last line actually attached.
    """

    path: FilePath
    start_line: LineNumber
    end_line: LineNumber
    text: str | None = None
    sha256: Sha256 | None = None
    truncated: bool = False


class Receipt(WireModel):
    """How far one recipient got with a message: ``sent`` (not yet delivered), ``delivered``,
    ``read``."""

    name: DisplayName
    status: ReceiptStatus
    delivered_at: Timestamp | None = None
    read_at: Timestamp | None = None


class MessageInfo(WireModel):
    """One message. ``to`` is ``null`` for a broadcast.

    ``read`` is set on messages the reader received (whether it had read it before this
    result); ``receipts`` on messages the reader sent.
    """

    id: RowId
    type: MessageType
    sender: DisplayName
    to: DisplayName | None = None
    body: MessageBody
    refs: list[MessageRef] = Field(default_factory=list)
    created_at: Timestamp
    read: bool | None = None
    receipts: list[Receipt] | None = None


class SendMessageArgs(WireModel):
    type: MessageType = "chat"
    body: MessageBody
    to: DisplayName | None = None
    refs: Annotated[list[MessageRefArgs], Field(max_length=limits.MAX_MESSAGE_REFS)] = Field(
        default_factory=list
    )


class MessageResult(WireModel):
    message: MessageInfo


class GetMessagesArgs(WireModel):
    since_id: Count | None = None
    sender: DisplayName | None = None
    type: MessageType | None = None
    limit: Annotated[int, Field(ge=1, le=limits.MAX_MESSAGES_PER_PAGE)] = 50
    include_read: bool = False
    mark_read: bool = True


class GetMessagesResult(WireModel):
    messages: list[MessageInfo]
    has_more: bool


class MarkReadArgs(WireModel):
    ids: Annotated[list[RowId], Field(min_length=1, max_length=limits.MAX_MESSAGES_PER_PAGE)]


class MarkReadResult(WireModel):
    marked: list[RowId]


class TaskInfo(WireModel):
    """One task of the board. ``waiting_on`` lists the dependencies not yet done.

    On the ``board``, ``description`` and ``note`` are cut to ``MAX_BOARD_TEXT_CHARS``
    characters and ``truncated`` is true when either was; ``get_task`` gives them whole.
    """

    id: RowId
    title: TaskTitle
    description: TaskDescription
    priority: TaskPriority
    status: TaskStatus
    assignee: DisplayName | None = None
    depends_on: list[RowId]
    waiting_on: list[RowId]
    note: TaskNote | None = None
    created_by: DisplayName
    created_at: Timestamp
    updated_at: Timestamp
    truncated: bool = False


class AddTaskArgs(WireModel):
    title: TaskTitle
    description: TaskDescription = ""
    priority: TaskPriority = "normal"
    depends_on: Annotated[list[RowId], Field(max_length=limits.MAX_TASK_DEPS)] = Field(
        default_factory=list
    )


class TaskResult(WireModel):
    task: TaskInfo


class PlanTaskArgs(WireModel):
    """One task of a ``plan``: ``depends_on`` names keys of this plan (strings) or the ids of
    existing tasks (integers)."""

    key: PlanKey
    title: TaskTitle
    description: TaskDescription = ""
    priority: TaskPriority = "normal"
    assignee: DisplayName | None = None
    depends_on: Annotated[list[RowId | PlanKey], Field(max_length=limits.MAX_TASK_DEPS)] = Field(
        default_factory=list
    )


class PlanArgs(WireModel):
    tasks: Annotated[list[PlanTaskArgs], Field(min_length=1, max_length=limits.MAX_PLAN_TASKS)]


class PlanResult(WireModel):
    tasks: list[TaskInfo]
    ids: dict[PlanKey, RowId]


class TaskIdArgs(WireModel):
    id: RowId


class UpdateTaskArgs(WireModel):
    id: RowId
    status: TaskStatus | None = None
    note: TaskNote | None = None


class BoardResult(WireModel):
    """Every task, grouped by status; in each group by priority (critical first), then id."""

    open: list[TaskInfo]
    claimed: list[TaskInfo]
    in_progress: list[TaskInfo]
    blocked: list[TaskInfo]
    done: list[TaskInfo]
    failed: list[TaskInfo]
    total: Count
    truncated: bool


class VarInfo(WireModel):
    """One shared variable; ``value`` is ``null`` only in a ``get_var *`` result too large to
    carry every value (get that key on its own). ``size`` is the value's size in bytes."""

    key: VarKey
    value: VarValue | None = None
    size: Count
    updated_by: DisplayName
    updated_at: Timestamp


class SetVarArgs(WireModel):
    key: VarKey
    value: VarValue


class VarResult(WireModel):
    var: VarInfo


class GetVarArgs(WireModel):
    key: VarKeyOrAll


class GetVarResult(WireModel):
    vars: list[VarInfo]
    truncated: bool


class VarKeyArgs(WireModel):
    key: VarKey


class DeleteVarResult(WireModel):
    deleted: bool


class CapabilityCard(WireModel):
    """What a peer chose to tell the others about its set-up."""

    client: CardText
    mcp_servers: Annotated[list[CardName], Field(max_length=limits.MAX_CARD_SERVERS)] = Field(
        default_factory=list
    )


class PublishCardArgs(WireModel):
    """``opt_in`` must be true: the user agreed to show this card to the session."""

    opt_in: bool
    client: CardText = ""
    mcp_servers: Annotated[list[CardName], Field(max_length=limits.MAX_CARD_SERVERS)] = Field(
        default_factory=list
    )


class CardResult(WireModel):
    card: CapabilityCard


class PresenceInfo(WireModel):
    """One connected peer with what it is doing.

    ``state`` is ``online`` when its last request (``ping`` aside) was under a minute ago,
    ``idle`` up to 15 minutes, ``away`` beyond; ``idle_minutes`` counts whole minutes.
    """

    peer_id: Ident
    name: DisplayName
    role: Role
    state: Literal["online", "idle", "away", "awaiting_admission"]
    idle_minutes: Count
    connected_at: Timestamp
    last_active_at: Timestamp
    locks: list[FilePath]
    tasks: list[RowId]
    card: CapabilityCard | None = None


class ListPeersResult(WireModel):
    peers: list[PresenceInfo]


class ActivityLogArgs(WireModel):
    actor: DisplayName | None = None
    kind: ActivityKind | None = None
    since: Timestamp | None = None
    limit: Annotated[int, Field(ge=1, le=limits.MAX_ACTIVITY_ENTRIES)] = 100


class ActivityEntry(WireModel):
    """One audit entry: who (``actor``, a display name) did what (``kind``), when, on which
    path, with small details."""

    id: RowId
    at: Timestamp
    actor: ShortText
    kind: ShortText
    path: RelPath | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class ActivityLogResult(WireModel):
    entries: list[ActivityEntry]


class LeaveResult(WireModel):
    """What this participant did in the session, counted over its whole identity (a guest
    across reconnects; for the host, every host connection)."""

    changes_proposed: Count
    changes_applied: Count
    changes_rejected: Count
    messages_sent: Count
    tasks_done: Count
    locks_released: Count
    tasks_released: Count


# --------------------------------------------------------------------------------------------
# Event data.
# --------------------------------------------------------------------------------------------


class PeerData(WireModel):
    """``peer_joined`` and ``awaiting_admission``."""

    peer_id: Ident
    name: DisplayName
    role: Role


class PeerLeftData(WireModel):
    peer_id: Ident
    name: DisplayName
    reason: ShortText


class AdmittedData(WireModel):
    name: DisplayName
    resume_secret: SecretHex | None = None


class ReasonData(WireModel):
    """``denied`` and ``kicked``."""

    reason: ShortText | None = None


class NameChangedData(WireModel):
    peer_id: Ident
    old: DisplayName
    new: DisplayName


class ChangeSubmittedData(WireModel):
    change: ChangeInfo


class ChangeDecidedData(WireModel):
    change: ChangeInfo

    @model_validator(mode="after")
    def _decided(self) -> ChangeDecidedData:
        if self.change.status == "pending":
            raise ValueError("a decided change cannot be pending")
        return self


class LockTakenData(WireModel):
    lock: LockInfo


class LockReleasedData(WireModel):
    path: FilePath
    holder: DisplayName
    reason: Literal["unlocked", "expired", "forced", "left", "decided"]


class FileChangedData(WireModel):
    path: FilePath
    change: Literal["created", "modified", "deleted"]
    by: DisplayName | None = None


class MessageData(WireModel):
    """``message``: sent to each recipient (and the sender's other connections)."""

    message: MessageInfo


class MessageReceiptData(WireModel):
    """``message_receipt``: sent to the sender when a recipient got or read its message."""

    message_id: RowId
    recipient: DisplayName
    status: Literal["delivered", "read"]
    at: Timestamp


class TaskUpdatedData(WireModel):
    """``task_updated``: ``by`` is absent when the hub changed the task itself (unblocked
    because its dependencies are done, blocked again, released when its assignee left)."""

    task: TaskInfo
    change: TaskChange
    by: DisplayName | None = None


class VarChangedData(WireModel):
    """``var_changed``: ``value`` is absent when the variable was deleted."""

    key: VarKey
    value: VarValue | None = None
    deleted: bool
    by: DisplayName
    at: Timestamp


# --------------------------------------------------------------------------------------------
# The catalogue.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OpSpec:
    """One op: its models, who may call it, and what it can fail with.

    Attributes:
        name: the wire name.
        args: the model ``args`` is validated against.
        result: the model of a successful ``result``.
        roles: the roles allowed to call it (the hub enforces; the channel never does).
        mutates: it changes the project, the hub's state or the session, rather than only
            reading; the hub commits such a change before it replies and audits it.
        errors: the codes specific to this op, beyond :data:`COMMON_ERRORS`.
        summary: one line for the protocol document and tool descriptions.
        group: the section of the protocol document it belongs to.
    """

    name: str
    args: type[BaseModel]
    result: type[BaseModel]
    roles: frozenset[str]
    mutates: bool
    errors: tuple[ErrorCode, ...]
    summary: str
    group: str


@dataclasses.dataclass(frozen=True)
class EventSpec:
    """One event: its data model and what it announces."""

    name: str
    data: type[BaseModel]
    summary: str


#: Codes any op can fail with (from the envelope, dispatch or transport), not repeated in
#: :attr:`OpSpec.errors` unless the op itself also raises them with a meaning of its own.
#: ``timeout`` and ``unavailable`` are produced by the channel, never sent by the hub.
COMMON_ERRORS: tuple[ErrorCode, ...] = (
    ErrorCode.INVALID,
    ErrorCode.UNKNOWN_OP,
    ErrorCode.TOO_LARGE,
    ErrorCode.FORBIDDEN,
    ErrorCode.NOT_ADMITTED,
    ErrorCode.RATE_LIMITED,
    ErrorCode.UNAVAILABLE,
    ErrorCode.TIMEOUT,
    ErrorCode.INTERNAL,
)

_E = ErrorCode
#: ``forbidden`` of its own: nobody reads git metadata, the host included (issue 13, item 1).
_FILE_READ_ERRORS = (_E.NOT_FOUND, _E.NOT_SHARED, _E.FORBIDDEN, _E.DISK_ERROR)
#: ``forbidden`` of its own: git metadata is never written, by anyone (issue 13, item 1).
_CHANGE_ERRORS = (
    _E.NOT_FOUND,
    _E.NOT_SHARED,
    _E.FORBIDDEN,
    _E.NOT_A_FILE,
    _E.LOCKED,
    _E.CONFLICT,
    _E.QUOTA_EXCEEDED,
    _E.DISK_ERROR,
)


def _op(
    name: str,
    args: type[BaseModel],
    result: type[BaseModel],
    roles: frozenset[str],
    summary: str,
    *,
    group: str,
    mutates: bool = False,
    errors: tuple[ErrorCode, ...] = (),
) -> OpSpec:
    return OpSpec(name, args, result, roles, mutates, errors, summary, group)


_OP_LIST = (
    # session
    _op(
        "hello",
        HelloArgs,
        HelloResult,
        ALL_ROLES,
        "Introduce this peer with a display name; the first request after the handshake.",
        group="session",
        errors=(_E.NAME_TAKEN, _E.QUOTA_EXCEEDED),
    ),
    _op("ping", Empty, PingResult, ALL_ROLES, "Check the hub is alive.", group="session"),
    _op(
        "status",
        Empty,
        StatusResult,
        ALL_ROLES,
        "Who is connected, which locks are held, how many changes wait.",
        group="session",
    ),
    _op(
        "set_display_name",
        NameArgs,
        NameResult,
        ALL_ROLES,
        "Change this peer's display name.",
        group="session",
        mutates=True,
        errors=(_E.NAME_TAKEN,),
    ),
    # files: reading
    _op(
        "list_files",
        ListFilesArgs,
        ListFilesResult,
        ALL_ROLES,
        "List a directory, optionally recursively.",
        group="files",
        errors=(*_FILE_READ_ERRORS, _E.NOT_A_FILE),
    ),
    _op(
        "read_file",
        ReadFileArgs,
        ReadFileResult,
        ALL_ROLES,
        "Read a text file, or a page of its lines.",
        group="files",
        errors=(*_FILE_READ_ERRORS, _E.NOT_A_FILE, _E.BINARY_FILE, _E.TOO_LARGE),
    ),
    _op(
        "search_files",
        SearchFilesArgs,
        SearchFilesResult,
        ALL_ROLES,
        "Search the shared text files for a string or regular expression.",
        group="files",
        errors=_FILE_READ_ERRORS,
    ),
    _op(
        "find_files",
        FindFilesArgs,
        FindFilesResult,
        ALL_ROLES,
        "Find shared paths matching a glob.",
        group="files",
        errors=_FILE_READ_ERRORS,
    ),
    # files: changing
    _op(
        "write_file",
        WriteFileArgs,
        ChangeResult,
        _WRITERS,
        "Create or replace a whole file.",
        group="changes",
        mutates=True,
        errors=(*_CHANGE_ERRORS, _E.BINARY_FILE, _E.TOO_LARGE),
    ),
    _op(
        "edit_file",
        EditFileArgs,
        ChangeResult,
        _WRITERS,
        "Replace an exact string in a file.",
        group="changes",
        mutates=True,
        errors=(*_CHANGE_ERRORS, _E.BINARY_FILE, _E.TOO_LARGE, _E.NO_MATCH, _E.AMBIGUOUS),
    ),
    _op(
        "delete_file",
        DeleteFileArgs,
        ChangeResult,
        _WRITERS,
        "Delete a file.",
        group="changes",
        mutates=True,
        errors=_CHANGE_ERRORS,
    ),
    _op(
        "move_file",
        MoveFileArgs,
        ChangeResult,
        _WRITERS,
        "Move or rename a file.",
        group="changes",
        mutates=True,
        errors=(*_CHANGE_ERRORS, _E.EXISTS),
    ),
    # the approval queue
    _op(
        "pending_changes",
        PendingChangesArgs,
        ChangeList,
        _HOST,
        "List the changes waiting for the host's decision.",
        group="approvals",
    ),
    _op(
        "my_changes",
        MyChangesArgs,
        ChangeList,
        ALL_ROLES,
        "List the changes this peer proposed, optionally by status.",
        group="approvals",
    ),
    _op(
        "get_change",
        ChangeIdArgs,
        ChangeDetail,
        ALL_ROLES,
        "Show one change with its diff (guests see only their own).",
        group="approvals",
        errors=(_E.NOT_FOUND,),
    ),
    _op(
        "approve_change",
        ChangeIdArgs,
        ChangeDetail,
        _HOST,
        "Apply a pending change (status conflict if the file moved on).",
        group="approvals",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.ALREADY_DECIDED, _E.FORBIDDEN, _E.QUOTA_EXCEEDED, _E.DISK_ERROR),
    ),
    _op(
        "reject_change",
        RejectChangeArgs,
        ChangeDetail,
        _HOST,
        "Reject a pending change, with an optional reason.",
        group="approvals",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.ALREADY_DECIDED),
    ),
    # locks
    _op(
        "lock_file",
        LockFileArgs,
        LockResult,
        _WRITERS,
        "Take (or refresh) the exclusive lock on a path.",
        group="locks",
        mutates=True,
        errors=(_E.NOT_SHARED, _E.LOCKED),
    ),
    _op(
        "unlock_file",
        PathArgs,
        UnlockResult,
        _WRITERS,
        "Release this peer's own lock on a path.",
        group="locks",
        mutates=True,
    ),
    _op(
        "force_unlock",
        PathArgs,
        ForceUnlockResult,
        _HOST,
        "Release anyone's lock on a path.",
        group="locks",
        mutates=True,
    ),
    # messages
    _op(
        "send_message",
        SendMessageArgs,
        MessageResult,
        ALL_ROLES,
        "Send a message to one peer or to everyone, optionally quoting lines of shared files.",
        group="messages",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.NOT_SHARED, _E.NOT_A_FILE, _E.BINARY_FILE, _E.DISK_ERROR),
    ),
    _op(
        "get_messages",
        GetMessagesArgs,
        GetMessagesResult,
        ALL_ROLES,
        "List messages to and from this peer (unread ones by default) and mark them read.",
        group="messages",
    ),
    _op(
        "mark_read",
        MarkReadArgs,
        MarkReadResult,
        ALL_ROLES,
        "Mark received messages read (the senders get a read receipt).",
        group="messages",
        mutates=True,
    ),
    # the task board
    _op(
        "add_task",
        AddTaskArgs,
        TaskResult,
        _WRITERS,
        "Add a task to the board, optionally depending on other tasks.",
        group="tasks",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.QUOTA_EXCEEDED),
    ),
    _op(
        "plan",
        PlanArgs,
        PlanResult,
        _WRITERS,
        "Add several tasks with assignees and dependencies at once, all or none.",
        group="tasks",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.QUOTA_EXCEEDED),
    ),
    _op(
        "claim_task",
        TaskIdArgs,
        TaskResult,
        _WRITERS,
        "Claim a task: it becomes yours until you finish, fail or unclaim it.",
        group="tasks",
        mutates=True,
        errors=(_E.NOT_FOUND,),
    ),
    _op(
        "unclaim_task",
        TaskIdArgs,
        TaskResult,
        _WRITERS,
        "Give a claimed task back to the board.",
        group="tasks",
        mutates=True,
        errors=(_E.NOT_FOUND,),
    ),
    _op(
        "update_task",
        UpdateTaskArgs,
        TaskResult,
        _WRITERS,
        "Change a task's status and/or its result note.",
        group="tasks",
        mutates=True,
        errors=(_E.NOT_FOUND,),
    ),
    _op(
        "board",
        Empty,
        BoardResult,
        ALL_ROLES,
        "Show every task, grouped by status.",
        group="tasks",
    ),
    _op(
        "get_task",
        TaskIdArgs,
        TaskResult,
        ALL_ROLES,
        "Show one task with its whole description and note.",
        group="tasks",
        errors=(_E.NOT_FOUND,),
    ),
    # shared variables
    _op(
        "set_var",
        SetVarArgs,
        VarResult,
        _WRITERS,
        "Set a shared variable.",
        group="variables",
        mutates=True,
        errors=(_E.QUOTA_EXCEEDED,),
    ),
    _op(
        "get_var",
        GetVarArgs,
        GetVarResult,
        ALL_ROLES,
        "Read one shared variable, or all of them with '*'.",
        group="variables",
        errors=(_E.NOT_FOUND,),
    ),
    _op(
        "delete_var",
        VarKeyArgs,
        DeleteVarResult,
        _WRITERS,
        "Delete a shared variable.",
        group="variables",
        mutates=True,
    ),
    # presence and activity
    _op(
        "list_peers",
        Empty,
        ListPeersResult,
        ALL_ROLES,
        "Who is here, how active, and what each holds: locks, claimed tasks, capability card.",
        group="presence",
    ),
    _op(
        "publish_card",
        PublishCardArgs,
        CardResult,
        ALL_ROLES,
        "Show the others this peer's client and MCP servers (only with the user's opt-in).",
        group="presence",
        mutates=True,
    ),
    _op(
        "activity_log",
        ActivityLogArgs,
        ActivityLogResult,
        ALL_ROLES,
        "Read the session's activity log, filtered by actor, kind and time.",
        group="presence",
    ),
    _op(
        "leave",
        Empty,
        LeaveResult,
        ALL_ROLES,
        "End this session with a summary; releases this peer's locks and claimed tasks.",
        group="presence",
        mutates=True,
    ),
    # people and invites
    _op(
        "admit",
        NameArgs,
        NameResult,
        _HOST,
        "Admit a guest that is awaiting admission.",
        group="admin",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.QUOTA_EXCEEDED, _E.NAME_TAKEN),
    ),
    _op(
        "deny",
        NameReasonArgs,
        NameResult,
        _HOST,
        "Refuse a guest that is awaiting admission.",
        group="admin",
        mutates=True,
        errors=(_E.NOT_FOUND,),
    ),
    _op(
        "kick",
        NameReasonArgs,
        NameResult,
        _HOST,
        "Disconnect a guest and release its locks.",
        group="admin",
        mutates=True,
        errors=(_E.NOT_FOUND,),
    ),
    _op(
        "trust",
        NameArgs,
        TrustResult,
        _HOST,
        "Apply a guest's changes at once instead of queueing them.",
        group="admin",
        mutates=True,
        errors=(_E.NOT_FOUND,),
    ),
    _op(
        "untrust",
        NameArgs,
        TrustResult,
        _HOST,
        "Queue a guest's changes for approval again.",
        group="admin",
        mutates=True,
        errors=(_E.NOT_FOUND,),
    ),
    _op(
        "create_invite",
        CreateInviteArgs,
        CreateInviteResult,
        _HOST,
        "Create an invite code for an editor or a viewer.",
        group="admin",
        mutates=True,
    ),
    _op(
        "list_invites",
        Empty,
        ListInvitesResult,
        _HOST,
        "List the invites, revoked ones included.",
        group="admin",
    ),
    _op(
        "revoke_invite",
        RevokeInviteArgs,
        RevokeInviteResult,
        _HOST,
        "Revoke an invite and disconnect the peers that joined with it.",
        group="admin",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.AMBIGUOUS),
    ),
    _op(
        "shutdown",
        Empty,
        ShutdownResult,
        _HOST,
        "Stop the hub after telling every peer.",
        group="admin",
        mutates=True,
    ),
)

#: Every op, by name, in the order of the protocol document.
OPS: Mapping[str, OpSpec] = MappingProxyType({spec.name: spec for spec in _OP_LIST})

_EVENT_LIST = (
    EventSpec("peer_joined", PeerData, "A peer was admitted and is online."),
    EventSpec("peer_left", PeerLeftData, "A peer disconnected, was kicked or was denied."),
    EventSpec("awaiting_admission", PeerData, "A guest said hello and waits for the host."),
    EventSpec("admitted", AdmittedData, "Sent to the guest itself: the host admitted it."),
    EventSpec("denied", ReasonData, "Sent to the guest itself: the host refused it."),
    EventSpec("name_changed", NameChangedData, "A peer changed its display name."),
    EventSpec("change_submitted", ChangeSubmittedData, "A change was queued (no diff)."),
    EventSpec(
        "change_decided", ChangeDecidedData, "A change was applied, rejected or hit a conflict."
    ),
    EventSpec("lock_taken", LockTakenData, "A path was locked."),
    EventSpec("lock_released", LockReleasedData, "A lock was released, and why."),
    EventSpec("file_changed", FileChangedData, "A shared file was created, modified or deleted."),
    EventSpec("message", MessageData, "A message for this peer (directed or broadcast)."),
    EventSpec(
        "message_receipt",
        MessageReceiptData,
        "Sent to a message's sender: a recipient got it, or read it.",
    ),
    EventSpec("task_updated", TaskUpdatedData, "A task was added or changed."),
    EventSpec("var_changed", VarChangedData, "A shared variable was set or deleted."),
    EventSpec("kicked", ReasonData, "Sent to the guest itself: the host disconnected it."),
    EventSpec("hub_stopping", Empty, "The hub is shutting down."),
)

#: Every event, by name, in the order of the protocol document.
EVENTS: Mapping[str, EventSpec] = MappingProxyType({spec.name: spec for spec in _EVENT_LIST})


# --------------------------------------------------------------------------------------------
# Decoded messages.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Request:
    """A validated request; ``args`` is an instance of ``OPS[op].args``."""

    id: int
    op: str
    args: BaseModel

    @property
    def spec(self) -> OpSpec:
        """The catalogue entry of :attr:`op`."""
        return OPS[self.op]


@dataclasses.dataclass(frozen=True)
class Response:
    """A response with a valid envelope; ``result`` is not yet checked (see :func:`parse_result`).

    ``id`` is ``None`` only in an error response to a request whose id could not be read.
    ``error`` is ``{"code": str, "message": str, "data": dict}``, ``data`` defaulting to ``{}``.
    """

    id: int | None
    ok: bool
    result: dict[str, Any] | None
    error: dict[str, Any] | None


@dataclasses.dataclass(frozen=True)
class Event:
    """An event with a valid envelope; its ``data`` is checked by :func:`parse_event_data`."""

    name: str
    seq: int
    data: dict[str, Any]


# --------------------------------------------------------------------------------------------
# JSON in and out.
# --------------------------------------------------------------------------------------------

# A complete JSON string, or an unterminated one running to the end of the text. UTF-8 never
# puts the bytes of '"', '\\', '[', ']', '{' or '}' inside a multi-byte character, so scanning
# bytes is exact.
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|".*', re.DOTALL)
# Brackets to +1 / -1 (as signed bytes); every other byte deleted.
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _fail(
    reason: str,
    message: str,
    *,
    code: ErrorCode = ErrorCode.INVALID,
    id: int | None = None,
    field: str | None = None,
) -> NoReturn:
    data: dict[str, Any] = {"reason": reason}
    if id is not None:
        data["id"] = id
    if field is not None:
        data["field"] = field
    raise ProtocolError(message, code=code, data=data)


def _json_depth(data: bytes) -> int:
    """The deepest bracket nesting of ``data`` outside strings, found without recursion.

    This is the depth the JSON parser would recurse to before it finishes or fails: an
    unterminated string hides everything after it, because the parser stops there.
    """
    if data.count(b"[") + data.count(b"{") <= limits.MAX_JSON_DEPTH:
        return 0  # cannot be too deep; skip the scan
    steps = _STRINGS.sub(b"", data).translate(_BRACKET_STEPS, _NOT_BRACKETS)
    return max(accumulate(memoryview(steps).cast("b")), default=0)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number too large")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


#: json.loads with these options builds a new decoder per call; one is enough.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_keys, parse_constant=_reject_constant, parse_float=_finite_float
)


def _load_object(data: bytes, max_bytes: int) -> dict[str, Any]:
    """Bytes to a JSON object, enforcing size, UTF-8, depth and I-JSON (RFC 7493)."""
    if len(data) > max_bytes:
        _fail(
            "too_large",
            f"message is {len(data)} bytes, over the limit of {max_bytes}",
            code=ErrorCode.TOO_LARGE,
        )
    try:
        data = bytes(data)
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        _fail("not_json", "message is not valid UTF-8")
    if _json_depth(data) > limits.MAX_JSON_DEPTH:
        _fail("too_deep", f"message is nested deeper than {limits.MAX_JSON_DEPTH} levels")
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        _fail("too_deep", f"message is nested deeper than {limits.MAX_JSON_DEPTH} levels")
    except ValueError as exc:
        _fail("not_json", f"message is not JSON: {_clip(str(exc), 120)}")
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        _fail("not_json", "message is not JSON: a string has an unpaired surrogate")
    if not isinstance(value, dict):
        _fail("not_object", f"message must be a JSON object, not {_json_type(value)}")
    return value


def _dumps(value: Any, max_bytes: int) -> bytes:
    try:
        out = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
            "utf-8"
        )
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise OpError(
            f"cannot encode message: {_clip(str(exc), 120)}",
            code=ErrorCode.INTERNAL,
            data={"reason": "not_json"},
        ) from None
    if len(out) > max_bytes:
        raise OpError(
            f"message is {len(out)} bytes, over the limit of {max_bytes}",
            code=ErrorCode.TOO_LARGE,
            data={"reason": "too_large"},
        )
    return out


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# --------------------------------------------------------------------------------------------
# Validation errors to reasons.
# --------------------------------------------------------------------------------------------

_EXPECTED = {
    "int_type": "integer",
    "float_type": "number",
    "string_type": "string",
    "bool_type": "boolean",
    "list_type": "array",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
}
_BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _where(prefix: str, loc: tuple[int | str, ...]) -> str:
    """``prefix.field[0].key``. A key can be whatever the other side sent (an unknown field, a
    mapping's key), so each is clipped to 64 characters, as :func:`_check_keys` does: an error
    message never quotes more than that of it, however large the key."""
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{_clip(str(part), 64)}"
    return out


def _explain(error: Mapping[str, Any]) -> tuple[ErrorCode, str, str]:
    """A pydantic error as ``(code, reason, text)``, never quoting the offending value."""
    kind: str = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    invalid = ErrorCode.INVALID
    if kind == "extra_forbidden":
        return invalid, "extra_field", "unknown field"
    if kind == "missing":
        return invalid, "missing_field", "field required"
    if kind == "string_too_long":
        return ErrorCode.TOO_LARGE, "too_long", f"string too long (max {ctx.get('max_length')})"
    if kind == "too_long":
        return ErrorCode.TOO_LARGE, "too_long", f"too many items (max {ctx.get('max_length')})"
    if kind == "string_too_short":
        return invalid, "too_short", f"string too short (min {ctx.get('min_length')})"
    if kind == "too_short":
        return invalid, "too_short", f"too few items (min {ctx.get('min_length')})"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = next((f"{_BOUNDS[k]} {v}" for k, v in ctx.items() if k in _BOUNDS), "?")
        return invalid, "out_of_range", f"number out of range (must be {bound})"
    if kind == "finite_number":
        return invalid, "out_of_range", "number must be finite"
    if kind.endswith("_type"):
        return invalid, "wrong_type", f"wrong type (expected {_EXPECTED.get(kind, kind[:-5])})"
    if kind == "literal_error":
        return invalid, "bad_value", f"must be {ctx.get('expected')}"
    if kind == "string_unicode":
        return invalid, "bad_value", "string is not valid Unicode (unpaired surrogate)"
    if kind == "string_pattern_mismatch":
        return invalid, "bad_value", f"does not match {ctx.get('pattern')}"
    code = ErrorCode.BINARY_FILE if kind == "binary_content" else invalid
    return code, "bad_value", str(error.get("msg", "invalid value")).removeprefix("Value error, ")


def _validation_failed(
    exc: ValidationError,
    prefix: str,
    *,
    id: int | None = None,
    error_cls: type[LetsworkError] = ProtocolError,
) -> LetsworkError:
    first = exc.errors(include_url=False, include_context=True, include_input=False)[0]
    code, reason, text = _explain(first)
    field = _where(prefix, tuple(first["loc"]))
    data: dict[str, Any] = {"reason": reason, "field": field}
    if id is not None:
        data["id"] = id
    more = exc.error_count() - 1
    suffix = f" (and {more} more)" if more else ""
    return error_cls(f"{field}: {text}{suffix}", code=code, data=data)


def _check_id(obj: Mapping[str, Any], key: str) -> int:
    if key not in obj:
        _fail("missing_field", f"{key}: field required", field=key)
    value = obj[key]
    if not isinstance(value, int) or isinstance(value, bool):
        _fail("wrong_type", f"{key}: wrong type (expected integer)", field=key)
    if not 0 <= value <= MAX_ID:
        _fail("out_of_range", f"{key}: number out of range (must be 0..{MAX_ID})", field=key)
    return value


def _check_keys(obj: Mapping[str, Any], allowed: frozenset[str], id: int | None) -> None:
    for key in obj:
        if key not in allowed:
            name = key if key.isidentifier() else repr(key)
            _fail("extra_field", f"{_clip(name, 64)}: unknown field", id=id, field=key[:64])


def _require_object(obj: Mapping[str, Any], key: str, id: int | None) -> dict[str, Any]:
    if key not in obj:
        _fail("missing_field", f"{key}: field required", id=id, field=key)
    value = obj[key]
    if not isinstance(value, dict):
        _fail("wrong_type", f"{key}: wrong type (expected object)", id=id, field=key)
    return value


def _require_op(obj: Mapping[str, Any], id: int | None) -> str:
    if "op" not in obj:
        _fail("missing_field", "op: field required", id=id, field="op")
    op = obj["op"]
    if not isinstance(op, str):
        _fail("wrong_type", "op: wrong type (expected string)", id=id, field="op")
    if op not in OPS:
        _fail(
            "unknown_op",
            f"unknown op {_clip(op, 64)!r}",
            code=ErrorCode.UNKNOWN_OP,
            id=id,
            field="op",
        )
    return op


# --------------------------------------------------------------------------------------------
# Requests (peer -> hub).
# --------------------------------------------------------------------------------------------

_REQUEST_KEYS = frozenset({"id", "op", "args"})


def decode_request(data: bytes, *, max_bytes: int = limits.MAX_FRAME_BYTES) -> Request:
    """Parse and validate one request.

    Raises:
        ProtocolError: for anything but a valid request. ``code`` is ``invalid``,
            ``unknown_op`` or ``too_large``; ``data`` holds ``reason`` (one of
            :data:`REASONS`), ``field`` when one field is at fault, and ``id`` once the
            request id has been read, so the hub can answer that request.
    """
    obj = _load_object(data, max_bytes)
    id = _check_id(obj, "id")
    _check_keys(obj, _REQUEST_KEYS, id)
    op = _require_op(obj, id)
    args = _require_object(obj, "args", id) if "args" in obj else {}
    try:
        model = OPS[op].args.model_validate(args)
    except ValidationError as exc:
        raise _validation_failed(exc, "args", id=id) from None
    return Request(id, op, model)


def encode_request(
    id: int,
    op: str,
    args: BaseModel | Mapping[str, Any] | None = None,
    *,
    max_bytes: int = limits.MAX_FRAME_BYTES,
) -> bytes:
    """Build a request, validating ``args`` against the op's model first.

    Raises:
        OpError: with the code, message and ``data`` (``reason``, ``field``) the hub would
            answer the same request with, had it been sent: ``unknown_op``, ``invalid``,
            ``too_large``, or ``binary_file`` for file content that is not valid Unicode.
    """
    _check_wire_int(id, "id")
    spec = OPS.get(op)
    if spec is None:
        raise OpError(
            f"unknown op {_clip(op, 64)!r}",
            code=ErrorCode.UNKNOWN_OP,
            data={"reason": "unknown_op", "field": "op"},
        )
    model = _as_model(spec.args, args, "args")
    body = {"id": id, "op": op, "args": model.model_dump(mode="json", exclude_none=True)}
    return _dumps(body, max_bytes)


def _check_wire_int(value: int, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise OpError(
            f"{name}: must be an integer in 0..{MAX_ID}",
            code=ErrorCode.INVALID,
            data={"reason": "out_of_range", "field": name},
        )


def _as_model(
    cls: type[BaseModel], value: BaseModel | Mapping[str, Any] | None, prefix: str
) -> BaseModel:
    if isinstance(value, BaseModel):
        if type(value) is not cls:
            raise OpError(
                f"{prefix}: must be a {cls.__name__}, not a {type(value).__name__}",
                code=ErrorCode.INVALID,
                data={"reason": "wrong_type", "field": prefix},
            )
        return value
    try:
        return cls.model_validate(dict(value or {}))
    except ValidationError as exc:
        raise _validation_failed(exc, prefix, error_cls=OpError) from None


# --------------------------------------------------------------------------------------------
# Responses and events (hub -> peer).
# --------------------------------------------------------------------------------------------


def encode_response_ok(
    id: int,
    result: BaseModel | Mapping[str, Any],
    *,
    max_bytes: int = limits.MAX_FRAME_BYTES,
) -> bytes:
    """Build a success response. A model is dumped without its ``None`` fields; a mapping is
    dumped as it is (the hub builds results from the models, so it is not validated twice).

    Raises:
        OpError: the message would be too large (code ``too_large``; the hub then answers
            with :func:`encode_response_error`), or the result cannot be encoded (``internal``).
    """
    _check_wire_int(id, "id")
    body = {"id": id, "ok": True, "result": _dump(result)}
    return _dumps(body, max_bytes)


def encode_response_error(
    id: int | None, error: LetsworkError, *, max_bytes: int = limits.MAX_FRAME_BYTES
) -> bytes:
    """Build an error response from ``error.to_wire()``; ``id`` is ``None`` (JSON ``null``)
    when the request's id could not be read.

    The message is clipped to :data:`limits.MAX_SHORT_TEXT_CHARS` characters (unpaired
    surrogates replaced), and ``data`` is dropped if it cannot be encoded or is too large, so
    that an error can always be reported.
    """
    if id is not None:
        _check_wire_int(id, "id")
    wire = error.to_wire()
    message = str(wire["message"]).encode("utf-8", "replace").decode("utf-8")
    wire["message"] = _clip(message, limits.MAX_SHORT_TEXT_CHARS)
    try:
        return _dumps({"id": id, "ok": False, "error": wire}, max_bytes)
    except OpError:
        wire["data"] = {}
        return _dumps({"id": id, "ok": False, "error": wire}, max_bytes)


def encode_event(
    name: str,
    seq: int,
    data: BaseModel | Mapping[str, Any],
    *,
    max_bytes: int = limits.MAX_FRAME_BYTES,
) -> bytes:
    """Build an event. A mapping is validated against the event's model first.

    Raises:
        OpError: unknown event, bad seq, invalid data (as :func:`encode_request`), too large.
    """
    _check_wire_int(seq, "seq")
    spec = EVENTS.get(name)
    if spec is None:
        raise OpError(
            f"unknown event {_clip(name, 64)!r}",
            code=ErrorCode.INVALID,
            data={"reason": "unknown_event", "field": "event"},
        )
    model = _as_model(spec.data, data, "data")
    body = {"event": name, "seq": seq, "data": _dump(model)}
    return _dumps(body, max_bytes)


def _dump(value: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return dict(value)


class _WireError(WireModel):
    code: Ident
    message: ShortText
    data: dict[str, Any] = Field(default_factory=dict)


_RESPONSE_KEYS = frozenset({"id", "ok", "result", "error"})
_EVENT_KEYS = frozenset({"event", "seq", "data"})


def decode_incoming(data: bytes, *, max_bytes: int = limits.MAX_FRAME_BYTES) -> Response | Event:
    """Parse one message from the hub: a response or an event, told apart by the ``event`` key.

    Only the envelope is checked here; the channel knows which op a response answers and
    checks its result with :func:`parse_result`, and an event's data with
    :func:`parse_event_data`. An error response's ``error`` is checked here.

    An event name the catalogue does not know is accepted here (a newer hub may send it), so
    that the connection survives; :func:`parse_event_data` rejects it.

    Raises:
        ProtocolError: as for :func:`decode_request`.
    """
    obj = _load_object(data, max_bytes)
    if "event" in obj:
        _check_keys(obj, _EVENT_KEYS, None)
        name = obj["event"]
        if not isinstance(name, str):
            _fail("wrong_type", "event: wrong type (expected string)", field="event")
        if not 1 <= len(name) <= 64:
            _fail("bad_value", "event: must be 1 to 64 characters", field="event")
        seq = _check_id(obj, "seq")
        return Event(name, seq, _require_object(obj, "data", None))
    if "ok" not in obj:
        field = "ok" if "id" in obj else "event"
        _fail(
            "missing_field",
            f"{field}: field required (neither a response nor an event)",
            field=field,
        )
    id = None if obj.get("id", 0) is None else _check_id(obj, "id")
    _check_keys(obj, _RESPONSE_KEYS, id)
    ok = obj["ok"]
    if not isinstance(ok, bool):
        _fail("wrong_type", "ok: wrong type (expected boolean)", id=id, field="ok")
    if ok:
        if id is None:
            _fail("wrong_type", "id: wrong type (expected integer)", field="id")
        if "error" in obj:
            _fail("extra_field", "error: unknown field in a success response", id=id, field="error")
        return Response(id, True, _require_object(obj, "result", id), None)
    if "result" in obj:
        _fail("extra_field", "result: unknown field in an error response", id=id, field="result")
    raw_error = _require_object(obj, "error", id)
    try:
        error = _WireError.model_validate(raw_error)
    except ValidationError as exc:
        raise _validation_failed(exc, "error", id=id) from None
    return Response(id, False, None, error.model_dump())


def parse_result(op: str, result: Mapping[str, Any]) -> BaseModel:
    """Validate a success ``result`` against ``OPS[op].result``.

    Raises:
        ProtocolError: ``unknown_op`` for an op not in the catalogue, else ``invalid`` with
            the reason and the ``result.``-prefixed field.
    """
    spec = OPS.get(op)
    if spec is None:
        _fail("unknown_op", f"unknown op {_clip(op, 64)!r}", code=ErrorCode.UNKNOWN_OP)
    return _parse(spec.result, result, "result")


def parse_event_data(name: str, data: Mapping[str, Any]) -> BaseModel:
    """Validate an event's ``data`` against ``EVENTS[name].data``.

    Raises:
        ProtocolError: reason ``unknown_event``, or ``invalid`` with the ``data.`` field.
    """
    spec = EVENTS.get(name)
    if spec is None:
        _fail("unknown_event", f"unknown event {_clip(name, 64)!r}")
    return _parse(spec.data, data, "data")


def _parse(cls: type[BaseModel], value: Mapping[str, Any], prefix: str) -> BaseModel:
    try:
        return cls.model_validate(dict(value))
    except ValidationError as exc:
        raise _validation_failed(exc, prefix) from None


def error_from_response(response: Response) -> OpError:
    """The error a failed response carries, as an :class:`OpError` the channel can raise.

    A code this version does not know becomes ``internal``, with the original code kept in
    ``data["code"]``.
    """
    if response.ok or response.error is None:
        raise ValueError("not an error response")
    raw = response.error
    data = dict(raw.get("data") or {})
    try:
        code = ErrorCode(raw["code"])
    except ValueError:
        code = ErrorCode.INTERNAL
        data["code"] = raw["code"]
    return OpError(str(raw["message"]), code=code, data=data)
