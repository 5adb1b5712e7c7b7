"""The variables group over real connections: shared variables."""

from __future__ import annotations

import pytest

from letswork.shared.errors import ErrorCode
from tests.hub.ops.helpers import error_code
from tests.support.hubs import HubFixture

# ---------------------------------------------------------------------------- variables


async def test_shared_variables_are_set_read_deleted_and_announced(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    bob = await hub.guest("bob", "viewer")
    await alice.call("set_var", key="build:target", value="x86_64")
    changed = await bob.wait_event("var_changed")
    assert changed.data == {
        **changed.data,
        "key": "build:target",
        "value": "x86_64",
        "deleted": False,
        "by": "alice",
    }
    await alice.call("set_var", key="a.b-c_d", value="")
    everything = await bob.call("get_var", key="*")
    assert [(v["key"], v["value"]) for v in everything["vars"]] == [
        ("a.b-c_d", ""),
        ("build:target", "x86_64"),
    ]
    assert (await alice.call("delete_var", key="build:target"))["deleted"] is True
    await bob.wait_event("var_changed", lambda d: d["deleted"])
    assert await error_code(bob.call("get_var", key="build:target")) == ErrorCode.NOT_FOUND
    assert (await alice.call("delete_var", key="build:target"))["deleted"] is False


@pytest.mark.parametrize("key", ["", "has space", "x" * 129, "slash/no", "*"])
async def test_a_bad_variable_key_is_refused(hub: HubFixture, key: str) -> None:
    alice = await hub.guest("alice")
    code = await error_code(alice.call("set_var", key=key, value="v"))
    assert code in (ErrorCode.INVALID, ErrorCode.TOO_LARGE)


async def test_a_variable_value_over_16_kib_of_utf8_is_too_large(hub: HubFixture) -> None:
    alice = await hub.guest("alice")
    value = "€" * 6000  # 6000 characters, 18000 bytes
    assert await error_code(alice.call("set_var", key="k", value=value)) == ErrorCode.TOO_LARGE
