"""Neutralise text that came from another person before it reaches a model or a terminal.

Design section 10: every string another peer supplied (file names, display names, messages,
task titles, diffs in summaries) passes through :func:`clean` before it enters an assistant's
context or the host's terminal. InTandem escaped only chat text, and a task title containing
``</channel>`` broke out of its notification; here the rule is applied at the two exits.

- ANSI escape sequences (CSI, OSC, and two-character ESC sequences) are removed.
- Other control characters (C0 except tab and newline, DEL, C1, and the Unicode bidi
  controls used in "Trojan Source" attacks) are removed.
- ``&``, ``<`` and ``>`` are escaped as ``&amp;``, ``&lt;`` and ``&gt;``, so no peer string can
  open or close a tag such as ``<channel>`` in the model's context.
"""

from __future__ import annotations

import re

_ANSI = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]        # CSI ... final byte
  | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?  # OSC ... BEL or ST
  | \x1b[@-Z\\-_]                   # two-character sequences
  | \x9b[0-?]*[ -/]*[@-~]           # 8-bit CSI
    """,
    re.VERBOSE,
)
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ONE_LINE = re.compile(r"[\t\n\r]+")


def strip_controls(text: str) -> str:
    """Remove ANSI escape sequences and control characters; keep tab and newline."""
    return _CONTROLS.sub("", _ANSI.sub("", text))


def clean(text: str) -> str:
    """:func:`strip_controls`, then escape ``&``, ``<``, ``>`` (for a model's context)."""
    return strip_controls(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clean_line(text: str, max_chars: int = 200) -> str:
    """:func:`clean` on one line: newlines and tabs become spaces, cut to ``max_chars``."""
    one = _ONE_LINE.sub(" ", clean(text))
    return one if len(one) <= max_chars else one[: max_chars - 1] + "…"


def clean_terminal(text: str) -> str:
    """For a terminal (Rich/Textual): controls and escapes removed, no HTML escaping."""
    return strip_controls(text)
