"""The tables of allowed transitions (``hub/transitions.py``): every move of a change's status
(``hub/changes.py``, CHANGE_STATUS) and of a connection's admission (``hub/admission.py``,
ADMISSION) is made through the real code paths of a hub core over a real store and project,
and each table's moves are all walked; a move a table does not list is refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from letswork.hub import admission, changes
from letswork.hub.core import HubCore, Peer
from letswork.hub.store import Store
from letswork.hub.transitions import IllegalTransition, Transitions
from letswork.shared import crypto, invite
from letswork.shared.errors import ErrorCode, OpError, op_error
from letswork.shared.protocol.wire import decode_request, encode_request
from tests.support.hubs import check_event, check_reply, make_project

NOW = 1_800_000_000.0


class Run:
    """A hub core (no auto-admit) over a real store and project, the host and one guest
    admitted through hello and ``admit``; every reply and event is checked against the
    catalogue."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = make_project(tmp_path / "project").resolve()
        self.store = Store.open(tmp_path / "state.db", os.urandom(32))
        self.core = HubCore(
            self.root,
            self.store,
            host_secret=os.urandom(32),
            public_url="ws://127.0.0.1:9/",
            emit=lambda peer, name, data, seq: check_event(name, data),
            close=lambda *a: None,
            clock=lambda: NOW,
        )
        self.host = self.hello(self.core._host_credential, "host")
        _, code = self.core.create_invite("editor", "g", NOW)
        credential = self.core.lookup_credential(crypto.derive_invite_id(invite.parse(code).secret))
        assert credential is not None
        self.guest = self.hello(credential, "alice")
        self.call(self.host, "admit", name="alice")

    def hello(self, credential: Any, name: str) -> Peer:
        peer = self.core.new_peer(credential, NOW)
        self.call(peer, "hello", name=name)
        return peer

    def call(self, peer: Peer, op: str, **args: Any) -> Any:
        result = self.core.handle(peer, decode_request(encode_request(1, op, args)), NOW)
        check_reply(op, result)
        return result

    def propose(self, path: str, content: str) -> str:
        change_id: str = self.call(self.guest, "write_file", path=path, content=content)["change"][
            "id"
        ]
        return change_id

    def status(self, change_id: str) -> str:
        row = self.store.get_change(change_id)
        assert row is not None
        return row.status


@pytest.fixture
def moves(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Every move checked against any table, as (table name, old, new)."""
    seen: list[tuple[str, str, str]] = []
    check = Transitions.check

    def recording(self: Transitions, old: str, new: str) -> None:
        check(self, old, new)
        seen.append((self.name, old, new))

    monkeypatch.setattr(Transitions, "check", recording)
    return seen


def _refusing_disk(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: str, content: bytes) -> None:
        raise op_error(ErrorCode.DISK_ERROR, "the disk is full")

    monkeypatch.setattr(run.core.workspace, "write_atomic", refuse)


def test_every_allowed_change_status_move_is_made_by_the_hub(
    tmp_path: Path, moves: list[tuple[str, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Run(tmp_path)
    approved = run.propose("notes.txt", "approved\n")  # new -> pending
    run.call(run.host, "approve_change", id=approved)  # pending -> approved -> applied
    rejected = run.propose("README.md", "no\n")
    run.call(run.host, "reject_change", id=rejected, reason="no")  # pending -> rejected
    conflicted = run.propose("src/app.py", "mine\n")
    (run.root / "src" / "app.py").write_text("the host moved on\n", encoding="utf-8")
    run.call(run.host, "approve_change", id=conflicted)  # pending -> conflict
    run.call(run.host, "reject_change", id=conflicted, reason="stale")  # conflict -> rejected
    resubmitted = run.propose("src/other.py", "mine\n")
    (run.root / "src" / "other.py").write_text("the host moved on\n", encoding="utf-8")
    run.call(run.host, "approve_change", id=resubmitted)  # pending -> conflict
    run.call(run.guest, "update_change", id=resubmitted, content="again\n")  # conflict -> pending
    run.call(run.host, "write_file", path="host.txt", content="h\n")  # new -> approved -> applied
    crashed = run.propose("crash.txt", "after the crash\n")
    refused = run.propose("full.txt", "the disk is full\n")
    with monkeypatch.context() as patch:
        _refusing_disk(run, patch)
        with pytest.raises(OpError):  # approved -> rejected: a direct write the disk refused
            run.call(run.host, "write_file", path="lost.txt", content="x\n")
        with pytest.raises(OpError):  # pending -> approved -> pending: an approval refused
            run.call(run.host, "approve_change", id=refused)
    # A crash between approve's commit and its write, and the file moved on meanwhile:
    # recover makes it a conflict (approved -> conflict).
    run.store.set_change_status(crashed, "approved", now=NOW, by="host")
    (run.root / "crash.txt").write_text("someone else's\n", encoding="utf-8")
    run.core.recover(NOW)

    walked = {(old, new) for name, old, new in moves if name == changes.CHANGE_STATUS.name}
    assert walked == changes.CHANGE_STATUS.pairs()
    assert {run.status(i) for i in (approved, rejected, conflicted, crashed, refused)} == {
        "applied",
        "rejected",
        "conflict",
        "pending",
    }


def test_every_allowed_admission_move_is_made_by_the_hub(
    tmp_path: Path, moves: list[tuple[str, str, str]]
) -> None:
    run = Run(tmp_path)  # the host: handshaken -> admitted; alice: -> awaiting -> admitted
    walked = {(old, new) for name, old, new in moves if name == admission.ADMISSION.name}
    assert walked == admission.ADMISSION.pairs()
    assert run.guest.state == "admitted"


def test_a_decided_change_cannot_be_moved_back_and_stays_as_it_was(tmp_path: Path) -> None:
    run = Run(tmp_path)
    change_id = run.propose("notes.txt", "approved\n")
    run.call(run.host, "approve_change", id=change_id)
    row = run.store.get_change(change_id)
    assert row is not None
    with pytest.raises(IllegalTransition, match="'applied' may not become 'pending'"):
        changes.decide(run.core, row, "pending", NOW, by="host")
    assert run.status(change_id) == "applied"
    assert (run.root / "notes.txt").read_text(encoding="utf-8") == "approved\n"


def test_an_admitted_connection_cannot_go_back_to_waiting(tmp_path: Path) -> None:
    run = Run(tmp_path)
    with pytest.raises(IllegalTransition, match="'admitted' may not become"):
        admission.move(run.guest, "awaiting_admission")
    assert run.guest.state == "admitted"
