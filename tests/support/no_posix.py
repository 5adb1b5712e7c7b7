"""Run ``letswork ARGS`` as on native Windows' guest side: letswork's own code may not import
the POSIX-only modules, and the event loop has no signal handlers.

Usage: ``python tests/support/no_posix.py LOG ARGS...``. Every import letswork attempts of a
module in :data:`BLOCKED` fails with ModuleNotFoundError (as it does on Windows) and is
recorded as a line ``import <module> <importer>`` in LOG; every ``add_signal_handler`` call
raises NotImplementedError (as the Windows event loops do) and is recorded as ``signal``.

Third-party code (the MCP SDK, anyio) still gets ``fcntl``: it checks ``sys.platform`` itself
and has its own Windows path, which its own CI covers; what this simulates is letswork's.
"""

from __future__ import annotations

import asyncio
import builtins
import sys
from collections.abc import Mapping, Sequence
from typing import Any

#: The modules native Windows' Python lacks that letswork could reach for.
BLOCKED = frozenset({"fcntl", "termios", "pwd", "grp", "resource", "tty", "pty"})


def main() -> None:
    log_path, args = sys.argv[1], sys.argv[2:]
    real_import = builtins.__import__

    def record(line: str) -> None:
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(line + "\n")

    def guarded_import(
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] = (),
        level: int = 0,
    ) -> Any:
        importer = str((globals or {}).get("__name__", ""))
        if level == 0 and name.partition(".")[0] in BLOCKED and importer.startswith("letswork"):
            record(f"import {name} {importer}")
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, globals, locals, fromlist, level)

    def no_signals(self: asyncio.AbstractEventLoop, sig: int, *_: object) -> None:
        record("signal")
        raise NotImplementedError

    builtins.__import__ = guarded_import
    # asyncio.run's loop on Linux and macOS; uvloop is not a dependency.
    asyncio.SelectorEventLoop.add_signal_handler = no_signals  # type: ignore[method-assign,assignment]

    from letswork.cli import main as letswork_main

    sys.argv = ["letswork", *args]
    letswork_main()


if __name__ == "__main__":
    main()
