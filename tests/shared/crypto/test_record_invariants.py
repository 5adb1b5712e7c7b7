"""Record-layer refusals that a bad tag would hide (issue 13, "Tests that must exist").

docs/protocol.md, "Record layer": the receiver accepts a record only if bytes 0-1 are ``"LW"``,
byte 2 is ``0x01`` and ``seq`` is the next expected one; sequence number ``2^64 - 1`` is never
used. Flipping a header byte of a real record also breaks its GCM tag (the header is in the
AAD), so a test that only flips bytes passes even without these checks. Here each record is
sealed by hand, following the spec, with a tag that verifies: only the check itself can refuse
it.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from letswork.shared.crypto import SEQ_LIMIT, Session, derive_keys
from letswork.shared.errors import RecordError

SESSION_ID = bytes(range(32))
KEYS = derive_keys(bytes(range(32, 64)), bytes(32), bytes(32))


def sealed_by_hand(
    plaintext: bytes, seq: int, *, magic: bytes = b"LW", version: int = 0x01
) -> bytes:
    """A client-to-hub record built from docs/protocol.md, with a tag that verifies."""
    header = magic + bytes([version]) + seq.to_bytes(8, "big")
    nonce = (int.from_bytes(KEYS.iv_c2s, "big") ^ seq).to_bytes(12, "big")
    return header + AESGCM(KEYS.key_c2s).encrypt(nonce, plaintext, header + SESSION_ID)


def receiver(recv_seq: int = 0) -> Session:
    """The hub's side of the session, expecting ``recv_seq`` next."""
    return Session(
        session_id=SESSION_ID,
        send_key=KEYS.key_s2c,
        send_iv=KEYS.iv_s2c,
        recv_key=KEYS.key_c2s,
        recv_iv=KEYS.iv_c2s,
        recv_seq=recv_seq,
    )


def test_a_record_sealed_by_hand_from_the_spec_is_accepted() -> None:
    """The control: without a defect in it, the hand-made record opens."""
    assert receiver(7).open(sealed_by_hand(b"hello", 7)) == b"hello"
    assert receiver(SEQ_LIMIT - 1).open(sealed_by_hand(b"last", SEQ_LIMIT - 1)) == b"last"


def test_a_record_at_sequence_2_pow_64_minus_1_is_refused_though_its_tag_verifies() -> None:
    session = receiver(SEQ_LIMIT)
    with pytest.raises(RecordError, match="exhausted"):
        session.open(sealed_by_hand(b"one too many", SEQ_LIMIT))
    assert session.dead


def test_the_receive_sequence_stops_before_2_pow_64_minus_1() -> None:
    session = receiver(SEQ_LIMIT - 1)
    assert session.open(sealed_by_hand(b"last", SEQ_LIMIT - 1)) == b"last"
    assert session.recv_seq == SEQ_LIMIT
    with pytest.raises(RecordError, match="exhausted"):
        session.open(sealed_by_hand(b"never", SEQ_LIMIT))


@pytest.mark.parametrize("version", [0x00, 0x02, 0xFF])
def test_a_record_with_a_wrong_version_byte_is_refused_though_its_tag_verifies(
    version: int,
) -> None:
    session = receiver()
    with pytest.raises(RecordError, match="version"):
        session.open(sealed_by_hand(b"from the future", 0, version=version))
    assert session.dead


@pytest.mark.parametrize("magic", [b"LX", b"lw", b"\x00\x00"])
def test_a_record_with_wrong_magic_is_refused_though_its_tag_verifies(magic: bytes) -> None:
    session = receiver()
    with pytest.raises(RecordError, match="magic"):
        session.open(sealed_by_hand(b"not ours", 0, magic=magic))
    assert session.dead


def test_a_record_ahead_of_the_expected_sequence_is_refused_though_its_tag_verifies() -> None:
    session = receiver(3)
    with pytest.raises(RecordError, match="out of order"):
        session.open(sealed_by_hand(b"skipped one", 4))
    assert session.dead
