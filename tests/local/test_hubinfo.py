"""letswork.local.hubinfo: the running hub's hub.json, as the hub writes it and the host's
tools read it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from letswork.local import statedir
from letswork.local.hubinfo import hub_info, write_hub_info


def _info(pid: int) -> dict[str, object]:
    return {
        "pid": pid,
        "port": 4242,
        "bind": "127.0.0.1",
        "local_url": "ws://127.0.0.1:4242",
        "host_url": "ws+unix:/tmp/x/hub.sock",
        "project": "/p",
        "started_at": 1.5,
    }


def test_no_hub_json_is_no_hub(tmp_path: Path) -> None:
    assert hub_info(tmp_path) is None


def test_hub_json_is_written_private_in_the_state_dir_and_read_back(tmp_path: Path) -> None:
    state = statedir.project_state(tmp_path)
    write_hub_info(state, _info(os.getpid()))
    assert state.hub_info_path.name == "hub.json"
    assert stat.S_IMODE(state.hub_info_path.stat().st_mode) == 0o600
    assert state.hub_info_path.read_text(encoding="utf-8") == json.dumps(_info(os.getpid()))
    assert hub_info(tmp_path) == _info(os.getpid())


def test_a_hub_json_whose_process_is_gone_or_unreadable_is_no_hub(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    state = statedir.project_state(tmp_path)
    write_hub_info(state, _info(gone.pid))
    assert hub_info(tmp_path) is None
    for text in ("not json", '{"pid": "1"}', "{}"):
        statedir.write_private_text(state.hub_info_path, text)
        assert hub_info(tmp_path) is None, text


def test_a_hub_json_that_is_not_what_the_hub_writes_is_no_hub(tmp_path: Path) -> None:
    state = statedir.project_state(tmp_path)
    me = os.getpid()
    for text in (
        "[1, 2]",
        "null",
        '"text"',
        json.dumps({**_info(me), "pid": True}),
        json.dumps({**_info(me), "pid": 0}),
        json.dumps({**_info(me), "local_url": 5}),
        json.dumps({**_info(me), "host_url": ["ws://x"]}),
        json.dumps({k: v for k, v in _info(me).items() if k != "local_url"}),
    ):
        statedir.write_private_text(state.hub_info_path, text)
        assert hub_info(tmp_path) is None, text
    statedir.write_private_text(state.hub_info_path, json.dumps(_info(me)))
    assert hub_info(tmp_path) == _info(me)
