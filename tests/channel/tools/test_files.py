"""The file tools' texts (``channel/tools/files.py``): ``read_file`` asks the hub for no more
than it shows (issue 15, item 4) and shows what it showed when the hub sent whole pages;
``stat_file``, the op added by following docs/architecture.md "Adding an op" (issue 14)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from letswork.channel import server as channel_server
from letswork.channel.config import ChannelConfig
from letswork.channel.tools.base import ToolContext
from letswork.channel.tools.catalogue import TOOLS
from letswork.channel.tools.files import MAX_READ_CHARS
from letswork.hub.workspace import Workspace
from letswork.shared.errors import OpError
from letswork.shared.limits import MAX_FILE_BYTES, Limits
from letswork.shared.protocol.files import ReadFileResult, StatFileResult
from tests.channel.mcp_support import guest_channel
from tests.support.hubs import make_project, running_hub

CTX = ToolContext(me="alice", role="editor", link="connected")
READ = TOOLS["read_file"]

#: Files whose pages the hub and the channel cut: long lines, multi-byte characters (1 to 4
#: bytes), a first line longer than the budget, hidden characters, a line ending exactly at
#: the budget, no final line end.
FILES = {
    "long_lines.txt": "".join(f"{i:06} " + "x" * (i % 9000) + "\n" for i in range(400)),
    "multibyte.txt": "".join(("é€😀a" * (i % 300)) + "\n" for i in range(400)),
    "first_line_long.txt": "ü" * (MAX_READ_CHARS + 5) + "\nshort\n" + "y" * 100,
    "at_the_budget.txt": "z" * (MAX_READ_CHARS - 1) + "\n" + "after\n",
    "hidden.txt": ("a\u200bb\u202e" * 3000 + "\n") * 40,
    "no_final_newline.txt": ("w" * 5000 + "\n") * 30 + "end" * 30_000,
}


@pytest.mark.parametrize("cached", [False, True])
@pytest.mark.parametrize("name", sorted(FILES))
def test_a_page_the_hub_cut_reads_as_the_whole_page_the_channel_cut(
    tmp_path: Path, name: str, cached: bool
) -> None:
    (tmp_path / name).write_text(FILES[name], "utf-8")
    ws = Workspace(tmp_path)
    total = ws.read_file(name, limit=1, is_host=True).total_lines
    if not cached:
        ws.pages.max_bytes = 0
    offsets = sorted({min(n, total) for n in (0, 1, 7, total // 2, total - 1, total)})
    for offset in offsets:
        for limit in (1, 3, 2000):
            args = {"path": name, "offset": offset, "limit": limit}
            before = ws.read_file(name, offset=offset, limit=limit, is_host=True)
            after = ws.read_file(
                name, offset=offset, limit=limit, max_chars=MAX_READ_CHARS, is_host=True
            )
            assert len(after.text) <= MAX_READ_CHARS
            assert READ.render(after, args, CTX) == READ.render(before, args, CTX), (
                offset,
                limit,
            )


def test_the_read_tool_sends_its_budget_but_the_model_never_sees_it() -> None:
    assert READ.sends == {"max_chars": MAX_READ_CHARS}
    assert "max_chars" not in READ.input_schema()["properties"]


class _Conn:
    """A hub link that answers ``read_file`` as an older hub would (no ``max_chars``), or
    as a newer one, and records what it was sent."""

    def __init__(self, *, knows_budget: bool) -> None:
        self.knows_budget = knows_budget
        self.sent: list[dict[str, Any]] = []
        self.connected = True
        self.name = "alice"
        self.state = "connected"

    async def call(self, op: str, args: dict[str, Any], *, early: bool = False) -> Any:
        self.sent.append(dict(args))
        if "max_chars" in args and not self.knows_budget:
            raise OpError(
                "args.max_chars: unknown field",
                data={"reason": "extra_field", "field": "args.max_chars"},
            )
        return ReadFileResult(
            path="a.txt",
            text="a\n",
            sha256="0" * 64,
            offset=0,
            lines=1,
            total_lines=1,
            size=2,
            truncated=False,
        )


@pytest.mark.parametrize("knows_budget", [False, True])
async def test_a_hub_that_does_not_know_the_budget_is_asked_again_without_it_once(
    knows_budget: bool,
) -> None:
    config = ChannelConfig(secret=b"s" * 16, url="ws://127.0.0.1:1")
    channel = channel_server.Channel(config)
    channel._settled.set()
    conn = _Conn(knows_budget=knows_budget)
    channel.conn = conn  # type: ignore[assignment]
    first = await channel.call_tool("read_file", {"path": "a.txt"})
    second = await channel.call_tool("read_file", {"path": "a.txt"})
    assert not first.is_error and not second.is_error
    assert first.content[0].text == second.content[0].text  # type: ignore[union-attr]
    budgets = [args.get("max_chars") for args in conn.sent]
    if knows_budget:
        assert budgets == [MAX_READ_CHARS, MAX_READ_CHARS]
    else:  # refused once, then never sent again
        assert budgets == [MAX_READ_CHARS, None, None]


async def test_an_unknown_argument_of_the_caller_is_not_retried() -> None:
    config = ChannelConfig(secret=b"s" * 16, url="ws://127.0.0.1:1")
    channel = channel_server.Channel(config)
    conn = _Conn(knows_budget=True)

    async def refuse(op: str, args: dict[str, Any], *, early: bool = False) -> Any:
        conn.sent.append(args)
        raise OpError(
            "args.color: unknown field", data={"reason": "extra_field", "field": "args.color"}
        )

    conn.call = refuse  # type: ignore[method-assign]
    with pytest.raises(OpError):
        await channel._call(conn, "read_file", {"path": "a.txt"}, {"max_chars": 1})  # type: ignore[arg-type]
    assert len(conn.sent) == 1


def _page(text: str, **over: Any) -> ReadFileResult:
    data: dict[str, Any] = {
        "path": "a.txt",
        "text": text,
        "sha256": "0" * 64,
        "offset": 0,
        "lines": text.count("\n") or 1,
        "total_lines": 10**6,
        "size": len(text),
        "truncated": True,
        **over,
    }
    return ReadFileResult.model_validate(data)


def test_a_hub_that_marks_a_long_page_line_cut_still_gets_it_cut_to_the_budget() -> None:
    # a hostile (or broken) hub: ``line_cut`` with a text of many lines over the budget
    text = READ.render(_page("a" * 99 + "\n" * 1 + "b" * 99_900 + "\n", line_cut=True), {}, CTX)
    header, body = text.split("\n", 1)
    assert body == "a" * 99 + "\n"
    assert "lines 1-1 of" in header and "too long" not in header


def test_a_hub_that_ignores_the_budget_is_cut_by_the_channel_as_before() -> None:
    text = READ.render(_page("é" * (MAX_READ_CHARS * 3)), {}, CTX)
    header, body = text.split("\n", 1)
    assert body == "é" * MAX_READ_CHARS
    assert "line 1 is too long for one result: only its start is shown" in header


# -- stat_file (issue 14) ----------------------------------------------------------------------

SHA = "ab" * 32
VIEWER = ToolContext(me="alice", role="viewer", link="connected")


def test_stat_file_says_size_lines_and_hash_in_one_line() -> None:
    result = StatFileResult(path="src/a.py", size=2048, sha256=SHA, text=True, total_lines=40)
    text = TOOLS["stat_file"].render(result, {}, VIEWER)
    assert text == f"src/a.py · 2.0 KiB · text, 40 lines · sha256 {SHA}"


def test_stat_file_says_a_binary_file_cannot_be_read() -> None:
    result = StatFileResult(path="logo.png", size=5, sha256=SHA, text=False, total_lines=0)
    assert "not text (read_file refuses it)" in TOOLS["stat_file"].render(result, {}, VIEWER)


def test_stat_file_names_who_holds_the_lock() -> None:
    lock = {"path": "a.py", "holder": "bob", "expires_at": 0.0, "change_id": "c1"}
    result = StatFileResult.model_validate(
        {"path": "a.py", "size": 1, "sha256": SHA, "text": True, "total_lines": 1, "lock": lock}
    )
    text = TOOLS["stat_file"].render(result, {}, VIEWER)
    assert text.endswith("locked: held by bob's pending change c1")


def test_stat_file_cleans_a_hostile_path() -> None:
    result = StatFileResult(path="a\x1b[31m.py", size=1, sha256=SHA, text=True, total_lines=1)
    assert "\x1b" not in TOOLS["stat_file"].render(result, {}, VIEWER)


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


async def test_a_search_that_scanned_no_file_says_why(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    async with running_hub(project) as hub, guest_channel(hub, "alice", "viewer") as alice:
        text = await alice.ok("search_files", {"pattern": "x", "glob": "*.nothing"})
    assert text.startswith("0 matches for 'x' in 0 files scanned (no shared UTF-8 text file ")
    assert "matching '*.nothing' in the project was searched" in text
    assert "over the hub's text-file limit" in text


async def test_a_search_names_the_files_it_skipped_as_over_the_text_file_limit_and_why(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project")
    (project / "huge.json").write_bytes(b"hello world\n" * 200_000)  # 2.3 MiB
    limits = Limits(max_text_file_bytes=MAX_FILE_BYTES)  # 1 MiB: as 64 MiB would, smaller
    async with (
        running_hub(project, limits=limits) as hub,
        guest_channel(hub, "alice", "viewer") as alice,
    ):
        text = await alice.ok("search_files", {"pattern": "hello"})
    assert text.startswith("1 match for 'hello' in ")
    assert "(1 file not searched, over the hub's text-file limit: huge.json (2.3 MiB))" in text
    assert "\nREADME.md:3: hello world" in text


async def test_a_guest_reads_a_file_over_one_replys_limit_in_pages(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    body = "".join(f'  "pkg-{i:05}": "1.0.{i}",\n' for i in range(80_000))
    (project / "package-lock.json").write_text("{\n" + body + "}\n", encoding="utf-8")
    async with running_hub(project) as hub, guest_channel(hub, "alice", "viewer") as alice:
        first = await alice.ok("read_file", {"path": "package-lock.json", "limit": 2})
        later = await alice.ok("read_file", {"path": "package-lock.json", "offset": 70_001})
    assert first.split("\n", 1)[1] == '{\n  "pkg-00000": "1.0.0",\n'
    assert "lines 1-2 of 80002" in first
    assert later.split("\n", 1)[1].startswith('  "pkg-70000": "1.0.70000",\n')
