"""The hub's dispatch (``hub/core.py``) against the catalogue, op by op (attacking issue 14's
re-cut): the handler table holds exactly the catalogue's ops, each in its group's module; no
role outside an op's ``roles``, no guest awaiting admission (but for ``hello`` and ``ping``) and
no connection before its ``hello`` reaches a handler; an op name outside the catalogue never
gets past the decoder. Every handler is replaced by a recorder, so a refusal is seen to come
from dispatch, before any of the op's own work."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from letswork.hub.core import HANDLERS, HubCore, Peer
from letswork.hub.store import Store
from letswork.shared import crypto, invite
from letswork.shared.errors import ErrorCode, OpError, ProtocolError
from letswork.shared.limits import Limits
from letswork.shared.protocol.base import ALL_ROLES
from letswork.shared.protocol.catalogue import OPS
from letswork.shared.protocol.wire import Request, decode_request, encode_request
from tests.support.hubs import make_project

NOW = 1_800_000_000.0


class Dispatch:
    """A hub core over a real store and project with one admitted peer of every role and one
    guest awaiting admission, all made through ``hello`` and ``admit``."""

    def __init__(self, tmp_path: Path) -> None:
        self.store = Store.open(tmp_path / "state.db", os.urandom(32))
        self.core = HubCore(
            make_project(tmp_path / "project").resolve(),
            self.store,
            host_secret=os.urandom(32),
            public_url="ws://127.0.0.1:9/",
            emit=lambda peer, name, data, seq: None,
            close=lambda *a: None,
            limits=Limits(rate_burst=10_000),  # dispatch is under test here, not the budget
        )
        host = self._hello(self.core._host_credential, "host")
        self.peers: dict[str, Peer] = {"host": host}
        for role in sorted(ALL_ROLES - {"host"}):
            self.peers[role] = self._hello(self._credential(role), role + "1")
            self._call(host, "admit", name=role + "1")
        self.waiting = self._hello(self._credential("editor"), "knocking")
        assert self.waiting.state == "awaiting_admission"

    def _credential(self, role: str) -> Any:
        _, code = self.core.create_invite(role, None, NOW)
        secret = invite.parse(code).secret
        credential = self.core.lookup_credential(crypto.derive_invite_id(secret))
        assert credential is not None
        return credential

    def _hello(self, credential: Any, name: str) -> Peer:
        peer = self.core.new_peer(credential, NOW)
        self._call(peer, "hello", name=name)
        return peer

    def _call(self, peer: Peer, op: str, **args: Any) -> Any:
        return self.core.handle(peer, decode_request(encode_request(1, op, args)), NOW)

    def reach(self, peer: Peer, op: str) -> ErrorCode | None:
        """Send ``op`` (arguments unchecked: the handler is a recorder) as ``peer``; the code
        it was refused with, or None when it reached the handler."""
        request = Request(1, op, OPS[op].args.model_construct())
        try:
            self.core.begin(peer, request, NOW)
        except OpError as exc:
            return exc.code
        return None


@pytest.fixture
def dispatch(tmp_path: Path) -> Dispatch:
    return Dispatch(tmp_path)


@pytest.fixture
def reached(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace every handler by one that records its op and returns nothing."""
    seen: list[str] = []
    for op in OPS:

        def record(ctx: Any, peer: Peer, args: Any, now: float, op: str = op) -> Any:
            seen.append(op)
            return OPS["ping"].result(now=now)

        monkeypatch.setitem(HANDLERS, op, record)
    return seen


def test_the_handler_table_holds_exactly_the_catalogues_ops_each_in_its_groups_module() -> None:
    assert set(HANDLERS) == set(OPS)
    for op, handler in HANDLERS.items():
        group = "changes" if OPS[op].group == "approvals" else OPS[op].group
        assert handler.__module__ == f"letswork.hub.ops.{group}", op


@pytest.mark.parametrize("role", sorted(ALL_ROLES))
def test_a_role_reaches_exactly_the_handlers_of_the_ops_that_list_it(
    dispatch: Dispatch, reached: list[str], role: str
) -> None:
    peer = dispatch.peers[role]
    for op, spec in sorted(OPS.items()):
        if op == "hello":
            continue  # said once already; its own handler refuses it again (below)
        code = dispatch.reach(peer, op)
        if role in spec.roles:
            assert code is None, (op, role)
        else:
            assert code == ErrorCode.FORBIDDEN, (op, role)
    assert sorted(reached) == sorted(
        op for op, spec in OPS.items() if role in spec.roles and op != "hello"
    )


def test_a_guest_awaiting_admission_reaches_no_handler_but_hello_and_ping(
    dispatch: Dispatch, reached: list[str]
) -> None:
    for op in sorted(OPS):
        code = dispatch.reach(dispatch.waiting, op)
        assert code == (None if op in ("hello", "ping") else ErrorCode.NOT_ADMITTED), op
    assert sorted(reached) == ["hello", "ping"]


def test_a_connection_before_its_hello_reaches_only_the_hello_handler(
    dispatch: Dispatch, reached: list[str]
) -> None:
    fresh = dispatch.core.new_peer(dispatch.core._host_credential, NOW)
    for op in sorted(set(OPS) - {"hello"}):
        assert dispatch.reach(fresh, op) == ErrorCode.INVALID, op
    assert reached == []


def test_a_closed_connection_reaches_no_handler(dispatch: Dispatch, reached: list[str]) -> None:
    host = dispatch.peers["host"]
    dispatch.core.disconnect(host, NOW)
    for op in sorted(OPS):
        assert dispatch.reach(host, op) == ErrorCode.FORBIDDEN, op
    assert reached == []


@pytest.mark.parametrize(
    "name", ["op_hello", "__init__", "HANDLERS", "Hello", "hello ", "begin", "recover", "admit_"]
)
def test_an_op_name_outside_the_catalogue_never_gets_past_the_decoder(name: str) -> None:
    frame = b'{"id": 1, "op": "' + name.encode() + b'", "args": {}}'
    with pytest.raises(ProtocolError) as info:
        decode_request(frame)
    assert info.value.code == ErrorCode.UNKNOWN_OP
    assert name not in HANDLERS
