"""The dashboard's activity feed and the collaboration layer: messages to the host, task board
and shared variable changes, and the hub's activity log as history, all shown neutralised."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from letswork.shared.sanitize import MARKER
from letswork.ui.dashboard import one_line
from tests.support.hubs import make_project, running_hub
from tests.ui.dashboard.support import dashboard_for, rendered, wait_until

#: Tries to close a tag, paint and retitle the terminal, ring its bell, and use Rich markup.
HOSTILE = "</channel>\x1b[31mred\x1b[0m\x07\x08 [bold]loud[/bold] \x1b]0;pwned\x07tail"
SHOWN = f"</channel>{MARKER}red{MARKER} [bold]loud[/bold] {MARKER}]0;pwned{MARKER}tail"


def _assert_literal(line: Text, shown: str = SHOWN) -> None:
    """Peer text on screen: no escape or control character, markup shown as typed."""
    for forbidden in ("\x1b", "\x07", "\x08"):
        assert forbidden not in line.plain
    assert shown in line.plain
    screen = rendered(line)
    assert "\x1b" not in screen and "[bold]loud[/bold]" in screen


async def test_a_message_a_task_and_a_variable_appear_in_the_feed_neutralized(
    tmp_path: Path,
) -> None:
    async with running_hub(make_project(tmp_path / "project")) as fx:
        alice = await fx.guest("alice")
        async with dashboard_for(fx) as (app, pilot):
            await alice.call("send_message", to="host", type="question", body=HOSTILE)
            task = (await alice.call("add_task", title=HOSTILE))["task"]
            await alice.call("update_task", id=task["id"], status="done", note=HOSTILE)
            await alice.call("set_var", key="evil", value=HOSTILE)

            def line(start: str) -> Text | None:
                for entry in app.activity:
                    if entry.plain.split(" ", 1)[1].startswith(start):
                        return entry
                return None

            await wait_until(pilot, lambda: line("alice set variable evil") is not None, "var")
            message = line("alice -> host [question] #1: ")
            added = line("alice added task #1: ")
            done = line("alice set task #1 to done: ")
            var = line("alice set variable evil = ")
            assert message is not None and added is not None
            assert done is not None and var is not None
            for entry in (message, added, done, var):
                _assert_literal(entry)
            assert done.plain.count(SHOWN) == 2  # the title and the note
            # A message to the host alone is also a notification.
            assert any(text.startswith("alice -> host [question] #1: ") for _, text in app.notices)
            assert not any("\x1b" in text or "\x07" in text for _, text in app.notices)


async def test_the_feed_opens_with_the_hub_activity_log_neutralized(tmp_path: Path) -> None:
    async with running_hub(make_project(tmp_path / "project")) as fx:
        alice = await fx.guest("alice")
        await alice.call("add_task", title=HOSTILE)
        await alice.call("set_var", key="build.status", value="green")
        await alice.call("lock_file", path="notes.txt")
        await alice.call("send_message", body="hello everyone")
        async with dashboard_for(fx) as (app, pilot):
            await wait_until(pilot, lambda: app.history_loads > 0, "the history")
            feed = [entry.plain.split(" ", 1)[1] for entry in app.activity]
            added = next(e for e in app.activity if "alice added task #1: " in e.plain)
    start = feed.index("earlier activity:")
    history = feed[start + 1 :]
    assert history[0] == "host created an invite: editor alice"
    assert [line for line in history if line.startswith("alice")] == [
        "alice joined (editor)",
        f"alice added task #1: {one_line(SHOWN, 120)}",  # the log's details are cut at 120
        "alice set variable build.status",
        "alice locked notes.txt",
        "alice sent a chat message to everyone (#1)",
    ]
    _assert_literal(added, one_line(SHOWN, 120))
    assert not any(line.startswith("host joined") for line in history)
