"""The dashboard's words, styled: catalogue data (an event, a change, a message, a task change,
an entry of the activity log) as what the dashboard shows.

The words come from :mod:`letswork.shared.describe`, the one place that turns catalogue data
into words for the channel and the dashboard alike; this module only gives each piece its
terminal style (:data:`_TONE_STYLES`) and builds the diff view. No widget here: each takes
protocol models and returns a ``str``, a :class:`rich.text.Text` or (for a diff) a renderable,
and ``tests/test_text_snapshot.py`` holds them byte for byte. Every peer-written string goes
through :func:`letswork.shared.sanitize.terminal_line` (:func:`one_line`) or
:func:`~letswork.shared.sanitize.clean_terminal` and is shown literally, never as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text

from letswork.shared import describe
from letswork.shared.errors import ProtocolError
from letswork.shared.protocol.changes import ChangeInfo
from letswork.shared.protocol.files import FileChangedData
from letswork.shared.protocol.messages import MessageData, MessageInfo, MessageReceiptData
from letswork.shared.protocol.presence import ActivityEntry
from letswork.shared.protocol.tasks import TaskUpdatedData
from letswork.shared.protocol.variables import VarChangedData
from letswork.shared.protocol.wire import Event, parse_event_data
from letswork.shared.sanitize import clean_terminal, terminal_line

#: Longest diff shown, in lines; the rest is summarised (``letswork diff ID`` shows it all).
MAX_DIFF_LINES = 2000
#: Longest diff shown, in characters (one huge line would otherwise pass).
MAX_DIFF_CHARS = 200_000

#: Style of a guest waiting for admission (its row in the people table).
WAITING_STYLE = "bold black on yellow"
_ERROR_STYLE = "bold red"
_WARN_STYLE = "yellow"
_OK_STYLE = "green"


def one_line(text: str, max_chars: int = 160) -> str:
    """Peer-supplied text for one line of the terminal: escapes, controls and invisible
    characters removed (and marked), whitespace runs (newlines, tabs) folded to one space, cut
    to ``max_chars``."""
    return terminal_line(text, max_chars)


def peer_text(text: str, style: str = "", max_chars: int = 160) -> Text:
    """:func:`one_line` as a :class:`Text`: shown literally, never parsed as markup."""
    return Text(one_line(text, max_chars), style=style, no_wrap=True, overflow="ellipsis", end="")


def describe_change(change: ChangeInfo) -> str:
    """``write src/app.py`` or ``move a.txt -> b.txt``, sanitised, one line."""
    return describe.change_summary(change)


def sensitive_mark(change: ChangeInfo) -> str:
    """`` [sensitive: reason]`` for a change to a sensitive path (it alters what guests see or
    runs code on the host), sanitised; ``""`` for any other change."""
    return describe.sensitive_mark(change)


def diff_renderable(change: ChangeInfo) -> tuple[str, RenderableType]:
    """The sanitised diff text of ``change`` and what the diff viewer shows for it."""
    # Cut before cleaning: the cleaner's cost, and how much its markers can make a line grow,
    # are per character. Cleaning keeps every newline and adds none.
    lines = (change.diff or "").split("\n", MAX_DIFF_LINES)
    diff = clean_terminal("\n".join(lines[:MAX_DIFF_LINES])[:MAX_DIFF_CHARS])
    if len(lines) > MAX_DIFF_LINES or len(diff) > MAX_DIFF_CHARS:
        diff = diff[:MAX_DIFF_CHARS]
        more = (change.diff or "").count("\n") - diff.count("\n")
        see = f"letswork diff {one_line(change.id, 64)}"
        diff += f"\n... {more} more lines: see them all with `{see}`\n"
    header = Text(no_wrap=False, end="")
    header.append(f"change {one_line(change.id, 64)}", style="bold")
    header.append(f"  {describe_change(change)}")
    header.append(f"  by {one_line(change.author, 64)}", style="cyan")
    header.append(f"  {change.size} bytes", style="dim")
    if change.status != "pending":
        header.append(f"  [{change.status}]", style=_WARN_STYLE)
    if change.sensitive:
        header.append(
            f"\nsensitive path: {one_line(change.sensitive, 300)}. It waits for you even from a "
            "trusted editor: read it with care.",
            style=_WARN_STYLE,
        )
    body: RenderableType
    if diff.strip():
        body = Syntax(diff, "diff", theme="ansi_dark", word_wrap=True, background_color="default")
    else:
        body = Text("(no textual difference)", style="dim")
    return diff, Group(header, Text(""), body)


#: How the terminal shows each tone of :mod:`letswork.shared.describe`.
_TONE_STYLES: Mapping[describe.Tone, str] = {
    "": "",
    "aside": "dim",
    "title": "bold",
    "sender": "bold cyan",
    "ok": _OK_STYLE,
    "warn": _WARN_STYLE,
    "error": _ERROR_STYLE,
    "waiting": WAITING_STYLE,
}
#: Event data that changes nothing the panes show (the feed line is all): no reload.
_FEED_ONLY = (FileChangedData, MessageData, MessageReceiptData, TaskUpdatedData, VarChangedData)


def _styled(pieces: Iterable[describe.Piece]) -> Text:
    """The words of ``pieces`` as one :class:`Text`, each in its tone's style."""
    text = Text(end="")
    for words, tone in pieces:
        text.append(words, style=_TONE_STYLES[tone])
    return text


def describe_event(event: Event) -> tuple[Text, bool]:
    """One activity line for ``event``, and whether the hub's state should be reloaded."""
    try:
        data = parse_event_data(event.name, event.data)
    except ProtocolError:
        return Text(f"event {one_line(event.name, 64)} (not understood)", style="dim"), True
    refresh = not isinstance(data, _FEED_ONLY) and event.name != "hub_stopping"
    return _styled(describe.feed_line(event.name, data)), refresh


def describe_message(message: MessageInfo) -> Text:
    """``alice -> host [question] #4: body...``, the body on one line, shown literally."""
    return _styled(describe.message_line(message))


def describe_task_change(data: TaskUpdatedData) -> Text:
    """One line for a ``task_updated`` event."""
    return _styled(describe.task_change_line(data))


def describe_activity(entry: ActivityEntry) -> Text:
    """One feed line for an entry of the hub's activity log, every value sanitised."""
    return Text(describe.activity_line(entry), style="dim", end="")
