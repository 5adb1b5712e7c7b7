"""letswork.hub.workspace.policy: git metadata by name, sensitive paths and git repository
layouts (issue 13, items 1-2), no hub."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from letswork.hub.workspace import policy
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
from tests.hub.workspace.helpers import _write

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
