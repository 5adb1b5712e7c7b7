"""What the admin commands print, through the real CLI against a real `letswork start`:
approve and reject of a decided change alike, `pending`'s header row, `status` naming the host
once, and a guest's `status` and `doctor` asking the stored session's hub."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from letswork.client.connection import HubConnection
from letswork.local import statedir
from letswork.shared import invite
from tests.support.hubs import make_project
from tests.support.processes import hub_process


def letswork(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "letswork", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


async def _propose(code: str) -> tuple[HubConnection, str]:
    inv = invite.parse(code)
    guest = HubConnection(inv.url, inv.secret, name="alice")
    await guest.connect()
    result = await guest.request("write_file", {"path": "notes.txt", "content": "from alice\n"})
    return guest, str(result["change"]["id"])


async def test_approve_and_reject_of_an_applied_change_both_exit_1_saying_so(
    project: Path,
) -> None:
    with hub_process(project, "--auto-admit") as hp:
        guest, change_id = await _propose(hp.code)
        first = letswork("approve", change_id, "--project", str(project))
        assert first.returncode == 0, first.stderr
        for verb in ("approve", "reject"):
            again = letswork(verb, change_id, "--project", str(project))
            assert again.returncode == 1, (verb, again.stdout, again.stderr)
            assert f"nothing to {verb}: change {change_id} was already applied" in again.stderr
        await guest.close()


async def test_pending_prints_a_header_row(project: Path) -> None:
    with hub_process(project, "--auto-admit") as hp:
        guest, change_id = await _propose(hp.code)
        out = letswork("pending", "--project", str(project))
        assert out.returncode == 0, out.stderr
        header, row = out.stdout.splitlines()
        assert header.split() == ["ID", "STATUS", "KIND", "AUTHOR", "PATH"]
        assert row.split()[:5] == [change_id, "pending", "write", "alice", "notes.txt"]
        assert row.index("alice") == header.index("AUTHOR")
        await guest.close()


async def test_status_names_the_host_once(project: Path) -> None:
    with hub_process(project, "--auto-admit") as hp:
        host_key = statedir.read_secret_file(statedir.project_state(project).host_key_path)
        assistant = HubConnection(invite.parse(hp.code).url, host_key, name="host")
        await assistant.connect()
        out = letswork("status", "--project", str(project))
        assert out.returncode == 0, out.stderr
        peers = out.stdout.split("peers:\n", 1)[1].splitlines()
        assert [line.split()[0] for line in peers] == ["host"]
        await assistant.close()


def test_a_guest_status_and_doctor_ask_the_stored_sessions_hub(
    project: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with hub_process(project, "--auto-admit") as hp:
        joined = letswork("join", hp.code, "--name", "bob", "--print-config", cwd=elsewhere)
        assert joined.returncode == 0, joined.stderr
        status = letswork("status", cwd=elsewhere)
        assert status.returncode == 0, status.stderr
        assert "project: project" in status.stdout
        assert "you: bob (editor, session 'letswork')" in status.stdout
        assert "bob" in status.stdout.split("peers:", 1)[1]
        doctor = letswork("doctor", cwd=elsewhere)
        assert "session 'letswork': the hub at" in doctor.stdout and "answers" in doctor.stdout
        assert hp.terminate() == 0
    doctor = letswork("doctor", cwd=elsewhere)
    assert doctor.returncode == 1
    assert "session 'letswork': the hub at" in doctor.stdout
    assert "does not answer" in doctor.stdout
