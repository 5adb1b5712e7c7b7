"""Secrets hygiene (issue 8, item 6).

A real ``letswork start`` subprocess and a real ``letswork channel`` subprocess go through a
session: invites created and used, a guest admitted (resume credential minted) and coming back
with it, a proposal approved, wrong invites tried, a handshake whose session keys the test
derives itself. Then every place a secret could leak is searched for every secret, in every
form it could take (raw bytes, hex, base64, the written invite code): the hub's log file and
stderr, the channel's log file, both processes' argv, the error messages clients got, and the
SQLite database with its WAL (while the hub runs and after it stopped). State files must be
0600 and their folders 0700.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from websockets.asyncio.client import connect

from letswork.client.connection import HubConnection
from letswork.hub.core import Credential
from letswork.local import statedir
from letswork.shared import crypto, invite
from letswork.shared.errors import HandshakeError, LetsworkError
from tests.reliability.support import report
from tests.support.hubs import Client
from tests.support.processes import hub_process


class Secrets:
    """Named secrets and every written form of each."""

    def __init__(self) -> None:
        self.forms: dict[str, list[bytes]] = {}

    def add(self, name: str, value: bytes, *, derived: bool = True) -> None:
        self._add(name, value)
        if derived:  # what the hub derives from a credential secret
            self._add(name + " psk", crypto.derive_psk(value))

    def add_text(self, name: str, text: str) -> None:
        self.forms[name] = [text.encode(), text.replace("-", "").encode()]

    def _add(self, name: str, value: bytes) -> None:
        self.forms[name] = [
            value,
            value.hex().encode(),
            value.hex().upper().encode(),
            base64.b64encode(value).rstrip(b"="),
            base64.urlsafe_b64encode(value).rstrip(b"="),
        ]

    def found_in(self, data: bytes) -> list[str]:
        return [name for name, forms in self.forms.items() if any(f in data for f in forms)]


def written_code(code: str) -> str:
    """The secret part of an invite code (the 28 symbols before '@')."""
    return code.split("@", 1)[0]


async def session_keys(url: str, secret: bytes) -> crypto.KeySchedule:
    """Run a handshake with a known ephemeral key and derive its session keys independently."""
    ephemeral = X25519PrivateKey.generate()
    client = crypto.ClientHandshake(secret, ephemeral=ephemeral)
    async with connect(url, compression=None) as ws:
        await ws.send(client.client_hello())
        reply = await ws.recv()
        assert isinstance(reply, bytes)
        finished, session = client.receive_server_hello(reply)
        await ws.send(finished)
        await ws.send(session.seal(b'{"id":1,"op":"hello","args":{"name":"keyed"}}'))
        await ws.recv()
    dh = ephemeral.exchange(X25519PublicKey.from_public_bytes(reply[2:34]))
    th = hashlib.sha256(client.client_hello() + reply[:50]).digest()  # docs/protocol.md
    return crypto.derive_keys(dh, crypto.derive_psk(secret), th)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def assert_private(folder: Path, files: Iterable[Path]) -> None:
    assert mode(folder) == 0o700, folder
    for file in files:
        assert mode(file) == 0o600, file


async def test_no_secret_reaches_a_log_argv_message_or_the_database_in_clear(
    project: Path,
) -> None:
    secrets = Secrets()
    messages: list[str] = []
    resume: dict[str, bytes] = {}
    state = statedir.project_state(project)
    with hub_process(project, "--auto-admit") as hp:
        first = invite.parse(hp.code)
        host_secret = statedir.read_secret_file(state.host_key_path)
        secrets.add("first invite", first.secret)
        secrets.add_text("first invite code", written_code(hp.code))
        secrets.add("host key", host_secret)
        secrets.add("store key", statedir.read_secret_file(state.store_key_path), derived=False)

        host = Client(HubConnection(first.url, host_secret, name="host"))
        host.conn._on_event = host.on_event
        await host.conn.connect()
        created = await host.call("create_invite", role="editor", label="bob")
        bob = invite.parse(created["code"])
        secrets.add("bob invite", bob.secret)
        secrets.add_text("bob invite code", written_code(created["code"]))

        alice = HubConnection(
            first.url, first.secret, name="alice", on_resume_secret=lambda s: resume.update(a=s)
        )
        await alice.connect()
        proposed = await alice.request("write_file", {"path": "notes.txt", "content": "new\n"})
        await host.call("approve_change", id=proposed["change"]["id"])
        await alice.close()
        secrets.add("resume secret", resume["a"])
        again = HubConnection(first.url, resume["a"], name="alice")
        await again.connect()
        await again.request("ping")
        await again.close()

        for wrong in (first.secret[:-1] + bytes([first.secret[-1] ^ 1]), os.urandom(16)):
            secrets.add("wrong guess " + wrong.hex()[:6], wrong)
            with pytest.raises(HandshakeError) as refused:
                await HubConnection(first.url, wrong, name="mallory").connect()
            messages.append(refused.value.message)
        with pytest.raises(LetsworkError) as bad:
            await host.call("read_file", path="/etc/passwd")
        messages.append(bad.value.message)

        keys = await session_keys(first.url, bob.secret)
        for field in ("key_c2s", "key_s2c", "iv_c2s", "iv_s2c", "fin_s", "fin_c"):
            secrets.add("session " + field, getattr(keys, field), derived=False)

        channel_log, channel_argv = await run_channel(created["code"], host)

        hub_argv = Path(f"/proc/{hp.pid}/cmdline").read_bytes()
        running_db = b"".join(p.read_bytes() for p in state.dir.glob("state.db*") if p.is_file())
        await host.conn.close()
        assert hp.terminate() == 0
        stderr = "".join(hp.stderr_lines).encode()

    hub_log = state.log_path.read_bytes()
    stopped_db = b"".join(p.read_bytes() for p in state.dir.glob("state.db*") if p.is_file())
    places = {
        "hub.log": hub_log,
        "hub stderr": stderr,
        "hub argv": hub_argv,
        "channel log": channel_log,
        "channel argv": channel_argv,
        "error messages": "\n".join(messages).encode(),
        "state.db while running (with -wal, -shm)": running_db,
        "state.db after stop": stopped_db,
        "hub.json": state.hub_info_path.read_bytes() if state.hub_info_path.exists() else b"",
    }
    leaks = {place: secrets.found_in(data) for place, data in places.items()}
    report("secrets", secrets=len(secrets.forms), places=len(places), leaks=leaks)
    assert all(not found for found in leaks.values()), leaks
    assert b"handshake from" in hub_log  # the log does say what happened
    assert len(running_db) > 0 and len(hub_log) > 0


async def run_channel(code: str, host: Client) -> tuple[bytes, bytes]:
    """``letswork channel`` with the invite in its environment; returns (log, argv)."""
    env = {**os.environ, "LETSWORK_INVITE": code}
    proc = subprocess.Popen(
        [sys.executable, "-m", "letswork", "channel", "--session", "bobs", "--name", "bobby"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        await host.wait_event("peer_joined", lambda d: d["name"] == "bobby", timeout=30)
        argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    root = statedir.state_root()
    logs, sessions = root / "logs", root / "sessions"
    assert_private(logs, logs.iterdir())
    assert_private(sessions, sessions.iterdir())
    log = b"".join(p.read_bytes() for p in logs.iterdir()) + err
    return log, argv


def test_state_files_are_0600_and_their_folders_0700(project: Path) -> None:
    state = statedir.project_state(project)
    with hub_process(project) as hp:
        files = list(state.dir.iterdir())
        assert {p.name for p in files} >= {
            "state.db",
            "host.key",
            "store.key",
            "hub.json",
            "hub.log",
            "hub.lock",
        }
        assert_private(state.dir, files)
        assert mode(state.dir.parent) == 0o700  # projects/
        hp.terminate()
    assert_private(state.dir, state.dir.iterdir())


async def test_resume_credentials_are_stored_as_a_derived_id_and_a_sealed_psk(
    project: Path,
) -> None:
    resume: dict[str, bytes] = {}
    state = statedir.project_state(project)
    with hub_process(project, "--auto-admit") as hp:
        first = invite.parse(hp.code)
        conn = HubConnection(
            first.url, first.secret, name="alice", on_resume_secret=lambda s: resume.update(a=s)
        )
        await conn.connect()
        await conn.close()
        hp.terminate()
    secret = resume["a"]
    db = sqlite3.connect(state.db_path)
    try:
        [(resume_id, sealed)] = db.execute(
            "SELECT resume_id, resume_psk FROM guests WHERE name = 'alice'"
        ).fetchall()
        invites = db.execute("SELECT invite_id, secret FROM invites").fetchall()
    finally:
        db.close()
    assert resume_id == crypto.derive_invite_id(secret)  # public: it is in every handshake
    assert crypto.derive_psk(secret) not in sealed and secret not in sealed
    assert len(sealed) == 12 + 32 + 16  # nonce, AES-256-GCM(psk), tag
    for _, sealed_secret in invites:
        assert first.secret not in sealed_secret


def test_no_repr_of_a_credential_or_session_shows_key_material() -> None:
    secret = os.urandom(16)
    psk = crypto.derive_psk(secret)
    credential = Credential(kind="invite", psk=psk, role="editor", invite_id=b"\x01" * 16)
    keys = crypto.derive_keys(os.urandom(32), psk, os.urandom(32))
    session = crypto.Session(
        session_id=os.urandom(32),
        send_key=keys.key_c2s,
        send_iv=keys.iv_c2s,
        recv_key=keys.key_s2c,
        recv_iv=keys.iv_s2c,
    )
    text = repr(credential) + repr(keys) + repr(session) + repr(invite.Invite(secret, "ws://h/"))
    for value in (secret, psk, keys.key_c2s, keys.key_s2c, keys.fin_c, keys.fin_s):
        assert repr(value) not in text and value.hex() not in text
