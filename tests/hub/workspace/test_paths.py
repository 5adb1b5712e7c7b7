"""safe_join is the one resolver of every path: no request may read or write outside the root.

Each refusal in the safe_join table of docs/architecture.md has its own reason: on POSIX most
of these forms would stay inside the root anyway (``/etc/passwd`` joined component by
component is ``root/etc/passwd``, ``..\\x`` is one odd name). The architecture still refuses
them, as ``invalid`` with a message that says why; the mutation pass (bench/mutants.py) found
that no test held that.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from letswork.hub.workspace import Workspace, paths
from letswork.hub.workspace.paths import safe_join, to_relpath
from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError

SENTINEL = b"SENTINEL: outside the project\n"


@dataclass
class Layout:
    base: Path  # holds both the project root and the "outside" folder
    root: Path
    outside: Path
    sentinel: Path


def _build(base: Path) -> Layout:
    base = base.resolve()
    outside = base / "outside"
    outside.mkdir()
    sentinel = outside / "sentinel.txt"
    sentinel.write_bytes(SENTINEL)
    root = base / "root"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.txt").write_text("inside\n", encoding="utf-8")
    (root / "evil_file").symlink_to(sentinel)
    (root / "evil_dir").symlink_to(outside, target_is_directory=True)
    (root / "src" / "evil_parent").symlink_to(base, target_is_directory=True)
    (root / "rel_up").symlink_to("../outside", target_is_directory=True)
    (root / "loop_a").symlink_to(root / "loop_b")
    (root / "loop_b").symlink_to(root / "loop_a")
    (root / "chain1").symlink_to(root / "chain2")
    (root / "chain2").symlink_to(root / "chain3")
    (root / "chain3").symlink_to(outside, target_is_directory=True)
    (root / "dangling_out").symlink_to(outside / "does-not-exist.txt")
    (root / "inside_link").symlink_to(root / "src", target_is_directory=True)
    return Layout(base, root, outside, sentinel)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return _build(tmp_path)


@pytest.fixture(scope="module")
def shared_layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    return _build(tmp_path_factory.mktemp("safe_join"))


def _outside_snapshot(layout: Layout) -> dict[str, tuple[bytes | str, int]]:
    """Every entry under base except the project root: content (or link target) and mode."""
    snap: dict[str, tuple[bytes | str, int]] = {}
    for dirpath, dirnames, filenames in os.walk(layout.base):
        if Path(dirpath) == layout.base:
            dirnames[:] = [d for d in dirnames if d != "root"]
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if path.is_symlink():
                snap[str(path)] = (os.readlink(path), st.st_mode)
            elif path.is_file():
                snap[str(path)] = (path.read_bytes(), st.st_mode)
            else:
                snap[str(path)] = (b"<dir>", st.st_mode)
    return snap


def _join_or_code(root: Path, relpath: str) -> Path | ErrorCode:
    try:
        return safe_join(root, relpath)
    except OpError as exc:
        return exc.code


def _inside(root: Path, path: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == root or root in real.parents


# Each attempt must either raise OpError or resolve to a path inside the root.
ESCAPE_ATTEMPTS = [
    # `..` in all its shapes
    "..",
    "../",
    "../x",
    "../outside/sentinel.txt",
    "a/../../x",
    "./../x",
    "a/./../..",
    "src/..",
    "src/../../outside/sentinel.txt",
    "src/a.txt/../../outside",
    "..\\x",
    "..\\..\\outside\\sentinel.txt",
    "....//x",  # a folder literally named "....": harmless
    ".../x",  # likewise "..."
    "%2e%2e/x",  # URL escapes are literal characters
    "%2e%2e%2foutside%2fsentinel.txt",
    "..%2f..%2foutside",
    # absolute paths
    "/etc/passwd",
    "//etc",
    "/",
    "/" + "x" * 10,
    "~/../../etc/passwd",
    # Windows drive letters and UNC forms
    "C:\\Windows",
    "C:/x",
    "c:x",
    "C:",
    "\\\\srv\\share\\x",
    "//srv/share",
    "\\x",
    "\\\\?\\C:\\x",
    # NUL and other control characters
    "a\x00b",
    "\x00",
    "src/a.txt\x00.png",
    "a\nb",
    "a\rb",
    "a\tb",
    "\x1b[31mred",
    "a\x7fb",
    "a\x85b",
    # symlinks leading out
    "evil_file",
    "evil_dir",
    "evil_dir/sentinel.txt",
    "evil_dir/new.txt",
    "src/evil_parent/outside/sentinel.txt",
    "rel_up/sentinel.txt",
    "chain1",
    "chain1/sentinel.txt",
    "dangling_out",
    "loop_a",
    "loop_a/x",
    # over-long names and paths
    "x" * 300,
    "src/" + "é" * 128,  # 256 bytes of UTF-8
    "a/" * 600,
    "a" * (limits.MAX_PATH_CHARS + 1),
    # Unicode look-alikes are ordinary characters in a name
    "\u2024\u2024/x",
    "\uff0e\uff0e/x",
    "..\u2215x",
    "\u2025/x",
    "\uff0f..\uff0fx",
    "src/\u2024\u2024\u2215outside",
    # lone surrogates cannot be file names
    "\ud800/x",
]


def test_the_table_has_at_least_forty_escape_attempts() -> None:
    assert len(set(ESCAPE_ATTEMPTS)) >= 40


@pytest.mark.parametrize("relpath", ESCAPE_ATTEMPTS)
def test_safe_join_rejects_or_stays_inside_root(layout: Layout, relpath: str) -> None:
    outcome = _join_or_code(layout.root, relpath)
    if isinstance(outcome, ErrorCode):
        assert outcome in (ErrorCode.INVALID, ErrorCode.NOT_FOUND)
        return
    assert _inside(layout.root, outcome)
    assert Path(os.path.realpath(outcome)) != layout.sentinel


@pytest.mark.parametrize("relpath", ESCAPE_ATTEMPTS)
def test_workspace_ops_through_an_escape_attempt_never_touch_outside(
    layout: Layout, relpath: str
) -> None:
    ws = Workspace(layout.root)
    before = _outside_snapshot(layout)
    for is_host in (True, False):
        try:
            text, _ = ws.read_text(relpath, is_host=is_host)
        except OpError:
            pass
        else:
            assert text.encode() != SENTINEL
        try:
            page = ws.read_file(relpath, is_host=is_host)
        except OpError:
            pass
        else:
            assert page.text.encode() != SENTINEL
        try:
            entries, _ = ws.list_files(relpath, recursive=True, is_host=is_host)
        except OpError:
            pass
        else:
            assert all("sentinel" not in e.path for e in entries)
        try:
            found = ws.search_files("SENTINEL", path=relpath, is_host=is_host)
        except OpError:
            pass
        else:
            assert found.matches == []
    codes: list[ErrorCode] = []
    for attempt in (
        lambda: ws.write_atomic(relpath, b"pwned\n"),
        lambda: ws.write_atomic(relpath + "/x", b"pwned\n"),
        lambda: ws.delete(relpath),
        lambda: ws.move("src/a.txt", relpath),
        lambda: ws.move(relpath, "moved.txt"),
    ):
        try:
            attempt()
        except OpError as exc:
            codes.append(exc.code)
    assert ErrorCode.INTERNAL not in codes
    try:
        digest = ws.file_sha256(relpath)
    except OpError:
        digest = None
    assert digest != hashlib.sha256(SENTINEL).hexdigest()
    assert _outside_snapshot(layout) == before
    assert layout.sentinel.read_bytes() == SENTINEL


def test_a_symlink_loop_is_invalid(layout: Layout) -> None:
    with pytest.raises(OpError) as info:
        safe_join(layout.root, "loop_a")
    assert info.value.code == ErrorCode.INVALID
    assert "loop" in info.value.message


def test_a_symlinked_parent_pointing_outside_is_invalid(layout: Layout) -> None:
    with pytest.raises(OpError) as info:
        safe_join(layout.root, "evil_dir/sentinel.txt")
    assert info.value.code == ErrorCode.INVALID
    assert "outside" in info.value.message


def test_a_symlink_inside_the_root_resolves_to_its_target(layout: Layout) -> None:
    assert safe_join(layout.root, "inside_link/a.txt") == layout.root / "src" / "a.txt"


@pytest.mark.parametrize("relpath", ["", ".", "./", "./.", ".//./"])
def test_empty_and_dot_paths_name_the_root(layout: Layout, relpath: str) -> None:
    assert safe_join(layout.root, relpath) == layout.root


def test_redundant_slashes_and_dots_are_normalised(layout: Layout) -> None:
    assert safe_join(layout.root, "./src//./a.txt/") == layout.root / "src" / "a.txt"


def test_a_path_that_does_not_exist_yet_resolves_inside_root(layout: Layout) -> None:
    assert safe_join(layout.root, "new/deep/file.txt") == layout.root / "new/deep/file.txt"


def test_a_name_of_exactly_255_bytes_is_accepted(layout: Layout) -> None:
    assert safe_join(layout.root, "x" * 255) == layout.root / ("x" * 255)


def test_a_dotdot_that_would_stay_inside_is_still_rejected(layout: Layout) -> None:
    with pytest.raises(OpError) as info:
        safe_join(layout.root, "src/../src/a.txt")
    assert info.value.code == ErrorCode.INVALID
    assert "'..'" in info.value.message


def test_to_relpath_uses_forward_slashes(layout: Layout) -> None:
    assert to_relpath(layout.root, layout.root / "src" / "a.txt") == "src/a.txt"
    assert to_relpath(layout.root, layout.root) == ""


def test_to_relpath_of_a_path_outside_root_is_invalid(layout: Layout) -> None:
    with pytest.raises(OpError) as info:
        to_relpath(layout.root, layout.sentinel)
    assert info.value.code == ErrorCode.INVALID


SEGMENTS = st.sampled_from(
    [
        "..",
        ".",
        "",
        "src",
        "a.txt",
        "evil_file",
        "evil_dir",
        "evil_parent",
        "rel_up",
        "chain1",
        "loop_a",
        "inside_link",
        "dangling_out",
        "outside",
        "sentinel.txt",
        "\u2024\u2024",
        "\uff0e\uff0e",
        "C:",
        "\\",
        "\x00",
    ]
) | st.text(max_size=6)


def _paths() -> st.SearchStrategy[str]:
    joined = st.lists(SEGMENTS, max_size=8).map("/".join)
    absolute = joined.map(lambda p: "/" + p)
    return st.one_of(st.text(max_size=40), joined, absolute)


@settings(max_examples=400, deadline=None)
@given(relpath=_paths())
def test_safe_join_never_returns_a_path_outside_root(shared_layout: Layout, relpath: str) -> None:
    outcome = _join_or_code(shared_layout.root, relpath)
    if isinstance(outcome, ErrorCode):
        assert outcome in (ErrorCode.INVALID, ErrorCode.NOT_FOUND)
        return
    assert _inside(shared_layout.root, outcome)


REFUSED = [
    ("/etc/passwd", "is absolute"),
    ("//etc", "is absolute"),
    ("//srv/share", "is absolute"),
    ("C:/x", "drive letter"),
    ("c:x", "drive letter"),
    ("..\\x", "backslash"),
    ("a\\b", "backslash"),
    ("\\\\srv\\share", "backslash"),
    ("a\x00b", "control character"),
    ("a\nb", "control character"),
    ("\x1b[31mred", "control character"),
    ("a\x7fb", "control character"),
    ("a\x85b", "control character"),
    ("\ud800/x", "not valid Unicode"),
    ("..", "'..'"),
    ("a/../b", "'..'"),
    ("x" * 256, f"over {limits.MAX_NAME_BYTES} bytes"),
    ("a" * (limits.MAX_PATH_CHARS + 1), f"the limit is {limits.MAX_PATH_CHARS}"),
    ("out", "leads outside the project"),
    ("loop", "symlink loop"),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    os.symlink(tmp_path, project / "out")
    os.symlink("loop", project / "loop")
    return project


@pytest.mark.parametrize(("relpath", "reason"), REFUSED)
def test_safe_join_refuses_each_documented_form_and_says_why(
    root: Path, relpath: str, reason: str
) -> None:
    with pytest.raises(OpError) as info:
        safe_join(root, relpath)
    assert info.value.code == ErrorCode.INVALID
    assert reason in info.value.message


@pytest.mark.parametrize("relpath", ["a/b.txt", "./a//b.txt/", "\u2024\u2024/x", "%2e%2e/x"])
def test_safe_join_accepts_ordinary_and_look_alike_names(root: Path, relpath: str) -> None:
    assert safe_join(root, relpath).is_relative_to(root)


@pytest.mark.parametrize("name", ["GIT~1", "PROGRA~1", "GITIGN~1", "PRE-CO~1.YAM", "a~12"])
def test_windows_refuses_names_shaped_like_short_names(name: str) -> None:
    assert not paths._windows_name_ok(name)


@pytest.mark.parametrize("name", ["notes~.txt", "~backup", "a~b", "file.txt~"])
def test_windows_keeps_tilde_names_that_are_not_short_names(name: str) -> None:
    assert paths._windows_name_ok(name)
