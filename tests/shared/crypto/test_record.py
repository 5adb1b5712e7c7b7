"""The record layer (letswork.shared.crypto.record): framing, tampering, replay, order,
sizes and the sequence limit."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from letswork.shared.crypto import (
    RECORD_HEADER_LEN,
    TAG_LEN,
    Session,
    derive_keys,
)
from letswork.shared.errors import RecordError, UsageError
from tests.shared.crypto.helpers import (
    PING,
    flip,
    handshake,
)

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
