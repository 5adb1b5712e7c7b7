"""The tools of the ``variables`` ops (``shared/protocol/variables.py``): shared
key/value pairs. Values are other people's text: cleaned; a value too long for one
result is shown cut."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from letswork.channel.tools.base import PEER_TEXT, Budget, ToolContext, ToolSpec, indented
from letswork.shared import describe as say
from letswork.shared.protocol.variables import DeleteVarResult, GetVarResult, VarResult
from letswork.shared.sanitize import clean_line

__all__ = ["TOOLS"]


_VALUE_IN_LIST_CHARS = 300


def _r_set_var(r: VarResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    v = r.var
    return (
        f"Set the shared variable {clean_line(v.key, 128)} ({v.size} bytes). Everyone in the "
        "session is told (a var_changed event)."
    )


def _r_get_var(r: GetVarResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    if args.get("key") != "*":
        if not r.vars:  # pragma: no cover - the hub answers not_found instead
            return "No such variable."
        v = r.vars[0]
        head = (
            f"Shared variable {clean_line(v.key, 128)} ({v.size} bytes), set by "
            f"{say.who(v.updated_by)} at {say.stamp(v.updated_at)}; its value, as "
            "written, follows:"
        )
        budget = Budget([head])
        if not budget.fits(indented(v.value or "", "")):
            budget.cut_in(indented(v.value or "", ""), "... (the value is cut: too long to show)")
        return "\n".join(budget.lines)
    if not r.vars:
        return "There are no shared variables. set_var creates one."
    head = f"{say.count(len(r.vars), 'shared variable')} (values as written; get_var KEY shows one "
    head += "whole):"
    budget = Budget([head])
    for v in r.vars:
        key = clean_line(v.key, 128)
        if v.value is None:
            value = f"({v.size} bytes, too large for this list: get_var {key})"
        else:
            value = clean_line(v.value, _VALUE_IN_LIST_CHARS)
        line = f"- {key} = {value} (by {say.who(v.updated_by)})"
        if not budget.fits([line]):
            budget.lines.append("(The list was cut to fit: get_var KEY reads any variable.)")
            break
    return "\n".join(budget.lines)


def _r_delete_var(r: DeleteVarResult, args: Mapping[str, Any], ctx: ToolContext) -> str:
    key = clean_line(str(args.get("key", "")), 128)
    if r.deleted:
        return f"Deleted the shared variable {key}; everyone is told."
    return f"There was no shared variable {key}; nothing to do."


#: This group's tools, in the order the tool list shows them.
TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "set_var",
        "Set a shared variable",
        """Set a shared variable, a fact the team agrees on (a URL, a decision), replacing its
        value; everyone is told.""",
        _r_set_var,
        fields={
            "key": "Letters, digits, '_', '.', ':' or '-'.",
        },
        destructive=True,
        idempotent=True,
    ),
    ToolSpec(
        "get_var",
        "Read shared variables",
        f"""Read a shared variable, with who set it and when; key '*' lists them all.
        {PEER_TEXT}""",
        _r_get_var,
        fields={"key": "Its name, or '*' for all."},
        idempotent=True,
    ),
    ToolSpec(
        "delete_var",
        "Delete a shared variable",
        """Delete a shared variable; everyone is told.""",
        _r_delete_var,
        fields={},
        destructive=True,
        idempotent=True,
    ),
)
