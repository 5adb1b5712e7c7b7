"""Structured tool results (issue 18): ``outputSchema`` and ``structuredContent`` for the tools
whose results a model or a program acts on.

The schema of a tool is its op's result model in the catalogue
(:data:`letswork.shared.protocol.catalogue.OPS`), ``model_json_schema`` in serialization mode,
never a copy written by hand, so the wire and what the client is told cannot drift apart. Two
changes are made to it, for reasons of the channel's own:

- fields listed in :data:`STRUCTURED` as left out are removed (``read_file``'s ``text``: the
  file's text is the tool's text content already, and sending it twice costs the model's
  context twice);
- what is not shape (titles, the models' docstrings, defaults, upper bounds of numbers) is
  dropped, since the tool list that carries the schemas costs context in every conversation;
- string limits (``pattern``, ``maxLength``) are dropped, because every string in structured
  content passes through the one cleaner (:func:`letswork.shared.sanitize.clean`), which puts
  :data:`~letswork.shared.sanitize.MARKER` where hidden characters were: a cleaned name may be
  longer than the hub's limit, or hold characters its pattern does not.

The text content of every tool stays as it was, for clients that show text.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from mcp import types
from pydantic import BaseModel

from letswork.channel.tools.base import ToolSpec, tool_definition
from letswork.channel.tools.changes import shown_diff
from letswork.channel.tools.files import MAX_READ_CHARS, match_snippet
from letswork.shared.paging import cut_page
from letswork.shared.protocol.catalogue import OPS
from letswork.shared.protocol.changes import ChangeList
from letswork.shared.protocol.files import ReadFileResult, SearchFilesResult
from letswork.shared.sanitize import clean

__all__ = ["STRUCTURED", "definitions", "output_schema", "structured_content"]

#: Tools that give structured results, each with the result fields it leaves out.
STRUCTURED: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "read_file": frozenset({"text"}),
        "search_files": frozenset(),
        "find_files": frozenset(),
        "list_files": frozenset(),
        "get_status": frozenset(),
        "get_pending_changes": frozenset(),
        "my_pending_changes": frozenset(),
        "board": frozenset(),
        "list_peers": frozenset(),
    }
)

#: JSON schema keywords that limit a string, dropped because cleaning may lengthen a string or
#: put the marker in it.
_STRING_LIMITS = ("pattern", "maxLength", "minLength")
#: Keywords dropped everywhere: they cost every conversation's context (the tool list is sent
#: with each) and say nothing about the shape a program reads: the models' docstrings (written
#: about the wire), defaults (every field is sent), the hub's bounds on numbers and lists, and
#: ``additionalProperties: false`` (a reader ignores fields it does not know): every byte here
#: is in every conversation (issue 18's budget, docs/performance.md).
_NOT_SHAPE = (
    "title",
    "description",
    "default",
    "maximum",
    "minimum",
    "exclusiveMinimum",
    "minItems",
    "maxItems",
    "additionalProperties",
)


def _result_model(spec: ToolSpec) -> type[BaseModel] | None:
    if spec.name not in STRUCTURED or spec.op is None:
        return None
    return OPS[spec.op].result


def output_schema(spec: ToolSpec) -> dict[str, Any] | None:
    """The ``outputSchema`` of ``spec``'s tool (a JSON schema object with ``$defs``), or None
    for a tool that gives text only."""
    model = _result_model(spec)
    if model is None:
        return None
    schema = copy.deepcopy(model.model_json_schema(mode="serialization"))
    omit = STRUCTURED[spec.name]
    props: dict[str, Any] = schema.get("properties", {})
    for name in omit:
        props.pop(name, None)
    if "required" in schema:
        schema["required"] = [name for name in schema["required"] if name not in omit]
    _relax(schema)
    return schema


def definitions(specs: Iterable[ToolSpec]) -> list[types.Tool]:
    """The ``tools/list`` entries of ``specs`` as the channel sends them: each tool's
    definition with its output schema, if it has one (what ``bench.tool_list`` measures)."""
    tools = []
    for spec in specs:
        tool = tool_definition(spec)
        schema = output_schema(spec)
        if schema is not None:
            tool = tool.model_copy(update={"output_schema": schema})
        tools.append(tool)
    return tools


def _relax(node: Any) -> None:
    """Drop what is not shape (:data:`_NOT_SHAPE`) and string limits, in place, everywhere in
    a schema."""
    if isinstance(node, dict):
        for key in _NOT_SHAPE:
            node.pop(key, None)
        if node.get("type") == "string":
            for key in _STRING_LIMITS:
                node.pop(key, None)
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for prop in value.values():
                    _relax(prop)
            else:
                _relax(value)
        # ``X | None`` as one type list: ``{"type": ["string", "null"]}`` (JSON Schema 2020-12,
        # section 6.1.1), a third the bytes of pydantic's ``anyOf``
        options = node.get("anyOf")
        if (
            isinstance(options, list)
            and len(options) == 2
            and {"type": "null"} in options
            and all(isinstance(o, dict) for o in options)
        ):
            other = options[0] if options[1] == {"type": "null"} else options[1]
            if set(other) == {"type"} and isinstance(other["type"], str):
                del node["anyOf"]
                node["type"] = [other["type"], "null"]
    elif isinstance(node, list):
        for item in node:
            _relax(item)


def structured_content(spec: ToolSpec, result: Any) -> dict[str, Any] | None:
    """``result`` (the op's result model) as ``structuredContent``: its JSON form without the
    left-out fields, every string cleaned; None for a tool that gives text only."""
    model = _result_model(spec)
    if model is None or not isinstance(result, model):
        return None
    data = result.model_dump(mode="json", exclude=set(STRUCTURED[spec.name]))
    if isinstance(result, ReadFileResult):
        # An older hub sends the page whole and the text is cut here (``cut_page``, as the
        # renderer does): the counts say what the text shows.
        cut = cut_page(result.text, MAX_READ_CHARS)
        if cut is not None:
            data["lines"] = cut[1]
            data["truncated"] = result.offset + cut[1] < result.total_lines
    # Text the text content cuts is cut here the same way (and before the cleaner runs over
    # it): a pending change's diff (a guest's 1 MiB write put all of it in the host's
    # structured result, 40,000 characters in the text) and a search's matching lines.
    if isinstance(result, SearchFilesResult):
        for match in data["matches"]:
            match["text"] = match_snippet(match["text"])
    if isinstance(result, ChangeList):
        for change in data["changes"]:
            if change.get("diff"):
                change["diff"] = shown_diff(change["diff"])
    cleaned: dict[str, Any] = _cleaned(data)
    return cleaned


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {key: _cleaned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_cleaned(item) for item in value]
    return value
