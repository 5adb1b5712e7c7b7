"""Which stored session each working folder uses: how one Claude Code plugin install serves
every session.

``letswork join`` binds the folder it runs in to the session it stored; the plugin's channel
(``letswork channel --plugin``, started by Claude Code in the folder it runs in) looks the
folder up here, the nearest bound ancestor winning. The map is one private file,
``<state_root>/folders.json`` (0600: it names the folders a user works in), of at most
:data:`MAX_FOLDER_BINDINGS` entries; binding past that drops the oldest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from letswork.channel import sessions
from letswork.local import statedir
from letswork.shared.errors import UsageError

__all__ = [
    "MAX_FOLDER_BINDINGS",
    "bind_folder",
    "folders_path",
    "plugin_choice",
    "session_for_folder",
]

#: Folders remembered; binding another drops the one bound longest ago.
MAX_FOLDER_BINDINGS = 256
#: The largest ``folders.json`` read (bytes): 256 paths of 4 KiB each, with room to spare.
MAX_FOLDERS_FILE_BYTES = 2 * 1024 * 1024


def folders_path() -> Path:
    """``<state_root>/folders.json``."""
    return statedir.state_root() / "folders.json"


def _load() -> dict[str, str]:
    path = folders_path()
    try:
        if path.stat().st_size > MAX_FOLDERS_FILE_BYTES:
            return {}
        data = json.loads(statedir.read_secret_file(path))
    except (OSError, ValueError, UsageError):
        return {}  # missing, damaged or unsafe: as if nothing were bound
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def bind_folder(folder: Path, session: str) -> None:
    """Make ``folder`` (resolved) use the stored session ``session``.

    Raises:
        UsageError: ``session`` is not a valid session name, or the state folder cannot be
            written.
    """
    sessions.validate_session_name(session)
    key = str(folder.resolve())
    bound = _load()
    bound.pop(key, None)
    bound[key] = session  # dicts keep insertion order: the newest binding goes last
    while len(bound) > MAX_FOLDER_BINDINGS:
        del bound[next(iter(bound))]
    root = statedir.state_root()
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        statedir.write_private_text(folders_path(), json.dumps(bound, indent=1))
    except OSError as exc:
        raise UsageError(f"cannot write {folders_path()}: {exc.strerror}") from exc


def session_for_folder(folder: Path) -> str | None:
    """The session bound to ``folder`` or its nearest bound ancestor, if it is still stored."""
    choice = plugin_choice(folder, lambda _folder: False)
    return choice if isinstance(choice, str) else None


def plugin_choice(folder: Path, hosted: Callable[[Path], bool]) -> str | Path | None:
    """What the plugin's channel started in ``folder`` connects to: the nearest of ``folder``
    and its ancestors that is bound (its session's name, or None if that session is no
    longer stored) or shared by a hub of this user's (``hosted``: that folder, for the host's
    channel). A session joined from a folder above a shared one (the home folder, say) so
    never takes the host's own project over, nor its subfolders."""
    bound = _load()
    here = folder.resolve()
    stored = set(sessions.list_sessions()) if bound else set()
    for candidate in (here, *here.parents):
        name = bound.get(str(candidate))
        if name is not None:
            return name if name in stored else None
        if hosted(candidate):
            return candidate
    return None
