"""The change tools' texts (``channel/tools/changes.py``)."""

from __future__ import annotations

from letswork.channel.tools.base import ToolContext
from letswork.channel.tools.catalogue import TOOLS
from letswork.shared.protocol.changes import ChangeList, ChangeResult

REASON = ".gitignore: an ignore file: it decides which files guests may see"


def _sensitive_change(**over: object) -> dict[str, object]:
    change: dict[str, object] = {
        "id": "ab12cd34",
        "author": "tess",
        "kind": "write",
        "path": "sub/.gitignore",
        "status": "pending",
        "created_at": 1.0,
        "size": 14,
        "diff": "--- /dev/null\n+++ b/sub/.gitignore\n@@ -0,0 +1 @@\n+!secrets.yml\n",
        "sensitive": REASON,
    }
    change.update(over)
    return change


def test_the_hosts_pending_list_names_why_a_change_to_a_sensitive_path_waits() -> None:
    ctx = ToolContext(me="host", role="host", link="connected")
    plain_change = _sensitive_change(id="ef56", path="a.txt", sensitive=None)
    result = ChangeList.model_validate({"changes": [_sensitive_change(), plain_change]})
    text = TOOLS["get_pending_changes"].render(result, {}, ctx)
    sensitive, plain = text.split("\n\n")[1:]
    assert f"SENSITIVE PATH ({REASON})" in sensitive
    assert "trusted editors included" in sensitive
    assert "SENSITIVE" not in plain


def test_a_trusted_editor_learns_why_its_change_to_a_sensitive_path_waits() -> None:
    ctx = ToolContext(me="tess", role="editor", link="connected")
    result = ChangeResult.model_validate({"status": "pending", "change": _sensitive_change()})
    text = TOOLS["write_file"].render(result, {}, ctx)
    assert f"SENSITIVE PATH ({REASON}): it waits for the host's approval" in text
    mine = ChangeList.model_validate({"changes": [_sensitive_change()]})
    assert f"SENSITIVE PATH ({REASON})" in TOOLS["my_pending_changes"].render(mine, {}, ctx)
