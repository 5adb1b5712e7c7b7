"""The host's live terminal dashboard (design section 12), built on Textual.

The dashboard is one more protocol client of the hub: it connects over loopback with the host
key, exactly like the admin CLI, as a peer named ``host`` (client ``dashboard``). It shows:

- the invite box, with the exact ``letswork join CODE`` line;
- the people connected, with role and state; guests waiting for admission are highlighted,
  ``y`` admits the selected (or first) waiting guest, ``A`` admits all of them, ``n`` denies;
- the pending changes and a syntax-highlighted diff of the selected one; ``a`` approves it,
  ``r`` rejects it with a reason typed into a prompt;
- the locks;
- an activity feed: one line per event, newest last: people, changes, locks, the messages the
  host can read (to the host, or to everyone), task board and shared variable changes, read
  receipts. On connecting it first shows the recent history from the hub's ``activity_log``
  (after a reconnect: what happened while it was away).

State comes from the hub's ``status`` and ``pending_changes`` ops, reloaded (coalesced) after
every event that can change it and every few seconds; diffs are fetched one at a time with
``get_change`` for the selected change, so a long queue never makes one huge response.

Every string another person supplied (names, paths, diffs, reasons, error messages) goes through
:func:`letswork.shared.sanitize.clean_terminal` and is put on screen as a :class:`rich.text.Text`
(or a :class:`rich.syntax.Syntax`), never as markup, so neither an ANSI escape nor ``[bold]``
written by a guest is interpreted, and invisible characters (Unicode tags, zero-width
characters, ...) show as ``[hidden text removed]`` rather than as nothing.
``tests/test_one_printer.py`` keeps markup out of this package. Hub errors become
notifications; a lost connection shows a banner while the dashboard reconnects with backoff.

The package, one module per pane: :mod:`.app` (the app: layout, CSS, bindings, the connection
loop), :mod:`.core` (the state and helpers every pane shares), :mod:`.invite`, :mod:`.people`,
:mod:`.changes` (pending changes and the diff view), :mod:`.locks`, :mod:`.feed` (the activity
feed), :mod:`.reason` (the reason prompt), :mod:`.tables` (table cursors), :mod:`.words` (the pure
text of events, changes, messages and activity), and :mod:`.running` (``run_dashboard``).
"""

from letswork.ui.dashboard.app import (
    HISTORY_ENTRIES,
    RECONNECT_FIRST_DELAY,
    RECONNECT_MAX_DELAY,
    REFRESH_INTERVAL_SECONDS,
    Dashboard,
)
from letswork.ui.dashboard.core import HubEvent
from letswork.ui.dashboard.feed import MAX_ACTIVITY_LINES, ActivityLine
from letswork.ui.dashboard.invite import InviteChanged
from letswork.ui.dashboard.reason import ReasonScreen
from letswork.ui.dashboard.running import HostedHub, run_dashboard
from letswork.ui.dashboard.words import (
    MAX_DIFF_CHARS,
    MAX_DIFF_LINES,
    WAITING_STYLE,
    describe_activity,
    describe_change,
    describe_event,
    describe_message,
    describe_task_change,
    diff_renderable,
    one_line,
    peer_text,
    sensitive_mark,
)

__all__ = [
    "HISTORY_ENTRIES",
    "MAX_ACTIVITY_LINES",
    "MAX_DIFF_CHARS",
    "MAX_DIFF_LINES",
    "RECONNECT_FIRST_DELAY",
    "RECONNECT_MAX_DELAY",
    "REFRESH_INTERVAL_SECONDS",
    "WAITING_STYLE",
    "ActivityLine",
    "Dashboard",
    "HostedHub",
    "HubEvent",
    "InviteChanged",
    "ReasonScreen",
    "describe_activity",
    "describe_change",
    "describe_event",
    "describe_message",
    "describe_task_change",
    "diff_renderable",
    "one_line",
    "peer_text",
    "run_dashboard",
    "sensitive_mark",
]
