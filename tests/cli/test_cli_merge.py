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


def _proposal(diff_output: str) -> str:
    """The short proposal digest `letswork diff` tells the host to approve by."""
    line = next(x for x in diff_output.splitlines() if x.startswith("proposal: "))
    return line.split("--proposal ", 1)[1].rstrip(")")


async def test_approve_by_the_proposal_reviewed_refuses_a_resubmission_and_writes_nothing(
    project: Path,
) -> None:
    with hub_process(project, "--auto-admit") as hp:
        guest = await _guest(hp.code)
        proposed = await guest.request(
            "write_file", {"path": "notes.txt", "content": "alpha\nguest beta\ngamma\n"}
        )
        cid = str(proposed["change"]["id"])
        reviewed = letswork("diff", cid, "--project", str(project))
        assert reviewed.returncode == 0 and "+guest beta" in reviewed.stdout
        p1 = _proposal(reviewed.stdout)
        (project / "notes.txt").write_text("alpha\nhost beta\ngamma\n", encoding="utf-8")
        tried = letswork("approve", cid, "--proposal", p1, "--project", str(project))
        assert tried.returncode == 1 and "conflict" in tried.stderr
        await guest.request("update_change", {"id": cid, "content": "alpha\nOTHER\ngamma\n"})

        stale = letswork("approve", cid, "--proposal", p1, "--project", str(project))
        assert stale.returncode == 1
        assert "not the proposal you reviewed" in stale.stderr and "Nothing was approved" in (
            stale.stderr
        )
        assert (project / "notes.txt").read_text() == "alpha\nhost beta\ngamma\n"
        still = await guest.request("get_change", {"id": cid})
        assert still["change"]["status"] == "pending"

        again = letswork("diff", cid, "--project", str(project))
        assert "+OTHER" in again.stdout and "(revision 2)" in again.stdout
        assert "revision 2 now" in stale.stderr
        p2 = _proposal(again.stdout)
        assert p2 != p1
        approved = letswork("approve", cid, "--proposal", p2, "--project", str(project))
        assert approved.returncode == 0, approved.stderr
        assert (project / "notes.txt").read_text() == "alpha\nOTHER\ngamma\n"
        await guest.close()


async def test_approve_takes_no_proposal_shorter_than_16_hex_characters(project: Path) -> None:
    with hub_process(project, "--auto-admit") as hp:
        guest = await _guest(hp.code)
        proposed = await guest.request(
            "write_file", {"path": "notes.txt", "content": "alpha\nbeta\n"}
        )
        cid = str(proposed["change"]["id"])
        short = letswork("approve", cid, "--proposal", "0123456789abcde", "--project", str(project))
        assert short.returncode == 2 and "at least 16 hex" in short.stderr
        assert (project / "notes.txt").read_text() == "alpha\nbeta\ngamma\n"
        await guest.close()


def letswork_at_a_terminal(answer: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI with a terminal as its stdin, ``answer`` typed into it up front."""
    import os
    import pty

    master, slave = pty.openpty()
    try:
        os.write(master, answer.encode())
        return subprocess.run(
            [sys.executable, "-m", "letswork", *args],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=slave,
            check=False,
        )
    finally:
        os.close(slave)
        os.close(master)


async def test_approve_at_a_terminal_shows_the_change_and_writes_it_only_on_yes(
    project: Path,
) -> None:
    with hub_process(project, "--auto-admit") as hp:
        guest = await _guest(hp.code)
        proposed = await guest.request(
            "write_file", {"path": "notes.txt", "content": "alpha\nseen beta\ngamma\n"}
        )
        cid = str(proposed["change"]["id"])
        declined = letswork_at_a_terminal("n\n", "approve", cid, "--project", str(project))
        assert declined.returncode == 1, declined.stderr
        assert "+seen beta" in declined.stdout and "proposal: " in declined.stdout
        assert "Approve this change as shown?" in declined.stdout
        assert (project / "notes.txt").read_text() == "alpha\nbeta\ngamma\n"

        accepted = letswork_at_a_terminal("y\n", "approve", cid, "--project", str(project))
        assert accepted.returncode == 0, accepted.stderr
        assert (project / "notes.txt").read_text() == "alpha\nseen beta\ngamma\n"
        await guest.close()
