"""The channel's stdio transport: pipes without worker threads, files through the SDK's path."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCNotification, JSONRPCRequest

from letswork.channel import stdio
from letswork.channel.stdio import _Lines
from tests.channel.mcp_support import (
    INITIALIZE,
    INITIALIZED,
    ROOT,
    WAIT,
    channel_env,
    invite_code,
)
from tests.support.hubs import make_project, running_hub


def _call(request_id: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def _frames(*messages: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(m).encode() + b"\n" for m in messages)


def _answers(stdout: bytes) -> dict[int, dict[str, Any]]:
    messages = [json.loads(line) for line in stdout.splitlines()]
    assert all(m["jsonrpc"] == "2.0" for m in messages)
    return {m["id"]: m for m in messages if "id" in m}


async def _lines_of(data: bytes, limit: int) -> list[str]:
    reader = asyncio.StreamReader(limit=limit)
    reader.feed_data(data)
    reader.feed_eof()
    return [line async for line in _Lines(reader)]


async def test_a_line_over_the_limit_is_dropped_whole_and_the_next_line_is_read() -> None:
    lines = await _lines_of(b"x" * 100 + b"\n" + b'{"a": 1}\n', limit=16)
    assert lines == ["\n", '{"a": 1}\n']


async def test_a_line_over_the_limit_that_arrives_without_its_newline_yet_is_dropped() -> None:
    lines = await _lines_of(b"y" * 100, limit=16)
    assert lines == ["\n"]


async def test_a_last_message_without_a_newline_is_still_read() -> None:
    assert await _lines_of(b'{"a": 1}\n{"b": 2}', limit=1024) == ['{"a": 1}\n', '{"b": 2}']


async def test_replies_larger_than_the_pipe_buffer_arrive_whole_and_in_any_number(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    line = "0123456789abcdef" * 7 + "\n"  # 113 characters
    (project / "big.txt").write_text(line * 3000, encoding="utf-8")  # ~330 KB
    async with running_hub(project) as hub:
        code = await invite_code(hub, "editor", "pia")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "letswork", "channel", "--name", "pia",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=channel_env(LETSWORK_INVITE=code),
            cwd=ROOT,
            limit=2**24,
        )  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        # Eight reads at once: each reply is a 60,000-character page, the eight together
        # ~8 times the 64 KiB a pipe holds, so the channel's writes must wait for the reader.
        proc.stdin.write(
            _frames(
                INITIALIZE,
                INITIALIZED,
                *(_call(i, "read_file", {"path": "big.txt"}) for i in range(2, 10)),
            )
        )
        await proc.stdin.drain()
        answers: dict[int, dict[str, Any]] = {}
        while len(answers) < 9:
            reply = await asyncio.wait_for(proc.stdout.readline(), WAIT)
            assert reply.endswith(b"\n"), "the channel closed stdout"
            message = json.loads(reply)
            if "id" in message:
                answers[message["id"]] = message
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0
    for i in range(2, 10):
        text = answers[i]["result"]["content"][0]["text"]
        header, page = text.split("\n", 1)
        assert header.startswith("big.txt · lines 1-530 of 3000")
        assert page == line * 530


async def test_a_channel_reading_a_file_and_writing_a_file_answers_through_the_sdk_transport(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    requests = tmp_path / "requests.jsonl"
    requests.write_bytes(_frames(INITIALIZE, INITIALIZED, _call(2, "ping", {})))
    replies = tmp_path / "replies.jsonl"
    async with running_hub(project) as hub:
        code = await invite_code(hub, "viewer", "fay")

        def run() -> int:
            with requests.open("rb") as stdin, replies.open("wb") as stdout:
                return subprocess.run(
                    [sys.executable, "-m", "letswork", "channel", "--name", "fay"],
                    stdin=stdin,
                    stdout=stdout,
                    stderr=subprocess.DEVNULL,
                    env=channel_env(LETSWORK_INVITE=code),
                    cwd=ROOT,
                    timeout=WAIT,
                    check=False,
                ).returncode

        assert await asyncio.to_thread(run) == 0
    answers = _answers(replies.read_bytes())
    assert answers[1]["result"]["serverInfo"]["name"] == "letswork"
    assert 2 in answers


async def test_requests_piped_before_the_end_of_input_are_all_answered(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub:
        code = await invite_code(hub, "viewer", "gil")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "letswork", "channel", "--name", "gil",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=channel_env(LETSWORK_INVITE=code),
            cwd=ROOT,
        )  # fmt: skip
        # Every request, then the end of input at once: each tool call still needs the hub
        # link, which is not up yet when the input ends.
        stdout, _ = await asyncio.wait_for(
            proc.communicate(
                _frames(
                    INITIALIZE,
                    INITIALIZED,
                    *(_call(i, "read_file", {"path": "README.md"}) for i in range(2, 6)),
                )
            ),
            WAIT,
        )
    assert proc.returncode == 0
    answers = _answers(stdout)
    assert sorted(answers) == [1, 2, 3, 4, 5]
    assert all("result" in answers[i] for i in range(2, 6))


async def test_the_end_of_input_waits_for_no_request_the_client_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Were the cancelled request still awaited, the end would be held for an hour.
    monkeypatch.setattr(stdio, "EOF_DRAIN_SECONDS", 3600.0)
    send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](4)
    out_send, out_receive = anyio.create_memory_object_stream[SessionMessage](4)
    reader, writer = stdio.drain_on_eof(receive, out_send)
    cancel = JSONRPCNotification(
        jsonrpc="2.0", method="notifications/cancelled", params={"requestId": 7}
    )
    async with send, reader, writer, out_receive:
        await send.send(SessionMessage(JSONRPCRequest(jsonrpc="2.0", id=7, method="tools/call")))
        await send.send(SessionMessage(cancel))
        await send.aclose()
        with anyio.fail_after(WAIT):
            seen = [item async for item in reader]
    assert len(seen) == 2
