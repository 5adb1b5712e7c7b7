"""The handshake (letswork.shared.crypto.handshake): successful and rejected handshakes,
single-use objects, and the replay cache."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

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
    ReplayCache,
    ServerHandshake,
    close_code_for,
    derive_invite_id,
    derive_keys,
    derive_psk,
    parse_client_hello,
    verify_client_hello_mac,
)
from letswork.shared.errors import HandshakeError, RecordError, UsageError
from tests.shared.crypto.helpers import (
    CLIENT_PRIVATE,
    LOW_ORDER_POINTS,
    NONCE_C,
    NONCE_S,
    SECRET,
    flip,
    handshake,
    hello_with,
    public_bytes,
    seeded_rng,
    vector_handshake,
)

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
