"""Stored guest sessions: what ``letswork join`` writes and ``letswork channel`` reads.

A session is one invite a guest accepted, under a name the user picks (``--session NAME``), so
that the MCP client's configuration carries the name and never the invite (design section 3).
Each session is one JSON file, readable only by the user::

    <state_root>/sessions/            0700
      NAME.json                       0600

    {"url": "wss://four-word-name.trycloudflare.com/",
     "invite_secret": "<hex>",        the invite's secret (32 hex digits or more)
     "resume_secret": "<hex>" | null, minted by the hub when the host admitted this guest
     "name": "alice" | null,          display name to use
     "role": "editor" | null}         the role the hub reported at the last hello

The channel prefers ``resume_secret`` when it has one (the host is asked once), falls back to
the invite when the hub no longer knows the resume credential, and stores a new resume secret
whenever the hub mints one. Files are written atomically through
:func:`letswork.local.statedir.write_private_text` and read through
:func:`letswork.local.statedir.read_secret_file`, which refuses a file other users can read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from letswork.local import statedir
from letswork.shared.errors import UsageError

__all__ = [
    "SESSION_NAME_PATTERN",
    "SessionRecord",
    "delete_session",
    "list_sessions",
    "load_session",
    "save_session",
    "session_path",
    "sessions_dir",
    "update_session",
    "validate_session_name",
]

#: A session name: a letter or digit, then up to 63 of ``[A-Za-z0-9._-]`` (a safe file name).
SESSION_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_NAME = re.compile(SESSION_NAME_PATTERN)
_HEX = re.compile(r"^(?:[0-9a-f]{2}){16,64}$")
_ROLES = frozenset({"host", "editor", "viewer"})
_DIR_MODE = 0o700


@dataclasses.dataclass(frozen=True)
class SessionRecord:
    """One stored session (the JSON keys are the attribute names).

    Attributes:
        url: the hub's ``ws://`` or ``wss://`` URL.
        invite_secret: the invite's secret.
        resume_secret: the resume credential the hub minted on admission, if any.
        name: the display name to use, if the user chose one.
        role: the role the hub reported last time (lets the channel list its tools before
            it has reached the hub).
    """

    url: str
    invite_secret: bytes = dataclasses.field(repr=False)
    resume_secret: bytes | None = dataclasses.field(default=None, repr=False)
    name: str | None = None
    role: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "url": self.url,
                "invite_secret": self.invite_secret.hex(),
                "resume_secret": self.resume_secret.hex() if self.resume_secret else None,
                "name": self.name,
                "role": self.role,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, *, where: str) -> SessionRecord:
        """Parse a session file's text; raises UsageError naming ``where`` if it is damaged."""
        try:
            obj = json.loads(text)
        except ValueError:
            raise UsageError(
                f"{where} is not valid JSON; join again with `letswork join`"
            ) from None
        if not isinstance(obj, dict):
            raise UsageError(f"{where} is damaged; join again with `letswork join`")
        try:
            return cls(
                url=_text(obj, "url"),
                invite_secret=_secret(obj, "invite_secret"),
                resume_secret=_secret(obj, "resume_secret") if obj.get("resume_secret") else None,
                name=_optional_text(obj, "name"),
                role=_role(obj.get("role")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(
                f"{where} is damaged ({exc}); join again with `letswork join`"
            ) from None


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value


def _optional_text(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    return _text(obj, key)


def _secret(obj: dict[str, Any], key: str) -> bytes:
    value = obj[key]
    if not isinstance(value, str) or not _HEX.match(value):
        raise ValueError(f"{key} must be lowercase hex")
    return bytes.fromhex(value)


def _role(value: Any) -> str | None:
    if value is None:
        return None
    if value not in _ROLES:
        raise ValueError("role must be host, editor or viewer")
    return str(value)


def validate_session_name(name: str) -> str:
    """Return ``name`` if it is a valid session name, else raise UsageError."""
    if not _NAME.match(name):
        raise UsageError(
            f"{name!r} is not a valid session name: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def sessions_dir() -> Path:
    """``<state_root>/sessions``, created private (0700) if missing."""
    base = statedir.state_root()
    directory = base / "sessions"
    try:
        base.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=_DIR_MODE)
        st = directory.lstat()
    except OSError as exc:
        raise UsageError(f"cannot create {directory}: {exc.strerror}") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{directory} must be a directory, not a symlink or a file")
    if os.name == "posix":
        if st.st_uid != os.geteuid():
            raise UsageError(
                f"{directory} belongs to another user; refusing to keep sessions there"
            )
        if stat.S_IMODE(st.st_mode) != _DIR_MODE:
            directory.chmod(_DIR_MODE)
    return directory


def session_path(name: str) -> Path:
    """The file of session ``name`` (validated)."""
    return sessions_dir() / f"{validate_session_name(name)}.json"


def list_sessions() -> list[str]:
    """The names of the stored sessions, sorted."""
    return sorted(
        p.stem for p in sessions_dir().glob("*.json") if _NAME.match(p.stem) and p.is_file()
    )


def load_session(name: str) -> SessionRecord:
    """Read session ``name``.

    Raises:
        UsageError: no such session, the file is damaged, or other users can read it.
    """
    path = session_path(name)
    try:
        data = statedir.read_secret_file(path)
    except FileNotFoundError:
        raise UsageError(
            f"no session called {name!r}; join first with `letswork join CODE --session {name}`"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is damaged; join again with `letswork join`") from None
    return SessionRecord.from_json(text, where=str(path))


def save_session(name: str, record: SessionRecord) -> None:
    """Write session ``name`` atomically, mode 0600."""
    path = session_path(name)
    try:
        statedir.write_private_text(path, record.to_json() + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc


def update_session(session: str, **changes: Any) -> SessionRecord:
    """Load ``session``, replace the given fields, save it; returns the new record."""
    record = dataclasses.replace(load_session(session), **changes)
    save_session(session, record)
    return record


def delete_session(name: str) -> bool:
    """Remove session ``name``; returns whether it existed."""
    try:
        session_path(name).unlink()
    except FileNotFoundError:
        return False
    return True
