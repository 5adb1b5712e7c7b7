"""Invite codes: round trips, typo detection, shell safety, messages, URL normal form."""

from __future__ import annotations

import contextlib
import hashlib
import shlex
import string
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from letswork.shared.errors import InviteCodeError
from letswork.shared.invite import (
    ALPHABET,
    CHECK_MODULUS,
    CODE_SYMBOLS,
    MAX_ADDRESS_CHARS,
    SECRET_BYTES,
    Invite,
    generate,
    normalize_url,
    parse,
)

# --- helpers and strategies ---------------------------------------------------------------

#: Every character that can appear in a code, in either case.
CODE_CHARS = string.ascii_letters + string.digits + ".:/_-@"
#: Characters PowerShell treats specially inside or at the start of a bare argument ('@' is
#: special only at the start of a token, which a code never is).
POWERSHELL_SPECIALS = set("`$&|;,'\"(){}[]<>#%*?~!=+^ \t\r\n") | {"\u2018", "\u2019", "\u201c"}


def fixed_rng(secret: bytes) -> Callable[[int], bytes]:
    def rng(n: int) -> bytes:
        assert n == SECRET_BYTES
        return secret

    return rng


def make(url: str, secret: bytes) -> Invite:
    return generate(url, rng=fixed_rng(secret))


def symbol_of(char: str) -> str:
    """The symbol a character before '@' stands for (case and Crockford aliases folded)."""
    return char.upper().translate(str.maketrans("ILO", "110"))


def same_meaning(code: str, index: int, char: str) -> bool:
    """Whether writing ``char`` at ``index`` of ``code`` denotes the same code."""
    old = code[index]
    if index < code.index("@"):
        return (
            old in ALPHABET
            and char in string.ascii_letters + string.digits
            and (symbol_of(char) == old)
        )
    return char.lower() == old.lower()


def rejected(code: str) -> bool:
    try:
        parse(code)
    except InviteCodeError:
        return True
    return False


labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
top_labels = st.from_regex(r"[a-z]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
hostnames = st.builds(
    lambda parts, top: ".".join([*parts, top]), st.lists(labels, max_size=3), top_labels
)
ipv4s = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ports = st.integers(1, 65535)
paths = st.from_regex(r"(/[a-z0-9._:-]{1,8}){1,3}/?", fullmatch=True)
secrets = st.binary(min_size=SECRET_BYTES, max_size=SECRET_BYTES)
#: Pairs (url given to generate, the url the invite must carry).
addresses = st.one_of(
    hostnames.map(lambda h: (h, f"wss://{h}/")),
    st.tuples(hostnames, ports).map(lambda t: (f"{t[0]}:{t[1]}", f"wss://{t[0]}:{t[1]}/")),
    ports.map(lambda p: (f"ws://127.0.0.1:{p}", f"ws://127.0.0.1:{p}/")),
    st.tuples(ipv4s, ports, paths).map(
        lambda t: (f"ws://{t[0]}:{t[1]}{t[2]}", f"ws://{t[0]}:{t[1]}{t[2]}")
    ),
    st.tuples(hostnames, ports, paths).map(
        lambda t: (f"wss://{t[0]}:{t[1]}{t[2]}", f"wss://{t[0]}:{t[1]}{t[2]}")
    ),
    hostnames.map(lambda h: (f"wss://{h}", f"wss://{h}/")),
)

FIXED_ADDRESSES = [
    "four-word-name.trycloudflare.com",
    "ws://127.0.0.1:8765",
    "hub.example.org:8443/letswork/v1",
    "10.0.0.7:9000",
    "ws://lan-box:80/a_b/",
]
FIXED_SECRETS = [hashlib.sha256(bytes([i])).digest()[:SECRET_BYTES] for i in range(3)]
FIXED_CODES = [make(a, s).format() for a in FIXED_ADDRESSES for s in FIXED_SECRETS]


# --- round trips ----------------------------------------------------------------------------


@given(secrets, addresses)
def test_generate_format_parse_round_trips(secret: bytes, address: tuple[str, str]) -> None:
    given_url, normal_url = address
    invite = make(given_url, secret)
    assert invite.secret == secret
    assert invite.url == normal_url
    assert parse(invite.format()) == invite


@given(secrets, addresses)
def test_lowercase_uppercase_and_dashless_codes_parse_to_the_same_invite(
    secret: bytes, address: tuple[str, str]
) -> None:
    invite = make(address[0], secret)
    code = invite.format()
    symbols, _, written = code.partition("@")
    for variant in (
        code.lower(),
        code.upper(),
        symbols.replace("-", "") + "@" + written,
        f"  \t{code}\n",
    ):
        assert parse(variant) == invite


def test_crockford_aliases_read_as_one_and_zero() -> None:
    invite = make("x.example.com", bytes(SECRET_BYTES))
    code = invite.format()
    assert code.startswith("0000-0000")
    assert parse("O0o0" + code[4:]) == invite
    one = make("x.example.com", bytes([0x08, 0x42, 0x10] + [0] * 13))  # symbols 1111 1...
    code = one.format()
    assert code.startswith("1111-")
    assert parse("IiLl" + code[4:]) == one


def test_code_has_seven_groups_of_four_then_the_address() -> None:
    code = make("four-word-name.trycloudflare.com", FIXED_SECRETS[0]).format()
    symbols, at, address = code.partition("@")
    assert at == "@"
    assert address == "four-word-name.trycloudflare.com"
    groups = symbols.split("-")
    assert [len(g) for g in groups] == [4] * 7
    assert set(symbols.replace("-", "")) <= set(ALPHABET)


def test_published_vectors_match() -> None:
    # The vectors in docs/parts/invite.md.
    assert make("four-word-name.trycloudflare.com", bytes(range(16))).format() == (
        "000G-40R4-0M30-E209-185G-R38E-1WD3@four-word-name.trycloudflare.com"
    )
    assert make("ws://127.0.0.1:8765", b"\xff" * 16).format() == (
        "ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZWC8@ws://127.0.0.1:8765"
    )
    assert make(
        "wss://hub.example.org:8443/letswork", bytes.fromhex("0123456789abcdeffedcba9876543210")
    ).format() == ("04HM-ASW9-NF6Y-ZZPW-QAC7-CN1J-205T@hub.example.org:8443/letswork")


@pytest.mark.parametrize(
    ("given_url", "url", "address"),
    [
        ("ws://127.0.0.1:8765", "ws://127.0.0.1:8765/", "ws://127.0.0.1:8765"),
        ("ws://LAN-Box/path/", "ws://lan-box/path/", "ws://lan-box/path/"),
        ("ws://lan-box:80", "ws://lan-box:80/", "ws://lan-box:80"),
        ("wss://x.example.com", "wss://x.example.com/", "x.example.com"),
        ("wss://x.example.com/", "wss://x.example.com/", "x.example.com"),
        ("wss://x.example.com:8443/a/b", "wss://x.example.com:8443/a/b", "x.example.com:8443/a/b"),
        ("wss://x.example.com:443", "wss://x.example.com:443/", "x.example.com:443"),
        ("x.example.com:8443", "wss://x.example.com:8443/", "x.example.com:8443"),
        ("192.168.1.20:9000/hub", "wss://192.168.1.20:9000/hub", "192.168.1.20:9000/hub"),
    ],
)
def test_ws_and_wss_urls_round_trip_in_normal_form(given_url: str, url: str, address: str) -> None:
    invite = make(given_url, FIXED_SECRETS[1])
    assert invite.url == url
    assert invite.address == address
    assert invite.format().endswith("@" + address)
    assert parse(invite.format()).url == url


# --- typo detection -------------------------------------------------------------------------


@pytest.mark.parametrize("code", FIXED_CODES)
def test_every_single_substitution_is_rejected(code: str) -> None:
    for index in range(len(code)):
        for char in CODE_CHARS + " ":
            if char == code[index] or same_meaning(code, index, char):
                continue
            mutated = code[:index] + char + code[index + 1 :]
            assert rejected(mutated), (code, index, char)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secrets, addresses)
def test_every_single_substitution_of_a_random_code_is_rejected(
    secret: bytes, address: tuple[str, str]
) -> None:
    code = make(address[0], secret).format()
    for index in range(len(code)):
        for char in CODE_CHARS:
            if char == code[index] or same_meaning(code, index, char):
                continue
            assert rejected(code[:index] + char + code[index + 1 :]), (code, index, char)


def _transpositions(code: str) -> list[tuple[int, str]]:
    result = []
    for index in range(len(code) - 1):
        swapped = code[:index] + code[index + 1] + code[index] + code[index + 2 :]
        if swapped != code:
            result.append((index, swapped))
    return result


def _moves_a_dash(code: str, index: int) -> bool:
    return "-" in code[index : index + 2] and index + 1 < code.index("@")


@pytest.mark.parametrize("code", FIXED_CODES)
def test_every_adjacent_transposition_that_changes_the_symbols_is_rejected(code: str) -> None:
    for index, swapped in _transpositions(code):
        if not _moves_a_dash(code, index):
            assert rejected(swapped), (code, index)


@settings(deadline=None)
@given(secrets, addresses)
def test_every_adjacent_transposition_of_a_random_code_is_rejected(
    secret: bytes, address: tuple[str, str]
) -> None:
    code = make(address[0], secret).format()
    for index, swapped in _transpositions(code):
        if not _moves_a_dash(code, index):
            assert rejected(swapped), (code, index)


@pytest.mark.parametrize("code", FIXED_CODES)
def test_moving_a_dash_parses_to_the_same_invite(code: str) -> None:
    invite = parse(code)
    for index, swapped in _transpositions(code):
        if _moves_a_dash(code, index):
            assert parse(swapped) == invite


def test_swapping_last_secret_symbol_with_first_check_symbol_can_never_cancel() -> None:
    # Both symbols must have zero padding bits (value % 4 == 0) for the swap to parse at all;
    # the check then moves by 32*(vb - va) + 26*(ord(b) - ord(a)) mod 1021 (module docstring).
    for va in range(0, 32, 4):
        for vb in range(0, 32, 4):
            if va != vb:
                delta = 32 * (vb - va) + 26 * (ord(ALPHABET[vb]) - ord(ALPHABET[va]))
                assert delta % CHECK_MODULUS != 0


@pytest.mark.parametrize("code", FIXED_CODES)
def test_every_deletion_of_a_symbol_is_rejected(code: str) -> None:
    at = code.index("@")
    for index in range(at):
        if code[index] != "-":
            assert rejected(code[:index] + code[index + 1 :]), (code, index)


@pytest.mark.parametrize("code", FIXED_CODES)
def test_every_insertion_of_a_symbol_before_the_at_sign_is_rejected(code: str) -> None:
    at = code.index("@")
    for index in range(at + 1):
        for char in ALPHABET + ALPHABET.lower() + "iloIL@":
            assert rejected(code[:index] + char + code[index:]), (code, index, char)


@pytest.mark.parametrize("code", FIXED_CODES)
def test_losing_the_last_character_of_the_address_is_rejected(code: str) -> None:
    assert rejected(code[:-1])
    assert rejected(code[:-1] + " ")


# --- shell safety ---------------------------------------------------------------------------


@settings(max_examples=300)
@given(secrets, addresses)
def test_codes_need_no_quoting_in_a_posix_shell(secret: bytes, address: tuple[str, str]) -> None:
    code = make(address[0], secret).format()
    assert shlex.quote(code) == code
    assert shlex.split(f"letswork join {code}") == ["letswork", "join", code]


@settings(max_examples=300)
@given(secrets, addresses)
def test_codes_contain_no_powershell_or_glob_special_characters(
    secret: bytes, address: tuple[str, str]
) -> None:
    code = make(address[0], secret).format()
    assert not set(code) & POWERSHELL_SPECIALS
    assert code[0] in ALPHABET  # never starts with '@' or '-' (a PowerShell parameter)
    assert set(code) <= set(CODE_CHARS)


# --- messages -------------------------------------------------------------------------------


def _symbols_and_address(address: str = "x.example.com") -> tuple[str, str]:
    code = make(address, FIXED_SECRETS[2]).format()
    symbols, _, written = code.partition("@")
    return symbols, written


def test_empty_code_says_it_is_empty() -> None:
    for code in ("", "   \n"):
        with pytest.raises(InviteCodeError, match=r"empty"):
            parse(code)


def test_wrong_check_says_the_code_was_mistyped() -> None:
    symbols, address = _symbols_and_address()
    last = symbols[-1]
    other = "0" if last != "0" else "1"
    with pytest.raises(InviteCodeError, match=r"check characters do not match.*mistyped"):
        parse(symbols[:-1] + other + "@" + address)


def test_wrong_address_under_a_valid_looking_code_fails_the_check() -> None:
    symbols, _ = _symbols_and_address("x.example.com")
    with pytest.raises(InviteCodeError, match=r"mistyped"):
        parse(symbols + "@y.example.com")


def test_nonzero_padding_bits_say_the_code_was_mistyped() -> None:
    symbols, address = _symbols_and_address()
    # The 26th symbol is at index 31 (six dashes before it); values 1 and 2 set padding bits.
    assert symbols[31] in ALPHABET
    bad = symbols[:31] + ("1" if symbols[31] != "1" else "2") + symbols[32:]
    with pytest.raises(InviteCodeError, match=r"position 32 .*mistyped"):
        parse(bad + "@" + address)


def test_bad_character_message_names_it_and_its_position() -> None:
    symbols, address = _symbols_and_address()
    with pytest.raises(
        InviteCodeError, match=r"^'U' at position 7 is not a character used in invite codes$"
    ):
        parse(symbols[:6] + "U" + symbols[7:] + "@" + address)


def test_space_inside_the_code_suggests_pasting_it_alone() -> None:
    symbols, address = _symbols_and_address()
    with pytest.raises(InviteCodeError, match=r"' ' at position 5 .*without spaces"):
        parse(symbols[:4] + " " + symbols[4:] + "@" + address)


def test_wrong_length_message_gives_the_count_and_the_need() -> None:
    symbols, address = _symbols_and_address()
    short = symbols.replace("-", "")[:25]
    with pytest.raises(
        InviteCodeError,
        match=r"^the code has 25 characters before '@'; it needs 28 "
        r"\(did you miss or repeat one\?\)$",
    ):
        parse(short + "@" + address)
    assert CODE_SYMBOLS == 28


def test_missing_at_sign_says_the_address_is_missing() -> None:
    symbols, _ = _symbols_and_address()
    with pytest.raises(
        InviteCodeError, match=r"^the code has no '@' followed by the hub's address$"
    ):
        parse(symbols)
    with pytest.raises(InviteCodeError, match=r"nothing after '@'"):
        parse(symbols + "@")


def test_address_with_a_space_names_the_character() -> None:
    symbols, _ = _symbols_and_address()
    with pytest.raises(
        InviteCodeError, match=r"^the address 'x y' contains ' ', which is not allowed$"
    ):
        parse(symbols + "@x y")


def test_port_out_of_range_is_named() -> None:
    symbols, _ = _symbols_and_address()
    with pytest.raises(InviteCodeError, match=r"^the port 99999 is out of range"):
        parse(symbols + "@x.example.com:99999")
    with pytest.raises(InviteCodeError, match=r"the port 0 is out of range"):
        normalize_url("x.example.com:0")


def test_huge_port_is_out_of_range_not_a_crash() -> None:
    with pytest.raises(InviteCodeError, match=r"out of range"):
        normalize_url("x.example.com:" + "9" * 10_000)


def test_ipv6_literal_is_refused_with_a_hint_to_use_a_host_name() -> None:
    symbols, _ = _symbols_and_address()
    for address in ("[::1]:8765", "ws://[fe80::1]/", "fe80::1"):
        with pytest.raises(InviteCodeError, match=r"IPv6.*host name"):
            parse(symbols + "@" + address)
        with pytest.raises(InviteCodeError, match=r"IPv6.*host name"):
            normalize_url(address)


def test_non_canonical_address_in_a_code_is_refused() -> None:
    symbols, _ = _symbols_and_address("x.example.com")
    for written in ("wss://x.example.com", "x.example.com/", "wss://x.example.com/"):
        with pytest.raises(InviteCodeError, match=r"not written the way invite codes write it"):
            parse(symbols + "@" + written)


def test_http_schemes_in_a_code_are_refused() -> None:
    symbols, _ = _symbols_and_address("x.example.com")
    with pytest.raises(InviteCodeError, match=r"starts with 'https://'; use ws://, wss://"):
        parse(symbols + "@https://x.example.com")


# --- arbitrary input ------------------------------------------------------------------------


@settings(max_examples=500)
@given(st.text())
def test_parse_of_arbitrary_text_raises_only_invite_code_error(text: str) -> None:
    try:
        invite = parse(text)
    except InviteCodeError:
        return
    assert parse(invite.format()) == invite


@settings(max_examples=500)
@given(st.text(alphabet=CODE_CHARS + " \t[]?#%\u0130\u0131\u212a", max_size=120))
def test_parse_of_code_like_text_raises_only_invite_code_error(text: str) -> None:
    with contextlib.suppress(InviteCodeError):
        parse(text)


@settings(max_examples=300)
@given(st.sampled_from(FIXED_CODES), st.text(max_size=40), st.integers(0, 80))
def test_parse_of_a_damaged_code_raises_only_invite_code_error(
    code: str, junk: str, where: int
) -> None:
    damaged = code[:where] + junk + code[where + len(junk) :]
    with contextlib.suppress(InviteCodeError):
        parse(damaged)


def test_non_ascii_look_alikes_are_not_read_as_symbols() -> None:
    symbols, address = _symbols_and_address()
    # Dotless i upper-cases to 'I' and the Kelvin sign lower-cases to 'k'; neither is ASCII.
    for char in ("\u0131", "\u212a"):
        with pytest.raises(InviteCodeError, match=r"not a character used"):
            parse(char + symbols[1:] + "@" + address)
        with pytest.raises(InviteCodeError, match=r"not allowed"):
            normalize_url(f"x{char}.example.com")


# --- normalize_url --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("X.Example.COM", "wss://x.example.com/"),
        ("  wss://x.example.com  ", "wss://x.example.com/"),
        ("https://Four-Word-Name.trycloudflare.com", "wss://four-word-name.trycloudflare.com/"),
        ("http://127.0.0.1:8765/", "ws://127.0.0.1:8765/"),
        ("ws://localhost:8765/Hub", "ws://localhost:8765/hub"),
        ("x.example.com/a/", "wss://x.example.com/a/"),
    ],
)
def test_normalize_url_gives_the_lowercase_normal_form(url: str, normal: str) -> None:
    assert normalize_url(url) == normal


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("ftp://x.example.com", "use ws://, wss://"),
        ("wss://user@x.example.com", "'@'.*no user name"),
        ("wss://x.example.com/?a", "'\\?'.*no query"),
        ("wss://x.example.com/#a", "'#'.*no fragment"),
        ("wss://x.example.com/a%20b", "'%'"),
        ("wss://x.example.com/~me", "'~'"),
        ("wss://", "no host name"),
        ("wss://:8765", "no host name"),
        ("x.example.com:", "no port number"),
        ("x.example.com:http", "not a number"),
        ("x.example.com:08080", "leading zeros"),
        ("x..example.com", "empty part"),
        ("x.example.com.", "empty part"),
        ("-x.example.com", "starts or ends with '-'"),
        ("x_y.example.com", "contains '_'"),
        ("a" * 64 + ".example.com", "longer than 63"),
        (".".join(["a" * 60] * 5), "longer than 253"),
        ("1.2.3", "not a valid IPv4"),
        ("example.123", "not a valid IPv4"),
        ("10.0.0.256", "above 255"),
        ("10.0.0.01", "leading zeros"),
    ],
)
def test_normalize_url_refuses_bad_addresses_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(InviteCodeError, match=message):
        normalize_url(url)


def test_address_is_capped_at_900_characters() -> None:
    path = "/" + "a" * (MAX_ADDRESS_CHARS - len("x.example.com/"))
    longest = "x.example.com" + path
    assert len(longest) == MAX_ADDRESS_CHARS
    invite = make(longest, FIXED_SECRETS[0])
    assert parse(invite.format()) == invite
    with pytest.raises(InviteCodeError, match=r"at most 900"):
        normalize_url(longest + "a")


# --- Invite and generate --------------------------------------------------------------------


def test_generate_draws_the_secret_from_the_rng() -> None:
    calls: list[int] = []

    def rng(n: int) -> bytes:
        calls.append(n)
        return b"\x42" * n

    invite = generate("x.example.com", rng=rng)
    assert calls == [SECRET_BYTES]
    assert invite.secret == b"\x42" * SECRET_BYTES


def test_generate_uses_os_urandom_by_default() -> None:
    first, second = generate("x.example.com"), generate("x.example.com")
    assert first.secret != second.secret
    assert len(first.secret) == SECRET_BYTES


def test_generate_refuses_an_rng_that_returns_the_wrong_length() -> None:
    with pytest.raises(ValueError, match=r"16 bytes"):
        generate("x.example.com", rng=lambda n: b"\x00" * (n - 1))


def test_invite_constructor_normalises_the_url() -> None:
    invite = Invite(b"\x01" * SECRET_BYTES, "X.example.com")
    assert invite.url == "wss://x.example.com/"
    assert invite == Invite(b"\x01" * SECRET_BYTES, "wss://x.example.com/")


def test_invite_constructor_refuses_a_short_secret() -> None:
    with pytest.raises(ValueError, match=r"16 bytes"):
        Invite(b"\x01" * 15, "x.example.com")


def test_invite_repr_does_not_show_the_secret() -> None:
    invite = make("x.example.com", b"\xab" * SECRET_BYTES)
    assert "secret" not in repr(invite)
    assert "ab" not in repr(invite).replace("example", "")


def test_str_is_the_written_code() -> None:
    invite = make("x.example.com", FIXED_SECRETS[0])
    assert str(invite) == invite.format()


def test_with_url_keeps_the_secret_and_normalises_the_new_url() -> None:
    invite = make("ws://127.0.0.1:8765", FIXED_SECRETS[0])
    moved = invite.with_url("https://Four-Word-Name.trycloudflare.com")
    assert moved.secret == invite.secret
    assert moved.url == "wss://four-word-name.trycloudflare.com/"
    assert moved.address == "four-word-name.trycloudflare.com"
    assert invite.url == "ws://127.0.0.1:8765/"
