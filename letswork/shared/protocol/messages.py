"""The ``messages`` group: messages between peers, with file references and receipts, and the
``message`` and ``message_receipt`` events.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from letswork.shared import limits
from letswork.shared.errors import ErrorCode as _E
from letswork.shared.protocol.base import (
    ALL_ROLES,
    MAX_ID,
    Count,
    DisplayName,
    EventSpec,
    FilePath,
    OpSpec,
    RowId,
    Sha256,
    Timestamp,
    WireModel,
    op,
)

MessageType = Literal[
    "finding", "status", "question", "handoff", "task", "review", "context", "chat"
]
ReceiptStatus = Literal["sent", "delivered", "read"]
#: A line number, counting from 1.
LineNumber = Annotated[int, Field(ge=1, le=MAX_ID)]
#: A message body; the hub also checks its size in bytes of UTF-8 (``MAX_CHAT_BYTES``).
MessageBody = Annotated[str, Field(min_length=1, max_length=limits.MAX_CHAT_BYTES)]


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


class MessageData(WireModel):
    """``message``: sent to each recipient (and the sender's other connections)."""

    message: MessageInfo


class MessageReceiptData(WireModel):
    """``message_receipt``: sent to the sender when a recipient got or read its message."""

    message_id: RowId
    recipient: DisplayName
    status: Literal["delivered", "read"]
    at: Timestamp


OPS: tuple[OpSpec, ...] = (
    op(
        "send_message",
        SendMessageArgs,
        MessageResult,
        ALL_ROLES,
        "Send a message to one peer or to everyone, optionally quoting lines of shared files.",
        group="messages",
        mutates=True,
        errors=(_E.NOT_FOUND, _E.NOT_SHARED, _E.NOT_A_FILE, _E.BINARY_FILE, _E.DISK_ERROR),
    ),
    op(
        "get_messages",
        GetMessagesArgs,
        GetMessagesResult,
        ALL_ROLES,
        "List messages to and from this peer (unread ones by default) and mark them read.",
        group="messages",
    ),
    op(
        "mark_read",
        MarkReadArgs,
        MarkReadResult,
        ALL_ROLES,
        "Mark received messages read (the senders get a read receipt).",
        group="messages",
        mutates=True,
    ),
)

EVENTS: tuple[EventSpec, ...] = (
    EventSpec("message", MessageData, "A message for this peer (directed or broadcast)."),
    EventSpec(
        "message_receipt",
        MessageReceiptData,
        "Sent to a message's sender: a recipient got it, or read it.",
    ),
)
