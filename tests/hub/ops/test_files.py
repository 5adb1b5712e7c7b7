"""Sharing rules and path safety as a guest sees them over the wire."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from letswork.shared.errors import ErrorCode, OpError
from tests.support.hubs import HubFixture

SECRET_FILES = {
    ".env": "API_KEY=1\n",
    ".git/config": "[core]\n",
    "id_rsa": "-----BEGIN KEY-----\n",
    "debug.log": "gitignored\n",
    "private/plan.md": "letsworkignored\n",
    "certs/server.pem": "pem\n",
}


@pytest.fixture
def secrets_project(hub: HubFixture) -> Path:
    for rel, text in SECRET_FILES.items():
        path = hub.project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (hub.project / ".letsworkignore").write_text("private/\n!.env\n!id_rsa\n", encoding="utf-8")
    hub.hub.core.workspace.rules.reload()  # type: ignore[union-attr]
    return hub.project


async def test_unshared_files_are_absent_from_a_guest_listing(
    hub: HubFixture, secrets_project: Path
) -> None:
    guest = await hub.guest("alice", "viewer")
    listing = await guest.call("list_files", path="", recursive=True)
    paths = {e["path"] for e in listing["entries"]}
    assert "notes.txt" in paths
    for rel in SECRET_FILES:
        assert rel not in paths
    assert not any(p.split("/")[0] in (".git", "private") for p in paths)


async def test_unshared_files_are_absent_from_search_and_find(
    hub: HubFixture, secrets_project: Path
) -> None:
    guest = await hub.guest("alice", "viewer")
    found = await guest.call("find_files", glob="**/*")
    assert not set(found["paths"]) & set(SECRET_FILES)
    for needle in ("API_KEY", "core", "BEGIN KEY", "gitignored", "letsworkignored", "pem"):
        result = await guest.call("search_files", pattern=needle)
        assert result["matches"] == [], needle


@pytest.mark.parametrize("rel", sorted(SECRET_FILES))
async def test_reading_an_unshared_file_gives_not_shared(
    hub: HubFixture, secrets_project: Path, rel: str
) -> None:
    guest = await hub.guest("alice", "viewer")
    with pytest.raises(OpError) as info:
        await guest.call("read_file", path=rel)
    assert info.value.code == ErrorCode.NOT_SHARED


@pytest.mark.parametrize("rel", sorted(set(SECRET_FILES) - {".git/config"}))
async def test_the_host_reads_every_file_but_git_metadata(
    hub: HubFixture, secrets_project: Path, rel: str
) -> None:
    host = await hub.host()
    result = await host.call("read_file", path=rel)
    assert result["text"] == SECRET_FILES[rel]


async def test_a_guest_cannot_propose_a_write_to_an_unshared_file(
    hub: HubFixture, secrets_project: Path
) -> None:
    guest = await hub.guest("alice", "editor")
    with pytest.raises(OpError) as info:
        await guest.call("write_file", path=".env", content="API_KEY=stolen\n")
    assert info.value.code == ErrorCode.NOT_SHARED
    assert (hub.project / ".env").read_text() == SECRET_FILES[".env"]


ESCAPES = [
    "../outside.txt",
    "../../etc/passwd",
    "/etc/passwd",
    "src/../../outside.txt",
    "C:\\Windows\\win.ini",
    "\\\\server\\share\\x",
    "a\x00b",
    "link-out/outside.txt",
    "file-link",
]


@pytest.mark.parametrize("rel", ESCAPES)
async def test_escape_attempts_over_the_wire_neither_read_nor_write_outside(
    hub: HubFixture, tmp_path: Path, rel: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "outside.txt").write_text("outside\n", encoding="utf-8")
    os.symlink(outside, hub.project / "link-out")
    os.symlink(outside / "outside.txt", hub.project / "file-link")
    host = await hub.host()
    with pytest.raises(OpError):
        await host.call("read_file", path=rel)
    with pytest.raises(OpError):
        await host.call("write_file", path=rel, content="pwned\n")
    assert (outside / "outside.txt").read_text() == "outside\n"
    assert sorted(p.name for p in outside.iterdir()) == ["outside.txt"]


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("image.bin", b"\x89PNG\x00\x00", ErrorCode.BINARY_FILE),
        ("latin1.txt", "caf\xe9".encode("latin-1"), ErrorCode.BINARY_FILE),
    ],
)
async def test_reading_a_binary_or_oversized_file_gives_its_error_code(
    hub: HubFixture, name: str, data: bytes, code: ErrorCode
) -> None:
    (hub.project / name).write_bytes(data)
    guest = await hub.guest("reader", "viewer")
    with pytest.raises(OpError) as info:
        await guest.call("read_file", path=name)
    assert info.value.code == code


# -- stat_file: the op added by following docs/architecture.md "Adding an op" (issue 14) -------


async def test_stat_file_gives_the_size_lines_and_hash_read_file_gives(hub: HubFixture) -> None:
    guest = await hub.guest("alice", "viewer")
    stat = await guest.call("stat_file", path="notes.txt")
    page = await guest.call("read_file", path="notes.txt")
    assert stat == {
        "path": "notes.txt",
        "size": page["size"],
        "sha256": page["sha256"],
        "text": True,
        "total_lines": page["total_lines"],
    }  # no lock: a field that holds its default (null) is left out


async def test_stat_file_gives_a_binary_files_size_and_hash_without_refusing_it(
    hub: HubFixture,
) -> None:
    data = b"\x89PNG\x00\xff"
    (hub.project / "logo.png").write_bytes(data)
    stat = await (await hub.guest("alice", "viewer")).call("stat_file", path="logo.png")
    assert (stat["size"], stat["text"], stat["total_lines"]) == (6, False, 0)
    assert stat["sha256"] == hashlib.sha256(data).hexdigest()


async def test_stat_file_names_the_lock_on_the_path(hub: HubFixture) -> None:
    editor = await hub.guest("ed", "editor")
    await editor.call("lock_file", path="notes.txt")
    stat = await (await hub.guest("vera", "viewer")).call("stat_file", path="notes.txt")
    assert stat["lock"]["holder"] == "ed"


async def test_stat_file_of_an_unshared_file_gives_not_shared(
    hub: HubFixture, secrets_project: Path
) -> None:
    guest = await hub.guest("alice", "viewer")
    for path in (".env", "debug.log", "private/plan.md"):
        with pytest.raises(OpError) as caught:
            await guest.call("stat_file", path=path)
        assert caught.value.code == ErrorCode.NOT_SHARED, path


async def test_stat_file_of_a_folder_gives_not_a_file(hub: HubFixture) -> None:
    (hub.project / "sub").mkdir()
    with pytest.raises(OpError) as caught:
        await (await hub.host()).call("stat_file", path="sub")
    assert caught.value.code == ErrorCode.NOT_A_FILE


async def test_stat_file_of_a_file_over_the_text_file_limit_gives_too_large(
    hub: HubFixture,
) -> None:
    assert hub.hub.core is not None
    hub.hub.core.workspace.max_text_bytes = 2 * 1024 * 1024
    (hub.project / "big.txt").write_bytes(b"x" * (2 * 1024 * 1024 + 1))
    with pytest.raises(OpError) as caught:
        await (await hub.host()).call("stat_file", path="big.txt")
    assert caught.value.code == ErrorCode.TOO_LARGE


async def test_a_page_with_a_budget_holds_whole_lines_within_it(hub: HubFixture) -> None:
    (hub.project / "big.txt").write_text("".join(f"{i:05} é\n" for i in range(20_000)), "utf-8")
    guest = await hub.guest("alice", "viewer")
    page = await guest.call("read_file", path="big.txt", limit=2000, max_chars=1000)
    assert len(page["text"]) <= 1000 and page["text"].endswith("\n")
    assert page["lines"] == page["text"].count("\n") == 1000 // len("00000 é\n")
    assert page["truncated"] is True and "line_cut" not in page


async def test_a_first_line_over_the_budget_comes_cut_and_marked(hub: HubFixture) -> None:
    (hub.project / "wide.txt").write_text("w" * 5000 + "\nnext\n", "utf-8")
    guest = await hub.guest("alice", "viewer")
    page = await guest.call("read_file", path="wide.txt", max_chars=100)
    assert (page["text"], page["lines"], page["line_cut"]) == ("w" * 100, 1, True)


async def test_a_reader_without_a_budget_gets_the_whole_page_and_no_new_field(
    hub: HubFixture,
) -> None:
    # an older channel refuses unknown fields: it must never see ``line_cut``
    (hub.project / "wide.txt").write_text("w" * 70_000 + "\n", "utf-8")
    guest = await hub.guest("alice", "viewer")
    page = await guest.call("read_file", path="wide.txt")
    assert len(page["text"]) == 70_001 and "line_cut" not in page


@pytest.mark.parametrize("max_chars", [0, -1, 3 * 1024 * 1024 + 1, "10", 1.5])
async def test_a_budget_out_of_bounds_is_invalid(hub: HubFixture, max_chars: object) -> None:
    guest = await hub.guest("alice", "viewer")
    with pytest.raises(OpError) as caught:
        await guest.call("read_file", path="notes.txt", max_chars=max_chars)
    assert caught.value.code == ErrorCode.INVALID
