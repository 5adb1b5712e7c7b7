"""The envelope and its codec: round trips, error responses, malformed input in and out,
encoding errors, and decoders that raise nothing but ProtocolError whatever the bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError, ProtocolError, op_error
from letswork.shared.protocol.base import MAX_ID
from letswork.shared.protocol.catalogue import EVENTS, OPS
from letswork.shared.protocol.wire import (
    REASONS,
    Event,
    Request,
    Response,
    decode_incoming,
    decode_request,
    encode_event,
    encode_request,
    encode_response_error,
    encode_response_ok,
    error_from_response,
    parse_event_data,
    parse_result,
)
from tests.shared.protocol.examples import (
    ARGS_EXAMPLES,
    EVENT_EXAMPLES,
    PEER,
    RESULT_EXAMPLES,
    SHA,
)


def raw(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def request(args: Any, op: str = "read_file", **extra: Any) -> bytes:
    return raw({"id": 5, "op": op, "args": args, **extra})


def rejects(data: bytes, decode: Callable[[bytes], object] = decode_request) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        decode(data)
    assert info.value.data["reason"] in REASONS
    return info.value


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("op", sorted(OPS))
def test_op_args_round_trip_through_encode_and_decode_request(op: str) -> None:
    example = ARGS_EXAMPLES[op]
    decoded = decode_request(encode_request(42, op, example))
    assert decoded == Request(42, op, OPS[op].args.model_validate(example))
    assert isinstance(decoded.args, OPS[op].args)
    assert decoded.spec is OPS[op]
    again = decode_request(encode_request(42, op, decoded.args))
    assert again == decoded


@pytest.mark.parametrize("op", sorted(OPS))
def test_op_result_round_trips_through_a_response(op: str) -> None:
    model = OPS[op].result.model_validate(RESULT_EXAMPLES[op])
    response = decode_incoming(encode_response_ok(3, model))
    assert isinstance(response, Response)
    assert (response.id, response.ok, response.error) == (3, True, None)
    assert response.result is not None
    assert parse_result(op, response.result) == model


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_event_round_trips_through_decode_incoming(name: str) -> None:
    model = EVENTS[name].data.model_validate(EVENT_EXAMPLES[name])
    event = decode_incoming(encode_event(name, 11, EVENT_EXAMPLES[name]))
    assert isinstance(event, Event)
    assert (event.name, event.seq) == (name, 11)
    assert parse_event_data(name, event.data) == model
    assert decode_incoming(encode_event(name, 11, model)) == event


def test_error_response_round_trips_and_becomes_an_op_error() -> None:
    wire = encode_response_error(9, op_error(ErrorCode.LOCKED, "a.py is locked", holder="bob"))
    response = decode_incoming(wire)
    assert response == Response(
        9,
        False,
        None,
        {"code": "locked", "message": "a.py is locked", "data": {"holder": "bob"}},
    )
    assert isinstance(response, Response)
    error = error_from_response(response)
    assert isinstance(error, OpError)
    assert (error.code, error.message, error.data) == (
        ErrorCode.LOCKED,
        "a.py is locked",
        {"holder": "bob"},
    )


def test_error_response_to_an_unreadable_request_has_a_null_id() -> None:
    error = rejects(b"not json")
    wire = encode_response_error(None, error)
    assert json.loads(wire)["id"] is None
    response = decode_incoming(wire)
    assert isinstance(response, Response)
    assert response.id is None
    assert response.error is not None
    assert response.error["data"] == {"reason": "not_json"}


def test_error_with_an_unknown_code_becomes_internal_keeping_the_code() -> None:
    wire = raw({"id": 1, "ok": False, "error": {"code": "new_thing", "message": "m"}})
    response = decode_incoming(wire)
    assert isinstance(response, Response)
    assert response.error == {"code": "new_thing", "message": "m", "data": {}}
    error = error_from_response(response)
    assert (error.code, error.data) == (ErrorCode.INTERNAL, {"code": "new_thing"})


def test_error_response_drops_data_that_cannot_be_encoded() -> None:
    error = op_error(ErrorCode.INTERNAL, "boom", thing=object())
    assert json.loads(encode_response_error(1, error))["error"] == {
        "code": "internal",
        "message": "boom",
        "data": {},
    }


def test_error_response_survives_a_message_that_is_not_unicode() -> None:
    error = op_error(ErrorCode.NOT_FOUND, "no \udcff.txt")
    response = decode_incoming(encode_response_error(1, error))
    assert isinstance(response, Response)
    assert response.error is not None
    assert response.error["message"] == "no ?.txt"


def test_error_response_clips_a_long_message() -> None:
    error = op_error(ErrorCode.INVALID, "x" * 5000)
    message = json.loads(encode_response_error(1, error))["error"]["message"]
    assert len(message) == limits.MAX_SHORT_TEXT_CHARS


def test_encoding_is_compact_utf8_without_escapes() -> None:
    wire = encode_request(1, "read_file", {"path": "café.py"})
    assert wire == '{"id":1,"op":"read_file","args":{"path":"café.py","offset":0}}'.encode()


def test_none_fields_are_left_out_of_the_wire() -> None:
    wire = json.loads(encode_request(1, "write_file", {"path": "a", "content": ""}))
    assert wire["args"] == {"path": "a", "content": ""}


def test_explicit_null_means_the_same_as_an_absent_field() -> None:
    decoded = decode_request(request({"path": "a", "limit": None}))
    assert decoded.args == OPS["read_file"].args.model_validate({"path": "a"})


def test_omitted_args_mean_an_empty_object() -> None:
    assert decode_request(raw({"id": 0, "op": "list_files"})).args == OPS[
        "list_files"
    ].args.model_validate({})


def test_integer_json_number_is_accepted_for_a_float_field() -> None:
    decoded = decode_request(request({"path": "a", "ttl_seconds": 60}, op="lock_file"))
    assert decoded.args.model_dump()["ttl_seconds"] == 60.0


def test_largest_id_is_accepted() -> None:
    assert decode_request(raw({"id": MAX_ID, "op": "ping"})).id == MAX_ID


# ---------------------------------------------------------------------------- malformed requests

DEEP_100 = b'{"id":1,"op":"ping","args":{"a":' + b"[" * 100 + b"]" * 100 + b"}}"

MALFORMED: list[tuple[str, bytes, ErrorCode, str]] = [
    ("not_json", b"{nope", ErrorCode.INVALID, "not_json"),
    ("empty", b"", ErrorCode.INVALID, "not_json"),
    ("invalid_utf8", b'{"id":1,"op":"ping","x":"\xff"}', ErrorCode.INVALID, "not_json"),
    ("utf8_bom", b'\xef\xbb\xbf{"id":1,"op":"ping"}', ErrorCode.INVALID, "not_json"),
    ("nan", b'{"id":1,"op":"ping","args":{"a":NaN}}', ErrorCode.INVALID, "not_json"),
    ("infinity", b'{"id":1,"op":"ping","args":{"a":-Infinity}}', ErrorCode.INVALID, "not_json"),
    (
        "overflowing_float",
        b'{"id":1,"op":"ping","args":{"a":1e999}}',
        ErrorCode.INVALID,
        "not_json",
    ),
    ("duplicate_key", b'{"id":1,"id":2,"op":"ping"}', ErrorCode.INVALID, "not_json"),
    ("lone_surrogate", request({"path": "\ud800"}), ErrorCode.INVALID, "not_json"),
    ("list", b"[1,2]", ErrorCode.INVALID, "not_object"),
    ("number", b"42", ErrorCode.INVALID, "not_object"),
    ("string", b'"hi"', ErrorCode.INVALID, "not_object"),
    ("null", b"null", ErrorCode.INVALID, "not_object"),
    ("missing_id", raw({"op": "ping"}), ErrorCode.INVALID, "missing_field"),
    ("id_string", raw({"id": "1", "op": "ping"}), ErrorCode.INVALID, "wrong_type"),
    ("id_bool", raw({"id": True, "op": "ping"}), ErrorCode.INVALID, "wrong_type"),
    ("id_float", raw({"id": 1.0, "op": "ping"}), ErrorCode.INVALID, "wrong_type"),
    ("id_null", raw({"id": None, "op": "ping"}), ErrorCode.INVALID, "wrong_type"),
    ("id_negative", raw({"id": -1, "op": "ping"}), ErrorCode.INVALID, "out_of_range"),
    ("id_too_big", raw({"id": MAX_ID + 1, "op": "ping"}), ErrorCode.INVALID, "out_of_range"),
    ("missing_op", raw({"id": 1}), ErrorCode.INVALID, "missing_field"),
    ("op_number", raw({"id": 1, "op": 3}), ErrorCode.INVALID, "wrong_type"),
    ("unknown_op", raw({"id": 1, "op": "rm_rf"}), ErrorCode.UNKNOWN_OP, "unknown_op"),
    ("extra_envelope_field", request({"path": "a"}, x=1), ErrorCode.INVALID, "extra_field"),
    ("extra_args_field", request({"path": "a", "mode": 1}), ErrorCode.INVALID, "extra_field"),
    ("args_list", request(["a"]), ErrorCode.INVALID, "wrong_type"),
    ("args_null", request(None), ErrorCode.INVALID, "wrong_type"),
    ("missing_arg", request({}), ErrorCode.INVALID, "missing_field"),
    ("path_number", request({"path": 5}), ErrorCode.INVALID, "wrong_type"),
    ("offset_float", request({"path": "a", "offset": 1.5}), ErrorCode.INVALID, "wrong_type"),
    ("offset_bool", request({"path": "a", "offset": True}), ErrorCode.INVALID, "wrong_type"),
    (
        "recursive_string",
        request({"recursive": "yes"}, op="list_files"),
        ErrorCode.INVALID,
        "wrong_type",
    ),
    (
        "path_too_long",
        request({"path": "a" * (limits.MAX_PATH_CHARS + 1)}),
        ErrorCode.TOO_LARGE,
        "too_long",
    ),
    (
        "reason_too_long",
        request({"id": "c1", "reason": "r" * 1025}, op="reject_change"),
        ErrorCode.TOO_LARGE,
        "too_long",
    ),
    (
        "content_too_long",
        request(
            {"path": "a", "content": "x" * (limits.MAX_FILE_BYTES_CEILING + 1)}, op="write_file"
        ),
        ErrorCode.TOO_LARGE,
        "too_long",
    ),
    ("name_empty", request({"name": ""}, op="hello"), ErrorCode.INVALID, "too_short"),
    ("file_path_empty", request({"path": ""}), ErrorCode.INVALID, "too_short"),
    ("offset_negative", request({"path": "a", "offset": -1}), ErrorCode.INVALID, "out_of_range"),
    ("limit_zero", request({"path": "a", "limit": 0}), ErrorCode.INVALID, "out_of_range"),
    (
        "max_results_over",
        request({"glob": "*", "max_results": limits.MAX_RESULTS + 1}, op="find_files"),
        ErrorCode.INVALID,
        "out_of_range",
    ),
    (
        "depth_over",
        request({"depth": 65}, op="list_files"),
        ErrorCode.INVALID,
        "out_of_range",
    ),
    (
        "ttl_under",
        request({"path": "a", "ttl_seconds": 0.5}, op="lock_file"),
        ErrorCode.INVALID,
        "out_of_range",
    ),
    (
        "role_unknown",
        request({"role": "host"}, op="create_invite"),
        ErrorCode.INVALID,
        "bad_value",
    ),
    (
        "sha_uppercase",
        request({"path": "a", "base_sha256": SHA.upper()}, op="delete_file"),
        ErrorCode.INVALID,
        "bad_value",
    ),
    ("name_slash", request({"name": "a/b"}, op="hello"), ErrorCode.INVALID, "bad_value"),
    ("name_newline", request({"name": "bob\n"}, op="hello"), ErrorCode.INVALID, "bad_value"),
    (
        "revoke_both",
        request({"invite_id": "ab", "label": "x"}, op="revoke_invite"),
        ErrorCode.INVALID,
        "bad_value",
    ),
    ("revoke_neither", request({}, op="revoke_invite"), ErrorCode.INVALID, "bad_value"),
    ("nested_100_deep", DEEP_100, ErrorCode.INVALID, "too_deep"),
    ("nested_100000_deep", b"[" * 100_000, ErrorCode.INVALID, "too_deep"),
    ("objects_100000_deep", b'{"a":' * 100_000, ErrorCode.INVALID, "too_deep"),
    (
        "over_size",
        raw({"id": 1, "op": "ping"}) + b" " * limits.MAX_FRAME_BYTES,
        ErrorCode.TOO_LARGE,
        "too_large",
    ),
]


@pytest.mark.parametrize(
    ("data", "code", "reason"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_request_gives_code_and_reason(data: bytes, code: ErrorCode, reason: str) -> None:
    error = rejects(data)
    assert (error.code, error.data["reason"]) == (code, reason)


def test_error_message_names_the_field_path() -> None:
    error = rejects(request({"path": "a" * 2000}))
    assert error.message == "args.path: string too long (max 1024)"
    assert error.data == {"reason": "too_long", "field": "args.path", "id": 5}


def test_error_data_carries_the_request_id_once_it_was_read() -> None:
    assert rejects(raw({"id": 8, "op": "nope"})).data["id"] == 8
    assert "id" not in rejects(raw({"id": "8", "op": "nope"})).data
    assert "id" not in rejects(b"{").data


def test_unknown_op_message_clips_the_name() -> None:
    error = rejects(raw({"id": 1, "op": "x" * 10_000}))
    assert len(error.message) < 100


def test_nesting_at_the_depth_limit_is_not_too_deep() -> None:
    inner = limits.MAX_JSON_DEPTH - 2  # the envelope and args objects are two levels
    ok = b'{"id":1,"op":"ping","args":{"a":' + b"[" * inner + b"]" * inner + b"}}"
    assert rejects(ok).data["reason"] == "extra_field"
    deeper = ok.replace(b"[", b"[[", 1).replace(b"]", b"]]", 1)
    assert rejects(deeper).data["reason"] == "too_deep"


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '["\\"' + "[" * 50 + '"'
    decoded = decode_request(request({"path": text}))
    assert decoded.args.model_dump()["path"] == text


def test_message_of_exactly_the_frame_limit_is_accepted() -> None:
    body = raw({"id": 1, "op": "ping"})
    assert decode_request(body + b" " * (limits.MAX_FRAME_BYTES - len(body))).op == "ping"


def test_frame_limit_can_be_lowered_by_the_caller() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_request(raw({"id": 1, "op": "ping"}), max_bytes=10)
    assert info.value.code is ErrorCode.TOO_LARGE


# ---------------------------------------------------------------------------- malformed incoming

MALFORMED_INCOMING: list[tuple[str, Any, str]] = [
    ("neither", {"id": 1}, "missing_field"),
    ("empty_object", {}, "missing_field"),
    ("ok_string", {"id": 1, "ok": "yes", "result": {}}, "wrong_type"),
    ("ok_null_id", {"id": None, "ok": True, "result": {}}, "wrong_type"),
    ("ok_without_result", {"id": 1, "ok": True}, "missing_field"),
    ("ok_with_error", {"id": 1, "ok": True, "result": {}, "error": {}}, "extra_field"),
    ("error_with_result", {"id": 1, "ok": False, "result": {}, "error": {}}, "extra_field"),
    ("error_missing_code", {"id": 1, "ok": False, "error": {"message": "m"}}, "missing_field"),
    (
        "error_extra_field",
        {"id": 1, "ok": False, "error": {"code": "x", "message": "m", "hint": 1}},
        "extra_field",
    ),
    ("result_not_object", {"id": 1, "ok": True, "result": [1]}, "wrong_type"),
    ("response_extra", {"id": 1, "ok": True, "result": {}, "x": 1}, "extra_field"),
    ("response_id_negative", {"id": -1, "ok": True, "result": {}}, "out_of_range"),
    ("event_seq_negative", {"event": "kicked", "seq": -1, "data": {}}, "out_of_range"),
    ("event_seq_missing", {"event": "kicked", "data": {}}, "missing_field"),
    ("event_name_number", {"event": 1, "seq": 0, "data": {}}, "wrong_type"),
    ("event_name_empty", {"event": "", "seq": 0, "data": {}}, "bad_value"),
    ("event_data_missing", {"event": "kicked", "seq": 0}, "missing_field"),
    ("event_extra", {"event": "kicked", "seq": 0, "data": {}, "id": 1}, "extra_field"),
    ("list", [], "not_object"),
]


@pytest.mark.parametrize(
    ("message", "reason"),
    [m[1:] for m in MALFORMED_INCOMING],
    ids=[m[0] for m in MALFORMED_INCOMING],
)
def test_malformed_incoming_gives_reason(message: Any, reason: str) -> None:
    error = rejects(raw(message), decode_incoming)
    assert (error.code, error.data["reason"]) == (ErrorCode.INVALID, reason)


def test_incoming_unknown_event_is_accepted_but_its_data_is_not() -> None:
    event = decode_incoming(raw({"event": "from_the_future", "seq": 3, "data": {"x": 1}}))
    assert event == Event("from_the_future", 3, {"x": 1})
    with pytest.raises(ProtocolError) as info:
        parse_event_data("from_the_future", {"x": 1})
    assert info.value.data["reason"] == "unknown_event"


def test_incoming_too_deep_is_rejected() -> None:
    assert rejects(b"[" * 100_000, decode_incoming).data["reason"] == "too_deep"


def test_parse_result_names_the_field_path() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_result("status", {**RESULT_EXAMPLES["status"], "peers": [{**PEER, "role": "x"}]})
    assert info.value.data == {"reason": "bad_value", "field": "result.peers[0].role"}


def test_parse_result_of_an_unknown_op_is_unknown_op() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_result("nope", {})
    assert (info.value.code, info.value.data["reason"]) == (ErrorCode.UNKNOWN_OP, "unknown_op")


# ---------------------------------------------------------------------------- encoding errors


def test_encode_request_rejects_an_unknown_op() -> None:
    with pytest.raises(OpError) as info:
        encode_request(1, "nope", {})
    assert info.value.code is ErrorCode.UNKNOWN_OP


def test_encode_request_validates_args_like_decode_request() -> None:
    with pytest.raises(OpError) as info:
        encode_request(1, "read_file", {"path": "a" * 2000})
    assert info.value.message == "args.path: string too long (max 1024)"
    assert info.value.code is ErrorCode.TOO_LARGE
    assert info.value.data == {"reason": "too_long", "field": "args.path"}


def test_encode_request_refuses_like_the_hub_would() -> None:
    data = request({"name": "<b>"}, op="hello")
    with pytest.raises(OpError) as info:
        encode_request(5, "hello", {"name": "<b>"})
    refusal = rejects(data)
    assert (info.value.code, info.value.message) == (refusal.code, refusal.message)
    assert info.value.data == {k: v for k, v in refusal.data.items() if k != "id"}


def test_file_content_that_is_not_unicode_is_refused_as_binary_file() -> None:
    with pytest.raises(OpError) as info:
        encode_request(1, "write_file", {"path": "a", "content": "lone \ud800"})
    assert info.value.code is ErrorCode.BINARY_FILE
    assert info.value.data == {"reason": "bad_value", "field": "args.content"}


def test_a_path_that_is_not_unicode_is_refused_as_invalid() -> None:
    with pytest.raises(OpError) as info:
        encode_request(1, "read_file", {"path": "\udcff.txt"})
    assert info.value.code is ErrorCode.INVALID
    assert info.value.data == {"reason": "bad_value", "field": "args.path"}


def test_encode_request_rejects_the_model_of_another_op() -> None:
    other = OPS["ping"].args.model_validate({})
    with pytest.raises(OpError):
        encode_request(1, "read_file", other)


@pytest.mark.parametrize("bad_id", [-1, MAX_ID + 1, True])
def test_encode_request_rejects_an_id_out_of_range(bad_id: int) -> None:
    with pytest.raises(OpError):
        encode_request(bad_id, "ping")


def test_encode_response_over_the_frame_limit_is_too_large() -> None:
    with pytest.raises(OpError) as info:
        encode_response_ok(1, {"text": "x" * 100}, max_bytes=50)
    assert info.value.code is ErrorCode.TOO_LARGE


def test_encode_event_validates_a_mapping() -> None:
    with pytest.raises(OpError) as info:
        encode_event("lock_released", 0, {"path": "a", "holder": "bob", "reason": "bored"})
    assert info.value.data == {"reason": "bad_value", "field": "data.reason"}


def test_encode_event_rejects_an_unknown_event() -> None:
    with pytest.raises(OpError):
        encode_event("nope", 0, {})


# ---------------------------------------------------------------------------- hypothesis

SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udbff\udc00"])
TEXT = st.text(max_size=20) | SURROGATES
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=30,
)
FIELD_NAMES = sorted(
    {name for spec in OPS.values() for name in spec.args.model_fields}
    | {name for spec in EVENTS.values() for name in spec.data.model_fields}
)
KEYS = st.sampled_from(FIELD_NAMES) | TEXT
IDS = st.integers(min_value=-2, max_value=MAX_ID + 2) | st.none() | TEXT | st.booleans()
REQUESTS = st.fixed_dictionaries(
    {"id": IDS, "op": st.sampled_from(sorted(OPS)) | TEXT},
    optional={"args": st.dictionaries(KEYS, JSON_VALUES, max_size=5) | JSON_VALUES},
)
INCOMING = st.fixed_dictionaries(
    {"id": IDS, "ok": st.booleans() | JSON_VALUES},
    optional={
        "result": st.dictionaries(KEYS, JSON_VALUES, max_size=5),
        "error": st.fixed_dictionaries(
            {"code": TEXT, "message": TEXT}, optional={"data": JSON_VALUES}
        )
        | JSON_VALUES,
    },
) | st.fixed_dictionaries(
    {"event": st.sampled_from(sorted(EVENTS)) | TEXT, "seq": IDS},
    optional={"data": st.dictionaries(KEYS, JSON_VALUES, max_size=5) | JSON_VALUES},
)


def dumps(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def only_protocol_errors(call: Callable[[], object]) -> object:
    """Run ``call``; it may return or raise ProtocolError with a known reason, nothing else."""
    try:
        return call()
    except ProtocolError as exc:
        reason = exc.data["reason"]
    assert reason in REASONS
    return None


@given(st.binary(max_size=200))
def test_decode_request_raises_only_protocol_error_on_any_bytes(data: bytes) -> None:
    only_protocol_errors(lambda: decode_request(data))


@given(st.binary(max_size=200))
def test_decode_incoming_raises_only_protocol_error_on_any_bytes(data: bytes) -> None:
    only_protocol_errors(lambda: decode_incoming(data))


@given(JSON_VALUES, st.booleans())
def test_decoders_raise_only_protocol_error_on_any_json_value(value: Any, ascii_only: bool) -> None:
    data = dumps(value, ascii_only)
    only_protocol_errors(lambda: decode_request(data))
    only_protocol_errors(lambda: decode_incoming(data))


@settings(max_examples=300)
@given(REQUESTS, st.booleans())
def test_request_shaped_input_decodes_or_raises_protocol_error(
    value: dict[str, Any], ascii_only: bool
) -> None:
    data = dumps(value, ascii_only)
    decoded = only_protocol_errors(lambda: decode_request(data))
    if isinstance(decoded, Request):  # what decodes re-encodes to the same request
        assert decode_request(encode_request(decoded.id, decoded.op, decoded.args)) == decoded


@settings(max_examples=300)
@given(INCOMING, st.booleans())
def test_incoming_shaped_input_decodes_or_raises_protocol_error(
    value: dict[str, Any], ascii_only: bool
) -> None:
    data = dumps(value, ascii_only)
    decoded = only_protocol_errors(lambda: decode_incoming(data))
    if isinstance(decoded, Event):
        only_protocol_errors(partial(parse_event_data, decoded.name, decoded.data))
    if isinstance(decoded, Response) and decoded.result is not None:
        for op in OPS:
            only_protocol_errors(partial(parse_result, op, decoded.result))
