"""Nothing is lost: pending changes survive a stop and a SIGKILL of the hub; tasks, variables
and undelivered messages survive a restart."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from letswork.client.connection import HubConnection
from letswork.shared import invite
from tests.support.hubs import HubFixture, running_hub
from tests.support.processes import hub_process


def _contents(n: int) -> dict[str, str]:
    rng = random.Random(1234)
    return {
        f"gen/file{i:02d}.txt": "".join(rng.choice("abcdefgh \n") for _ in range(2000 + i))
        for i in range(n)
    }


async def _propose_all(fx: HubFixture, contents: dict[str, str]) -> None:
    guest = await fx.guest("alice")
    for path, text in contents.items():
        result = await guest.call("write_file", path=path, content=text)
        assert result["status"] == "pending"
    await fx.close_clients()


async def _assert_pending(fx: HubFixture, contents: dict[str, str]) -> list[str]:
    host = await fx.host()
    pending = await host.call("pending_changes")
    assert len(pending["changes"]) == len(contents)
    assert {c["path"] for c in pending["changes"]} == set(contents)
    assert all(c["author"] == "alice" for c in pending["changes"])
    return [c["id"] for c in pending["changes"]]


async def _approve_all_and_compare(
    fx: HubFixture, ids: list[str], contents: dict[str, str]
) -> None:
    host = await fx.host()
    for change_id in ids:
        result = await host.call("approve_change", id=change_id)
        assert result["change"]["status"] == "applied"
    for path, text in contents.items():
        assert (fx.project / path).read_text() == text  # byte-identical after the restart


async def test_fifty_pending_changes_survive_a_stop_and_restart(project: Path) -> None:
    contents = _contents(50)
    async with running_hub(project) as fx:
        await _propose_all(fx, contents)
    async with running_hub(project) as fx:
        ids = await _assert_pending(fx, contents)
        await _approve_all_and_compare(fx, ids, contents)
    assert not list(project.rglob(".letswork-tmp-*"))


async def test_fifty_pending_changes_survive_a_sigkill_of_the_hub(project: Path) -> None:
    contents = _contents(50)
    with hub_process(project, "--auto-admit") as hp:
        inv = invite.parse(hp.code)
        conn = HubConnection(inv.url, inv.secret, name="alice")
        await conn.connect()
        for path, text in contents.items():
            result = await conn.request("write_file", {"path": path, "content": text})
            assert result["status"] == "pending"  # acknowledged => committed
        os.kill(hp.pid, signal.SIGKILL)
        hp.proc.wait(timeout=10)
        await conn.close()
    async with running_hub(project) as fx:
        ids = await _assert_pending(fx, contents)
        await _approve_all_and_compare(fx, ids, contents)
    assert not list(project.rglob(".letswork-tmp-*"))


def test_the_hub_process_module_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "letswork", "start", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "--tunnel" in out.stdout


# ---------------------------------------------------------------------------- restart


async def test_tasks_variables_and_undelivered_messages_survive_a_restart(project: Path) -> None:
    async with running_hub(project) as fx:
        alice = await fx.guest("alice")
        bob = await fx.guest("bob")
        bob_secret = bytes.fromhex(bob.conn.hello["resume_secret"])
        await bob.conn.close()
        await alice.wait_event("peer_left", lambda d: d["name"] == "bob")
        first = (await alice.call("add_task", title="first", priority="critical"))["task"]
        await alice.call("add_task", title="second", depends_on=[first["id"]])
        await alice.call("claim_task", id=first["id"])
        await alice.call("set_var", key="release", value="v1.2")
        sent = await alice.call("send_message", to="bob", body="kept for you", type="handoff")
        assert sent["message"]["receipts"][0]["status"] == "sent"

    async with running_hub(project) as fx:
        bob = await fx.connect(bob_secret, "bob")
        got = await bob.wait_event("message")
        assert (got.data["message"]["body"], got.data["message"]["type"]) == (
            "kept for you",
            "handoff",
        )
        board = await bob.call("board")
        assert [(t["title"], t["assignee"]) for t in board["claimed"]] == [("first", "alice")]
        assert [t["title"] for t in board["blocked"]] == ["second"]
        assert (await bob.call("get_var", key="release"))["vars"][0]["value"] == "v1.2"
        history = await bob.call("get_messages", include_read=True)
        assert [m["body"] for m in history["messages"]] == ["kept for you"]
