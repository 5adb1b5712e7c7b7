"""Fuzzing the hub's pure core (issue 8, item 1): the bulk of the cases, without sockets.

The same three families as the real-connection tier (``test_fuzz_hub.py``) drive the code the
hub's socket adapter calls, in the order it calls it: ``crypto.parse_client_hello`` ->
``HubCore.lookup_credential`` -> ``ServerHandshake.respond`` -> ``ReplayCache`` ->
``ServerHandshake.receive_client_finished`` -> ``Session.open`` -> ``decode_request``
-> ``HubCore.handle``. Each case must be refused with a :class:`HandshakeError`,
:class:`RecordError`, :class:`ProtocolError` or an error reply, nothing else may escape, and
the store, the disk, the locks and the peers must be exactly as before.

Tiers: the default run fuzzes 5,000 cases; ``pytest --slow`` runs 35,000 + 30,100 + 35,300. A
derived case that happens to restore a valid frame, or to decode as a valid request, is skipped,
so at least 100,000 are counted; ``docs/security.md`` reports the figures.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import itertools
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from letswork.hub.core import HubCore, Peer
from letswork.hub.store import Store
from letswork.shared import crypto, invite
from letswork.shared.errors import (
    HandshakeError,
    LetsworkError,
    ProtocolError,
    RecordError,
)
from letswork.shared.protocol.wire import Request, decode_request, encode_request
from tests.reliability import fuzzing
from tests.reliability.support import UNLIMITED, report, store_rows, tiers, tree_digest
from tests.support.hubs import make_project

NOW = 1_800_000_000.0
FUZZ = settings(
    deadline=None,
    database=None,
    phases=(Phase.generate, Phase.shrink),
    suppress_health_check=list(HealthCheck),
)


#: Cases derived from each Hypothesis example (random byte edits, or the same attack with fresh
#: randomness), seeded by Hypothesis: generating a case costs Hypothesis about 1 ms here, running
#: one costs the core 0.05-0.4 ms, so this is what makes 100,000 cases fit in the slow tier.
MUTANTS = 19


def fuzz(cases: int) -> settings:
    """Settings for a fuzz run of ``cases`` examples (no deadline, no example database)."""
    return settings(FUZZ, max_examples=cases)


def add_hostile_fixtures(root: Path, outside: Path) -> None:
    """A symlink out of the project, a symlink loop, and a sentinel folder beside the root."""
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text("outside the project\n", encoding="utf-8")
    (root / "out").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root / "loop2")
    (root / "loop2").symlink_to(root / "loop")
    (root / ".git").mkdir(exist_ok=True)
    (root / ".git" / "config").write_text("[core]\n", encoding="utf-8")


class CoreHarness:
    """A HubCore over a real store and project, with one credential of every kind."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = make_project(tmp_path / "project")
        add_hostile_fixtures(self.root, tmp_path / "outside")
        self.db_path = tmp_path / "state.db"
        self.store = Store.open(self.db_path, os.urandom(32))
        self.host_secret = os.urandom(32)
        self.core = HubCore(
            self.root,
            self.store,
            host_secret=self.host_secret,
            public_url="ws://127.0.0.1:9/",
            emit=lambda *a: None,
            close=lambda *a: None,
            limits=UNLIMITED,
            auto_admit=True,
            clock=lambda: NOW,
        )
        self.replay = crypto.ReplayCache()
        self.ticks = itertools.count()
        self.ids = itertools.count(1)
        editor = self._invite("editor", "first")
        viewer = self._invite("viewer", "viewers")
        revoked = self._invite("editor", "old")
        self.store.revoke_invite(crypto.derive_invite_id(revoked), NOW)
        self.secrets: dict[str, bytes] = {
            "host": self.host_secret,
            "editor": editor,
            "viewer": viewer,
            "revoked": revoked,
        }
        self.resume_secrets: dict[str, bytes] = {}
        self.peers: dict[str, Peer] = {"host": self.hello(self.host_secret, "host")}
        self.peers["editor"] = self.hello(editor, "alice")
        self.peers["viewer"] = self.hello(viewer, "vera")
        self.secrets["resume"] = self.resume_secrets["alice"]
        proposed = self.core.handle(
            self.peers["editor"],
            self.request("write_file", {"path": "src/new.txt", "content": "new\n"}),
            NOW,
        )
        assert proposed["status"] == "pending"
        self._precompute()
        self.before = self.state()

    def _precompute(self) -> None:
        """Valid frames to mutate, made once: the X25519 work of a fresh handshake per case
        would dominate the run, and the code under test is what checks each frame.

        With the hub's ephemeral key and nonce fixed (:meth:`fixed_server`), the transcript of
        a credential's stored hello is always the same, so its valid finished tag is too.
        """
        self.server_key = X25519PrivateKey.generate()
        self.server_nonce = os.urandom(16)
        self.valid: dict[str, tuple[crypto.ClientHello, bytes]] = {}
        for name, secret in self.secrets.items():
            if name == "revoked":
                continue
            client = crypto.ClientHandshake(secret)
            hello = crypto.parse_client_hello(client.client_hello())
            finished, _ = client.receive_server_hello(self.fixed_server(name, hello)[1])
            self.valid[name] = (hello, finished)
        keys = crypto.derive_keys(os.urandom(32), os.urandom(32), os.urandom(32))
        self.record_keys = keys

    def fixed_server(
        self, credential: str, hello: crypto.ClientHello | None = None
    ) -> tuple[crypto.ServerHandshake, bytes]:
        """A hub-side handshake that has answered ``credential``'s stored hello."""
        if hello is None:
            hello = self.valid[credential][0]
        found = self.core.lookup_credential(hello.invite_id)
        assert found is not None
        server = crypto.ServerHandshake(ephemeral=self.server_key, nonce=self.server_nonce)
        return server, server.respond(hello, found.psk)

    def record_session(self) -> crypto.Session:
        """A hub-side record session (the state the hub is in after a handshake)."""
        k = self.record_keys
        return crypto.Session(
            session_id=os.urandom(32),
            send_key=k.key_s2c,
            send_iv=k.iv_s2c,
            recv_key=k.key_c2s,
            recv_iv=k.iv_c2s,
        )

    def _invite(self, role: str, label: str) -> bytes:
        _, code = self.core.create_invite(role, label, NOW)
        return invite.parse(code).secret

    def request(self, op: str, args: dict[str, Any]) -> Request:
        body = encode_request(next(self.ids), op, args)
        return decode_request(body)

    def hello(self, secret: bytes, name: str) -> Peer:
        credential = self.core.lookup_credential(crypto.derive_invite_id(secret))
        assert credential is not None
        peer = self.core.new_peer(credential, NOW)
        result = self.core.handle(peer, self.request("hello", {"name": name}), NOW)
        if result.get("resume_secret"):
            self.resume_secrets[name] = bytes.fromhex(result["resume_secret"])
        return peer

    def close(self) -> None:
        self.store.close()

    def state(self) -> dict[str, Any]:
        return {
            "store": store_rows(self.db_path),
            "disk": tree_digest(self.root),
            "locks": sorted((lk.path, lk.holder_name) for lk in self.core.locks.all(NOW)),
            "peers": sorted(self.core.peers),
        }

    # -- the hub's handshake, step by step (as hub/handshake.py's Handshakes.run calls it) ----

    def respond(self, hello: bytes) -> tuple[crypto.ServerHandshake, bytes]:
        parsed = crypto.parse_client_hello(hello)
        credential = self.core.lookup_credential(parsed.invite_id)
        if credential is None:
            raise HandshakeError("unknown or revoked invite id")
        server = crypto.ServerHandshake()
        reply = server.respond(parsed, credential.psk)
        if not self.replay.check_and_add(parsed, float(next(self.ticks))):
            raise HandshakeError("replayed ClientHello")
        return server, reply

    def session(self, credential: str) -> tuple[crypto.Session, crypto.Session, bytes]:
        """A complete valid handshake: (server session, client session, the hello used)."""
        client = crypto.ClientHandshake(self.secrets[credential])
        server, reply = self.respond(client.client_hello())
        finished, client_session = client.receive_server_hello(reply)
        return server.receive_client_finished(finished), client_session, client.client_hello()

    def dispatch(self, peer: Peer, plaintext: bytes) -> dict[str, Any]:
        """What the hub answers (HubServer._serve_peer, then Answerer.answer), as a dict:
        decode, handle, or the error."""
        try:
            request = decode_request(plaintext)
        except ProtocolError as exc:
            return {"ok": False, "error": exc.to_wire()}
        try:
            return {"ok": True, "result": dict(self.core.handle(peer, request, NOW))}
        except LetsworkError as exc:
            return {"ok": False, "error": exc.to_wire()}


@pytest.fixture
def harness(tmp_path: Path) -> Any:
    h = CoreHarness(tmp_path)
    yield h
    h.close()


def low_order_hello(secret: bytes, point: bytes, nonce: bytes) -> bytes:
    """A ClientHello with a small-order key and a *valid* MAC (only a key holder can make it)."""
    psk = crypto.derive_psk(secret)
    body = b"\x01\x01" + crypto.derive_invite_id(secret) + point + nonce
    return body + hmac.new(crypto.derive_hello_key(psk), body, hashlib.sha256).digest()


def examples(cases: int) -> int:
    """Hypothesis examples needed for ``cases`` cases (each example yields 1 + MUTANTS)."""
    return -(-cases // (1 + MUTANTS))


@pytest.mark.parametrize("cases", tiers(1500, 35_000, "LETSWORK_FUZZ_CORE_A"))
def test_random_bytes_in_or_after_the_handshake_never_authenticate_or_open(
    harness: CoreHarness, cases: int
) -> None:
    outcomes: collections.Counter[str] = collections.Counter()

    def one(position: str, credential: str, frames: list[bytes]) -> None:
        if position == "first":
            with pytest.raises(HandshakeError):
                harness.respond(frames[0])
        elif position == "after_hello":
            server, _ = harness.fixed_server(credential)
            with pytest.raises(HandshakeError):
                server.receive_client_finished(frames[0])
        else:
            session = harness.record_session()
            for frame in frames:
                with pytest.raises(RecordError):
                    session.open(frame)
                assert session.dead
        outcomes[position] += 1

    @fuzz(examples(cases))
    @given(case=fuzzing.garbage_cases, rnd=st.randoms(use_true_random=True))
    def run(case: fuzzing.GarbageCase, rnd: random.Random) -> None:
        frames = [f.encode("utf-8") if isinstance(f, str) else f for f in case.frames]
        one(case.position, case.credential, frames)
        outcomes["hypothesis"] += 1
        for mutant in fuzzing.byte_mutants(rnd, frames[0], MUTANTS):
            one(case.position, case.credential, [mutant])

    run()
    assert harness.state() == harness.before
    total = outcomes.pop("hypothesis")
    assert sum(outcomes.values()) >= cases
    report("fuzz_core_garbage", cases=sum(outcomes.values()), from_hypothesis=total, **outcomes)


@pytest.mark.parametrize("cases", tiers(1500, 30_100, "LETSWORK_FUZZ_CORE_B"))
def test_handshakes_with_a_mutated_field_never_authenticate(
    harness: CoreHarness, cases: int
) -> None:
    outcomes: collections.Counter[str] = collections.Counter()

    def finished_case(case: fuzzing.HandshakeCase, extra: Callable[[bytes], bytes]) -> None:
        server, _ = harness.fixed_server(case.credential)
        valid = harness.valid[case.credential][1]
        if case.kind == "finished":
            assert case.mutation is not None
            finished = extra(case.mutation.apply(valid, fuzzing.FINISHED_FIELDS))
            if finished == valid:
                return
        else:
            # The same hello answered with a fresh hub key: the finished tag of the earlier
            # session (the stored one, made against the fixed key) must not verify here.
            server = crypto.ServerHandshake()
            hello = harness.valid[case.credential][0]
            found = harness.core.lookup_credential(hello.invite_id)
            assert found is not None
            server.respond(hello, found.psk)
            finished = valid
        with pytest.raises(HandshakeError):
            server.receive_client_finished(finished)
        outcomes[case.kind] += 1

    def hello_case(case: fuzzing.HandshakeCase, extra: Callable[[bytes], bytes]) -> None:
        if case.kind == "hello":
            assert case.mutation is not None
            valid = harness.valid[case.credential][0].raw
            hello = extra(case.mutation.apply(valid, fuzzing.HELLO_FIELDS))
            if hello == valid:
                return
        elif case.kind == "revoked":
            hello = crypto.ClientHandshake(harness.secrets["revoked"]).client_hello()
        elif case.kind == "low_order":
            hello = low_order_hello(harness.secrets[case.credential], case.point, os.urandom(16))
        elif case.kind == "stranger":
            hello = crypto.ClientHandshake(os.urandom(len(case.secret))).client_hello()
        else:  # replay: a hello the hub has already answered
            hello = crypto.ClientHandshake(harness.secrets[case.credential]).client_hello()
            harness.respond(hello)
        with pytest.raises(HandshakeError):
            harness.respond(hello)
        outcomes[case.kind] += 1

    @fuzz(examples(cases))
    @given(case=fuzzing.handshake_cases, rnd=st.randoms(use_true_random=True))
    def run(case: fuzzing.HandshakeCase, rnd: random.Random) -> None:
        run_one = finished_case if case.kind in ("finished", "old_finished") else hello_case
        # The case as Hypothesis drew it, then MUTANTS more: the same field change plus random
        # byte edits for mutations, or the same attack with fresh randomness for the others.
        run_one(case, lambda data: data)
        outcomes["hypothesis"] += 1
        for _ in range(MUTANTS):
            run_one(case, lambda data: fuzzing.byte_mutants(rnd, data, 1)[0])

    run()
    assert harness.state() == harness.before
    total = outcomes.pop("hypothesis")
    assert sum(outcomes.values()) >= cases * 0.99  # a mutant that restores the frame is skipped
    report("fuzz_core_handshake", cases=sum(outcomes.values()), from_hypothesis=total, **outcomes)


@pytest.mark.parametrize("cases", tiers(2000, 35_300, "LETSWORK_FUZZ_CORE_C"))
def test_bad_messages_in_valid_records_get_error_replies_and_change_nothing(
    harness: CoreHarness, cases: int
) -> None:
    outcomes: collections.Counter[str] = collections.Counter()
    sessions = {role: harness.session(role)[:2] for role in ("host", "editor", "viewer")}

    def through_records(role: str, plaintext: bytes) -> bytes:
        server_session, client_session = sessions[role]
        return server_session.open(client_session.seal(plaintext))

    def malformed(role: str, body: bytes, certain: bool) -> None:
        try:
            decode_request(body)
        except ProtocolError as exc:
            code = exc.code.value
        else:
            assert not certain, f"accepted: {body[:200]!r}"
            return  # random input that happens to be a valid request: not a fuzz case
        assert code in fuzzing.DECODE_CODES
        reply = harness.dispatch(harness.peers[role], through_records(role, body))
        assert reply["ok"] is False
        assert reply["error"]["code"] in fuzzing.DECODE_CODES
        outcomes[f"malformed:{reply['error']['code']}"] += 1

    def refused(request: fuzzing.RequestCase) -> None:
        if request.kind == "before_hello":
            credential = harness.core.lookup_credential(
                crypto.derive_invite_id(harness.secrets[request.role])
            )
            assert credential is not None
            peer = harness.core.new_peer(credential, NOW)
        else:
            peer = harness.peers[request.role]
        reply = harness.dispatch(peer, through_records(peer.role, request.body()))
        assert fuzzing.acceptable_refusal(request, reply), (request, reply)
        code = reply["error"]["code"] if reply["ok"] is False else "no-op"
        outcomes[f"{request.kind}:{code}"] += 1

    @fuzz(examples(cases))
    @given(case=fuzzing.message_cases, rnd=st.randoms(use_true_random=True))
    def run(case: tuple[str, str, Any], rnd: random.Random) -> None:
        family, role, drawn = case
        outcomes["hypothesis"] += 1
        if family == "malformed":
            _kind, body, certain = drawn
            malformed(role, body, certain)
            for mutant in fuzzing.byte_mutants(rnd, body, MUTANTS):
                malformed(role, mutant, False)
        else:
            refused(drawn)
            for sibling in fuzzing.request_siblings(rnd, drawn, MUTANTS):
                refused(sibling)

    run()
    assert harness.state() == harness.before
    total = outcomes.pop("hypothesis")
    assert sum(outcomes.values()) >= cases * 0.98  # mutants that decode as valid are skipped
    report("fuzz_core_messages", cases=sum(outcomes.values()), from_hypothesis=total, **outcomes)


def test_every_template_is_a_valid_request_so_each_mutation_breaks_exactly_one_rule() -> None:
    for op, args in fuzzing.TEMPLATES.items():
        request = decode_request(fuzzing._dumps({"id": 1, "op": op, "args": args}))
        assert request.op == op


def test_every_wrong_type_the_fuzzer_can_put_in_an_argument_is_refused() -> None:
    # The fuzzer takes each argument's JSON types from the schema; a nested model (a ``$ref``)
    # once had none, so ``{}`` for hello's ``events`` was drawn as a "wrong" type and accepted.
    for op in fuzzing.OPS:
        for name, info in fuzzing.FIELDS[op].items():
            for kind, value in fuzzing._POOL.items():
                if kind in info["types"]:
                    continue
                args = {**fuzzing.TEMPLATES[op], name: value}
                with pytest.raises(ProtocolError):
                    decode_request(fuzzing._dumps({"id": 1, "op": op, "args": args}))


def test_every_low_order_point_with_a_valid_mac_is_refused(harness: CoreHarness) -> None:
    for point in fuzzing.LOW_ORDER_POINTS:
        with pytest.raises(HandshakeError, match="low-order"):
            harness.respond(low_order_hello(harness.secrets["editor"], point, os.urandom(16)))
    assert harness.state() == harness.before


def test_a_hostile_path_write_by_the_host_is_refused_not_applied(harness: CoreHarness) -> None:
    for path in fuzzing.ESCAPES:
        reply = harness.dispatch(
            harness.peers["host"],
            fuzzing._dumps(
                {"id": 1, "op": "write_file", "args": {"path": path, "content": "pwned\n"}}
            ),
        )
        assert reply["ok"] is False, path
        assert isinstance(reply["error"]["code"], str)
    assert (harness.root.parent / "outside" / "secret.txt").read_text() == "outside the project\n"
    assert harness.state() == harness.before
