"""`letswork join` against a hub whose reply to ``hello`` is malformed (issue 13, item 11)."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys

from letswork.channel import sessions
from tests.support.fake_hub import fake_hub, non_hex_hello_script

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
