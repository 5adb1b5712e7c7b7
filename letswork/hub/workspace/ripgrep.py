"""ripgrep as the first pass of ``search_files`` (issue 15): which files may match, fast.

:func:`candidates` hands ripgrep (the ``rg`` binary of the ``ripgrep`` package) the files a
search may read, the peer's own list in path order, in chunks, and marks each file that ripgrep
says may hold a match. ripgrep never walks and never decides what is shared: it is given
explicit paths only (``./`` + the path relative to the root, after ``--``), and it prints only
their names (``--files-with-matches --null``). The lines a peer gets are then found by
:mod:`~letswork.hub.workspace.search` itself, with RE2, in the files marked: ripgrep is a
filter, so its answer can only cost time, never change a match, as long as it marks every file
RE2 would match. :func:`rg_pattern` passes on only the patterns for which it does (see its
docstring); any other goes to the Python engine alone.

Processes: each search runs at most :data:`RG_PER_SEARCH` ripgrep processes at once, each with
:data:`RG_THREADS` threads, and the hub at most :data:`MAX_RG_PROCESSES` (a search waits for a
slot, asking ``should_stop`` meanwhile). A search that stops (its deadline, its peer gone, or
``max_results`` reached) kills its processes and waits for them. A guest can thus make the hub
run ``limits.search_workers x RG_PER_SEARCH`` ripgrep processes at most, with the argv and
file list above, never a shell; before them, a regex search runs one more, outside the cap,
that compiles the regex on an empty input (:func:`accepts`, at most 10 s).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import suppress
from functools import lru_cache

from letswork.shared import limits

__all__ = [
    "MAX_RG_PROCESSES",
    "RG_CHUNK_BYTES",
    "RG_MIN_FILES",
    "RG_PER_SEARCH",
    "RG_THREADS",
    "candidates",
    "find_rg",
    "rg_pattern",
]

#: ripgrep processes one search runs at once (the second is searching the next chunk while the
#: first one's files are read by Python).
RG_PER_SEARCH = 2
#: Threads of each ripgrep process (``--threads``). Two processes of two threads each were
#: the fastest on 2 cores (1.13x rg walking the tree itself, against 1.46x for 2x1 and 1x2):
#: each hides the other's start and the chunk's listing.
RG_THREADS = 2
#: ripgrep processes the whole hub runs at once (guests' and the host's searches together).
MAX_RG_PROCESSES = limits.MAX_RG_PROCESSES
#: Most bytes of paths in one process's argv: well under Linux's 2 MiB ``ARG_MAX``.
RG_CHUNK_BYTES = 512 * 1024
#: Files in the first chunk; each next chunk is twice as large up to :data:`RG_CHUNK_FILES`,
#: so that a search that ends early (``max_results``) has not searched far ahead.
RG_FIRST_CHUNK_FILES = 256
#: Most files in one chunk.
RG_CHUNK_FILES = 8192
#: The first files of a search, read by Python alone while ripgrep starts on the next ones: a
#: search that ends early (``max_results``) seldom waits for a process, one of no more files
#: starts none.
RG_MIN_FILES = 256
#: How often a search waiting for ripgrep asks ``should_stop``, in seconds.
RG_POLL_SECONDS = 0.05

_slots = threading.BoundedSemaphore(MAX_RG_PROCESSES)


@lru_cache(maxsize=1)
def find_rg() -> str | None:
    """The path of the ``rg`` the ``ripgrep`` package installed next to this Python's scripts
    (the venv's, then the user's), if it runs and says it is ripgrep 14 or later; else None.
    Never ``$PATH``: a binary of unknown version and options is not run. POSIX only."""
    if os.name != "posix":
        return None
    dirs = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    with suppress(KeyError):
        dirs.append(sysconfig.get_path("scripts", f"{os.name}_user"))
    for folder in dirs:
        path = os.path.join(folder, "rg")
        if not os.access(path, os.X_OK):
            continue
        try:
            out = subprocess.run(
                [path, "--no-config", "--version"],
                capture_output=True,
                timeout=10,
                stdin=subprocess.DEVNULL,
                check=False,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        words = out.split()
        if len(words) >= 2 and words[0] == b"ripgrep":
            major = words[1].split(b".")[0]
            if major.isdigit() and int(major) >= 14:
                return path
    return None


#: RE2's negated Perl classes as ripgrep must get them: one character each, as RE2 matches in
#: UTF-8 (``(?-u:\W)`` is one byte: ``a\W `` missed "aé "), any but those of RE2's ASCII
#: class, unfolded (RE2's ``(?i)\W`` leaves out U+212A KELVIN SIGN; a filter may match more).
#: RE2's ``\s`` is ``[\t\n\f\r ]``, without the ``\v`` of ripgrep's ``(?-u:\s)``.
_NEGATED_CLASSES = {
    "W": "(?-i:[^0-9A-Za-z_])",
    "D": "(?-i:[^0-9])",
    "S": "(?-i:[^\\t\\n\\f\\r ])",
}


def _hex(ch: str) -> str:
    return f"\\x{{{ord(ch):x}}}"


def rg_pattern(pattern: str, *, regex: bool) -> str | None:
    """``pattern`` (RE2 syntax, already accepted by RE2) as ripgrep must get it to match at
    least wherever RE2 matches, or None when that cannot be promised (then the search runs on
    the Python engine alone).

    A literal goes as it is (``--fixed-strings``). A regex is passed token by token:
    escaped punctuation becomes ``\\x{..}`` (``\\<`` is a word boundary for ripgrep, a ``<``
    for RE2); ``\\b`` and ``\\B`` become their ASCII forms (``(?-u:\\b)``: RE2's are ASCII,
    ripgrep's Unicode), ``\\W``, ``\\D``, ``\\S`` classes of every character but RE2's ASCII
    ones (:data:`_NEGATED_CLASSES`; ripgrep's ``\\w``, ``\\d``, ``\\s`` match more, which a
    filter may); any other escape of a letter or digit stays. In a bracket
    class, a nested ``[`` (not ``[:``), ``&&``, ``--``, ``~~`` (set operations for ripgrep,
    characters for RE2) and ``\\W``, ``\\D``, ``\\S``, ``\\p``, ``\\P`` (and ``\\w``,
    ``\\d``, ``\\s`` in a negated class) give None. A NUL or a character that is not UTF-8
    (an argv holds neither) gives None. A regex ripgrep refuses (``\\C``, ``\\Q..\\E``,
    octal escapes) is found out by :func:`accepts`.
    """
    if "\x00" in pattern:
        return None
    try:
        pattern.encode("utf-8")
    except UnicodeEncodeError:
        return None
    if not regex:
        return pattern
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    negated = False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                return None
            nxt = pattern[i + 1]
            if in_class:
                if nxt in "WDSpP" or (negated and nxt in "wds"):
                    return None
                out.append(_hex(nxt) if not nxt.isalnum() else ch + nxt)
            elif not nxt.isascii() or not nxt.isalnum():
                out.append(_hex(nxt))
            elif nxt in _NEGATED_CLASSES:
                out.append(_NEGATED_CLASSES[nxt])
            elif nxt in "bB":
                out.append(f"(?-u:\\{nxt})")
            else:
                out.append(ch + nxt)
            i += 2
            continue
        if in_class:
            if ch == "[":
                if pattern.startswith("[:", i):
                    end = pattern.find(":]", i + 2)
                    if end < 0:
                        return None
                    out.append(pattern[i : end + 2])
                    i = end + 2
                    continue
                return None
            if pattern.startswith(("&&", "--", "~~"), i):
                return None
            if ch == "]":
                in_class = False
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            negated = i < n and pattern[i] == "^"
            if negated:
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":  # a leading ] is a character in both
                out.append("\\]")
                i += 1
            continue
        out.append(ch)
        i += 1
    if in_class:
        return None
    return "".join(out)


def _argv(rg: str, pattern: str, *, regex: bool, case_sensitive: bool, max_bytes: int) -> list[str]:
    return [
        rg,
        "--no-config",  # no RIPGREP_CONFIG_PATH: no --pre, no options of the environment
        "--files-with-matches",
        "--null",
        "--no-messages",
        "--no-mmap",  # a file truncated while mapped would kill rg with SIGBUS
        # The bytes as they are, as RE2 gets them: no BOM sniffing, which strips a UTF-8 BOM
        # (a regex matching U+FEFF, or ^. on the first line, would miss) and transcodes UTF-16.
        "--encoding=none",
        "--no-ignore",
        "--hidden",
        "--no-follow",
        # Only the paths given, never below: a file swapped for a folder, or a symlink to one
        # (an explicit path is followed), after the list was made is not walked.
        "--max-depth=0",
        f"--max-filesize={max_bytes}",
        f"--threads={RG_THREADS}",
        "--case-sensitive" if case_sensitive else "--ignore-case",
        # RE2 searches the whole file: a regex may match across lines (\s, [^a], \n), and so
        # may a literal with a line ending.
        *(("--multiline",) if regex or "\n" in pattern else ()),
        *(() if regex else ("--fixed-strings",)),
        f"--regexp={pattern}",
        "--",
    ]


def accepts(rg: str, pattern: str, *, case_sensitive: bool) -> bool:
    """Whether ripgrep compiles the regex ``pattern`` (searching an empty standard input)."""
    argv = _argv(rg, pattern, regex=True, case_sensitive=case_sensitive, max_bytes=1)
    try:
        done = subprocess.run(
            [*argv, "-"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 1  # no match, no error


class _Run:
    """One ripgrep process over one chunk of files."""

    def __init__(self, argv: list[str], root: str, chunk: list[tuple[str, str, int]]) -> None:
        self.chunk = chunk
        self.out = b""
        #: the exit code; -1 when the process could not start (every file is then marked)
        self.code: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        try:
            self.proc = subprocess.Popen(
                [*argv, *(os.fsencode("./" + rel) for rel, _, _ in chunk)],
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,  # a terminal's ^C goes to the hub, which kills it
            )
        except (OSError, ValueError):
            self.code = -1
            _slots.release()

    def wait(self, stop: Callable[[], bool]) -> bool:
        """Wait for the process, asking ``stop`` every RG_POLL_SECONDS; False when stopped."""
        proc = self.proc
        if proc is None:
            return True
        while True:
            try:
                self.out, _ = proc.communicate(timeout=RG_POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                if stop():
                    return False
        self.code = proc.returncode
        self.proc = None
        _slots.release()
        return True

    def marks(self) -> Iterator[tuple[str, str, int, bool]]:
        """Each file of the chunk, in order, and whether it may match. A run that ended other
        than with 0 (matches), 1 (none) or 2 with names (some file unreadable) marks every
        file: it may have been killed, or have refused its arguments."""
        found = set(self.out.split(b"\0"))
        whole = self.code not in (0, 1, 2) or (self.code == 2 and not self.out)
        for rel, path, size in self.chunk:
            yield rel, path, size, whole or os.fsencode("./" + rel) in found

    def kill(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        with suppress(OSError):
            proc.kill()
        with suppress(OSError, subprocess.SubprocessError):
            proc.communicate()
        _slots.release()


def candidates(
    rg: str,
    root: str,
    files: Iterable[tuple[str, str, int] | None],
    pattern: str,
    *,
    regex: bool,
    case_sensitive: bool,
    max_bytes: int,
    stop: Callable[[], bool],
    min_files: int = RG_MIN_FILES,
) -> Generator[tuple[str, str, int, bool] | None, None, None]:
    """Each of ``files`` ((relpath, absolute path, size or -1), or None for a folder the walk
    passed, in path order) in the same order, with whether it may match ``pattern`` (from
    :func:`rg_pattern`).

    The first ``min_files`` files are marked without ripgrep, for Python to read while ripgrep
    searches the next chunks (started once a quarter of them is read): a search that ends
    early (``max_results``) often ends before ripgrep starts, and a search of no more files
    runs no process. So are all files
    when ripgrep does not compile the regex (:func:`accepts`); the None of folders are then
    passed on, so that the caller asks ``stop`` at each. When ``stop`` says so (asked before
    each process, while waiting for one or for a slot, and every RG_CHUNK_FILES folders) it
    yields None and ends: ``stop`` stays true (a deadline or a disconnect), so the caller's own
    check, which it makes at every item, sees it too. Closing the iterator kills its processes.
    """
    argv = _argv(rg, pattern, regex=regex, case_sensitive=case_sensitive, max_bytes=max_bytes)
    runs: deque[_Run] = deque()
    it = iter(files)
    passed = 0  # folders (and files outside the glob) passed while filling a chunk
    size = RG_FIRST_CHUNK_FILES
    done = False

    def fill(want: int) -> list[tuple[str, str, int]] | None:
        """The next ``want`` files (fewer at the end: ``done``); None when stopped."""
        nonlocal passed, done
        chunk: list[tuple[str, str, int]] = []
        room = RG_CHUNK_BYTES
        for item in it:
            if item is None:
                passed += 1
                if passed % RG_CHUNK_FILES == 0 and stop():
                    return None
                continue
            chunk.append(item)
            room -= len(item[0]) + 3
            if len(chunk) >= want or room <= 0:
                return chunk
        done = True
        return chunk

    def start() -> bool:
        """Start processes on the next chunks, up to RG_PER_SEARCH; False when stopped."""
        nonlocal size
        while not done and len(runs) < RG_PER_SEARCH:
            chunk = fill(size)
            if chunk is None or stop():  # asked before a process, not only while waiting
                return False
            if not chunk:
                break
            size = min(size * 2, RG_CHUNK_FILES)
            while not _slots.acquire(timeout=RG_POLL_SECONDS):
                if stop():
                    return False
            runs.append(_Run(argv, root, chunk))
        return True

    try:
        head = fill(min_files) if min_files > 0 else []
        if head is None:
            yield None
            return
        if done or (regex and not accepts(rg, pattern, case_sensitive=case_sensitive)):
            # Python reads every file: too few for a process, or a regex ripgrep refuses
            # (RE2 took it: ``\C``, ``\Q..\E``, octal escapes).
            for rel, path, fsize in head:
                yield rel, path, fsize, True
            for item in it:
                yield None if item is None else (*item, True)
            return
        # A quarter of them first: a search that ends there (a common word) starts nothing.
        lead = len(head) // 4
        for rel, path, fsize in head[:lead]:
            yield rel, path, fsize, True
        if not start():
            yield None
            return
        for rel, path, fsize in head[lead:]:
            yield rel, path, fsize, True
        while runs:
            run = runs[0]
            if not run.wait(stop):
                yield None
                return
            runs.popleft()
            if not start():  # the next chunk, while Python reads this one's files
                yield None
                return
            yield from run.marks()
    finally:
        for run in runs:
            run.kill()
