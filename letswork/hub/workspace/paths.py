"""The one resolver of every path a peer names: :func:`safe_join` (design section 7).

A request path is relative, uses ``/`` between names, and is checked here before anything else
sees it: no absolute path, drive letter, backslash, control character or ``..``, names and
paths within the limits, and no symlink that leads outside the project. Nothing else turns a
request path into a filesystem path. :func:`to_relpath` goes the other way.
"""

from __future__ import annotations

import errno as errno_mod
import os
import re
from dataclasses import dataclass
from pathlib import Path

from letswork.shared import limits
from letswork.shared.errors import ErrorCode, op_error

__all__ = ["safe_join", "to_relpath"]

_WINDOWS = os.name == "nt"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNADDRESSABLE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")
_DRIVE = re.compile(r"^[A-Za-z]:")
#: An NTFS 8.3 short name (``PROGRA~1``, ``GITIGN~1``, ``PRE-CO~1.YAM``): an alias of some
#: long name in its folder, so it could name a protected file under another spelling.
_SHORT_NAME = re.compile(r"[^.~]{0,7}~[0-9]{1,7}(\.[^.]{0,3})?")
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)


def _q(path: str) -> str:
    """A path quoted for a message, control characters escaped, clipped to 200 characters."""
    text = repr(path)
    return text if len(text) <= 200 else text[:197] + "..."


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
    #: (st_dev, st_ino) of the entry the check found at the path (:data:`MISSING`: none), so
    #: that a read can tell it opened that one; None when the check did not look (symlinks)
    seen: tuple[int, int] | None = None


#: :attr:`_Resolved.seen` of a path where the check found nothing.
MISSING = (-1, -1)


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
