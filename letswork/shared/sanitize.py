"""Neutralise text that came from another person before it reaches a model or a terminal.

Design section 10 and issue 13 (items 9-10): every string another peer or a hub supplied (file
names, display names, messages, task titles, reasons, error messages, diffs) passes through
this module before it enters an assistant's context or a terminal. The channel uses
:func:`clean`/:func:`clean_line`, terminals use :func:`clean_terminal`/:func:`terminal_line`
(through the one printer, :mod:`letswork.ui.printer`, or a Rich ``Text``); all of them are
:func:`mark_hidden` underneath. File text an assistant reads to edit (``read_file``) is the one
exception: it is data and stays exact (docs/security.md, "Invisible text").

:func:`mark_hidden` removes every character a person cannot see but a model or a terminal acts
on, and puts :data:`MARKER` where they were, one marker per run, so a person sees that
something was there:

- the Unicode general categories Cc (C0 and C1 controls, DEL; tab and newline are kept), Cf
  (format: zero-width characters U+200B-U+200F, U+2060-U+2064, the bidi controls, U+061C,
  U+FEFF, U+180E, soft hyphen, ...), Co (private use), Cs (lone surrogates), Zl and Zp
  (U+2028, U+2029) and Cn (unassigned, noncharacters included);
- all of plane 14: the TAG block U+E0000-U+E007F ("ASCII smuggling": models read it, terminals
  show nothing), the supplementary variation selectors and the unassigned rest;
- the other Default_Ignorable_Code_Point characters Unicode says to draw as nothing, which are
  letters or marks rather than Cf (U+034F, the Hangul fillers U+115F, U+1160, U+3164, U+FFA0,
  U+17B4, U+17B5, U+180B-U+180D, U+180F), and the variation selectors U+FE00-U+FE0D;
- two or more emoji/text presentation selectors (U+FE0E, U+FE0F) in a row (one alone is kept:
  it is part of ordinary emoji such as U+2764 U+FE0F);
- a CSI escape sequence (``ESC [`` or U+009B, parameters, one final byte) as a whole. Every
  other escape sequence (OSC, DCS, ...) loses only its control characters: its payload is free
  text and stays visible, so nothing visible can hide inside it.

``\\r\\n`` becomes ``\\n`` without a marker (Windows line ends); a lone ``\\r`` is removed and
marked (it would let text overwrite its own line on a terminal).

Which characters these are is fixed by a table generated from one Unicode version
(:mod:`letswork.shared.hidden_table`, from Python's ``unicodedata``), so every Python version
cleans alike. Code points assigned after that version count as unassigned and are removed: a
newer emoji shows as the marker. Regenerate the table with ``python -m
letswork.shared.sanitize`` (``test_the_hidden_table_is_what_unicodedata_says`` checks it).

What else the cleaner does depends on where the text goes (issue 16), never on who calls it:

- a **tool result** (:func:`clean`, :func:`clean_line`): nothing more. Code, diffs and messages
  reach the assistant exactly as written (``>>>`` stays ``>>>``), as file contents do: a tool
  result is not wrapped in a tag a peer's text could close.
- a **``claude/channel`` notification** (:func:`for_channel_tag`, applied to the content and
  every meta value where the notification is made): ``&``, ``<`` and ``>`` become ``&amp;``,
  ``&lt;`` and ``&gt;`` (in a meta value ``"`` and ``'`` too: ``&quot;``, ``&#39;``), because
  Claude Code puts the content inside a ``<channel ...>`` tag and the meta values in its
  attributes, so a peer's ``</channel>`` could otherwise close it. The marker holds none of
  them, so escaping leaves it intact.
- a **terminal** (:func:`clean_terminal`, :func:`terminal_line`): nothing more; Rich ``Text``
  shows it literally.

Removal never joins what was around a removed run (the marker stays between), so cleaning
creates no new sequence; the result is idempotent for :func:`mark_hidden`.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable

from letswork.shared.hidden_table import RANGES, UNICODE_VERSION

__all__ = [
    "HIDDEN_CATEGORIES",
    "LINE_WINDOW",
    "MARKER",
    "UNICODE_VERSION",
    "clean",
    "clean_line",
    "clean_terminal",
    "count_hidden",
    "for_channel_tag",
    "hidden_ranges",
    "mark_hidden",
    "terminal_line",
]

#: Put where a run of removed characters was.
MARKER = "[hidden text removed]"
#: Unicode general categories removed whole (Cc except tab and newline).
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp", "Cn"})
#: Code points removed besides those categories: plane 14 (tags, supplementary variation
#: selectors, unassigned), the Default_Ignorable_Code_Point letters and marks, and the
#: variation selectors other than the two presentation selectors.
HIDDEN_EXTRA: tuple[tuple[int, int], ...] = (
    (0x034F, 0x034F),  # COMBINING GRAPHEME JOINER
    (0x115F, 0x1160),  # HANGUL CHOSEONG / JUNGSEONG FILLER
    (0x17B4, 0x17B5),  # KHMER VOWEL INHERENT AQ / AA
    (0x180B, 0x180D),  # MONGOLIAN FREE VARIATION SELECTOR ONE..THREE
    (0x180F, 0x180F),  # MONGOLIAN FREE VARIATION SELECTOR FOUR
    (0x3164, 0x3164),  # HANGUL FILLER
    (0xFE00, 0xFE0D),  # VARIATION SELECTOR-1..14
    (0xFFA0, 0xFFA0),  # HALFWIDTH HANGUL FILLER
    (0xE0000, 0xEFFFF),  # plane 14: TAG characters, VARIATION SELECTOR-17..256, unassigned
)
_KEPT = frozenset({0x09, 0x0A})  # tab, newline
#: A one-line field of ``n`` characters cleans at most ``n * LINE_WINDOW + 1024`` characters
#: of its text (:func:`clean_line`, :func:`terminal_line`): the rest could not be shown anyway.
#: Names, paths, reasons and error messages (at most 1,024 characters by the catalogue) are
#: never cut by it; an unknown event's fields or a protocol error's quote can be.
LINE_WINDOW = 16


def hidden_ranges(category: Callable[[str], str] = unicodedata.category) -> list[tuple[int, int]]:
    """The removed code points as sorted, merged, inclusive ranges, computed from ``category``.

    Slow (every code point is looked up, about half a second): it generates
    :mod:`letswork.shared.hidden_table`, which is what :func:`mark_hidden` uses.
    """
    extra = [False] * (sys.maxunicode + 1)
    for first, last in HIDDEN_EXTRA:
        for cp in range(first, last + 1):
            extra[cp] = True
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    for cp in range(sys.maxunicode + 1):
        hidden = cp not in _KEPT and (extra[cp] or category(chr(cp)) in HIDDEN_CATEGORIES)
        if hidden and start is None:
            start = cp
        elif not hidden and start is not None:
            ranges.append((start, cp - 1))
            start = None
    if start is not None:
        ranges.append((start, sys.maxunicode))
    return ranges


def _class(ranges: Iterable[tuple[int, int]]) -> str:
    """The body of a regex character class for ``ranges`` (``\\x``/``\\u``/``\\U`` escapes)."""

    def esc(cp: int) -> str:
        if cp < 0x100:
            return f"\\x{cp:02x}"
        return f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"

    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)


def _astral_tree(ranges: list[tuple[int, int]], low: int, high: int) -> str:
    """A pattern matching one astral character in ``ranges`` (all within ``low..high``): a
    binary tree of one-range lookaheads over classes of a few ranges each."""
    if len(ranges) <= 8:
        return f"[{_class(ranges)}]"
    mid = len(ranges) // 2
    split = ranges[mid][0]
    below = _astral_tree(ranges[:mid], low, split - 1)
    above = _astral_tree(ranges[mid:], split, high)
    return f"(?:(?=[{_class([(low, split - 1)])}]){below}|(?=[{_class([(split, high)])}]){above})"


# Python's regex engine tests a character class with a bitmap for the Basic Multilingual Plane
# but range by range above it: a class with the ~350 astral ranges would cost ~350 comparisons
# for every character of ordinary text. So one character is matched in two steps: a class of
# the hidden BMP characters plus the whole astral range (a bitmap and one range, which also
# lets the engine skip ordinary text quickly), then a look back that, for an astral character,
# walks a binary tree of the astral ranges (about a dozen comparisons). Measured in
# bench/sanitize.py: emoji-dense text 5x faster than one flat class.
# (A BMP character that passed the first step is hidden, so the look back only checks astral
# ones.) Compiled on first use: ASCII text never needs it, and compiling takes ~15 ms.


@functools.lru_cache(maxsize=1)
def _run() -> re.Pattern[str]:
    bmp = _class((a, min(b, 0xFFFF)) for a, b in RANGES if a <= 0xFFFF)
    astral = [(max(a, 0x10000), b) for a, b in RANGES if b > 0xFFFF]
    tree = _astral_tree(astral, 0x10000, 0x10FFFF)
    one = f"[{bmp}\\U00010000-\\U0010ffff](?<=[\\x00-\\uffff]|{tree})"
    return re.compile(f"{one}(?:{one})*")


_ASCII_RUN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]+")
_CSI = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]")
_PRESENTATION_RUN = re.compile("[\ufe0e\ufe0f]{2,}")
_ONE_LINE = re.compile(r"[\t\n]+")
_WHITESPACE = re.compile(r"\s+")


def _prepare(text: str) -> tuple[str, re.Pattern[str]] | None:
    """``text`` ready for a run pattern, and that pattern; None when ASCII ``text`` holds
    nothing to remove (the common case, one scan)."""
    if text.isascii():
        if _ASCII_RUN.search(text) is None:
            return None
        pattern = _ASCII_RUN
    else:
        pattern = _run()
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    if "\x1b[" in text or "\x9b" in text:
        text = _CSI.sub("\x1b", text)  # the whole sequence becomes one removed character
    if pattern is not _ASCII_RUN and ("\ufe0e" in text or "\ufe0f" in text):
        text = _PRESENTATION_RUN.sub("\x00", text)
    return text, pattern


def mark_hidden(text: str) -> str:
    """Remove what a person cannot see (see the module docstring); one :data:`MARKER` per run."""
    prepared = _prepare(text)
    if prepared is None:
        return text
    text, pattern = prepared
    return pattern.sub(MARKER, text)


def count_hidden(text: str) -> int:
    """How many characters :func:`mark_hidden` would remove (a CSI sequence counts as one)."""
    prepared = _prepare(text)
    if prepared is None:
        return 0
    text, pattern = prepared
    return sum(len(run) for run in pattern.findall(text))


def clean_terminal(text: str) -> str:
    """For a terminal (the printer, Rich/Textual): :func:`mark_hidden`, no HTML escaping."""
    return mark_hidden(text)


def clean(text: str) -> str:
    """For a tool result: :func:`mark_hidden`, nothing escaped (the text stays exact)."""
    return mark_hidden(text)


def for_channel_tag(text: str, *, attribute: bool = False) -> str:
    """For inside a ``claude/channel`` notification: ``&``, ``<`` and ``>`` escaped, so no text
    closes the tag; an ``attribute`` (a meta value) has ``"`` and ``'`` escaped too. Applied
    to text already cleaned (:func:`clean`/:func:`clean_line`)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;").replace("'", "&#39;") if attribute else text


def _cut(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` with ``…``, never in the middle of a marker. (No entity
    can be cut: escaping, :func:`for_channel_tag`, comes after the cut; a plain ``&`` near
    the cut is text and stays.)"""
    if len(text) <= max_chars:
        return text
    head = text[: max(max_chars - 1, 0)]
    bracket = head.rfind("[")
    if bracket >= 0 and text.startswith(MARKER, bracket) and bracket + len(MARKER) > len(head):
        head = head[:bracket]
    return head + "…"


def _window(text: str, max_chars: int) -> tuple[str, bool]:
    """The part of ``text`` a line of ``max_chars`` can show, and whether more was left out.

    Cleaning costs time per character, so a one-line field cleans only the first
    :data:`LINE_WINDOW` characters per character it shows (plus 1,024): a field a hub or a
    peer made megabytes long costs what a short one does. Only a run of removed characters
    (or of whitespace) longer than that can keep visible text after it out of the line, and
    the line then ends in ``…``, so a person still sees that it was cut.
    """
    limit = max_chars * LINE_WINDOW + 1024
    if len(text) <= limit:
        return text, False
    return text[:limit], True


def clean_line(text: str, max_chars: int = 200) -> str:
    """:func:`clean` on one line: newlines and tabs become spaces, cut to ``max_chars``."""
    head, more = _window(text, max_chars)
    flat = _ONE_LINE.sub(" ", clean(head))
    return _cut(flat + "…" if more else flat, max_chars)


def terminal_line(text: str, max_chars: int | None = 160) -> str:
    """:func:`clean_terminal` on one line: whitespace runs become one space, cut to
    ``max_chars`` (None: not cut)."""
    if max_chars is None:
        return _WHITESPACE.sub(" ", clean_terminal(text)).strip()
    head, more = _window(text, max_chars)
    flat = _WHITESPACE.sub(" ", clean_terminal(head)).strip()
    return _cut(flat + "…" if more else flat, max_chars)


def write_table() -> None:  # pragma: no cover - run by hand for a new Unicode version
    """Regenerate :mod:`letswork.shared.hidden_table` from this Python's ``unicodedata``."""
    from pathlib import Path

    lines = "".join(f"    (0x{a:04X}, 0x{b:04X}),\n" for a, b in hidden_ranges())
    version = unicodedata.unidata_version
    Path(__file__).with_name("hidden_table.py").write_text(
        '"""The code points letswork.shared.sanitize removes, as inclusive ranges.\n\n'
        f"Generated from Python's unicodedata {version} by\n"
        '``python -m letswork.shared.sanitize``; do not edit."""\n\n'
        f'UNICODE_VERSION = "{version}"\n\n'
        f"RANGES: tuple[tuple[int, int], ...] = (\n{lines})\n",
        encoding="utf-8",
    )


if __name__ == "__main__":  # pragma: no cover
    write_table()
