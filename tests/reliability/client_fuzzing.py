"""Hypothesis strategies for fuzzing the client with a hostile hub (issue 13, item 11).

The mirror of :mod:`tests.reliability.fuzzing`: there the hub is fed hostile frames, here the
client (:class:`letswork.client.connection.HubConnection`) is. A :class:`ClientCase` says what
the client asks and what a fake hub (:mod:`tests.support.fake_hub`) sends back instead of, or
before, a valid answer. Families:

``reply``
    the op's valid example result with one change at one place: a field deleted, replaced by
    a value of another type, a non-hex or odd-length token, a huge or negative number, an
    over-long string, an extra field, a value wrapped in a list;
``hello``
    the same for the ``hello`` result (``resume_secret`` above all);
``envelope``
    a response whose envelope is wrong: an id never sent, a stale id, ``ok`` missing or of the
    wrong type, ``result`` and ``error`` both or neither, a malformed error, not an object,
    duplicate keys, ``NaN``, a number of 5,000 digits, nesting far past the depth limit,
    plaintext that is not UTF-8, random bytes;
``event``
    an event before the reply: catalogue events with mutated data, unknown names (passed on),
    invalid names and sequence numbers;
``record``
    frames that are not records: text frames, random bytes, a record with a flipped bit, a
    replayed record, a frame over the client's size limit, an empty frame;
``server_hello``
    the ServerHello of the handshake mutated (bits, truncation, extension, random bytes).

Each case carries its oracle (:attr:`ClientCase.expect`), computed from the catalogue itself
where the mutation may happen to leave a valid message.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from hypothesis import strategies as st

from letswork.shared import limits
from letswork.shared.errors import ProtocolError
from letswork.shared.protocol import catalogue
from letswork.shared.protocol.base import MAX_ID
from letswork.shared.protocol.wire import parse_event_data, parse_result
from tests.shared.protocol.examples import ARGS_EXAMPLES
from tests.support.fake_hub import dumps, good_event, good_result

#: The request id the client's first request after ``hello`` gets (``hello`` is 1).
REQUEST_ID = 2
#: The client's frame limit in the fuzz (small, so an oversized frame is cheap to send).
CLIENT_MAX_FRAME = 256 * 1024
#: Depth of the deep-JSON cases: just over the limit, and far over (a parser's stack).
DEEP = (limits.MAX_JSON_DEPTH + 1, 200, 100_000)

OPS = tuple(op for op in catalogue.OPS if op != "hello")
EVENT_NAMES = tuple(catalogue.EVENTS)


@dataclasses.dataclass(frozen=True)
class Frame:
    """One thing the fake hub sends: ``plain`` is sealed into a record, ``raw`` goes as a
    binary frame as it is, ``text`` as a text frame, ``replay`` seals once and sends twice,
    ``flip`` seals and flips bit ``number`` of the record, ``big`` is ``number`` random bytes."""

    kind: str
    data: bytes = b""
    number: int = 0


@dataclasses.dataclass(frozen=True)
class ClientCase:
    """What the client asks, what the hub sends back, and what must happen.

    ``expect``:

    - ``"fault"``: the call fails with :class:`HubProtocolError`;
    - ``"transport"``: it fails with a :class:`TransportError` (record-layer trouble, which the
      connection also drops);
    - ``"op_error"``: it fails with an :class:`OpError` (a well-formed error reply);
    - ``"mutated"``: the mutated message was valid after all; the call returns it;
    - ``"good"``: the hostile frames were ignored (a stale reply, a passed-on event); the call
      returns the valid answer that follows them;
    - ``"any"``: random bytes: any library error, or the valid answer.

    ``event``: for the event family, whether the event must reach ``on_event``.
    """

    family: str
    op: str
    frames: tuple[Frame, ...]
    expect: str
    mutated: dict[str, Any] | None = None
    event: str | None = None
    delivered: bool = False
    #: server_hello: how the ServerHello is changed (kind, bit or length, extra bytes).
    mangle: tuple[str, int, bytes] | None = None

    @property
    def args(self) -> dict[str, Any]:
        return copy.deepcopy(ARGS_EXAMPLES[self.op])


# ------------------------------------------------------------------------------ value mutations

_HOSTILE_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.5,
    2**53,
    2**64,
    10**30,
    1e308,
    -1e308,
    "",
    "x",
    "zz" * 32,
    "0F" * 32,
    "0f" * 31 + "0",
    "0f" * 8,
    "0f" * 200,
    "ab" * 33,
    "../../etc/passwd",
    "/abs/path",
    "\x00",
    "\u202e",
    "\U000e0041",
    "a" * 70_000,
    [],
    [1],
    ["a"],
    {},
    {"a": 1},
    [[[[[]]]]],
)
hostile_values = st.one_of(
    st.sampled_from(_HOSTILE_VALUES),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.from_regex(r"[0-9a-fA-F]{0,140}", fullmatch=True),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``value`` (dict keys and list indexes), the root first."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(_paths(item, (*prefix, i)))
    return out


def _set(root: dict[str, Any], path: tuple[Any, ...], action: str, value: Any) -> Any:
    """Apply ``action`` at ``path`` of ``root`` (a deep copy); returns the new root."""
    root = copy.deepcopy(root)
    if not path:
        if action == "extra":
            root["unexpected_field"] = value
            return root
        return value if action == "replace" else [root]
    parent: Any = root
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = value
    elif action == "wrap":
        parent[last] = [parent[last]]
    elif action == "extra":
        target = parent[last]
        if isinstance(target, dict):
            target["unexpected_field"] = value
        else:
            parent[last] = {"unexpected_field": value}
    return root


@st.composite
def mutated_object(draw: st.DrawFn, example: dict[str, Any]) -> Any:
    """``example`` with one change at one place (which may leave it valid)."""
    path = draw(st.sampled_from(_paths(example)))
    action = draw(st.sampled_from(("delete", "replace", "replace", "replace", "wrap", "extra")))
    if action == "delete" and (not path or not isinstance(_at(example, path[:-1]), dict)):
        action = "replace"
    return _set(example, path, action, draw(hostile_values))


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _valid(check: Any) -> bool:
    try:
        check()
    except ProtocolError:
        return False
    return True


# ------------------------------------------------------------------------------ families


def _response(result: Any, id: Any = REQUEST_ID) -> bytes:
    return dumps({"id": id, "ok": True, "result": result})


@st.composite
def reply_cases(draw: st.DrawFn) -> ClientCase:
    op = draw(st.sampled_from(OPS))
    mutated = draw(mutated_object(good_result(op)))
    ok = isinstance(mutated, dict) and _valid(lambda: parse_result(op, mutated))
    expect = "mutated" if ok else "fault"
    return ClientCase("reply", op, (Frame("plain", _response(mutated)),), expect, mutated=mutated)


@st.composite
def hello_cases(draw: st.DrawFn) -> ClientCase:
    secret = draw(
        st.one_of(
            st.sampled_from(_HOSTILE_VALUES),
            st.from_regex(r"[0-9a-fA-Fg-z]{0,140}", fullmatch=True),
        )
    )
    base = good_result("hello")
    if draw(st.booleans()):
        mutated = {**base, "resume_secret": secret}
    else:
        mutated = draw(mutated_object(base))
    ok = isinstance(mutated, dict) and _valid(lambda: parse_result("hello", mutated))
    frames = (Frame("plain", _response(mutated, 1)),)
    return ClientCase("hello", "hello", frames, "mutated" if ok else "fault", mutated=mutated)


def _error(error: Any, **extra: Any) -> bytes:
    return dumps({"id": REQUEST_ID, "ok": False, "error": error, **extra})


def _deep(depth: int) -> bytes:
    return (
        b'{"id":2,"ok":true,"result":{"x":' + b"[" * depth + b"]" * depth + b"}}"
    )  # fmt: skip


_ENVELOPES: tuple[tuple[bytes, str], ...] = (
    (dumps({"id": REQUEST_ID + 1, "ok": True, "result": {}}), "fault"),  # never sent
    (dumps({"id": 10**6, "ok": True, "result": {}}), "fault"),
    (dumps({"id": 0, "ok": True, "result": {}}), "fault"),
    (dumps({"id": -1, "ok": True, "result": {}}), "fault"),
    (dumps({"id": 2**53, "ok": True, "result": {}}), "fault"),
    (dumps({"id": "2", "ok": True, "result": {}}), "fault"),
    (dumps({"id": 2.0, "ok": True, "result": {}}), "fault"),
    (dumps({"id": True, "ok": True, "result": {}}), "fault"),
    (dumps({"id": None, "ok": True, "result": {}}), "fault"),
    (dumps({"id": 1, "ok": True, "result": {}}), "good"),  # hello's id: a stale reply
    (dumps({"id": None, "ok": False, "error": {"code": "invalid", "message": "?"}}), "good"),
    (dumps({"id": REQUEST_ID, "result": {}}), "fault"),
    (dumps({"id": REQUEST_ID, "ok": "true", "result": {}}), "fault"),
    (dumps({"id": REQUEST_ID, "ok": 1, "result": {}}), "fault"),
    (dumps({"id": REQUEST_ID, "ok": True}), "fault"),
    (dumps({"id": REQUEST_ID, "ok": True, "result": []}), "fault"),
    (dumps({"id": REQUEST_ID, "ok": True, "result": "ok"}), "fault"),
    (dumps({"id": REQUEST_ID, "ok": True, "result": {}, "error": {}}), "fault"),
    (dumps({"id": REQUEST_ID, "ok": True, "result": {}, "extra": 1}), "fault"),
    (dumps({"id": REQUEST_ID, "ok": False}), "fault"),
    (dumps({"id": REQUEST_ID, "ok": False, "error": {}}), "fault"),
    (dumps({"id": REQUEST_ID, "ok": False, "error": {"code": 5, "message": "x"}}), "fault"),
    (dumps({"id": REQUEST_ID, "ok": False, "error": {"code": "locked"}}), "fault"),
    (_error({"code": "x", "message": "y" * 2000}), "fault"),
    (dumps({"id": REQUEST_ID, "ok": False, "error": {"code": "", "message": "x"}}), "fault"),
    (_error({"code": "x", "message": "m", "data": []}), "fault"),
    (_error({"code": "x", "message": "m", "more": 1}), "fault"),
    (_error({"code": "x", "message": "m"}, result={}), "fault"),
    (_error({"code": "locked", "message": "held"}), "op_error"),
    (_error({"code": "from_the_future", "message": "m"}), "op_error"),
    (_error({"code": "x", "message": "m", "data": {"a": [1, {"b": None}]}}), "op_error"),
    (dumps([]), "fault"),
    (dumps("hello"), "fault"),
    (dumps(42), "fault"),
    (dumps(None), "fault"),
    (b"", "fault"),
    (b"{", "fault"),
    (b'{"id":2,"ok":true,"result":{}}trailing', "fault"),
    (b'{"id":2,"id":2,"ok":true,"result":{}}', "fault"),
    (b'{"id":2,"ok":true,"result":{"now":NaN}}', "fault"),
    (b'{"id":2,"ok":true,"result":{"now":Infinity}}', "fault"),
    (b'{"id":2,"ok":true,"result":{"now":1e400}}', "fault"),
    (b'{"id":2,"ok":true,"result":{"now":' + b"9" * 5000 + b"}}", "fault"),
    (b'{"id":' + b"9" * 5000 + b',"ok":true,"result":{}}', "fault"),
    (b'{"id":2,"ok":true,"result":{"x":"\\ud800"}}', "fault"),
    (b"\xef\xbb\xbf" + b'{"id":2,"ok":true,"result":{}}', "fault"),  # a byte order mark
    (b'{"id":2,"ok":true,"result":{"x":"\xff\xfe"}}', "fault"),
    (b"\x80" * 64, "fault"),
    (b'{"event":5,"seq":1,"data":{}}', "fault"),
    (b'{"event":"","seq":1,"data":{}}', "fault"),
    (dumps({"event": "e" * 65, "seq": 1, "data": {}}), "fault"),
    (b'{"event":"kicked","seq":-1,"data":{}}', "fault"),
    (b'{"event":"kicked","seq":"1","data":{}}', "fault"),
    (b'{"event":"kicked","data":{}}', "fault"),
    (b'{"event":"kicked","seq":1}', "fault"),
    (b'{"event":"kicked","seq":1,"data":[]}', "fault"),
    (b'{"event":"kicked","seq":1,"data":{},"id":2}', "fault"),
    *((_deep(depth), "fault") for depth in DEEP),
)  # fmt: skip


@st.composite
def envelope_cases(draw: st.DrawFn) -> ClientCase:
    op = draw(st.sampled_from(OPS))
    if draw(st.integers(0, 9)) == 0:
        plaintext = draw(st.binary(max_size=300))
        return ClientCase("envelope", op, (Frame("plain", plaintext),), "any")
    plaintext, expect = draw(st.sampled_from(_ENVELOPES))
    return ClientCase("envelope", op, (Frame("plain", plaintext),), expect)


_UNKNOWN_EVENTS = st.one_of(
    st.sampled_from(("future_event", "Admitted", "admitted ", "peer_joined2", "x" * 64)),
    st.text(min_size=1, max_size=64).filter(lambda name: name not in catalogue.EVENTS),
)


@st.composite
def event_cases(draw: st.DrawFn) -> ClientCase:
    op = draw(st.sampled_from(OPS))
    seq = draw(st.integers(0, MAX_ID))
    if draw(st.integers(0, 4)) == 0:
        name = draw(_UNKNOWN_EVENTS)
        data = draw(st.one_of(st.just({}), mutated_object(good_event("kicked"))))
        if not isinstance(data, dict):
            data = {"value": data}
        frame = Frame("plain", dumps({"event": name, "seq": seq, "data": data}))
        return ClientCase("event", op, (frame,), "good", event=name, delivered=True)
    name = draw(st.sampled_from(EVENT_NAMES))
    data = draw(st.one_of(mutated_object(good_event(name)), st.just(good_event(name))))
    if not isinstance(data, dict):
        frame = Frame("plain", dumps({"event": name, "seq": seq, "data": data}))
        return ClientCase("event", op, (frame,), "fault", event=name)
    ok = _valid(lambda: parse_event_data(name, data))
    frame = Frame("plain", dumps({"event": name, "seq": seq, "data": data}))
    return ClientCase(
        "event", op, (frame,), "good" if ok else "fault", mutated=data, event=name, delivered=ok
    )


@st.composite
def record_cases(draw: st.DrawFn) -> ClientCase:
    op = draw(st.sampled_from(OPS))
    kind = draw(st.sampled_from(("text", "raw", "flip", "replay", "big", "empty")))
    event = dumps({"event": "hub_stopping", "seq": 1, "data": {}})
    if kind == "text":
        frame = Frame("text", draw(st.text(max_size=100)).encode("utf-8"))
    elif kind == "raw":
        frame = Frame("raw", draw(st.binary(min_size=1, max_size=200)))
    elif kind == "flip":
        frame = Frame("flip", event, draw(st.integers(0, 2**16)))  # modulo the record's bits
    elif kind == "replay":
        frame = Frame("replay", event)
    elif kind == "big":
        frame = Frame("big", number=CLIENT_MAX_FRAME + draw(st.integers(1, 64 * 1024)))
    else:
        frame = Frame("raw", b"")
    return ClientCase("record", op, (frame,), "transport")


@st.composite
def server_hello_cases(draw: st.DrawFn) -> ClientCase:
    kind = draw(st.sampled_from(("bit", "truncate", "extend", "random", "empty")))
    number = draw(st.integers(0, 82 * 8 - 1))
    payload = draw(st.binary(min_size=1, max_size=100))
    return ClientCase("server_hello", "ping", (), "transport", mangle=(kind, number, payload))


def mangle_server_hello(case: ClientCase, real: bytes) -> bytes:
    """The bytes a ``server_hello`` case sends instead of the real ServerHello (never equal)."""
    assert case.mangle is not None
    kind, number, payload = case.mangle
    if kind == "bit":
        out = bytearray(real)
        out[number // 8] ^= 1 << (number % 8)
        return bytes(out)
    if kind == "truncate":
        return real[: number % len(real)]
    if kind == "extend":
        return real + payload
    if kind == "random":
        return payload if payload != real else payload + b"\x00"
    return b""


client_cases = st.one_of(
    reply_cases(),
    reply_cases(),
    hello_cases(),
    envelope_cases(),
    event_cases(),
    event_cases(),
    record_cases(),
    server_hello_cases(),
)
