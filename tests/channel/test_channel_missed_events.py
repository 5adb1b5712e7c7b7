"""Events that happen while a guest's channel has lost its hub reach its assistant once the
channel is back, once (issue 16): the real `letswork channel` and a real MCP client, behind a
TCP link that is cut and restored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from letswork.shared import invite
from tests.channel.mcp_support import WAIT, ChannelParams, joined, mcp_channel, observer
from tests.support.hubs import make_project, running_hub
from tests.support.links import tcp_link


def _link(state: str) -> Callable[[ChannelParams], bool]:
    def match(note: ChannelParams) -> bool:
        return note.meta.get("event") == "connection" and note.meta.get("state") == state

    return match


async def test_locks_taken_while_the_channel_was_cut_off_reach_it_once_after_it_reconnects(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub, tcp_link(hub.url) as link:
        watcher = await observer(hub)
        code = invite.Invite(await hub.invite("editor", "alice"), link.url).format()
        bob = await hub.guest("bob", "editor")
        async with mcp_channel("--name", "alice", invite_code=code) as alice:
            await joined(watcher, "alice")
            await alice.ok("get_notifications")  # what came before the outage
            link.refuse()
            await alice.pushes.wait(_link("disconnected"))
            await watcher.wait_event("peer_left", lambda d: d["name"] == "alice", timeout=WAIT)
            await bob.call("lock_file", path="notes.txt")
            await bob.call("lock_file", path="README.md")
            mark = len(alice.pushes.notes)
            link.forward()
            await alice.pushes.wait(_link("connected"), after=mark, timeout=120)
            await alice.pushes.wait(
                lambda n: "bob locked README.md" in n.content, after=mark, timeout=WAIT
            )
            first = await alice.ok("get_notifications")
            second = await alice.ok("get_notifications")
            pushed = "\n".join(n.content for n in alice.pushes.notes[mark:])
    for path in ("notes.txt", "README.md"):
        assert first.count(f"bob locked {path} until") == 1, first
        assert pushed.count(f"bob locked {path} until") == 1, pushed
    assert second.startswith("No new events.")
