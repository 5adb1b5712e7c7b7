"""Compact JSON of replies whose model holds no float, written by pydantic-core (issue 15).

``json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)`` then
``.encode("utf-8")`` is how every message is written (``wire._dumps``). For a value made only
of strings, integers, booleans, ``None``, lists and string-keyed dicts, ``pydantic_core.to_json``
writes the same bytes (the same escapes: ``\\uXXXX`` in lowercase for control characters,
``\\b \\f \\n \\r \\t \\" \\\\`` short, everything else as UTF-8; integers of any size; keys
in insertion order) in a third of the time: ~10 us instead of ~35 us for a page of 200 lines
(13 KB). ``tests/shared/test_plain_json.py`` checks the equality on generated values. Floats
are where the two differ (``1e-05`` is written ``0.00001``; ``NaN`` and infinities are
written, not refused), so only the results of ops whose result model cannot hold a float
anywhere are written this way (``wire.PLAIN_RESULT_OPS``), and a value either side cannot
write (a lone surrogate) goes the ``json.dumps`` way, which raises as before.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal, Union

import annotated_types
import pydantic_core
from pydantic import AfterValidator, BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

__all__ = ["is_plain", "to_json"]

_PLAIN_ATOMS: frozenset[Any] = frozenset({str, int, bool, type(None)})

#: Metadata on a type that only checks a value (limits, patterns, validators). Any other (a
#: ``PlainSerializer``, a custom type's schema) may write something else than the type says.
_CHECKS = (annotated_types.BaseMetadata, AfterValidator, BeforeValidator)


def _checks_only(metadata: Iterable[Any]) -> bool:
    return all(
        _checks_only(m.metadata) if isinstance(m, FieldInfo) else isinstance(m, _CHECKS)
        for m in metadata
    )


def is_plain(annotation: Any, _seen: frozenset[type] = frozenset()) -> bool:
    """Whether every value of ``annotation`` (a model field's type), dumped in JSON mode, is
    made of strings, integers, booleans, ``None``, lists and string-keyed dicts only. Anything
    this does not know (a float, ``Any``, an enum, a date) counts as not plain, and so does a
    model written other than by its fields' types (a serializer, a computed field, extra
    fields): either can put a float in its dump."""
    if annotation in _PLAIN_ATOMS:
        return True
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum) or issubclass(annotation, float):
            return False
        if issubclass(annotation, BaseModel):
            if annotation in _seen:
                return True  # a recursive model: its other fields decide
            decorators = annotation.__pydantic_decorators__
            if (
                annotation.model_computed_fields
                or decorators.field_serializers
                or decorators.model_serializers
                or annotation.model_config.get("extra") == "allow"
            ):
                return False
            seen = _seen | {annotation}
            return all(
                _checks_only(f.metadata) and is_plain(f.annotation, seen)
                for f in annotation.model_fields.values()
            )
        return False
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        return _checks_only(args[1:]) and is_plain(args[0], _seen)
    if origin is Literal:
        return all(type(arg) in _PLAIN_ATOMS for arg in args)
    if origin in (Union, types.UnionType):
        return all(is_plain(arg, _seen) for arg in args)
    if origin in (list, tuple, frozenset, set, Sequence):
        return all(arg is Ellipsis or is_plain(arg, _seen) for arg in args) and bool(args)
    if origin in (dict, Mapping):
        return len(args) == 2 and args[0] is str and is_plain(args[1], _seen)
    return False


def to_json(value: Any) -> bytes | None:
    """The compact UTF-8 JSON of ``value``, a plain value (see the module docstring): the bytes
    ``json.dumps`` would give. ``None`` when pydantic-core cannot write it (a lone surrogate):
    the caller writes it the ``json.dumps`` way, which raises as it always did."""
    try:
        return pydantic_core.to_json(value)
    except (pydantic_core.PydanticSerializationError, ValueError, TypeError):
        return None
