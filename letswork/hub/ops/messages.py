"""The messages group: ``send_message``, ``get_messages`` and ``mark_read``, with receipts
and the delivery of messages that waited for a participant.

Peer-supplied text is stored and sent exactly as received; only sizes and characters are
checked here. The channel and the dashboard neutralise it at the exits
(:mod:`letswork.shared.sanitize`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

from letswork.hub.peers import HOST_ID, Peer, Person, participant
from letswork.hub.state import Handler, HubState, Steps, dump, json_size
from letswork.hub.store.messages import MessageRow, ReceiptRow
from letswork.shared import limits as lim
from letswork.shared.errors import ErrorCode, OpError, op_error
from letswork.shared.protocol.messages import (
    GetMessagesArgs,
    GetMessagesResult,
    MarkReadArgs,
    MarkReadResult,
    MessageInfo,
    MessageResult,
    SendMessageArgs,
)


def _past_end(path: str, line: int, total: int) -> OpError:
    return op_error(
        ErrorCode.INVALID,
        f"line {line} is past the end of {path!r} ({total} lines)",
        total_lines=total,
    )


def _resolve_refs(ctx: HubState, refs: Iterable[Any]) -> list[dict[str, Any]]:
    """Read the referenced lines in the guests' view: a path that is not shared is
    ``not_shared`` whoever sends it, since the text may reach a guest."""
    out: list[dict[str, Any]] = []
    for ref in refs:
        end = ref.end_line if ref.end_line is not None else ref.start_line
        wanted = min(end - ref.start_line + 1, lim.MAX_REF_LINES)
        try:
            page = ctx.workspace.read_file(
                ref.path, offset=ref.start_line - 1, limit=wanted, is_host=False
            )
        except OpError as exc:
            if "total_lines" not in exc.data:
                raise
            total = exc.data["total_lines"]
            raise _past_end(ref.path, ref.start_line, total) from None
        if page.lines == 0:
            raise _past_end(page.path, ref.start_line, page.total_lines)
        pieces = page.text.split("\n")
        lines = [p + "\n" for p in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
        kept: list[str] = []
        size = 0
        truncated = end - ref.start_line + 1 > wanted and page.truncated
        for line in lines:
            n = len(line.encode("utf-8"))
            if size + n > lim.MAX_REF_TEXT_BYTES:
                truncated = True
                if not kept:  # one huge line: keep its start, cut at a character boundary
                    head = line.encode("utf-8")[: lim.MAX_REF_TEXT_BYTES]
                    kept.append(head.decode("utf-8", "ignore"))
                break
            kept.append(line)
            size += n
        out.append(
            {
                "path": page.path,
                "start_line": ref.start_line,
                "end_line": ref.start_line + len(kept) - 1,
                "text": "".join(kept),
                "sha256": page.sha256,
                "truncated": truncated,
            }
        )
    return out


def _message_info(
    ctx: HubState,
    row: MessageRow,
    reader: Peer | None,
    *,
    receipt: ReceiptRow | None = None,
    receipts: list[ReceiptRow] | None = None,
) -> MessageInfo:
    """``row`` as ``reader`` sees it: a guest gets no text of a path no longer shared.

    ``reader`` None is the hub's own view (for :attr:`observer`): no ``read``/``receipts``.
    """
    refs = []
    for ref in row.refs:
        ref = dict(ref)
        if (
            reader is not None
            and not reader.is_host
            and not ctx.workspace.rules.is_shared(ref["path"])
        ):
            ref["text"] = None
            ref["sha256"] = None
        refs.append(ref)
    info: dict[str, Any] = {
        "id": row.id,
        "type": row.type,
        "sender": row.sender_name,
        "to": row.to_name,
        "body": row.body,
        "refs": refs,
        "created_at": row.created_at,
    }
    if reader is None:
        return MessageInfo.model_validate(info)
    if row.sender_id == participant(reader):
        info["receipts"] = [
            {
                "name": r.recipient_name,
                "status": r.status,
                "delivered_at": r.delivered_at,
                "read_at": r.read_at,
            }
            for r in receipts or []
        ]
    else:
        info["read"] = receipt is not None and receipt.status == "read"
    return MessageInfo.model_validate(info)


def _notify_receipt(ctx: HubState, row: MessageRow, receipt: ReceiptRow) -> None:
    at = receipt.read_at if receipt.status == "read" else receipt.delivered_at
    data = {
        "message_id": row.id,
        "recipient": receipt.recipient_name,
        "status": receipt.status,
        "at": at,
    }
    for peer in ctx.connections(row.sender_id):
        ctx.send(peer, "message_receipt", data)


def deliver_pending(ctx: HubState, peer: Peer, now: float) -> None:
    """Send ``peer`` every message directed to its participant while it was away, each
    exactly once (its receipt becomes ``delivered``; the sender is told)."""
    ident = participant(peer)
    for row in ctx.store.undelivered(ident):
        receipt = ctx.store.advance_receipt(row.id, ident, peer.name, "delivered", now)
        ctx.send(peer, "message", {"message": dump(_message_info(ctx, row, peer))})
        if receipt is not None:
            _notify_receipt(ctx, row, receipt)


def after_reply(ctx: HubState, peer: Peer, now: float) -> bool:
    """Run what must follow the reply to ``peer``'s request; True when the session ended
    (``leave``), so the server closes the connection normally once the reply is out.

    Messages that waited for a participant are delivered here, after the ``hello``
    response, so that they reach a client that is ready for events.
    """
    if peer.deliver_pending and peer.admitted and not peer.closed:
        peer.deliver_pending = False
        deliver_pending(ctx, peer, now)
    return peer.closed


def _mark_read(ctx: HubState, peer: Peer, rows: Iterable[MessageRow], now: float) -> list[int]:
    ident = participant(peer)
    joined = ctx.joined_at(peer)
    marked: list[int] = []
    notes: list[tuple[MessageRow, ReceiptRow]] = []
    with ctx.store.transaction():
        for row in rows:
            if row.sender_id == ident or (row.to_id is not None and row.to_id != ident):
                continue
            if row.to_id is None and row.created_at < joined:
                continue  # a broadcast from before this guest joined stays invisible to it
            receipt = ctx.store.advance_receipt(row.id, ident, peer.name, "read", now)
            if receipt is not None:
                marked.append(row.id)
                notes.append((row, receipt))
    for row, receipt in notes:
        _notify_receipt(ctx, row, receipt)
    return marked


def send_message(
    ctx: HubState, peer: Peer, args: SendMessageArgs, now: float
) -> Steps[MessageResult]:
    size = len(args.body.encode("utf-8"))
    if size > ctx.limits.max_chat_bytes:
        raise op_error(
            ErrorCode.TOO_LARGE,
            f"the message is {size} bytes; the limit is {ctx.limits.max_chat_bytes}",
            size=size,
            limit=ctx.limits.max_chat_bytes,
        )
    me = participant(peer)
    target: Person | None = None
    if args.to is not None:
        target = ctx.resolve_person(args.to)
        if target.ident == me:
            raise op_error(ErrorCode.INVALID, "you cannot send a message to yourself")
    refs: list[dict[str, Any]] = []
    if args.refs:  # reading and hashing the files is a worker's job (HubCore.begin)
        refs = yield functools.partial(_resolve_refs, ctx, args.refs)
    stored = size + len(json.dumps(refs, ensure_ascii=False, separators=(",", ":")).encode())
    if stored > ctx.limits.max_message_stored_bytes:
        # Quoted text full of quotes, backslashes or control characters escapes to several
        # times its size in JSON: the stored row, not the raw text, is what is capped.
        raise op_error(
            ErrorCode.TOO_LARGE,
            f"with its file references the message would store {stored} bytes; the limit "
            f"is {ctx.limits.max_message_stored_bytes}: reference fewer lines",
            size=stored,
            limit=ctx.limits.max_message_stored_bytes,
        )
    if target is not None:
        readers = ctx.connections(target.ident)
        recipients = [(target.ident, target.name, "delivered" if readers else "sent")]
    else:
        names: dict[str, str] = {}
        for p in ctx.peers.values():
            if p.admitted and participant(p) != me:
                names.setdefault(participant(p), p.name)
        readers = [p for p in ctx.peers.values() if p.admitted and participant(p) != me]
        recipients = [(ident, name, "delivered") for ident, name in names.items()]
    with ctx.store.transaction():
        row = ctx.store.add_message(
            type=args.type,
            sender_id=me,
            sender_name=peer.name,
            to_id=target.ident if target else None,
            to_name=target.name if target else None,
            body=args.body,
            refs=refs,
            now=now,
            recipients=recipients,
        )
        ctx.audit(
            peer,
            "message",
            now,
            id=row.id,
            type=args.type,
            to=target.name if target else None,
            refs=[r["path"] for r in refs],
        )
    receipts = ctx.store.receipts([row.id])[row.id]
    # The recipients' connections, and the sender's other ones (the host's dashboard shows
    # what the host's assistant said).
    for reader in [*readers, *(p for p in ctx.connections(me) if p is not peer)]:
        info = _message_info(ctx, row, reader, receipts=receipts)
        ctx.send(reader, "message", {"message": dump(info)})
    if ctx.observer is not None and HOST_ID in (me, row.to_id or HOST_ID):
        # The host's log and dashboard see what the host could read: broadcasts and the
        # host's own conversations, not what two guests said to each other.
        ctx.observer("message", {"message": dump(_message_info(ctx, row, None))})
    return MessageResult(message=_message_info(ctx, row, peer, receipts=receipts))


def get_messages(ctx: HubState, peer: Peer, args: GetMessagesArgs, now: float) -> GetMessagesResult:
    me = participant(peer)
    rows = ctx.store.list_messages(
        me,
        since_id=args.since_id or 0,
        sender_name=args.sender,
        type=args.type,
        unread_only=not args.include_read,
        broadcasts_since=ctx.joined_at(peer),
        limit=args.limit + 1,
    )
    has_more = len(rows) > args.limit
    rows = rows[: args.limit]
    receipts = ctx.store.receipts([m.id for m, _ in rows if m.sender_id == me])
    messages: list[MessageInfo] = []
    total = 0
    for message, receipt in rows:
        info = _message_info(ctx, message, peer, receipt=receipt, receipts=receipts.get(message.id))
        size = json_size(info)
        if messages and total + size > lim.MAX_LISTING_BYTES:
            has_more = True
            break
        messages.append(info)
        total += size
    if args.mark_read:
        _mark_read(ctx, peer, [m for m, _ in rows[: len(messages)]], now)
    return GetMessagesResult(messages=messages, has_more=has_more)


def mark_read(ctx: HubState, peer: Peer, args: MarkReadArgs, now: float) -> MarkReadResult:
    rows = [row for mid in dict.fromkeys(args.ids) if (row := ctx.store.get_message(mid))]
    return MarkReadResult(marked=_mark_read(ctx, peer, rows, now))


#: This group's ops, by name.
HANDLERS: dict[str, Handler] = {
    "send_message": send_message,
    "get_messages": get_messages,
    "mark_read": mark_read,
}
