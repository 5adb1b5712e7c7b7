"""letswork.hub.policy and the guest versions of ignore files (issue 13, items 1-2), no hub."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from letswork.hub import workspace
from letswork.hub.store import Store
from letswork.hub.workspace import paths, policy, sharing
from letswork.hub.workspace.disk import sha256_hex
from letswork.hub.workspace.policy import (
    SENSITIVE_PATHS,
    change_sensitivity,
    fold_name,
    git_dir_reason,
    git_layout_reason,
    git_metadata_reason,
    is_git_name,
    sensitive_reason,
)
from letswork.hub.workspace.sharing import ABSENT, GuestVersion, SharingRules

KEY = bytes(range(32))


def _write(root: Path, rel: str, text: str = "x\n") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# ------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name",
    [
        ".git",
        ".GIT",
        ".gIt",
        ".git.",
        ".git..",
        ".git ",
        ".git . ",
        ".git:stream",
        ".git::$INDEX_ALLOCATION",
        "git~1",
        "GIT~1",
        "GIT~12",
        ".g\u200cit",  # HFS+ ignores zero-width non-joiner
        ".\u200dgit\ufeff",
        "\uff0e\uff47\uff49\uff54",  # fullwidth
        "\u2024git",  # ONE DOT LEADER: NFKC makes it a full stop
    ],
)
def test_every_spelling_of_dot_git_is_git_metadata(name: str) -> None:
    assert is_git_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "git",
        ".gitignore",
        ".github",
        "a.git",
        "repo.git",
        ".git2",
        "..git",
        "git~",
        "gi~1",
        ".g1t",
    ],
)
def test_other_names_are_not_git_metadata(name: str) -> None:
    assert not is_git_name(name)


def test_git_metadata_is_found_at_any_depth() -> None:
    assert git_metadata_reason("a/b/.git/config") is not None
    assert git_metadata_reason("a/.GIT") is not None
    assert git_metadata_reason("a/b.git/config") is None
    assert git_metadata_reason("src/app.py") is None


def test_fold_name_is_lenient_for_refusals_only() -> None:
    assert fold_name(".GitIgnore . ") == ".gitignore"
    assert fold_name(".git\u200cignore") == ".gitignore"
    assert fold_name("\uff0eenvrc") == ".envrc"
    assert fold_name("file:ads") == "file"


# ------------------------------------------------------------------------------- sensitive


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        (".gitignore", ".gitignore"),
        ("deep/er/.gitignore", ".gitignore"),
        (".GITIGNORE", ".gitignore"),
        (".gitignore.", ".gitignore"),
        (".letsworkignore", ".letsworkignore"),
        ("sub/.gitattributes", ".gitattributes"),
        (".gitmodules", ".gitmodules"),
        ("tools/.envrc", ".envrc"),
        (".pre-commit-config.yaml", ".pre-commit-config.yaml"),
        (".vscode/settings.json", ".vscode/"),
        ("pkg/.VSCode/tasks.json", ".vscode/"),
        (".idea/runConfigurations/x.xml", ".idea/"),
        (".devcontainer/devcontainer.json", ".devcontainer/"),
        (".github/workflows/ci.yml", ".github/workflows/"),
        (".github/workflows/sub/x.yml", ".github/workflows/"),
        (".husky/pre-commit", ".husky/"),
        (".husky/_/husky.sh", ".husky/"),
        (".gitconfig", ".gitconfig"),
        ("tools/.GitConfig", ".gitconfig"),
        (".githooks/pre-push", ".githooks/"),
        (".devcontainer.json", ".devcontainer.json"),
    ],
)
def test_sensitive_paths_name_their_entry_and_reason(path: str, pattern: str) -> None:
    reason = sensitive_reason(path)
    assert reason is not None
    assert reason == f"{pattern}: {dict(SENSITIVE_PATHS)[pattern]}"


@pytest.mark.parametrize(
    "path",
    [
        "src/app.py",
        ".vscode",
        ".github/workflows",
        ".github/README.md",
        "my.gitignore",
        "envrc",
        ".githooks",
        "gitconfig",
    ],
)
def test_other_paths_are_not_sensitive(path: str) -> None:
    assert sensitive_reason(path) is None


def test_a_move_is_sensitive_at_either_end_with_both_reasons() -> None:
    assert change_sensitivity("a.txt", ".envrc") == sensitive_reason(".envrc")
    assert change_sensitivity(".envrc", "a.txt") == sensitive_reason(".envrc")
    both = change_sensitivity(".envrc", "x/.gitignore")
    assert both == f"{sensitive_reason('.envrc')}; {sensitive_reason('x/.gitignore')}"
    assert change_sensitivity("a.txt", "b.txt") is None


# ------------------------------------------------------------------------------- layouts


@pytest.mark.parametrize(
    ("existing", "target", "refused"),
    [
        (["objects/x", "refs/y"], "HEAD", True),
        (["HEAD", "refs/y"], "objects/pack/p", True),
        (["HEAD", "objects/x"], "refs/heads/main", True),
        (["commondir"], "HEAD", True),
        (["HEAD"], "commondir", True),
        (["HEAD", "objects/x", "refs/y"], "config", True),  # inside a bare repository
        (["HEAD", "objects/x", "refs/y"], "hooks/pre-commit", True),
        (["objects/x", "refs/y"], "head", True),  # a case-insensitive filesystem's HEAD
        (["objects/x", "refs/y"], "HE\u200cAD", True),  # HFS+ ignores U+200C: it is HEAD
        (["HEAD", "refs/y"], "OBJECTS./x", True),  # NTFS drops the trailing dot
        (["objects/x"], "HEAD", False),
        (["refs/x"], "HEAD", False),
        (["HEAD"], "objects/x", False),
        (["HEAD", "objects/x"], "config", False),
        ([], "HEAD", False),
    ],
)
@pytest.mark.parametrize("dir_fds", [True, False])  # False: Windows, lookups by path
def test_a_change_touching_a_git_layout_is_named(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    existing: list[str],
    target: str,
    refused: bool,
    dir_fds: bool,
) -> None:
    monkeypatch.setattr(policy, "_DIR_FDS", policy._DIR_FDS and dir_fds)
    for rel in existing:
        _write(tmp_path, f"sub/repo/{rel}")
    assert (git_layout_reason(tmp_path, f"sub/repo/{target}") is not None) is refused


def test_the_project_root_itself_counts_as_a_layout(tmp_path: Path) -> None:
    _write(tmp_path, "objects/x")
    _write(tmp_path, "refs/y")
    reason = git_layout_reason(tmp_path, "HEAD")
    assert reason is not None and "the project root" in reason


def test_a_deeper_file_of_a_layout_folder_below_it_is_refused(tmp_path: Path) -> None:
    for rel in ("HEAD", "objects/x", "refs/y"):
        _write(tmp_path, f"r/{rel}")
    assert git_layout_reason(tmp_path, "r/a/b/c.txt") is not None
    assert git_layout_reason(tmp_path, "other/c.txt") is None


@pytest.mark.parametrize("dir_fds", [True, False])
def test_a_read_inside_a_git_dir_is_named_at_the_git_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dir_fds: bool
) -> None:
    monkeypatch.setattr(policy, "_DIR_FDS", policy._DIR_FDS and dir_fds)
    for rel in ("HEAD", "objects/x", "refs/heads/main"):
        _write(tmp_path, f"vendor/lib.git/{rel}")
    reason = git_dir_reason(tmp_path, "vendor/lib.git/refs/heads/main")
    assert reason is not None and "'vendor/lib.git'" in reason
    assert git_dir_reason(tmp_path, "vendor/other/x") is None
    assert git_dir_reason(tmp_path, "vendor/lib.git/refs/heads/main/deeper") is not None


@pytest.mark.skipif(not policy._DIR_FDS, reason="no dir fds here (Windows): lookups by path")
@pytest.mark.parametrize("check", ["layout", "git_dir"])
def test_the_git_checks_of_a_deep_path_resolve_each_folder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, check: str
) -> None:
    # A trusted editor's write to an existing 400-deep path ran the layout check on the event
    # loop with every lstat resolving the whole prefix again (and a Path built per folder):
    # ~130 ms a write at 510 deep. Counted as the bytes of path handed to the kernel, not timed.
    depth = 400
    rel = "/".join(["a"] * depth) + "/f.txt"
    _write(tmp_path, rel)
    handed: list[int] = []
    for name in ("lstat", "stat", "open"):
        real = getattr(os, name)

        def counting(path: object, *args: object, _real: object = real, **kw: object) -> object:
            handed.append(len(os.fsencode(path)) if isinstance(path, (str, Path)) else 0)
            return _real(path, *args, **kw)  # type: ignore[operator]

        monkeypatch.setattr(os, name, counting)
    if check == "layout":
        assert git_layout_reason(tmp_path, rel) is None
    else:
        assert git_dir_reason(tmp_path, rel) is None
    monkeypatch.undo()
    assert len(handed) <= 5 * (depth + 2)
    assert sum(handed) <= 16 * (depth + 2) + len(os.fsencode(str(tmp_path))) * 4


@pytest.mark.parametrize("name", ["GIT~1", "PROGRA~1", "GITIGN~1", "PRE-CO~1.YAM", "a~12"])
def test_windows_refuses_names_shaped_like_short_names(name: str) -> None:
    assert not paths._windows_name_ok(name)


@pytest.mark.parametrize("name", ["notes~.txt", "~backup", "a~b", "file.txt~"])
def test_windows_keeps_tilde_names_that_are_not_short_names(name: str) -> None:
    assert paths._windows_name_ok(name)


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
