"""The folder's index (issue 15, item 1): the same answers as a walk of the disk, kept by
noted changes, coalesced, capped."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from letswork.hub.workspace import Workspace
from letswork.hub.workspace.disk import TEMP_PREFIX
from letswork.hub.workspace.index import IndexFull, TreeIndex
from letswork.hub.workspace.paths import _resolve
from letswork.shared.errors import OpError
from tests.hub.workspace.helpers import _write


def _indexed(root: Path, **kwargs: Any) -> Workspace:
    ws = Workspace(root)
    index = TreeIndex(ws, **kwargs)
    index.build()
    ws.index = index
    return ws


def _answers(ws: Workspace, *, is_host: bool) -> dict[str, Any]:
    """Every walk-backed answer of ``ws`` for one peer, including cut-short ones."""
    out: dict[str, Any] = {}
    out["list"] = ws.list_files("", recursive=True, is_host=is_host)
    out["list_cut"] = ws.list_files("", recursive=True, is_host=is_host, max_entries=3)
    out["list_depth"] = ws.list_files("", depth=2, is_host=is_host)
    out["find"] = ws.find_files("*", is_host=is_host)
    out["find_cut"] = ws.find_files("*", is_host=is_host, max_results=2)
    out["find_txt"] = ws.find_files("**/*.txt", is_host=is_host)
    for folder in ("a", "a/c", "b"):  # "a" next to "a-b" and "a.txt" in some trees
        out[f"find_in_{folder}"] = _find_in(ws, folder, is_host=is_host)
    out["search"] = ws.search_files("x", is_host=is_host)
    return out


def _find_in(ws: Workspace, folder: str, *, is_host: bool) -> Any:
    """``find_files`` below ``folder``, cut at 2, or the error's code and message."""
    try:
        return ws.find_files("*", path=folder, is_host=is_host, max_results=2)
    except OpError as exc:
        return str(exc)


def _walk_set(ws: Workspace, *, is_host: bool) -> set[str]:
    start = _resolve(ws.root, "")
    return {i.rel for i in ws._walk(start, is_host=is_host, max_depth=None, breadth_first=False)}


@pytest.fixture
def nested(tmp_path: Path) -> Path:
    root = (tmp_path / "nested").resolve()
    files = {
        ".gitignore": "*.log\nbuild/\n",
        ".letsworkignore": "private/\n!keep.log\n",
        "keep.log": "x\n",
        "debug.log": "x\n",
        "a/.gitignore": "*.txt\n!ok.txt\n",
        "a/ok.txt": "x ok\n",
        "a/no.txt": "x no\n",
        "a/b/.gitignore": "!no.txt\nsecret/\n",
        "a/b/no.txt": "x re-included below\n",
        "a/b/secret/s.py": "x\n",
        "a/b/c/deep.py": "x deep\n",
        "a-b/x.py": "x\n",
        "build/out.py": "x\n",
        "private/p.md": "x\n",
        ".env": "x\n",
        "src/app.py": "x app\n",
    }
    for rel, text in files.items():
        _write(root, rel, text)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("x\n")
    os.symlink("src/app.py", root / "link.py")
    os.symlink("private/p.md", root / "hidden-link.md")
    os.symlink("..", root / "a" / "up")
    return root


@pytest.mark.parametrize("is_host", [True, False])
def test_index_backed_answers_equal_walk_backed_ones_with_nested_ignore_files(
    nested: Path, is_host: bool
) -> None:
    walked = _answers(Workspace(nested), is_host=is_host)
    indexed = _answers(_indexed(nested), is_host=is_host)
    assert indexed == walked
    assert walked["find"][0]  # the tree is not empty for this peer


def test_an_indexed_walk_reads_no_folder_from_disk(
    nested: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = _indexed(nested)

    def no_scandir(path: Any) -> Any:
        raise AssertionError(f"scandir({path}) with the index on")

    monkeypatch.setattr(os, "scandir", no_scandir)
    assert ws.find_files("*.py", is_host=False)[0] == [
        "a-b/x.py",
        "a/b/c/deep.py",
        "link.py",
        "src/app.py",
    ]


def test_a_write_through_the_workspace_is_listed_at_once(nested: Path) -> None:
    ws = _indexed(nested)
    ws.write_atomic("new/dir/n.py", b"x\n")
    ws.move("src/app.py", "src/moved.py")
    ws.delete("a-b/x.py")
    assert ws.find_files("*.py", is_host=True)[0] == [
        "a/b/c/deep.py",
        "a/b/secret/s.py",
        "build/out.py",
        "link.py",
        "new/dir/n.py",
        "src/moved.py",
    ]


def test_an_ignore_file_change_re_decides_the_subtree_it_governs(nested: Path) -> None:
    ws = _indexed(nested)
    assert ws.index is not None
    (nested / "a" / "b" / ".gitignore").write_text("*.py\n")
    ws.index.note("a/b/.gitignore")
    assert ws.find_files("*.py", is_host=False)[0] == ["a-b/x.py", "link.py", "src/app.py"]
    assert ws.find_files("*.py", is_host=False) == Workspace(nested).find_files(
        "*.py", is_host=False
    )


def test_a_guest_version_of_an_ignore_file_re_decides_its_subtree(nested: Path) -> None:
    from letswork.hub.workspace.sharing import GuestVersion, ignore_file_ids

    ws = _indexed(nested)
    assert ws.index is not None
    ws.rules.on_change = ws.index.note
    host_text = (nested / "a" / ".gitignore").read_bytes()
    guest_text = b"!*.txt\n"  # a guest tries to widen what guests see
    ws.rules.put_guest_version("a/.gitignore", GuestVersion(ignore_file_ids(guest_text), host_text))
    (nested / "a" / ".gitignore").write_bytes(guest_text)
    ws.index.note("a/.gitignore")
    names = ws.find_files("*.txt", is_host=False)[0]
    assert "a/no.txt" not in names
    fresh = Workspace(nested)
    fresh.rules.set_guest_versions(ws.rules.guest_versions())
    assert names == fresh.find_files("*.txt", is_host=False)[0]


def test_a_burst_of_touched_files_is_one_update_without_policy_walks(
    nested: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = _indexed(nested)
    index = ws.index
    assert index is not None
    burst = nested / "a" / "b" / "c"
    for i in range(1000):
        (burst / f"f{i:04}.py").write_text("x\n")
        index.note(f"a/b/c/f{i:04}.py")
    calls = {"chain_for": 0, "is_shared": 0, "decide": 0}
    rules = ws.rules
    for name, attr in (
        ("chain_for", "chain_for"),
        ("is_shared", "is_shared"),
        ("decide", "_decide"),
    ):
        real = getattr(rules, attr)

        def counted(*a: Any, _real: Any = real, _name: str = name, **k: Any) -> Any:
            calls[_name] += 1
            return _real(*a, **k)

        monkeypatch.setattr(rules, attr, counted)
    before = index.updates
    index.sync()
    assert index.updates == before + 1
    assert calls == {"chain_for": 0, "is_shared": 0, "decide": 1000}
    assert len(ws.find_files("a/b/c/*.py", is_host=False)[0]) == 200  # the default cap


def test_an_index_over_its_cap_turns_off_and_walks_answer(nested: Path) -> None:
    ws = Workspace(nested)
    index = TreeIndex(ws, max_entries=5)
    with pytest.raises(IndexFull):
        index.build()
    assert not index.ready
    ws.index = index
    assert ws.find_files("*", is_host=False) == Workspace(nested).find_files("*", is_host=False)


def test_an_update_over_the_cap_turns_the_index_off(nested: Path) -> None:
    ws = Workspace(nested)
    index = TreeIndex(ws, max_entries=len(_walk_set(ws, is_host=True)) + 2)
    index.build()
    ws.index = index
    for i in range(5):
        _write(nested, f"more/{i}.txt")
    index.note("more")
    assert ws.find_files("*.txt", is_host=True) == Workspace(nested).find_files(
        "*.txt", is_host=True
    )
    assert not index.ready


def test_a_build_stopped_by_its_deadline_leaves_the_index_off(nested: Path) -> None:
    index = TreeIndex(Workspace(nested))
    with pytest.raises(IndexFull):
        index.build(lambda: True)
    assert not index.ready


def test_a_build_removes_leftover_temp_files_but_not_a_live_write(nested: Path) -> None:
    ws = Workspace(nested)
    left = nested / "a" / f"{TEMP_PREFIX}old"
    live = nested / "a" / f"{TEMP_PREFIX}live"
    left.write_text("x")
    live.write_text("x")
    ws._live_temps.add(str(live))
    index = TreeIndex(ws)
    index.build(remove_temps=True)
    assert index.temps_removed == 1
    assert not left.exists() and live.exists()


def test_cleanup_skips_the_temp_file_of_a_write_under_way(nested: Path) -> None:
    ws = Workspace(nested)
    live = nested / f"{TEMP_PREFIX}live"
    live.write_text("x")
    ws._live_temps.add(str(live))
    assert ws.cleanup_temp_files() == 0
    assert live.exists()


def test_a_deferred_cleanup_removes_only_the_leftovers_its_journal_names(
    nested: Path, tmp_path: Path
) -> None:
    ws = Workspace(nested)
    ws.temp_journal = tmp_path / "temp-files"
    ws.write_atomic("a/written.txt", b"x\n")  # journaled, and renamed away
    named = nested / "a" / f"{TEMP_PREFIX}killed"
    unnamed = nested / f"{TEMP_PREFIX}unnamed"
    live = nested / f"{TEMP_PREFIX}live"
    through_link = nested / "a" / "up" / f"{TEMP_PREFIX}via-symlink"
    for path in (named, unnamed, live, through_link):
        path.write_text("x")  # through_link lands at the root, through a/up -> ..
    ws._start_temp(str(named))
    ws._live_temps.discard(str(named))  # the hub was killed: nothing is under way
    ws._start_temp(str(live))
    with open(ws.temp_journal, "ab") as journal:
        journal.write(os.fsencode(str(through_link)) + b"\n/etc/" + TEMP_PREFIX.encode() + b"x\n")
    ws.defer_temp_cleanup = True
    assert ws.cleanup_temp_files() == 1
    assert not named.exists() and unnamed.exists() and live.exists()
    assert (nested / through_link.name).exists()


def test_a_folder_that_becomes_a_git_dir_leaves_the_index(nested: Path) -> None:
    ws = _indexed(nested)
    assert ws.index is not None
    for name in ("HEAD", "objects/", "refs/"):
        if name.endswith("/"):
            (nested / "a" / "b" / "c" / name).mkdir()
        else:
            (nested / "a" / "b" / "c" / name).write_text("ref: x\n")
        ws.index.note(f"a/b/c/{name.rstrip('/')}")
    assert ws.find_files("*", is_host=True) == Workspace(nested).find_files("*", is_host=True)
    assert "a/b/c/deep.py" not in ws.find_files("*", is_host=True)[0]


# -- the property: the index equals a fresh walk after any changes --------------------------

_DIRS = ["", "a", "a/c", "b"]
_NAMES = ["x.txt", "y.log", ".env", "z", "c"]
_PATTERNS = ["*.log", "c/", "!y.log", "x.txt", "*", "!*.txt", "a/", "z\n!z", ""]


def _rel(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


_path = st.builds(_rel, st.sampled_from(_DIRS), st.sampled_from(_NAMES))
_folder = st.sampled_from(_DIRS)
_ops = st.one_of(
    st.tuples(st.just("write"), _path),
    st.tuples(st.just("mkdir"), _path),
    st.tuples(st.just("rm"), _path),
    st.tuples(st.just("mv"), _path, _path),
    st.tuples(st.just("gitignore"), _folder, st.lists(st.sampled_from(_PATTERNS), max_size=3)),
    st.tuples(st.just("letsworkignore"), st.lists(st.sampled_from(_PATTERNS), max_size=3)),
    st.tuples(st.just("symlink"), _path, st.sampled_from(["x.txt", "a", "..", "a/c/z", "nope"])),
    st.tuples(st.just("sync")),
)


def _real_rel(root: Path, path: Path) -> Iterator[str]:
    """Where a write through symlinks really landed, which is what a watcher reports."""
    real = Path(os.path.realpath(path))
    if real.is_relative_to(root):
        yield real.relative_to(root).as_posix()


def _entry_rel(root: Path, rel: str) -> Iterator[str]:
    """``rel`` and, through symlinks on its way, where the name itself really is (not what
    it points to), which is what a watcher reports for a name made, removed or moved."""
    yield rel
    folder = Path(os.path.realpath((root / rel).parent))
    if folder.is_relative_to(root):
        yield (folder / (root / rel).name).relative_to(root).as_posix()


def _apply(root: Path, op: tuple[Any, ...]) -> Iterator[str]:
    """Carry out ``op`` on the disk; yield what a watcher reports (the paths it touched,
    and folders it created; a removed or moved folder only by its own path), real paths
    where a symlink is on the way, and the paths given too."""
    kind = op[0]
    try:
        if kind == "write":
            path = root / op[1]
            if not path.parent.exists():
                path.parent.mkdir(parents=True)
                yield op[1].rsplit("/", 1)[0]
            path.write_text("x\n")
            yield op[1]
            yield from _real_rel(root, path)
        elif kind == "mkdir":
            (root / op[1]).mkdir(parents=True)
            yield from _entry_rel(root, op[1])
        elif kind == "rm":
            path = root / op[1]
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            yield from _entry_rel(root, op[1])
        elif kind == "mv":
            os.rename(root / op[1], root / op[2])
            yield from _entry_rel(root, op[1])
            yield from _entry_rel(root, op[2])
        elif kind in ("gitignore", "letsworkignore"):
            rel = _rel(op[1], ".gitignore") if kind == "gitignore" else ".letsworkignore"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("\n".join(op[-1]) + "\n")
            yield rel
            yield from _real_rel(root, root / rel)
        elif kind == "symlink":
            os.symlink(op[2], root / op[1])
            yield from _entry_rel(root, op[1])
    except OSError:
        return


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_ops, max_size=14))
# A folder, a file removed, and one moved, through a symlink to the root: the watcher reports
# the real paths (watchfiles 1.3 on inotify said "y.log", not "a/c/y.log").
@example([("rm", "a/c"), ("symlink", "a/c", ".."), ("mkdir", "a/c/y.log")])
@example([("rm", "a/c"), ("symlink", "a/c", ".."), ("rm", "a/c/x.txt")])
@example([("rm", "a/c"), ("symlink", "a/c", ".."), ("mv", "a/c/x.txt", "a/c/z")])
@example([("rm", "a/c"), ("symlink", "a/c", ".."), ("symlink", "a/c/z", "x.txt")])
def test_the_index_equals_a_fresh_walk_after_random_changes(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        for rel in ("a/c/x.txt", "a/y.log", "b/z", ".gitignore", "x.txt"):
            _write(root, rel)
        ws = _indexed(root)
        index = ws.index
        assert index is not None
        for op in ops:
            if op[0] == "sync":
                index.sync()
            for rel in _apply(root, op):
                index.note(rel)
        index.sync()
        assert index.ready
        fresh = Workspace(root)
        host = _walk_set(fresh, is_host=True)
        guest = _walk_set(fresh, is_host=False)
        assert set(index.paths()) == host
        assert _walk_set(ws, is_host=False) == guest
        for rel, shared in index.paths().items():
            if (root / rel).is_symlink():
                continue  # visibility follows the target, asked at each answer
            try:
                fresh.resolve(rel, is_host=False)
                by_policy = True
            except OpError:
                by_policy = False
            assert shared == by_policy, rel
        assert _answers(ws, is_host=False) == _answers(fresh, is_host=False)
        assert _answers(ws, is_host=True) == _answers(fresh, is_host=True)


def test_more_noted_paths_than_the_cap_are_one_rebuild(
    nested: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import letswork.hub.workspace.index as index_module

    monkeypatch.setattr(index_module, "MAX_PENDING_PATHS", 3)
    ws = _indexed(nested)
    index = ws.index
    assert index is not None
    for i in range(10):
        _write(nested, f"many/{i}.py")
        index.note(f"many/{i}.py")
    assert index._rebuild and not index._pending
    assert ws.find_files("*.py", is_host=False) == Workspace(nested).find_files(
        "*.py", is_host=False
    )
    assert index.ready and not index._rebuild


def test_a_sync_past_its_deadline_turns_the_index_off(
    nested: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import letswork.hub.workspace.index as index_module

    ws = _indexed(nested)
    index = ws.index
    assert index is not None
    monkeypatch.setattr(index_module, "SYNC_DEADLINE_SECONDS", -1.0)
    _write(nested, "late/a.py")
    index.note("late")
    assert ws.find_files("*.py", is_host=False) == Workspace(nested).find_files(
        "*.py", is_host=False
    )
    assert not index.ready


def test_an_edited_ignore_file_applies_before_the_watcher_reports_it(nested: Path) -> None:
    ws = _indexed(nested)
    (nested / "a" / "b" / ".gitignore").write_text("!no.txt\nsecret/\nc/\n# longer\n")
    (nested / ".letsworkignore").write_text("private/\n!keep.log\nsrc/\n")
    found = ws.find_files("*.py", is_host=False)
    assert found == Workspace(nested).find_files("*.py", is_host=False)
    assert found[0] == ["a-b/x.py"]


def test_a_removed_ignore_file_is_no_longer_checked_at_each_request(nested: Path) -> None:
    ws = _indexed(nested)
    index = ws.index
    assert index is not None
    shutil.rmtree(nested / "a" / "b")
    index.note("a/b")
    ws.find_files("*.py", is_host=False)
    ws.find_files("*.py", is_host=False)
    settled = index.updates
    assert ws.find_files("*.py", is_host=False) == Workspace(nested).find_files(
        "*.py", is_host=False
    )
    assert index.updates == settled
    assert "a/b/.gitignore" not in index._ignore_sigs


def test_a_builds_names_stay_under_their_cap_inside_one_big_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found attacking issue 15: the cap was checked between folders only, so one flat folder
    # of 400,000 distinct names held them all in the build's dict (22 MiB more at the peak).
    import letswork.hub.workspace.index as index_module

    monkeypatch.setattr(index_module, "_MAX_NAMES", 8)
    for i in range(40):
        _write(tmp_path, f"flat/f{i}.txt")
        _write(tmp_path, f"flat/{TEMP_PREFIX}{i}")  # not listed: not kept either
    sizes: list[int] = []
    read_folder = TreeIndex._read_folder

    def spy(self: TreeIndex, parent: Any, rel: str, remove: bool, names: dict[str, str]) -> Any:
        kids = read_folder(self, parent, rel, remove, names)
        sizes.append(len(names))
        return kids

    monkeypatch.setattr(TreeIndex, "_read_folder", spy)
    ws = _indexed(tmp_path)
    assert ws.index is not None
    assert max(sizes) <= 8
    assert sorted(ws.index.paths()) == sorted(["flat", *(f"flat/f{i}.txt" for i in range(40))])
