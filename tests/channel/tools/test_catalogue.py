"""The tool catalogue (``channel/tools/catalogue.py``, ``base.py``): every tool derived from the
protocol catalogue entry of the op it calls."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import mcp_types as mcp
import pytest

from letswork.channel import server as server_module
from letswork.channel.config import ChannelConfig
from letswork.channel.tools.base import ToolSpec, tool_definition
from letswork.channel.tools.catalogue import TOOLS, tools_for_role
from letswork.shared.protocol.base import ALL_ROLES
from letswork.shared.protocol.catalogue import OPS


@pytest.mark.parametrize("name", [n for n, t in TOOLS.items() if t.op is not None])
def test_a_tools_schema_has_exactly_the_fields_and_limits_of_its_op(name: str) -> None:
    spec = TOOLS[name]
    assert spec.op is not None
    model = OPS[spec.op].args
    schema = tool_definition(spec).input_schema
    # the arguments the channel sends itself (``sends``) are the only ones the model never sees;
    # a follow's argument (``get_run``'s ``wait``) is the channel's own, never sent
    own = {spec.follow.arg} if spec.follow is not None else set()
    assert set(schema["properties"]) - own == set(model.model_fields) - set(spec.sends)
    assert not set(spec.sends) & {f for f, info in model.model_fields.items() if info.is_required()}
    assert set(schema.get("required", [])) == {
        f for f, info in model.model_fields.items() if info.is_required()
    }
    raw = model.model_json_schema()["properties"]
    for field, prop in schema["properties"].items():
        if field in own:
            continue
        options = raw[field].get("anyOf", [raw[field]])
        source = next(o for o in options if o != {"type": "null"})
        for key in ("type", "maxLength", "minLength", "maximum", "minimum", "pattern", "enum"):
            assert prop.get(key) == source.get(key), (name, field, key)


@pytest.mark.parametrize("role", sorted(ALL_ROLES))
def test_a_role_is_offered_only_tools_its_role_may_call(role: str) -> None:
    for spec in tools_for_role(role):
        if spec.op is not None:
            assert role in OPS[spec.op].roles


@pytest.mark.parametrize("name", [n for n, t in TOOLS.items() if t.op is not None])
def test_a_tool_is_read_only_exactly_when_its_op_changes_nothing(name: str) -> None:
    spec = TOOLS[name]
    assert spec.op is not None
    assert spec.read_only is not OPS[spec.op].mutates
    assert spec.mutates is OPS[spec.op].mutates


def test_a_tool_is_listed_for_its_ops_roles_unless_it_narrows_them() -> None:
    for spec in TOOLS.values():
        if spec.op is None:
            assert spec.roles == ALL_ROLES
        elif spec.only is None:
            assert spec.roles == OPS[spec.op].roles, spec.name
        else:
            assert spec.roles == OPS[spec.op].roles & spec.only, spec.name
    assert "viewer" not in TOOLS["my_pending_changes"].roles  # a viewer proposes nothing


def test_a_new_tool_needs_only_its_op_a_title_a_description_and_a_renderer() -> None:
    spec = ToolSpec("get_change", "Show a change", "Show one\n      change.", lambda r, a, c: "")
    assert spec.name == "get_change"
    assert spec.roles == OPS["get_change"].roles
    assert spec.read_only
    assert spec.description == "Show one change."
    assert set(tool_definition(spec).input_schema["properties"]) == set(
        OPS["get_change"].args.model_fields
    )


def test_a_description_for_an_argument_the_op_does_not_have_is_refused() -> None:
    spec = ToolSpec("ping", "Ping", "Ping.", lambda r, a, c: "", fields={"nope": "x"})
    with pytest.raises(ValueError, match="nope"):
        spec.input_schema()


def test_the_tools_answered_by_the_channel_itself_are_read_only_for_every_role() -> None:
    local = [spec for spec in TOOLS.values() if spec.op is None]
    assert [spec.name for spec in local] == ["get_notifications"]
    assert all(spec.read_only and spec.roles == ALL_ROLES for spec in local)


def test_the_channel_server_names_no_op() -> None:
    source = Path(server_module.__file__).read_text(encoding="utf-8")
    strings = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert not strings & (set(OPS) | set(TOOLS))


async def test_a_tools_refusal_hook_answers_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[ChannelConfig] = []

    def refuse(config: ChannelConfig) -> str:
        seen.append(config)
        return "invalid: not today"

    ping = dataclasses.replace(TOOLS["ping"], refuse=refuse)
    monkeypatch.setattr(server_module, "TOOLS", {**TOOLS, "ping": ping})
    config = ChannelConfig(secret=b"s" * 16, url="ws://127.0.0.1:1")
    channel = server_module.Channel(config)  # never connected: a request would fail
    result = await channel.call_tool("ping", {})
    assert result.is_error
    assert [block.text for block in result.content if isinstance(block, mcp.TextContent)] == [
        "invalid: not today"
    ]
    assert seen == [config]


def test_only_set_display_name_renames_only_leave_ends_only_publish_card_refuses() -> None:
    # What call_tool special-cased by op name before issue 14, now ToolSpec fields: a tool
    # whose op answers with someone else's name (admit, deny, kick) must never rename us.
    assert {n for n, t in TOOLS.items() if t.renames_me} == {"set_display_name"}
    assert {n for n, t in TOOLS.items() if t.ends_session} == {"leave"}
    assert {n for n, t in TOOLS.items() if t.refuse is not None} == {"publish_card"}
