"""Pages of a file without whole-file work on every page (issue 15, item 4).

Reading page 5 of a 1 MiB file used to read, hash, check and split the whole file again. The
first read of a file version still does all of that once and keeps what it learnt as
:class:`FileFacts`: the SHA-256, whether it is text (and if not, the exact refusal), its line
count, and where each 4 KiB block starts in lines. A later page of the same version is then
two small reads to find the page's ends and one read of the page itself.

A version is keyed by ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` of the open file
descriptor (fstat), the key build tools use to skip unchanged files: a write that keeps size,
mtime and ctime to the nanosecond is not seen. Two such writes exist (found attacking issue
15): a same-size rewrite within one timestamp tick (a jiffy on Linux before 6.13, 1 s on
HFS+, 2 s on FAT), and a write through a shared ``mmap`` to a page already dirty, which
stamps no time at all. So, as git does with a "racily clean" index entry, a version is kept
only once its mtime and ctime are :data:`SETTLE_SECONDS` old, older than any tick; and a
cached page holding a NUL byte is read whole instead. What remains: a writer through a
mapping that keeps a page dirty can still change bytes unseen. The cost of missing one is
bounded: the page text is always read from disk, only the hash and line positions could be
stale, and a change proposed on a stale hash is refused as a conflict when it is applied (the
hub hashes the file again then, never from this cache).

The cache is bounded by :data:`PAGE_CACHE_BYTES` (an estimate of what each entry holds) and
evicts the least recently used; it is shared by the worker threads that read files, so it
takes a lock.
"""

from __future__ import annotations

import array
import bisect
import collections
import hashlib
import os
import threading
import time
from dataclasses import dataclass

from letswork.shared import limits
from letswork.shared.errors import ErrorCode, op_error

__all__ = [
    "BLOCK_BYTES",
    "PAGE_CACHE_BYTES",
    "SETTLE_SECONDS",
    "FileFacts",
    "PageCache",
    "facts_of",
    "line_start",
    "refuse",
    "version_key",
]

#: Bytes of file per entry of a :class:`FileFacts` block index.
BLOCK_BYTES = 4 * 1024
#: The page cache's caps, in ``shared/limits.py`` with the hub's other caps; bytes are
#: estimated per entry (:meth:`FileFacts.cost`).
PAGE_CACHE_BYTES = limits.PAGE_CACHE_BYTES
PAGE_CACHE_ENTRIES = limits.PAGE_CACHE_ENTRIES
#: A version is cached only when its mtime and ctime are at least this old: a later write in
#: the same timestamp tick would keep its key (see the module docstring).
SETTLE_SECONDS = 3.0

VersionKey = tuple[int, int, int, int, int]


def version_key(st: os.stat_result) -> VersionKey:
    """The cache key of the file version ``st`` (an ``os.fstat`` of the open file)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class FileFacts:
    """What one read of a file version learnt.

    Attributes:
        sha256: hex SHA-256 of the bytes.
        size: bytes.
        refusal: ``None`` for a text file, else the ``binary_file`` message to answer.
        total_lines: lines, split on ``\\n`` only; a last line without one counts.
        block_lines: ``block_lines[i]`` is the number of ``\\n`` in bytes before block ``i``
            (block ``i`` starts at byte ``i * BLOCK_BYTES``).
    """

    sha256: str
    size: int
    refusal: str | None
    total_lines: int
    block_lines: array.array[int]

    def cost(self) -> int:
        """Bytes this entry is counted as in the cache: its index plus a fixed overhead."""
        return 256 + self.block_lines.itemsize * len(self.block_lines)


def facts_of(data: bytes) -> FileFacts:
    """The :class:`FileFacts` of a whole file's bytes."""
    refusal = None
    if b"\x00" in data:
        refusal = "file contains NUL bytes; only UTF-8 text files can be shared"
    elif not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            refusal = (
                f"file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                "only UTF-8 text files can be shared"
            )
    blocks = array.array("Q", [0])
    seen = 0
    for start in range(0, len(data), BLOCK_BYTES):
        seen += data.count(b"\n", start, start + BLOCK_BYTES)
        blocks.append(seen)
    total = seen + (0 if not data or data.endswith(b"\n") else 1)
    blocks.pop()  # the count after the last block is ``seen``, kept in ``total``
    return FileFacts(hashlib.sha256(data).hexdigest(), len(data), refusal, total, blocks)


def line_start(fd: int, facts: FileFacts, line: int) -> int:
    """Byte offset at which 0-based line ``line`` starts (``facts.size`` past the last line).

    Reads at most one block of ``fd``.

    Raises:
        OSError: the read failed.
        ValueError: the block holds fewer lines than ``facts`` says (the file changed).
    """
    if line <= 0:
        return 0
    if line >= facts.total_lines:
        return facts.size
    # The block holding the ``line``-th newline: the last block with fewer before it.
    block = bisect.bisect_left(facts.block_lines, line) - 1
    start = block * BLOCK_BYTES
    chunk = os.pread(fd, BLOCK_BYTES, start)
    need = line - facts.block_lines[block]  # newlines to pass within this block
    parts = chunk.split(b"\n", need)
    if len(parts) <= need:
        raise ValueError("the file changed under its cached version")
    return start + sum(map(len, parts[:need])) + need


class PageCache:
    """An LRU map from :func:`version_key` to :class:`FileFacts`, bounded by bytes and count.

    Thread-safe. ``max_bytes`` defaults to :data:`PAGE_CACHE_BYTES`.
    """

    def __init__(
        self, max_bytes: int = PAGE_CACHE_BYTES, max_entries: int = PAGE_CACHE_ENTRIES
    ) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.used = 0
        self.hits = 0
        self.misses = 0
        self._entries: collections.OrderedDict[VersionKey, FileFacts] = collections.OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: VersionKey) -> FileFacts | None:
        with self._lock:
            facts = self._entries.get(key)
            if facts is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return facts

    def put(self, key: VersionKey, facts: FileFacts) -> None:
        """Keep ``facts`` of version ``key``, unless the version is too young to trust its
        key (:data:`SETTLE_SECONDS`) or the entry is over the cache's bytes."""
        cost = facts.cost()
        if cost > self.max_bytes or not settled(key):
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.used -= old.cost()
            self._entries[key] = facts
            self.used += cost
            while self.used > self.max_bytes or len(self._entries) > self.max_entries:
                _, evicted = self._entries.popitem(last=False)
                self.used -= evicted.cost()


def settled(key: VersionKey) -> bool:
    """Whether version ``key`` was last written :data:`SETTLE_SECONDS` ago or more, by the
    real-time clock file times are stamped from (a time in the future is not settled)."""
    newest = max(key[3], key[4])
    return time.time_ns() - newest >= SETTLE_SECONDS * 1_000_000_000


def refuse(facts: FileFacts) -> None:
    """Raise the ``binary_file`` refusal of a file that is not text.

    Raises:
        OpError: ``binary_file`` with the message the whole-file check gave.
    """
    if facts.refusal is not None:
        raise op_error(ErrorCode.BINARY_FILE, facts.refusal)
