"""What guests may see: :class:`SharingRules` (design section 7, issue 13 item 2).

``.gitignore`` files (nested ones too), the optional ``.letsworkignore`` at the root, and
:data:`BUILTIN_DENY` and every ``.git`` name, which nothing re-includes. A guest's version of an
ignore file only narrows what guests see (:class:`GuestVersion`). The patterns match on RE2
(:class:`_Spec`), never on Python's ``re``, which backtracks while holding the GIL.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pathspec
import re2

from letswork.hub.workspace.disk import (
    _O_NOFOLLOW,
    _READ_FLAGS,
    TEMP_PREFIX,
    _read_fd,
    sha256_hex,
)
from letswork.hub.workspace.policy import fold_name, is_git_name
from letswork.local import platforms
from letswork.shared import limits

__all__ = ["ABSENT", "BUILTIN_DENY", "GuestVersion", "SharingRules", "ignore_file_ids"]

#: Paths guests never see, whatever the ignore files say (gitignore syntax, any depth). Every
#: other spelling of ``.git`` (``.GIT``, ``.git.``, ``GIT~1``...) is denied by name as well
#: (:func:`~.policy.is_git_name`), file or folder.
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

_GITIGNORE = ".gitignore"
_LETSWORKIGNORE = ".letsworkignore"
#: Ignore files larger than this are read only up to this size.
_MAX_IGNORE_FILE_BYTES = limits.MAX_FILE_BYTES

_NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")


class _Spec:
    """A compiled gitignore spec plus one combined regex that rejects non-matches quickly.

    The quick filter runs on RE2, never on Python's ``re``, and a glob (a peer's pattern, in
    ``find_files`` and ``search_files``) is matched by it alone: ``re`` backtracks on some
    (``*?*?*?*?*?*?*?*?*?*?x`` took 28 s on one 43-character name) while holding the GIL,
    which stalls the event loop too.
    """

    __slots__ = ("__weakref__", "quick", "spec")

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

    __slots__ = ("_rx", "source")

    def __init__(self, source: str) -> None:
        #: the regex, as RE2 took it (``find_files`` compiles it again for many lines at once)
        self.source = source
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
    """``key`` with every name folded (:func:`~.policy.fold_name`): coarser than
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
    """Whether the filesystem holding ``root`` compares names without case: probed inside
    ``root`` (:func:`letswork.local.platforms.folds_case`), not through its name in the parent
    folder, which may sit on another volume or fold differently (ext4's per-folder ``+F``)."""
    return platforms.folds_case(root)


def _fold_ci(text: str) -> str:
    """``text`` as a case-insensitive filesystem of the host's platforms compares it: in lower
    case and, when not ASCII, composed (NFC): APFS and HFS+ on macOS, and ext4's casefold,
    also take ``café`` composed and decomposed for one name."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFC", text).lower()


class SharingRules:
    """What a guest may see: ignore files plus :data:`BUILTIN_DENY` and git metadata.

    Order of precedence, lowest first: ``.gitignore`` files from the root down to the file's
    folder (a deeper file wins, as in git), then ``root/.letsworkignore`` (its ``!`` lines can
    re-include a gitignored file), then the built-in denies and every ``.git`` name
    (:func:`~.policy.is_git_name`), which always win. A path inside an unshared
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
        #: sha256 of an ignore file's text -> its spec, while some chain or record holds it
        self._specs: weakref.WeakValueDictionary[bytes, _Spec] = weakref.WeakValueDictionary()
        # Replaced whole on every change (never mutated), so worker threads read a snapshot.
        self._guest = _Records({}, {})
        #: called with an ignore file's key when its recorded guest version changes (what
        #: guests see changes without a change on disk): the index re-decides its subtree
        self.on_change: Callable[[str], None] | None = None
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
            folder = _fold_ci(folder)
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
        for key in versions:
            self._changed(key)

    def put_guest_version(self, key: str, version: GuestVersion) -> None:
        """Record that a guest's change writes (or deletes) the ignore file ``key`` (from
        :meth:`record_key`); call it before the change reaches the disk."""
        entry = (version, self._parse(version.host_content))
        self._guest = _records({**self._guest.exact, key: entry})
        self._changed(key)

    def drop_guest_version(self, key: str) -> None:
        """The host wrote ``key``: its version on disk is the host's."""
        if key in self._guest.exact:
            self._guest = _records({k: v for k, v in self._guest.exact.items() if k != key})
            self._changed(key)

    def _changed(self, key: str) -> None:
        if self.on_change is not None:
            self.on_change(key)

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
        """The spec of an ignore file's bytes; files with the same text share one (their
        compiled RE2 programs and DFA caches are most of the rules' memory: vendored copies
        repeat ``.gitignore`` files, the 146 shared ones are 66 texts on the bench's 100k tree)."""
        if data is None:
            return None
        text = data.decode("utf-8", errors="replace")
        if self.case_insensitive:
            text = _fold_ci(text)
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        found = self._specs.get(key)
        if found is not None:
            return found
        try:
            spec = _Spec(text.splitlines())
        except Exception:  # a broken ignore file shares nothing more than an empty one
            return None
        self._specs[key] = spec
        return spec

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
            # Not cached: most folders have no .gitignore, and an entry each was 2 MiB per
            # 10,000 folders; nothing reads an absent file's entry.
            self._cache.pop(key, None)
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
        return (*chain, (_fold_ci(dir_rel) if self.case_insensitive else dir_rel, disk, host))

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
        if self.case_insensitive:
            probe = _fold_ci(probe_low) if not probe_low.isascii() else probe_low
        else:
            probe = rel + "/" if is_dir else rel
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
