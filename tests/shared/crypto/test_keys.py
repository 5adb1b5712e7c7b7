"""Key derivation and the published vectors (letswork.shared.crypto.keys), checked against
docs/protocol.md twice: against the implementation, and against an independent computation
written here from the RFCs (tests/shared/crypto/helpers.py), so the vectors are not merely
self-consistent; and the constants and close codes."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from letswork.shared import crypto
from letswork.shared.crypto import (
    CLIENT_FINISHED_LEN,
    CLIENT_HELLO_LEN,
    RECORD_HEADER_LEN,
    SERVER_HELLO_LEN,
    ClientHandshake,
    CloseCode,
    KeySchedule,
    derive_invite_id,
    derive_keys,
    derive_psk,
    parse_client_hello,
)
from tests.shared.crypto.helpers import (
    CLIENT_PRIVATE,
    NONCE_C,
    NONCE_S,
    PING,
    PONG,
    PROTOCOL_MD,
    SECRET,
    SERVER_PRIVATE,
    hexval,
    hkdf_by_hand,
    hmac_sha256,
    load_vectors,
    public_bytes,
    vector_handshake,
    x25519_by_hand,
)

# ------------------------------------------------------------------------------------------
# Published vectors


def test_vectors_in_protocol_md_match_the_implementation() -> None:
    v = load_vectors()
    assert hexval(v, "secret") == SECRET
    assert hexval(v, "client_ephemeral_private") == CLIENT_PRIVATE
    assert hexval(v, "server_ephemeral_private") == SERVER_PRIVATE
    assert hexval(v, "nonce_c") == NONCE_C
    assert hexval(v, "nonce_s") == NONCE_S

    psk = derive_psk(SECRET)
    assert psk == hexval(v, "psk")
    assert derive_invite_id(SECRET) == hexval(v, "invite_id")
    assert crypto.derive_hello_key(psk) == hexval(v, "hello_key")
    client_private = X25519PrivateKey.from_private_bytes(CLIENT_PRIVATE)
    server_private = X25519PrivateKey.from_private_bytes(SERVER_PRIVATE)
    assert public_bytes(client_private) == hexval(v, "client_ephemeral_public")
    assert public_bytes(server_private) == hexval(v, "server_ephemeral_public")

    client, server = vector_handshake()
    assert client.invite_id == hexval(v, "invite_id")
    client_hello = client.client_hello()
    assert client_hello == hexval(v, "client_hello")
    assert client_hello[66:] == hexval(v, "client_hello_mac")
    server_hello = server.respond(parse_client_hello(client_hello), psk)
    assert server_hello == hexval(v, "server_hello")
    assert server_hello[50:] == hexval(v, "server_finished")
    client_finished, client_session = client.receive_server_hello(server_hello)
    assert client_finished == hexval(v, "client_finished")
    server_session = server.receive_client_finished(client_finished)
    assert client_session.session_id == hexval(v, "session_id") == hexval(v, "transcript_hash")
    assert server_session.session_id == client_session.session_id

    dh = client_private.exchange(server_private.public_key())
    assert dh == hexval(v, "dh")
    keys = derive_keys(dh, psk, client_session.session_id)
    for name in ("key_c2s", "key_s2c", "iv_c2s", "iv_s2c", "fin_s", "fin_c"):
        assert getattr(keys, name) == hexval(v, name), name
    okm = keys.key_c2s + keys.key_s2c + keys.iv_c2s + keys.iv_s2c + keys.fin_s + keys.fin_c
    assert okm == hexval(v, "okm")

    assert hexval(v, "client_record_0", "plaintext") == PING
    assert hexval(v, "server_record_0", "plaintext") == PONG
    assert client_session.seal(PING) == hexval(v, "client_record_0", "record")
    assert server_session.seal(PONG) == hexval(v, "server_record_0", "record")
    ping_2 = hexval(v, "client_record_1", "plaintext")
    assert client_session.seal(ping_2) == hexval(v, "client_record_1", "record")
    assert server_session.open(hexval(v, "client_record_0", "record")) == PING
    assert server_session.open(hexval(v, "client_record_1", "record")) == ping_2
    assert client_session.open(hexval(v, "server_record_0", "record")) == PONG


def test_vectors_in_protocol_md_match_an_independent_computation() -> None:
    v = load_vectors()
    secret = hexval(v, "secret")
    psk = hkdf_by_hand(secret, None, b"letswork/1 psk", 32)
    assert psk == hexval(v, "psk")
    assert hkdf_by_hand(secret, None, b"letswork/1 id", 16) == hexval(v, "invite_id")
    hello_key = hkdf_by_hand(psk, None, b"letswork/1 hello", 32)
    assert hello_key == hexval(v, "hello_key")

    base_point = (9).to_bytes(32, "little")
    e_c = x25519_by_hand(hexval(v, "client_ephemeral_private"), base_point)
    e_s = x25519_by_hand(hexval(v, "server_ephemeral_private"), base_point)
    assert e_c == hexval(v, "client_ephemeral_public")
    assert e_s == hexval(v, "server_ephemeral_public")
    dh = x25519_by_hand(hexval(v, "client_ephemeral_private"), e_s)
    assert dh == x25519_by_hand(hexval(v, "server_ephemeral_private"), e_c)
    assert dh == hexval(v, "dh")

    body = b"\x01\x01" + hexval(v, "invite_id") + e_c + hexval(v, "nonce_c")
    client_hello = body + hmac_sha256(hello_key, body)
    assert len(client_hello) == 98
    assert client_hello == hexval(v, "client_hello")

    server_head = b"\x02\x01" + e_s + hexval(v, "nonce_s")
    th = hashlib.sha256(client_hello + server_head).digest()
    assert th == hexval(v, "transcript_hash") == hexval(v, "session_id")

    okm = hkdf_by_hand(dh, psk, b"letswork/1 keys" + th, 152)
    assert okm == hexval(v, "okm")
    key_c2s, key_s2c = okm[0:32], okm[32:64]
    iv_c2s, iv_s2c = okm[64:76], okm[76:88]
    fin_s, fin_c = okm[88:120], okm[120:152]
    assert (key_c2s, key_s2c) == (hexval(v, "key_c2s"), hexval(v, "key_s2c"))
    assert (iv_c2s, iv_s2c) == (hexval(v, "iv_c2s"), hexval(v, "iv_s2c"))
    assert (fin_s, fin_c) == (hexval(v, "fin_s"), hexval(v, "fin_c"))

    server_hello = server_head + hmac_sha256(fin_s, th)
    assert len(server_hello) == 82
    assert server_hello == hexval(v, "server_hello")
    assert b"\x03\x01" + hmac_sha256(fin_c, th) == hexval(v, "client_finished")

    def record(key: bytes, iv: bytes, seq: int, plaintext: bytes) -> tuple[bytes, bytes]:
        header = b"LW\x01" + seq.to_bytes(8, "big")
        nonce = bytes(a ^ b for a, b in zip(iv, bytes(4) + seq.to_bytes(8, "big"), strict=True))
        return nonce, header + AESGCM(key).encrypt(nonce, plaintext, header + th)

    for name, key, iv, seq in (
        ("client_record_0", key_c2s, iv_c2s, 0),
        ("client_record_1", key_c2s, iv_c2s, 1),
        ("server_record_0", key_s2c, iv_s2c, 0),
    ):
        nonce, sealed = record(key, iv, seq, hexval(v, name, "plaintext"))
        assert nonce == hexval(v, name, "nonce"), name
        assert sealed == hexval(v, name, "record"), name


def test_hkdf_by_hand_matches_rfc5869_test_case_1() -> None:
    ikm = bytes([0x0B] * 22)
    salt = bytes(range(13))
    info = bytes(range(0xF0, 0xFA))
    okm = bytes.fromhex(
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )
    assert hkdf_by_hand(ikm, salt, info, 42) == okm
    assert HKDF(algorithm=hashes.SHA256(), length=42, salt=salt, info=info).derive(ikm) == okm


def test_hkdf_by_hand_matches_rfc5869_test_case_3_with_empty_salt() -> None:
    ikm = bytes([0x0B] * 22)
    okm = bytes.fromhex(
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    )
    assert hkdf_by_hand(ikm, None, b"", 42) == okm
    assert HKDF(algorithm=hashes.SHA256(), length=42, salt=None, info=b"").derive(ikm) == okm


def test_x25519_by_hand_matches_rfc7748_section_6_1() -> None:
    alice = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bob = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    bob_public = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    shared = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    assert x25519_by_hand(bob, (9).to_bytes(32, "little")) == bob_public
    assert x25519_by_hand(alice, bob_public) == shared


def test_rng_is_called_for_the_ephemeral_key_first_then_the_nonce() -> None:
    chunks = [CLIENT_PRIVATE, NONCE_C]

    def rng(n: int) -> bytes:
        chunk = chunks.pop(0)
        assert len(chunk) == n
        return chunk

    assert ClientHandshake(SECRET, rng=rng).client_hello() == hexval(load_vectors(), "client_hello")


# ------------------------------------------------------------------------------------------
# Constants


def test_close_codes_have_their_documented_values() -> None:
    assert {code.name: int(code) for code in CloseCode} == {
        "NORMAL": 1000,
        "GOING_AWAY": 1001,
        "TOO_BIG": 1009,
        "INTERNAL_ERROR": 1011,
        "PROTOCOL_VIOLATION": 4400,
        "AUTH_FAILED": 4401,
        "REMOVED": 4403,
        "HANDSHAKE_TIMEOUT": 4408,
        "TOO_MANY_ATTEMPTS": 4429,
        "SESSION_FULL": 4430,
    }


def test_close_code_table_in_protocol_md_lists_every_code() -> None:
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    for code in CloseCode:
        assert f"| {int(code)} | `{code.name}` |" in text


def test_frame_lengths_add_up() -> None:
    assert CLIENT_HELLO_LEN == 1 + 1 + 16 + 32 + 16 + 32
    assert SERVER_HELLO_LEN == 1 + 1 + 32 + 16 + 32
    assert CLIENT_FINISHED_LEN == 1 + 1 + 32
    assert RECORD_HEADER_LEN == 2 + 1 + 8
    assert isinstance(derive_keys(bytes(32), bytes(32), bytes(32)), KeySchedule)
