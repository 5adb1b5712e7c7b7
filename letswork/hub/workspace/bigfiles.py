"""Files larger than what one reply may carry, up to ``max_text_bytes`` (issue 16, item 3).

Limits apply to what crosses the wire, not to the files: a text file of up to
``MAX_TEXT_FILE_BYTES`` (64 MiB) reads in pages, its facts (sha256, lines, the text check)
are learnt in one streaming pass that holds :data:`CHUNK_BYTES` of it at a time, and the
page cache (``pages.py``) then makes each page a seek. A page of such a file is cut to
``max_chars`` characters (``max_file_bytes // 4`` when the reader gives none, so that it fits
one frame whatever its characters).
"""

from __future__ import annotations

import array
import codecs
import hashlib
import os
from collections.abc import Callable

from letswork.hub.workspace.disk import _human_size
from letswork.hub.workspace.pages import BLOCK_BYTES, FileFacts, PageCache, version_key
from letswork.shared.errors import ErrorCode, OpError, op_error

__all__ = [
    "CHUNK_BYTES",
    "big_facts",
    "changed_while_read",
    "reread",
    "stream_facts",
    "whole_too_large",
]

#: Bytes read at a time by :func:`stream_facts` (a whole number of page-cache blocks).
CHUNK_BYTES = 256 * BLOCK_BYTES


def stream_facts(
    fd: int, size: int, should_stop: Callable[[], bool] | None = None
) -> FileFacts | None:
    """The :class:`FileFacts` of the ``size`` bytes of ``fd``, read :data:`CHUNK_BYTES` at a
    time; ``None`` when the file is not ``size`` bytes any more (it changed while read) or
    ``should_stop`` said so (asked between chunks).

    Raises:
        OSError: a read failed.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    blocks = array.array("Q")
    refusal: str | None = None
    seen = 0
    pos = 0
    last = b""
    while pos < size:
        if should_stop is not None and should_stop():
            return None
        chunk = os.pread(fd, min(CHUNK_BYTES, size - pos), pos)
        if not chunk:
            return None  # shrank
        digest.update(chunk)
        for start in range(0, len(chunk), BLOCK_BYTES):
            blocks.append(seen)
            seen += chunk.count(b"\n", start, start + BLOCK_BYTES)
        if refusal is None:
            refusal = _check_chunk(decoder, chunk, pos, final=pos + len(chunk) >= size)
        pos += len(chunk)
        last = chunk[-1:]
    if os.pread(fd, 1, size):
        return None  # grew
    total = seen + (0 if size == 0 or last == b"\n" else 1)
    return FileFacts(digest.hexdigest(), size, refusal, total, blocks)


def _check_chunk(
    decoder: codecs.IncrementalDecoder, chunk: bytes, pos: int, *, final: bool
) -> str | None:
    """The ``binary_file`` message for ``chunk`` (at byte ``pos``), or None: text so far."""
    nul = chunk.find(b"\x00")
    if nul >= 0:
        return "file contains NUL bytes; only UTF-8 text files can be shared"
    pending = len(decoder.getstate()[0])
    if not pending and chunk.isascii():
        return None
    try:
        decoder.decode(chunk, final=final)
    except UnicodeDecodeError as exc:
        data = exc.object
        at = pos - pending + exc.start
        return (
            f"file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {at}); "
            "only UTF-8 text files can be shared"
        )
    return None


def big_facts(pages: PageCache, fd: int, st: os.stat_result, rel: str) -> FileFacts:
    """The facts of a file over ``max_file_bytes`` (``st``: the fstat of ``fd``), learnt in
    one streaming pass (never held whole) and kept in ``pages``.

    Raises:
        OpError: ``conflict`` when it changed while it was read.
        OSError: a read failed.
    """
    facts = stream_facts(fd, st.st_size)
    if facts is None or version_key(os.fstat(fd)) != version_key(st):
        raise changed_while_read(rel)
    pages.put(version_key(st), facts)
    return facts


def reread(big: bool, rel: str) -> tuple[FileFacts, str, int, bool] | None:
    """What a page that changed under its cache key gets: ``None`` (read the file whole
    again), or, for a file too large for that, the ``conflict`` of :func:`changed_while_read`.
    """
    if big:
        raise changed_while_read(rel)
    return None


def changed_while_read(rel: str) -> OpError:
    """A file over ``max_file_bytes`` changed while a page of it was read."""
    return op_error(
        ErrorCode.CONFLICT,
        f"'{rel}' changed while it was read (a file being written); read it again",
    )


def whole_too_large(size: int, max_whole: int, max_text: int) -> OpError:
    """``too_large`` for a whole read or write of a file over ``max_whole``, which pages can
    still read (up to ``max_text``): the message says what does work."""
    if size > max_text:
        return op_error(
            ErrorCode.TOO_LARGE,
            f"file is {_human_size(size)}; letswork reads, searches and edits text files of "
            f"up to {_human_size(max_text)}",
            size=size,
            limit=max_text,
        )
    return op_error(
        ErrorCode.TOO_LARGE,
        f"file is {_human_size(size)}; one reply or whole-file write carries at most "
        f"{_human_size(max_whole)}: read it in pages (read_file with offset/limit) and change "
        "it with edit_file",
        size=size,
        limit=max_whole,
    )
