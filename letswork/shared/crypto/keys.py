"""Primitive wrappers (HKDF-SHA256, HMAC-SHA256, SHA-256, X25519) and the key schedule
(design section 4, ``docs/protocol.md``). Pure: bytes in, bytes out."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from letswork.shared.crypto.constants import (
    _INFO_HELLO,
    _INFO_ID,
    _INFO_KEYS,
    _INFO_PSK,
    _KEY_SCHEDULE_LEN,
    _SH_TRANSCRIPT_LEN,
    INVITE_ID_LEN,
    KEY_LEN,
    MAX_SECRET_LEN,
    MIN_SECRET_LEN,
    PSK_LEN,
    SESSION_ID_LEN,
)
from letswork.shared.errors import HandshakeError, UsageError


def _hkdf(ikm: bytes, *, salt: bytes | None, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869): extract with ``salt`` (``None`` = 32 zero bytes), then expand."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def _hmac(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104): 32-byte tag."""
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def _sha256(data: bytes) -> bytes:
    """SHA-256 (FIPS 180-4): 32-byte digest."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def _public_bytes(key: X25519PrivateKey) -> bytes:
    """The 32-byte little-endian u-coordinate of ``key``'s public key (RFC 7748 section 5)."""
    return key.public_key().public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )


def _x25519(private: X25519PrivateKey, peer_public: bytes) -> bytes:
    """X25519(private, peer_public) (RFC 7748); HandshakeError on a low-order peer key.

    ``cryptography`` raises ``ValueError`` when the shared secret is all zeros, which is what
    every low-order (small-subgroup) point produces (RFC 7748 section 6.1).
    """
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError:
        raise HandshakeError("peer ephemeral key is a low-order point") from None


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes | bytearray):
        raise UsageError("credential secret must be bytes")
    if not MIN_SECRET_LEN <= len(secret) <= MAX_SECRET_LEN:
        raise UsageError(
            f"credential secret must be {MIN_SECRET_LEN}..{MAX_SECRET_LEN} bytes, got {len(secret)}"
        )


def _check_len(name: str, value: bytes, length: int) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != length:
        raise UsageError(f"{name} must be {length} bytes")


# --------------------------------------------------------------------------------------------
# Key derivation


def derive_psk(secret: bytes) -> bytes:
    """The 32-byte pre-shared key of a credential secret (design section 4, step 1).

    ``HKDF-SHA256(ikm=secret, salt=None, info=b"letswork/1 psk", L=32)`` (RFC 5869).

    Args:
        secret: the credential secret, 16..64 bytes.

    Raises:
        UsageError: ``secret`` has a length outside 16..64.
    """
    _check_secret(secret)
    return _hkdf(bytes(secret), salt=None, info=_INFO_PSK, length=PSK_LEN)


def derive_invite_id(secret: bytes) -> bytes:
    """The 16-byte public id of a credential secret: the hub's lookup key (design section 3).

    ``HKDF-SHA256(ikm=secret, salt=None, info=b"letswork/1 id", L=16)`` (RFC 5869). Independent
    of the psk (different ``info``), so the id reveals nothing usable about the secret.

    Raises:
        UsageError: ``secret`` has a length outside 16..64.
    """
    _check_secret(secret)
    return _hkdf(bytes(secret), salt=None, info=_INFO_ID, length=INVITE_ID_LEN)


def derive_hello_key(psk: bytes) -> bytes:
    """The 32-byte HMAC key of the ClientHello MAC.

    ``HKDF-SHA256(ikm=psk, salt=None, info=b"letswork/1 hello", L=32)`` (RFC 5869).

    Raises:
        UsageError: ``psk`` is not 32 bytes.
    """
    _check_len("psk", psk, PSK_LEN)
    return _hkdf(bytes(psk), salt=None, info=_INFO_HELLO, length=KEY_LEN)


@dataclass(frozen=True)
class KeySchedule:
    """The session keys: ``HKDF-SHA256(ikm=dh, salt=psk, info=b"letswork/1 keys" || th, L=152)``.

    The 152 output bytes are split in this order (design section 4, step 4)::

        key_c2s (32) | key_s2c (32) | iv_c2s (12) | iv_s2c (12) | fin_s (32) | fin_c (32)

    Fields are excluded from ``repr`` so a key schedule never lands in a log by accident.
    """

    key_c2s: bytes = field(repr=False)  #: AES-256-GCM key, client -> server records
    key_s2c: bytes = field(repr=False)  #: AES-256-GCM key, server -> client records
    iv_c2s: bytes = field(repr=False)  #: 12-byte IV, client -> server records
    iv_s2c: bytes = field(repr=False)  #: 12-byte IV, server -> client records
    fin_s: bytes = field(repr=False)  #: HMAC key of the server finished tag
    fin_c: bytes = field(repr=False)  #: HMAC key of the client finished tag


def derive_keys(dh: bytes, psk: bytes, th: bytes) -> KeySchedule:
    """Derive the :class:`KeySchedule` from the X25519 output, the psk and the transcript hash.

    Args:
        dh: ``X25519(e_c, e_s)``, 32 bytes (RFC 7748).
        psk: :func:`derive_psk` of the secret, 32 bytes (used as the HKDF salt).
        th: the transcript hash, 32 bytes (appended to the HKDF ``info``).

    Raises:
        UsageError: an argument has the wrong length.
    """
    _check_len("dh", dh, KEY_LEN)
    _check_len("psk", psk, PSK_LEN)
    _check_len("th", th, SESSION_ID_LEN)
    okm = _hkdf(bytes(dh), salt=bytes(psk), info=_INFO_KEYS + bytes(th), length=_KEY_SCHEDULE_LEN)
    return KeySchedule(
        key_c2s=okm[0:32],
        key_s2c=okm[32:64],
        iv_c2s=okm[64:76],
        iv_s2c=okm[76:88],
        fin_s=okm[88:120],
        fin_c=okm[120:152],
    )


def _transcript_hash(client_hello: bytes, server_hello: bytes) -> bytes:
    """``SHA-256(ClientHello[0:98] || ServerHello[0:50])``: the transcript hash and session id."""
    return _sha256(client_hello + server_hello[:_SH_TRANSCRIPT_LEN])
