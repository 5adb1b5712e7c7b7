"""Replies of ops whose result holds no float are written by pydantic-core: the same bytes as
``json.dumps`` (issue 15, the page's reply path)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import (
    ConfigDict,
    Field,
    PlainSerializer,
    WrapSerializer,
    computed_field,
    field_serializer,
    model_serializer,
)

from letswork.shared import plainjson
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.protocol.base import WireModel
from letswork.shared.protocol.catalogue import OPS
from letswork.shared.protocol.files import ReadFileResult
from letswork.shared.protocol.wire import PLAIN_RESULT_OPS, encode_response_ok, parse_result
from tests.shared.protocol.examples import RESULT_EXAMPLES, SHA


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


# Every character but the lone surrogates, with the control characters, quotes, backslashes,
# DEL, the line and paragraph separators and characters beyond the BMP made likely.
TEXT = st.text(
    st.one_of(
        st.characters(exclude_categories=["Cs"]),
        st.sampled_from('\x00\x01\x08\x09\x0a\x0c\x0d\x1f"\\/\x7f\x80\u2028\u2029\ufeff😀'),
    )
)
PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500)
@given(PLAIN)
def test_a_plain_value_is_written_as_json_dumps_writes_it(value: Any) -> None:
    assert plainjson.to_json(value) == _dumps(value)


@pytest.mark.parametrize("value", ["\ud800", {"text": "a\udc80b"}, ["x", "\udfff"]])
def test_a_lone_surrogate_is_left_to_json_dumps(value: Any) -> None:
    assert plainjson.to_json(value) is None


def test_a_reply_with_a_lone_surrogate_fails_as_it_did_before() -> None:
    with pytest.raises(OpError) as plain:
        encode_response_ok(1, {"path": "a", "text": "\ud800"}, op="read_file")
    with pytest.raises(OpError) as other:
        encode_response_ok(1, {"path": "a", "text": "\ud800"})
    assert plain.value.code == other.value.code == ErrorCode.INTERNAL
    assert plain.value.data == other.value.data == {"reason": "not_json"}


def test_every_ops_example_reply_has_the_same_bytes_either_way() -> None:
    for op in OPS:
        result = RESULT_EXAMPLES[op]
        assert encode_response_ok(7, result, op=op) == encode_response_ok(7, result), op


def test_a_page_reply_is_plain_and_has_the_same_bytes() -> None:
    assert "read_file" in PLAIN_RESULT_OPS
    text = "".join(chr(c) for c in range(0x20)) + 'é"\\\u2028😀\n' * 50
    page = ReadFileResult(
        path="dir/é.txt",
        text=text,
        sha256=SHA,
        offset=3,
        lines=50,
        total_lines=2**40,
        size=2**40,
        truncated=True,
        line_cut=True,
    ).model_dump(mode="json", exclude_unset=True)
    out = encode_response_ok(7, page, op="read_file")
    assert out == encode_response_ok(7, page)
    assert parse_result("read_file", json.loads(out)["result"]) == ReadFileResult(**page)


class _Inner(WireModel):
    at: float


class _Outer(WireModel):
    name: str
    items: list[_Inner]


class _Loose(WireModel):
    data: dict[str, Any]


class _Plain(WireModel):
    name: str | None = None
    counts: dict[str, list[int]]
    kind: Any = None


def test_a_model_that_can_hold_a_float_anywhere_is_not_plain() -> None:
    assert not plainjson.is_plain(_Inner)
    assert not plainjson.is_plain(_Outer)  # a float inside a list of models
    assert not plainjson.is_plain(_Loose)  # Any can hold a float
    assert not plainjson.is_plain(_Plain)  # so can an Any field with a default
    assert not plainjson.is_plain(float | None)
    assert plainjson.is_plain(dict[str, list[int | str | bool | None]])


def test_ops_whose_results_hold_a_timestamp_are_not_plain() -> None:
    # ping carries the hub's clock, stat_file a lock's times: json.dumps writes those floats
    assert "ping" not in PLAIN_RESULT_OPS
    assert "stat_file" not in PLAIN_RESULT_OPS


class _Computed(WireModel):
    n: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ratio(self) -> float:
        return self.n / 100_000


class _FieldSerializer(WireModel):
    n: int

    @field_serializer("n")
    def _n(self, value: int) -> float:
        return value / 100_000


class _ModelSerializer(WireModel):
    n: int

    @model_serializer
    def _whole(self) -> dict[str, float]:
        return {"n": self.n / 100_000}


_AS_FLOAT = PlainSerializer(lambda value: value / 100_000, return_type=float)


class _AnnotatedSerializer(WireModel):
    n: Annotated[int, _AS_FLOAT]


class _DeepSerializer(WireModel):
    n: list[Annotated[int, Field(ge=0), _AS_FLOAT]]


class _WrapSerializer(WireModel):
    n: Annotated[int, WrapSerializer(lambda value, _: value / 100_000)]


class _Extra(WireModel):
    model_config = ConfigDict(extra="allow")
    n: int


@pytest.mark.parametrize(
    "model",
    [
        _Computed(n=1),
        _FieldSerializer(n=1),
        _ModelSerializer(n=1),
        _AnnotatedSerializer(n=1),
        _DeepSerializer(n=[1]),
        _WrapSerializer(n=1),
        _Extra(n=1, x=1e-5),  # type: ignore[call-arg]
    ],
    ids=lambda m: type(m).__name__,
)
def test_a_model_written_other_than_by_its_fields_types_is_not_plain(model: WireModel) -> None:
    # A serializer, a computed field or an extra field can put a float in the dump of a model
    # whose fields are all int: pydantic-core writes 1e-05 as 0.00001 and inf as Infinity (not
    # JSON), where json.dumps wrote 1e-05 and refused inf. Such a model is not plain.
    dumped = model.model_dump(mode="json")
    assert plainjson.to_json(dumped) != _dumps(dumped)  # why it matters
    assert not plainjson.is_plain(type(model))


def test_checks_on_a_field_keep_it_plain() -> None:
    # limits, patterns and validators (a card's server names) only check a value
    assert {"publish_card", "search_files", "find_files", "hello"} <= PLAIN_RESULT_OPS
    assert plainjson.is_plain(list[Annotated[str, Field(min_length=1, pattern="^a")]])
