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

from letswork.shared.crypto.codes import (
    CloseCode,
    HandshakeFormatError,
    close_code_for,
)
from letswork.shared.crypto.constants import (
    CLIENT_FINISHED_LEN,
    CLIENT_HELLO_LEN,
    INVITE_ID_LEN,
    IV_LEN,
    KEY_LEN,
    MAX_SECRET_LEN,
    MIN_SECRET_LEN,
    NONCE_LEN,
    PROTOCOL_VERSION,
    PSK_LEN,
    RECORD_HEADER_LEN,
    RECORD_MAGIC,
    SEQ_LIMIT,
    SERVER_HELLO_LEN,
    SESSION_ID_LEN,
    TAG_LEN,
    TYPE_CLIENT_FINISHED,
    TYPE_CLIENT_HELLO,
    TYPE_SERVER_HELLO,
)
from letswork.shared.crypto.handshake import (
    ClientHandshake,
    ClientHello,
    ReplayCache,
    ServerHandshake,
    parse_client_hello,
    verify_client_hello_mac,
)
from letswork.shared.crypto.keys import (
    KeySchedule,
    derive_hello_key,
    derive_invite_id,
    derive_keys,
    derive_psk,
)
from letswork.shared.crypto.record import (
    Session,
)

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
