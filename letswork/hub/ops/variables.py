"""The variables group: shared key/value variables (``set_var``, ``get_var``, ``delete_var``)."""

from __future__ import annotations

from letswork.hub.peers import Peer
from letswork.hub.state import Handler, HubState, json_size
from letswork.hub.store.variables import VarRow
from letswork.shared import limits as lim
from letswork.shared.errors import ErrorCode, op_error
from letswork.shared.protocol.variables import (
    DeleteVarResult,
    GetVarArgs,
    GetVarResult,
    SetVarArgs,
    VarInfo,
    VarKeyArgs,
    VarResult,
)


def _var_info(row: VarRow, *, with_value: bool = True) -> VarInfo:
    return VarInfo(
        key=row.key,
        value=row.value if with_value else None,
        size=len(row.value.encode("utf-8")),
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def set_var(ctx: HubState, peer: Peer, args: SetVarArgs, now: float) -> VarResult:
    size = len(args.value.encode("utf-8"))
    if size > lim.MAX_VAR_VALUE_BYTES:
        raise op_error(
            ErrorCode.TOO_LARGE,
            f"the value is {size} bytes; the limit is {lim.MAX_VAR_VALUE_BYTES}",
            size=size,
            limit=lim.MAX_VAR_VALUE_BYTES,
        )
    if ctx.store.get_var(args.key) is None and ctx.store.count_vars() >= lim.MAX_VARS:
        raise op_error(
            ErrorCode.QUOTA_EXCEEDED,
            f"there are {lim.MAX_VARS} variables, the limit; delete some first",
            limit=lim.MAX_VARS,
        )
    with ctx.store.transaction():
        row = ctx.store.set_var(args.key, args.value, peer.name, now)
        ctx.audit(peer, "var_set", now, key=args.key, size=size)
    ctx.broadcast(
        "var_changed",
        {"key": row.key, "value": row.value, "deleted": False, "by": peer.name, "at": now},
    )
    return VarResult(var=_var_info(row))


def get_var(ctx: HubState, peer: Peer, args: GetVarArgs, now: float) -> GetVarResult:
    if args.key != "*":
        row = ctx.store.get_var(args.key)
        if row is None:
            raise op_error(ErrorCode.NOT_FOUND, f"no variable {args.key!r}; get_var '*' lists them")
        return GetVarResult(vars=[_var_info(row)], truncated=False)
    out: list[VarInfo] = []
    total = 0
    truncated = False
    for row in ctx.store.list_vars():
        info = _var_info(row, with_value=not truncated)
        size = json_size(info)
        if not truncated and total + size > lim.MAX_LISTING_BYTES:
            truncated = True
            info = _var_info(row, with_value=False)
        out.append(info)
        total += size
    return GetVarResult(vars=out, truncated=truncated)


def delete_var(ctx: HubState, peer: Peer, args: VarKeyArgs, now: float) -> DeleteVarResult:
    with ctx.store.transaction():
        deleted = ctx.store.delete_var(args.key)
        if deleted:
            ctx.audit(peer, "var_delete", now, key=args.key)
    if deleted:
        ctx.broadcast("var_changed", {"key": args.key, "deleted": True, "by": peer.name, "at": now})
    return DeleteVarResult(deleted=deleted)


#: This group's ops, by name.
HANDLERS: dict[str, Handler] = {
    "set_var": set_var,
    "get_var": get_var,
    "delete_var": delete_var,
}
