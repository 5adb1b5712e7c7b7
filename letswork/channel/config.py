"""What ``letswork channel`` connects with: resolved from its options, the environment and
the stored sessions, before any MCP traffic starts (a mistake here exits with code 2).

- Host: ``--host [--project PATH]`` authenticates with the project's host key; the hub's
  address is read from its ``hub.json`` when connecting (and again on each reconnect, since
  a restarted hub may listen on another port).
- Guest: the invite comes from ``LETSWORK_INVITE`` or from a session stored by
  ``letswork join`` (``--session NAME``). An invite from the environment is stored as a session
  too (``--session NAME``, or ``invite-<id>``), so the resume credential the hub mints on
  admission survives a restart and the host is asked only once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

from letswork.channel import folders, sessions
from letswork.local import platforms, statedir
from letswork.shared import crypto, invite
from letswork.shared.errors import UsageError
from letswork.shared.limits import Limits

__all__ = ["INVITE_ENV", "ChannelConfig", "channel_log_path", "default_display_name", "resolve"]

#: Environment variable holding an invite code (design section 3).
INVITE_ENV = "LETSWORK_INVITE"

_NAME_OK = re.compile(r"^[A-Za-z0-9 ._-]{1,32}$")


@dataclasses.dataclass(frozen=True)
class ChannelConfig:
    """Everything the channel needs to reach the hub.

    Attributes:
        secret: the first credential to try (host key, resume secret or invite secret).
        url: the hub's URL (guests); None in host mode, where ``hub.json`` says.
        project: the shared folder (host mode), else None.
        name: the display name sent in ``hello`` (the hub names every host ``host``).
        session: the stored session to keep up to date (role, name, resume secret), if any.
        invite_secret: the invite to fall back on when the hub no longer knows ``secret``.
        role: the role, when known before connecting (host, or stored from last time).
        label: a short name for log files.
        publish_card: the user opted in to ``publish_card`` (``--publish-card``); without it
            the tool is refused and no card is ever sent.
        toolsets: the toolsets the user turned on (``--toolsets``, names from
            :data:`letswork.channel.tools.toolsets.TOOLSETS`), or None for the default ones.
    """

    secret: bytes = dataclasses.field(repr=False)
    url: str | None = None
    project: Path | None = None
    name: str = "guest"
    session: str | None = None
    invite_secret: bytes | None = dataclasses.field(default=None, repr=False)
    role: str | None = None
    label: str = "channel"
    client: str = "letswork-channel"
    limits: Limits = dataclasses.field(default_factory=Limits)
    publish_card: bool = False
    toolsets: frozenset[str] | None = None

    @property
    def host(self) -> bool:
        return self.project is not None


def default_display_name() -> str:
    """The login name reduced to display-name characters, or ``guest``."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = ""
    name = re.sub(r"[^A-Za-z0-9._-]", "", user)[:32]
    if not name or re.sub(r"[\s._-]", "", name).lower() == "host":
        return "guest"
    return name


def _check_name(name: str) -> str:
    if not _NAME_OK.match(name) or not name.strip():
        raise UsageError(
            f"{name!r} is not a valid display name: use 1-32 letters, digits, spaces, '.', "
            "'_' or '-'"
        )
    return name


def resolve(
    *,
    session: str | None = None,
    host: bool = False,
    project: Path | None = None,
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
    plugin: bool = False,
    folder: Path | None = None,
) -> ChannelConfig:
    """Work out the credential, address and name to use.

    With ``plugin`` (how the Claude Code plugin starts the channel, in the folder Claude Code
    runs in: ``folder``, default the current one) and neither an invite in the environment
    nor ``session``: the nearest of the folder and its ancestors that ``letswork join`` bound
    to a session (:mod:`letswork.channel.folders`) or a hub was started for (the host's
    channel), else the only stored session.

    Raises:
        UsageError: conflicting options, no invite or session, a damaged or missing session,
            a mistyped invite (InviteCodeError), or no hub ever started for the project.
    """
    env = os.environ if environ is None else environ
    if name is not None:
        _check_name(name)
    if host:
        if session is not None:
            raise UsageError("--host and --session do not go together: the host has no session")
        return _host_config(project or Path.cwd())
    if project is not None:
        raise UsageError("--project only goes with --host")
    code = env.get(INVITE_ENV, "").strip()
    if plugin and not code and session is None:
        choice = folders.plugin_choice(
            folder or Path.cwd(), lambda f: statedir.existing_project_state(f) is not None
        )
        if isinstance(choice, Path):
            return _host_config(choice)
        session = choice
    if code:
        session, record = _from_invite(code, session, name)
    else:
        session = session or _only_session()
        record = sessions.load_session(session)
        if name is not None and name != record.name:
            record = sessions.update_session(session, name=name)
    display = _check_name(name or record.name or default_display_name())
    return ChannelConfig(
        secret=record.resume_secret or record.invite_secret,
        url=record.url,
        name=display,
        session=session,
        invite_secret=record.invite_secret,
        role=record.role,
        label=session,
    )


def _host_config(project: Path) -> ChannelConfig:
    platforms.require_host_platform()  # the host's channel reaches the hub over a Unix socket
    root = project.expanduser().resolve()
    if not root.is_dir():
        raise UsageError(f"the folder {root} does not exist or is not a folder")
    state = statedir.project_state(root)
    try:
        key = statedir.read_secret_file(state.host_key_path)
    except FileNotFoundError:
        raise UsageError(
            f"no letswork hub has been started for {root}; run `letswork start` in that folder "
            "first"
        ) from None
    return ChannelConfig(
        secret=key, project=root, name="host", role="host", label=f"host-{state.dir.name}"
    )


def _only_session() -> str:
    names = sessions.list_sessions()
    if len(names) == 1:
        return names[0]
    if not names:
        raise UsageError(
            f"no invite to connect with: run `letswork join CODE` first, or set {INVITE_ENV}"
        )
    raise UsageError(
        f"several sessions are stored ({', '.join(names)}); choose one with --session NAME"
    )


def _from_invite(
    code: str, session: str | None, name: str | None
) -> tuple[str, sessions.SessionRecord]:
    parsed = invite.parse(code)
    if session is None:
        session = "invite-" + crypto.derive_invite_id(parsed.secret).hex()[:8]
    sessions.validate_session_name(session)
    record: sessions.SessionRecord | None = None
    if sessions.session_path(session).exists():
        stored = sessions.load_session(session)
        if stored.invite_secret == parsed.secret:
            record = dataclasses.replace(stored, url=parsed.url)
    if record is None:  # a new invite: start over (a stored resume secret belongs to the old one)
        record = sessions.SessionRecord(url=parsed.url, invite_secret=parsed.secret)
    if name is not None:
        record = dataclasses.replace(record, name=name)
    sessions.save_session(session, record)
    return session, record


def channel_log_path(label: str) -> Path:
    """``<state_root>/logs/channel-<label>.log``; the folder is created private (0700)."""
    logs = statedir.state_root() / "logs"
    try:
        logs.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            logs.mkdir(mode=0o700)
        if os.name == "posix" and stat.S_IMODE(logs.stat().st_mode) != 0o700:
            logs.chmod(0o700)
    except OSError as exc:
        raise UsageError(f"cannot create the log folder {logs}: {exc.strerror}") from exc
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", label)[:80] or "channel"
    return logs / f"channel-{safe}.log"
