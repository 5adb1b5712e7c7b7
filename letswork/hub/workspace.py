"""The hub's file layer on the host's project folder (design section 7).

Everything here is synchronous and knows nothing about peers beyond one boolean, ``is_host``:
the host sees every file, a guest sees only what :class:`SharingRules` shares.

* :func:`safe_join` is the **one** resolver of every path a peer names.
* :class:`SharingRules` decides what guests may see: ``.gitignore`` files (nested ones too),
  the optional ``.letsworkignore`` at the root, and :data:`BUILTIN_DENY` and every ``.git``
  name, which nothing re-includes; a guest's version of an ignore file only narrows
  (:class:`GuestVersion`).
* Git metadata (:mod:`letswork.hub.policy`) is read and written by nobody, the host included:
  walks skip it, reads get ``forbidden`` (``not_shared`` for a guest), and every write, delete
  and move checks it again right before touching the disk.
* :class:`Workspace` lists, reads, searches and writes. Writes are atomic (temporary file in
  the same folder, fsync, rename), keep the file's mode, and never follow a symlink.

Every refusal is an :class:`~letswork.shared.errors.OpError` with a stable code and a short
message that says what to do next. No other exception type escapes a public function here for
a bad path or a disk problem.
"""

from __future__ import annotations

import collections
import difflib
import errno as errno_mod
import hashlib
import itertools
import os
import re
import secrets
import stat
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AnyStr, Literal, NamedTuple

import pathspec
import re2

from letswork.hub.policy import (
    SENSITIVE_PATHS,
    fold_name,
    git_dir_reason,
    git_layout_reason,
    git_metadata_reason,
    is_git_dir,
    is_git_name,
    sensitive_reason,
)
from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError, UsageError, op_error

__all__ = [
    "ABSENT",
    "BUILTIN_DENY",
    "TEMP_PREFIX",
    "FileEntry",
    "FileText",
    "GuestVersion",
    "SearchMatch",
    "SearchResult",
    "SharingRules",
    "Workspace",
    "apply_edit",
    "check_text",
    "ignore_file_ids",
    "safe_join",
    "sha256_hex",
    "to_relpath",
    "unified_diff",
]

#: Paths guests never see, whatever the ignore files say (gitignore syntax, any depth). Every
#: other spelling of ``.git`` (``.GIT``, ``.git.``, ``GIT~1``...) is denied by name as well
#: (:func:`~letswork.hub.policy.is_git_name`), file or folder.
BUILTIN_DENY: tuple[str, ...] = (
    ".git",
    ".letsworkignore",
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
    ".ssh/",
    ".aws/",
    ".netrc",
)

#: Name prefix of the temporary files :meth:`Workspace.write_atomic` creates. Such files are
#: never listed, searched or shared, and :meth:`Workspace.cleanup_temp_files` removes leftovers.
TEMP_PREFIX = ".letswork-tmp-"

_WINDOWS = os.name == "nt"
_GITIGNORE = ".gitignore"
_LETSWORKIGNORE = ".letsworkignore"
#: Longest ``text`` of a :class:`SearchMatch`; longer lines are cut around the match.
_MAX_MATCH_TEXT = 300
#: Ignore files larger than this are read only up to this size.
_MAX_IGNORE_FILE_BYTES = limits.MAX_FILE_BYTES

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNADDRESSABLE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")
_DRIVE = re.compile(r"^[A-Za-z]:")
#: An NTFS 8.3 short name (``PROGRA~1``, ``GITIGN~1``, ``PRE-CO~1.YAM``): an alias of some
#: long name in its folder, so it could name a protected file under another spelling.
_SHORT_NAME = re.compile(r"[^.~]{0,7}~[0-9]{1,7}(\.[^.]{0,3})?")
_NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)

_O_BINARY = getattr(os, "O_BINARY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | _O_BINARY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY | _O_NOFOLLOW | _O_CLOEXEC


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def _human_size(n: int) -> str:
    """``2.3 MiB``, ``1 MiB``, ``12 KiB``, ``17 bytes``."""
    if n < limits.KiB:
        return f"{n} bytes"
    value, unit = (n / limits.MiB, "MiB") if n >= limits.MiB else (n / limits.KiB, "KiB")
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return f"{text} {unit}"


def _q(path: str) -> str:
    """A path quoted for a message, control characters escaped, clipped to 200 characters."""
    text = repr(path)
    return text if len(text) <= 200 else text[:197] + "..."


def _too_large(size: int, max_bytes: int) -> OpError:
    return op_error(
        ErrorCode.TOO_LARGE,
        f"file is {_human_size(size)}; the limit is {_human_size(max_bytes)}",
        size=size,
        limit=max_bytes,
    )


def check_text(content: bytes, *, max_bytes: int) -> str:
    """Decode ``content`` as a letswork text file, or refuse it.

    Raises:
        OpError: ``too_large`` over ``max_bytes``; ``binary_file`` with a NUL byte or
            bytes that are not UTF-8.
    """
    if len(content) > max_bytes:
        raise _too_large(len(content), max_bytes)
    if b"\x00" in content:
        raise op_error(
            ErrorCode.BINARY_FILE,
            "file contains NUL bytes; only UTF-8 text files can be shared",
        )
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise op_error(
            ErrorCode.BINARY_FILE,
            f"file is not UTF-8 text (byte 0x{content[exc.start]:02x} at offset {exc.start}); "
            "only UTF-8 text files can be shared",
        ) from None


def _not_found(rel: str) -> OpError:
    return op_error(
        ErrorCode.NOT_FOUND,
        f"{_q(rel)} does not exist; use list_files or find_files to see what is there",
    )


def _disk_error(exc: OSError, rel: str, action: str) -> OpError:
    """Map an ``OSError`` from an operation on ``rel`` to the matching :class:`OpError`."""
    code = exc.errno
    name = errno_mod.errorcode.get(code, "") if code is not None else ""
    if code == errno_mod.ENOENT:
        return _not_found(rel)
    if code == errno_mod.ENOTDIR:
        return op_error(ErrorCode.NOT_FOUND, f"{_q(rel)} does not exist: a parent is a file")
    if code == errno_mod.EISDIR:
        return op_error(ErrorCode.NOT_A_FILE, f"{_q(rel)} is a directory, not a file")
    if code == errno_mod.ELOOP:
        return op_error(ErrorCode.INVALID, f"{_q(rel)} goes through a symlink loop")
    if code == errno_mod.ENAMETOOLONG:
        return op_error(ErrorCode.INVALID, f"{_q(rel)} is too long for the host's filesystem")
    reason = os.strerror(code).lower() if code is not None else str(exc).lower()
    return op_error(
        ErrorCode.DISK_ERROR,
        f"could not {action} {_q(rel)}: {reason}",
        errno=name,
    )


def _fsync_dir(path: str | Path) -> None:
    """Best-effort fsync of a directory so a rename or unlink in it is durable."""
    if _WINDOWS:  # pragma: no cover - directories cannot be opened for fsync on Windows
        return
    try:
        fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_fd(fd: int, limit: int, expected: int) -> bytes:
    """Read up to ``limit`` bytes from ``fd``: to EOF, or until exactly the ``expected`` bytes
    (fstat's size) arrived; a file that grew meanwhile is read on to EOF or ``limit``."""
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        # os.read allocates the whole request up front: ask for what fstat promised, plus one
        # byte to see growth, not for ``limit`` (a 1 MiB buffer per small file halved search).
        want = limit - total if total > expected else min(limit - total, expected - total + 1)
        chunk = os.read(fd, want)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total == expected:
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _addressable(name: str) -> bool:
    """Whether a directory entry's name could be named in a request (safe_join accepts it)."""
    if _UNADDRESSABLE_NAME.search(name):
        return False
    if not name.isascii():
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes in a POSIX file name
            return False
    return not (_WINDOWS and not _windows_name_ok(name))


def _windows_name_ok(name: str) -> bool:
    """Whether Windows stores ``name`` as itself: no stream suffix, no trailing dot or space
    (dropped), no device name, and no 8.3 short-name form (``GIT~1`` may name ``.git``)."""
    if ":" in name or name.endswith((".", " ")):
        return False
    if _SHORT_NAME.fullmatch(name):
        return False
    return name.split(".")[0].strip().upper() not in _WINDOWS_RESERVED


# --------------------------------------------------------------------------------------------
# safe_join
# --------------------------------------------------------------------------------------------


def _split_relpath(relpath: str) -> list[str]:
    """Validate a request path and return its components (``""`` and ``"."`` dropped)."""
    if not isinstance(relpath, str):
        raise op_error(ErrorCode.INVALID, "path must be a string")
    if len(relpath) > limits.MAX_PATH_CHARS:
        raise op_error(
            ErrorCode.INVALID,
            f"path is {len(relpath)} characters; the limit is {limits.MAX_PATH_CHARS}",
        )
    if _CONTROL.search(relpath):
        raise op_error(
            ErrorCode.INVALID, f"path {_q(relpath)} contains a NUL or other control character"
        )
    try:
        relpath.encode("utf-8")
    except UnicodeEncodeError:
        raise op_error(ErrorCode.INVALID, f"path {_q(relpath)} is not valid Unicode") from None
    if "\\" in relpath:
        raise op_error(
            ErrorCode.INVALID,
            f"path {_q(relpath)} contains a backslash; use '/' between folders",
        )
    if relpath.startswith("/"):
        raise op_error(
            ErrorCode.INVALID,
            f"path {_q(relpath)} is absolute; give it relative to the project root",
        )
    if _DRIVE.match(relpath):
        raise op_error(
            ErrorCode.INVALID,
            f"path {_q(relpath)} has a drive letter; give it relative to the project root",
        )
    parts = [part for part in relpath.split("/") if part not in ("", ".")]
    for part in parts:
        if part == "..":
            raise op_error(
                ErrorCode.INVALID,
                f"path {_q(relpath)} contains '..'; give the path from the project root",
            )
        if len(part.encode("utf-8")) > limits.MAX_NAME_BYTES:
            raise op_error(
                ErrorCode.INVALID,
                f"a name in path {_q(relpath)} is over {limits.MAX_NAME_BYTES} bytes",
            )
        if _WINDOWS and not _windows_name_ok(part):  # pragma: no cover - Windows only
            raise op_error(ErrorCode.INVALID, f"path {_q(relpath)} has a name Windows cannot store")
    return parts


@dataclass(frozen=True)
class _Resolved:
    """A checked path: its normalised relpath, the joined path, and where it really leads."""

    rel: str  # "/"-joined components, "" for the root
    lexical: Path  # root joined with the components; symlinks not followed
    real: Path  # os.path.realpath(lexical); inside root


def _resolve(root: Path, relpath: str) -> _Resolved:
    parts = _split_relpath(relpath)
    rel = "/".join(parts)
    lexical = root.joinpath(*parts)
    try:
        real = Path(os.path.realpath(lexical))
    except (OSError, ValueError):
        raise op_error(ErrorCode.INVALID, f"path {_q(rel)} cannot be resolved") from None
    if not real.is_relative_to(root):
        raise op_error(
            ErrorCode.INVALID,
            f"path {_q(rel)} leads outside the project through a symlink",
        )
    try:
        os.stat(lexical)
    except OSError as exc:
        if exc.errno == errno_mod.ELOOP:
            raise op_error(
                ErrorCode.INVALID, f"path {_q(rel)} goes through a symlink loop"
            ) from None
        # Missing paths are fine here (a write may create them); the operation reports them.
    return _Resolved(rel, lexical, real)


def safe_join(root: Path, relpath: str) -> Path:
    """Resolve a peer's ``relpath`` under ``root``: the one resolver of every path.

    ``root`` must be an absolute, resolved directory. ``relpath`` uses ``/`` between names;
    ``""`` and ``"."`` name the root, and empty or ``.`` components are dropped.

    Returns:
        The resolved absolute path (``os.path.realpath``), which is ``root`` or inside it.
        The path need not exist.

    Raises:
        OpError: ``invalid`` for an absolute path, a drive letter or UNC form, a backslash,
            a NUL or other control character, any ``..`` component, a name over 255 bytes, a
            path over ``limits.MAX_PATH_CHARS`` characters, a symlink (the path itself or a
            parent) that leads outside ``root``, or a symlink loop.
    """
    return _resolve(root, relpath).real


def to_relpath(root: Path, abspath: Path) -> str:
    """The ``/``-separated path of ``abspath`` relative to ``root`` (``""`` for the root).

    Raises:
        OpError: ``invalid`` when ``abspath`` is not inside ``root``.
    """
    try:
        rel = abspath.relative_to(root)
    except ValueError:
        raise op_error(ErrorCode.INVALID, "path is outside the project") from None
    return "/".join(rel.parts)


# --------------------------------------------------------------------------------------------
# Sharing rules
# --------------------------------------------------------------------------------------------


class _Spec:
    """A compiled gitignore spec plus one combined regex that rejects non-matches quickly.

    The quick filter runs on RE2, never on Python's ``re``, and a glob (a peer's pattern, in
    ``find_files`` and ``search_files``) is matched by it alone: ``re`` backtracks on some
    (``*?*?*?*?*?*?*?*?*?*?x`` took 28 s on one 43-character name) while holding the GIL,
    which stalls the event loop too.
    """

    __slots__ = ("quick", "spec")

    def __init__(self, lines: Sequence[str]) -> None:
        try:
            self.spec = pathspec.GitIgnoreSpec.from_lines(lines)
        except Exception:
            # pathspec matches on RE2 once google-re2 is installed, and RE2 refuses a set of
            # some 4,000 patterns: an ignore file that big must still hide what it names.
            self.spec = pathspec.GitIgnoreSpec.from_lines(lines, backend="simple")
        alternatives = [
            "(?:" + _NAMED_GROUP.sub("(?:", pattern.regex.pattern) + ")"
            for pattern in self.spec.patterns
            if pattern.include is not None and pattern.regex is not None
        ]
        #: RE2, or _MATCH_ALL when RE2 cannot take them all: then the spec alone decides.
        self.quick: _Re2Filter | None = (
            (_re2_filter("|".join(alternatives)) or _MATCH_ALL) if alternatives else None
        )

    def check(self, path: str) -> bool | None:
        """True: last match ignores ``path``; False: last match re-includes it; None: no match.

        ``path`` is relative to the ignore file's folder, with a trailing ``/`` for a folder.
        """
        if self.quick is None or not self.quick.match(path):
            return None
        return self.spec.check_file(path).include


class _Re2Filter:
    """A regex on RE2 that only answers whether it matches at the start of a path, through
    RE2's own call: the Python wrapper's generator and offset decoding cost twice as much as
    the match (0.8 µs against ``re``'s 1.4 µs for the built-in denies)."""

    __slots__ = ("_rx",)

    def __init__(self, source: str) -> None:
        options = re2.Options()
        options.log_errors = False
        options.never_capture = True
        self._rx = re2._Regexp(source, options)._regexp  # raises re2.error if refused

    def match(self, path: str) -> bool:
        data = path.encode("utf-8", "surrogateescape")
        return bool(self._rx.Match(_ANCHOR_START, data, 0, len(data))[0] != _NO_MATCH)


_ANCHOR_START = re2._Anchor.ANCHOR_START
_NO_MATCH = re2._NULL_SPAN


def _re2_filter(source: str) -> _Re2Filter | None:
    """``source`` as a :class:`_Re2Filter`, or None when RE2 refuses it (too big)."""
    try:
        return _Re2Filter(source)
    except re2.error:
        return None


#: A quick filter that passes every path (the empty regex matches at the start of any).
_MATCH_ALL = _Re2Filter("")


#: (folder relpath, spec of its .gitignore on disk, spec of the host's version), root first.
#: The two specs are the same object unless a guest wrote the file on disk (GuestVersion).
_Chain = tuple[tuple[str, "_Spec | None", "_Spec | None"], ...]
#: The spec of ``.letsworkignore`` on disk and of the host's version, or None (the host).
_Extra = tuple["_Spec | None", "_Spec | None"] | None

#: The sha256 that :class:`GuestVersion` records for "no such file" (a guest deleted it).
ABSENT = "absent"
#: The "sha256" of an ignore file that could not be read to the end: it may be a guest's
#: version, so a recorded one keeps applying (fail closed).
_UNREADABLE = "unreadable"
_ABSENT_IDS = frozenset({ABSENT})
_UNREADABLE_IDS = frozenset({_UNREADABLE})
#: Prefix of :class:`_LinesDigest` hex digests among a :class:`GuestVersion`'s identifiers.
_LINES = "lines:"
_BOM = b"\xef\xbb\xbf"
_TRAILING_BLANKS = re.compile(rb"[ \t\x0b\x0c]+(?=\n)")
_BLANK_LINES = re.compile(rb"\n\n+")


class _LinesDigest:
    """The sha256 of an ignore file's lines as formatters leave them (found attacking issue 13).

    pre-commit's end-of-file-fixer, trailing-whitespace, mixed-line-ending and
    fix-byte-order-marker, and editors on save, rewrite a file without anyone reading it. A
    guest who wrote a version they will touch had the host's next commit take it for the
    host's own. So a guest's version is also known by this digest, which ignores a leading
    BOM, the kind of line ending, trailing blanks and blank lines: a rewrite that changes
    only those leaves the version the guest's (and only narrows what guests see). Fed in
    chunks, so a file of any size is digested whole.
    """

    __slots__ = ("_carry", "_digest", "_first")

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._carry = b""
        self._first = True

    def update(self, chunk: bytes) -> None:
        data = self._carry + chunk
        if self._first:
            if len(data) < len(_BOM) and _BOM.startswith(data):
                self._carry = data  # maybe a BOM cut between chunks
                return
            self._first = False
            data = data.removeprefix(_BOM)
        cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        self._carry = data[cut:]
        # Whole lines, normalised by C-level passes (a line at a time cost ~60 ms per MiB of
        # short lines): one line ending, no trailing blanks, no blank lines.
        block = _TRAILING_BLANKS.sub(b"", data[:cut].replace(b"\r", b"\n"))
        self._digest.update(_BLANK_LINES.sub(b"\n", block).lstrip(b"\n"))

    def hexdigest(self) -> str:
        last = self._carry.rstrip(b" \t\x0b\x0c")
        if last:
            self._digest.update(last + b"\n")
        self._carry = b""
        return _LINES + self._digest.hexdigest()


def ignore_file_ids(content: bytes) -> frozenset[str]:
    """How :class:`GuestVersion` knows ``content`` as an ignore file on disk: its sha256 and
    its :class:`_LinesDigest`."""
    lines = _LinesDigest()
    lines.update(content)
    return frozenset({sha256_hex(content), lines.hexdigest()})


@dataclass(frozen=True)
class GuestVersion:
    """An ignore file whose version on disk a guest wrote (issue 13, item 2).

    ``guest_shas``: how the guest's version is known (:func:`ignore_file_ids`: its sha256,
    and the digest of its lines as formatters leave them), or :data:`ABSENT` when the guest
    deleted the file or moved it away; while the file on disk hashes to one of them, the
    version on disk is the guest's. Two versions at most: the one on disk when the guest's
    change was recorded, and the one it writes, so a write that fails or a crash between the
    record and the write never turns a guest's version into the host's. ``host_content``: the
    file as the host last wrote it (None: the host had no such file).
    """

    guest_shas: frozenset[str]
    host_content: bytes | None


class _Records(NamedTuple):
    """Guests' versions of ignore files: by key (with the host version's spec), and the keys
    by :func:`_fold_key`, to find a record made under another spelling of the same folder."""

    exact: dict[str, tuple[GuestVersion, _Spec | None]]
    folded: dict[str, tuple[str, ...]]


def _fold_key(key: str) -> str:
    """``key`` with every name folded (:func:`~letswork.hub.policy.fold_name`): coarser than
    any filesystem's idea of one name, so two spellings of one folder always fold alike."""
    return "/".join(fold_name(part) for part in key.split("/"))


def _records(exact: dict[str, tuple[GuestVersion, _Spec | None]]) -> _Records:
    folded: dict[str, tuple[str, ...]] = {}
    for key in exact:
        fkey = _fold_key(key)
        folded[fkey] = (*folded.get(fkey, ()), key)
    return _Records(exact, folded)


def _is_guests(ids: frozenset[str], version: GuestVersion) -> bool:
    """Whether a file on disk known by ``ids`` is ``version``'s (an unreadable one may be)."""
    return not ids.isdisjoint(version.guest_shas) or _UNREADABLE in ids


def _same_folder(path: str, other: str) -> bool:
    """Whether the files ``path`` and ``other`` would sit in one folder on disk."""
    try:
        return os.path.samestat(os.stat(os.path.dirname(path)), os.stat(os.path.dirname(other)))
    except OSError:
        return False


def _detect_case_insensitive(root: Path) -> bool:
    """Whether the filesystem holding ``root`` compares names without case."""
    candidates = [root]
    with suppress(OSError), os.scandir(root) as it:
        candidates.extend(Path(entry.path) for _, entry in zip(range(64), it, strict=False))
    for path in candidates:
        name = path.name
        swapped = name.swapcase()
        if swapped == name:
            continue
        try:
            return os.path.samestat(os.lstat(path), os.lstat(path.with_name(swapped)))
        except OSError:
            return False
    return sys.platform in ("darwin", "win32")


class SharingRules:
    """What a guest may see: ignore files plus :data:`BUILTIN_DENY` and git metadata.

    Order of precedence, lowest first: ``.gitignore`` files from the root down to the file's
    folder (a deeper file wins, as in git), then ``root/.letsworkignore`` (its ``!`` lines can
    re-include a gitignored file), then the built-in denies and every ``.git`` name
    (:func:`~letswork.hub.policy.is_git_name`), which always win. A path inside an unshared
    folder is unshared whatever any later line says (as in git). Ignore files are re-read when
    their size, mtime or inode changes, so edits apply without a restart. An ignore file that
    is a symlink into the project is not read (as git does not): a guest could write its
    target under another name. One leading outside the project is followed.

    **Guests cannot widen what they see** (issue 13, item 2). An ignore file a guest wrote is
    recorded as a :class:`GuestVersion` (:meth:`put_guest_version`); while it is on disk, a
    path is shared only if it is shared both under the ignore files on disk and under the
    host's versions of them. A guest's write can so only narrow what guests see, even one the
    host approved; once the host writes the file (through the hub or in its own editor), the
    version on disk is the host's again.

    On a case-insensitive filesystem (detected, or forced with ``case_insensitive``) patterns
    and paths are compared in lower case, so ``SECRET.TXT`` cannot dodge ``secret.txt``. The
    built-in denies always compare in lower case.
    """

    def __init__(self, root: Path, *, case_insensitive: bool | None = None) -> None:
        self.root = root
        self.case_insensitive = (
            _detect_case_insensitive(root) if case_insensitive is None else case_insensitive
        )
        self._builtin = _Spec(BUILTIN_DENY)
        self._cache: dict[
            str, tuple[tuple[int, int, int] | None, _Spec | None, frozenset[str]]
        ] = {}
        # Replaced whole on every change (never mutated), so worker threads read a snapshot.
        self._guest = _Records({}, {})
        self.reload()

    def reload(self) -> None:
        """Forget every cached ignore file; the next check reads them again."""
        self._cache = {}

    # -- guests' versions of ignore files --------------------------------------------------

    def ignore_file_key(self, relpath: str) -> str | None:
        """The key under which the ignore file at ``relpath`` is recorded, or None when the
        rules do not read a file there (``.gitignore`` at any depth, ``.letsworkignore`` at the
        root). On a case-insensitive filesystem every spelling of one file has one key."""
        folder, _, name = relpath.rpartition("/")
        if self.case_insensitive:
            name = fold_name(name)
            folder = folder.lower()
        if name == _GITIGNORE:
            return f"{folder}/{_GITIGNORE}" if folder else _GITIGNORE
        if name == _LETSWORKIGNORE and not folder:
            return _LETSWORKIGNORE
        return None

    def record_key(self, relpath: str) -> str | None:
        """The key to record a guest's change to the ignore file at ``relpath`` under: the key
        of the record the file already has, whatever spelling of its folder that record was
        made with (APFS and HFS+ take ``café`` composed and decomposed for one folder), else
        :meth:`ignore_file_key`. None when the rules do not read a file there."""
        key = self.ignore_file_key(relpath)
        if key is None:
            return None
        found = self._record_of(self._guest, key, os.path.join(self.root, key))
        return key if found is None else found[0]

    def set_guest_versions(self, versions: Mapping[str, GuestVersion]) -> None:
        """Replace every recorded guest version (the store's, when the hub starts)."""
        self._guest = _records(
            {key: (gv, self._parse(gv.host_content)) for key, gv in versions.items()}
        )

    def put_guest_version(self, key: str, version: GuestVersion) -> None:
        """Record that a guest's change writes (or deletes) the ignore file ``key`` (from
        :meth:`record_key`); call it before the change reaches the disk."""
        entry = (version, self._parse(version.host_content))
        self._guest = _records({**self._guest.exact, key: entry})

    def drop_guest_version(self, key: str) -> None:
        """The host wrote ``key``: its version on disk is the host's."""
        if key in self._guest.exact:
            self._guest = _records({k: v for k, v in self._guest.exact.items() if k != key})

    def guest_versions(self) -> dict[str, GuestVersion]:
        """Every recorded guest version, whether or not it is still on disk."""
        return {key: gv for key, (gv, _) in self._guest.exact.items()}

    def guest_version(self, key: str) -> GuestVersion | None:
        """The guest version of ``key`` if it is what is on disk now (reads the file when it
        changed since it was last read), else None."""
        found = self._guest.exact.get(key)
        if found is None:
            return None
        _, ids = self._load("k:" + key, os.path.join(self.root, key))
        return found[0] if _is_guests(ids, found[0]) else None

    def _record_of(
        self, records: _Records, key: str, path: str
    ) -> tuple[str, tuple[GuestVersion, _Spec | None]] | None:
        """The record of the ignore file at ``path`` (key ``key``), and its key: the record
        made under ``key``, or under another spelling of its folder (same folded key,
        :func:`_fold_key`, and the same folder on disk)."""
        found = records.exact.get(key)
        if found is not None:
            return key, found
        if not records.folded:
            return None
        for other in records.folded.get(_fold_key(key), ()):
            if other != key and _same_folder(os.path.join(self.root, other), path):
                return other, records.exact[other]
        return None

    def disk_state(self, relpath: str) -> tuple[bytes | None, frozenset[str]]:
        """The ignore file ``relpath`` (a key) as the rules read it now: the bytes they parse
        (None when absent; at most ``MAX_FILE_BYTES``) and how a :class:`GuestVersion` knows
        the whole file (:func:`ignore_file_ids`; :data:`ABSENT` when absent). Also reads the
        source of a move onto an ignore file."""
        read = self._read_ignore(os.path.join(self.root, relpath))
        return (None, _ABSENT_IDS) if read is None else read

    # -- loading ---------------------------------------------------------------------------

    def _read_ignore(self, path: str) -> tuple[bytes, frozenset[str]] | None:
        """The bytes the rules parse of the ignore file at ``path`` (its first
        ``MAX_FILE_BYTES``) and the ids of all of it (:func:`ignore_file_ids`), or None:
        absent, not a regular file, or a symlink that stays inside the project (a guest could
        write its target). The ids cover the whole file, so a guest's version longer than what
        is parsed (a move of a large file) is still recognised as the guest's."""
        try:
            if os.path.islink(path):
                real = Path(os.path.realpath(path))
                if real.is_relative_to(self.root):
                    return None
            fd = os.open(path, _READ_FLAGS & ~_O_NOFOLLOW)
        except (OSError, ValueError):
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            data = _read_fd(fd, _MAX_IGNORE_FILE_BYTES, st.st_size)
            digest = hashlib.sha256(data)
            lines = _LinesDigest()
            lines.update(data)
            while chunk := os.read(fd, 1 << 20):
                digest.update(chunk)
                lines.update(chunk)
            return data, frozenset({digest.hexdigest(), lines.hexdigest()})
        except OSError:
            return b"", _UNREADABLE_IDS
        finally:
            os.close(fd)

    def _parse(self, data: bytes | None) -> _Spec | None:
        if data is None:
            return None
        text = data.decode("utf-8", errors="replace")
        if self.case_insensitive:
            text = text.lower()
        try:
            return _Spec(text.splitlines())
        except Exception:  # a broken ignore file shares nothing more than an empty one
            return None

    def _load(self, key: str, path: str) -> tuple[_Spec | None, frozenset[str]]:
        """The spec of the ignore file at ``path`` (cached under ``key``) or None, and its ids
        (:func:`ignore_file_ids`; :data:`ABSENT` when there is none)."""
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                st = os.stat(path)
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            self._cache[key] = (None, None, _ABSENT_IDS)
            return None, _ABSENT_IDS
        sig = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == sig:
            return cached[1], cached[2]
        read = self._read_ignore(path)
        data, ids = (None, _ABSENT_IDS) if read is None else read
        spec = self._parse(data)
        self._cache[key] = (sig, spec, ids)
        return spec, ids

    def _pair(self, key: str, path: str, record: str) -> tuple[_Spec | None, _Spec | None]:
        """(spec on disk, spec of the host's version) of one ignore file."""
        spec, ids = self._load(key, path)  # the disk first: a record is put before its write
        found = self._record_of(self._guest, record, path)
        if found is None or not _is_guests(ids, found[1][0]):
            return spec, spec
        return spec, found[1][1]

    def _dir_pair(self, dir_rel: str) -> tuple[_Spec | None, _Spec | None]:
        """The specs of ``dir_rel/.gitignore`` (``dir_rel`` is ``""`` for the root)."""
        folder = os.path.join(self.root, dir_rel) if dir_rel else str(self.root)
        record = self.ignore_file_key(f"{dir_rel}/{_GITIGNORE}" if dir_rel else _GITIGNORE)
        assert record is not None
        return self._pair("g:" + dir_rel, os.path.join(folder, _GITIGNORE), record)

    def _letsworkignore(self) -> tuple[_Spec | None, _Spec | None]:
        return self._pair("l:", os.path.join(self.root, _LETSWORKIGNORE), _LETSWORKIGNORE)

    def _root_chain(self) -> _Chain:
        disk, host = self._dir_pair("")
        return (("", disk, host),) if disk is not None or host is not None else ()

    def _child_chain(self, chain: _Chain, dir_rel: str) -> _Chain:
        """The chain for entries of folder ``dir_rel``, given the chain of its own entry."""
        disk, host = self._dir_pair(dir_rel)
        if disk is None and host is None:
            return chain
        return (*chain, (dir_rel.lower() if self.case_insensitive else dir_rel, disk, host))

    # -- deciding --------------------------------------------------------------------------

    def _decide(self, rel: str, is_dir: bool, chain: _Chain, extra: _Extra) -> bool:
        """Whether ``rel`` is shared, given that its parent folders are: not ignored under
        the ignore files on disk, nor under the host's versions of them."""
        name = rel.rsplit("/", 1)[-1]
        if name.startswith(TEMP_PREFIX) or is_git_name(name):
            return False
        lowered = rel.lower()
        probe_low = lowered + "/" if is_dir else lowered
        if self._builtin.check(probe_low):
            return False
        probe = probe_low if self.case_insensitive else (rel + "/" if is_dir else rel)
        on_disk: bool | None = None
        by_host: bool | None = None
        for base, disk, host in chain:
            sub = probe[len(base) + 1 :] if base else probe
            result = disk.check(sub) if disk is not None else None
            if result is not None:
                on_disk = result
            if host is not disk:
                result = host.check(sub) if host is not None else None
            if result is not None:
                by_host = result
        if extra is not None:
            disk, host = extra
            result = disk.check(probe) if disk is not None else None
            if result is not None:
                on_disk = result
            if host is not disk:
                result = host.check(probe) if host is not None else None
            if result is not None:
                by_host = result
        return not on_disk and not by_host

    def is_shared(self, relpath: str, *, is_dir: bool = False) -> bool:
        """Whether guests may see ``relpath`` (``/``-separated, relative to the root).

        False for a built-in deny, a ``.git`` name, a gitignored or letsworkignored path (on
        disk, or in the host's version of an ignore file a guest wrote), or anything inside
        an unshared folder. The root itself is shared.
        """
        parts = [part for part in relpath.split("/") if part not in ("", ".")]
        chain = self._root_chain()
        extra = self._letsworkignore()
        for index in range(len(parts)):
            rel = "/".join(parts[: index + 1])
            last = index == len(parts) - 1
            if not self._decide(rel, is_dir if last else True, chain, extra):
                return False
            if not last:
                chain = self._child_chain(chain, rel)
        return True

    def chain_for(self, dir_rel: str) -> _Chain:
        """The ``.gitignore`` chain that applies to entries of folder ``dir_rel``."""
        parts = [part for part in dir_rel.split("/") if part]
        chain = self._root_chain()
        for index in range(len(parts)):
            chain = self._child_chain(chain, "/".join(parts[: index + 1]))
        return chain


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    """One listed path. ``size`` is the file's size in bytes; 0 for folders and symlinks."""

    path: str
    kind: Literal["file", "dir", "symlink"]
    size: int


@dataclass(frozen=True)
class FileText:
    """A page of a text file.

    ``offset`` is the 0-based index of the first line returned, ``lines`` how many were
    returned, ``total_lines`` how many the file has; ``sha256`` and ``size`` describe the
    whole file; ``truncated`` is True when lines follow the page.
    """

    path: str
    text: str
    sha256: str
    offset: int
    lines: int
    total_lines: int
    size: int
    truncated: bool


@dataclass(frozen=True)
class SearchMatch:
    """One matching line: ``line`` is 1-based; ``text`` is the line without its newline."""

    path: str
    line: int
    text: str


@dataclass(frozen=True)
class SearchResult:
    """``cut_short``: the search stopped early (deadline, or its peer went away), so files
    after the last one scanned were not searched."""

    matches: list[SearchMatch]
    truncated: bool
    files_scanned: int
    cut_short: bool = False


class _Item(NamedTuple):
    rel: str
    path: str  # absolute path on disk (not resolved)
    name: str
    kind: Literal["file", "dir", "symlink"]
    entry: os.DirEntry[str]


# --------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------


def _count_lines(text: AnyStr) -> int:
    """Lines in ``text``: split on ``\\n`` only; a final line without ``\\n`` counts."""
    if not text:
        return 0
    nl = "\n" if isinstance(text, str) else b"\n"
    return text.count(nl) + (0 if text.endswith(nl) else 1)


def _split_lines(text: str) -> list[str]:
    """``text`` split after each ``\\n`` (line ends kept, ``\\r\\n`` stays in its line)."""
    lines = [line + "\n" for line in text.split("\n")]
    last = lines.pop()[:-1]
    if last:
        lines.append(last)
    return lines


#: Characters (or bytes) counted at a time while looking for the end of a page.
_PAGE_SCAN = 1 << 16


def _page(text: AnyStr, offset: int, limit: int | None, total: int) -> tuple[AnyStr, int]:
    """Lines ``offset`` to ``offset + limit`` of ``text`` (of ``total`` lines) and their count.

    Raises:
        OpError: ``invalid`` for an ``offset`` past ``total``.

    Splits only as far as the page ends and cuts the page out of ``text`` in one slice: a
    2000-line page of a 1 MiB file no longer splits and re-joins every line of it. The split
    runs on a prefix that holds the page, found by counting line ends 64 Ki at a time, since
    the last part of a split is a copy of the rest of the text (~0.3 ms per MiB).
    """
    if offset > total:
        raise op_error(
            ErrorCode.INVALID,
            f"offset {offset} is past the end of the file ({total} lines)",
            total_lines=total,
        )
    if offset == 0 and (limit is None or limit >= total):
        return text, total
    stop = total if limit is None else min(total, offset + limit)
    nl: AnyStr = "\n" if isinstance(text, str) else b"\n"
    bound, seen = 0, 0
    while seen < stop and bound < len(text):
        seen += text.count(nl, bound, bound + _PAGE_SCAN)
        bound += _PAGE_SCAN
    parts = text[:bound].split(nl, stop)
    start = min(len(text), sum(map(len, parts[:offset])) + offset)
    end = min(len(text), start + sum(map(len, parts[offset:stop])) + (stop - offset))
    return text[start:end], stop - offset


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


def _never() -> bool:
    return False


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
    quick = spec.quick
    return lambda rel: quick is not None and quick.match(rel)


# --------------------------------------------------------------------------------------------
# Edits and diffs
# --------------------------------------------------------------------------------------------


def apply_edit(text: str, old: str, new: str, *, replace_all: bool) -> str:
    """Replace the exact string ``old`` with ``new`` in ``text``.

    Raises:
        OpError: ``invalid`` when ``old`` is empty or equals ``new``; ``no_match`` when ``old``
            does not occur; ``ambiguous`` when it occurs more than once and ``replace_all`` is
            false (``data["count"]`` holds the count).
    """
    if not old:
        raise op_error(ErrorCode.INVALID, "old_string is empty; give the exact text to replace")
    if old == new:
        raise op_error(ErrorCode.INVALID, "old_string and new_string are identical; nothing to do")
    count = text.count(old)
    if count == 0:
        hint = ""
        if "\r\n" in text and "\n" in old and "\r\n" not in old:
            hint = " (the file uses CRLF line endings)"
        raise op_error(
            ErrorCode.NO_MATCH,
            f"old_string was not found in the file{hint}; re-read the file and copy the text "
            "exactly, including whitespace",
        )
    if count > 1 and not replace_all:
        raise op_error(
            ErrorCode.AMBIGUOUS,
            f"old_string occurs {count} times; add surrounding lines to make it unique, "
            "or set replace_all",
            count=count,
        )
    return text.replace(old, new) if replace_all else text.replace(old, new, 1)


def _one_sided_diff(from_file: str, to_file: str, text: str, sign: str) -> str:
    """What difflib gives for a create or delete (every line added or removed), built directly:
    difflib's matcher costs milliseconds per 10 KiB and finds nothing here. The lines are
    prefixed with one ``replace`` rather than split and joined (1 MiB: ~1 ms, not ~6)."""
    body = sign + text.replace("\n", "\n" + sign)
    if text.endswith("\n"):
        body = body[:-1]  # no sign after the last line ending
    else:
        body += "\n\\ No newline at end of file\n"
    return _one_sided_header(from_file, to_file, text, sign) + body


def _one_sided_header(from_file: str, to_file: str, text: str, sign: str) -> str:
    """The three header lines of :func:`_one_sided_diff` (the hunk counts all of ``text``)."""
    n = _count_lines(text)
    span = "1" if n == 1 else f"1,{n}"
    hunk = f"@@ -0,0 +{span} @@\n" if sign == "+" else f"@@ -{span} +0,0 @@\n"
    return f"--- {from_file}\n+++ {to_file}\n{hunk}"


def unified_diff(
    path: str, old: str | None, new: str | None, *, new_path: str | None = None
) -> str:
    """A unified diff from ``old`` to ``new`` with ``a/path`` and ``b/path`` headers.

    ``old=None`` is a create (``--- /dev/null``), ``new=None`` a delete (``+++ /dev/null``),
    ``new_path`` a move. A last line without a newline is marked the way git marks it. An
    unchanged file at the same path gives ``""``; a create, delete or move always has headers.
    """
    from_file = "/dev/null" if old is None else f"a/{path}"
    to_file = "/dev/null" if new is None else f"b/{new_path if new_path is not None else path}"
    if (not old) != (not new):
        return _one_sided_diff(from_file, to_file, old or new or "", "-" if old else "+")
    old_lines = _split_lines(old or "")
    new_lines = _split_lines(new or "")
    out: list[str] = []
    for line in _unified_lines(old_lines, new_lines, from_file, to_file):
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    if out:
        return "".join(out)
    if old is None or new is None or (new_path is not None and new_path != path):
        return f"--- {from_file}\n+++ {to_file}\n"
    return ""


class _CostlyDiff(Exception):
    """The diff needs more of difflib's work than ``limits.MAX_DIFF_STEPS``."""


class _BudgetMatcher(difflib.SequenceMatcher[str]):
    """difflib's matcher (autojunk on, as in ``difflib.unified_diff``), with a budget.

    Its cost is in ``find_longest_match``, which scans, for each line of ``a`` in its range,
    every position of that line in ``b``: quadratic for texts whose lines recur often (a
    1 MiB file with every tenth line changed took 15 s). Each call is charged that count
    (an upper bound of its work) before it runs, and raises :class:`_CostlyDiff` once the
    diff's ``steps`` are spent; a call is never cut midway, so none runs past the budget.
    """

    # difflib's own attributes, which typeshed does not declare
    b2j: dict[str, list[int]]
    matching_blocks: list[difflib.Match] | None
    opcodes: list[tuple[str, int, int, int, int]] | None

    def __init__(self, a: list[str], b: list[str], steps: int) -> None:
        super().__init__(None, a, b)
        b2j = self.b2j
        self._cost = [0, *itertools.accumulate(len(b2j.get(line, ())) + 1 for line in a)]
        self._size = len(a)
        self._left = steps

    def find_longest_match(
        self, alo: int = 0, ahi: int | None = None, blo: int = 0, bhi: int | None = None
    ) -> difflib.Match:
        high = self._size if ahi is None else ahi
        self._left -= self._cost[high] - self._cost[alo]
        if self._left < 0:
            raise _CostlyDiff
        return super().find_longest_match(alo, high, blo, bhi)


def _unified_lines(a: list[str], b: list[str], from_file: str, to_file: str) -> Iterator[str]:
    """``difflib.unified_diff(a, b, from_file, to_file)`` within ``limits.MAX_DIFF_STEPS``;
    past them, one hunk from the first line that differs to the last (the lines around
    them as context), which still shows every change."""
    matcher = _BudgetMatcher(a, b, limits.MAX_DIFF_STEPS)
    try:
        groups = list(matcher.get_grouped_opcodes(3))
    except _CostlyDiff:
        end = min(len(a), len(b))
        head = next((i for i in range(end) if a[i] != b[i]), end)
        tail = next((i for i in range(end - head) if a[-1 - i] != b[-1 - i]), end - head)
        blocks = [difflib.Match(0, 0, head)] if head else []
        if tail:
            blocks.append(difflib.Match(len(a) - tail, len(b) - tail, tail))
        matcher.matching_blocks = [*blocks, difflib.Match(len(a), len(b), 0)]
        matcher.opcodes = None
        groups = list(matcher.get_grouped_opcodes(3))
    if not groups:
        return
    yield f"--- {from_file}\n"
    yield f"+++ {to_file}\n"
    for group in groups:
        first, last = group[0], group[-1]
        old_range = _unified_range(first[1], last[2])
        new_range = _unified_range(first[3], last[4])
        yield f"@@ -{old_range} +{new_range} @@\n"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                yield from (" " + line for line in a[i1:i2])
                continue
            if tag in ("replace", "delete"):
                yield from ("-" + line for line in a[i1:i2])
            if tag in ("replace", "insert"):
                yield from ("+" + line for line in b[j1:j2])


def _unified_range(start: int, stop: int) -> str:
    """A hunk's range as ``difflib`` writes it (``start`` is 0-based, ``stop`` exclusive)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if not length else start + 1},{length}"


def cut_diff(diff: str, max_chars: int) -> tuple[str, int]:
    """``diff`` cut after the last line end within ``max_chars`` (at ``max_chars`` if its first
    line is longer), and how many line ends follow the cut: ``(diff, 0)`` when it fits. Every
    non-empty diff ends with a line end, so a cut always leaves at least one."""
    if len(diff) <= max_chars:
        return diff, 0
    cut = diff.rfind("\n", 0, max_chars) + 1 or max_chars
    return diff[:cut], diff.count("\n", cut)


def create_diff_head(path: str, text: str, max_chars: int) -> tuple[str, int]:
    """``cut_diff(unified_diff(path, None, text), max_chars)``, without building the whole diff
    of a large new file: a proposal's reply shows only the head (1 MiB: ~2 ms saved)."""
    if len(text) <= max_chars:
        return cut_diff(unified_diff(path, None, text), max_chars)
    # The diff of a create maps each character of text in place, so the diff of a prefix of
    # more than max_chars characters holds the whole head; only the hunk header needs the
    # full line count, and the line ends after the cut are counted from the text.
    partial = _one_sided_header("/dev/null", f"b/{path}", text, "+")
    partial += "+" + text[:max_chars].replace("\n", "\n+")
    head, _ = cut_diff(partial, max_chars)
    total = 3 + text.count("\n") + (0 if text.endswith("\n") else 2)
    return head, total - head.count("\n")


# --------------------------------------------------------------------------------------------
# Workspace
# --------------------------------------------------------------------------------------------


class Workspace:
    """File operations on the host's project folder.

    Reads, listings and searches take ``is_host``: a guest (``False``) never sees an unshared
    path and gets ``not_shared`` for one, before any existence check, so it cannot probe what
    hidden files exist. Writes, deletes and moves take no ``is_host``: the hub decides who may
    change what (and checks sharing with :meth:`resolve` when a guest proposes a change).
    """

    def __init__(self, root: Path, *, max_file_bytes: int = limits.MAX_FILE_BYTES) -> None:
        real = Path(os.path.realpath(root))
        if not real.is_dir():
            raise UsageError(f"{root} is not a folder; run letswork in your project folder")
        self.root = real
        self.max_file_bytes = max_file_bytes
        self.rules = SharingRules(real)

    # -- resolving -------------------------------------------------------------------------

    def _check(self, relpath: str, *, is_host: bool) -> _Resolved:
        res = _resolve(self.root, relpath)
        if not res.rel:
            return res
        real_rel = to_relpath(self.root, res.real)
        why = (
            git_metadata_reason(res.rel)
            or git_metadata_reason(real_rel)
            or git_dir_reason(self.root, real_rel)  # an lstat or so per folder
        )
        if why is not None:
            # Nobody reads git metadata through the hub, the host included; a guest gets the
            # not_shared of every unshared path, whether or not it exists.
            if is_host:
                raise op_error(ErrorCode.FORBIDDEN, f"path {_q(res.rel)}: {why}")
            raise op_error(
                ErrorCode.NOT_SHARED, f"path {_q(res.rel)} is not shared by the host: {why}"
            )
        if not is_host:
            is_dir = os.path.isdir(res.real)
            if not self.rules.is_shared(res.rel, is_dir=is_dir) or (
                real_rel != res.rel and not self.rules.is_shared(real_rel, is_dir=is_dir)
            ):
                raise op_error(
                    ErrorCode.NOT_SHARED, f"path {_q(res.rel)} is not shared by the host"
                )
        return res

    def resolve(self, relpath: str, *, is_host: bool) -> Path:
        """:func:`safe_join` plus the sharing check: ``not_shared`` for a guest.

        The check applies to the path as named and to where it leads through symlinks. Git
        metadata (a ``.git`` name anywhere in either) is ``forbidden`` for the host too.
        """
        return self._check(relpath, is_host=is_host).real

    def check_changeable(self, relpath: str) -> None:
        """Refuse a change of the file ``relpath`` that would touch git metadata.

        Checked on the path as named and where it really leads: a ``.git`` name at any depth
        (:func:`~letswork.hub.policy.git_metadata_reason`), or a folder that is, or with this
        file would become, a git repository layout
        (:func:`~letswork.hub.policy.git_layout_reason`; a few ``lstat`` per folder). The
        writes, deletes and moves of this class check it again themselves, right before they
        touch the disk.

        Raises:
            OpError: ``forbidden`` with the reason; ``invalid`` for a bad path.
        """
        self._refuse_git(_resolve(self.root, relpath))

    def _refuse_git(self, res: _Resolved) -> None:
        real_rel = to_relpath(self.root, res.real)
        why = (
            git_metadata_reason(res.rel)
            or git_metadata_reason(real_rel)
            or git_layout_reason(self.root, real_rel)
        )
        if why is not None:
            raise op_error(ErrorCode.FORBIDDEN, f"{_q(res.rel)}: {why}")

    def change_sensitivity(self, path: str, new_path: str | None = None) -> str | None:
        """Why a change of ``path`` (and ``new_path``, a move's target) alters what guests see
        or runs code on the host, or None: :func:`~letswork.hub.policy.sensitive_reason` of
        each end as named and where it really leads, and as a path inside the target of a
        symlink the project has at a sensitive path (``.vscode -> config/vscode``,
        ``.envrc -> scripts/env.sh``: tools read the target under the sensitive name). Two
        reasons are joined with ``"; "``.

        A ``realpath`` per entry of :data:`~letswork.hub.policy.SENSITIVE_PATHS` (a few
        ``lstat``): call it off the loop. Symlinks at a sensitive path below the root are
        found only when the change names them.

        Raises:
            OpError: ``invalid`` for a bad path.
        """
        reasons: list[str] = []
        for p in (path, new_path):
            if p is None:
                continue
            res = _resolve(self.root, p)
            real_rel = to_relpath(self.root, res.real)
            for reason in (
                sensitive_reason(res.rel),
                sensitive_reason(real_rel),
                self._sensitive_alias(res.real),
            ):
                if reason is not None and reason not in reasons:
                    reasons.append(reason)
        return "; ".join(reasons) or None

    def _sensitive_alias(self, real: Path) -> str | None:
        """The reason of a root-level entry of ``SENSITIVE_PATHS`` that is (or goes through) a
        symlink whose target is, or for a folder holds, ``real``."""
        for pattern, why in SENSITIVE_PATHS:
            name = pattern.rstrip("/")
            lexical = self.root / name
            try:
                target = Path(os.path.realpath(lexical))
            except (OSError, ValueError):
                continue
            if target == lexical or not target.is_relative_to(self.root):
                continue  # no symlink on the way, or one leading out: guests write neither
            folder = pattern.endswith("/")
            if real == target if not folder else (real != target and real.is_relative_to(target)):
                return f"{pattern}: {why}"
        return None

    def is_symlink(self, relpath: str) -> bool:
        """Whether ``relpath`` itself is a symlink (which writes, deletes and moves refuse).

        :meth:`resolve` returns the real path, so it cannot answer this.
        """
        return _resolve(self.root, relpath).lexical.is_symlink()

    def _symlink_visible(self, path: str) -> bool:
        """Whether a guest may see a symlink: it leads to a shared path inside the root, and
        not into git metadata."""
        try:
            real = Path(os.path.realpath(path))
            if not real.is_relative_to(self.root):
                return False
            os.stat(path)
        except (OSError, ValueError):
            return False  # dangling, loop, or unreadable
        real_rel = to_relpath(self.root, real)
        if git_metadata_reason(real_rel) or git_dir_reason(self.root, real_rel):
            return False
        return self.rules.is_shared(real_rel, is_dir=real.is_dir())

    # -- walking ---------------------------------------------------------------------------

    def _scan(self, dir_path: str, dir_rel: str, is_host: bool, chain: _Chain) -> list[_Item]:
        """The visible entries of one folder, sorted by name. Unreadable folders are empty."""
        try:
            with os.scandir(dir_path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return []
        items: list[_Item] = []
        rules = self.rules
        extra = None if is_host else rules._letsworkignore()
        for entry in entries:
            name = entry.name
            # Git metadata does not exist through the hub, for the host either: a .git of any
            # spelling, file or folder, and a folder git takes for a repository (bare ones).
            if name.startswith(TEMP_PREFIX) or not _addressable(name) or is_git_name(name):
                continue
            kind: Literal["file", "dir", "symlink"]
            try:
                if entry.is_symlink():
                    kind = "symlink"
                elif entry.is_dir(follow_symlinks=False):
                    kind = "dir"
                elif entry.is_file(follow_symlinks=False):
                    kind = "file"
                else:
                    continue  # fifo, socket, device: never listed or opened
            except OSError:
                continue
            if kind == "dir" and is_git_dir(entry.path):
                continue
            rel = f"{dir_rel}/{name}" if dir_rel else name
            if not is_host:
                if not rules._decide(rel, kind == "dir", chain, extra):
                    continue
                if kind == "symlink" and not self._symlink_visible(entry.path):
                    continue
            items.append(_Item(rel, entry.path, name, kind, entry))
        return items

    def _walk(
        self, start: _Resolved, *, is_host: bool, max_depth: int | None, breadth_first: bool
    ) -> Iterator[_Item]:
        """Entries under folder ``start``; never follows symlinks or enters a ``.git`` below it.

        Depth-first walks yield entries in path order, component by component; breadth-first
        walks yield shallow entries first.
        """
        start_rel = to_relpath(self.root, start.real)
        chain = () if is_host else self.rules.chain_for(start_rel)

        def children(item: _Item, chain: _Chain) -> _Chain:
            return chain if is_host else self.rules._child_chain(chain, item.rel)

        if breadth_first:
            queue: collections.deque[tuple[str, str, int, _Chain]] = collections.deque(
                [(str(start.real), start_rel, 1, chain)]
            )
            while queue:
                dir_path, dir_rel, depth, dir_chain = queue.popleft()
                for item in self._scan(dir_path, dir_rel, is_host, dir_chain):
                    yield item
                    if _descend(item, depth, max_depth):
                        queue.append((item.path, item.rel, depth + 1, children(item, dir_chain)))
            return
        stack: list[tuple[Iterator[_Item], _Chain]] = [
            (iter(self._scan(str(start.real), start_rel, is_host, chain)), chain)
        ]
        while stack:
            iterator, dir_chain = stack[-1]
            found = next(iterator, None)
            if found is None:
                stack.pop()
                continue
            item = found
            yield item
            if _descend(item, len(stack), max_depth):
                sub_chain = children(item, dir_chain)
                stack.append((iter(self._scan(item.path, item.rel, is_host, sub_chain)), sub_chain))

    # -- listing ---------------------------------------------------------------------------

    def list_files(
        self,
        path: str = "",
        *,
        recursive: bool = False,
        depth: int | None = None,
        is_host: bool,
        max_entries: int = 5000,
        should_stop: Callable[[], bool] | None = None,
    ) -> tuple[list[FileEntry], bool]:
        """Entries of folder ``path`` sorted by path, and whether the list was cut short.

        ``depth`` (1 = direct children) wins over ``recursive``; ``recursive`` alone means
        unlimited depth. Recursion never enters a ``.git`` folder below ``path`` and never
        follows a symlink. When cut at ``max_entries`` the shallowest entries are kept; when
        ``should_stop`` (asked before each entry) returns true, the walk ends there.
        A file path gives just that file. Paths of a folder reached through a symlink are
        given by where they really are.
        """
        if depth is not None and depth < 1:
            raise op_error(ErrorCode.INVALID, "depth must be 1 or more")
        if max_entries < 1:
            raise op_error(ErrorCode.INVALID, "max_entries must be 1 or more")
        max_depth = depth if depth is not None else (None if recursive else 1)
        res = self._check(path, is_host=is_host)
        try:
            st = os.stat(res.real)
        except OSError as exc:
            raise _disk_error(exc, res.rel, "list") from None
        if not stat.S_ISDIR(st.st_mode):
            if not stat.S_ISREG(st.st_mode):
                raise op_error(ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is not a file or folder")
            if res.lexical.is_symlink():
                return [FileEntry(res.rel, "symlink", 0)], False
            return [FileEntry(res.rel, "file", st.st_size)], False
        entries: list[FileEntry] = []
        truncated = False
        stop = should_stop or _never
        for item in self._walk(res, is_host=is_host, max_depth=max_depth, breadth_first=True):
            if len(entries) >= max_entries or stop():
                truncated = True
                break
            size = 0
            if item.kind == "file":
                try:
                    size = item.entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
            entries.append(FileEntry(item.rel, item.kind, size))
        entries.sort(key=lambda e: e.path)
        return entries, truncated

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
        each entry of the walk; when it returns true the walk ends there (cut short).
        """
        matches_glob = _compile_glob(glob)
        limit = _result_limit(max_results)
        res = self._check(path, is_host=is_host)
        if not res.real.is_dir():
            if not res.real.exists():
                raise _not_found(res.rel)
            name = res.rel.rsplit("/", 1)[-1]
            return ([res.rel] if matches_glob(name) else []), False
        base = to_relpath(self.root, res.real)
        cut = len(base) + 1 if base else 0
        found: list[str] = []
        stop = should_stop or _never
        for item in self._walk(res, is_host=is_host, max_depth=None, breadth_first=False):
            if stop():
                return sorted(found), True
            if item.kind == "dir" or not matches_glob(item.rel[cut:]):
                continue
            if len(found) >= limit:
                return sorted(found), True
            found.append(item.rel)
        return sorted(found), False

    # -- reading ---------------------------------------------------------------------------

    def _read_bytes(self, res: _Resolved) -> bytes:
        """The bytes of regular file ``res`` (at most ``max_file_bytes``), or an OpError."""
        try:
            fd = os.open(res.real, _READ_FLAGS)
        except OSError as exc:
            if exc.errno == errno_mod.EISDIR or res.real.is_dir():
                raise op_error(
                    ErrorCode.NOT_A_FILE,
                    f"{_q(res.rel)} is a folder; use list_files to see what is in it",
                ) from None
            raise _disk_error(exc, res.rel, "read") from None
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise op_error(
                    ErrorCode.NOT_A_FILE,
                    f"{_q(res.rel)} is a folder; use list_files to see what is in it",
                )
            if not stat.S_ISREG(st.st_mode):
                raise op_error(ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is not a regular file")
            if st.st_size > self.max_file_bytes:
                raise _too_large(st.st_size, self.max_file_bytes)
            data = _read_fd(fd, self.max_file_bytes + 1, st.st_size)
        except OSError as exc:
            raise _disk_error(exc, res.rel, "read") from None
        finally:
            os.close(fd)
        if len(data) > self.max_file_bytes:  # grew since fstat
            raise _too_large(len(data), self.max_file_bytes)
        return data

    def read_text(self, path: str, *, is_host: bool) -> tuple[str, str]:
        """The whole text of a file and the sha256 (hex) of its bytes.

        Raises:
            OpError: ``not_shared`` (guests), ``not_found``, ``not_a_file``, ``too_large``,
                ``binary_file``, ``invalid`` (bad path), ``disk_error``.
        """
        res = self._check(path, is_host=is_host)
        data = self._read_bytes(res)
        return check_text(data, max_bytes=self.max_file_bytes), sha256_hex(data)

    def read_file(
        self, path: str, *, offset: int = 0, limit: int | None = None, is_host: bool
    ) -> FileText:
        """A page of lines: ``offset`` is the 0-based first line, ``limit`` the most lines.

        Lines end at ``\\n`` (kept in ``text``); a last line without one counts too, so
        ``"a\\nb"`` has 2 lines and ``"a\\n"`` has 1. ``offset == total_lines`` gives an empty
        page; a larger offset is ``invalid``. Search results' line ``n`` is ``offset=n-1``.
        """
        if offset < 0:
            raise op_error(ErrorCode.INVALID, "offset must be 0 or more")
        if limit is not None and limit < 0:
            raise op_error(ErrorCode.INVALID, "limit must be 0 or more")
        res = self._check(path, is_host=is_host)
        data = self._read_bytes(res)
        if data.isascii() and b"\x00" not in data:
            # ASCII is UTF-8: the file is text, and only its page needs decoding (the first
            # page of a 1 MiB file decoded all of it, ~0.4 ms).
            total = _count_lines(data)
            raw, count = _page(data, offset, limit, total)
            page = raw.decode("ascii")
        else:
            text = check_text(data, max_bytes=self.max_file_bytes)
            total = _count_lines(text)
            page, count = _page(text, offset, limit, total)
        return FileText(
            path=res.rel,
            text=page,
            sha256=sha256_hex(data),
            offset=offset,
            lines=count,
            total_lines=total,
            size=len(data),
            truncated=offset + count < total,
        )

    def file_sha256(self, path: str) -> str | None:
        """The sha256 of a file's bytes (host view, any size), or None when it does not exist.

        Raises:
            OpError: ``not_a_file`` for a folder or special file, ``invalid`` for a bad path,
                ``disk_error`` when it cannot be read.
        """
        res = _resolve(self.root, path)
        try:
            fd = os.open(res.real, _READ_FLAGS)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno_mod.ENOTDIR:
                return None
            if exc.errno == errno_mod.EISDIR or res.real.is_dir():
                raise op_error(ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is a folder") from None
            raise _disk_error(exc, res.rel, "read") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise op_error(ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is not a regular file")
            digest = hashlib.sha256()
            step = max(4096, min(1 << 20, st.st_size + 1))  # os.read allocates all it asks for
            while chunk := os.read(fd, step):
                digest.update(chunk)
        except OSError as exc:
            raise _disk_error(exc, res.rel, "read") from None
        finally:
            os.close(fd)
        return digest.hexdigest()

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
    ) -> SearchResult:
        """Lines matching ``pattern`` in the text files under ``path``, in path order.

        One match per line. ``^`` and ``$`` match at line boundaries. Binary, non-UTF-8,
        oversize files and symlinks are skipped silently; so is everything unshared for a
        guest. ``glob`` filters like :meth:`find_files`. ``max_results`` is capped at
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
        files: Iterator[tuple[str, str, str] | None]
        if res.real.is_dir():
            base = to_relpath(self.root, res.real)
            cut = len(base) + 1 if base else 0
            # Every entry (folders too) comes out of the walk, so a tree of empty folders
            # still reaches the stop check.
            files = (
                (item.rel, item.path, item.rel[cut:]) if item.kind == "file" else None
                for item in self._walk(res, is_host=is_host, max_depth=None, breadth_first=False)
            )
        elif res.lexical.is_symlink() or not res.real.exists():
            if not res.real.exists():
                raise _not_found(res.rel)
            files = iter(())
        else:
            files = iter([(res.rel, str(res.real), res.rel.rsplit("/", 1)[-1])])

        matches: list[SearchMatch] = []
        scanned = 0
        truncated = False
        cut_short = False
        max_bytes = self.max_file_bytes
        for found in files:
            if stop():
                cut_short = True
                break
            if found is None:
                continue
            rel, file_path, glob_rel = found
            if matches_glob is not None and not matches_glob(glob_rel):
                continue
            data = _read_small(file_path, max_bytes)
            if data is None or b"\x00" in data:
                continue
            scanned += 1
            if needle is not None and needle not in data:
                continue
            lowered = None
            if needle_lower is not None and (data.isascii() or not (fold_risk and _may_fold(data))):
                # bytes.lower() folds ASCII letters only; that is the whole story unless the
                # needle has a letter that a non-ASCII character also matches.
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
                # A literal: bytes.find gives the regex's matches (UTF-8 is self-synchronising
                # and the case folding above is exact for this needle and file).
                hits = _literal_hits(data, haystack, literal, room)
            else:
                # RE2 compiled from a str runs on UTF-8 bytes: offsets are byte offsets.
                hits, cut_short = _line_hits(data, rx, room, stop)
            for line_no, raw, col in hits:
                line = raw.decode("utf-8")
                if not ascii_text:
                    # A match may start inside a character: RE2's \C matches any byte.
                    col = len(raw[:col].decode("utf-8", "ignore"))
                matches.append(SearchMatch(rel, line_no, _clip(line, col)))
            if len(matches) > limit:
                del matches[limit:]
                truncated = True
                break
            if cut_short:
                break
        return SearchResult(
            matches=matches, truncated=truncated, files_scanned=scanned, cut_short=cut_short
        )

    # -- writing ---------------------------------------------------------------------------

    @staticmethod
    def _refuse_symlink(res: _Resolved) -> None:
        if res.lexical.is_symlink():
            raise op_error(
                ErrorCode.INVALID,
                f"{_q(res.rel)} is a symlink; letswork does not write through symlinks",
            )

    @staticmethod
    def _make_parents(res: _Resolved) -> None:
        try:
            os.makedirs(res.real.parent, exist_ok=True)
        except OSError as exc:
            if exc.errno in (errno_mod.ENOTDIR, errno_mod.EEXIST):
                raise op_error(
                    ErrorCode.INVALID, f"cannot create {_q(res.rel)}: a parent is a file"
                ) from None
            raise _disk_error(exc, res.rel, "create the folder for") from None

    def write_atomic(self, path: str, content: bytes) -> str:
        """Replace (or create) a file atomically and return the sha256 of ``content``.

        A temporary ``.letswork-tmp-*`` file in the same folder is written, fsynced and renamed
        over the target; then the folder is fsynced. An existing file's mode is kept (and its
        owner, where permitted); a new file gets ``0o644 & ~umask``. Missing parent folders
        are created. On failure the temporary file is removed and the original is untouched.

        Raises:
            OpError: ``invalid`` (bad path, the root, a symlink, a parent that is a file),
                ``forbidden`` (git metadata: :meth:`check_changeable`),
                ``not_a_file`` (a folder is there), ``too_large`` (over ``max_file_bytes``),
                ``disk_error`` (the message names the OS reason, e.g. "no space left on
                device"; ``data["errno"]`` holds the symbol).
        """
        res = _resolve(self.root, path)
        if not res.rel:
            raise op_error(ErrorCode.INVALID, "cannot write the project root; name a file")
        self._refuse_git(res)
        if len(content) > self.max_file_bytes:
            raise _too_large(len(content), self.max_file_bytes)
        self._refuse_symlink(res)
        try:
            old: os.stat_result | None = os.stat(res.real)
        except FileNotFoundError:
            old = None
        except OSError as exc:
            if exc.errno != errno_mod.ENOTDIR:
                raise _disk_error(exc, res.rel, "write") from None
            old = None  # a parent is a file: _make_parents reports it
        if old is not None and not stat.S_ISREG(old.st_mode):
            raise op_error(ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is a folder or special file")
        self._make_parents(res)
        folder = res.real.parent
        tmp = folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        fd = -1
        try:
            fd = os.open(tmp, _CREATE_FLAGS, 0o644)
            if old is not None:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, stat.S_IMODE(old.st_mode))
                if hasattr(os, "fchown"):
                    with suppress(OSError):
                        os.fchown(fd, old.st_uid, old.st_gid)
            view = memoryview(content)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(tmp, res.real)
        except OSError as exc:
            if fd >= 0:
                with suppress(OSError):
                    os.close(fd)
            with suppress(OSError):
                os.unlink(tmp)
            raise _disk_error(exc, res.rel, "write") from None
        _fsync_dir(folder)
        return sha256_hex(content)

    def delete(self, path: str) -> None:
        """Delete a file (not a folder, not a symlink).

        Raises:
            OpError: ``not_found``, ``not_a_file``, ``invalid`` (bad path, symlink),
                ``forbidden`` (git metadata: :meth:`check_changeable`), ``disk_error``.
        """
        res = _resolve(self.root, path)
        if not res.rel:
            raise op_error(ErrorCode.INVALID, "cannot delete the project root")
        self._refuse_git(res)
        self._refuse_symlink(res)
        self._require_file(res)
        try:
            os.unlink(res.real)
        except OSError as exc:
            raise _disk_error(exc, res.rel, "delete") from None
        _fsync_dir(res.real.parent)

    def _require_file(self, res: _Resolved) -> None:
        try:
            st = os.lstat(res.real)
        except OSError as exc:
            raise _disk_error(exc, res.rel, "open") from None
        if stat.S_ISDIR(st.st_mode):
            raise op_error(
                ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is a folder; only files can be changed"
            )
        if not stat.S_ISREG(st.st_mode):
            raise op_error(ErrorCode.NOT_A_FILE, f"{_q(res.rel)} is not a regular file")

    def move(self, path: str, new_path: str) -> None:
        """Rename a file; parent folders of ``new_path`` are created.

        A change of case only (``a.txt`` to ``A.txt``) works on case-insensitive filesystems.

        Raises:
            OpError: ``exists`` when ``new_path`` exists, ``not_found``, ``not_a_file``,
                ``invalid`` (bad path, symlink, a parent that is a file), ``forbidden`` (git
                metadata at either end: :meth:`check_changeable`), ``disk_error``.
        """
        src = _resolve(self.root, path)
        dst = _resolve(self.root, new_path)
        if not src.rel or not dst.rel:
            raise op_error(ErrorCode.INVALID, "cannot move the project root")
        self._refuse_git(src)
        self._refuse_git(dst)
        self._refuse_symlink(src)
        self._require_file(src)
        exists = os.path.lexists(dst.lexical) or os.path.lexists(dst.real)
        if exists and not _is_case_rename(src.real, dst.real):
            raise op_error(
                ErrorCode.EXISTS,
                f"{_q(dst.rel)} already exists; delete it first or pick another name",
            )
        self._make_parents(dst)
        try:
            os.rename(src.real, dst.real)
        except OSError as exc:
            raise _disk_error(exc, src.rel, "move") from None
        _fsync_dir(src.real.parent)
        if dst.real.parent != src.real.parent:
            _fsync_dir(dst.real.parent)

    def cleanup_temp_files(self) -> int:
        """Remove leftover ``.letswork-tmp-*`` files anywhere under the root (crash recovery).

        Does not enter ``.git`` or follow symlinks. Returns how many files were removed.
        """
        removed = 0
        stack = [str(self.root)]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError:
                continue
            for entry in entries:
                try:
                    if entry.name.startswith(TEMP_PREFIX) and entry.is_file(follow_symlinks=False):
                        os.unlink(entry.path)
                        removed += 1
                    elif entry.is_dir(follow_symlinks=False) and not is_git_name(entry.name):
                        stack.append(entry.path)
                except OSError:
                    continue
        return removed


def _is_case_rename(src: Path, dst: Path) -> bool:
    """Whether ``dst`` is ``src`` spelled with other case on a case-insensitive filesystem."""
    if src.parent != dst.parent or src.name == dst.name or src.name.lower() != dst.name.lower():
        return False
    try:
        return os.path.samefile(src, dst)
    except OSError:
        return False


def _descend(item: _Item, depth: int, max_depth: int | None) -> bool:
    """Whether a walk enters ``item`` found at ``depth``: folders only, never a ``.git`` name."""
    return (
        item.kind == "dir"
        and not is_git_name(item.name)
        and (max_depth is None or depth < max_depth)
    )


def _result_limit(max_results: int) -> int:
    if max_results < 1:
        raise op_error(ErrorCode.INVALID, "max_results must be 1 or more")
    return min(max_results, limits.MAX_RESULTS)


def _read_small(path: str, max_bytes: int) -> bytes | None:
    """The bytes of a regular file of at most ``max_bytes``, else None (never raises)."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            return None
        data = _read_fd(fd, max_bytes + 1, st.st_size)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) <= max_bytes else None
