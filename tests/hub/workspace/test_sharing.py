"""What guests may see: the sharing rules through the Workspace, and the guests' versions of
ignore files (issue 13, item 2), no hub."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from letswork.hub import workspace
from letswork.hub.store import Store
from letswork.hub.workspace import Workspace, sharing
from letswork.hub.workspace.disk import TEMP_PREFIX, sha256_hex
from letswork.hub.workspace.sharing import ABSENT, BUILTIN_DENY, GuestVersion, SharingRules
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.protocol.files import Entry
from tests.hub.workspace.helpers import SECRETS, SHARED, _code, _paths, _write

KEY = bytes(range(32))

# ------------------------------------------------------------------------------- sharing


def test_guest_listing_omits_every_unshared_path(ws: Workspace) -> None:
    entries, truncated = ws.list_files(recursive=True, is_host=False)
    paths = _paths(entries)
    assert not truncated
    assert set(SHARED) <= paths
    assert not paths & set(SECRETS)
    hidden = (".git", ".ssh", ".aws", "build", "private")
    assert not any(p.split("/")[0] in hidden for p in paths)
    assert ".letsworkignore" not in paths


def test_guest_find_files_omits_unshared_paths(ws: Workspace) -> None:
    found, _ = ws.find_files("**/*", is_host=False)
    assert set(SHARED) <= set(found)
    assert not set(found) & set(SECRETS)


def test_guest_search_skips_unshared_files(ws: Workspace) -> None:
    result = ws.search_files("TOPSECRET", is_host=False)
    assert result.matches == []


@pytest.mark.parametrize("rel", sorted(SECRETS))
def test_guest_read_of_an_unshared_file_gives_not_shared(ws: Workspace, rel: str) -> None:
    with pytest.raises(OpError) as info:
        ws.read_text(rel, is_host=False)
    assert _code(info) == ErrorCode.NOT_SHARED
    assert "not shared by the host" in info.value.message


@pytest.mark.parametrize("rel", [".env.production", "build/new.txt", "private/x.md", "a/id_rsa"])
def test_guest_gets_not_shared_for_a_missing_unshared_path(ws: Workspace, rel: str) -> None:
    with pytest.raises(OpError) as info:
        ws.read_file(rel, is_host=False)
    assert _code(info) == ErrorCode.NOT_SHARED


@pytest.mark.parametrize("rel", sorted(set(SECRETS) - {".git/config"}))
def test_host_reads_every_unshared_file_but_git_metadata(ws: Workspace, rel: str) -> None:
    text, sha = ws.read_text(rel, is_host=True)
    assert text == SECRETS[rel]
    assert sha == hashlib.sha256(SECRETS[rel].encode()).hexdigest()


def test_host_listing_shows_unshared_files_but_no_git_metadata(ws: Workspace, root: Path) -> None:
    _write(root, "sub/.git", "gitdir: /home/host/x\n")
    for rel in ("HEAD", "objects/x", "refs/y", "config"):
        _write(root, f"vendor/lib.git/{rel}", "TOPSECRET git\n")
    entries, _ = ws.list_files(recursive=True, is_host=True)
    paths = _paths(entries)
    assert set(SECRETS) - {".git/config"} <= paths
    assert "vendor" in paths
    assert not [p for p in paths if ".git" in p.split("/") or p.startswith("vendor/lib.git")]


@pytest.mark.parametrize("op", ["read", "list", "search", "find"])
def test_the_host_cannot_read_or_list_inside_the_git_folder(ws: Workspace, op: str) -> None:
    calls = {
        "read": lambda: ws.read_file(".git/config", is_host=True),
        "list": lambda: ws.list_files(".git", is_host=True),
        "search": lambda: ws.search_files("TOPSECRET", path=".git", is_host=True),
        "find": lambda: ws.find_files("*", path=".git", is_host=True),
    }
    with pytest.raises(OpError) as info:
        calls[op]()
    assert _code(info) == ErrorCode.FORBIDDEN
    assert "git metadata" in info.value.message


def test_host_search_never_enters_the_git_folder(ws: Workspace) -> None:
    result = ws.search_files("TOPSECRET", is_host=True)
    paths = {m.path for m in result.matches}
    assert ".git/config" not in paths
    assert set(SECRETS) - {".git/config"} == paths


def test_a_bang_in_letsworkignore_does_not_reinclude_a_builtin_deny(ws: Workspace) -> None:
    assert not ws.rules.is_shared(".env")
    assert not ws.rules.is_shared("id_rsa")


def test_a_bang_in_letsworkignore_reincludes_a_gitignored_file(ws: Workspace) -> None:
    assert ws.rules.is_shared("keep.log")
    assert ws.read_text("keep.log", is_host=False)[0] == SHARED["keep.log"]


def test_a_nested_gitignore_applies_inside_its_folder_only(ws: Workspace, root: Path) -> None:
    _write(root, "local.txt", "top level\n")
    assert not ws.rules.is_shared("sub/local.txt")
    assert ws.rules.is_shared("local.txt")


def test_a_path_under_an_unshared_folder_is_unshared(ws: Workspace) -> None:
    assert not ws.rules.is_shared("build/deep/er/x.txt")
    assert not ws.rules.is_shared("a/.git/hooks/pre-commit")
    assert not ws.rules.is_shared(".ssh", is_dir=True)


def test_a_reinclude_cannot_reach_into_an_ignored_folder(root: Path) -> None:
    _write(root, ".letsworkignore", "!build/out.txt\n")
    assert not SharingRules(root).is_shared("build/out.txt")


@pytest.mark.parametrize(
    "rel",
    [
        ".git/HEAD",
        ".letsworkignore",
        ".env",
        "app/.env",
        ".env.example",
        "x.pem",
        "deep/y.key",
        "id_rsa",
        "id_rsa.pub",
        "keys/id_ed25519",
        ".ssh/known_hosts",
        ".aws/config",
        ".netrc",
        ".ENV",
        "ID_RSA",
        f"src/{TEMP_PREFIX}abc",
    ],
)
def test_builtin_denies_are_never_shared(tmp_path: Path, rel: str) -> None:
    assert not SharingRules(tmp_path).is_shared(rel)


def test_builtin_deny_list_is_the_documented_one() -> None:
    assert BUILTIN_DENY == (
        ".git",
        ".letsworkignore",
        ".env",
        ".env.*",
        "*.pem",
        "*.key",
        "id_rsa*",
        "id_ed25519*",
        ".ssh/",
        ".aws/",
        ".netrc",
    )


def test_an_ordinary_file_is_shared(tmp_path: Path) -> None:
    assert SharingRules(tmp_path).is_shared("src/main.py")
    assert SharingRules(tmp_path).is_shared("")


def test_a_case_insensitive_filesystem_matches_other_spellings(tmp_path: Path) -> None:
    _write(tmp_path, ".gitignore", "Secret.txt\nlogs/\n")
    rules = SharingRules(tmp_path, case_insensitive=True)
    assert not rules.is_shared("SECRET.TXT")
    assert not rules.is_shared("LOGS/a.txt")
    assert rules.is_shared("public.txt")


def test_a_case_sensitive_filesystem_matches_the_exact_spelling(tmp_path: Path) -> None:
    _write(tmp_path, ".gitignore", "Secret.txt\n")
    rules = SharingRules(tmp_path, case_insensitive=False)
    assert not rules.is_shared("Secret.txt")
    assert rules.is_shared("SECRET.TXT")


def test_an_edited_gitignore_applies_without_reload(ws: Workspace, root: Path) -> None:
    assert ws.rules.is_shared("README.md")
    _write(root, ".gitignore", "*.log\nbuild/\nREADME.md\n# longer now\n")
    assert not ws.rules.is_shared("README.md")


def test_identical_gitignores_share_one_spec_and_each_decides_below_its_folder(
    tmp_path: Path,
) -> None:
    for folder in ("a", "b"):
        _write(tmp_path, f"{folder}/.gitignore", "/top.txt\n")
        _write(tmp_path, f"{folder}/top.txt", "x")
        _write(tmp_path, f"{folder}/deep/top.txt", "x")
    rules = SharingRules(tmp_path, case_insensitive=False)
    chain_a, chain_b = rules.chain_for("a"), rules.chain_for("b")
    assert chain_a[-1][1] is chain_b[-1][1]  # one compiled spec for the one text
    for folder in ("a", "b"):
        assert not rules.is_shared(f"{folder}/top.txt")
        assert rules.is_shared(f"{folder}/deep/top.txt")  # anchored to its own folder
    _write(tmp_path, "b/.gitignore", "/deep/\n# edited\n")
    assert rules.is_shared("b/top.txt")
    assert not rules.is_shared("b/deep/top.txt")
    assert not rules.is_shared("a/top.txt")  # a's spec is not the edited one


def test_a_spec_is_shared_only_for_the_same_text_after_case_folding(tmp_path: Path) -> None:
    _write(tmp_path, "a/.gitignore", "Secret.txt\n")
    _write(tmp_path, "b/.gitignore", "secret.txt\n")
    folded = SharingRules(tmp_path, case_insensitive=True)
    assert folded.chain_for("a")[-1][1] is folded.chain_for("b")[-1][1]
    exact = SharingRules(tmp_path, case_insensitive=False)
    assert exact.chain_for("a")[-1][1] is not exact.chain_for("b")[-1][1]
    assert exact.is_shared("a/secret.txt")
    assert not exact.is_shared("b/secret.txt")


def test_reload_rereads_the_ignore_files(ws: Workspace, root: Path) -> None:
    assert ws.rules.is_shared("notes.md")
    _write(root, ".letsworkignore", "notes.md\n")
    ws.rules.reload()
    assert not ws.rules.is_shared("notes.md")


def test_a_symlink_to_an_unshared_file_is_not_shared(ws: Workspace, root: Path) -> None:
    (root / "envlink").symlink_to(root / ".env")
    (root / "gitlink").symlink_to(root / ".git", target_is_directory=True)
    for rel in ("envlink", "gitlink/config"):
        with pytest.raises(OpError) as info:
            ws.read_text(rel, is_host=False)
        assert _code(info) == ErrorCode.NOT_SHARED
    assert not _paths(ws.list_files(is_host=False)[0]) & {"envlink", "gitlink"}


def test_a_symlink_to_a_shared_file_is_listed_for_guests(ws: Workspace, root: Path) -> None:
    (root / "readme_link").symlink_to(root / "README.md")
    entries, _ = ws.list_files(is_host=False)
    assert Entry(path="readme_link", kind="symlink", size=0) in entries
    assert ws.read_text("readme_link", is_host=False)[0] == SHARED["README.md"]


def test_a_symlink_leading_outside_is_listed_for_the_host_only(
    ws: Workspace, root: Path, tmp_path: Path
) -> None:
    (root / "out").symlink_to(tmp_path)
    assert "out" in _paths(ws.list_files(is_host=True)[0])
    assert "out" not in _paths(ws.list_files(is_host=False)[0])


def test_resolve_returns_the_real_path_and_checks_sharing(ws: Workspace, root: Path) -> None:
    assert ws.resolve("src/app.py", is_host=False) == root / "src" / "app.py"
    with pytest.raises(OpError) as info:
        ws.resolve(".env", is_host=False)
    assert _code(info) == ErrorCode.NOT_SHARED
    assert ws.resolve(".env", is_host=True) == root / ".env"


# ------------------------------------------------------------------------------- guest versions


def _guest(data: bytes | None, *shas: str) -> GuestVersion:
    return GuestVersion(frozenset(shas), data)


def test_a_guest_version_on_disk_can_only_narrow(tmp_path: Path) -> None:
    _write(tmp_path, ".gitignore", "!secret.txt\nnotes.txt\n")  # the guest's version
    rules = SharingRules(tmp_path, case_insensitive=False)
    assert rules.is_shared("secret.txt")
    host = b"secret.txt\n"
    rules.put_guest_version(".gitignore", _guest(host, sha256_hex(b"!secret.txt\nnotes.txt\n")))
    assert not rules.is_shared("secret.txt")  # the host's version hides it
    assert not rules.is_shared("notes.txt")  # the guest's version hides more
    assert rules.is_shared("other.txt")


def test_a_guest_version_stops_applying_once_the_host_rewrites_the_file(tmp_path: Path) -> None:
    _write(tmp_path, ".gitignore", "!secret.txt\n")
    rules = SharingRules(tmp_path, case_insensitive=False)
    rules.put_guest_version(".gitignore", _guest(b"secret.txt\n", sha256_hex(b"!secret.txt\n")))
    assert not rules.is_shared("secret.txt")
    _write(tmp_path, ".gitignore", "!secret.txt\n# host\n")
    assert rules.is_shared("secret.txt")
    assert rules.guest_version(".gitignore") is None


def test_a_guest_created_gitignore_has_no_host_version_to_reinclude_with(tmp_path: Path) -> None:
    _write(tmp_path, ".gitignore", "secret.txt\n")
    _write(tmp_path, "a/b/c/.gitignore", "!secret.txt\n")
    rules = SharingRules(tmp_path, case_insensitive=False)
    assert rules.is_shared("a/b/c/secret.txt")
    rules.put_guest_version("a/b/c/.gitignore", _guest(None, sha256_hex(b"!secret.txt\n")))
    assert not rules.is_shared("a/b/c/secret.txt")


def test_a_guest_deleted_gitignore_still_hides_through_the_hosts_version(tmp_path: Path) -> None:
    rules = SharingRules(tmp_path, case_insensitive=False)
    assert rules.is_shared("sub/secret.txt")
    rules.put_guest_version("sub/.gitignore", _guest(b"secret.txt\n", ABSENT))
    assert not rules.is_shared("sub/secret.txt")
    _write(tmp_path, "sub/.gitignore", "# the host writes it again\n")
    assert rules.is_shared("sub/secret.txt")


def test_a_guest_version_of_the_letsworkignore_cannot_reinclude(tmp_path: Path) -> None:
    _write(tmp_path, ".gitignore", "secret.txt\n")
    _write(tmp_path, ".letsworkignore", "!secret.txt\n")
    rules = SharingRules(tmp_path, case_insensitive=False)
    assert rules.is_shared("secret.txt")
    rules.put_guest_version(".letsworkignore", _guest(None, sha256_hex(b"!secret.txt\n")))
    assert not rules.is_shared("secret.txt")


def test_a_walk_prunes_with_the_hosts_version_too(tmp_path: Path) -> None:
    _write(tmp_path, "sub/.gitignore", "!hidden/\n")
    _write(tmp_path, "sub/hidden/secret.txt", "TOPSECRET\n")
    ws = workspace.Workspace(tmp_path)
    ws.rules.put_guest_version("sub/.gitignore", _guest(b"hidden/\n", sha256_hex(b"!hidden/\n")))
    entries, _ = ws.list_files(recursive=True, is_host=False)
    assert "sub/hidden/secret.txt" not in {e.path for e in entries}
    assert ws.search_files("TOPSECRET", is_host=False).matches == []


#: A folder name with a precomposed letter, and the same name decomposed (NFD).
NFC, NFD = "caf\u00e9", "cafe\u0301"


def _aliased(root: Path) -> None:
    """``NFC/`` and ``NFD/`` name one folder, as on APFS and HFS+ (which ignore normalisation):
    simulated by a symlink, which the hub never takes for the spelling of a guest's path."""
    _write(root, ".gitignore", "secrets.yml\n")
    _write(root, f"{NFC}/secrets.yml", "TOPSECRET\n")
    os.symlink(NFC, root / NFD)


@pytest.mark.parametrize("insensitive", [True, False])
def test_a_guest_version_written_under_another_spelling_of_its_folder_still_applies(
    tmp_path: Path, insensitive: bool
) -> None:
    # On macOS a guest wrote café/.gitignore (NFD) with !secrets.yml: the record was keyed by
    # that spelling, while listings (and a read spelled NFC) looked the folder's ignore file up
    # by the spelling on disk, found no record, and re-included secrets.yml.
    _aliased(tmp_path)
    ws = workspace.Workspace(tmp_path)
    ws.rules = SharingRules(ws.root, case_insensitive=insensitive)
    rules = ws.rules
    guest = b"!secrets.yml\n"
    key = rules.record_key(f"{NFD}/.gitignore")
    assert key is not None
    rules.put_guest_version(key, _guest(None, sha256_hex(guest)))
    _write(tmp_path, f"{NFC}/.gitignore", guest.decode())
    assert not rules.is_shared(f"{NFC}/secrets.yml")
    entries, _ = ws.list_files(NFC, is_host=False)
    assert f"{NFC}/secrets.yml" not in {e.path for e in entries}
    # A second change through the other spelling finds the same record, and its host version.
    assert rules.record_key(f"{NFC}/.gitignore") == key
    assert rules.guest_version(key) is not None


def test_folders_that_only_fold_alike_keep_their_own_guest_versions(tmp_path: Path) -> None:
    _write(tmp_path, "Sub/.gitignore", "!secrets.yml\n")
    _write(tmp_path, "sub/.gitignore", "!secrets.yml\n")
    _write(tmp_path, "sub/secrets.yml", "ok\n")
    rules = SharingRules(tmp_path, case_insensitive=False)
    rules.put_guest_version(
        "Sub/.gitignore", _guest(b"secrets.yml\n", sha256_hex(b"!secrets.yml\n"))
    )
    assert rules.record_key("sub/.gitignore") == "sub/.gitignore"
    assert rules.is_shared("sub/secrets.yml")  # the host's own sub/.gitignore re-includes it
    assert not rules.is_shared("Sub/secrets.yml")


def test_an_ignore_file_symlinked_inside_the_project_is_not_read(tmp_path: Path) -> None:
    _write(tmp_path, "notes.txt", "secret.txt\n")
    os.symlink("notes.txt", tmp_path / ".gitignore")
    assert SharingRules(tmp_path).is_shared("secret.txt")  # as git: a guest writes notes.txt


def test_an_ignore_file_symlinked_outside_the_project_is_read(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    _write(tmp_path, "shared-ignore", "secret.txt\n")
    os.symlink(tmp_path / "shared-ignore", root / ".letsworkignore")
    assert not SharingRules(root).is_shared("secret.txt")


@pytest.mark.parametrize(
    ("rel", "insensitive", "key"),
    [
        (".gitignore", False, ".gitignore"),
        ("Sub/.gitignore", False, "Sub/.gitignore"),
        ("Sub/.GITIGNORE", False, None),
        ("Sub/.GITIGNORE", True, "sub/.gitignore"),
        ("Sub/.gitignore.", True, "sub/.gitignore"),
        (".letsworkignore", False, ".letsworkignore"),
        ("sub/.letsworkignore", False, None),
        ("notes.txt", True, None),
    ],
)
def test_the_ignore_file_key_follows_the_filesystems_case(
    tmp_path: Path, rel: str, insensitive: bool, key: str | None
) -> None:
    assert SharingRules(tmp_path, case_insensitive=insensitive).ignore_file_key(rel) == key


def test_guest_versions_round_trip_the_store_and_outlive_a_wipe(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with Store.open(db, KEY) as store:
        store.put_guest_ignore_version("a/.gitignore", _guest(b"x\n", "1" * 64, ABSENT), 1.0)
        store.put_guest_ignore_version(".gitignore", _guest(None, "2" * 64), 2.0)
        store.put_guest_ignore_version(".gitignore", _guest(b"y\n", "3" * 64), 3.0)
        store.wipe()  # letswork start --new: the files on disk are still the guests'
    with Store.open(db, KEY) as store:
        assert store.guest_ignore_versions() == {
            "a/.gitignore": _guest(b"x\n", "1" * 64, ABSENT),
            ".gitignore": _guest(b"y\n", "3" * 64),
        }
        store.drop_guest_ignore_version("a/.gitignore")
        assert set(store.guest_ignore_versions()) == {".gitignore"}


def test_an_unreadable_guest_version_keeps_the_hosts_version_applying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, ".gitignore", "!secret.txt\n")
    rules = SharingRules(tmp_path, case_insensitive=False)
    rules.put_guest_version(".gitignore", _guest(b"secret.txt\n", sha256_hex(b"!secret.txt\n")))

    def failing_read(fd: int, limit: int, expected: int) -> bytes:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(sharing, "_read_fd", failing_read)
    assert not rules.is_shared("secret.txt")
    assert rules.guest_version(".gitignore") is not None  # not dropped as taken back


@pytest.mark.parametrize("size", [1, 2, 3, 5, 1 << 20])
def test_the_lines_digest_ignores_formatting_whatever_the_chunks(size: int) -> None:
    def digest(data: bytes) -> str:
        lines = sharing._LinesDigest()
        for start in range(0, len(data), size):
            lines.update(data[start : start + size])
        return lines.hexdigest()

    guest = b"\xef\xbb\xbf# mine  \r\n\r\n!secrets.yml \t\r\nbuild/"
    assert digest(guest) == digest(b"# mine\n!secrets.yml\nbuild/\n")
    assert digest(guest) in sharing.ignore_file_ids(b"# mine\n\n!secrets.yml\nbuild/\n\n")
    for other in (b"# mine\nsecrets.yml\nbuild/\n", b"# mine\n!secrets.yml\n build/\n"):
        assert digest(guest) != digest(other)  # a changed or indented pattern is a new version
