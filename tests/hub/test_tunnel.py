"""The tunnel supervisor against a STAND-IN cloudflared (tests/support/bin/cloudflared) that
prints cloudflared's real quick-tunnel log lines; no test here can reach Cloudflare."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from letswork.shared import invite
from tests.support.processes import hub_process, spawn

STAND_IN_BIN = Path(__file__).parent.parent / "support" / "bin"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it counts as gone once it is not running.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def stand_in_env(tmp_path: Path) -> dict[str, str]:
    pids = tmp_path / "pids"
    pids.mkdir()
    return {
        "PATH": f"{STAND_IN_BIN}{os.pathsep}{os.environ['PATH']}",
        "FAKE_CLOUDFLARED_DIR": str(pids),
    }


def _stand_in_pids(env: dict[str, str]) -> dict[int, str]:
    folder = Path(env["FAKE_CLOUDFLARED_DIR"])
    return {int(p.stem): p.read_text() for p in folder.glob("*.pid")}


def test_the_tunnel_url_becomes_the_invite_address_and_a_restart_prints_a_new_one(
    tmp_path: Path, stand_in_env: dict[str, str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    with hub_process(project, env=stand_in_env, tunnel="cloudflared") as hp:
        first = invite.parse(hp.code)
        [(pid, name)] = _stand_in_pids(stand_in_env).items()
        assert first.url == f"wss://{name}/"
        os.kill(pid, signal.SIGKILL)  # the tunnel dies; the supervisor must restart it
        line = hp.wait_for_join_line(timeout=30)
        second = invite.parse(line)
        assert second.url != first.url
        assert second.secret == first.secret
        assert second.url.endswith(".trycloudflare.com/")
        assert hp.terminate() == 0
    assert not [p for p in _stand_in_pids(stand_in_env) if _alive(p)]


def test_tunnel_cloudflared_without_the_binary_explains_how_to_install_it(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    hp = spawn(
        ["start", str(project), "--tunnel", "cloudflared", "--no-ui"],
        env={"PATH": str(tmp_path)},  # nothing on PATH
    )
    try:
        assert hp.proc.wait(timeout=30) != 0
    finally:
        hp.close()
    text = "".join(hp.stderr_lines)
    for platform in ("macOS", "Debian/Ubuntu", "Windows (WSL)"):
        assert platform in text


def test_tunnel_auto_without_the_binary_runs_in_local_mode_with_a_banner(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    with hub_process(project, env={"PATH": str(tmp_path)}, tunnel="auto") as hp:
        assert invite.parse(hp.code).url.startswith("ws://127.0.0.1:")
        assert hp.terminate() == 0
    text = "".join(hp.stderr_lines)
    assert "LOCAL MODE" in text
    assert "install cloudflared" in text
