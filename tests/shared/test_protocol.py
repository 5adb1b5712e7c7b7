"""The message catalogue: round trips, malformed input, catalogue invariants."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError, ProtocolError, op_error
from letswork.shared.protocol.base import ALL_ROLES, MAX_ID, LockInfo, WireModel
from letswork.shared.protocol.catalogue import COMMON_ERRORS, EVENTS, OPS
from letswork.shared.protocol.changes import ChangeInfo
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

SHA = "ab" * 32
SHA2 = "cd" * 32
T = 1_700_000_000.25

LOCK: dict[str, Any] = {"path": "src/app.py", "holder": "alice", "expires_at": T + 1800}
CHANGE: dict[str, Any] = {
    "id": "c1",
    "author": "bob",
    "kind": "edit",
    "path": "src/app.py",
    "base_sha256": SHA,
    "new_sha256": SHA2,
    "status": "pending",
    "diff": "--- a/src/app.py\n+++ b/src/app.py\n@@ -1 +1 @@\n-a\n+b\n",
    "created_at": T,
    "size": 2,
}
DECIDED = {**CHANGE, "status": "applied", "decided_at": T + 5, "decided_by": "host"}
MESSAGE: dict[str, Any] = {
    "id": 7,
    "type": "finding",
    "sender": "alice",
    "to": "bob",
    "body": "the bug is in parse()",
    "refs": [
        {
            "path": "src/app.py",
            "start_line": 3,
            "end_line": 4,
            "text": "def parse():\n    pass\n",
            "sha256": SHA,
            "truncated": False,
        }
    ],
    "created_at": T,
    "receipts": [{"name": "bob", "status": "read", "delivered_at": T + 1, "read_at": T + 2}],
}
TASK: dict[str, Any] = {
    "id": 3,
    "title": "Write the parser",
    "description": "",
    "priority": "high",
    "status": "blocked",
    "assignee": "alice",
    "depends_on": [1, 2],
    "waiting_on": [2],
    "created_by": "host",
    "created_at": T,
    "updated_at": T + 5,
}
VAR: dict[str, Any] = {
    "key": "build.target",
    "value": "x86_64",
    "size": 6,
    "updated_by": "bob",
    "updated_at": T,
}
PEER: dict[str, Any] = {
    "peer_id": "p1",
    "name": "alice",
    "role": "editor",
    "state": "online",
    "trusted": False,
    "connected_at": T,
}

#: One valid ``args`` per op; the round-trip tests fail for an op missing here.
ARGS_EXAMPLES: dict[str, dict[str, Any]] = {
    "hello": {"name": "alice", "client": "claude-code 2.1"},
    "ping": {},
    "status": {},
    "set_display_name": {"name": "Alice B."},
    "list_files": {"path": "src", "recursive": True, "depth": 3},
    "read_file": {"path": "src/café.py", "offset": 10, "limit": 200},
    "search_files": {
        "pattern": "def .*\\(",
        "path": "src",
        "regex": True,
        "glob": "*.py",
        "case_sensitive": True,
        "max_results": limits.MAX_RESULTS,
    },
    "find_files": {"glob": "**/*.md", "max_results": 1},
    "write_file": {"path": "new.txt", "content": "héllo\n", "base_sha256": SHA},
    "edit_file": {"path": "a.py", "old_string": "x = 1", "new_string": "", "replace_all": True},
    "delete_file": {"path": "old.txt", "base_sha256": SHA},
    "move_file": {"path": "a.py", "new_path": "b/a.py"},
    "pending_changes": {"include_diff": False},
    "my_changes": {"status": "conflict"},
    "get_change": {"id": "c1"},
    "approve_change": {"id": "c1"},
    "reject_change": {"id": "c1", "reason": "not now"},
    "lock_file": {"path": "a.py", "ttl_seconds": 60},
    "unlock_file": {"path": "a.py"},
    "force_unlock": {"path": "a.py"},
    "admit": {"name": "bob"},
    "deny": {"name": "bob", "reason": "who are you?"},
    "kick": {"name": "bob"},
    "trust": {"name": "bob"},
    "untrust": {"name": "bob"},
    "create_invite": {"role": "viewer", "label": "for carol"},
    "list_invites": {},
    "revoke_invite": {"label": "for carol"},
    "shutdown": {},
    "send_message": {
        "type": "question",
        "body": "which branch?",
        "to": "bob",
        "refs": [{"path": "src/app.py", "start_line": 1, "end_line": 9}],
    },
    "get_messages": {"since_id": 4, "sender": "bob", "type": "chat", "limit": 200},
    "mark_read": {"ids": [1, 2, 3]},
    "add_task": {"title": "Parser", "priority": "critical", "depends_on": [1]},
    "plan": {
        "tasks": [
            {"key": "a", "title": "First"},
            {"key": "b", "title": "Then", "assignee": "bob", "depends_on": ["a", 4]},
        ]
    },
    "claim_task": {"id": 3},
    "unclaim_task": {"id": 3},
    "update_task": {"id": 3, "status": "done", "note": "merged"},
    "board": {},
    "get_task": {"id": 3},
    "set_var": {"key": "build.target", "value": "x86_64"},
    "get_var": {"key": "*"},
    "delete_var": {"key": "build.target"},
    "list_peers": {},
    "publish_card": {"opt_in": True, "client": "claude-code", "mcp_servers": ["github"]},
    "activity_log": {"actor": "bob", "kind": "write_proposed", "since": T, "limit": 10},
    "leave": {},
}

#: One valid ``result`` per op.
RESULT_EXAMPLES: dict[str, dict[str, Any]] = {
    "hello": {
        "peer_id": "p1",
        "name": "alice",
        "role": "editor",
        "state": "admitted",
        "resume_secret": "0f" * 32,
        "project": "demo",
        "hub_version": "0.1.0",
        "events_seq": 0,
    },
    "ping": {"now": T},
    "status": {
        "project": "demo",
        "you": PEER,
        "peers": [PEER, {**PEER, "peer_id": "p2", "name": "host", "role": "host"}],
        "locks": [LOCK, {**LOCK, "path": "b.py", "change_id": "c1"}],
        "pending": 1,
    },
    "set_display_name": {"name": "Alice B."},
    "list_files": {
        "entries": [
            {"path": "src", "kind": "dir", "size": 0},
            {"path": "src/app.py", "kind": "file", "size": 120, "lock": LOCK},
            {"path": "link", "kind": "symlink", "size": 4},
        ],
        "truncated": False,
    },
    "read_file": {
        "path": "src/café.py",
        "text": "print('é')\n",
        "sha256": SHA,
        "offset": 0,
        "lines": 1,
        "total_lines": 1,
        "size": 13,
        "truncated": False,
    },
    "search_files": {
        "matches": [{"path": "a.py", "line": 3, "text": "def f():"}],
        "truncated": True,
        "files_scanned": 10,
    },
    "find_files": {"paths": ["README.md", "docs/x.md"], "truncated": False},
    "write_file": {"status": "pending", "change": {**CHANGE, "kind": "write"}},
    "edit_file": {"status": "applied", "change": DECIDED},
    "delete_file": {"status": "pending", "change": {**CHANGE, "kind": "delete"}},
    "move_file": {
        "status": "pending",
        "change": {**CHANGE, "kind": "move", "new_path": "b/app.py"},
    },
    "pending_changes": {"changes": [CHANGE]},
    "my_changes": {"changes": []},
    "get_change": {"change": CHANGE},
    "approve_change": {"change": {**DECIDED, "status": "conflict", "reason": "file changed"}},
    "reject_change": {"change": {**DECIDED, "status": "rejected", "reason": "not now"}},
    "lock_file": {"lock": LOCK},
    "unlock_file": {"released": True},
    "force_unlock": {"released": True, "holder": "bob"},
    "admit": {"name": "bob"},
    "deny": {"name": "bob"},
    "kick": {"name": "bob"},
    "trust": {"name": "bob", "trusted": True},
    "untrust": {"name": "bob", "trusted": False},
    "create_invite": {
        "invite_id": "9f" * 8,
        "code": "lw1-abcd-efgh",
        "role": "viewer",
        "label": "for carol",
    },
    "list_invites": {
        "invites": [
            {
                "invite_id": "9f" * 8,
                "role": "editor",
                "created_at": T,
                "revoked": False,
                "uses": 2,
            }
        ]
    },
    "revoke_invite": {"invite_id": "9f" * 8, "revoked": True, "disconnected": ["bob"]},
    "shutdown": {"stopping": True},
    "send_message": {"message": MESSAGE},
    "get_messages": {
        "messages": [MESSAGE, {**MESSAGE, "id": 8, "to": None, "receipts": None, "read": False}],
        "has_more": False,
    },
    "mark_read": {"marked": [1, 3]},
    "add_task": {"task": TASK},
    "plan": {"tasks": [TASK], "ids": {"a": 3}},
    "claim_task": {"task": TASK},
    "unclaim_task": {"task": {**TASK, "assignee": None}},
    "update_task": {"task": {**TASK, "status": "done", "note": "merged", "waiting_on": []}},
    "board": {
        "open": [],
        "claimed": [],
        "in_progress": [],
        "blocked": [{**TASK, "truncated": True}],
        "done": [],
        "failed": [],
        "total": 1,
        "truncated": False,
    },
    "get_task": {"task": TASK},
    "set_var": {"var": VAR},
    "get_var": {"vars": [VAR, {**VAR, "key": "big", "value": None}], "truncated": True},
    "delete_var": {"deleted": True},
    "list_peers": {
        "peers": [
            {
                "peer_id": "p1",
                "name": "alice",
                "role": "editor",
                "state": "idle",
                "idle_minutes": 3,
                "connected_at": T,
                "last_active_at": T + 10,
                "locks": ["src/app.py"],
                "tasks": [3],
                "card": {"client": "claude-code", "mcp_servers": ["github"]},
            }
        ]
    },
    "publish_card": {"card": {"client": "claude-code", "mcp_servers": []}},
    "activity_log": {
        "entries": [
            {
                "id": 1,
                "at": T,
                "actor": "bob",
                "kind": "write_proposed",
                "path": "a.py",
                "detail": {"change": "c1"},
            }
        ]
    },
    "leave": {
        "changes_proposed": 3,
        "changes_applied": 1,
        "changes_rejected": 1,
        "messages_sent": 4,
        "tasks_done": 2,
        "locks_released": 0,
        "tasks_released": 1,
    },
}

#: One valid ``data`` per event.
EVENT_EXAMPLES: dict[str, dict[str, Any]] = {
    "peer_joined": {"peer_id": "p2", "name": "bob", "role": "viewer"},
    "peer_left": {"peer_id": "p2", "name": "bob", "reason": "disconnected"},
    "awaiting_admission": {"peer_id": "p3", "name": "carol", "role": "editor"},
    "admitted": {"name": "carol", "resume_secret": "ee" * 32},
    "denied": {"reason": "no thanks"},
    "name_changed": {"peer_id": "p2", "old": "bob", "new": "Bob"},
    "change_submitted": {"change": {k: v for k, v in CHANGE.items() if k != "diff"}},
    "change_decided": {"change": DECIDED},
    "lock_taken": {"lock": LOCK},
    "lock_released": {"path": "a.py", "holder": "bob", "reason": "expired"},
    "file_changed": {"path": "a.py", "change": "modified", "by": "bob"},
    "kicked": {},
    "hub_stopping": {},
    "message": {"message": {**MESSAGE, "receipts": None, "read": False}},
    "message_receipt": {"message_id": 7, "recipient": "bob", "status": "read", "at": T},
    "task_updated": {"task": TASK, "change": "unblocked"},
    "var_changed": {"key": "build.target", "deleted": True, "by": "bob", "at": T},
}

HOST_ONLY = {
    "approve_change",
    "reject_change",
    "force_unlock",
    "kick",
    "admit",
    "deny",
    "trust",
    "untrust",
    "create_invite",
    "list_invites",
    "revoke_invite",
    "pending_changes",
    "shutdown",
}


def raw(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def request(args: Any, op: str = "read_file", **extra: Any) -> bytes:
    return raw({"id": 5, "op": op, "args": args, **extra})


def rejects(data: bytes, decode: Callable[[bytes], object] = decode_request) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        decode(data)
    assert info.value.data["reason"] in REASONS
    return info.value


def all_models() -> Iterator[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [s.args for s in OPS.values()]
    todo += [s.result for s in OPS.values()] + [s.data for s in EVENTS.values()]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            todo += [
                t
                for t in _types_in(field.annotation)
                if isinstance(t, type) and issubclass(t, BaseModel)
            ]
    yield from seen


def _types_in(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in typing.get_args(annotation):
        yield from _types_in(arg)


# ---------------------------------------------------------------------------- examples


def test_every_op_has_args_and_result_examples() -> None:
    assert set(ARGS_EXAMPLES) == set(OPS)
    assert set(RESULT_EXAMPLES) == set(OPS)


def test_every_event_has_an_example() -> None:
    assert set(EVENT_EXAMPLES) == set(EVENTS)


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


def test_models_are_frozen() -> None:
    lock = LockInfo.model_validate(LOCK)
    with pytest.raises(ValidationError):
        lock.path = "other"  # type: ignore[misc]


def test_change_decided_rejects_a_pending_change() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_event_data("change_decided", {"change": CHANGE})
    assert info.value.data == {"reason": "bad_value", "field": "data"}


def test_change_info_diff_may_be_omitted() -> None:
    change = ChangeInfo.model_validate({k: v for k, v in CHANGE.items() if k != "diff"})
    assert change.diff is None


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


def test_a_result_model_refuses_a_surrogate_escaped_file_name() -> None:
    # os.listdir() gives such names for bytes that are not UTF-8; they cannot travel.
    with pytest.raises(ValidationError):
        LockInfo.model_validate({**LOCK, "path": "caf\udce9.txt"})


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


# ---------------------------------------------------------------------------- catalogue invariants


def test_every_op_allows_at_least_one_known_role() -> None:
    for spec in OPS.values():
        assert spec.roles, spec.name
        assert spec.roles <= ALL_ROLES, spec.name


def test_host_only_ops_allow_only_the_host() -> None:
    assert {name for name, spec in OPS.items() if spec.roles == {"host"}} == HOST_ONLY


def test_viewers_mutate_nothing_shared_but_their_name_messages_card_and_leaving() -> None:
    # Viewers read everything and talk; files, locks, tasks and variables need an editor.
    allowed = {n for n, s in OPS.items() if s.mutates and "viewer" in s.roles}
    assert allowed == {"set_display_name", "send_message", "mark_read", "publish_card", "leave"}


def test_every_file_changing_op_is_mutating_and_closed_to_viewers() -> None:
    for name in ("write_file", "edit_file", "delete_file", "move_file", "lock_file"):
        assert OPS[name].mutates
        assert OPS[name].roles == {"host", "editor"}


def test_catalogue_keys_match_spec_names_and_error_lists_are_unique() -> None:
    for name, spec in OPS.items():
        assert spec.name == name
        assert spec.summary
        assert len(set(spec.errors)) == len(spec.errors), name
        assert all(isinstance(code, ErrorCode) for code in spec.errors), name
    for name, event in EVENTS.items():
        assert event.name == name
        assert event.summary
    assert len(set(COMMON_ERRORS)) == len(COMMON_ERRORS)


def test_every_model_is_a_frozen_strict_wire_model() -> None:
    for model in all_models():
        assert issubclass(model, WireModel), model
        assert model.model_config.get("frozen") is True
        assert model.model_config.get("strict") is True
        assert model.model_config.get("extra") == "forbid"


def test_every_nullable_field_defaults_to_none() -> None:
    # Encoding drops None fields, so a nullable field must read back as None when absent.
    for model in all_models():
        for name, field in model.model_fields.items():
            if type(None) in typing.get_args(field.annotation):
                assert field.default is None, f"{model.__name__}.{name}"


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


def test_every_op_and_event_of_the_catalogue_is_documented_in_protocol_md() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{3,5} `([a-z_]+)`$", doc, flags=re.M))
    missing = (set(OPS) | set(EVENTS)) - headings
    assert not missing, f"not in docs/protocol.md: {sorted(missing)}"
