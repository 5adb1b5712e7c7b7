"""The file tools' texts (``channel/tools/files.py``): ``stat_file``, the op added by following
docs/architecture.md "Adding an op" (issue 14)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from letswork.channel.tools.base import ToolContext
from letswork.channel.tools.catalogue import TOOLS
from letswork.shared.protocol.files import StatFileResult
from tests.channel.mcp_support import guest_channel
from tests.support.hubs import make_project, running_hub

SHA = "ab" * 32
CTX = ToolContext(me="alice", role="viewer", link="connected")


def test_stat_file_says_size_lines_and_hash_in_one_line() -> None:
    result = StatFileResult(path="src/a.py", size=2048, sha256=SHA, text=True, total_lines=40)
    text = TOOLS["stat_file"].render(result, {}, CTX)
    assert text == f"src/a.py · 2.0 KiB · text, 40 lines · sha256 {SHA}"


def test_stat_file_says_a_binary_file_cannot_be_read() -> None:
    result = StatFileResult(path="logo.png", size=5, sha256=SHA, text=False, total_lines=0)
    assert "not text (read_file refuses it)" in TOOLS["stat_file"].render(result, {}, CTX)


def test_stat_file_names_who_holds_the_lock() -> None:
    lock = {"path": "a.py", "holder": "bob", "expires_at": 0.0, "change_id": "c1"}
    result = StatFileResult.model_validate(
        {"path": "a.py", "size": 1, "sha256": SHA, "text": True, "total_lines": 1, "lock": lock}
    )
    text = TOOLS["stat_file"].render(result, {}, CTX)
    assert text.endswith("locked: held by bob's pending change c1")


def test_stat_file_cleans_a_hostile_path() -> None:
    result = StatFileResult(path="a\x1b[31m.py", size=1, sha256=SHA, text=True, total_lines=1)
    assert "\x1b" not in TOOLS["stat_file"].render(result, {}, CTX)


def test_every_role_sees_stat_file_and_it_is_read_only() -> None:
    spec = TOOLS["stat_file"]
    assert spec.roles == frozenset({"host", "editor", "viewer"})
    assert spec.read_only


async def test_a_viewer_gets_the_hash_a_change_needs_through_a_real_channel(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "p")
    data = (project / "src" / "app.py").read_bytes()
    async with running_hub(project) as hub, guest_channel(hub, "vera", "viewer") as guest:
        text = await guest.ok("stat_file", {"path": "src/app.py"})
        hidden = await guest.call("stat_file", {"path": ".env"})
    assert f"sha256 {hashlib.sha256(data).hexdigest()}" in text
    assert f"{len(data)} B" in text
    assert hidden.is_error
    assert "not_shared" in hidden.text or "not shared" in hidden.text
