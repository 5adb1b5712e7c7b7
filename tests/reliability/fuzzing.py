"""Hypothesis strategies for fuzzing the hub, shared by the pure-core and real-connection tiers.

Three families (issue 8, item 1):

(a) garbage: random frames before the handshake, in place of the ClientFinished, and in place of
    records after a complete handshake;
(b) mutated handshakes: a well-formed ClientHello or ClientFinished of a real credential with one
    field changed (or the length), plus a revoked invite, low-order keys with a valid MAC,
    replayed hellos, a finished tag from an earlier session and unknown secrets;
(c) bad application messages inside valid records: malformed envelopes and arguments (every
    decode failure reason), hostile paths in well-formed requests, ops the role may not call,
    ops before ``hello`` and a second ``hello``.

Every generated case is *invalid by construction*; the tests check that the hub refuses it.
"""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

from hypothesis import strategies as st

from letswork.shared.limits import MAX_JSON_DEPTH
from letswork.shared.protocol import catalogue
from letswork.shared.protocol.base import MAX_ID

# ------------------------------------------------------------------------------ handshake frames

HELLO_FIELDS: dict[str, tuple[int, int]] = {
    "type": (0, 1),
    "version": (1, 2),
    "invite_id": (2, 18),
    "ephemeral": (18, 50),
    "nonce": (50, 66),
    "mac": (66, 98),
}
FINISHED_FIELDS: dict[str, tuple[int, int]] = {"type": (0, 1), "version": (1, 2), "tag": (2, 34)}

#: X25519 public keys of small order (RFC 7748 section 7: X25519 of any of them is all zeros),
#: then the same seven with the top bit set, which RFC 7748 decoding clears.
_SMALL_ORDER = [
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]
LOW_ORDER_POINTS = _SMALL_ORDER + [p[:-1] + bytes([p[-1] | 0x80]) for p in _SMALL_ORDER]

#: The credentials a fuzz case may start from (the harness holds a secret for each).
CREDENTIALS = ("host", "editor", "viewer", "resume")


@dataclasses.dataclass(frozen=True)
class Mutation:
    """One change to a handshake frame; :meth:`apply` always returns different bytes."""

    kind: str  # "bit", "xor", "replace", "truncate", "extend"
    field: str
    payload: bytes = b""
    number: int = 0

    def apply(self, data: bytes, fields: dict[str, tuple[int, int]]) -> bytes:
        start, end = fields[self.field]
        out = bytearray(data)
        if self.kind == "bit":
            out[start + self.number // 8] ^= 1 << (self.number % 8)
        elif self.kind in ("xor", "replace"):
            chunk = bytearray(self.payload)
            if self.kind == "xor":
                if not any(chunk):
                    chunk[-1] = 1
                chunk = bytearray(a ^ b for a, b in zip(out[start:end], chunk, strict=True))
            elif chunk == out[start:end]:
                chunk[0] ^= 0xFF
            out[start:end] = chunk
        elif self.kind == "truncate":
            del out[self.number :]
        else:
            out += self.payload
        result = bytes(out)
        assert result != data
        return result


def mutations(fields: dict[str, tuple[int, int]], total: int) -> st.SearchStrategy[Mutation]:
    def for_field(name: str) -> st.SearchStrategy[Mutation]:
        start, end = fields[name]
        n = end - start
        return st.one_of(
            st.builds(Mutation, st.just("bit"), st.just(name), number=st.integers(0, n * 8 - 1)),
            st.builds(Mutation, st.just("xor"), st.just(name), st.binary(min_size=n, max_size=n)),
            st.builds(
                Mutation, st.just("replace"), st.just(name), st.binary(min_size=n, max_size=n)
            ),
        )

    return st.one_of(
        st.sampled_from(sorted(fields)).flatmap(for_field),
        st.builds(Mutation, st.just("truncate"), st.just("type"), number=st.integers(0, total - 1)),
        st.builds(Mutation, st.just("extend"), st.just("type"), st.binary(min_size=1, max_size=64)),
    )


#: One frame of garbage: random bytes, or bytes shaped like a hello, a finished or a record.
garbage_frame: st.SearchStrategy[bytes | str] = st.one_of(
    st.binary(max_size=300),
    st.binary(min_size=96, max_size=96).map(lambda b: b"\x01\x01" + b),
    st.binary(min_size=32, max_size=32).map(lambda b: b"\x03\x01" + b),
    st.binary(min_size=16, max_size=200).map(lambda b: b"LW\x01" + bytes(8) + b),
    st.text(max_size=100),
)


@dataclasses.dataclass(frozen=True)
class GarbageCase:
    """(a): where the garbage goes, which credential the valid part uses, the frames."""

    position: str  # "first", "after_hello", "after_finished"
    credential: str
    frames: tuple[bytes | str, ...]


garbage_cases = st.builds(
    GarbageCase,
    st.sampled_from(("first", "after_hello", "after_finished")),
    st.sampled_from(CREDENTIALS),
    st.lists(garbage_frame, min_size=1, max_size=3).map(tuple),
)


@dataclasses.dataclass(frozen=True)
class HandshakeCase:
    """(b): a well-formed handshake broken in one way."""

    kind: str  # "hello", "finished", "revoked", "low_order", "replay", "old_finished", "stranger"
    credential: str
    mutation: Mutation | None = None
    point: bytes = b""
    secret: bytes = b""
    #: the ClientHello nonce, so that cases without another random part still differ
    nonce: bytes = bytes(16)


_nonces = st.binary(min_size=16, max_size=16)
handshake_cases = st.one_of(
    st.builds(
        HandshakeCase,
        st.just("hello"),
        st.sampled_from(CREDENTIALS),
        mutation=mutations(HELLO_FIELDS, 98),
    ),
    st.builds(
        HandshakeCase,
        st.just("finished"),
        st.sampled_from(CREDENTIALS),
        mutation=mutations(FINISHED_FIELDS, 34),
    ),
    st.builds(HandshakeCase, st.just("revoked"), st.just("revoked"), nonce=_nonces),
    st.builds(
        HandshakeCase,
        st.just("low_order"),
        st.sampled_from(CREDENTIALS),
        point=st.sampled_from(LOW_ORDER_POINTS),
        nonce=_nonces,
    ),
    st.builds(HandshakeCase, st.just("replay"), st.sampled_from(CREDENTIALS), nonce=_nonces),
    st.builds(HandshakeCase, st.just("old_finished"), st.sampled_from(CREDENTIALS), nonce=_nonces),
    st.builds(
        HandshakeCase,
        st.just("stranger"),
        st.just("stranger"),
        secret=st.binary(min_size=16, max_size=64),
    ),
)

# ------------------------------------------------------------------------------ app messages

#: A valid request body for every op (harmless values); the mutations start from these.
TEMPLATES: dict[str, dict[str, Any]] = {
    "hello": {"name": "fuzzer", "client": "fuzz"},
    "ping": {},
    "status": {},
    "set_display_name": {"name": "fuzz two"},
    "list_files": {"path": "src", "recursive": True, "depth": 2},
    "read_file": {"path": "notes.txt", "offset": 0, "limit": 10},
    "search_files": {
        "pattern": "alpha",
        "path": "",
        "regex": False,
        "glob": "*.txt",
        "case_sensitive": True,
        "max_results": 5,
    },
    "find_files": {"glob": "*.py", "path": "", "max_results": 5},
    "write_file": {"path": "notes.txt", "content": "fuzz\n"},
    "edit_file": {
        "path": "notes.txt",
        "old_string": "alpha",
        "new_string": "omega",
        "replace_all": False,
    },
    "delete_file": {"path": "notes.txt"},
    "move_file": {"path": "notes.txt", "new_path": "moved.txt"},
    "pending_changes": {"include_diff": True},
    "my_changes": {"status": "pending"},
    "get_change": {"id": "0000"},
    "approve_change": {"id": "0000"},
    "reject_change": {"id": "0000", "reason": "fuzz"},
    "lock_file": {"path": "notes.txt", "ttl_seconds": 60},
    "unlock_file": {"path": "notes.txt"},
    "force_unlock": {"path": "notes.txt"},
    "admit": {"name": "nobody"},
    "deny": {"name": "nobody", "reason": "fuzz"},
    "kick": {"name": "nobody", "reason": "fuzz"},
    "trust": {"name": "nobody"},
    "untrust": {"name": "nobody"},
    "create_invite": {"role": "viewer", "label": "fuzz"},
    "list_invites": {},
    "revoke_invite": {"label": "first"},
    "shutdown": {},
    "send_message": {"body": "hello there"},
    "get_messages": {"limit": 5},
    "mark_read": {"ids": [1]},
    "add_task": {"title": "a task"},
    "plan": {"tasks": [{"key": "a", "title": "a task"}]},
    "claim_task": {"id": 1},
    "unclaim_task": {"id": 1},
    "update_task": {"id": 1, "note": "n"},
    "board": {},
    "get_task": {"id": 1},
    "set_var": {"key": "k", "value": "v"},
    "get_var": {"key": "k"},
    "delete_var": {"key": "k"},
    "list_peers": {},
    "publish_card": {"opt_in": False},
    "activity_log": {"limit": 5},
    "leave": {},
}
OPS = sorted(TEMPLATES)
#: The error codes a message the decoder refuses may get (docs/protocol.md, "Validation").
DECODE_CODES = frozenset({"invalid", "unknown_op", "too_large", "binary_file"})

_POOL: dict[str, Any] = {
    "string": "s",
    "integer": 7,
    "number": 2.5,
    "boolean": True,
    "array": [],
    "object": {},
    "null": None,
}


def _resolve(schema: dict[str, Any], alt: dict[str, Any]) -> dict[str, Any]:
    """``alt``, or the ``$defs`` entry its local ``$ref`` (``#/$defs/Name``) names."""
    ref = alt.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
        return alt
    resolved: dict[str, Any] = schema["$defs"][ref.removeprefix("#/$defs/")]
    return resolved


def _field_info() -> dict[str, dict[str, dict[str, Any]]]:
    """Per op, per argument: its JSON types, maxLength, pattern, and whether it is required."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for op, spec in catalogue.OPS.items():
        schema = spec.args.model_json_schema()
        required = set(schema.get("required", []))
        fields: dict[str, dict[str, Any]] = {}
        for name, prop in schema.get("properties", {}).items():
            types: set[str] = set()
            max_len: int | None = None
            pattern: str | None = None
            for alt in prop.get("anyOf", [prop]):
                # A nested model is a ``$ref`` to ``$defs``: its type is the definition's (an
                # object; without this, ``{}`` for hello's ``events`` counted as a wrong type).
                alt = _resolve(schema, alt)
                kind = alt.get("type")
                if kind is None and ("enum" in alt or "const" in alt):
                    kind = "string"
                if kind is not None:
                    types.add(kind)
                max_len = alt.get("maxLength", max_len)
                pattern = alt.get("pattern", pattern)
            if "number" in types:
                types.add("integer")
            fields[name] = {
                "types": types,
                "max_len": max_len,
                "pattern": pattern,
                "required": name in required,
            }
        out[op] = fields
    return out


FIELDS = _field_info()


def _request(op: str, rid: int, args: Any = None) -> dict[str, Any]:
    return {"id": rid, "op": op, "args": dict(TEMPLATES[op]) if args is None else args}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


_ids = st.integers(0, MAX_ID)
_ops = st.sampled_from(OPS)
#: JSON values of every type, odd and nested ones included (a pool is much cheaper to draw
#: from than ``st.recursive``, which matters at 100,000 cases).
JSON_POOL: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    MAX_ID + 1,
    -(2**63),
    1e308,
    "",
    "x",
    "é\u2028\u0000\u202e",
    "a" * 2000,
    [],
    [1, [2, [3, [4]]]],
    {},
    {"a": {"b": [None, {"c": "d"}]}},
    {"id": 1, "op": "ping"},
    ["ping"],
    "ping",
    3.0,
)
json_values = st.one_of(st.sampled_from(JSON_POOL), st.text(max_size=12), st.integers())
_NON_OBJECTS = tuple(v for v in JSON_POOL if not isinstance(v, dict))


def _other_than(value: str, taken: Any) -> str:
    """``value``, changed if it is one of ``taken`` (cheaper than a Hypothesis filter)."""
    return value if value not in taken else value + "_"


@st.composite
def malformed_messages(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    """``(kind, plaintext, certain)``: a message the decoder must refuse.

    ``certain`` is False for purely random input, which could in principle be valid; the test
    skips such a case if the decoder accepts it. Every other kind is invalid by construction.
    """
    kind = draw(
        st.sampled_from(
            (
                "extra_top",
                "extra_arg",
                "bad_id",
                "bad_op",
                "bad_args",
                "missing_arg",
                "wrong_type",
                "too_long",
                "bad_pattern",
                "not_json",
                "too_deep",
                "not_object",
                "random_json",
                "random_bytes",
            )
        )
    )
    rid = draw(_ids)
    op = draw(_ops)
    fields = FIELDS[op]
    msg = _request(op, rid)
    if kind == "extra_top":
        key = _other_than(draw(st.text(max_size=12)), ("id", "op", "args"))
        msg[key] = draw(json_values)
    elif kind == "extra_arg":
        key = _other_than(draw(st.text(max_size=12)), fields)
        msg["args"][key] = draw(json_values)
    elif kind == "bad_id":
        bad: Any = draw(st.sampled_from(("missing", "1", 1.5, True, None, -1, MAX_ID + 1, [], {})))
        if bad == "missing":
            del msg["id"]
        else:
            msg["id"] = bad
    elif kind == "bad_op":
        choice = draw(st.sampled_from(("missing", "type", "unknown")))
        if choice == "missing":
            del msg["op"]
        elif choice == "type":
            msg["op"] = draw(st.sampled_from((1, None, True, [], {"op": "ping"})))
        else:
            msg["op"] = _other_than(draw(st.text(max_size=20)), catalogue.OPS)
    elif kind == "bad_args":
        msg["args"] = draw(st.sampled_from(([], "x", 1, 1.5, True, None, [{}])))
    elif kind == "missing_arg":
        required = sorted(name for name, info in fields.items() if info["required"])
        if not required:
            return "missing_arg", _dumps({"op": op, "args": {}}), True  # missing id instead
        del msg["args"][draw(st.sampled_from(required))]
    elif kind == "wrong_type":
        if not fields:
            msg["args"] = draw(st.sampled_from(([], "x", 1)))
        else:
            name = draw(st.sampled_from(sorted(fields)))
            wrong = [t for t in _POOL if t not in fields[name]["types"]]
            msg["args"][name] = _POOL[draw(st.sampled_from(wrong))]
    elif kind == "too_long":
        names = sorted(
            n for n, info in fields.items() if info["max_len"] and info["max_len"] <= 4096
        )
        if not names:
            msg["op"] = "x" * 65  # an unknown op instead
        else:
            name = draw(st.sampled_from(names))
            msg["args"][name] = "a" * (fields[name]["max_len"] + 1)
    elif kind == "bad_pattern":
        names = sorted(n for n, info in fields.items() if info["pattern"])
        if not names:
            msg["id"] = -draw(st.integers(1, 10**6))
        else:
            msg["args"][draw(st.sampled_from(names))] = "é!"
    elif kind == "not_json":
        body = _dumps(msg)
        variant = draw(st.sampled_from(("bad_utf8", "bom", "truncated", "dup", "nan", "inf")))
        if variant == "bad_utf8":
            return kind, b"\xff" + body, True
        if variant == "bom":
            return kind, b"\xef\xbb\xbf" + body, True
        if variant == "truncated":
            return kind, body[: draw(st.integers(0, len(body) - 1))], True
        if variant == "dup":
            return kind, b'{"id":%d,"id":%d' % (rid, rid) + body[body.index(b",") :], True
        number = b"NaN" if variant == "nan" else draw(st.sampled_from((b"Infinity", b"1e400")))
        return (
            kind,
            b'{"id":%d,"op":"read_file","args":{"path":"a","offset":%s}}'
            % (
                rid,
                number,
            ),
            True,
        )
    elif kind == "too_deep":
        depth = draw(st.integers(MAX_JSON_DEPTH, MAX_JSON_DEPTH + 40))
        nested: Any = 0
        for _ in range(depth):
            nested = [nested]
        msg["args"] = {"path": nested}
    elif kind == "not_object":
        return kind, _dumps(draw(st.sampled_from(_NON_OBJECTS))), True
    elif kind == "random_json":
        fields_drawn = draw(st.dictionaries(st.text(max_size=6), json_values, max_size=5))
        return kind, _dumps(fields_drawn), False
    else:
        return kind, draw(st.binary(max_size=200)), False
    return kind, _dumps(msg), True


# ------------------------------------------------------------------------------ hostile requests

#: Paths no peer may use, wherever they appear: they leave the root or are not paths at all.
ESCAPES_ANYWHERE = (
    "..",
    "../outside/secret.txt",
    "a/../notes.txt",
    "../../../../../../etc/passwd",
    "src\\app.py",
    "..\\outside",
    "notes.txt\x00.py",
    "\x1bapp.py",
    "x" * 256,
)
#: Paths no peer may use as written (with no prefix).
ESCAPES_ROOTED = (
    "/etc/passwd",
    "//srv/share",
    "C:\\x",
    "C:/x",
    "c:x",
    "out/secret.txt",  # a symlink in the project that points outside it
    "out",
    "loop/x",  # a symlink loop
)
ESCAPES = ESCAPES_ANYWHERE + ESCAPES_ROOTED
#: Paths a guest may not see (the host may).
UNSHARED = (".env", ".git/config", "debug.log", ".env.production", "build/x.txt")
#: Git metadata, which nobody reads or writes through the hub, the host included (issue 13).
GIT_METADATA = (".git", "src/.git", ".GIT/config", "GIT~1/HEAD", ".git./hooks/x", ".Git")

PATH_FIELDS = (
    ("list_files", "path"),
    ("read_file", "path"),
    ("search_files", "path"),
    ("find_files", "path"),
    ("write_file", "path"),
    ("edit_file", "path"),
    ("delete_file", "path"),
    ("move_file", "path"),
    ("move_file", "new_path"),
    ("lock_file", "path"),
    ("unlock_file", "path"),
    ("force_unlock", "path"),
)


@dataclasses.dataclass(frozen=True)
class RequestCase:
    """(c), well-formed envelope: a request the hub must refuse for this peer."""

    kind: str  # "hostile_path", "forbidden", "before_hello", "hello_again"
    role: str  # "host", "editor", "viewer" (or the credential, for "before_hello")
    op: str
    args: dict[str, Any]
    request_id: int

    def body(self) -> bytes:
        return _dumps({"id": self.request_id, "op": self.op, "args": self.args})


@st.composite
def request_cases(draw: st.DrawFn) -> RequestCase:
    kind = draw(st.sampled_from(("hostile_path", "forbidden", "before_hello", "hello_again")))
    rid = draw(_ids)
    if kind == "hostile_path":
        role = draw(st.sampled_from(("host", "editor", "viewer")))
        op, name = draw(st.sampled_from(PATH_FIELDS))
        pool = ESCAPES + GIT_METADATA if role == "host" else ESCAPES + GIT_METADATA + UNSHARED
        path = draw(st.sampled_from(pool))
        if path in ESCAPES_ANYWHERE:
            path = draw(st.sampled_from(("", "src/", "./", "src//", "src/deep/"))) + path
        args = dict(TEMPLATES[op])
        args[name] = path
        return RequestCase(kind, role, op, args, rid)
    if kind == "forbidden":
        role = draw(st.sampled_from(("editor", "viewer")))
        op = draw(st.sampled_from([o for o in OPS if role not in catalogue.OPS[o].roles]))
        return RequestCase(kind, role, op, dict(TEMPLATES[op]), rid)
    if kind == "before_hello":
        role = draw(st.sampled_from(CREDENTIALS))
        op = draw(st.sampled_from([o for o in OPS if o != "hello"]))
        return RequestCase(kind, role, op, dict(TEMPLATES[op]), rid)
    role = draw(st.sampled_from(("host", "editor", "viewer")))
    return RequestCase(kind, role, "hello", dict(TEMPLATES["hello"]), rid)


def acceptable_refusal(case: RequestCase, reply: dict[str, Any]) -> bool:
    """Whether ``reply`` is a correct refusal of ``case`` (an error, or a no-op unlock)."""
    if reply.get("ok") is False:
        code = reply["error"]["code"]
        if case.kind == "forbidden":
            return bool(code == "forbidden")
        if case.kind in ("before_hello", "hello_again"):
            return bool(code == "invalid")
        return True
    # Unlocking is answered without resolving the path: nothing was locked, nothing released.
    return (
        case.op in ("unlock_file", "force_unlock")
        and reply.get("result", {}).get("released") is False
    )


#: (c) in one strategy: ``("malformed", role, (kind, body, certain))`` or
#: ``("request", "", RequestCase)``.
message_cases = st.one_of(
    st.tuples(
        st.just("malformed"), st.sampled_from(("host", "editor", "viewer")), malformed_messages()
    ),
    st.tuples(st.just("request"), st.just(""), request_cases()),
)


def batches(strategy: st.SearchStrategy[Any], size: int) -> st.SearchStrategy[list[Any]]:
    """``size`` cases per Hypothesis example: the engine's per-example cost is paid once."""
    return st.lists(strategy, min_size=size, max_size=size)


# ------------------------------------------------------------------------------ derived cases


def byte_mutants(rnd: random.Random, data: bytes, count: int) -> list[bytes]:
    """``count`` variants of ``data``, each with 1-4 random byte edits (flip a bit, set a byte,
    insert bytes, delete a slice): the classic mutational fuzzer's step, seeded by Hypothesis.
    """
    out: list[bytes] = []
    for _ in range(count):
        buf = bytearray(data)
        for _ in range(rnd.randint(1, 4)):
            choice = rnd.randrange(4) if buf else 2
            if choice == 0:
                pos = rnd.randrange(len(buf))
                buf[pos] ^= 1 << rnd.randrange(8)
            elif choice == 1:
                buf[rnd.randrange(len(buf))] = rnd.randrange(256)
            elif choice == 2:
                pos = rnd.randint(0, len(buf))
                buf[pos:pos] = rnd.randbytes(rnd.randint(1, 8))
            else:
                pos = rnd.randrange(len(buf))
                del buf[pos : pos + rnd.randint(1, 8)]
        out.append(bytes(buf))
    return out


def request_siblings(rnd: random.Random, case: RequestCase, count: int) -> list[RequestCase]:
    """``count`` more refusals of the same kind as ``case``, varied by ``rnd``."""
    out: list[RequestCase] = []
    for _ in range(count):
        rid = rnd.randint(0, MAX_ID)
        if case.kind == "hostile_path":
            op, name = rnd.choice(PATH_FIELDS)
            host = case.role == "host"
            path = rnd.choice(ESCAPES + GIT_METADATA + (() if host else UNSHARED))
            if path in ESCAPES_ANYWHERE:
                path = rnd.choice(("", "src/", "./", "src//", "src/deep/")) + path
            args = dict(TEMPLATES[op])
            args[name] = path
            out.append(RequestCase(case.kind, case.role, op, args, rid))
        elif case.kind == "forbidden":
            op = rnd.choice([o for o in OPS if case.role not in catalogue.OPS[o].roles])
            out.append(RequestCase(case.kind, case.role, op, dict(TEMPLATES[op]), rid))
        elif case.kind == "before_hello":
            op = rnd.choice([o for o in OPS if o != "hello"])
            out.append(RequestCase(case.kind, case.role, op, dict(TEMPLATES[op]), rid))
        else:
            role = rnd.choice(("host", "editor", "viewer"))
            out.append(RequestCase(case.kind, role, "hello", dict(TEMPLATES["hello"]), rid))
    return out
