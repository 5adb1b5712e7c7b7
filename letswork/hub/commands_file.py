"""The host's commands file: which commands peers may ask to run, and how (issue 17, part 1).

The file is ``letswork.toml`` in the project folder, or else the ``[tool.letswork]`` table of
its ``pyproject.toml`` (the place the field gives a tool's settings: ``[tool.ruff]``,
``[tool.poe.tasks]``, ``[tool.taskipy.tasks]``)::

    [commands.test]
    run = ["pytest", "-q"]      # an argv, never a shell string
    args = "any"                # "any", "none" (the default), or a list of patterns
    approval = "ask"            # "ask" (the default) each run, or "auto"
    timeout = "10m"             # seconds, or a number and s, m or h; default 10m
    roles = ["editor"]          # who besides the host may run it; default ["editor"]
    env = { PYTHONHASHSEED = "0" }   # variables added to PATH, HOME and LANG
    description = "the unit tests"

:func:`parse_commands` is pure (bytes in, :class:`CommandsFile` out); :func:`load_commands`
reads the file (a worker thread's job, never the event loop's). Both files are sensitive paths
(``workspace/policy.py``): a guest's change to them always waits for the host. A file that
breaks a rule gives no commands at all, and says why in ``problem``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from letswork.shared import limits as lim
from letswork.shared.errors import ErrorCode, op_error

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "COMMANDS_FILE",
    "PYPROJECT_FILE",
    "Command",
    "CommandsFile",
    "check_args",
    "load_commands",
    "parse_commands",
]

COMMANDS_FILE = "letswork.toml"
PYPROJECT_FILE = "pyproject.toml"

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smh]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600}
_KEYS = frozenset({"run", "args", "approval", "timeout", "roles", "env", "description"})
_GUEST_ROLES = frozenset({"editor", "viewer"})
#: Characters of a ``problem`` (a reply's short text holds it).
_PROBLEM_CHARS = 500


@dataclasses.dataclass(frozen=True)
class Command:
    """One command: ``run`` is its argv; ``args`` is ``any``, ``none`` or ``patterns``;
    ``timeout`` is in seconds; ``roles`` the guest roles that may run it (the host always
    may); ``env`` the variables it adds."""

    name: str
    run: tuple[str, ...]
    args: str
    patterns: tuple[str, ...]
    approval: str
    timeout: int
    roles: frozenset[str]
    env: Mapping[str, str]
    description: str | None


@dataclasses.dataclass(frozen=True)
class CommandsFile:
    """What the commands file gives: ``source`` is its name (None: no file declares commands),
    ``problem`` why it gives none though it exists."""

    source: str | None
    commands: Mapping[str, Command]
    problem: str | None = None


class _Bad(ValueError):
    pass


def load_commands(root: Path) -> CommandsFile:
    """The commands of the project folder ``root`` (disk: run it off the event loop).

    ``letswork.toml`` wins over ``pyproject.toml``; a ``pyproject.toml`` without
    ``[tool.letswork]`` declares none. A file over ``MAX_COMMANDS_FILE_BYTES``, or one that is
    a symlink, gives a ``problem``. Never raises.
    """
    for name in (COMMANDS_FILE, PYPROJECT_FILE):
        try:
            data = _read(root / name)
        except FileNotFoundError:
            continue
        except OSError as exc:
            return CommandsFile(name, {}, f"{name} cannot be read: {exc.strerror or exc}")
        if data is None:
            return CommandsFile(
                name, {}, f"{name} is over {lim.MAX_COMMANDS_FILE_BYTES // lim.KiB} KiB"
            )
        found = parse_commands(data, name)
        if found.source is not None or name == COMMANDS_FILE:
            return found
    return CommandsFile(None, {})


def _read(path: Path) -> bytes | None:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as f:
        data = f.read(lim.MAX_COMMANDS_FILE_BYTES + 1)
    return None if len(data) > lim.MAX_COMMANDS_FILE_BYTES else data


def parse_commands(data: bytes, source: str) -> CommandsFile:
    """Parse a commands file's bytes. ``source`` is its name: for ``pyproject.toml`` the
    commands are under ``[tool.letswork.commands]`` (no such table: ``source`` None), else
    under ``[commands]``. Never raises: a broken file gives ``problem``."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return CommandsFile(source, {}, f"{source} is not UTF-8 text")
    except tomllib.TOMLDecodeError as exc:
        return CommandsFile(source, {}, f"{source} is not valid TOML: {str(exc)[:200]}")
    except RecursionError:  # tomllib recurses into nested arrays and tables
        return CommandsFile(source, {}, f"{source} is not valid TOML: nested too deep")
    table: Any = doc
    where = ""
    if source == PYPROJECT_FILE:
        table = doc.get("tool", {}).get("letswork") if isinstance(doc.get("tool"), dict) else None
        if table is None:
            return CommandsFile(None, {})
        where = "tool.letswork."
    if not isinstance(table, dict):
        return CommandsFile(source, {}, f"{source}: [{where.rstrip('.')}] is not a table")
    raw = table.get("commands", {})
    try:
        if not isinstance(raw, dict):
            raise _Bad(f"[{where}commands] is not a table")
        if len(raw) > lim.MAX_COMMANDS:
            raise _Bad(f"more than {lim.MAX_COMMANDS} commands")
        commands = {name: _command(name, spec, where) for name, spec in raw.items()}
    except _Bad as exc:  # cut: a name or key it quotes may be any length
        return CommandsFile(source, {}, f"{source}: {exc}"[:_PROBLEM_CHARS])
    return CommandsFile(source, commands)


def _command(name: str, spec: Any, where: str) -> Command:
    at = f"[{where}commands.{name[: lim.MAX_COMMAND_NAME_CHARS]}]"
    if len(name) > lim.MAX_COMMAND_NAME_CHARS or not _NAME.fullmatch(name):
        raise _Bad(f"{at}: a command's name is letters, digits, '_', '.' and '-'")
    if not isinstance(spec, dict):
        raise _Bad(f"{at} is not a table")
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise _Bad(f"{at}: unknown key {unknown[0][:40]!r} (keys: {', '.join(sorted(_KEYS))})")
    run = spec.get("run")
    if isinstance(run, str):
        raise _Bad(f'{at}: run is an argv list such as ["pytest", "-q"], never a shell string')
    run_argv = _strings(run, f"{at} run", min_items=1)
    args_spec = spec.get("args", "none")
    patterns: tuple[str, ...] = ()
    if isinstance(args_spec, list):
        patterns = _strings(args_spec, f"{at} args", min_items=1)
        args = "patterns"
    elif args_spec in ("any", "none"):
        args = args_spec
    else:
        raise _Bad(f'{at}: args is "any", "none" or a list of patterns')
    approval = spec.get("approval", "ask")
    if approval not in ("ask", "auto"):
        raise _Bad(f'{at}: approval is "ask" or "auto"')
    timeout = _timeout(spec.get("timeout", lim.DEFAULT_RUN_TIMEOUT_SECONDS), at)
    roles = spec.get("roles", ["editor"])
    if not isinstance(roles, list) or not all(r in _GUEST_ROLES for r in roles):
        raise _Bad(f'{at}: roles is a list of "editor" and "viewer" (the host always may)')
    env = spec.get("env", {})
    if not isinstance(env, dict) or len(env) > lim.MAX_COMMAND_ENV:
        raise _Bad(f"{at}: env is a table of at most {lim.MAX_COMMAND_ENV} variables")
    for key, value in env.items():
        if not _ENV_NAME.fullmatch(key) or len(key) > 128 or not isinstance(value, str):
            raise _Bad(f'{at}: env {key[:40]!r} must be a NAME = "text" pair')
        if "\0" in value or len(value) > lim.MAX_COMMAND_ARG_CHARS:
            raise _Bad(f"{at}: env {key!r} is too long or holds NUL")
    description = spec.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 500):
        raise _Bad(f"{at}: description is text of at most 500 characters")
    return Command(
        name=name,
        run=run_argv,
        args=args,
        patterns=patterns,
        approval=approval,
        timeout=timeout,
        roles=frozenset(roles),
        env=dict(env),
        description=description,
    )


def _strings(value: Any, what: str, *, min_items: int) -> tuple[str, ...]:
    if not isinstance(value, list) or not min_items <= len(value) <= lim.MAX_COMMAND_ARGV:
        raise _Bad(f"{what}: a list of {min_items} to {lim.MAX_COMMAND_ARGV} strings")
    for item in value:
        if not isinstance(item, str) or "\0" in item or len(item) > lim.MAX_COMMAND_ARG_CHARS:
            raise _Bad(
                f"{what}: each item is text without NUL, at most "
                f"{lim.MAX_COMMAND_ARG_CHARS} characters"
            )
    if value[0] == "" and what.endswith(" run"):
        raise _Bad(f"{what}: the program's name is empty")
    return tuple(value)


def _timeout(value: Any, at: str) -> int:
    if isinstance(value, bool):
        raise _Bad(f'{at}: timeout is seconds, or text such as "90s", "10m", "1h"')
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and (m := _DURATION.match(value)) is not None:
        seconds = int(m.group(1)) * _UNIT[m.group(2)]
    else:
        raise _Bad(f'{at}: timeout is seconds, or text such as "90s", "10m", "1h"')
    if not 1 <= seconds <= lim.MAX_RUN_TIMEOUT_SECONDS:
        raise _Bad(f"{at}: timeout is 1s to {lim.MAX_RUN_TIMEOUT_SECONDS // 3600}h")
    return seconds


#: Characters an argument may start with, or hold right after an ``=``, only where the
#: pattern's own text gives them: an option (``-``, ``+``), an argument file (``@``) or a path
#: from outside the project (``/``, ``\\``, ``~``).
_LEADING = frozenset("-+@/\\~")


def _allowed_by(arg: str, pattern: str) -> bool:
    """``arg`` matches ``pattern`` as shell-style ``fnmatch`` reads it (``*`` matches ``/``;
    fnmatch's translation does not backtrack without bound), and every character of
    ``_LEADING`` at the argument's start or right after one of its ``=`` lies within the
    pattern's text before its first wildcard: ``*.py`` takes ``tests/a.py``, never
    ``--basetemp=/home/x.py``, ``@args.py`` or ``/etc/x.py``; ``--junitxml=*`` never
    ``--junitxml=/home/x``; ``--out=/tmp/*`` does take ``--out=/tmp/a``."""
    if not fnmatch.fnmatchcase(arg, pattern):
        return False
    literal = next((i for i, c in enumerate(pattern) if c in "*?["), len(pattern))
    starts = (0, *(i + 1 for i, c in enumerate(arg) if c == "="))
    return all(s >= len(arg) or arg[s] not in _LEADING or s < literal for s in starts)


def check_args(command: Command, args: Sequence[str]) -> None:
    """Refuse arguments ``command`` does not take.

    Raises:
        OpError: ``invalid``, naming the first refused argument and what the command takes.
    """
    if not args:
        return
    for arg in args:
        if "\0" in arg:
            raise op_error(ErrorCode.INVALID, "an argument holds NUL, which no program takes")
    if len(shlex.join(args)) > lim.MAX_RUN_ARGS_CHARS:
        raise op_error(
            ErrorCode.INVALID,
            f"the arguments are over {lim.MAX_RUN_ARGS_CHARS} characters; the host must be able "
            "to read them all before approving",
            command=command.name,
        )
    if command.args == "any":
        return
    if command.args == "none":
        raise op_error(
            ErrorCode.INVALID,
            f"command '{command.name}' takes no arguments; run it with args=[]",
            command=command.name,
        )
    for arg in args:
        # ``*`` matches ``/`` and ``..``: "tests/*" must not reach "tests/../../.ssh".
        if ".." in re.split(r"[/=]", arg):
            raise op_error(
                ErrorCode.INVALID,
                f"argument {arg[:80]!r} climbs out with '..'; name paths inside the project",
                command=command.name,
            )
        if not any(_allowed_by(arg, p) for p in command.patterns):
            allowed = ", ".join(command.patterns)[:300]
            raise op_error(
                ErrorCode.INVALID,
                f"argument {arg[:80]!r} is not allowed for '{command.name}'; "
                f"each argument must match one of: {allowed}",
                command=command.name,
            )
