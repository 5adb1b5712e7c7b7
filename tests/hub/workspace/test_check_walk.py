"""A read's one-pass check (``walk_plain``) answers exactly what the general check answers.

The general way resolves with ``realpath``, checks for symlink loops, walks the folders again
for git layouts and asks ``isdir``; the one pass does it all in one walk when no symlink is on
the way, and hands every other path to the general way.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from letswork.hub.workspace import Workspace, base
from letswork.hub.workspace.policy import walk_plain
from letswork.shared.errors import OpError
from tests.hub.workspace.helpers import _write

#: Paths asked of the tree below: shared, unshared, missing, through files, git names and
#: layouts at several depths, symlinks in and out, a loop, and odd spellings of each.
ASKED = [
    "README.md",
    "./README.md",
    "src//app.py",
    "src",
    "src/",
    "src/app.py/x",
    "missing.txt",
    "missing/deeper/file.txt",
    "debug.log",
    "build",
    "build/out.txt",
    "sub/local.txt",
    "sub/ok.txt",
    ".git",
    ".git/config",
    ".GIT/config",
    "git~1/config",
    "bare",
    "bare/HEAD",
    "bare/refs/x",
    "deep/a/b/wt/HEAD",
    "deep/a/b/wt",
    "deep/a/b",
    "deep/a/b/ok.txt",
    "almost/HEAD",
    "almost/x.txt",
    "link_in.txt",
    "link_dir/app.py",
    "link_out",
    "link_out/x",
    "link_bare/HEAD",
    "link_git",
    "loop",
    "loop/x",
    "fifo",
    "private/p.txt",
    "link_root",
    "link_root/README.md",
    "link_root/bare/HEAD",
]


@pytest.fixture
def hostile(root: Path, tmp_path: Path) -> Path:
    for folder in ("bare", "deep/a/b/wt"):
        _write(root, f"{folder}/HEAD", "ref: refs/heads/main\n")
        (root / folder / "refs").mkdir()
        (root / folder / "objects").mkdir()
    _write(root, "bare/refs/x")
    _write(root, "deep/a/b/ok.txt")
    _write(root, "almost/HEAD")  # HEAD alone is no layout
    _write(root, "almost/x.txt")
    _write(root, "private/p.txt")
    outside = tmp_path / "outside"
    outside.mkdir()
    _write(outside, "x", "TOPSECRET outside\n")
    os.symlink("README.md", root / "link_in.txt")
    os.symlink("src", root / "link_dir")
    os.symlink(outside, root / "link_out")
    os.symlink("bare", root / "link_bare")
    os.symlink(".git", root / "link_git")
    os.symlink("loop", root / "loop")
    os.symlink(".", root / "link_root")
    os.mkfifo(root / "fifo")
    return root


def _answer(ws: Workspace, path: str, *, is_host: bool) -> object:
    try:
        res = ws._check(path, is_host=is_host)
    except OpError as exc:
        return (exc.code, str(exc))
    return (res.rel, res.lexical, res.real)


def test_the_one_pass_check_answers_every_path_as_the_realpath_check_does(
    hostile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(hostile)
    fast = {(p, h): _answer(ws, p, is_host=h) for p in ASKED for h in (True, False)}
    monkeypatch.setattr(base, "walk_plain", lambda root, parts, root_id=None: None)
    slow = {(p, h): _answer(ws, p, is_host=h) for p in ASKED for h in (True, False)}
    assert fast == slow
    # Both ways refused something and allowed something: the comparison is not vacuous.
    allowed = [key for key, v in fast.items() if isinstance(v[1], Path)]
    assert 10 <= len(allowed) < len(fast) - 10


def test_the_one_pass_hands_a_path_through_a_symlink_to_the_general_way(hostile: Path) -> None:
    root = str(hostile)
    for path in ("link_in.txt", "link_dir/app.py", "link_out/x", "link_bare/HEAD", "loop/x"):
        assert walk_plain(root, path.split("/")) is None, path
    app, src = os.stat(hostile / "src" / "app.py"), os.stat(hostile / "src")
    assert walk_plain(root, ["src", "app.py"]) == (None, False, (app.st_dev, app.st_ino))
    assert walk_plain(root, ["src"]) == (None, True, (src.st_dev, src.st_ino))
    assert walk_plain(root, ["missing", "x"]) == (None, False, None)
    assert walk_plain(root, ["src", "app.py", "x"]) == (None, False, None)
    assert walk_plain(root, ["deep", "a", "b", "wt", "HEAD"]) == (4, True, None)
    assert walk_plain(root, ["bare"]) == (1, True, None)


def _swap_for_symlink(folder: Path, target: Path) -> None:
    """``folder`` becomes a symlink to ``target`` (the real folder is moved aside)."""
    folder.rename(folder.with_name(folder.name + ".aside"))
    os.symlink(target, folder)


@pytest.mark.parametrize("path", ["sub/ok.txt", "link_dir/app.py"])
def test_a_folder_swapped_for_a_symlink_out_between_check_and_open_is_not_read(
    hostile: Path, tmp_path: Path, path: str
) -> None:
    # Found attacking this change: the check and the open resolve the path twice, and a
    # process swapping a folder for a symlink out of the project in between was read from.
    ws = Workspace(hostile)
    res = ws._check(path, is_host=False)
    folder, name = path.split("/")
    decoy = tmp_path / "decoy"
    _write(decoy, name, "TOPSECRET swapped in\n")
    real_folder = (hostile / folder).resolve()
    _swap_for_symlink(real_folder, decoy)
    with pytest.raises(OpError) as caught:
        ws._open_file(res)
    assert caught.value.code == "disk_error"
    assert "changed while it was being read" in caught.value.message
    # Put back, the same check reads it.
    os.unlink(real_folder)
    real_folder.with_name(real_folder.name + ".aside").rename(real_folder)
    fd, _ = ws._open_file(ws._check(path, is_host=False))
    os.close(fd)


def test_a_file_put_where_the_check_found_nothing_is_not_read(hostile: Path) -> None:
    ws = Workspace(hostile)
    res = ws._check("sub/new.txt", is_host=False)
    _write(hostile, "sub/new.txt", "appeared\n")
    with pytest.raises(OpError) as caught:
        ws._open_file(res)
    assert caught.value.code == "disk_error"
    assert ws.read_file("sub/new.txt", is_host=False).text == "appeared\n"


def test_a_read_is_refused_when_where_a_symlink_leads_changed_before_the_walk_there(
    hostile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A path through a symlink is resolved (realpath), then walked where it leads; a walk
    # that bails there means the path changed in between: the check still decides, but what
    # a read then opens is not trusted.
    ws = Workspace(hostile)
    walked: list[list[str]] = []

    def bail(root: str, parts: list[str], root_id: object = None) -> None:
        walked.append(list(parts))

    monkeypatch.setattr(base, "walk_plain", bail)
    res = ws._check("link_dir/app.py", is_host=False)
    assert walked == [["link_dir", "app.py"], ["src", "app.py"]]
    with pytest.raises(OpError) as caught:
        ws._open_file(res)
    assert caught.value.code == "disk_error"


def _project_in(base: Path) -> Path:
    project = base / "parent" / "project"
    _write(project, "a.txt", "the project's\n")
    other = base / "other"
    _write(other, "a.txt", "TOPSECRET other\n")
    _write(other, "project/a.txt", "TOPSECRET other project\n")
    return project


@pytest.mark.parametrize("swapped", ["root", "parent"])
def test_a_project_folder_swapped_for_a_symlink_out_is_not_read_from(
    tmp_path: Path, swapped: str
) -> None:
    # Found attacking this change: the one walk opened the root by its path, following
    # symlinks, so with the project folder (or one above it) swapped for a symlink out of the
    # project every read was served from where it led. realpath refused that before.
    project = _project_in(tmp_path)
    ws = Workspace(project)
    assert ws.read_file("a.txt", is_host=False).text == "the project's\n"
    folder = project if swapped == "root" else project.parent
    target = tmp_path / "other"
    _swap_for_symlink(folder, target)
    for is_host in (True, False):
        with pytest.raises(OpError) as caught:
            ws.read_file("a.txt", is_host=is_host)
        assert caught.value.code == "invalid"
        assert "leads outside the project" in caught.value.message


def test_a_project_folder_swapped_between_the_check_and_the_open_is_not_read(
    tmp_path: Path,
) -> None:
    project = _project_in(tmp_path)
    ws = Workspace(project)
    res = ws._check("a.txt", is_host=False)
    _swap_for_symlink(project, tmp_path / "other")
    with pytest.raises(OpError) as caught:
        ws._open_file(res)
    assert caught.value.code == "disk_error"


def test_a_project_folder_made_anew_at_its_path_is_read_as_before(tmp_path: Path) -> None:
    # A real folder put at the project's path (a fresh clone over the old one) is the project
    # for realpath, as it was before the one walk: reads go on, from the new folder.
    project = _project_in(tmp_path)
    ws = Workspace(project)
    assert ws.read_file("a.txt", is_host=False).text == "the project's\n"
    project.rename(project.with_name("old"))
    _write(project, "a.txt", "the new clone's\n")
    for is_host in (True, False):
        assert ws.read_file("a.txt", is_host=is_host).text == "the new clone's\n"


def test_a_search_keeps_no_match_of_a_file_swapped_in_after_its_check(
    hostile: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found attacking this change (2 outside files' lines in 4 s of a race, as on main): a
    # file with matches is checked again (`_still_shared`), then its path looked up again;
    # `sub/leak.txt` was missing when checked (allowed: a check does not need the file), and
    # through `sub` swapped for a symlink out by the lookup it was the outside file read.
    ws = Workspace(hostile)
    outside = tmp_path / "elsewhere"
    _write(outside, "leak.txt", "TOPSECRET\n")
    st = os.stat(outside / "leak.txt")
    check = ws._check

    def check_then_swap(rel: str, *, is_host: bool) -> object:
        res = check(rel, is_host=is_host)
        _swap_for_symlink(hostile / "sub", outside)
        return res

    monkeypatch.setattr(ws, "_check", check_then_swap)
    assert not ws._still_shared("sub/leak.txt", (st.st_dev, st.st_ino), is_host=False)
