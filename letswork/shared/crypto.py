"""Handshake and record layer of protocol version 1 (design section 4; ``docs/protocol.md``).

Pure code: bytes in, bytes out. Nothing here opens a socket, reads a clock or a file; randomness
comes from an injectable ``rng`` (default :func:`os.urandom`) or from injected ephemeral keys and
nonces, so the test vectors in ``docs/protocol.md`` can be reproduced exactly.

Only primitives of the ``cryptography`` package are used (plus :func:`hmac.compare_digest` from
the standard library for constant-time comparison of tags):

- HKDF-SHA256 (RFC 5869) for every derived secret,
- X25519 (RFC 7748) for the ephemeral Diffie-Hellman,
- HMAC-SHA256 (RFC 2104) for the ClientHello MAC and the two finished tags,
- SHA-256 (FIPS 180-4) for the transcript hash,
- AES-256-GCM (NIST SP 800-38D, RFC 5116) for records.

The pattern is Noise NNpsk0-like: both sides prove knowledge of the invite secret (through the
psk) and the session keys come from fresh ephemeral keys, so a secret learnt later does not
decrypt recorded traffic.

Flow (the hub is the server, the channel or admin CLI the client)::

    client = ClientHandshake(secret)                   server (hub)
    send client.client_hello()            ───98───►    hello = parse_client_hello(data)
                                                       psk = <look up hello.invite_id>
                                                       replay_cache.check_and_add(hello, now)
                                                       sh = ServerHandshake()
    cf, session = client.receive_server_hello(data) ◄──82───  send sh.respond(hello, psk)
    send cf                               ───34───►    session = sh.receive_client_finished(data)
    session.seal(...) / session.open(...)  ◄─records─► session.seal(...) / session.open(...)

Errors: a peer's fault raises :class:`~letswork.shared.errors.HandshakeError` (structurally
malformed handshake frames raise its subclass :class:`HandshakeFormatError`) or
:class:`~letswork.shared.errors.RecordError`; local misuse (bad lengths passed in, methods
called out of order) raises :class:`~letswork.shared.errors.UsageError`. No third-party
exception escapes, and no message contains a secret or a key.
"""

from __future__ import annotations

import enum
import hmac
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from letswork.shared.errors import HandshakeError, RecordError, UsageError
from letswork.shared.limits import MAX_FRAME_BYTES

__all__ = [
    "CLIENT_FINISHED_LEN",
    "CLIENT_HELLO_LEN",
    "INVITE_ID_LEN",
    "IV_LEN",
    "KEY_LEN",
    "MAX_SECRET_LEN",
    "MIN_SECRET_LEN",
    "NONCE_LEN",
    "PROTOCOL_VERSION",
    "PSK_LEN",
    "RECORD_HEADER_LEN",
    "RECORD_MAGIC",
    "SEQ_LIMIT",
    "SERVER_HELLO_LEN",
    "SESSION_ID_LEN",
    "TAG_LEN",
    "TYPE_CLIENT_FINISHED",
    "TYPE_CLIENT_HELLO",
    "TYPE_SERVER_HELLO",
    "ClientHandshake",
    "ClientHello",
    "CloseCode",
    "HandshakeFormatError",
    "KeySchedule",
    "ReplayCache",
    "ServerHandshake",
    "Session",
    "close_code_for",
    "derive_hello_key",
    "derive_invite_id",
    "derive_keys",
    "derive_psk",
    "parse_client_hello",
    "verify_client_hello_mac",
]

#: The one protocol version this module speaks; the second byte of every handshake frame and
#: the third byte of every record header.
PROTOCOL_VERSION = 1

#: Handshake frame types (first byte of each handshake frame).
TYPE_CLIENT_HELLO = 0x01
TYPE_SERVER_HELLO = 0x02
TYPE_CLIENT_FINISHED = 0x03

#: ``type | version | invite_id (16) | e_c (32) | nonce_c (16) | mac (32)``.
CLIENT_HELLO_LEN = 98
#: ``type | version | e_s (32) | nonce_s (16) | server_finished (32)``: 1 + 1 + 32 + 16 + 32.
SERVER_HELLO_LEN = 82
#: ``type | version | client_finished (32)``.
CLIENT_FINISHED_LEN = 34
#: ``b"LW" | version | seq (8, big-endian)``.
RECORD_HEADER_LEN = 11
#: AES-GCM tag appended to every record's ciphertext.
TAG_LEN = 16

#: The two bytes every record starts with.
RECORD_MAGIC = b"LW"

#: Accepted credential-secret lengths, in bytes (16 for invites, 32 for host/resume keys).
MIN_SECRET_LEN = 16
MAX_SECRET_LEN = 64
#: Length of the psk, of every HMAC key and tag, of an X25519 key, and of a session id.
PSK_LEN = 32
KEY_LEN = 32
SESSION_ID_LEN = 32
#: Length of the public invite id and of the handshake nonces.
INVITE_ID_LEN = 16
NONCE_LEN = 16
#: AES-GCM IV length (96 bits, the RFC 5116 / SP 800-38D recommended size).
IV_LEN = 12

#: The sequence number that is never used: a session that would need it fails instead.
SEQ_LIMIT = 2**64 - 1

_INFO_PSK = b"letswork/1 psk"
_INFO_ID = b"letswork/1 id"
_INFO_HELLO = b"letswork/1 hello"
_INFO_KEYS = b"letswork/1 keys"
_KEY_SCHEDULE_LEN = 32 + 32 + 12 + 12 + 32 + 32  # 152

# Offsets inside the handshake frames.
_CH_MAC_OFFSET = 66  # the MAC covers ClientHello[0:66]
_SH_TRANSCRIPT_LEN = 50  # the transcript covers ServerHello[0:50] (all but the finished tag)


class CloseCode(enum.IntEnum):
    """WebSocket close codes used by letswork (``docs/protocol.md``, "Close codes").

    Codes below 4000 are RFC 6455's; 4xxx are private-use codes mirroring HTTP where one fits.
    """

    NORMAL = 1000  #: orderly close by either side
    GOING_AWAY = 1001  #: the hub is shutting down or the client is exiting
    TOO_BIG = 1009  #: a WebSocket frame over the frame limit
    INTERNAL_ERROR = 1011  #: the hub hit a bug while serving this connection
    PROTOCOL_VIOLATION = 4400  #: bad record (:class:`RecordError`) or malformed handshake frame
    AUTH_FAILED = 4401  #: unknown id, revoked invite, bad MAC, bad finished: all the same
    REMOVED = 4403  #: kicked, or the invite was revoked while connected
    HANDSHAKE_TIMEOUT = 4408  #: the handshake did not finish in time
    TOO_MANY_ATTEMPTS = 4429  #: failed-handshake rate limit for this source (or overall)
    SESSION_FULL = 4430  #: the hub already has the maximum number of peers


class HandshakeFormatError(HandshakeError):
    """A handshake frame is structurally malformed: wrong length, type byte or version byte.

    Still a :class:`HandshakeError` (so ``except HandshakeError`` catches it), but the hub may
    close with :attr:`CloseCode.PROTOCOL_VIOLATION` (4400) instead of 4401: the frame's shape is
    public, so telling it apart reveals nothing about any secret.
    """


def close_code_for(error: HandshakeError | RecordError) -> CloseCode:
    """The close code for a failed handshake or record: 4400 for a malformed handshake frame or
    any record error, 4401 for every other handshake failure (design section 4, step 3)."""
    if isinstance(error, HandshakeFormatError | RecordError):
        return CloseCode.PROTOCOL_VIOLATION
    return CloseCode.AUTH_FAILED


# --------------------------------------------------------------------------------------------
# Primitive wrappers


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


# --------------------------------------------------------------------------------------------
# Handshake frames


@dataclass(frozen=True)
class ClientHello:
    """A structurally valid ClientHello (98 bytes); its MAC is *not* yet checked.

    Layout::

        0x01 | version (1) | invite_id (16) | ephemeral_public (32) | nonce (16) | mac (32)

    Attributes:
        version: the version byte (always :data:`PROTOCOL_VERSION` once parsed).
        invite_id: 16-byte public id, the hub's lookup key.
        ephemeral_public: the client's 32-byte X25519 ephemeral public key.
        nonce: 16 random bytes.
        mac: ``HMAC-SHA256(hello_key, raw[0:66])``.
        raw: all 98 bytes as received (they enter the transcript hash verbatim).
    """

    version: int
    invite_id: bytes
    ephemeral_public: bytes
    nonce: bytes
    mac: bytes
    raw: bytes


def parse_client_hello(data: bytes) -> ClientHello:
    """Split a ClientHello into its fields. Checks structure only, not the MAC.

    Raises:
        HandshakeFormatError: ``data`` is not exactly 98 bytes, or its type byte is not 0x01,
            or its version byte is not :data:`PROTOCOL_VERSION`.
    """
    data = bytes(data)
    if len(data) != CLIENT_HELLO_LEN:
        raise HandshakeFormatError(f"ClientHello must be {CLIENT_HELLO_LEN} bytes, got {len(data)}")
    if data[0] != TYPE_CLIENT_HELLO:
        raise HandshakeFormatError(f"expected ClientHello type 0x01, got 0x{data[0]:02x}")
    if data[1] != PROTOCOL_VERSION:
        raise HandshakeFormatError(f"unsupported protocol version {data[1]}")
    return ClientHello(
        version=data[1],
        invite_id=data[2:18],
        ephemeral_public=data[18:50],
        nonce=data[50:66],
        mac=data[66:98],
        raw=data,
    )


def verify_client_hello_mac(hello: ClientHello, psk: bytes) -> None:
    """Check a ClientHello's MAC in constant time (:func:`hmac.compare_digest`).

    Cheap (two HMACs and one HKDF, no DH); :meth:`ServerHandshake.respond` calls it first. The
    hub may also call it on its own, for instance to add only authenticated hellos to a
    :class:`ReplayCache`.

    Raises:
        HandshakeError: the MAC does not match (wrong secret, or the hello was altered).
        UsageError: ``psk`` is not 32 bytes.
    """
    expected = _hmac(derive_hello_key(psk), hello.raw[:_CH_MAC_OFFSET])
    if not hmac.compare_digest(expected, hello.mac):
        raise HandshakeError("ClientHello MAC does not verify")


def _take_random(rng: Callable[[int], bytes], n: int) -> bytes:
    out = rng(n)
    if not isinstance(out, bytes | bytearray) or len(out) != n:
        raise UsageError(f"rng must return exactly {n} bytes")
    return bytes(out)


def _ephemeral(ephemeral: X25519PrivateKey | None, rng: Callable[[int], bytes]) -> X25519PrivateKey:
    if ephemeral is not None:
        return ephemeral
    # X25519 clamps the scalar itself (RFC 7748 section 5), so any 32 random bytes are a key.
    return X25519PrivateKey.from_private_bytes(_take_random(rng, KEY_LEN))


def _nonce(nonce: bytes | None, rng: Callable[[int], bytes]) -> bytes:
    if nonce is not None:
        _check_len("nonce", nonce, NONCE_LEN)
        return bytes(nonce)
    return _take_random(rng, NONCE_LEN)


class ClientHandshake:
    """The client side of one handshake. Single use: one hello, one ServerHello.

    Args:
        secret: the credential secret, 16..64 bytes.
        ephemeral: the X25519 ephemeral private key; by default one is made from ``rng(32)``.
        nonce: the 16-byte ClientHello nonce; by default ``rng(16)``.
        rng: source of random bytes, ``rng(n) -> n bytes``; called for the ephemeral key first,
            then for the nonce (only for whichever was not given).
        max_record_bytes: passed to the :class:`Session` this handshake produces.

    Attributes:
        invite_id: the 16-byte public id derived from ``secret``.

    Raises:
        UsageError: bad ``secret`` or ``nonce`` length, or ``rng`` returned the wrong length.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        ephemeral: X25519PrivateKey | None = None,
        nonce: bytes | None = None,
        rng: Callable[[int], bytes] = os.urandom,
        max_record_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        _check_secret(secret)
        self.invite_id: bytes = derive_invite_id(secret)
        self._psk = derive_psk(secret)
        self._ephemeral = _ephemeral(ephemeral, rng)
        self._nonce = _nonce(nonce, rng)
        self._max_record_bytes = max_record_bytes
        body = (
            bytes([TYPE_CLIENT_HELLO, PROTOCOL_VERSION])
            + self.invite_id
            + _public_bytes(self._ephemeral)
            + self._nonce
        )
        self._hello = body + _hmac(derive_hello_key(self._psk), body)
        self._done = False

    def client_hello(self) -> bytes:
        """The 98-byte ClientHello to send first (the same bytes on every call)."""
        return self._hello

    def receive_server_hello(self, data: bytes) -> tuple[bytes, Session]:
        """Check the ServerHello and finish the handshake.

        Verifies the server finished tag in constant time, which proves the server knows the
        psk (so it is the real hub, not an impostor).

        Returns:
            ``(client_finished, session)``: the 34-byte ClientFinished to send next, and the
            client's :class:`Session` (sends with the c2s keys, opens with the s2c keys). The
            session may be used only after the ClientFinished has been sent.

        Raises:
            HandshakeFormatError: ``data`` is not 82 bytes, or has the wrong type or version.
            HandshakeError: low-order server key, or the server finished tag does not verify.
            UsageError: called a second time.
        """
        if self._done:
            raise UsageError("ClientHandshake is single use")
        self._done = True
        data = bytes(data)
        if len(data) != SERVER_HELLO_LEN:
            raise HandshakeFormatError(
                f"ServerHello must be {SERVER_HELLO_LEN} bytes, got {len(data)}"
            )
        if data[0] != TYPE_SERVER_HELLO:
            raise HandshakeFormatError(f"expected ServerHello type 0x02, got 0x{data[0]:02x}")
        if data[1] != PROTOCOL_VERSION:
            raise HandshakeFormatError(f"unsupported protocol version {data[1]}")
        server_public = data[2:34]
        server_finished = data[50:82]
        dh = _x25519(self._ephemeral, server_public)
        th = _transcript_hash(self._hello, data)
        keys = derive_keys(dh, self._psk, th)
        if not hmac.compare_digest(_hmac(keys.fin_s, th), server_finished):
            raise HandshakeError("server finished tag does not verify")
        client_finished = bytes([TYPE_CLIENT_FINISHED, PROTOCOL_VERSION]) + _hmac(keys.fin_c, th)
        session = Session(
            session_id=th,
            send_key=keys.key_c2s,
            send_iv=keys.iv_c2s,
            recv_key=keys.key_s2c,
            recv_iv=keys.iv_s2c,
            max_record_bytes=self._max_record_bytes,
        )
        return client_finished, session


class ServerHandshake:
    """The server (hub) side of one handshake. Single use: one ClientHello, one ClientFinished.

    Args:
        ephemeral: the X25519 ephemeral private key; by default one is made from ``rng(32)``.
        nonce: the 16-byte ServerHello nonce; by default ``rng(16)``.
        rng: source of random bytes; called for the ephemeral key first, then the nonce.
        max_record_bytes: passed to the :class:`Session` this handshake produces.

    Raises:
        UsageError: bad ``nonce`` length, or ``rng`` returned the wrong length.
    """

    def __init__(
        self,
        *,
        ephemeral: X25519PrivateKey | None = None,
        nonce: bytes | None = None,
        rng: Callable[[int], bytes] = os.urandom,
        max_record_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self._ephemeral = _ephemeral(ephemeral, rng)
        self._nonce = _nonce(nonce, rng)
        self._max_record_bytes = max_record_bytes
        self._state = "new"  # -> "responded" -> "done"; any failure -> "failed"
        self._th = b""
        self._keys: KeySchedule | None = None

    def respond(self, hello: ClientHello, psk: bytes) -> bytes:
        """Authenticate a parsed ClientHello and answer it.

        Order matters: the MAC is checked first, in constant time, so a stranger costs the hub
        no Diffie-Hellman work; only then is ``X25519(e_s, e_c)`` computed.

        Args:
            hello: from :func:`parse_client_hello`.
            psk: the psk stored for ``hello.invite_id`` (32 bytes).

        Returns:
            The 82-byte ServerHello.

        Raises:
            HandshakeError: bad MAC, or the client's ephemeral key is a low-order point.
            UsageError: called twice, or ``psk`` is not 32 bytes.
        """
        if self._state != "new":
            raise UsageError("ServerHandshake.respond may be called only once")
        self._state = "failed"
        verify_client_hello_mac(hello, psk)
        dh = _x25519(self._ephemeral, hello.ephemeral_public)
        head = bytes([TYPE_SERVER_HELLO, PROTOCOL_VERSION]) + _public_bytes(self._ephemeral)
        head += self._nonce
        th = _transcript_hash(hello.raw, head)
        keys = derive_keys(dh, psk, th)
        self._th = th
        self._keys = keys
        self._state = "responded"
        return head + _hmac(keys.fin_s, th)

    def receive_client_finished(self, data: bytes) -> Session:
        """Check the ClientFinished and return the server's :class:`Session`.

        The session sends with the s2c keys and opens with the c2s keys.

        Raises:
            HandshakeFormatError: ``data`` is not 34 bytes, or has the wrong type or version.
            HandshakeError: the client finished tag does not verify (constant-time compare).
            UsageError: called before a successful :meth:`respond`, or twice.
        """
        if self._state != "responded" or self._keys is None:
            raise UsageError("receive_client_finished needs exactly one successful respond")
        self._state = "failed"
        data = bytes(data)
        if len(data) != CLIENT_FINISHED_LEN:
            raise HandshakeFormatError(
                f"ClientFinished must be {CLIENT_FINISHED_LEN} bytes, got {len(data)}"
            )
        if data[0] != TYPE_CLIENT_FINISHED:
            raise HandshakeFormatError(f"expected ClientFinished type 0x03, got 0x{data[0]:02x}")
        if data[1] != PROTOCOL_VERSION:
            raise HandshakeFormatError(f"unsupported protocol version {data[1]}")
        keys = self._keys
        if not hmac.compare_digest(_hmac(keys.fin_c, self._th), data[2:]):
            raise HandshakeError("client finished tag does not verify")
        self._state = "done"
        return Session(
            session_id=self._th,
            send_key=keys.key_s2c,
            send_iv=keys.iv_s2c,
            recv_key=keys.key_c2s,
            recv_iv=keys.iv_c2s,
            max_record_bytes=self._max_record_bytes,
        )


# --------------------------------------------------------------------------------------------
# Record layer


def _record_header(seq: int) -> bytes:
    return RECORD_MAGIC + bytes([PROTOCOL_VERSION]) + seq.to_bytes(8, "big")


def _record_nonce(iv: bytes, seq: int) -> bytes:
    """``iv XOR (4 zero bytes || seq as 8 bytes big-endian)``: unique per (key, seq)."""
    return (int.from_bytes(iv, "big") ^ seq).to_bytes(IV_LEN, "big")


class Session:
    """One direction pair of the record layer, after a completed handshake.

    Every record is one binary WebSocket frame::

        header = b"LW" | version (1) | seq (8, big-endian)                  # 11 bytes
        record = header || AES-256-GCM(key, nonce, plaintext, aad = header || session_id)
        nonce  = iv XOR (0x00000000 || seq as 8 bytes big-endian)

    ``seq`` starts at 0 in each direction and goes up by one per record; records must arrive
    exactly in order. Any failure (RecordError) kills the session: every later :meth:`seal` or
    :meth:`open` raises :class:`RecordError` too. There is no partial recovery (design
    section 4); the connection should be closed with :attr:`CloseCode.PROTOCOL_VIOLATION`.

    Args:
        session_id: the 32-byte transcript hash; bound into every record's AAD.
        send_key, send_iv: AES-256 key (32) and IV (12) for records this side seals.
        recv_key, recv_iv: key and IV for records this side opens.
        max_record_bytes: largest whole record (header + ciphertext + tag) sealed or opened;
            default :data:`letswork.shared.limits.MAX_FRAME_BYTES`.
        send_seq, recv_seq: the first sequence numbers; 0 for a real session (other values
            exist for tests).

    Raises:
        UsageError: a key, IV or session id of the wrong length, ``max_record_bytes`` too small
            to hold an empty record, or a start sequence number out of range.
    """

    def __init__(
        self,
        *,
        session_id: bytes,
        send_key: bytes,
        send_iv: bytes,
        recv_key: bytes,
        recv_iv: bytes,
        max_record_bytes: int = MAX_FRAME_BYTES,
        send_seq: int = 0,
        recv_seq: int = 0,
    ) -> None:
        _check_len("session_id", session_id, SESSION_ID_LEN)
        _check_len("send_key", send_key, KEY_LEN)
        _check_len("recv_key", recv_key, KEY_LEN)
        _check_len("send_iv", send_iv, IV_LEN)
        _check_len("recv_iv", recv_iv, IV_LEN)
        if max_record_bytes < RECORD_HEADER_LEN + TAG_LEN:
            raise UsageError(f"max_record_bytes must be at least {RECORD_HEADER_LEN + TAG_LEN}")
        for seq in (send_seq, recv_seq):
            if not 0 <= seq <= SEQ_LIMIT:
                raise UsageError("sequence numbers must be in 0..2**64-1")
        self.session_id: bytes = bytes(session_id)
        self.max_record_bytes: int = max_record_bytes
        self._send = AESGCM(bytes(send_key))
        self._recv = AESGCM(bytes(recv_key))
        self._send_iv = bytes(send_iv)
        self._recv_iv = bytes(recv_iv)
        self._send_seq = send_seq
        self._recv_seq = recv_seq
        self._dead = False

    def __repr__(self) -> str:
        return (
            f"<Session id={self.session_id[:8].hex()}… send_seq={self._send_seq} "
            f"recv_seq={self._recv_seq}{' dead' if self._dead else ''}>"
        )

    @property
    def dead(self) -> bool:
        """True once any :class:`RecordError` was raised; the session can then never recover."""
        return self._dead

    @property
    def send_seq(self) -> int:
        """The sequence number the next :meth:`seal` will use."""
        return self._send_seq

    @property
    def recv_seq(self) -> int:
        """The sequence number the next :meth:`open` expects."""
        return self._recv_seq

    @property
    def max_plaintext_bytes(self) -> int:
        """Largest plaintext :meth:`seal` accepts: ``max_record_bytes - 11 - 16``."""
        return self.max_record_bytes - RECORD_HEADER_LEN - TAG_LEN

    def _fail(self, message: str) -> RecordError:
        self._dead = True
        return RecordError(message)

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` as the next outgoing record.

        Returns:
            ``11 + len(plaintext) + 16`` bytes.

        Raises:
            RecordError: the session is dead, the record would exceed ``max_record_bytes``, or
                the sequence space is used up (seq 2**64-1 is never used). The session is dead
                afterwards.
        """
        if self._dead:
            raise RecordError("session is closed after an earlier record error")
        if len(plaintext) > self.max_plaintext_bytes:
            raise self._fail(
                f"record of {RECORD_HEADER_LEN + len(plaintext) + TAG_LEN} bytes exceeds "
                f"the limit of {self.max_record_bytes}"
            )
        seq = self._send_seq
        if seq >= SEQ_LIMIT:
            raise self._fail("send sequence numbers exhausted")
        header = _record_header(seq)
        ciphertext = self._send.encrypt(
            _record_nonce(self._send_iv, seq), bytes(plaintext), header + self.session_id
        )
        self._send_seq = seq + 1
        return header + ciphertext

    def open(self, record: bytes) -> bytes:
        """Check and decrypt the next incoming record.

        Returns:
            The plaintext.

        Raises:
            RecordError: the session is dead; the record is shorter than 27 bytes or longer than
                ``max_record_bytes``; the magic or version is wrong; its seq is not exactly the
                next expected one (gap, replay, reorder); the sequence space is used up; or the
                GCM tag does not verify (tampering, wrong direction, wrong session). The session
                is dead afterwards.
        """
        if self._dead:
            raise RecordError("session is closed after an earlier record error")
        record = bytes(record)
        if len(record) > self.max_record_bytes:
            raise self._fail(
                f"record of {len(record)} bytes exceeds the limit of {self.max_record_bytes}"
            )
        if len(record) < RECORD_HEADER_LEN + TAG_LEN:
            raise self._fail(f"record of {len(record)} bytes is too short")
        header = record[:RECORD_HEADER_LEN]
        if header[:2] != RECORD_MAGIC:
            raise self._fail("record has the wrong magic")
        if header[2] != PROTOCOL_VERSION:
            raise self._fail(f"record has unsupported version {header[2]}")
        expected = self._recv_seq
        if expected >= SEQ_LIMIT:
            raise self._fail("receive sequence numbers exhausted")
        seq = int.from_bytes(header[3:], "big")
        if seq != expected:
            raise self._fail(f"record out of order: expected seq {expected}, got {seq}")
        try:
            plaintext = self._recv.decrypt(
                _record_nonce(self._recv_iv, seq),
                record[RECORD_HEADER_LEN:],
                header + self.session_id,
            )
        except InvalidTag:
            raise self._fail("record authentication tag does not verify") from None
        self._recv_seq = expected + 1
        return plaintext


# --------------------------------------------------------------------------------------------
# Replay cache


class ReplayCache:
    """Remembers recent ClientHellos by ``(invite_id, nonce)`` to reject replays.

    A replayed ClientHello cannot produce a session (the replayer lacks the client's ephemeral
    private key, so it cannot send a valid ClientFinished), but rejecting it early saves the
    hub's DH work and keeps a recorded hello from being used to probe the hub.

    Pure: the caller passes the time (any monotonic clock, in seconds). Memory is bounded by
    ``max_entries``; when full, the oldest entry is forgotten first (so under a flood of more
    than ``max_entries`` hellos per ``ttl_seconds`` an old hello can be accepted again; it still
    cannot finish a handshake). The hub should add only hellos whose MAC verified
    (:func:`verify_client_hello_mac`), so strangers cannot flush the cache.

    Raises:
        UsageError: ``ttl_seconds`` or ``max_entries`` not positive.
    """

    def __init__(self, *, ttl_seconds: float = 600.0, max_entries: int = 100_000) -> None:
        if ttl_seconds <= 0 or max_entries <= 0:
            raise UsageError("ReplayCache ttl_seconds and max_entries must be positive")
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_add(self, hello: ClientHello, now: float) -> bool:
        """Record ``hello`` as seen at ``now``.

        Returns:
            False if the same ``(invite_id, nonce)`` was added less than ``ttl_seconds`` before
            ``now`` (a replay: the entry keeps its first time), True otherwise.
        """
        self._expire(now)
        key = hello.invite_id + hello.nonce
        seen_at = self._seen.get(key)
        if seen_at is not None and now - seen_at < self.ttl_seconds:
            return False
        self._seen.pop(key, None)
        self._seen[key] = now
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return True

    def _expire(self, now: float) -> None:
        # Entries are kept in insertion order, which is time order for a monotonic clock.
        while self._seen:
            key, seen_at = next(iter(self._seen.items()))
            if now - seen_at < self.ttl_seconds:
                break
            del self._seen[key]
