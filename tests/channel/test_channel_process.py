"""`letswork channel` as a process: stdout carries MCP frames and nothing else."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.channel.mcp_support import (
    INITIALIZE,
    INITIALIZED,
    ROOT,
    WAIT,
    channel_env,
    coverage_env,
    invite_code,
)
from tests.support.hubs import make_project, running_hub


async def _read_message(stdout: asyncio.StreamReader, lines: list[bytes]) -> dict[str, Any]:
    line = await asyncio.wait_for(stdout.readline(), WAIT)
    assert line, "the channel closed stdout"
    lines.append(line)
    message = json.loads(line)
    assert isinstance(message, dict) and message["jsonrpc"] == "2.0"
    return message


async def test_the_channel_writes_only_json_rpc_messages_to_stdout_even_when_verbose(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        code = await invite_code(hub, "editor", "dora")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "letswork", "channel", "--name", "dora", "-v",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=channel_env(LETSWORK_INVITE=code),
            cwd=ROOT,
        )  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        requests: list[dict[str, Any]] = [
            INITIALIZE,
            INITIALIZED,
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "read_file", "arguments": {"path": "notes.txt"}},
            },
        ]
        lines: list[bytes] = []
        answers: dict[int, dict[str, Any]] = {}
        for request in requests:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            await proc.stdin.drain()
            if "id" in request:
                while request["id"] not in answers:
                    message = await _read_message(proc.stdout, lines)
                    if "id" in message:
                        answers[message["id"]] = message
        proc.stdin.close()
        rest = await asyncio.wait_for(proc.stdout.read(), WAIT)
        stderr = await asyncio.wait_for(proc.stderr.read(), WAIT)
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0
    for line in rest.splitlines():
        assert json.loads(line)["jsonrpc"] == "2.0"
    init = answers[1]["result"]
    assert init["capabilities"]["experimental"] == {"claude/channel": {}}
    assert init["serverInfo"]["name"] == "letswork"
    assert "get_status" in {t["name"] for t in answers[2]["result"]["tools"]}
    call = answers[3]["result"]
    assert call["isError"] is False
    assert call["content"][0]["text"].endswith("alpha\nbeta\ngamma\n")
    assert b"DEBUG" in stderr or b"INFO" in stderr  # the logs went to stderr
    assert code.encode() not in stderr  # and never the invite
    (log_file,) = (Path(os.environ["LETSWORK_STATE_DIR"]) / "logs").glob("channel-*.log")
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert "channel starting" in log_file.read_text(encoding="utf-8")


async def test_a_channel_without_an_invite_exits_with_code_2_and_a_message_on_stderr() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "letswork", "channel",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=channel_env(),
        cwd=ROOT,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 2
    assert stdout == b""
    assert b"letswork join CODE" in stderr


async def test_a_2026_client_that_discovers_instead_of_initializing_sees_the_capability(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        code = await invite_code(hub, "viewer", "vera")
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "letswork", "channel", "--name", "vera"],
            env={
                "LETSWORK_STATE_DIR": os.environ["LETSWORK_STATE_DIR"],
                "PYTHONPATH": str(ROOT),
                "LETSWORK_INVITE": code,
                **coverage_env(),
            },
            cwd=ROOT,
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            discovered = await asyncio.wait_for(session.discover(), WAIT)
            await asyncio.wait_for(session.list_tools(), WAIT)  # returns once the hub said hello
            result = await asyncio.wait_for(
                session.call_tool("read_file", {"path": "notes.txt"}), WAIT
            )
    assert discovered.capabilities.experimental == {"claude/channel": {}}
    assert result.is_error is False
