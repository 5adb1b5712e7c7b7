"""The handshake frames and both sides of the handshake, and the replay cache of
ClientHellos (design section 4, ``docs/protocol.md``). Pure: bytes in, bytes out; randomness
and ephemeral keys are injectable."""

from __future__ import annotations

import hmac
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from letswork.shared.crypto.codes import HandshakeFormatError
from letswork.shared.crypto.constants import (
    _CH_MAC_OFFSET,
    CLIENT_FINISHED_LEN,
    CLIENT_HELLO_LEN,
    KEY_LEN,
    NONCE_LEN,
    PROTOCOL_VERSION,
    SERVER_HELLO_LEN,
    TYPE_CLIENT_FINISHED,
    TYPE_CLIENT_HELLO,
    TYPE_SERVER_HELLO,
)
from letswork.shared.crypto.keys import (
    KeySchedule,
    _check_len,
    _check_secret,
    _hmac,
    _public_bytes,
    _transcript_hash,
    _x25519,
    derive_hello_key,
    derive_invite_id,
    derive_keys,
    derive_psk,
)
from letswork.shared.crypto.record import Session
from letswork.shared.errors import HandshakeError, UsageError
from letswork.shared.limits import MAX_FRAME_BYTES


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
