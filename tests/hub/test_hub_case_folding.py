"""A project on a case-folding file system (macOS's APFS and HFS+, ext4 with casefold): a
guest cannot reach a denied, ignored or git file through another spelling of its name.

The file system is simulated on this case-sensitive one: each other spelling a guest tries is
a hard link to the protected file (``.ENV`` -> ``.env``; ``.Git/config`` -> ``.git/config``),
so opening it reaches the secret exactly as it would where names fold, and the hub's probe
(:func:`letswork.local.platforms.folds_case`) is made to answer as it does there. The control
runs the same tree with the probe answering "case-sensitive": the aliases of ignored files are
then files of their own and shared, which shows the simulation reaches the secrets and that
the probe's answer is what protects them.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest

from letswork.local import platforms
from letswork.shared.errors import ErrorCode, OpError
from tests.support.hubs import Client, make_project, running_hub

SECRET = "TOPSECRET=1\n"
CAFE = unicodedata.normalize("NFC", "café.txt")
CAFE_NFD = unicodedata.normalize("NFD", "café.txt")

#: (alias a guest asks for, the protected file it reaches): denied by the built-in rules or
#: git metadata, which fold whatever the file system does.
ALWAYS_DENIED = [
    (".ENV", ".env"),
    (".Env", ".env"),
    (".Git/config", ".git/config"),
    (".GIT/HEAD", ".git/HEAD"),
    (".SSH/id_ed25519", ".ssh/id_ed25519"),
    ("Id_Rsa", "id_rsa"),
    ("Server.PEM", "server.pem"),
]
#: Aliases of files the project's .gitignore hides: one file with them only where names fold.
IGNORED = [
    ("SECRET.TXT", "secret.txt"),
    ("Secret.Txt", "secret.txt"),
    (CAFE_NFD, CAFE),
    (CAFE_NFD.upper(), CAFE),
    ("LOGS/today.txt", "logs/today.txt"),
]


def _plant(root: Path) -> None:
    make_project(root)
    (root / ".gitignore").write_text(f"secret.txt\n{CAFE}\nlogs/\n", encoding="utf-8")
    files = {
        ".git/config": "[core]\n\tfsmonitor = TOPSECRET\n",
        ".git/HEAD": "ref: refs/heads/TOPSECRET\n",
        ".ssh/id_ed25519": SECRET,
        "id_rsa": SECRET,
        "server.pem": SECRET,
        "secret.txt": SECRET,
        CAFE: SECRET,
        "logs/today.txt": SECRET,
    }
    (root / ".env").write_text(SECRET, encoding="utf-8")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    for alias, target in ALWAYS_DENIED + IGNORED:
        (root / alias).parent.mkdir(parents=True, exist_ok=True)
        os.link(root / target, root / alias)


async def _refused(guest: Client, rel: str) -> None:
    with pytest.raises(OpError) as info:
        await guest.call("read_file", path=rel)
    assert info.value.code in (ErrorCode.NOT_SHARED, ErrorCode.FORBIDDEN), rel


async def _listed(guest: Client) -> set[str]:
    listing = await guest.call("list_files", path="", recursive=True)
    return {e["path"] for e in listing["entries"]}


async def test_no_other_spelling_reaches_a_protected_file_where_names_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    _plant(project)
    monkeypatch.setattr(platforms, "folds_case", lambda folder: True)
    async with running_hub(project) as hub:
        assert hub.hub.core.workspace.rules.case_insensitive  # type: ignore[union-attr]
        guest = await hub.guest("eve", "editor")
        for alias, _target in ALWAYS_DENIED + IGNORED:
            await _refused(guest, alias)
        found = await guest.call("search_files", pattern="TOPSECRET")
        assert found["matches"] == []
        listed = await _listed(guest)
        assert not {alias for alias, _ in ALWAYS_DENIED + IGNORED} & listed
        assert "notes.txt" in listed
        # A write through another spelling of an ignore file still waits for the host.
        proposed = await guest.call("write_file", path=".GITIGNORE", content="")
        assert proposed["status"] == "pending"
        with pytest.raises(OpError):
            await guest.call("write_file", path=".Git/hooks/pre-commit", content="x")


async def test_where_names_do_not_fold_the_other_spellings_are_files_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    _plant(project)
    monkeypatch.setattr(platforms, "folds_case", lambda folder: False)
    async with running_hub(project) as hub:
        assert not hub.hub.core.workspace.rules.case_insensitive  # type: ignore[union-attr]
        guest = await hub.guest("eve", "editor")
        for alias, _target in ALWAYS_DENIED:
            await _refused(guest, alias)  # built-in denies and git names fold everywhere
        for alias, _target in IGNORED:
            read = await guest.call("read_file", path=alias)
            assert "TOPSECRET" in read["text"], alias
