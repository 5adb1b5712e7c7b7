"""Handshake and record layer (letswork.shared.crypto), checked against docs/protocol.md.

The published vectors are checked twice: against the implementation, and against an
independent computation written here directly from the RFCs (HKDF from RFC 5869 with hmac,
X25519 from RFC 7748 in plain integers, SHA-256 and HMAC from the standard library, GCM from
cryptography's AESGCM called directly), so the vectors are not merely self-consistent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from letswork.shared import crypto
from letswork.shared.crypto import (
    CLIENT_FINISHED_LEN,
    CLIENT_HELLO_LEN,
    PROTOCOL_VERSION,
    RECORD_HEADER_LEN,
    SERVER_HELLO_LEN,
    TAG_LEN,
    ClientHandshake,
    ClientHello,
    CloseCode,
    HandshakeFormatError,
    KeySchedule,
    ReplayCache,
    ServerHandshake,
    Session,
    close_code_for,
    derive_invite_id,
    derive_keys,
    derive_psk,
    parse_client_hello,
    verify_client_hello_mac,
)
from letswork.shared.errors import HandshakeError, RecordError, UsageError
from letswork.shared.limits import MAX_FRAME_BYTES

PROTOCOL_MD = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"

SECRET = bytes(range(16))
CLIENT_PRIVATE = bytes([0x11] * 32)
SERVER_PRIVATE = bytes([0x22] * 32)
NONCE_C = bytes([0xAA] * 16)
NONCE_S = bytes([0xBB] * 16)
PING = b'{"id":1,"op":"ping","args":{}}'
PONG = b'{"id":1,"ok":true,"result":{}}'

# Low-order points of Curve25519 (RFC 7748 section 6.1 / the libsodium blacklist): 0, 1, the two
# points of order 8, p - 1, and the non-canonical encodings p and p + 1.
LOW_ORDER_POINTS = [
    bytes(32),
    bytes([1]) + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]


# ------------------------------------------------------------------------------------------
# Independent reference code, straight from the RFCs


def hkdf_by_hand(ikm: bytes, salt: bytes | None, info: bytes, length: int) -> bytes:
    """RFC 5869 sections 2.2 and 2.3 with HMAC-SHA256."""
    prk = hmac.new(salt if salt is not None else bytes(32), ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def x25519_by_hand(k: bytes, u: bytes) -> bytes:
    """RFC 7748 section 5: the Montgomery ladder on plain Python integers."""
    p = 2**255 - 19
    a24 = 121665
    scalar_bytes = bytearray(k)
    scalar_bytes[0] &= 248
    scalar_bytes[31] &= 127
    scalar_bytes[31] |= 64
    scalar = int.from_bytes(scalar_bytes, "little")
    x1 = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in reversed(range(255)):
        bit = (scalar >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a = x2 + z2
        aa = a * a
        b = x2 - z2
        bb = b * b
        e = aa - bb
        c = x3 + z3
        d = x3 - z3
        da = d * a
        cb = c * b
        x3 = (da + cb) ** 2 % p
        z3 = x1 * (da - cb) ** 2 % p
        x2 = aa * bb % p
        z2 = e * (aa + a24 * e) % p
    if swap:
        x2, x3, z2, z3 = x3, x2, z3, z2
    return (x2 * pow(z2, p - 2, p) % p).to_bytes(32, "little")


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


# ------------------------------------------------------------------------------------------
# Helpers


def load_vectors() -> dict[str, object]:
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    blocks = re.findall(r"^```json vectors\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)
    assert len(blocks) == 1, "docs/protocol.md must hold exactly one `json vectors` block"
    vectors = json.loads(blocks[0])
    assert isinstance(vectors, dict)
    return vectors


def hexval(vectors: dict[str, object], *path: str) -> bytes:
    value: object = vectors
    for key in path:
        assert isinstance(value, dict)
        value = value[key]
    assert isinstance(value, str)
    return bytes.fromhex(value)


def public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )


def seeded_rng(seed: int) -> Callable[[int], bytes]:
    """A deterministic stand-in for os.urandom (tests only)."""
    return random.Random(seed).randbytes


def vector_handshake() -> tuple[ClientHandshake, ServerHandshake]:
    client = ClientHandshake(
        SECRET, ephemeral=X25519PrivateKey.from_private_bytes(CLIENT_PRIVATE), nonce=NONCE_C
    )
    server = ServerHandshake(
        ephemeral=X25519PrivateKey.from_private_bytes(SERVER_PRIVATE), nonce=NONCE_S
    )
    return client, server


def handshake(
    seed: int = 0, *, secret: bytes = SECRET, max_record_bytes: int = MAX_FRAME_BYTES
) -> tuple[Session, Session]:
    """Run a full handshake in memory; returns (client session, server session)."""
    client = ClientHandshake(secret, rng=seeded_rng(seed), max_record_bytes=max_record_bytes)
    server = ServerHandshake(rng=seeded_rng(seed + 1), max_record_bytes=max_record_bytes)
    server_hello = server.respond(parse_client_hello(client.client_hello()), derive_psk(secret))
    client_finished, client_session = client.receive_server_hello(server_hello)
    server_session = server.receive_client_finished(client_finished)
    return client_session, server_session


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


def hello_with(**fields: bytes) -> bytes:
    """A ClientHello for SECRET with some fields replaced and the MAC recomputed correctly."""
    parts = {
        "invite_id": derive_invite_id(SECRET),
        "ephemeral_public": public_bytes(X25519PrivateKey.from_private_bytes(CLIENT_PRIVATE)),
        "nonce": NONCE_C,
    }
    parts.update(fields)
    body = b"\x01\x01" + parts["invite_id"] + parts["ephemeral_public"] + parts["nonce"]
    hello_key = hkdf_by_hand(derive_psk(SECRET), None, b"letswork/1 hello", 32)
    return body + hmac_sha256(hello_key, body)


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
# Successful handshakes


def test_matching_secret_gives_both_sides_the_same_session_id() -> None:
    client_session, server_session = handshake(7)
    assert len(client_session.session_id) == 32
    assert client_session.session_id == server_session.session_id


def test_records_decrypt_in_both_directions() -> None:
    client_session, server_session = handshake(8)
    for i in range(3):
        assert server_session.open(client_session.seal(b"request %d" % i)) == b"request %d" % i
        assert client_session.open(server_session.seal(b"reply %d" % i)) == b"reply %d" % i
    assert client_session.send_seq == client_session.recv_seq == 3


@pytest.mark.parametrize("length", [16, 32, 64])
def test_secrets_of_16_to_64_bytes_complete_a_handshake(length: int) -> None:
    client_session, server_session = handshake(9, secret=bytes(range(length)))
    assert server_session.open(client_session.seal(b"x")) == b"x"


@pytest.mark.parametrize("length", [0, 15, 65])
def test_secret_of_a_length_outside_16_to_64_is_a_usage_error(length: int) -> None:
    with pytest.raises(UsageError):
        derive_psk(bytes(length))
    with pytest.raises(UsageError):
        derive_invite_id(bytes(length))
    with pytest.raises(UsageError):
        ClientHandshake(bytes(length))


def test_fresh_handshakes_give_different_session_ids() -> None:
    assert handshake(1)[0].session_id != handshake(3)[0].session_id


def test_max_record_bytes_is_passed_to_the_sessions() -> None:
    client_session, server_session = handshake(10, max_record_bytes=1000)
    assert client_session.max_record_bytes == server_session.max_record_bytes == 1000
    assert client_session.max_plaintext_bytes == 1000 - RECORD_HEADER_LEN - TAG_LEN


def test_parsed_client_hello_exposes_its_fields() -> None:
    client, _ = vector_handshake()
    hello = parse_client_hello(client.client_hello())
    assert hello == ClientHello(
        version=PROTOCOL_VERSION,
        invite_id=derive_invite_id(SECRET),
        ephemeral_public=public_bytes(X25519PrivateKey.from_private_bytes(CLIENT_PRIVATE)),
        nonce=NONCE_C,
        mac=client.client_hello()[66:],
        raw=client.client_hello(),
    )


# ------------------------------------------------------------------------------------------
# Rejected handshakes


def test_wrong_secret_fails_the_mac_check_at_the_server() -> None:
    client = ClientHandshake(bytes(range(1, 17)), rng=seeded_rng(11))
    hello = parse_client_hello(client.client_hello())
    with pytest.raises(HandshakeError):
        ServerHandshake(rng=seeded_rng(12)).respond(hello, derive_psk(SECRET))


def test_unknown_invite_id_parses_but_fails_against_any_other_psk() -> None:
    client = ClientHandshake(bytes(range(100, 116)), rng=seeded_rng(13))
    hello = parse_client_hello(client.client_hello())
    assert hello.invite_id != derive_invite_id(SECRET)
    with pytest.raises(HandshakeError):
        verify_client_hello_mac(hello, derive_psk(SECRET))
    with pytest.raises(HandshakeError):
        ServerHandshake(rng=seeded_rng(14)).respond(hello, derive_psk(SECRET))


@pytest.mark.parametrize(
    ("region", "start", "end"),
    [("invite_id", 2, 18), ("ephemeral_key", 18, 50), ("nonce", 50, 66), ("mac", 66, 98)],
)
def test_tampered_client_hello_fails_at_the_server(region: str, start: int, end: int) -> None:
    client, _ = vector_handshake()
    original = client.client_hello()
    for index in range(start, end):
        tampered = parse_client_hello(flip(original, index))
        with pytest.raises(HandshakeError):
            ServerHandshake(rng=seeded_rng(index)).respond(tampered, derive_psk(SECRET))


@pytest.mark.parametrize(
    ("region", "start", "end"),
    [("ephemeral_key", 2, 34), ("nonce", 34, 50), ("finished", 50, 82)],
)
def test_tampered_server_hello_fails_at_the_client(region: str, start: int, end: int) -> None:
    client, server = vector_handshake()
    server_hello = server.respond(parse_client_hello(client.client_hello()), derive_psk(SECRET))
    for index in range(start, end):
        fresh_client, _ = vector_handshake()
        with pytest.raises(HandshakeError):
            fresh_client.receive_server_hello(flip(server_hello, index))


def test_tampered_client_finished_fails_at_the_server() -> None:
    client, server = vector_handshake()
    server_hello = server.respond(parse_client_hello(client.client_hello()), derive_psk(SECRET))
    client_finished, _ = client.receive_server_hello(server_hello)
    for index in range(CLIENT_FINISHED_LEN):
        _, fresh_server = vector_handshake()
        fresh_server.respond(parse_client_hello(client.client_hello()), derive_psk(SECRET))
        with pytest.raises(HandshakeError):
            fresh_server.receive_client_finished(flip(client_finished, index))


def test_client_finished_from_another_handshake_fails_at_the_server() -> None:
    client_a = ClientHandshake(SECRET, rng=seeded_rng(20))
    server_a = ServerHandshake(rng=seeded_rng(21))
    server_a.respond(parse_client_hello(client_a.client_hello()), derive_psk(SECRET))
    client_b = ClientHandshake(SECRET, rng=seeded_rng(22))
    server_b = ServerHandshake(rng=seeded_rng(23))
    hello_b = server_b.respond(parse_client_hello(client_b.client_hello()), derive_psk(SECRET))
    finished_b, _ = client_b.receive_server_hello(hello_b)
    with pytest.raises(HandshakeError):
        server_a.receive_client_finished(finished_b)


@pytest.mark.parametrize("length", [0, 1, CLIENT_HELLO_LEN - 1, CLIENT_HELLO_LEN + 1, 200])
def test_client_hello_of_the_wrong_length_is_a_format_error(length: int) -> None:
    client, _ = vector_handshake()
    data = (client.client_hello() * 3)[:length]
    with pytest.raises(HandshakeFormatError):
        parse_client_hello(data)


@pytest.mark.parametrize("length", [0, SERVER_HELLO_LEN - 1, SERVER_HELLO_LEN + 1, 84])
def test_server_hello_of_the_wrong_length_is_a_format_error(length: int) -> None:
    client, server = vector_handshake()
    server_hello = server.respond(parse_client_hello(client.client_hello()), derive_psk(SECRET))
    with pytest.raises(HandshakeFormatError):
        client.receive_server_hello((server_hello * 2)[:length])


@pytest.mark.parametrize("length", [0, CLIENT_FINISHED_LEN - 1, CLIENT_FINISHED_LEN + 1])
def test_client_finished_of_the_wrong_length_is_a_format_error(length: int) -> None:
    client, server = vector_handshake()
    server_hello = server.respond(parse_client_hello(client.client_hello()), derive_psk(SECRET))
    client_finished, _ = client.receive_server_hello(server_hello)
    with pytest.raises(HandshakeFormatError):
        server.receive_client_finished((client_finished * 2)[:length])


@pytest.mark.parametrize("version", [0, 2, 255])
def test_wrong_version_byte_is_a_format_error_in_every_handshake_frame(version: int) -> None:
    client, server = vector_handshake()
    client_hello = client.client_hello()
    with pytest.raises(HandshakeFormatError):
        parse_client_hello(client_hello[:1] + bytes([version]) + client_hello[2:])
    server_hello = server.respond(parse_client_hello(client_hello), derive_psk(SECRET))
    with pytest.raises(HandshakeFormatError):
        vector_handshake()[0].receive_server_hello(
            server_hello[:1] + bytes([version]) + server_hello[2:]
        )
    client_finished, _ = client.receive_server_hello(server_hello)
    with pytest.raises(HandshakeFormatError):
        server.receive_client_finished(client_finished[:1] + bytes([version]) + client_finished[2:])


def test_wrong_type_byte_is_a_format_error_in_every_handshake_frame() -> None:
    client, server = vector_handshake()
    client_hello = client.client_hello()
    with pytest.raises(HandshakeFormatError):
        parse_client_hello(b"\x02" + client_hello[1:])
    server_hello = server.respond(parse_client_hello(client_hello), derive_psk(SECRET))
    with pytest.raises(HandshakeFormatError):
        vector_handshake()[0].receive_server_hello(b"\x01" + server_hello[1:])
    client_finished, _ = client.receive_server_hello(server_hello)
    with pytest.raises(HandshakeFormatError):
        server.receive_client_finished(b"\x01" + client_finished[1:])


def test_format_errors_are_handshake_errors() -> None:
    assert issubclass(HandshakeFormatError, HandshakeError)


def test_malformed_frames_and_bad_records_close_with_4400_and_auth_failures_with_4401() -> None:
    assert close_code_for(HandshakeFormatError("x")) == CloseCode.PROTOCOL_VIOLATION
    assert int(CloseCode.PROTOCOL_VIOLATION) == 4400
    assert close_code_for(RecordError("x")) == CloseCode.PROTOCOL_VIOLATION
    assert close_code_for(HandshakeError("x")) == CloseCode.AUTH_FAILED
    assert int(CloseCode.AUTH_FAILED) == 4401


@pytest.mark.parametrize("point", LOW_ORDER_POINTS, ids=lambda p: p.hex()[:8])
def test_low_order_client_ephemeral_key_fails_at_the_server(point: bytes) -> None:
    hello = parse_client_hello(hello_with(ephemeral_public=point))
    verify_client_hello_mac(hello, derive_psk(SECRET))  # the MAC is right; only the key is bad
    with pytest.raises(HandshakeError):
        ServerHandshake(rng=seeded_rng(30)).respond(hello, derive_psk(SECRET))


@pytest.mark.parametrize("point", LOW_ORDER_POINTS, ids=lambda p: p.hex()[:8])
def test_low_order_server_ephemeral_key_fails_at_the_client(point: bytes) -> None:
    client, _ = vector_handshake()
    server_hello = b"\x02\x01" + point + NONCE_S + bytes(32)
    with pytest.raises(HandshakeError):
        client.receive_server_hello(server_hello)


def test_handshake_error_messages_contain_no_secret_material() -> None:
    client = ClientHandshake(SECRET, rng=seeded_rng(31))
    hello = parse_client_hello(client.client_hello())
    other_psk = derive_psk(bytes(range(1, 17)))
    with pytest.raises(HandshakeError) as caught:
        ServerHandshake(rng=seeded_rng(32)).respond(hello, other_psk)
    message = str(caught.value)
    for secret in (SECRET, derive_psk(SECRET), other_psk):
        assert secret.hex() not in message
        assert repr(secret) not in message


def test_key_schedule_repr_hides_the_keys() -> None:
    keys = derive_keys(bytes(range(32)), bytes(32), bytes(32))
    text = repr(keys)
    assert keys.key_c2s.hex() not in text
    assert repr(keys.key_c2s) not in text


# ------------------------------------------------------------------------------------------
# Handshake objects are single use


def test_client_handshake_accepts_only_one_server_hello() -> None:
    client, server = vector_handshake()
    server_hello = server.respond(parse_client_hello(client.client_hello()), derive_psk(SECRET))
    client.receive_server_hello(server_hello)
    with pytest.raises(UsageError):
        client.receive_server_hello(server_hello)


def test_server_handshake_responds_only_once() -> None:
    client, server = vector_handshake()
    hello = parse_client_hello(client.client_hello())
    server.respond(hello, derive_psk(SECRET))
    with pytest.raises(UsageError):
        server.respond(hello, derive_psk(SECRET))


def test_server_handshake_needs_a_successful_respond_before_client_finished() -> None:
    _, server = vector_handshake()
    with pytest.raises(UsageError):
        server.receive_client_finished(bytes(CLIENT_FINISHED_LEN))
    client, failed = vector_handshake()
    with pytest.raises(HandshakeError):
        failed.respond(parse_client_hello(client.client_hello()), derive_psk(bytes(16)))
    with pytest.raises(UsageError):
        failed.receive_client_finished(bytes(CLIENT_FINISHED_LEN))


# ------------------------------------------------------------------------------------------
# Replay cache


def _hello(nonce: bytes = NONCE_C, secret: bytes = SECRET) -> ClientHello:
    client = ClientHandshake(
        secret, ephemeral=X25519PrivateKey.from_private_bytes(CLIENT_PRIVATE), nonce=nonce
    )
    return parse_client_hello(client.client_hello())


def test_replay_cache_rejects_a_replayed_client_hello_within_the_ttl() -> None:
    cache = ReplayCache(ttl_seconds=600.0)
    assert cache.check_and_add(_hello(), now=1000.0) is True
    assert cache.check_and_add(_hello(), now=1000.0) is False
    assert cache.check_and_add(_hello(), now=1599.9) is False


def test_replay_cache_accepts_the_same_hello_again_after_the_ttl() -> None:
    cache = ReplayCache(ttl_seconds=600.0)
    assert cache.check_and_add(_hello(), now=1000.0) is True
    assert cache.check_and_add(_hello(), now=1600.0) is True
    assert cache.check_and_add(_hello(), now=1600.5) is False


def test_replay_cache_keeps_hellos_with_another_nonce_or_id_apart() -> None:
    cache = ReplayCache()
    assert cache.check_and_add(_hello(), now=0.0) is True
    assert cache.check_and_add(_hello(nonce=bytes(16)), now=0.0) is True
    assert cache.check_and_add(_hello(secret=bytes(range(1, 17))), now=0.0) is True
    assert len(cache) == 3


def test_replay_cache_forgets_expired_entries() -> None:
    cache = ReplayCache(ttl_seconds=10.0)
    for i in range(5):
        cache.check_and_add(_hello(nonce=bytes([i]) * 16), now=float(i))
    cache.check_and_add(_hello(nonce=bytes([99]) * 16), now=14.5)
    assert len(cache) == 1


def test_replay_cache_holds_at_most_max_entries_dropping_the_oldest() -> None:
    cache = ReplayCache(max_entries=3)
    for i in range(4):
        assert cache.check_and_add(_hello(nonce=bytes([i]) * 16), now=0.0) is True
    assert len(cache) == 3
    assert cache.check_and_add(_hello(nonce=bytes([3]) * 16), now=0.0) is False
    assert cache.check_and_add(_hello(nonce=bytes([0]) * 16), now=0.0) is True


# ------------------------------------------------------------------------------------------
# Record layer


def test_record_is_header_then_ciphertext_then_tag() -> None:
    client_session, _ = handshake(40)
    record = client_session.seal(b"hello")
    assert len(record) == RECORD_HEADER_LEN + 5 + TAG_LEN
    assert record[:RECORD_HEADER_LEN] == b"LW\x01" + bytes(8)
    assert client_session.seal(b"")[:RECORD_HEADER_LEN] == b"LW\x01" + (1).to_bytes(8, "big")


def test_tampering_any_single_byte_of_a_record_is_a_record_error() -> None:
    client_session, _ = handshake(41)
    record = client_session.seal(PING)
    for index in range(len(record)):
        _, server_session = handshake(41)
        with pytest.raises(RecordError):
            server_session.open(flip(record, index))
        assert server_session.dead


def test_replayed_record_is_a_record_error() -> None:
    client_session, server_session = handshake(42)
    record = client_session.seal(b"once")
    assert server_session.open(record) == b"once"
    with pytest.raises(RecordError):
        server_session.open(record)


def test_reordered_records_are_a_record_error() -> None:
    client_session, server_session = handshake(43)
    first, second = client_session.seal(b"1"), client_session.seal(b"2")
    with pytest.raises(RecordError):
        server_session.open(second)
    with pytest.raises(RecordError):
        server_session.open(first)


def test_dropped_record_is_a_record_error() -> None:
    client_session, server_session = handshake(44)
    client_session.seal(b"lost")
    with pytest.raises(RecordError):
        server_session.open(client_session.seal(b"after the gap"))


def test_record_of_the_other_direction_is_a_record_error() -> None:
    client_session, server_session = handshake(45)
    with pytest.raises(RecordError):
        client_session.open(client_session.seal(b"to the hub"))
    with pytest.raises(RecordError):
        server_session.open(server_session.seal(b"to the client"))


def test_record_of_another_session_is_a_record_error() -> None:
    client_a, _ = handshake(46)
    _, server_b = handshake(48)
    with pytest.raises(RecordError):
        server_b.open(client_a.seal(b"wrong session"))


def test_dead_session_stays_dead_for_open_and_seal() -> None:
    client_session, server_session = handshake(50)
    good = client_session.seal(b"good")
    with pytest.raises(RecordError):
        server_session.open(flip(good, len(good) - 1))
    assert server_session.dead
    with pytest.raises(RecordError):
        server_session.open(good)
    with pytest.raises(RecordError):
        server_session.seal(b"reply")
    assert server_session.recv_seq == 0


@pytest.mark.parametrize("length", [0, 1, RECORD_HEADER_LEN, RECORD_HEADER_LEN + TAG_LEN - 1])
def test_short_record_is_a_record_error(length: int) -> None:
    client_session, server_session = handshake(51)
    with pytest.raises(RecordError):
        server_session.open(client_session.seal(b"")[:length])


def test_record_over_max_record_bytes_is_a_record_error_when_opened() -> None:
    client_session, _ = handshake(52, max_record_bytes=100)
    _, server_session = handshake(52, max_record_bytes=99)
    record = client_session.seal(bytes(100 - RECORD_HEADER_LEN - TAG_LEN))
    assert len(record) == 100
    with pytest.raises(RecordError):
        server_session.open(record)


def test_sealing_over_max_record_bytes_is_a_record_error_and_kills_the_session() -> None:
    client_session, _ = handshake(53, max_record_bytes=100)
    with pytest.raises(RecordError):
        client_session.seal(bytes(client_session.max_plaintext_bytes + 1))
    assert client_session.dead
    with pytest.raises(RecordError):
        client_session.seal(b"")


def _session_pair(send_seq: int, recv_seq: int) -> tuple[Session, Session]:
    keys = derive_keys(bytes(range(32)), bytes(32), bytes(32))
    sender = Session(
        session_id=bytes(32),
        send_key=keys.key_c2s,
        send_iv=keys.iv_c2s,
        recv_key=keys.key_s2c,
        recv_iv=keys.iv_s2c,
        send_seq=send_seq,
    )
    receiver = Session(
        session_id=bytes(32),
        send_key=keys.key_s2c,
        send_iv=keys.iv_s2c,
        recv_key=keys.key_c2s,
        recv_iv=keys.iv_c2s,
        recv_seq=recv_seq,
    )
    return sender, receiver


def test_sequence_number_2_pow_64_minus_1_is_never_sent() -> None:
    sender, receiver = _session_pair(2**64 - 2, 2**64 - 2)
    assert receiver.open(sender.seal(b"last")) == b"last"
    with pytest.raises(RecordError):
        sender.seal(b"one too many")
    assert sender.dead


def test_sequence_number_2_pow_64_minus_1_is_never_accepted() -> None:
    _, receiver = _session_pair(2**64 - 1, 2**64 - 1)
    header = b"LW\x01" + (2**64 - 1).to_bytes(8, "big")
    with pytest.raises(RecordError):
        receiver.open(header + bytes(TAG_LEN))
    assert receiver.dead


def test_session_rejects_keys_of_the_wrong_length() -> None:
    with pytest.raises(UsageError):
        Session(
            session_id=bytes(32),
            send_key=bytes(16),
            send_iv=bytes(12),
            recv_key=bytes(32),
            recv_iv=bytes(12),
        )


def test_session_repr_shows_no_keys() -> None:
    keys = derive_keys(bytes(range(32)), bytes(32), bytes(32))
    session = Session(
        session_id=bytes(32),
        send_key=keys.key_c2s,
        send_iv=keys.iv_c2s,
        recv_key=keys.key_s2c,
        recv_iv=keys.iv_s2c,
    )
    assert keys.key_c2s.hex()[:8] not in repr(session)


def _payload(size_and_seed: tuple[int, int]) -> bytes:
    size, seed = size_and_seed
    return random.Random(seed).randbytes(size)


PAYLOADS = st.one_of(
    st.binary(max_size=512),
    st.tuples(st.integers(0, 64 * 1024), st.integers(0, 2**32)).map(_payload),
)


@settings(max_examples=60, deadline=None)
@given(payloads=st.lists(PAYLOADS, min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_arbitrary_payloads_round_trip_in_both_directions(payloads: list[bytes], seed: int) -> None:
    client_session, server_session = handshake(seed)
    for payload in payloads:
        record = client_session.seal(payload)
        assert len(record) == RECORD_HEADER_LEN + len(payload) + TAG_LEN
        assert server_session.open(record) == payload
        assert client_session.open(server_session.seal(payload)) == payload


@settings(max_examples=200, deadline=None)
@given(payload=PAYLOADS, data=st.data())
def test_any_single_bit_flip_in_a_record_is_rejected(payload: bytes, data: st.DataObject) -> None:
    client_session, server_session = handshake(60)
    record = client_session.seal(payload)
    bit = data.draw(st.integers(0, len(record) * 8 - 1), label="bit")
    with pytest.raises(RecordError):
        server_session.open(flip(record, bit // 8, 1 << (bit % 8)))


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
