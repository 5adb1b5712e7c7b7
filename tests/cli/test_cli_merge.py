"""`letswork approve` of a change whose file moved on (issue 17, part 2), through the real CLI
against a real `letswork start`: a clean merge is printed and written only with `--merge`;
an overlap is a conflict the guest fixes with `update_change`, then approved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from letswork.client.connection import HubConnection
from letswork.shared import invite
from tests.support.hubs import make_project
from tests.support.processes import hub_process


def letswork(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "letswork", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,  # no terminal: no prompt
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")  # notes.txt is "alpha\nbeta\ngamma\n"


async def _guest(code: str) -> HubConnection:
    inv = invite.parse(code)
    guest = HubConnection(inv.url, inv.secret, name="alice")
    await guest.connect()
    return guest


async def test_clean_merge_is_printed_and_written_only_with_merge(project: Path) -> None:
    with hub_process(project, "--auto-admit") as hp:
        guest = await _guest(hp.code)
        proposed = await guest.request(
            "write_file", {"path": "notes.txt", "content": "alpha\nbeta\nGAMMA\n"}
        )
        cid = str(proposed["change"]["id"])
        (project / "notes.txt").write_text("ALPHA\nbeta\ngamma\n", encoding="utf-8")

        asked = letswork("approve", cid, "--project", str(project))
        assert asked.returncode == 1, asked.stderr
        assert "-gamma\n+GAMMA" in asked.stdout and "merges cleanly" in asked.stderr
        assert "--merge` writes the merged result" in asked.stderr
        assert (project / "notes.txt").read_text() == "ALPHA\nbeta\ngamma\n"

        merged = letswork("approve", cid, "--merge", "--project", str(project))
        assert merged.returncode == 0, merged.stderr
        assert "merged cleanly" in merged.stdout
        assert (project / "notes.txt").read_text() == "ALPHA\nbeta\nGAMMA\n"
        await guest.close()


async def test_conflict_then_update_change_then_approve_merge(project: Path) -> None:
    with hub_process(project, "--auto-admit") as hp:
        guest = await _guest(hp.code)
        proposed = await guest.request(
            "edit_file",
            {"path": "notes.txt", "old_string": "\nbeta\n", "new_string": "\nguest beta\n"},
        )
        cid = str(proposed["change"]["id"])
        (project / "notes.txt").write_text("alpha\nhost beta\ngamma\n", encoding="utf-8")

        refused = letswork("approve", cid, "--merge", "--project", str(project))
        assert refused.returncode == 1
        assert "conflict in line 2" in refused.stderr
        assert "<<<<<<< current" in refused.stdout and "guest beta" in refused.stdout

        view = await guest.request("get_change", {"id": cid, "merge": True})
        assert view["merge"]["hunks"][0]["current"] == "host beta\n"
        updated = await guest.request(
            "update_change",
            {"id": cid, "old_string": "host beta", "new_string": "host and guest beta"},
        )
        assert updated["change"]["id"] == cid and updated["status"] == "pending"

        approved = letswork("approve", cid, "--merge", "--project", str(project))
        assert approved.returncode == 0, approved.stderr
        assert (project / "notes.txt").read_text() == "alpha\nhost and guest beta\ngamma\n"
        await guest.close()
