"""The catalogue: an example of every op and event, the roles and errors of each op, every
model a frozen strict wire model, and docs/protocol.md documenting every op and event."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import typing
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from letswork.shared import protocol
from letswork.shared.errors import ErrorCode
from letswork.shared.protocol import changes
from letswork.shared.protocol.base import ALL_ROLES, WireModel
from letswork.shared.protocol.catalogue import COMMON_ERRORS, EVENTS, OPS
from tests.shared.protocol.examples import ARGS_EXAMPLES, EVENT_EXAMPLES, RESULT_EXAMPLES

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
    "approve_run",
    "deny_run",
}


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


def _groups() -> list[ModuleType]:
    """The group modules: every module of the package but base, catalogue and wire."""
    return [
        importlib.import_module(f"{protocol.__name__}.{info.name}")
        for info in pkgutil.iter_modules(protocol.__path__)
        if info.name not in {"base", "catalogue", "wire"}
    ]


# ---------------------------------------------------------------------------- examples


def test_every_op_has_args_and_result_examples() -> None:
    assert set(ARGS_EXAMPLES) == set(OPS)
    assert set(RESULT_EXAMPLES) == set(OPS)


def test_every_event_has_an_example() -> None:
    assert set(EVENT_EXAMPLES) == set(EVENTS)


# ---------------------------------------------------------------------------- catalogue invariants


def test_every_op_allows_at_least_one_known_role() -> None:
    for spec in OPS.values():
        assert spec.roles, spec.name
        assert spec.roles <= ALL_ROLES, spec.name


def test_host_only_ops_allow_only_the_host() -> None:
    assert {name for name, spec in OPS.items() if spec.roles == {"host"}} == HOST_ONLY


def test_viewers_mutate_nothing_shared_but_their_name_messages_card_and_leaving() -> None:
    # Viewers read everything and talk; files, locks, tasks and variables need an editor.
    # A run's command names the roles that may run it (the hub checks; issue 17).
    allowed = {n for n, s in OPS.items() if s.mutates and "viewer" in s.roles}
    assert allowed == {
        "set_display_name",
        "send_message",
        "mark_read",
        "publish_card",
        "leave",
        "run_command",
        "cancel_run",
    }


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


def test_each_group_module_holds_its_own_ops_and_the_catalogue_lists_them_all_once() -> None:
    # One module per op group (changes holds the approvals too); the catalogue is assembled
    # from them, so a module left out, or a name listed twice, would lose ops silently.
    modules = _groups()
    groups = {spec.group for spec in OPS.values()} - {"approvals"}
    assert {module.__name__.rsplit(".", 1)[1] for module in modules} == groups
    for module in modules:
        own = {module.__name__.rsplit(".", 1)[1]} | ({"approvals"} if module is changes else set())
        assert {spec.group for spec in module.OPS} <= own, module.__name__
    assert sum(len(module.OPS) for module in modules) == len(OPS)
    assert sum(len(module.EVENTS) for module in modules) == len(EVENTS)


def test_imports_inside_the_package_run_one_way() -> None:
    # Group modules build on base alone; catalogue gathers the groups; wire reads catalogue.
    # Nothing in shared/ reaches outside it.
    package = protocol.__name__
    allowed_outside = {"letswork.shared.errors", "letswork.shared.limits", "letswork.shared"}
    for path in Path(protocol.__path__[0]).glob("*.py"):
        name = path.stem
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found |= {
                    f"{node.module}.{alias.name}" if node.module == package else node.module
                    for alias in node.names
                }
        mine = {m.removeprefix(package + ".") for m in found if m.startswith(package + ".")}
        outside = {m for m in found if m.startswith("letswork.") and not m.startswith(package)}
        assert outside <= allowed_outside, name
        if name == "base":
            assert not mine, name
        elif name == "catalogue":
            assert mine <= {"base"} | {m.__name__.rsplit(".", 1)[1] for m in _groups()}, name
        elif name == "wire":
            assert mine <= {"base", "catalogue"}, name
        elif name != "__init__":
            assert mine <= {"base"}, name


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


def test_every_op_and_event_of_the_catalogue_is_documented_in_protocol_md() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[3] / "docs" / "protocol.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{3,5} `([a-z_]+)`$", doc, flags=re.M))
    missing = (set(OPS) | set(EVENTS)) - headings
    assert not missing, f"not in docs/protocol.md: {sorted(missing)}"
