"""Reference code straight from the RFCs, the vectors of docs/protocol.md, and helpers shared
by the crypto tests (letswork.shared.crypto)."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from letswork.shared.crypto import (
    ClientHandshake,
    ServerHandshake,
    Session,
    derive_invite_id,
    derive_psk,
    parse_client_hello,
)
from letswork.shared.limits import MAX_FRAME_BYTES

PROTOCOL_MD = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"

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
