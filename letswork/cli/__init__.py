"""The ``letswork`` command line (click): the group, :func:`main`, and its commands.

``letswork start`` (:mod:`.start`), ``join`` (:mod:`.join`), ``doctor`` (:mod:`.doctor`),
``channel`` (:mod:`.channel`) and the host's admin commands (:mod:`.admin`) each live in their
own module and are added here. Errors become one line and an exit code in one place,
:mod:`letswork.cli._common`. The console script ``letswork`` and ``python -m letswork`` both
enter through :func:`main`.
"""

from __future__ import annotations

import click

from letswork import __version__
from letswork.cli import admin, channel, doctor, join, runs, start
from letswork.ui import printer

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="letswork")
def main() -> None:
    """Real-time collaboration on one codebase, each person through their own AI assistant.

    The host runs `letswork start` in a project folder and shares the printed invite code;
    each guest runs `letswork join CODE`. Everything between them is end-to-end encrypted.
    """
    printer.install()


admin.register(main)
join.register(main)
doctor.register(main)
start.register(main)
channel.register(main)
runs.register(main)
