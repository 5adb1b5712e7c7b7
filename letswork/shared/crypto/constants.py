"""The constants of protocol version 1: frame types and lengths, key sizes, HKDF labels
(``docs/protocol.md``)."""

from __future__ import annotations

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
