"""Finding files and lines: :meth:`SearchOps.find_files` (a glob over paths) and
:meth:`SearchOps.search_files` (a literal or an RE2 regex over the lines of text files).

Both walk the folder as the peer may see it and stop early, with what they found so far, when
``should_stop`` says so (the deadline, or the peer went away). Regexes and globs run on RE2,
linear in the text whatever the pattern, so no pattern can stall a worker.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from typing import Any, Literal

import re2

from letswork.hub.workspace import ripgrep
from letswork.hub.workspace.base import WorkspaceBase, _Item, _never
from letswork.hub.workspace.disk import _READ_FLAGS, _not_found, _read_fd
from letswork.hub.workspace.index import FileList
from letswork.hub.workspace.paths import _q, to_relpath
from letswork.hub.workspace.sharing import _MATCH_ALL, _Re2Filter, _Spec
from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError, op_error
from letswork.shared.protocol.files import SearchFilesResult, SearchMatch, SkippedFile

__all__ = ["SearchOps"]

#: Longest ``text`` of a :class:`SearchMatch`; longer lines are cut around the match.
_MAX_MATCH_TEXT = 300


_UNANCHORED = re2._Anchor.UNANCHORED
_ANCHOR_START = re2._Anchor.ANCHOR_START
#: ``find_files`` takes a run of matching paths at most this many bytes (then to a line's
#: end) at a time.
_RUN_WINDOW_BYTES = 64 * 1024

#: A search reads this much of a file first: a NUL in it makes the file binary, skipped unread.
_HEAD_BYTES = 8192


def _read_text(path: str, max_bytes: int) -> tuple[bytes, tuple[int, int]] | None:
    """The bytes of a regular file of at most ``max_bytes`` with no NUL byte, and the file's
    (device, inode), else None (never raises). The first :data:`_HEAD_BYTES` come first, so
    most binary files are not read whole."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            return None
        want = min(_HEAD_BYTES, st.st_size + 1)
        data = os.read(fd, want)
        if b"\x00" in data:
            return None
        if len(data) == want and len(data) != st.st_size:  # more follows (or the file grew)
            data += _read_fd(fd, max_bytes + 1 - len(data), st.st_size - len(data))
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > max_bytes or b"\x00" in data:
        return None
    return data, (st.st_dev, st.st_ino)


class _Skipped:
    """The files a search skipped as over the text-file limit: the first
    ``MAX_SEARCH_SKIPPED_NAMED`` named, all counted."""

    def __init__(self) -> None:
        self.named: list[SkippedFile] = []
        self.count = 0

    def add(self, rel: str, size: int) -> None:
        self.count += 1
        if len(self.named) < limits.MAX_SEARCH_SKIPPED_NAMED:
            self.named.append(SkippedFile(path=rel, size=size, reason="too_large"))


def _clip(line: str, col: int) -> str:
    if len(line) <= _MAX_MATCH_TEXT:
        return line
    start = max(0, min(col - 80, len(line) - _MAX_MATCH_TEXT))
    end = start + _MAX_MATCH_TEXT
    return ("…" if start else "") + line[start:end] + ("…" if end < len(line) else "")


def _line_hits(
    buf: bytes, rx: Any, limit: int, stop: Callable[[], bool]
) -> tuple[list[tuple[int, bytes, int]], bool]:
    """Up to ``limit`` (line number, line without ending, byte column) for the lines of UTF-8
    ``buf`` that ``rx`` (from :func:`_compile_re2`) matches, and whether ``stop`` (asked
    between two searches: each may scan to the end of ``buf``, as ``(?s).*`` does from every
    line) cut them short."""
    nl, cr = b"\n", b"\r"
    hits: list[tuple[int, bytes, int]] = []
    pos = 0
    line_no = 1
    counted = 0  # line_no is the number of the line holding offset `counted`
    size = len(buf)
    while pos <= size and len(hits) < limit:
        if hits and stop():
            return hits, True
        match = rx.search(buf, pos)
        if match is None:
            break
        start = match.start()
        if start >= size and (size == 0 or buf.endswith(nl)):
            break  # an empty match after the last line ending is on no line
        line_start = buf.rfind(nl, 0, start) + 1
        line_no += buf.count(nl, counted, line_start)
        counted = line_start
        line_end = buf.find(nl, start)
        if line_end < 0:
            line_end = size
        line = buf[line_start:line_end]
        if line.endswith(cr):
            line = line[:-1]
        hits.append((line_no, line, start - line_start))
        pos = line_end + 1
    return hits, False


def _may_fold(data: bytes) -> bool:
    """Whether ``data`` holds a non-ASCII character that a case-insensitive ``re`` pattern
    matches with an ASCII letter: U+0130 and U+0131 (i), U+017F LONG S (s), U+212A KELVIN
    SIGN (k). One-byte tests go first: they are ``memchr`` and rule out most files at once."""
    return (
        (b"\xc4" in data and (b"\xc4\xb0" in data or b"\xc4\xb1" in data))
        or (b"\xc5" in data and b"\xc5\xbf" in data)
        or (b"\xaa" in data and b"\xe2\x84\xaa" in data)
    )


def _literal_hits(
    data: bytes, haystack: bytes, needle: bytes, limit: int
) -> list[tuple[int, bytes, int]]:
    """:func:`_line_hits` for a literal ``needle`` found with ``bytes.find`` in ``haystack``.

    ``haystack`` is ``data`` itself, or ``data.lower()`` for a case-insensitive search of
    ASCII text (the same length, so offsets agree); lines are taken from ``data``. A
    case-insensitive regex scan is several times slower than lowering once and finding.
    """
    hits: list[tuple[int, bytes, int]] = []
    pos = 0
    line_no = 1
    counted = 0
    size = len(data)
    while len(hits) < limit:
        start = haystack.find(needle, pos)
        if start < 0:
            break
        line_start = data.rfind(b"\n", 0, start) + 1
        line_no += data.count(b"\n", counted, line_start)
        counted = line_start
        line_end = data.find(b"\n", start)
        if line_end < 0:
            line_end = size
        line = data[line_start:line_end]
        if line.endswith(b"\r"):
            line = line[:-1]
        hits.append((line_no, line, start - line_start))
        pos = line_end + 1
    return hits


def _matches_empty_at_the_end(rx: Any) -> bool:
    """Whether ``rx`` (from :func:`_compile_re2`) matches the empty string at the end of some
    text: ripgrep's multiline mode does not report such a match at the end of a file without
    a final line ending (``\\b$`` in "1", ``$``), so ripgrep cannot filter for it. Whatever
    decides it there (``$``, ``\\z``, ``\\b``, ``\\B``; ``^`` only after a line ending, on no
    line) depends on the last character at most: a word character, another, or none."""
    return any(rx.search(text, len(text)) is not None for text in (b"", b"1", b" "))


def _compile_re2(source: str, case_sensitive: bool, *, regex: bool) -> Any:
    """``source`` compiled by RE2 with ``^``/``$`` at line boundaries.

    Raises:
        OpError: ``invalid`` with RE2's reason, and what RE2 lacks (backreferences,
            lookaround), for a pattern it refuses; ``invalid`` for a regex (``regex``) of more
            than ``limits.MAX_REGEX_PROGRAM_SIZE`` instructions.
    """
    options = re2.Options()
    options.log_errors = False  # the reason goes to the peer, not to the hub's stderr
    options.case_sensitive = case_sensitive
    # RE2 compiles (holding the GIL) until its program outgrows this: far past the size cap
    # below at RE2's default 8 MiB (60-80 ms for (?i)\pL{1000}).
    options.max_mem = limits.MAX_REGEX_MEMORY_BYTES
    # Only where a match starts is needed. With groups RE2 must track submatches, which is
    # O(text x program) (1 s per MiB for "(.*){10}"); without, its DFA answers in one pass.
    options.never_capture = True
    try:
        # Built directly, not through re2.compile: its cache would keep 128 patterns of a
        # peer's choosing alive, each with up to 8 MiB of DFA memory.
        compiled = re2._Regexp("(?m)" + source, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        if "pattern too large" in str(reason):  # over MAX_REGEX_MEMORY_BYTES
            raise op_error(
                ErrorCode.INVALID,
                f"the regex is too complex (over {limits.MAX_REGEX_PROGRAM_SIZE} RE2 "
                "instructions); use smaller repeat counts",
            ) from None
        raise op_error(
            ErrorCode.INVALID,
            f"invalid regex: {reason}. Regexes use RE2 syntax: no backreferences (\\1) and "
            "no lookaround ((?=...), (?!...), (?<=...), (?<!...)); write \\z for Python's \\Z",
        ) from None
    if regex and compiled.programsize > limits.MAX_REGEX_PROGRAM_SIZE:
        raise op_error(
            ErrorCode.INVALID,
            f"the regex is too complex ({compiled.programsize} RE2 instructions, the limit is "
            f"{limits.MAX_REGEX_PROGRAM_SIZE}); use smaller repeat counts",
        )
    return compiled


def _compile_glob(glob: str) -> Callable[[str], bool]:
    """A gitignore-style matcher: ``*.py`` matches at any depth, ``src/**/x`` from the start."""
    quick = _glob_filter(glob)
    return lambda rel: quick is not None and quick.match(rel)


def _glob_filter(glob: str) -> _Re2Filter | None:
    """The RE2 filter of :func:`_compile_glob` (None: no path matches)."""
    if not glob.strip():
        raise op_error(ErrorCode.INVALID, "glob is empty; try '*.py' or 'src/**/*.ts'")
    if len(glob) > limits.MAX_SHORT_TEXT_CHARS:
        raise op_error(ErrorCode.INVALID, f"glob is over {limits.MAX_SHORT_TEXT_CHARS} characters")
    line = glob[2:] if glob.startswith("./") else glob
    if line.startswith(("!", "#")):
        line = "\\" + line
    try:
        spec = _Spec([line])
    except Exception as exc:
        raise op_error(ErrorCode.INVALID, f"glob {_q(glob)} is not valid: {exc}") from None
    if spec.quick is _MATCH_ALL:
        raise op_error(ErrorCode.INVALID, f"glob {_q(glob)} is too complex")
    # One pattern, never negated ("!" is escaped above): the path matches the glob exactly
    # when its RE2 filter matches. The spec's own matching is left out: it is Python's re
    # with pathspec before 1.0.
    return spec.quick


def _glob_lines(quick: _Re2Filter) -> tuple[Any, Any] | None:
    """``quick``'s regexes for many paths at once, one a line: the first finds the next line
    ``quick`` matches; the second, anchored there, the run of consecutive such lines, each
    with its ``"\\n"``.

    ``quick`` is matched from each line's start (``^``) under RE2's ``never_nl``, so no part
    of it runs on past a line's end (the same answer as matching the lines one by one); the
    rest of the line is ``[^\\n]*`` and its end ``\\C``, any byte, the one way to name a line
    end that ``never_nl`` lets match. A run is two RE2 calls: a folder of 1,000 matching
    files costs two calls, not 1,000. Two, not one unanchored call for the run: that one
    scans each run again backwards to find where it starts, twice the time. None when RE2
    refuses them.
    """
    options = re2.Options()
    options.log_errors = False
    options.never_capture = True
    options.never_nl = True
    try:
        first = re2._Regexp("(?m)^(?:" + quick.source + ")", options)._regexp
        run = re2._Regexp("(?m)(?:^(?:" + quick.source + r")[^\n]*\C)+", options)._regexp
    except re2.error:
        return None
    return first, run


class SearchOps(WorkspaceBase):
    """Searches of :class:`~letswork.hub.workspace.Workspace`."""

    #: Largest file a search reads (as FileOps.max_text_bytes; issue 16).
    max_text_bytes: int = limits.MAX_TEXT_FILE_BYTES

    #: ``"ripgrep"``: ripgrep picks the files a search reads when it is installed and takes
    #: the pattern (:mod:`~letswork.hub.workspace.ripgrep`); ``"python"``: Python reads every
    #: file (the engine before issue 15; tests and bench compare the two).
    search_engine: Literal["ripgrep", "python"] = "ripgrep"
    #: fewer files than this in a search are read by Python alone (a process costs more)
    rg_min_files: int = ripgrep.RG_MIN_FILES

    def find_files(
        self,
        glob: str,
        *,
        path: str = "",
        max_results: int = 200,
        is_host: bool,
        should_stop: Callable[[], bool] | None = None,
    ) -> tuple[list[str], bool]:
        """Files (and symlinks) under ``path`` whose path matches ``glob``, sorted, and whether
        the list was cut short.

        ``glob`` uses gitignore syntax against the path relative to ``path``: ``*.py`` matches
        at any depth, ``src/*.py`` only directly in ``src``, ``**`` spans folders.
        ``max_results`` is capped at ``limits.MAX_RESULTS``. ``should_stop`` is asked before
        each entry of the walk (with the folder's index on, before each run of matching
        paths and each 64 KiB of paths scanned); when it returns true the walk ends there
        (cut short).

        With the folder's index on, RE2 scans of the peer's :class:`~.index.FileList` replace
        the walk: the same paths, cut at the same place.
        """
        quick = _glob_filter(glob)

        def matches_glob(rel: str) -> bool:
            return quick is not None and quick.match(rel)

        limit = _result_limit(max_results)
        res = self._check(path, is_host=is_host)
        # os.path's answers, not Path's: Path.is_dir and exists raise on EACCES (a path in a
        # folder the hub may not search), which ended the request as an internal error.
        if not os.path.isdir(res.real):
            if not os.path.exists(res.real):
                raise _not_found(res.rel)
            name = res.rel.rsplit("/", 1)[-1]
            return ([res.rel] if matches_glob(name) else []), False
        base = to_relpath(self.root, res.real)
        cut = len(base) + 1 if base else 0
        found: list[str] = []
        stop = should_stop or _never
        index = self.index
        rx = _glob_lines(quick) if quick is not None and index is not None else None
        if index is not None and rx is not None and index.ready:
            index.sync()
            if index.ready and index.holds(base, is_host=is_host):
                listed = index.file_list(is_host=is_host)
                return self._find_listed(listed, rx, base, limit, is_host=is_host, stop=stop)
        for item in self._walk(res, is_host=is_host, max_depth=None, breadth_first=False):
            if stop():
                return sorted(found), True
            if item.kind == "dir" or not matches_glob(item.rel[cut:]):
                continue
            if len(found) >= limit:
                return sorted(found), True
            found.append(item.rel)
        return sorted(found), False

    def _find_listed(
        self,
        listed: FileList,
        rx: tuple[Any, Any],
        base: str,
        limit: int,
        *,
        is_host: bool,
        stop: Callable[[], bool],
    ) -> tuple[list[str], bool]:
        """:meth:`find_files` below folder ``base`` from ``listed``, matched by ``rx`` (from
        :func:`_glob_lines`): two RE2 calls per run of matching lines, in walk order, so a cut
        keeps the same paths a walk keeps."""
        first, whole_run = rx
        text = listed.under(base)
        prefix = base + "/" if base else ""
        symlinks = frozenset() if is_host else listed.symlinks
        found: list[str] = []
        pos, size = 0, len(text)
        while pos < size:
            if stop():
                return sorted(found), True
            # At most a window of whole lines per call: the search for the next matching
            # line, so that should_stop is asked at least once a window (a crafted glob
            # where RE2's DFA gives up costs seconds per MiB of crafted paths), and the run,
            # so that a cut at max_results does not decode the rest of a long run (every
            # path matches "*").
            window = text.find(b"\n", pos + _RUN_WINDOW_BYTES) + 1 or size
            start = first.Match(_UNANCHORED, text, pos, window)[0][0]
            if start < 0:
                pos = window
                continue
            window = text.find(b"\n", start + _RUN_WINDOW_BYTES) + 1 or size
            pos = whole_run.Match(_ANCHOR_START, text, start, window)[0][1]
            if pos <= start:  # cannot be: the line at start matches
                break
            run = text[start : pos - 1].decode("utf-8").split("\n")
            if prefix:
                run = [prefix + rel for rel in run]
            if symlinks:
                run = [rel for rel in run if rel not in symlinks or self._visible(rel)]
            room = limit - len(found)
            if len(run) > room:
                found += run[:room]
                return sorted(found), True
            found += run
        return sorted(found), False

    def _visible(self, rel: str) -> bool:
        return self._symlink_visible(os.path.join(self.root, rel))

    # -- searching -------------------------------------------------------------------------

    def search_files(
        self,
        pattern: str,
        *,
        path: str = "",
        regex: bool = False,
        glob: str | None = None,
        case_sensitive: bool = False,
        max_results: int = 200,
        is_host: bool,
        should_stop: Callable[[], bool] | None = None,
    ) -> SearchFilesResult:
        """Lines matching ``pattern`` in the text files under ``path``, in path order.

        One match per line. ``^`` and ``$`` match at line boundaries. Binary and non-UTF-8
        files and symlinks are skipped silently; so is everything unshared for a guest. Files
        over ``max_text_bytes`` are skipped and said: ``skipped`` names the first
        ``limits.MAX_SEARCH_SKIPPED_NAMED`` (path, size), ``skipped_count`` counts them all.
        ``glob`` filters like :meth:`find_files`. ``max_results`` is capped at
        ``limits.MAX_RESULTS``. ``files_scanned`` counts the text files searched.

        Regular expressions use RE2 (linear time in the text searched, whatever the pattern),
        so no pattern can stall a worker; RE2 has no backreferences and no lookaround.
        ``should_stop`` is asked before each file and folder entry: when it returns true the
        search ends with what it found so far and ``cut_short`` set (a deadline, or the peer
        went away). Thread-safe: it touches only the disk and its arguments.

        Raises:
            OpError: ``invalid`` for an empty or over-long pattern or a regex that RE2 does
                not accept (the message carries RE2's error).
        """
        if not pattern:
            raise op_error(ErrorCode.INVALID, "pattern is empty")
        if len(pattern) > limits.MAX_SHORT_TEXT_CHARS:
            raise op_error(
                ErrorCode.INVALID, f"pattern is over {limits.MAX_SHORT_TEXT_CHARS} characters"
            )
        matches_glob = _compile_glob(glob) if glob is not None else None
        limit = _result_limit(max_results)
        rx = _compile_re2(pattern if regex else re2.escape(pattern), case_sensitive, regex=regex)
        # Literal searches first reject files that cannot match with a plain substring test.
        needle = pattern.encode("utf-8") if not regex and case_sensitive else None
        needle_lower = (
            pattern.lower().encode("ascii")
            if not regex and not case_sensitive and pattern.isascii()
            else None
        )

        fold_risk = needle_lower is not None and any(c in needle_lower for c in b"iks")
        res = self._check(path, is_host=is_host)
        stop = should_stop or _never
        files: Iterator[tuple[str, str, int] | None]
        if os.path.isdir(res.real):  # not Path.is_dir: as in find_files
            base = to_relpath(self.root, res.real)
            walk = self._walk(res, is_host=is_host, max_depth=None, breadth_first=False)
            files = _search_set(walk, len(base) + 1 if base else 0, matches_glob)
        elif os.path.islink(res.lexical) or not os.path.exists(res.real):
            if not os.path.exists(res.real):
                raise _not_found(res.rel)
            files = iter(())
        else:
            name = res.rel.rsplit("/", 1)[-1]
            one = matches_glob is None or matches_glob(name)
            files = iter([(res.rel, str(res.real), -1)] if one else [])

        # Files up to max_text_bytes: a search sends back matches, never a whole file.
        max_bytes = self.max_text_bytes
        rg = ripgrep.find_rg() if self.search_engine == "ripgrep" else None
        rg_pat = ripgrep.rg_pattern(pattern, regex=regex) if rg is not None else None
        if regex and _matches_empty_at_the_end(rx):
            rg_pat = None
        marked: Generator[tuple[str, str, int, bool] | None, None, None]
        if rg is not None and rg_pat is not None:
            marked = ripgrep.candidates(
                rg,
                str(self.root),
                files,
                rg_pat,
                regex=regex,
                case_sensitive=case_sensitive,
                max_bytes=max_bytes,
                stop=stop,
                min_files=self.rg_min_files,
            )
        else:
            marked = (None if f is None else (*f, True) for f in files)

        matches: list[SearchMatch] = []
        skipped = _Skipped()
        scanned = 0
        truncated = False
        cut_short = False
        with closing(marked):
            for found in marked:
                if stop():
                    cut_short = True
                    break
                if found is None:
                    continue
                rel, file_path, size, maybe = found
                if not maybe:
                    # ripgrep read it and found no match; larger files it did not read.
                    scanned += size <= max_bytes
                    if size > max_bytes:
                        self._skip_if_shared(skipped, rel, file_path, max_bytes, is_host=is_host)
                    continue
                read = _read_text(file_path, max_bytes)
                if read is None:
                    self._skip_if_shared(skipped, rel, file_path, max_bytes, is_host=is_host)
                    continue
                data, ident = read
                scanned += 1
                if needle is not None and needle not in data:
                    continue
                lowered = None
                if needle_lower is not None and (
                    data.isascii() or not (fold_risk and _may_fold(data))
                ):
                    # bytes.lower() folds ASCII letters only; that is the whole story unless
                    # the needle has a letter that a non-ASCII character also matches.
                    low = data.lower()
                    if needle_lower not in low:
                        continue
                    lowered = low
                ascii_text = data.isascii()
                if not ascii_text:
                    try:
                        data.decode("utf-8")
                    except UnicodeDecodeError:
                        scanned -= 1
                        continue
                room = limit + 1 - len(matches)
                literal = needle if needle is not None else needle_lower
                haystack = data if needle is not None else lowered
                if literal is not None and haystack is not None:
                    # A literal: bytes.find gives the regex's matches (UTF-8 is
                    # self-synchronising and the case folding above is exact for this needle
                    # and file).
                    hits = _literal_hits(data, haystack, literal, room)
                else:
                    # RE2 compiled from a str runs on UTF-8 bytes: offsets are byte offsets.
                    hits, cut_short = _line_hits(data, rx, room, stop)
                if hits and not self._still_shared(rel, ident, is_host=is_host):
                    scanned -= 1
                    continue
                for line_no, raw, col in hits:
                    line = raw.decode("utf-8")
                    if not ascii_text:
                        # A match may start inside a character: RE2's \C matches any byte.
                        col = len(raw[:col].decode("utf-8", "ignore"))
                    matches.append(SearchMatch(path=rel, line=line_no, text=_clip(line, col)))
                if len(matches) > limit:
                    del matches[limit:]
                    truncated = True
                    break
                if cut_short:
                    break
        return SearchFilesResult(
            matches=matches,
            truncated=truncated,
            files_scanned=scanned,
            cut_short=cut_short,
            skipped=skipped.named,
            skipped_count=skipped.count,
        )

    def _skip_if_shared(
        self, skipped: _Skipped, rel: str, file_path: str, max_bytes: int, *, is_host: bool
    ) -> None:
        """Count (and name) ``rel`` as skipped when it is over ``max_bytes`` and, like a file
        with matches, still shared with the peer (:meth:`_still_shared`): ``skipped`` names
        paths, and a ``.gitignore`` written or a folder swapped since the walk listed it must
        not let a guest learn a hidden name or an outside file's size (issue 16, attacked)."""
        try:
            st = os.stat(file_path, follow_symlinks=False)
        except OSError:
            return
        if not stat.S_ISREG(st.st_mode) or st.st_size <= max_bytes:
            return
        if self._still_shared(rel, (st.st_dev, st.st_ino), is_host=is_host):
            skipped.add(rel, st.st_size)

    def _still_shared(self, rel: str, ident: tuple[int, int], *, is_host: bool) -> bool:
        """Whether the file read as ``ident`` (device, inode) is still at ``rel``, and ``rel``
        still shared with the peer (:meth:`_check`: the policy, git metadata, no symlink out
        of the project), now that it holds matches.

        The file list (the index, or a walk's decision made before the read) may be older
        than the disk: a folder renamed onto a shared one's name, a ``.gitignore`` just
        created, a folder swapped for a symlink out of the project, all before the watcher
        reports them. Only files with matches pay this (their number is capped by
        ``max_results``); the identity check after the policy's means that a swap back
        between the read and the check shows too. The identity is the one the check itself
        found at the path (:attr:`_Resolved.seen`): a lookup of the path after the check
        could go through a folder swapped for a symlink out since.
        """
        try:
            res = self._check(rel, is_host=is_host)
            if res.seen is not None:
                return res.seen == ident
            st = os.lstat(res.lexical)
        except (OpError, OSError, ValueError):
            return False
        return stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) == ident


def _search_set(
    items: Iterator[_Item], cut: int, matches_glob: Callable[[str], bool] | None
) -> Iterator[tuple[str, str, int] | None]:
    """The files of a walk a search reads, as (relpath, path, size or -1), and None for every
    other entry (folders, symlinks, files outside ``glob``), so that a walk of no file still
    reaches the stop checks."""
    for item in items:
        if item.kind != "file" or (matches_glob is not None and not matches_glob(item.rel[cut:])):
            yield None
        else:
            yield item.rel, item.path, item.size


def _result_limit(max_results: int) -> int:
    if max_results < 1:
        raise op_error(ErrorCode.INVALID, "max_results must be 1 or more")
    return min(max_results, limits.MAX_RESULTS)
