"""Code reaches the host's assistant exactly (issue 16): a diff in a tool result keeps its
``>>>``, ``<`` and ``&``, through a real hub and a real host channel over MCP, while the same
proposal pushed as a ``claude/channel`` notification has its tag characters escaped."""

from __future__ import annotations

from pathlib import Path

from tests.channel.mcp_support import joined, mcp_channel, observer
from tests.support.hubs import make_project, running_hub

CODE = ">>> if a < b && c > \"d\":\n...     print('<b>&amp;</b>')\n"
PATH = "docs/a<b>.md"


async def test_a_diff_reaches_the_hosts_tool_result_exactly_and_its_push_escaped(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    (project / "docs").mkdir()
    async with running_hub(project) as hub:
        watcher = await observer(hub)
        async with mcp_channel("--host", "--project", str(project)) as host:
            await joined(watcher, "host")
            mallory = await hub.guest("mallory", "editor")
            await mallory.call("write_file", path=PATH, content=CODE)
            pushed = await host.pushes.wait(lambda n: n.meta.get("event") == "change_submitted")
            review = await host.ok("get_pending_changes")
    for line in CODE.splitlines():
        assert f"+{line}" in review.splitlines(), review
    assert "&gt;" not in review and "&lt;" not in review and "&amp;amp;" not in review
    assert PATH in review
    assert "docs/a&lt;b&gt;.md" in pushed.content and "<" not in pushed.content
    assert pushed.meta["path"] == "docs/a&lt;b&gt;.md"
