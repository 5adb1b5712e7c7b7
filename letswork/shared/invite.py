"""Invite codes: a 128-bit secret and the hub's address in one shell-safe token.

Written form (``docs/protocol.md``, section "Invite codes")::

    7KQ2-M9XD-4TPA-W3HF-R8NB-C6JY-2ZQE@four-word-name.trycloudflare.com
    |<-- 26 secret + 2 check symbols ->| |<-------- address -------->|

* **Symbols** come from Crockford's base32 alphabet :data:`ALPHABET`
  (``0-9 A-Z`` without ``I L O U``). Parsing ignores case and reads the Crockford aliases
  ``I``/``L`` as ``1`` and ``O`` as ``0``; ``U`` is not a symbol.
* **Secret**: :data:`SECRET_BYTES` = 16 random bytes, so 128 bits of entropy. They are written
  big-endian as 26 symbols of 5 bits (130 bits: the 128 secret bits, then 2 zero padding bits;
  a code whose padding bits are not zero is rejected).
* **Check**: 2 symbols holding ``v = sum((i + 1) * ord(S[i])) % 1021`` over the canonical string
  ``S = <26 secret symbols, uppercase> + "@" + <canonical address>``, written as
  ``ALPHABET[v // 32] + ALPHABET[v % 32]``.
* **Layout**: the 28 symbols in 7 groups of 4 joined by ``-``, then ``@``, then the address.
  Parsing strips surrounding whitespace and ignores every ``-`` before the ``@``.
* **Address**: ``host[:port][/path]`` means ``wss://``; ``ws://host[:port][/path]`` is written
  with its scheme. Only ``[a-z0-9.:/_-]`` may occur (any case on input), so the whole code is a
  single token that needs no quoting in bash, zsh, fish or PowerShell. See :func:`normalize_url`
  for the rules and the canonical form.

Why the check catches every single substitution and every adjacent transposition
-------------------------------------------------------------------------------

1021 is prime. The canonical address is at most :data:`MAX_ADDRESS_CHARS` = 900 characters, so
``S`` has at most 26 + 1 + 900 = 927 characters: every weight ``i + 1`` lies in ``1..927`` and is
non-zero mod 1021. Every character of ``S`` is ASCII, so two different characters ``x, y`` give
``0 < |ord(x) - ord(y)| < 128 < 1021``.

* Parsing accepts an address only if it is written exactly in its canonical form (apart from
  case). So a substitution in the secret or the address that still parses changes exactly one
  character of ``S``, at some position with weight ``w``; ``v`` moves by
  ``w * (ord(y) - ord(x))``, a product of two numbers that are non-zero mod the prime 1021, so it
  is non-zero mod 1021 and the check no longer matches. (Typing a different case, or an alias
  such as ``l`` for ``1``, is not a substitution: it denotes the same code.)
* Swapping two different adjacent characters ``x y`` at weights ``w, w + 1`` moves ``v`` by
  ``w*y + (w+1)*x - w*x - (w+1)*y = x - y``, again non-zero mod 1021.
* A substitution in the check symbols changes the written value while ``v`` stays the same.
* Swapping the two check symbols changes the written value unless they are equal.
* Swapping the last secret symbol ``a`` with the first check symbol ``b``: both must have zero
  padding bits (values that are multiples of 4), and the code then passes only if
  ``32 * (val(b) - val(a)) + 26 * (ord(b) - ord(a)) == 0 (mod 1021)``. Values and ``ord`` grow
  together along :data:`ALPHABET`, so the left side is non-zero, even, and at most
  ``32 * 28 + 26 * 42 = 1988 < 2042`` in absolute value, so it is never a multiple of 1021.
* Losing the last character of the address (a truncated paste, or one replaced by trailing
  whitespace, which is stripped) moves ``v`` by ``len(S) * ord(c)``: non-zero mod 1021 too.
* Moving a ``-`` changes nothing (dashes are ignored); a deleted, inserted or swapped ``@`` or
  symbol changes the number of symbols before the first ``@`` and is rejected as a length error.

Errors: :func:`parse` raises :class:`~letswork.shared.errors.InviteCodeError`, and nothing else,
for every input string; the message says what is wrong.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import NamedTuple

from letswork.shared.errors import InviteCodeError

__all__ = [
    "ALPHABET",
    "CHECK_MODULUS",
    "CODE_SYMBOLS",
    "MAX_ADDRESS_CHARS",
    "SECRET_BYTES",
    "Invite",
    "InviteView",
    "generate",
    "normalize_url",
    "parse",
]


@dataclasses.dataclass(frozen=True)
class InviteView:
    """One stored invite as the host's screens show it (never sent to a guest).

    Attributes:
        code: the written code, with the hub's current public URL.
        invite_id: its id, lowercase hex (``letswork revoke`` takes a prefix of it).
        role: ``editor`` or ``viewer``.
        label: the host's name for it, if any.
        uses: people it admitted so far.
        max_uses: people it may admit (``None``: no limit).
        expires_at: after it nobody new may knock, seconds since the epoch (``None``: never).
        state: ``live`` (someone new can use it), ``used up``, ``expired`` or ``revoked``.
    """

    code: str = dataclasses.field(repr=False)
    invite_id: str
    role: str
    label: str | None
    uses: int
    max_uses: int | None
    expires_at: float | None
    state: str

    @property
    def uses_left(self) -> int | None:
        """People it may still admit (``None``: no limit)."""
        return None if self.max_uses is None else max(0, self.max_uses - self.uses)


#: Crockford's base32 alphabet; symbol ``ALPHABET[v]`` has value ``v``.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Bytes of random secret in an invite (128 bits).
SECRET_BYTES = 16
#: Symbols that write the secret: 26 * 5 = 130 bits, the last 2 are zero padding.
SECRET_SYMBOLS = 26
#: Symbols before the ``@``: 26 for the secret plus 2 check symbols.
CODE_SYMBOLS = SECRET_SYMBOLS + 2
#: The check value is a weighted sum modulo this prime.
CHECK_MODULUS = 1021
#: Longest canonical address, so every weight in the check sum stays below :data:`CHECK_MODULUS`.
MAX_ADDRESS_CHARS = 900

_GROUP = 4
_PADDING_BITS = SECRET_SYMBOLS * 5 - SECRET_BYTES * 8
_MAX_HOST_CHARS = 253
_MAX_LABEL_CHARS = 63
_SHOW_CHARS = 60

#: Characters allowed in a canonical address.
_ADDRESS_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.:/_-")
#: Characters accepted in a written address before lowercasing (ASCII only).
_ADDRESS_INPUT_CHARS = _ADDRESS_CHARS | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")

_CHAR_HINTS = {
    "@": " (an address has no user name or password)",
    "?": " (an address has no query string)",
    "#": " (an address has no fragment)",
    "%": " (an address has no percent-escapes)",
}


def _symbol_table() -> dict[str, int]:
    """Map every accepted symbol character (both cases, plus the aliases) to its value."""
    table: dict[str, int] = {}
    for value, symbol in enumerate(ALPHABET):
        table[symbol] = value
        table[symbol.lower()] = value
    for alias, symbol in (("I", "1"), ("L", "1"), ("O", "0")):
        table[alias] = table[alias.lower()] = table[symbol]
    return table


_SYMBOL_VALUES = _symbol_table()


def _cut(text: str) -> str:
    """``text`` cut to a readable length for a message."""
    return text if len(text) <= _SHOW_CHARS else text[: _SHOW_CHARS - 3] + "..."


def _show(text: str) -> str:
    """``text`` quoted for a message, cut to a readable length."""
    return repr(_cut(text))


class _Address(NamedTuple):
    """A validated, lowercased hub address."""

    scheme: str  # "ws" or "wss"
    host: str  # a host name or a dotted-quad IPv4 address
    port: str  # "" or decimal digits without leading zeros, 1..65535
    path: str  # "" or starting with "/"

    def url(self) -> str:
        """The normal-form URL: scheme, host, port if given, path (``/`` when empty)."""
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{self.host}{port}{self.path or '/'}"

    def written(self) -> str:
        """The canonical written address: no ``wss://``, no lone ``/`` path."""
        port = f":{self.port}" if self.port else ""
        path = "" if self.path == "/" else self.path
        bare = f"{self.host}{port}{path}"
        return bare if self.scheme == "wss" else f"ws://{bare}"


def _parse_address(text: str, *, allow_http: bool) -> _Address:
    """Validate ``text`` (an address or URL) and split it; raise :class:`InviteCodeError`."""
    if not text:
        raise InviteCodeError("the hub's address is empty")
    shown = _show(text)
    scheme_end = text.find("://")
    if scheme_end >= 0 and "/" not in text[:scheme_end]:
        scheme_text, rest = text[:scheme_end], text[scheme_end + 3 :]
    else:
        scheme_text, rest = "", text
    slash = rest.find("/")
    authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])

    if "[" in authority or "]" in authority or authority.count(":") > 1:
        raise InviteCodeError(
            f"the address {shown} looks like an IPv6 address, which invite codes cannot carry; "
            "give the hub a host name (or an IPv4 address) instead"
        )
    for char in text:
        if char not in _ADDRESS_INPUT_CHARS:
            raise InviteCodeError(
                f"the address {shown} contains {char!r}, which is not allowed"
                f"{_CHAR_HINTS.get(char, '')}"
            )

    scheme = scheme_text.lower()
    if scheme_text:
        schemes = {"ws": "ws", "wss": "wss"}
        if allow_http:
            schemes.update(http="ws", https="wss")
        if scheme not in schemes:
            accepted = "ws://, wss://" + (", http://, https://" if allow_http else "")
            raise InviteCodeError(
                f"the address {shown} starts with {scheme_text + '://'!r}; "
                f"use {accepted} or no scheme at all (which means wss://)"
            )
        scheme = schemes[scheme]
    else:
        scheme = "wss"

    host, colon, port = authority.lower().partition(":")
    _check_host(host, shown)
    if colon:
        _check_port(port, shown)
    address = _Address(scheme, host, port, path.lower())
    written = address.written()
    if len(written) > MAX_ADDRESS_CHARS:
        raise InviteCodeError(
            f"the address is {len(written)} characters long; "
            f"at most {MAX_ADDRESS_CHARS} are allowed"
        )
    return address


def _check_host(host: str, shown: str) -> None:
    """Accept a host name (RFC 1123 labels) or a dotted-quad IPv4 address."""
    if not host:
        raise InviteCodeError(f"the address {shown} has no host name")
    shown_host = _show(host)
    if len(host) > _MAX_HOST_CHARS:
        raise InviteCodeError(
            f"the host name {shown_host} is longer than {_MAX_HOST_CHARS} characters"
        )
    labels = host.split(".")
    if labels[-1].isdigit():  # a numeric last label can only be an IPv4 address
        if len(labels) != 4 or not all(label.isdigit() for label in labels):
            raise InviteCodeError(
                f"the host {shown_host} is not a valid IPv4 address (four numbers 0-255 "
                "separated by dots), and a host name cannot end in a number"
            )
        for label in labels:
            if len(label) > 1 and label.startswith("0"):
                raise InviteCodeError(
                    f"the IPv4 address {shown_host} must be written without leading zeros"
                )
            if len(label) > 3 or int(label) > 255:
                raise InviteCodeError(f"the IPv4 address {shown_host} has a part above 255")
        return
    for label in labels:
        if not label:
            raise InviteCodeError(
                f"the host name {shown_host} has an empty part "
                "(a dot at the start or end, or two dots in a row)"
            )
        if len(label) > _MAX_LABEL_CHARS:
            raise InviteCodeError(
                f"the host name {shown_host} has a part longer than {_MAX_LABEL_CHARS} characters"
            )
        if "_" in label:
            raise InviteCodeError(
                f"the host name {shown_host} contains '_', which host names cannot"
            )
        if label.startswith("-") or label.endswith("-"):
            raise InviteCodeError(
                f"the host name {shown_host} has a part that starts or ends with '-'"
            )


def _check_port(port: str, shown: str) -> None:
    """Accept decimal digits without leading zeros, 1..65535."""
    if not port:
        raise InviteCodeError(f"the address {shown} has ':' but no port number after it")
    if not port.isdigit():
        raise InviteCodeError(f"the port {_show(port)} is not a number")
    if len(port) > 5 or not 1 <= int(port) <= 65535:
        raise InviteCodeError(f"the port {_cut(port)} is out of range (1-65535)")
    if port.startswith("0"):
        raise InviteCodeError(f"the port {port} must be written without leading zeros")


def normalize_url(url: str) -> str:
    """Validate a hub address or URL and return its normal-form URL.

    Accepts ``host[:port][/path]`` (meaning ``wss://``), ``ws://...`` or ``wss://...``, and
    also ``http://...`` / ``https://...`` (read as ``ws://`` / ``wss://``, as cloudflared
    reports its tunnel URL). Case is ignored; the result is lowercase:
    ``<ws|wss>://<host>[:<port>]<path>``, with path ``/`` when none was given, e.g.
    ``"X.Example.com"`` -> ``"wss://x.example.com/"``. A port is kept as written, even 443 or 80.

    Limits: only ``[A-Za-z0-9.:/_-]``; the host is a host name (labels of 1-63 characters
    ``a-z0-9-`` not starting or ending with ``-``, at most 253 characters, not ending in a
    numeric label) or a dotted-quad IPv4 address without leading zeros; the port is 1..65535
    without leading zeros; no IPv6 literal, user info, query or fragment; the canonical written
    address (:attr:`Invite.address`) is at most :data:`MAX_ADDRESS_CHARS` characters.

    Raises:
        InviteCodeError: the URL breaks one of these rules (the message says which).
    """
    return _parse_address(url.strip(), allow_http=True).url()


def _encode_secret(secret: bytes) -> str:
    number = int.from_bytes(secret, "big") << _PADDING_BITS
    return "".join(
        ALPHABET[(number >> (5 * (SECRET_SYMBOLS - 1 - i))) & 31] for i in range(SECRET_SYMBOLS)
    )


def _check_value(secret_symbols: str, address: str) -> int:
    """``v`` over ``S = secret_symbols + "@" + address`` (see the module docstring)."""
    canonical = f"{secret_symbols}@{address}"
    return sum((i + 1) * ord(char) for i, char in enumerate(canonical)) % CHECK_MODULUS


@dataclasses.dataclass(frozen=True)
class Invite:
    """One invite: the secret and the hub URL it points at.

    Attributes:
        secret: exactly :data:`SECRET_BYTES` bytes (left out of ``repr``).
        url: the hub URL in the normal form of :func:`normalize_url` (e.g.
            ``wss://four-word-name.trycloudflare.com/``); any accepted address given to the
            constructor is normalised.

    Raises:
        ValueError: ``secret`` is not ``bytes`` of length :data:`SECRET_BYTES`.
        InviteCodeError: ``url`` is not an acceptable hub address.
    """

    secret: bytes = dataclasses.field(repr=False)
    url: str

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != SECRET_BYTES:
            raise ValueError(f"an invite secret is exactly {SECRET_BYTES} bytes")
        object.__setattr__(self, "url", normalize_url(self.url))

    @property
    def address(self) -> str:
        """The canonical written address: ``host[:port][/path]`` for wss, ``ws://...`` for ws."""
        return _parse_address(self.url, allow_http=False).written()

    def format(self) -> str:
        """The written code: ``XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX@<address>``, uppercase symbols."""
        address = self.address
        secret_symbols = _encode_secret(self.secret)
        value = _check_value(secret_symbols, address)
        symbols = secret_symbols + ALPHABET[value // 32] + ALPHABET[value % 32]
        groups = [symbols[i : i + _GROUP] for i in range(0, CODE_SYMBOLS, _GROUP)]
        return "-".join(groups) + "@" + address

    def __str__(self) -> str:
        return self.format()

    def with_url(self, url: str) -> Invite:
        """The same secret pointing at another hub URL (normalised by :func:`normalize_url`)."""
        return dataclasses.replace(self, url=url)


def generate(url: str, *, rng: Callable[[int], bytes] = os.urandom) -> Invite:
    """A new invite for the hub at ``url``, with a secret of ``rng(SECRET_BYTES)``.

    Raises:
        InviteCodeError: ``url`` is not acceptable (see :func:`normalize_url`).
        ValueError: ``rng`` returned something other than :data:`SECRET_BYTES` bytes.
    """
    normal = normalize_url(url)
    return Invite(rng(SECRET_BYTES), normal)


def parse(code: str) -> Invite:
    """Read a written invite code (see the module docstring for the format).

    Surrounding whitespace is stripped; case does not matter; ``I``/``L`` read as ``1`` and
    ``O`` as ``0``; dashes before the ``@`` are ignored wherever they are. The address must be
    written in its canonical form (as :meth:`Invite.format` writes it, in any case).

    Raises:
        InviteCodeError: for every string that is not a valid code; never any other exception.
    """
    text = code.strip()
    if not text:
        raise InviteCodeError("the invite code is empty")
    at = text.find("@")
    if at < 0:
        raise InviteCodeError("the code has no '@' followed by the hub's address")

    values: list[int] = []
    positions: list[int] = []
    for index, char in enumerate(text[:at]):
        if char == "-":
            continue
        value = _SYMBOL_VALUES.get(char)
        if value is None:
            hint = " (paste the code on its own, without spaces)" if char.isspace() else ""
            raise InviteCodeError(
                f"{char!r} at position {index + 1} is not a character used in invite codes{hint}"
            )
        values.append(value)
        positions.append(index + 1)
    if len(values) != CODE_SYMBOLS:
        noun = "character" if len(values) == 1 else "characters"
        raise InviteCodeError(
            f"the code has {len(values)} {noun} before '@'; it needs {CODE_SYMBOLS} "
            "(did you miss or repeat one?)"
        )

    written = text[at + 1 :]
    if not written:
        raise InviteCodeError("the code has nothing after '@'; the hub's address is missing")
    address = _parse_address(written, allow_http=False)
    canonical = address.written()
    if canonical != written.lower():
        raise InviteCodeError(
            f"the address {_show(written)} is not written the way invite codes write it "
            f"({_show(canonical)}); was the code edited?"
        )

    number = 0
    for value in values[:SECRET_SYMBOLS]:
        number = number << 5 | value
    if number & ((1 << _PADDING_BITS) - 1):
        last = positions[SECRET_SYMBOLS - 1]
        raise InviteCodeError(
            f"{text[last - 1]!r} at position {last} cannot occur there: "
            "the code was probably mistyped"
        )
    secret = (number >> _PADDING_BITS).to_bytes(SECRET_BYTES, "big")
    secret_symbols = "".join(ALPHABET[value] for value in values[:SECRET_SYMBOLS])
    written_check = values[SECRET_SYMBOLS] * 32 + values[SECRET_SYMBOLS + 1]
    if written_check != _check_value(secret_symbols, canonical):
        raise InviteCodeError("the check characters do not match: the code was probably mistyped")
    return Invite(secret, address.url())
