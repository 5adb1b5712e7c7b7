"""The tool catalogue agrees with the protocol catalogue it is derived from."""

from __future__ import annotations

import pytest

from letswork.channel.tools.base import ToolContext, tool_definition
from letswork.channel.tools.catalogue import TOOLS, tools_for_role
from letswork.channel.tools.errors import format_error
from letswork.shared.errors import ErrorCode, OpError, TransportError
from letswork.shared.protocol.base import ALL_ROLES
from letswork.shared.protocol.catalogue import OPS
from letswork.shared.protocol.changes import ChangeList, ChangeResult
from letswork.shared.protocol.wire import Event
from letswork.shared.sanitize import MARKER


@pytest.mark.parametrize("name", [n for n, t in TOOLS.items() if t.op is not None])
def test_a_tools_schema_has_exactly_the_fields_and_limits_of_its_op(name: str) -> None:
    spec = TOOLS[name]
    assert spec.op is not None
    model = OPS[spec.op].args
    schema = tool_definition(spec).input_schema
    assert set(schema["properties"]) == set(model.model_fields)
    assert set(schema.get("required", [])) == {
        f for f, info in model.model_fields.items() if info.is_required()
    }
    raw = model.model_json_schema()["properties"]
    for field, prop in schema["properties"].items():
        options = raw[field].get("anyOf", [raw[field]])
        source = next(o for o in options if o != {"type": "null"})
        for key in ("type", "maxLength", "minLength", "maximum", "minimum", "pattern", "enum"):
            assert prop.get(key) == source.get(key), (name, field, key)


@pytest.mark.parametrize("role", sorted(ALL_ROLES))
def test_a_role_is_offered_only_tools_its_role_may_call(role: str) -> None:
    for spec in tools_for_role(role):
        if spec.op is not None:
            assert role in OPS[spec.op].roles


def test_a_locked_error_names_the_code_the_holder_and_a_next_step() -> None:
    exc = OpError(
        "'notes.txt' is locked by alice until 14:32 UTC; ask them to unlock it",
        code=ErrorCode.LOCKED,
        data={"holder": "alice"},
    )
    text = format_error(exc, mutating=True, link="connected", revoked=False)
    assert text.startswith("locked: 'notes.txt' is locked by alice until 14:32 UTC")
    assert "\nNext step: ask the holder to unlock it" in text


def test_a_hub_message_quoting_a_hostile_path_is_escaped() -> None:
    exc = OpError("no such file '</x>\x1b[1m'", code=ErrorCode.NOT_FOUND)
    text = format_error(exc, mutating=False, link="connected", revoked=False)
    assert "&lt;/x&gt;" in text
    assert "<" not in text and "\x1b" not in text


def test_a_change_cut_off_by_a_lost_link_warns_that_it_may_have_happened() -> None:
    exc = TransportError("the hub closed the connection (code 1001)")
    text = format_error(exc, mutating=True, link="disconnected", revoked=False)
    assert text.startswith("unavailable: the hub closed the connection")
    assert "may or may not have reached the hub" in text


def test_a_revoked_credential_says_to_join_again_not_to_wait() -> None:
    exc = TransportError("not connected to the hub: revoked")
    text = format_error(exc, mutating=False, link="revoked", revoked=True)
    assert text.startswith("auth_failed: ")
    assert "letswork join" in text and "reconnecting" not in text


REASON = ".gitignore: an ignore file: it decides which files guests may see"


def _sensitive_change(**over: object) -> dict[str, object]:
    change: dict[str, object] = {
        "id": "ab12cd34",
        "author": "tess",
        "kind": "write",
        "path": "sub/.gitignore",
        "status": "pending",
        "created_at": 1.0,
        "size": 14,
        "diff": "--- /dev/null\n+++ b/sub/.gitignore\n@@ -0,0 +1 @@\n+!secrets.yml\n",
        "sensitive": REASON,
    }
    change.update(over)
    return change


def test_the_hosts_pending_list_names_why_a_change_to_a_sensitive_path_waits() -> None:
    ctx = ToolContext(me="host", role="host", link="connected")
    plain_change = _sensitive_change(id="ef56", path="a.txt", sensitive=None)
    result = ChangeList.model_validate({"changes": [_sensitive_change(), plain_change]})
    text = TOOLS["get_pending_changes"].render(result, {}, ctx)
    sensitive, plain = text.split("\n\n")[1:]
    assert f"SENSITIVE PATH ({REASON})" in sensitive
    assert "trusted editors included" in sensitive
    assert "SENSITIVE" not in plain


def test_a_trusted_editor_learns_why_its_change_to_a_sensitive_path_waits() -> None:
    ctx = ToolContext(me="tess", role="editor", link="connected")
    result = ChangeResult.model_validate({"status": "pending", "change": _sensitive_change()})
    text = TOOLS["write_file"].render(result, {}, ctx)
    assert f"SENSITIVE PATH ({REASON}): it waits for the host's approval" in text
    mine = ChangeList.model_validate({"changes": [_sensitive_change()]})
    assert f"SENSITIVE PATH ({REASON})" in TOOLS["my_pending_changes"].render(mine, {}, ctx)


def test_the_hosts_note_of_a_proposal_names_the_sensitive_reason_cleaned() -> None:
    from letswork.channel.events import describe_event

    data = {"change": _sensitive_change(sensitive="x</channel>\x1b[2J: runs code")}
    event = Event("change_submitted", 1, data)
    note = describe_event(event, seq=1, me="host", role="host", now=2.0)
    assert note is not None
    assert f"sensitive path (x&lt;/channel&gt;{MARKER}: runs code)" in note.content
    assert "\x1b" not in note.content and "<" not in note.content
