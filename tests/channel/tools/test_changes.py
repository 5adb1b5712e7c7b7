"""The change tools' texts (``channel/tools/changes.py``)."""

from __future__ import annotations

from typing import Any, ClassVar

from letswork.channel import server as channel_server
from letswork.channel.config import ChannelConfig
from letswork.channel.tools.base import ToolContext
from letswork.channel.tools.catalogue import TOOLS
from letswork.channel.tools.changes import MAX_DIFF_CHARS, MAX_DIFF_LINES, REPLY_DIFF_HEAD_CHARS
from letswork.shared.errors import OpError
from letswork.shared.protocol.changes import ChangeDetail, ChangeList, ChangeResult

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


def _reply(summary: dict[str, object] | None, diff: str) -> ChangeResult:
    change = _sensitive_change(sensitive=None, path="a.txt", diff=diff)
    data: dict[str, object] = {"status": "pending", "change": change}
    if summary is not None:
        data["summary"] = summary
    return ChangeResult.model_validate(data)


HEAD = "--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,900 @@\n-old\n+new\n"


def test_a_write_reply_cut_by_the_hub_gives_the_counts_and_how_to_see_the_whole_diff() -> None:
    ctx = ToolContext(me="tess", role="editor", link="connected")
    summary = {"lines_added": 900, "lines_removed": 3, "diff_lines": 906, "diff_cut": True}
    text = TOOLS["write_file"].render(_reply(summary, HEAD), {}, ctx)
    assert "+900 -3 lines; of its diff's 906 lines only the head is here" in text
    assert "get_change ab12cd34 shows the whole diff" in text
    assert text.endswith("+new\n... (901 more diff lines not shown)")


def test_a_write_reply_the_hub_did_not_cut_gives_the_counts_and_the_whole_diff() -> None:
    ctx = ToolContext(me="tess", role="editor", link="connected")
    summary = {"lines_added": 1, "lines_removed": 1, "diff_lines": 5, "diff_cut": False}
    text = TOOLS["edit_file"].render(_reply(summary, HEAD), {}, ctx)
    assert text.endswith("+1 -1 lines:\n" + HEAD.rstrip("\n"))
    assert "get_change" not in text


def test_a_write_reply_from_an_older_hub_shows_its_diff_as_before() -> None:
    ctx = ToolContext(me="tess", role="editor", link="connected")
    old = HEAD + "... (901 more diff lines; get_change ab12cd34 shows all)\n"
    text = TOOLS["write_file"].render(_reply(None, old), {}, ctx)
    assert text.endswith("Diff:\n" + old.rstrip("\n"))


def test_every_change_tool_asks_for_the_head_of_the_diff_the_model_never_sees() -> None:
    for name in ("write_file", "edit_file", "delete_file", "move_file"):
        assert TOOLS[name].sends == {"diff_head": REPLY_DIFF_HEAD_CHARS}
        assert "diff_head" not in TOOLS[name].input_schema()["properties"]


def test_a_hub_whose_summary_understates_the_diff_still_gets_it_cut_to_one_result() -> None:
    ctx = ToolContext(me="tess", role="editor", link="connected")
    summary = {"lines_added": 0, "lines_removed": 0, "diff_lines": 1, "diff_cut": False}
    huge = HEAD + "+line\n" * 50_000
    text = TOOLS["write_file"].render(_reply(summary, huge), {}, ctx)
    assert len(text) < MAX_DIFF_CHARS + 2_000
    assert text.count("\n+line") < MAX_DIFF_LINES


def test_a_hub_whose_summary_understates_the_diff_cannot_hide_the_channels_own_cut() -> None:
    # A summary saying the diff has 1 line while 50,000 came: the channel shows 400 and must
    # still say the rest were not shown (it trusted the hub's count, and said nothing).
    ctx = ToolContext(me="tess", role="editor", link="connected")
    summary = {"lines_added": 0, "lines_removed": 0, "diff_lines": 1, "diff_cut": False}
    huge = HEAD + "+line\n" * 50_000
    text = TOOLS["write_file"].render(_reply(summary, huge), {}, ctx)
    shown = text.count("\n+line")
    assert shown < MAX_DIFF_LINES
    assert text.endswith("more diff lines not shown)")
    assert f"... ({50_005 - (shown + 5)} more diff lines not shown)" in text


async def test_a_hub_that_refuses_the_diff_head_every_time_gets_a_write_at_most_twice() -> None:
    # A hostile hub says ``diff_head`` is unknown, again on the repeat: the channel sends the
    # write once more without it, never a third time, and later writes go without it once.
    sent: list[dict[str, Any]] = []

    class Conn:
        connected = True
        name = "tess"
        state = "connected"

        async def call(self, op: str, args: dict[str, Any], *, early: bool = False) -> Any:
            sent.append(dict(args))
            raise OpError(
                "args.diff_head: unknown field",
                data={"reason": "extra_field", "field": "args.diff_head"},
            )

    channel = channel_server.Channel(ChannelConfig(secret=b"s" * 16, url="ws://127.0.0.1:1"))
    channel._settled.set()
    channel.conn = Conn()  # type: ignore[assignment]
    first = await channel.call_tool("write_file", {"path": "a.txt", "content": "x\n"})
    assert first.is_error
    assert [a.get("diff_head") for a in sent] == [REPLY_DIFF_HEAD_CHARS, None]
    sent.clear()
    later = await channel.call_tool("write_file", {"path": "a.txt", "content": "x\n"})
    assert later.is_error
    assert sent == [{"path": "a.txt", "content": "x\n"}]


async def test_a_hub_older_than_proposal_digests_still_gives_a_guest_its_merge_view() -> None:
    # get_change sends merge and include_proposal; a hub of before q-approve knows merge
    # (issue 17 part 2) but refuses include_proposal. Only the refused argument is left out:
    # the repeat (and every later get_change) still asks for the merge view, which the
    # proposer reads to fix its conflict. Both were dropped, for good, on the first refusal.
    sent: list[dict[str, Any]] = []

    class Conn:
        connected = True
        name = "tess"
        state = "connected"

        async def call(self, op: str, args: dict[str, Any], *, early: bool = False) -> Any:
            sent.append(dict(args))
            if "include_proposal" in args:
                raise OpError(
                    "args.include_proposal: unknown field",
                    data={"reason": "extra_field", "field": "args.include_proposal"},
                )
            return ChangeDetail.model_validate({"change": _sensitive_change()})

    channel = channel_server.Channel(ChannelConfig(secret=b"s" * 16, url="ws://127.0.0.1:1"))
    channel._settled.set()
    channel.conn = Conn()  # type: ignore[assignment]
    first = await channel.call_tool("get_change", {"id": "ab12cd34"})
    later = await channel.call_tool("get_change", {"id": "ab12cd34"})
    assert not first.is_error and not later.is_error
    assert sent == [
        {"id": "ab12cd34", "merge": True, "include_proposal": True},
        {"id": "ab12cd34", "merge": True},
        {"id": "ab12cd34", "merge": True},
    ]


async def test_a_hub_that_refuses_every_sent_argument_in_turn_is_asked_once_per_argument() -> None:
    # A hostile hub refusing merge, then include_proposal, then merge again: each refused
    # argument is left out once; the call is never repeated more than once per argument.
    sent: list[dict[str, Any]] = []

    class Conn:
        connected = True
        name = "tess"
        state = "connected"

        async def call(self, op: str, args: dict[str, Any], *, early: bool = False) -> Any:
            sent.append(dict(args))
            field = "merge" if "merge" in args or len(sent) > 2 else "include_proposal"
            raise OpError(
                f"args.{field}: unknown field",
                data={"reason": "extra_field", "field": f"args.{field}"},
            )

    channel = channel_server.Channel(ChannelConfig(secret=b"s" * 16, url="ws://127.0.0.1:1"))
    channel._settled.set()
    channel.conn = Conn()  # type: ignore[assignment]
    first = await channel.call_tool("get_change", {"id": "ab12cd34"})
    assert first.is_error
    assert sent == [
        {"id": "ab12cd34", "merge": True, "include_proposal": True},
        {"id": "ab12cd34", "include_proposal": True},
        {"id": "ab12cd34"},
    ]


async def test_a_hub_restarted_by_a_newer_letswork_is_asked_for_the_proposal_again() -> None:
    # An older hub refused include_proposal; the host restarted it with this version (as the
    # CLI tells it to). The host's assistant's channel reconnects and asks for the proposal
    # digest again: it used to leave it out for good, so the assistant never saw a
    # proposal_sha256 to approve by until the channel itself was restarted.
    sent: list[dict[str, Any]] = []

    class Conn:
        connected = True
        name = "host"
        state = "connected"
        hello: ClassVar[dict[str, Any]] = {"role": "host", "name": "host"}
        last_error = None
        url = "ws://127.0.0.1:1"
        newer = False

        async def call(self, op: str, args: dict[str, Any], *, early: bool = False) -> Any:
            sent.append(dict(args))
            if "include_proposal" in args and not self.newer:
                raise OpError(
                    "args.include_proposal: unknown field",
                    data={"reason": "extra_field", "field": "args.include_proposal"},
                )
            return ChangeDetail.model_validate({"change": _sensitive_change()})

    channel = channel_server.Channel(ChannelConfig(secret=b"s" * 16, url="ws://127.0.0.1:1"))
    channel._settled.set()
    conn = Conn()
    channel.conn = conn  # type: ignore[assignment]
    channel._on_state("connected")
    await channel.call_tool("get_change", {"id": "ab12cd34"})
    await channel.call_tool("get_change", {"id": "ab12cd34"})
    assert ["include_proposal" in a for a in sent] == [True, False, False]
    sent.clear()
    channel._on_state("disconnected")
    conn.newer = True
    channel._on_state("connected")
    await channel.call_tool("get_change", {"id": "ab12cd34"})
    assert sent == [{"id": "ab12cd34", "merge": True, "include_proposal": True}]


def test_the_pending_list_gives_a_proposal_sha256_only_with_the_diff_it_names() -> None:
    # A change whose diff the list leaves out (a large change, or the list's budget spent):
    # its digest shown there let the host's assistant approve, pinned, a diff it never read.
    # It is sent to get_change, which shows both.
    ctx = ToolContext(me="host", role="host", link="connected")
    digest = "ab" * 32
    shown = _sensitive_change(proposal_sha256=digest, revision=1)
    hidden = _sensitive_change(id="cd34ef56", proposal_sha256="cd" * 32, revision=2, diff=None)
    changes = ChangeList.model_validate({"changes": [shown, hidden]})
    text = TOOLS["get_pending_changes"].render(changes, {}, ctx)
    assert f"revision 1, proposal_sha256 {digest}" in text
    assert "cd" * 32 not in text
    assert "its diff is not in this list: get_change shows it" in text
