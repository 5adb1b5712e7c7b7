"""Where a page of file text is cut to a reader's character budget (issue 15, item 4).

One rule, used by the hub when a reader sends ``read_file`` its ``max_chars`` and by the
channel on a page an older hub sent whole, so a page reads the same whichever end cut it.
"""

from __future__ import annotations

__all__ = ["cut_page"]


def cut_page(text: str, max_chars: int) -> tuple[str, int, bool] | None:
    """``None`` when ``text`` (a page of whole lines) fits in ``max_chars`` characters; else
    the part kept, how many lines it holds, and whether it is only the start of one line.

    The part kept ends after the last ``\\n`` within the first ``max_chars`` characters; when
    there is none (the first line alone is longer), it is those ``max_chars`` characters, the
    start of that one line. Only ``text[:max_chars + 1]`` is looked at, so a caller may pass
    just that much of a longer page.
    """
    if len(text) <= max_chars:
        return None
    kept = text[:max_chars]
    cut = kept.rfind("\n")
    if cut < 0:
        return kept, 1, True
    kept = kept[: cut + 1]
    return kept, kept.count("\n"), False
