"""Git metadata over the wire (issue 13, item 1): nobody reads or writes a ``.git`` of any
spelling, and no change completes or touches a git repository layout."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from letswork.shared.errors import ErrorCode, OpError
from tests.support.hubs import Client, HubFixture, running_hub

GITLINK = "gitdir: /home/host/private/project/.git/worktrees/wt\n"
NOTES = "alpha\nbeta\ngamma\n"

#: Every spelling a filesystem (or git's own checks) could take for ``.git``.
GIT_NAMES = [
    ".git",
    ".GIT",
    ".Git",
    ".git.",
    ".git ",
    ".git::$INDEX_ALLOCATION",
    "GIT~1",
    ".g\u200cit",
    "\uff0e\uff47\uff49\uff54",  # fullwidth: NFKC makes it .git
]


async def _code(call: object) -> ErrorCode:
    with pytest.raises(OpError) as info:
        await call  # type: ignore[misc]
    return info.value.code


async def _trusted(hub: HubFixture, name: str = "tess") -> Client:
    guest = await hub.guest(name)
    host = await hub.host()
    await host.call("trust", name=name)
    return guest


def _write(root: Path, rel: str, text: str = "x\n") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# ------------------------------------------------------------------------------- reading


@pytest.mark.parametrize("rel", [".git", "sub/.git", "a/b/c/.git", ".GIT", "sub/.Git"])
async def test_a_guest_cannot_read_a_gitlink_file_at_any_depth(hub: HubFixture, rel: str) -> None:
    _write(hub.project, rel, GITLINK)
    guest = await hub.guest("alice", "viewer")
    assert await _code(guest.call("read_file", path=rel)) == ErrorCode.NOT_SHARED
    listing = await guest.call("list_files", path="", recursive=True)
    assert not [e for e in listing["entries"] if e["path"].rsplit("/", 1)[-1].lower() == ".git"]
    found = await guest.call("search_files", pattern="gitdir")
    assert found["matches"] == []


async def test_the_gitlinks_not_shared_message_says_why(hub: HubFixture) -> None:
    _write(hub.project, ".git", GITLINK)
    guest = await hub.guest("alice", "viewer")
    with pytest.raises(OpError) as info:
        await guest.call("read_file", path=".git")
    assert "git metadata" in info.value.message
    assert "/home/host" not in info.value.message


async def test_the_host_gets_forbidden_reading_git_metadata(hub: HubFixture) -> None:
    _write(hub.project, ".git", GITLINK)
    host = await hub.host()
    assert await _code(host.call("read_file", path=".git")) == ErrorCode.FORBIDDEN


async def test_a_symlink_to_the_gitlink_does_not_read_it(hub: HubFixture) -> None:
    _write(hub.project, ".git", GITLINK)
    os.symlink(".git", hub.project / "innocent.txt")
    guest = await hub.guest("alice", "viewer")
    host = await hub.host()
    assert await _code(guest.call("read_file", path="innocent.txt")) == ErrorCode.NOT_SHARED
    assert await _code(host.call("read_file", path="innocent.txt")) == ErrorCode.FORBIDDEN


async def test_the_hosts_search_never_reads_a_gitlink(hub: HubFixture) -> None:
    _write(hub.project, "sub/.git", GITLINK)
    host = await hub.host()
    found = await host.call("search_files", pattern="gitdir")
    assert found["matches"] == []
    listing = await host.call("list_files", path="sub")
    assert listing["entries"] == []


@pytest.mark.parametrize("who", ["guest", "host"])
async def test_nobody_reads_inside_an_embedded_bare_repository(hub: HubFixture, who: str) -> None:
    for name in ("HEAD", "objects/info/packs", "refs/heads/main"):
        _write(hub.project, f"vendor/lib.git/{name}")
    _write(hub.project, "vendor/lib.git/config", "[remote]\nurl = https://user:token@x/\n")
    os.symlink("lib.git/config", hub.project / "vendor" / "cfg")
    peer = await hub.guest("alice", "viewer") if who == "guest" else await hub.host()
    expected = ErrorCode.NOT_SHARED if who == "guest" else ErrorCode.FORBIDDEN
    for rel in ("vendor/lib.git/config", "vendor/cfg"):
        assert await _code(peer.call("read_file", path=rel)) == expected
    assert await _code(peer.call("list_files", path="vendor/lib.git")) == expected
    assert (await peer.call("search_files", pattern="token"))["matches"] == []
    listing = await peer.call("list_files", path="", recursive=True)
    assert not [e for e in listing["entries"] if "lib.git" in e["path"]]


async def test_the_watcher_announces_nothing_inside_a_bare_repository(hub: HubFixture) -> None:
    # The host's own git work in vendor/lib.git (a fetch, a commit) reached guests as
    # file_changed events naming its refs: the branch names of a repository nobody may read.
    for name in ("HEAD", "objects/info/packs", "refs/heads/main"):
        _write(hub.project, f"vendor/lib.git/{name}")
    guest = await hub.guest("alice", "viewer")
    host = await hub.host()
    core = hub.hub.core
    assert core is not None
    for rel in ("vendor/lib.git/refs/heads/secret-merger", "vendor/lib.git/HEAD", "notes.txt"):
        _write(hub.project, rel)
        core.note_disk_change(str(hub.project / rel), "modified", 0.0)
    for peer in (guest, host):
        await peer.wait_event("file_changed", lambda d: d["path"] == "notes.txt")
        assert [e.data["path"] for e in peer.events if e.name == "file_changed"] == ["notes.txt"]


async def test_a_message_cannot_quote_a_gitlink_even_from_the_host(hub: HubFixture) -> None:
    _write(hub.project, ".git", GITLINK)
    host = await hub.host()
    await hub.guest("alice", "viewer")
    ref = {"path": ".git", "start_line": 1}
    call = host.call("send_message", to="alice", type="chat", body="look", refs=[ref])
    assert await _code(call) == ErrorCode.NOT_SHARED


# ------------------------------------------------------------------------------- writing


@pytest.mark.parametrize("name", GIT_NAMES)
@pytest.mark.parametrize("where", ["", "sub/", "a/b/c/"])
async def test_a_guest_cannot_propose_a_git_file_at_any_depth(
    hub: HubFixture, name: str, where: str
) -> None:
    guest = await hub.guest("alice")
    rel = where + name
    code = await _code(guest.call("write_file", path=rel, content="gitdir: ../fake\n"))
    assert code == ErrorCode.NOT_SHARED
    assert not os.path.lexists(hub.project / rel)


@pytest.mark.parametrize("name", [".git", ".GIT", "GIT~1"])
@pytest.mark.parametrize("where", ["", "sub/", "a/b/c/"])
async def test_a_trusted_editor_cannot_write_into_a_git_folder_at_any_depth(
    hub: HubFixture, name: str, where: str
) -> None:
    guest = await _trusted(hub)
    rel = f"{where}{name}/config"
    assert await _code(guest.call("write_file", path=rel, content="[core]\n")) in (
        ErrorCode.NOT_SHARED,
        ErrorCode.FORBIDDEN,
    )
    assert not os.path.lexists(hub.project / f"{where}{name}")


@pytest.mark.parametrize(
    "rel",
    [".git", "sub/.git", ".git/config", "a/b/c/.GIT/HEAD", "GIT~1", "./sub//.git/", "x/./.Git"],
)
async def test_the_host_cannot_write_git_metadata_through_the_hub(
    hub: HubFixture, rel: str
) -> None:
    host = await hub.host()
    code = await _code(host.call("write_file", path=rel, content="gitdir: fake\n"))
    assert code == ErrorCode.FORBIDDEN
    assert not os.path.lexists(hub.project / rel)


async def test_the_host_cannot_rewrite_an_existing_gitlink(hub: HubFixture) -> None:
    _write(hub.project, ".git", GITLINK)
    host = await hub.host()
    code = await _code(host.call("write_file", path=".git", content="gitdir: fake\n"))
    assert code == ErrorCode.FORBIDDEN
    assert await _code(host.call("delete_file", path=".git")) == ErrorCode.FORBIDDEN
    assert (hub.project / ".git").read_text() == GITLINK


@pytest.mark.parametrize("target", [".git", "sub/.git/config", ".Git/hooks/pre-commit"])
async def test_a_move_cannot_put_a_file_into_git_metadata(hub: HubFixture, target: str) -> None:
    guest = await _trusted(hub)
    host = await hub.host()
    for peer in (guest, host):
        code = await _code(peer.call("move_file", path="notes.txt", new_path=target))
        assert code in (ErrorCode.NOT_SHARED, ErrorCode.FORBIDDEN)
    assert (hub.project / "notes.txt").read_text() == NOTES
    assert not os.path.lexists(hub.project / target)


async def test_the_host_cannot_move_the_gitlink_away(hub: HubFixture) -> None:
    _write(hub.project, ".git", GITLINK)
    host = await hub.host()
    code = await _code(host.call("move_file", path=".git", new_path="gitlink.txt"))
    assert code == ErrorCode.FORBIDDEN
    assert (hub.project / ".git").read_text() == GITLINK


async def test_writing_through_a_symlinked_folder_into_git_metadata_is_refused(
    hub: HubFixture,
) -> None:
    (hub.project / "repo" / ".git").mkdir(parents=True)
    os.symlink("repo/.git", hub.project / "meta")
    host = await hub.host()
    code = await _code(host.call("write_file", path="meta/config", content="[core]\n"))
    assert code == ErrorCode.FORBIDDEN
    assert not (hub.project / "repo" / ".git" / "config").exists()


# ------------------------------------------------------------------------------- layouts

LAYOUT = {"HEAD": "ref: refs/heads/main\n", "objects/info/packs": "\n", "refs/heads/main": "0\n"}


async def _propose_all(guest: Client, folder: str, files: dict[str, str]) -> list[str]:
    ids = []
    for name, text in files.items():
        result = await guest.call("write_file", path=f"{folder}/{name}", content=text)
        assert result["status"] == "pending"
        ids.append(result["change"]["id"])
    return ids


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
async def test_the_last_piece_of_a_bare_repository_is_refused_whatever_the_approval_order(
    hub: HubFixture, order: tuple[int, ...]
) -> None:
    guest = await hub.guest("alice")
    host = await hub.host()
    ids = await _propose_all(guest, "vendor/evil", LAYOUT)
    *first, last = (ids[i] for i in order)
    for change_id in first:
        assert (await host.call("approve_change", id=change_id))["change"]["status"] == "applied"
    with pytest.raises(OpError) as info:
        await host.call("approve_change", id=last)
    assert info.value.code == ErrorCode.FORBIDDEN
    assert "git repository layout" in info.value.message
    names = sorted(LAYOUT)
    present = [n for n in names if (hub.project / "vendor/evil" / n).exists()]
    assert len(present) == 2
    pending = await host.call("pending_changes")
    assert [c["id"] for c in pending["changes"]] == [last]  # waits for a reject


async def test_the_last_piece_of_a_bare_repository_is_refused_when_proposed(
    hub: HubFixture,
) -> None:
    for name in ("objects/info/packs", "refs/heads/main"):
        _write(hub.project, f"evil/{name}")
    guest = await hub.guest("alice")
    code = await _code(guest.call("write_file", path="evil/HEAD", content="ref: refs/heads/x\n"))
    assert code == ErrorCode.FORBIDDEN
    assert not (hub.project / "evil" / "HEAD").exists()


@pytest.mark.parametrize("folder", ["", "sub", "a/b/c"])
async def test_a_trusted_editor_cannot_turn_a_folder_into_a_repository_at_any_depth(
    hub: HubFixture, folder: str
) -> None:
    base = f"{folder}/" if folder else ""
    for name in ("HEAD", "objects/pack/x"):
        _write(hub.project, base + name)
    guest = await _trusted(hub)
    code = await _code(guest.call("write_file", path=base + "refs/heads/main", content="0\n"))
    assert code == ErrorCode.FORBIDDEN
    assert not (hub.project / base / "refs").exists()


async def test_head_with_a_commondir_is_a_worktree_git_dir_and_refused(hub: HubFixture) -> None:
    _write(hub.project, "wt/commondir", "/home/host/project/.git\n")
    guest = await _trusted(hub)
    code = await _code(guest.call("write_file", path="wt/HEAD", content="ref: refs/heads/x\n"))
    assert code == ErrorCode.FORBIDDEN
    _write(hub.project, "wt2/HEAD", "ref: refs/heads/x\n")
    code = await _code(guest.call("write_file", path="wt2/commondir", content="/x\n"))
    assert code == ErrorCode.FORBIDDEN


@pytest.mark.parametrize("op", ["write", "edit", "delete", "move_out"])
async def test_nothing_inside_an_existing_bare_repository_is_changed(
    hub: HubFixture, op: str
) -> None:
    for name in ("HEAD", "objects/info/packs", "refs/heads/main"):
        _write(hub.project, f"vendor/lib.git/{name}")
    _write(hub.project, "vendor/lib.git/config", "[core]\n\tbare = true\n")
    host = await hub.host()
    call = {
        "write": lambda: host.call(
            "write_file", path="vendor/lib.git/config", content="[core]\nfsmonitor = x\n"
        ),
        "edit": lambda: host.call(
            "edit_file", path="vendor/lib.git/config", old_string="bare", new_string="b"
        ),
        "delete": lambda: host.call("delete_file", path="vendor/lib.git/config"),
        "move_out": lambda: host.call(
            "move_file", path="vendor/lib.git/config", new_path="config.txt"
        ),
    }[op]
    assert await _code(call()) == ErrorCode.FORBIDDEN
    assert (hub.project / "vendor/lib.git/config").read_text() == "[core]\n\tbare = true\n"


async def test_a_move_completing_a_layout_is_refused_at_propose_and_at_approve(
    hub: HubFixture,
) -> None:
    _write(hub.project, "x/HEAD.txt", "ref: refs/heads/main\n")
    _write(hub.project, "x/objects/a")
    guest = await hub.guest("alice")
    host = await hub.host()
    moved = await guest.call("move_file", path="x/HEAD.txt", new_path="x/HEAD")
    assert moved["status"] == "pending"  # no refs/ yet
    _write(hub.project, "x/refs/heads/main")  # the tree changes before the host approves
    assert await _code(host.call("approve_change", id=moved["change"]["id"])) == (
        ErrorCode.FORBIDDEN
    )
    assert not (hub.project / "x" / "HEAD").exists()
    code = await _code(guest.call("move_file", path="x/HEAD.txt", new_path="x/HEAD"))
    assert code in (ErrorCode.FORBIDDEN, ErrorCode.LOCKED)


async def test_a_layout_through_a_symlinked_folder_is_seen_where_it_really_is(
    hub: HubFixture,
) -> None:
    for name in ("objects/a", "refs/b"):
        _write(hub.project, f"real/{name}")
    os.symlink("real", hub.project / "alias")
    host = await hub.host()
    code = await _code(host.call("write_file", path="alias/HEAD", content="ref: refs/x\n"))
    assert code == ErrorCode.FORBIDDEN
    assert not (hub.project / "real" / "HEAD").exists()


async def test_a_pending_layout_piece_is_refused_after_a_hub_restart(project: Path) -> None:
    async with running_hub(project) as fx:
        guest = await fx.guest("alice")
        ids = await _propose_all(guest, "evil", LAYOUT)
        host = await fx.host()
        for change_id in ids[:2]:
            await host.call("approve_change", id=change_id)
    async with running_hub(project) as fx:
        host = await fx.host()
        assert await _code(host.call("approve_change", id=ids[2])) == ErrorCode.FORBIDDEN
    assert not (project / "evil" / "refs").exists()


async def test_an_approved_change_that_would_complete_a_layout_goes_back_to_pending_at_start(
    project: Path,
) -> None:
    async with running_hub(project) as fx:
        guest = await fx.guest("alice")
        proposed = await guest.call("write_file", path="evil/HEAD", content="ref: refs/x\n")
        change_id = proposed["change"]["id"]
        core = fx.hub.core
        assert core is not None
        # As if the hub died between recording the approval and writing the file.
        core.store.set_change_status(change_id, "approved", now=1.0, by="host")
    for name in ("objects/a", "refs/b"):
        _write(project, f"evil/{name}")
    async with running_hub(project) as fx:
        host = await fx.host()
        change = (await host.call("get_change", id=change_id))["change"]
        assert change["status"] == "pending"
    assert not (project / "evil" / "HEAD").exists()


# ------------------------------------------------------------------------------- end to end


def _git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd), "GIT_AUTHOR_NAME": "t"}
    env.update({"GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
async def test_the_issues_fsmonitor_attack_runs_nothing_on_the_hosts_git_status(
    tmp_path: Path,
) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    assert _git("init", "-q", cwd=origin).returncode == 0
    assert _git("commit", "-q", "--allow-empty", "-m", "init", cwd=origin).returncode == 0
    project = tmp_path / "wt"
    assert _git("worktree", "add", "-q", str(project), cwd=origin).returncode == 0
    assert (project / ".git").is_file()  # a gitlink: the issue's case
    marker = tmp_path / "PWNED"
    attack = {
        "fake/HEAD": "ref: refs/heads/main\n",
        "fake/objects/info/packs": "\n",
        "fake/refs/heads/main": "0\n",
        "fake/config": f'[core]\n\tfsmonitor = "touch {marker}; false"\n',
        ".git": "gitdir: fake\n",
    }
    async with running_hub(project) as fx:
        guest = await fx.guest("mallory")
        host = await fx.host()
        await host.call("trust", name="mallory")
        for path, text in attack.items():
            try:
                result = await guest.call("write_file", path=path, content=text)
            except OpError:
                continue
            if result["status"] == "pending":
                with contextlib.suppress(OpError):
                    await host.call("approve_change", id=result["change"]["id"])
    _git("status", cwd=project)
    if (project / "fake").is_dir():
        _git("status", cwd=project / "fake")  # an embedded repository would run it here
    assert not marker.exists()
    assert (project / ".git").read_text() == f"gitdir: {origin / '.git' / 'worktrees' / 'wt'}\n"
