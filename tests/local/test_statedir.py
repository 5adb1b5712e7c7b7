"""Per-project state directories and secret files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs
import pytest

from letswork.local import statedir
from letswork.local.statedir import (
    load_or_create_key,
    project_slug,
    project_state,
    read_secret_file,
    state_root,
    write_private_text,
    write_secret_file,
)
from letswork.shared.errors import UsageError

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_dir_env_overrides_the_platform_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LETSWORK_STATE_DIR", str(tmp_path / "custom"))
    assert state_root() == tmp_path / "custom"


def test_state_root_defaults_to_platformdirs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LETSWORK_STATE_DIR", raising=False)
    assert state_root() == Path(platformdirs.user_state_dir("letswork"))


def test_project_state_lives_under_the_state_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LETSWORK_STATE_DIR", str(tmp_path / "state"))
    project = tmp_path / "myproj"
    project.mkdir()
    ps = project_state(project)
    assert ps.root == project.resolve()
    assert ps.dir.parent == tmp_path / "state" / "projects"
    assert ps.dir.name.startswith("myproj-")
    assert len(ps.dir.name) == len("myproj-") + 12
    assert ps.dir.is_dir()
    assert ps.db_path == ps.dir / "state.db"
    assert ps.host_key_path.name == "host.key"
    assert ps.store_key_path.name == "store.key"
    assert ps.hub_info_path.name == "hub.json"
    assert ps.log_path.name == "hub.log"
    assert ps.lock_path.name == "hub.lock"


def test_same_folder_maps_to_the_same_state_dir(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    assert project_state(project) == project_state(tmp_path / "." / "p")


def test_folders_with_the_same_name_get_different_state_dirs(tmp_path: Path) -> None:
    (tmp_path / "a" / "app").mkdir(parents=True)
    (tmp_path / "b" / "app").mkdir(parents=True)
    assert project_state(tmp_path / "a" / "app").dir != project_state(tmp_path / "b" / "app").dir


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("my project!", "my_project_"),
        ("été", "_t_"),
        (".hidden", "hidden"),
        ("x" * 40, "x" * 32),
        ("", "project"),
    ],
)
def test_slug_keeps_only_safe_characters(name: str, slug: str) -> None:
    assert project_slug(name) == slug


@posix_only
def test_state_dirs_are_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LETSWORK_STATE_DIR", str(tmp_path / "state"))
    project = tmp_path / "p"
    project.mkdir()
    ps = project_state(project)
    assert _mode(tmp_path / "state") == 0o700
    assert _mode(ps.dir.parent) == 0o700
    assert _mode(ps.dir) == 0o700


@posix_only
def test_existing_state_dirs_are_made_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LETSWORK_STATE_DIR", str(tmp_path / "state"))
    project = tmp_path / "p"
    project.mkdir()
    ps = project_state(project)
    ps.dir.chmod(0o755)
    ps.dir.parent.chmod(0o755)
    project_state(project)
    assert _mode(ps.dir.parent) == 0o700
    assert _mode(ps.dir) == 0o700


@posix_only
def test_state_dir_that_is_a_symlink_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LETSWORK_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "state" / "projects").symlink_to(tmp_path / "elsewhere")
    project = tmp_path / "p"
    project.mkdir()
    with pytest.raises(UsageError, match="must be a directory"):
        project_state(project)


@posix_only
def test_secret_file_is_written_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_secret_file(tmp_path / "k", b"secret")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "k") == 0o600
    assert (tmp_path / "k").read_bytes() == b"secret"


def test_secret_file_write_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    write_secret_file(tmp_path / "k", b"one")
    write_secret_file(tmp_path / "k", b"two")
    assert read_secret_file(tmp_path / "k") == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["k"]


@posix_only
def test_secret_file_write_replaces_a_symlink_instead_of_following_it(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"untouched")
    (tmp_path / "k").symlink_to(target)
    write_secret_file(tmp_path / "k", b"secret")
    assert target.read_bytes() == b"untouched"
    assert not (tmp_path / "k").is_symlink()


@posix_only
def test_private_text_is_written_0600(tmp_path: Path) -> None:
    write_private_text(tmp_path / "hub.json", '{"port": 1}')
    assert _mode(tmp_path / "hub.json") == 0o600
    assert (tmp_path / "hub.json").read_text(encoding="utf-8") == '{"port": 1}'


@posix_only
def test_read_secret_file_refuses_a_world_readable_file_naming_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "host.key"
    write_secret_file(path, b"secret")
    path.chmod(0o644)
    with pytest.raises(UsageError) as info:
        read_secret_file(path)
    assert str(path) in info.value.message
    assert f"chmod 600 {path}" in info.value.message


@posix_only
def test_read_secret_file_refuses_a_group_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "host.key"
    write_secret_file(path, b"secret")
    path.chmod(0o640)
    with pytest.raises(UsageError, match="chmod 600"):
        read_secret_file(path)


@posix_only
def test_read_secret_file_refuses_a_symlink(tmp_path: Path) -> None:
    write_secret_file(tmp_path / "real", b"secret")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(UsageError, match="symlink"):
        read_secret_file(tmp_path / "link")


def test_read_secret_file_of_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_secret_file(tmp_path / "missing")


def test_load_or_create_key_creates_once_and_then_reads(tmp_path: Path) -> None:
    path = tmp_path / "store.key"
    first = load_or_create_key(path)
    assert len(first) == 32
    assert load_or_create_key(path) == first
    assert [p.name for p in tmp_path.iterdir()] == ["store.key"]


@posix_only
def test_created_key_file_is_0600(tmp_path: Path) -> None:
    load_or_create_key(tmp_path / "store.key", nbytes=16)
    assert _mode(tmp_path / "store.key") == 0o600


def test_key_file_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    write_secret_file(tmp_path / "store.key", b"short")
    with pytest.raises(UsageError, match="damaged"):
        load_or_create_key(tmp_path / "store.key")


def test_key_created_concurrently_keeps_the_first_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.key"
    real_read = statedir.read_secret_file
    calls = {"n": 0}

    def read_racing(p: Path) -> bytes:
        # The first read misses; another process creates the key just after it.
        calls["n"] += 1
        if calls["n"] == 1:
            write_secret_file(path, b"W" * 32)
            raise FileNotFoundError(p)
        return real_read(p)

    monkeypatch.setattr(statedir, "read_secret_file", read_racing)
    assert load_or_create_key(path) == b"W" * 32
