"""The record layer: AES-256-GCM records with an 11-byte header and a per-direction
sequence (``docs/protocol.md``, "Records"). Pure: bytes in, bytes out."""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from letswork.shared.crypto.constants import (
    IV_LEN,
    KEY_LEN,
    PROTOCOL_VERSION,
    RECORD_HEADER_LEN,
    RECORD_MAGIC,
    SEQ_LIMIT,
    SESSION_ID_LEN,
    TAG_LEN,
)
from letswork.shared.crypto.keys import _check_len
from letswork.shared.errors import RecordError, UsageError
from letswork.shared.limits import MAX_FRAME_BYTES


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
