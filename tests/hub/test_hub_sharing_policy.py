"""Guests cannot widen the sharing policy (issue 13, item 2): a guest's change to an ignore
file, even one the host approved, never makes a hidden file visible to guests; and a change to
a sensitive path always waits for the host, with its reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from letswork.hub.workspace.policy import SENSITIVE_PATHS
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.limits import Limits
from tests.support.hubs import Client, HubFixture, running_hub

SECRET = "TOPSECRET=1\n"
#: Where a hidden secrets.yml sits for each depth the issue asks about.
DEPTHS = ["", "sub", "a/b/c"]


def _write(root: Path, rel: str, text: str = "x\n") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


@pytest.fixture
def hidden(hub: HubFixture) -> HubFixture:
    """The root .gitignore hides secrets.yml at every depth; one is planted at each."""
    _write(hub.project, ".gitignore", "build/\n*.log\nsecrets.yml\n")
    for folder in DEPTHS:
        _write(hub.project, _join(folder, "secrets.yml"), SECRET)
        _write(hub.project, _join(folder, "ok.txt"), "fine\n")
    return hub


async def _not_shared(guest: Client, rel: str) -> None:
    with pytest.raises(OpError) as info:
        await guest.call("read_file", path=rel)
    assert info.value.code == ErrorCode.NOT_SHARED
    found = await guest.call("search_files", pattern="TOPSECRET")
    assert found["matches"] == []
    listing = await guest.call("list_files", path="", recursive=True)
    assert rel not in {e["path"] for e in listing["entries"]}


async def _approved(hub: HubFixture, guest: Client, op: str, **args: object) -> dict[str, object]:
    proposed = await guest.call(op, **args)
    assert proposed["status"] == "pending"
    host = await hub.host()
    done = await host.call("approve_change", id=proposed["change"]["id"])
    assert done["change"]["status"] == "applied"
    return done["change"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------- widening


def _reinclude(folder: str) -> str:
    """What a guest writes to folder's .gitignore to re-include secrets.yml."""
    if not folder:
        return "build/\n*.log\n!secrets.yml\n"  # the root: drop the line, re-include
    return "!secrets.yml\n"


@pytest.mark.parametrize("folder", DEPTHS)
async def test_an_approved_gitignore_of_a_guest_cannot_reinclude_a_hidden_file(
    hidden: HubFixture, folder: str
) -> None:
    guest = await hidden.guest("alice")
    await _approved(
        hidden, guest, "write_file", path=_join(folder, ".gitignore"), content=_reinclude(folder)
    )
    assert (hidden.project / _join(folder, ".gitignore")).read_text() == _reinclude(folder)
    await _not_shared(guest, _join(folder, "secrets.yml"))
    assert (await guest.call("read_file", path=_join(folder, "ok.txt")))["text"] == "fine\n"


@pytest.mark.parametrize("folder", DEPTHS)
async def test_an_edit_of_a_gitignore_by_a_guest_cannot_reinclude_a_hidden_file(
    hidden: HubFixture, folder: str
) -> None:
    rel = _join(folder, ".gitignore")
    if folder:
        _write(hidden.project, rel, "nothing.txt\n")
    guest = await hidden.guest("alice")
    old = "secrets.yml\n" if not folder else "nothing.txt\n"
    await _approved(
        hidden, guest, "edit_file", path=rel, old_string=old, new_string="!secrets.yml\n"
    )
    await _not_shared(guest, _join(folder, "secrets.yml"))


@pytest.mark.parametrize("folder", DEPTHS)
async def test_a_trusted_editors_gitignore_cannot_reinclude_a_hidden_file(
    hidden: HubFixture, folder: str
) -> None:
    guest = await hidden.guest("tess")
    host = await hidden.host()
    await host.call("trust", name="tess")
    await _approved(
        hidden, guest, "write_file", path=_join(folder, ".gitignore"), content=_reinclude(folder)
    )
    await _not_shared(guest, _join(folder, "secrets.yml"))


async def test_deleting_the_gitignore_does_not_unhide_what_it_hid(hidden: HubFixture) -> None:
    guest = await hidden.guest("alice")
    await _approved(hidden, guest, "delete_file", path=".gitignore")
    assert not (hidden.project / ".gitignore").exists()
    await _not_shared(guest, "secrets.yml")
    await _not_shared(guest, "debug.log")


async def test_moving_the_gitignore_away_does_not_unhide_what_it_hid(hidden: HubFixture) -> None:
    guest = await hidden.guest("alice")
    await _approved(hidden, guest, "move_file", path=".gitignore", new_path="old-ignore.txt")
    await _not_shared(guest, "a/b/c/secrets.yml")


async def test_moving_a_file_onto_a_nested_gitignore_cannot_reinclude(hidden: HubFixture) -> None:
    guest = await hidden.guest("alice")
    host = await hidden.host()
    await host.call("write_file", path="sub/draft.txt", content="!secrets.yml\n")
    await _approved(hidden, guest, "move_file", path="sub/draft.txt", new_path="sub/.gitignore")
    await _not_shared(guest, "sub/secrets.yml")


async def test_a_second_guest_write_keeps_the_hosts_version(hidden: HubFixture) -> None:
    guest = await hidden.guest("alice")
    await _approved(hidden, guest, "write_file", path="sub/.gitignore", content="# mine\n")
    await _approved(hidden, guest, "write_file", path="sub/.gitignore", content="!secrets.yml\n")
    await _not_shared(guest, "sub/secrets.yml")


async def test_a_guests_gitignore_can_still_hide_more(hidden: HubFixture) -> None:
    guest = await hidden.guest("alice")
    await _approved(hidden, guest, "write_file", path="sub/.gitignore", content="ok.txt\n")
    with pytest.raises(OpError) as info:
        await guest.call("read_file", path="sub/ok.txt")
    assert info.value.code == ErrorCode.NOT_SHARED


async def test_what_the_host_writes_through_the_hub_becomes_the_hosts_version(
    hidden: HubFixture,
) -> None:
    guest = await hidden.guest("alice")
    await _approved(hidden, guest, "write_file", path="sub/.gitignore", content="!secrets.yml\n")
    host = await hidden.host()
    result = await host.call("write_file", path="sub/.gitignore", content="!secrets.yml\n")
    assert result["status"] == "applied"
    assert (await guest.call("read_file", path="sub/secrets.yml"))["text"] == SECRET


async def test_what_the_host_saves_in_its_own_editor_becomes_the_hosts_version(
    hidden: HubFixture,
) -> None:
    guest = await hidden.guest("alice")
    await _approved(hidden, guest, "write_file", path="sub/.gitignore", content="!secrets.yml\n")
    _write(hidden.project, "sub/.gitignore", "!secrets.yml\n# the host agrees\n")
    assert (await guest.call("read_file", path="sub/secrets.yml"))["text"] == SECRET


#: A guest's .gitignore as a hostile guest writes it, and as the host's formatters (pre-commit's
#: end-of-file-fixer, trailing-whitespace, mixed-line-ending, fix-byte-order-marker, or an
#: editor's save) rewrite it without the host reading a line.
FORMATTED = [
    ("!secrets.yml", "!secrets.yml\n"),
    ("!secrets.yml   \n", "!secrets.yml\n"),
    ("!secrets.yml\r\n", "!secrets.yml\n"),
    ("\ufeff!secrets.yml\n", "!secrets.yml\n"),
    ("!secrets.yml\n\n\n", "!secrets.yml\n"),
    ("# keep\r!secrets.yml", "# keep\n!secrets.yml\n"),
]


@pytest.mark.parametrize(("written", "formatted"), FORMATTED)
async def test_a_formatter_rewriting_a_guests_gitignore_does_not_make_it_the_hosts(
    hidden: HubFixture, written: str, formatted: str
) -> None:
    # Found attacking issue 13's change: the guest knows the project's pre-commit hooks (it
    # can read .pre-commit-config.yaml), writes a version they will touch, and the host's next
    # git commit "saves" it as the host's own: secrets.yml was re-included.
    guest = await hidden.guest("alice")
    await _approved(hidden, guest, "write_file", path="sub/.gitignore", content=written)
    await _not_shared(guest, "sub/secrets.yml")
    (hidden.project / "sub" / ".gitignore").write_bytes(formatted.encode())  # the hook runs
    await _not_shared(guest, "sub/secrets.yml")


async def test_padding_the_hosts_lines_past_the_read_cap_reincludes_nothing(
    project: Path,
) -> None:
    _write(project, ".gitignore", "secrets.yml\n")
    _write(project, "secrets.yml", SECRET)
    padded = "# pad\n" * 200_000 + "secrets.yml\n"  # 1.2 MB: the rules parse the first MiB
    async with running_hub(project, limits=Limits(max_file_bytes=2 * 1024 * 1024)) as fx:
        guest = await fx.guest("alice")
        await _approved(fx, guest, "write_file", path=".gitignore", content=padded)
        await _not_shared(guest, "secrets.yml")


async def test_a_guests_version_still_applies_after_a_hub_restart(project: Path) -> None:
    _write(project, ".gitignore", "secrets.yml\n")
    _write(project, "sub/secrets.yml", SECRET)
    async with running_hub(project) as fx:
        guest = await fx.guest("alice")
        await _approved(fx, guest, "write_file", path="sub/.gitignore", content="!secrets.yml\n")
        await _approved(fx, guest, "delete_file", path=".gitignore")
    async with running_hub(project) as fx:
        guest = await fx.guest("bob", "viewer")
        await _not_shared(guest, "sub/secrets.yml")


async def test_the_guest_version_of_the_earlier_write_governs_after_a_failed_write(
    hidden: HubFixture,
) -> None:
    guest = await hidden.guest("alice")
    await _approved(hidden, guest, "write_file", path=".gitignore", content="!secrets.yml\n")
    proposed = await guest.call("write_file", path=".gitignore", content="# other\n")
    core = hidden.hub.core
    assert core is not None
    real = core.workspace.write_atomic

    def full_disk(path: str, content: bytes) -> str:
        raise OpError(ErrorCode.DISK_ERROR, "no space left on device")

    core.workspace.write_atomic = full_disk  # type: ignore[method-assign]
    host = await hidden.host()
    with pytest.raises(OpError):
        await host.call("approve_change", id=proposed["change"]["id"])
    core.workspace.write_atomic = real  # type: ignore[method-assign]
    await _not_shared(guest, "secrets.yml")


async def test_a_guest_cannot_write_or_move_onto_the_letsworkignore(hub: HubFixture) -> None:
    _write(hub.project, ".gitignore", "secrets.yml\n")
    _write(hub.project, "secrets.yml", SECRET)
    guest = await hub.guest("tess")
    host = await hub.host()
    await host.call("trust", name="tess")
    await host.call("write_file", path="draft.txt", content="!secrets.yml\n")
    for call in (
        guest.call("write_file", path=".letsworkignore", content="!secrets.yml\n"),
        guest.call("write_file", path=".LetsWorkIgnore", content="!secrets.yml\n"),
        guest.call("move_file", path="draft.txt", new_path=".letsworkignore"),
    ):
        with pytest.raises(OpError) as info:
            await call
        assert info.value.code in (ErrorCode.NOT_SHARED, ErrorCode.FORBIDDEN)
    assert not (hub.project / ".letsworkignore").exists()
    await _not_shared(guest, "secrets.yml")


async def test_the_guest_ignore_versions_are_capped_until_the_host_takes_one_back(
    project: Path,
) -> None:
    _write(project, ".gitignore", "secrets.yml\n")
    async with running_hub(project, limits=Limits(max_guest_ignore_files=2)) as fx:
        guest = await fx.guest("alice")
        host = await fx.host()
        for folder in ("one", "two"):
            await _approved(fx, guest, "write_file", path=f"{folder}/.gitignore", content="#\n")
        third = await guest.call("write_file", path="three/.gitignore", content="#\n")
        with pytest.raises(OpError) as info:
            await host.call("approve_change", id=third["change"]["id"])
        assert info.value.code == ErrorCode.QUOTA_EXCEEDED
        assert not (project / "three" / ".gitignore").exists()
        _write(project, "one/.gitignore", "# the host's now\n")  # takes one back
        done = await host.call("approve_change", id=third["change"]["id"])
        assert done["change"]["status"] == "applied"


async def test_at_the_cap_the_host_and_ordinary_changes_still_apply(project: Path) -> None:
    _write(project, ".gitignore", "secrets.yml\n")
    async with running_hub(project, limits=Limits(max_guest_ignore_files=1)) as fx:
        guest = await fx.guest("alice")
        host = await fx.host()
        await _approved(fx, guest, "write_file", path="one/.gitignore", content="#\n")
        two = await guest.call("write_file", path="two/.gitignore", content="#\n")
        with pytest.raises(OpError) as info:
            await host.call("approve_change", id=two["change"]["id"])
        assert info.value.code == ErrorCode.QUOTA_EXCEEDED
        mine = await host.call("write_file", path="three/.gitignore", content="x.log\n")
        assert mine["status"] == "applied"
        await _approved(fx, guest, "write_file", path="notes.txt", content="still works\n")


async def test_moving_the_gitignore_away_editing_it_and_back_cannot_reinclude(
    hidden: HubFixture,
) -> None:
    guest = await hidden.guest("tess")
    host = await hidden.host()
    await host.call("trust", name="tess")
    await _approved(hidden, guest, "move_file", path=".gitignore", new_path="old.txt")
    edited = await guest.call(
        "edit_file", path="old.txt", old_string="secrets.yml\n", new_string="!secrets.yml\n"
    )
    assert edited["status"] == "applied"  # an ordinary file: a trusted editor's edit applies
    await _approved(hidden, guest, "move_file", path="old.txt", new_path=".gitignore")
    assert "!secrets.yml" in (hidden.project / ".gitignore").read_text()
    await _not_shared(guest, "sub/secrets.yml")


async def test_a_folder_named_gitignore_cannot_stand_in_for_a_deleted_one(hub: HubFixture) -> None:
    _write(hub.project, "sub/.gitignore", "local.yml\n")
    _write(hub.project, "sub/local.yml", SECRET)
    guest = await _trusted(hub)
    await _approved(hub, guest, "delete_file", path="sub/.gitignore")
    made = await guest.call("write_file", path="sub/.gitignore/x.txt", content="x\n")
    assert made["status"] == "applied"  # not an ignore file: a folder of that name
    await _not_shared(guest, "sub/local.yml")


async def test_a_letsworkignore_in_a_subfolder_cannot_be_proposed(hidden: HubFixture) -> None:
    guest = await _trusted(hidden)
    with pytest.raises(OpError) as info:
        await guest.call("write_file", path="sub/.letsworkignore", content="!secrets.yml\n")
    assert info.value.code == ErrorCode.NOT_SHARED
    await _not_shared(guest, "sub/secrets.yml")


async def test_a_sensitive_mark_outlives_the_pruning_of_the_changes_diff(project: Path) -> None:
    async with running_hub(project, limits=Limits(max_decided_with_data=1)) as fx:
        guest = await fx.guest("alice")
        host = await fx.host()
        proposed = await guest.call("write_file", path=".envrc", content="curl x | sh\n")
        cid = proposed["change"]["id"]
        await host.call("reject_change", id=cid, reason="no")
        for n in range(2):
            await host.call("write_file", path=f"host/{n}.txt", content=f"{n}\n")
        for peer in (host, guest):
            change = (await peer.call("get_change", id=cid))["change"]
            assert change["data_pruned"] is True
            assert change["sensitive"].startswith(".envrc: ")


# ------------------------------------------------------------------------------- sensitive

#: One path per entry of SENSITIVE_PATHS (and a case variant), as a trusted editor writes it.
SENSITIVE_WRITES = [
    ".gitignore",
    "sub/.gitignore",
    "a/b/c/.GitIgnore",
    ".gitattributes",
    ".gitmodules",
    ".envrc",
    "tools/.envrc",
    ".pre-commit-config.yaml",
    ".vscode/tasks.json",
    ".idea/workspace.xml",
    ".devcontainer/devcontainer.json",
    ".github/workflows/ci.yml",
    ".husky/pre-commit",
    # Found attacking issue 13's change: the same class under the names projects use for it.
    ".gitconfig",  # wired in with include.path: core.fsmonitor runs on the next git status
    "sub/.githooks/pre-commit",  # the usual core.hooksPath folder
    ".devcontainer.json",  # the root-file form of .devcontainer/devcontainer.json
    # The commands file (issue 17): it names what guests may run on the host.
    "letswork.toml",
    "pyproject.toml",
]


def test_the_sensitive_writes_cover_every_sensitive_entry() -> None:
    from letswork.hub.workspace.policy import sensitive_reason

    covered = {str(sensitive_reason(p)).split(": ", 1)[0] for p in SENSITIVE_WRITES}
    # Guests never see .letsworkignore (a built-in deny), so they cannot propose it at all.
    assert covered == {pattern for pattern, _ in SENSITIVE_PATHS} - {".letsworkignore"}


async def _trusted(hub: HubFixture) -> Client:
    guest = await hub.guest("tess")
    host = await hub.host()
    await host.call("trust", name="tess")
    return guest


@pytest.mark.parametrize("rel", SENSITIVE_WRITES)
async def test_a_trusted_editors_change_to_a_sensitive_path_waits_with_its_reason(
    hub: HubFixture, rel: str
) -> None:
    guest = await _trusted(hub)
    result = await guest.call("write_file", path=rel, content="run = evil\n")
    assert result["status"] == "pending"
    target = hub.project / rel
    assert not target.exists() or target.read_text() != "run = evil\n"
    pattern = result["change"]["sensitive"].split(": ", 1)[0]
    assert pattern in {p for p, _ in SENSITIVE_PATHS}
    host = await hub.host()
    [queued] = (await host.call("pending_changes"))["changes"]
    assert queued["sensitive"] == result["change"]["sensitive"]


async def test_an_ordinary_path_of_a_trusted_editor_still_applies_at_once(hub: HubFixture) -> None:
    guest = await _trusted(hub)
    result = await guest.call("write_file", path=".github/README.md", content="hi\n")
    assert result["status"] == "applied"
    assert "sensitive" not in result["change"]


@pytest.mark.parametrize(
    ("src", "dst"),
    [("notes.txt", ".envrc"), ("notes.txt", ".vscode/settings.json"), (".envrc", "notes2.txt")],
)
async def test_a_trusted_editors_move_with_a_sensitive_end_waits(
    hub: HubFixture, src: str, dst: str
) -> None:
    if src == ".envrc":
        _write(hub.project, ".envrc", "export A=1\n")
    guest = await _trusted(hub)
    result = await guest.call("move_file", path=src, new_path=dst)
    assert result["status"] == "pending"
    assert result["change"]["sensitive"]
    assert (hub.project / src).exists() and not (hub.project / dst).exists()


async def test_the_hosts_own_write_to_a_sensitive_path_applies_and_is_marked(
    hub: HubFixture,
) -> None:
    host = await hub.host()
    result = await host.call("write_file", path=".envrc", content="export A=1\n")
    assert result["status"] == "applied"
    assert result["change"]["sensitive"].startswith(".envrc: ")
    result = await host.call("write_file", path=".letsworkignore", content="private/\n")
    assert result["status"] == "applied"
    assert result["change"]["sensitive"].startswith(".letsworkignore: ")


async def test_a_gitignore_longer_than_the_rules_read_is_still_known_as_the_guests(
    project: Path,
) -> None:
    _write(project, ".gitignore", "secrets.yml\n")
    _write(project, "sub/secrets.yml", SECRET)
    # Over MAX_FILE_BYTES, what the rules parse of an ignore file; allowed by --max-file-size.
    _write(project, "big.txt", "!secrets.yml\n" + "# padding\n" * 150_000)
    async with running_hub(project, limits=Limits(max_file_bytes=2 * 1024 * 1024)) as fx:
        guest = await fx.guest("alice")
        await _approved(fx, guest, "move_file", path="big.txt", new_path="sub/.gitignore")
        await _not_shared(guest, "sub/secrets.yml")


@pytest.mark.parametrize(
    ("link", "target", "written"),
    [
        # Found attacking issue 13's change: the host keeps .vscode as a symlink to a shared
        # folder; a trusted editor's .vscode/tasks.json applied at once, unmarked, since only
        # where the path really leads (config/vscode/tasks.json) was judged.
        (".vscode", "config/vscode", ".vscode/tasks.json"),
        (".vscode", "config/vscode", "config/vscode/tasks.json"),  # by the target's name
        (".github/workflows", "ci/workflows", "ci/workflows/release.yml"),
        (".envrc", "scripts/env.sh", "scripts/env.sh"),  # direnv runs the target
        ("sub/.husky", "hooks", "sub/.husky/pre-commit"),
    ],
)
async def test_a_change_through_a_hosts_symlinked_sensitive_path_waits_and_is_marked(
    hub: HubFixture, link: str, target: str, written: str
) -> None:
    _write(hub.project, target if "." in target.rsplit("/", 1)[-1] else f"{target}/keep.txt")
    (hub.project / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(
        os.path.relpath(hub.project / target, (hub.project / link).parent), hub.project / link
    )
    guest = await _trusted(hub)
    result = await guest.call("write_file", path=written, content="run = evil\n")
    assert result["status"] == "pending"
    assert result["change"]["sensitive"]
    host = await hub.host()
    [queued] = (await host.call("pending_changes"))["changes"]
    assert queued["sensitive"] == result["change"]["sensitive"]


async def test_the_mark_of_a_change_through_a_symlinked_sensitive_folder_outlives_a_restart(
    project: Path,
) -> None:
    _write(project, "config/vscode/keep.txt")
    (project / ".vscode").symlink_to("config/vscode")
    async with running_hub(project) as fx:
        guest = await _trusted(fx)
        result = await guest.call("write_file", path=".vscode/tasks.json", content="{}\n")
        assert result["status"] == "pending"
    async with running_hub(project) as fx:
        host = await fx.host()
        [queued] = (await host.call("pending_changes"))["changes"]
        assert queued["sensitive"].startswith(".vscode/: ")


async def test_a_write_through_a_symlink_to_a_sensitive_folder_waits(hub: HubFixture) -> None:
    (hub.project / ".vscode").mkdir()
    (hub.project / "vs").symlink_to(".vscode")
    guest = await _trusted(hub)
    result = await guest.call("write_file", path="vs/tasks.json", content="{}\n")
    assert result["status"] == "pending"
    assert result["change"]["path"] == ".vscode/tasks.json"
    assert result["change"]["sensitive"].startswith(".vscode/: ")
