"""The envelope and its codec: bytes in and out, checked against the catalogue.

Design section 5. Three shapes travel, each one JSON object per record, UTF-8, compact::

    request   {"id": n, "op": "...", "args": {...}}                     peer -> hub
    response  {"id": n, "ok": true, "result": {...}}                    hub -> peer
              {"id": n, "ok": false, "error": {"code", "message", "data"}}
    event     {"event": "...", "seq": n, "data": {...}}                 hub -> peer

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
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from itertools import accumulate
from typing import Any, NoReturn

from pydantic import BaseModel, Field, ValidationError

from letswork.shared import limits, plainjson
from letswork.shared.errors import ErrorCode, LetsworkError, OpError, ProtocolError
from letswork.shared.protocol.base import _SURROGATE, MAX_ID, Ident, OpSpec, ShortText, WireModel
from letswork.shared.protocol.catalogue import EVENTS, OPS

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


#: Ops whose result model cannot hold a float anywhere: their replies are written by
#: pydantic-core (``letswork/shared/plainjson.py``), the same bytes as ``json.dumps`` writes.
PLAIN_RESULT_OPS: frozenset[str] = frozenset(
    name for name, spec in OPS.items() if plainjson.is_plain(spec.result)
)


def _dumps(value: Any, max_bytes: int, *, plain: bool = False) -> bytes:
    # A plain value (plainjson.py: no float can be in it) is written by pydantic-core, the same
    # bytes at a third of the cost; one it cannot write goes the json.dumps way, which raises.
    out = plainjson.to_json(value) if plain else None
    if out is None:
        out = _dumps_json(value)
    if len(out) > max_bytes:
        raise OpError(
            f"message is {len(out)} bytes, over the limit of {max_bytes}",
            code=ErrorCode.TOO_LARGE,
            data={"reason": "too_large"},
        )
    return out


def _dumps_json(value: Any) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
            "utf-8"
        )
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise OpError(
            f"cannot encode message: {_clip(str(exc), 120)}",
            code=ErrorCode.INTERNAL,
            data={"reason": "not_json"},
        ) from None


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
    op: str | None = None,
    max_bytes: int = limits.MAX_FRAME_BYTES,
) -> bytes:
    """Build a success response. A model is dumped without its ``None`` fields; a mapping is
    dumped as it is (the hub builds results from the models, so it is not validated twice).
    ``op``, the op answered, when given and its result model cannot hold a float
    (:data:`PLAIN_RESULT_OPS`), has the reply written by pydantic-core: the same
    bytes, faster.

    Raises:
        OpError: the message would be too large (code ``too_large``; the hub then answers
            with :func:`encode_response_error`), or the result cannot be encoded (``internal``).
    """
    _check_wire_int(id, "id")
    body = {"id": id, "ok": True, "result": _dump(result)}
    return _dumps(body, max_bytes, plain=op in PLAIN_RESULT_OPS)


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
