"""The hub's file layer: sharing rules, reads, searches, atomic writes, edits and diffs."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from letswork.hub.workspace import Workspace, files
from letswork.hub.workspace.diff import apply_edit, create_diff_head, cut_diff, unified_diff
from letswork.hub.workspace.disk import TEMP_PREFIX, _read_fd, sha256_hex
from letswork.hub.workspace.files import FileEntry, check_text
from letswork.hub.workspace.sharing import BUILTIN_DENY, SharingRules
from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError

# Every secret holds the word TOPSECRET so a search can prove it is never found.
SECRETS = {
    ".env": "TOPSECRET=1\n",
    ".env.local": "TOPSECRET=2\n",
    ".git/config": "[core] TOPSECRET\n",
    "id_rsa": "TOPSECRET rsa\n",
    "id_ed25519.pub": "TOPSECRET ed\n",
    "secret.pem": "TOPSECRET pem\n",
    "deploy/server.key": "TOPSECRET key\n",
    ".ssh/config": "TOPSECRET ssh\n",
    ".aws/credentials": "TOPSECRET aws\n",
    ".netrc": "TOPSECRET netrc\n",
    "debug.log": "TOPSECRET gitignored\n",
    "build/out.txt": "TOPSECRET in a gitignored folder\n",
    "private/plan.md": "TOPSECRET letsworkignored\n",
    "sub/local.txt": "TOPSECRET nested gitignore\n",
}
SHARED = {
    "README.md": "# demo\nhello world\n",
    "src/app.py": "def main():\n    return 1\n",
    "keep.log": "re-included by .letsworkignore\n",
    "sub/ok.txt": "fine\n",
    ".gitignore": "*.log\nbuild/\n",
    "sub/.gitignore": "local.txt\n",
}
LETSWORKIGNORE = "private/\n!.env\n!id_rsa\n!keep.log\n"


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = (tmp_path / "project").resolve()
    root.mkdir()
    for rel, text in {**SECRETS, **SHARED}.items():
        _write(root, rel, text)
    _write(root, ".letsworkignore", LETSWORKIGNORE)
    return root


@pytest.fixture
def ws(root: Path) -> Workspace:
    return Workspace(root)


def _code(exc: pytest.ExceptionInfo[OpError]) -> ErrorCode:
    return exc.value.code


def _paths(entries: list[FileEntry]) -> set[str]:
    return {e.path for e in entries}


def _tmp_files(root: Path) -> list[Path]:
    return list(root.rglob(f"{TEMP_PREFIX}*"))


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
    assert FileEntry("readme_link", "symlink", 0) in entries
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


# ------------------------------------------------------------------------------- listing


def test_list_files_is_sorted_and_shallow_by_default(ws: Workspace) -> None:
    entries, truncated = ws.list_files(is_host=False)
    assert [e.path for e in entries] == sorted(e.path for e in entries)
    assert all("/" not in e.path for e in entries)
    assert FileEntry("README.md", "file", len(SHARED["README.md"])) in entries
    assert FileEntry("src", "dir", 0) in entries
    assert not truncated


def test_list_files_depth_limits_recursion(ws: Workspace, root: Path) -> None:
    _write(root, "a/b/c/d.txt", "x\n")
    paths = _paths(ws.list_files("a", depth=2, is_host=True)[0])
    assert paths == {"a/b", "a/b/c"}


def test_list_files_truncates_at_max_entries_keeping_shallow_ones(
    ws: Workspace, root: Path
) -> None:
    for i in range(5):
        _write(root, f"many/deep/f{i}.txt", "x\n")
    entries, truncated = ws.list_files("many", recursive=True, is_host=True, max_entries=2)
    assert truncated
    assert [e.path for e in entries] == ["many/deep", "many/deep/f0.txt"]


def test_list_files_of_a_file_gives_that_entry(ws: Workspace) -> None:
    entries, truncated = ws.list_files("src/app.py", is_host=False)
    assert entries == [FileEntry("src/app.py", "file", len(SHARED["src/app.py"]))]
    assert not truncated


def test_list_files_of_a_missing_path_is_not_found(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.list_files("nope", is_host=True)
    assert _code(info) == ErrorCode.NOT_FOUND


def test_list_files_does_not_follow_a_symlinked_folder(ws: Workspace, root: Path) -> None:
    (root / "srclink").symlink_to(root / "src", target_is_directory=True)
    paths = _paths(ws.list_files(recursive=True, is_host=True)[0])
    assert "srclink" in paths
    assert not any(p.startswith("srclink/") for p in paths)


def test_temp_files_are_never_listed(ws: Workspace, root: Path) -> None:
    _write(root, f"src/{TEMP_PREFIX}1234", "partial")
    assert not any(TEMP_PREFIX in p for p in _paths(ws.list_files(recursive=True, is_host=True)[0]))


# ------------------------------------------------------------------------------- reading


@pytest.fixture
def lines_file(root: Path) -> str:
    _write(root, "lines.txt", "".join(f"line {i}\n" for i in range(1, 11)))
    return "lines.txt"


def test_read_file_pages_by_offset_and_limit(ws: Workspace, lines_file: str) -> None:
    page = ws.read_file(lines_file, offset=2, limit=3, is_host=False)
    assert page.text == "line 3\nline 4\nline 5\n"
    assert (page.offset, page.lines, page.total_lines, page.truncated) == (2, 3, 10, True)


def test_read_file_last_page_is_not_truncated(ws: Workspace, lines_file: str) -> None:
    page = ws.read_file(lines_file, offset=8, limit=5, is_host=False)
    assert page.text == "line 9\nline 10\n"
    assert (page.lines, page.truncated) == (2, False)


def test_read_file_without_limit_returns_the_whole_file(ws: Workspace, lines_file: str) -> None:
    page = ws.read_file(lines_file, is_host=False)
    assert page.lines == page.total_lines == 10
    assert page.size == len(page.text.encode())
    assert not page.truncated


def test_read_file_counts_a_last_line_without_newline(ws: Workspace, root: Path) -> None:
    _write(root, "tail.txt", "a\nb")
    page = ws.read_file("tail.txt", offset=1, is_host=False)
    assert (page.text, page.total_lines) == ("b", 2)


def test_read_file_keeps_crlf_and_hashes_the_raw_bytes(ws: Workspace, root: Path) -> None:
    raw = b"one\r\ntwo\r\n"
    (root / "crlf.txt").write_bytes(raw)
    page = ws.read_file("crlf.txt", offset=1, is_host=False)
    assert page.text == "two\r\n"
    assert page.total_lines == 2
    assert page.sha256 == hashlib.sha256(raw).hexdigest()


def test_read_file_splits_lines_on_newline_only(ws: Workspace, root: Path) -> None:
    (root / "ff.py").write_bytes(b"a\x0cb\nc\rd\n")
    page = ws.read_file("ff.py", is_host=False)
    assert page.total_lines == 2


def test_read_file_of_an_empty_file_has_no_lines(ws: Workspace, root: Path) -> None:
    (root / "empty.txt").write_bytes(b"")
    page = ws.read_file("empty.txt", is_host=False)
    assert (page.text, page.lines, page.total_lines, page.truncated) == ("", 0, 0, False)


def test_read_file_offset_past_the_end_is_invalid(ws: Workspace, lines_file: str) -> None:
    with pytest.raises(OpError) as info:
        ws.read_file(lines_file, offset=11, is_host=False)
    assert _code(info) == ErrorCode.INVALID
    assert "10 lines" in info.value.message


def test_read_file_offset_at_the_end_gives_an_empty_page(ws: Workspace, lines_file: str) -> None:
    page = ws.read_file(lines_file, offset=10, is_host=False)
    assert (page.text, page.lines) == ("", 0)


def _model_lines(text: str) -> list[str]:
    """The lines of ``text`` as read_file defines them: ends at ``\\n`` only, a last line
    without one counts."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab\n\r é\u2028"), max_size=200),
    offset=st.integers(0, 45),
    limit=st.none() | st.integers(0, 45),
    scan=st.sampled_from([1, 3, 16, 1 << 16]),
)
def test_a_page_is_the_files_lines_from_offset_to_offset_plus_limit(
    text: str, offset: int, limit: int | None, scan: int
) -> None:
    # ASCII and other UTF-8 files take different paths; the scan step is how far the hub
    # counts line ends at a time while looking for a page's end.
    lines = _model_lines(text)
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(files, "_PAGE_SCAN", scan):
        (Path(tmp) / "f.txt").write_bytes(text.encode("utf-8"))
        ws = Workspace(Path(tmp))
        if offset > len(lines):
            with pytest.raises(OpError) as info:
                ws.read_file("f.txt", offset=offset, limit=limit, is_host=True)
            assert _code(info) == ErrorCode.INVALID
            return
        page = ws.read_file("f.txt", offset=offset, limit=limit, is_host=True)
    shown = lines[offset:] if limit is None else lines[offset : offset + limit]
    assert page.text == "".join(shown)
    assert (page.lines, page.total_lines) == (len(shown), len(lines))
    assert page.truncated == (offset + len(shown) < len(lines))
    assert page.sha256 == sha256_hex(text.encode("utf-8"))


def test_read_of_a_file_with_nul_is_binary_file(ws: Workspace, root: Path) -> None:
    (root / "img.bin").write_bytes(b"abc\x00def")
    with pytest.raises(OpError) as info:
        ws.read_text("img.bin", is_host=False)
    assert _code(info) == ErrorCode.BINARY_FILE


def test_read_of_invalid_utf8_is_binary_file(ws: Workspace, root: Path) -> None:
    (root / "latin1.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(OpError) as info:
        ws.read_file("latin1.txt", is_host=False)
    assert _code(info) == ErrorCode.BINARY_FILE
    assert "UTF-8" in info.value.message


def test_read_over_the_size_limit_is_too_large(root: Path) -> None:
    ws = Workspace(root, max_file_bytes=1024)
    (root / "big.txt").write_bytes(b"x" * 2355)
    with pytest.raises(OpError) as info:
        ws.read_text("big.txt", is_host=True)
    assert _code(info) == ErrorCode.TOO_LARGE
    assert info.value.message == "file is 2.3 KiB; the limit is 1 KiB"


def test_read_of_a_folder_is_not_a_file(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.read_text("src", is_host=False)
    assert _code(info) == ErrorCode.NOT_A_FILE


def test_read_of_a_missing_file_is_not_found(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.read_file("src/missing.py", is_host=False)
    assert _code(info) == ErrorCode.NOT_FOUND


def test_read_below_a_file_is_not_found(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.read_file("README.md/x", is_host=True)
    assert _code(info) == ErrorCode.NOT_FOUND


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_read_of_a_fifo_is_not_a_file_and_does_not_block(ws: Workspace, root: Path) -> None:
    os.mkfifo(root / "pipe")
    with pytest.raises(OpError) as info:
        ws.read_text("pipe", is_host=True)
    assert _code(info) == ErrorCode.NOT_A_FILE


def test_file_sha256_of_a_missing_file_is_none(ws: Workspace) -> None:
    assert ws.file_sha256("nope.txt") is None
    assert ws.file_sha256("README.md/below") is None


def test_file_sha256_hashes_the_bytes_of_any_file(ws: Workspace, root: Path) -> None:
    (root / "blob.bin").write_bytes(b"\x00\xff" * 10)
    assert ws.file_sha256("blob.bin") == hashlib.sha256(b"\x00\xff" * 10).hexdigest()
    assert ws.file_sha256(".env") == hashlib.sha256(SECRETS[".env"].encode()).hexdigest()


def test_check_text_returns_the_decoded_text() -> None:
    assert check_text("héllo".encode(), max_bytes=10) == "héllo"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"x" * 11, ErrorCode.TOO_LARGE),
        (b"a\x00", ErrorCode.BINARY_FILE),
        (b"\xff", ErrorCode.BINARY_FILE),
    ],
)
def test_check_text_refuses_large_or_binary_content(content: bytes, code: ErrorCode) -> None:
    with pytest.raises(OpError) as info:
        check_text(content, max_bytes=10)
    assert _code(info) == code


def test_sha256_hex_is_lowercase_hex() -> None:
    assert sha256_hex(b"") == hashlib.sha256(b"").hexdigest()


# ------------------------------------------------------------------------------- search


@pytest.fixture
def code_root(root: Path) -> Path:
    _write(root, "src/calc.py", "def add(a, b):\n    return a + b\n# ADD more\nx = a.c\n")
    _write(root, "src/util.ts", "export const add = 1;\n")
    _write(root, "docs/guide.md", "Use add() to add.\n")
    return root


def test_search_literal_does_not_treat_dots_as_wildcards(ws: Workspace, code_root: Path) -> None:
    result = ws.search_files("a.c", path="src", is_host=False)
    assert [(m.path, m.line, m.text) for m in result.matches] == [("src/calc.py", 4, "x = a.c")]


def test_search_regex_uses_the_pattern(ws: Workspace, code_root: Path) -> None:
    result = ws.search_files(r"^def \w+\(", regex=True, is_host=False)
    assert [(m.path, m.line) for m in result.matches] == [("src/app.py", 1), ("src/calc.py", 1)]


def test_search_is_case_insensitive_by_default(ws: Workspace, code_root: Path) -> None:
    result = ws.search_files("add", path="src/calc.py", is_host=False)
    assert [m.line for m in result.matches] == [1, 3]


def test_search_case_sensitive_option(ws: Workspace, code_root: Path) -> None:
    result = ws.search_files("ADD", path="src", case_sensitive=True, is_host=False)
    assert [(m.path, m.line) for m in result.matches] == [("src/calc.py", 3)]


def test_search_gives_one_match_per_line(ws: Workspace, code_root: Path) -> None:
    result = ws.search_files("add", path="docs", is_host=False)
    assert [(m.path, m.line, m.text) for m in result.matches] == [
        ("docs/guide.md", 1, "Use add() to add.")
    ]


def test_search_glob_filters_by_path(ws: Workspace, code_root: Path) -> None:
    result = ws.search_files("add", glob="*.ts", is_host=False)
    assert {m.path for m in result.matches} == {"src/util.ts"}
    anchored = ws.search_files("add", glob="src/**", is_host=False)
    assert {m.path for m in anchored.matches} == {"src/calc.py", "src/util.ts"}


def test_search_truncates_at_max_results(ws: Workspace, root: Path) -> None:
    _write(root, "many.txt", "hit\n" * 50)
    result = ws.search_files("hit", max_results=7, is_host=False)
    assert len(result.matches) == 7
    assert result.truncated
    assert [m.line for m in result.matches] == list(range(1, 8))


def test_search_that_finds_everything_below_the_cap_is_not_truncated(
    ws: Workspace, root: Path
) -> None:
    _write(root, "many.txt", "hit\n" * 7)
    result = ws.search_files("hit", max_results=7, is_host=False)
    assert (len(result.matches), result.truncated) == (7, False)


def test_search_with_an_invalid_regex_is_invalid(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.search_files("(unclosed", regex=True, is_host=False)
    assert _code(info) == ErrorCode.INVALID
    assert "missing )" in info.value.message


def test_search_skips_binary_and_oversize_files_silently(root: Path) -> None:
    ws = Workspace(root, max_file_bytes=100)
    (root / "bin.dat").write_bytes(b"needle\x00")
    (root / "big.txt").write_bytes(b"needle\n" * 100)
    (root / "bad.txt").write_bytes(b"needle \xff\n")
    _write(root, "good.txt", "needle\n")
    result = ws.search_files("needle", is_host=True)
    assert [m.path for m in result.matches] == ["good.txt"]


def test_search_line_numbers_match_read_file_offsets(ws: Workspace, root: Path) -> None:
    _write(root, "mixed.txt", "α\r\nβ\x0cγ\nfind me\n")
    (match,) = ws.search_files("find", is_host=False).matches
    page = ws.read_file("mixed.txt", offset=match.line - 1, limit=1, is_host=False)
    assert page.text == "find me\n"
    assert match.text == "find me"


def test_search_handles_non_ascii_text_case_insensitively(ws: Workspace, root: Path) -> None:
    _write(root, "de.txt", "Größe\nÄRGER\n")
    result = ws.search_files("ärger", is_host=False)
    assert [(m.line, m.text) for m in result.matches] == [(2, "ÄRGER")]


def test_search_literal_matches_letters_that_fold_to_ascii(ws: Workspace, root: Path) -> None:
    _write(root, "fold.txt", "500 \u212a\nplain\nmi\u017fs\n")
    hits = ws.search_files("k", path="fold.txt", is_host=False).matches
    assert [(m.line, m.text) for m in hits] == [(1, "500 \u212a")]
    hits = ws.search_files("MISS", path="fold.txt", is_host=False).matches
    assert [m.line for m in hits] == [3]


@pytest.mark.parametrize("case_sensitive", [False, True])
@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("add", "def add():\r\n  ADD\nAdd add\n"),
        ("ß", "Größe\nstraße und STRASSE\n"),
        ("needle", "é" * 400 + "NEEDLE" + "ü" * 400 + "\nneedle\n"),
        ("i", "İstanbul\nıi\nno\n"),
        ("a\nb", "xa\nby\na\nb\n"),
        ("x", "no newline at the end x"),
    ],
)
def test_search_literal_finds_what_the_escaped_regex_finds(
    ws: Workspace, root: Path, pattern: str, text: str, case_sensitive: bool
) -> None:
    _write(root, "t.txt", text)
    literal = ws.search_files(pattern, path="t.txt", case_sensitive=case_sensitive, is_host=True)
    regex = ws.search_files(
        re.escape(pattern), path="t.txt", regex=True, case_sensitive=case_sensitive, is_host=True
    )
    assert literal == regex
    assert literal.matches


def test_search_clips_very_long_lines(ws: Workspace, root: Path) -> None:
    _write(root, "min.js", "x" * 5000 + "needle" + "y" * 5000 + "\n")
    (match,) = ws.search_files("needle", is_host=False).matches
    assert "needle" in match.text
    assert len(match.text) <= 302


def test_search_does_not_report_the_empty_line_after_the_last_newline(
    ws: Workspace, root: Path
) -> None:
    _write(root, "two.txt", "a\nb\n")
    result = ws.search_files("$", path="two.txt", regex=True, is_host=False)
    assert [m.line for m in result.matches] == [1, 2]


def test_search_counts_the_text_files_it_scanned(ws: Workspace, root: Path) -> None:
    result = ws.search_files("anything", path="src", is_host=False)
    assert result.files_scanned == 1


def test_search_of_an_empty_pattern_is_invalid(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.search_files("", is_host=False)
    assert _code(info) == ErrorCode.INVALID


# ------------------------------------------------------------------------------- find


def test_find_files_glob_without_slash_matches_at_any_depth(ws: Workspace, code_root: Path) -> None:
    found, truncated = ws.find_files("*.py", is_host=False)
    assert found == ["src/app.py", "src/calc.py"]
    assert not truncated


def test_find_files_glob_is_relative_to_the_path(ws: Workspace, code_root: Path) -> None:
    assert ws.find_files("*.ts", path="src", is_host=False)[0] == ["src/util.ts"]
    assert ws.find_files("src/*.ts", path="src", is_host=False)[0] == []


def test_find_files_double_star_spans_folders(ws: Workspace, code_root: Path) -> None:
    assert ws.find_files("docs/**/*.md", is_host=False)[0] == ["docs/guide.md"]


def test_find_files_truncates_at_max_results(ws: Workspace, root: Path) -> None:
    for i in range(5):
        _write(root, f"gen/f{i}.txt", "x\n")
    found, truncated = ws.find_files("gen/*.txt", max_results=3, is_host=False)
    assert found == ["gen/f0.txt", "gen/f1.txt", "gen/f2.txt"]
    assert truncated


# ------------------------------------------------------------------------------- writing


def test_write_atomic_creates_a_file_with_parents_and_returns_its_sha(
    ws: Workspace, root: Path
) -> None:
    sha = ws.write_atomic("new/deeper/file.txt", b"hello\n")
    assert (root / "new/deeper/file.txt").read_bytes() == b"hello\n"
    assert sha == hashlib.sha256(b"hello\n").hexdigest()
    assert ws.file_sha256("new/deeper/file.txt") == sha


def test_write_atomic_keeps_the_mode_of_an_existing_file(ws: Workspace, root: Path) -> None:
    script = root / "run.sh"
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o755)
    ws.write_atomic("run.sh", b"#!/bin/sh\necho hi\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert script.read_bytes() == b"#!/bin/sh\necho hi\n"


def test_write_atomic_gives_a_new_file_0644_under_the_umask(ws: Workspace, root: Path) -> None:
    old = os.umask(0o027)
    try:
        ws.write_atomic("fresh.txt", b"x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((root / "fresh.txt").stat().st_mode) == 0o640


def test_write_atomic_leaves_no_temp_file(ws: Workspace, root: Path) -> None:
    ws.write_atomic("README.md", b"changed\n")
    ws.write_atomic("a/b.txt", b"new\n")
    assert _tmp_files(root) == []


def test_write_atomic_replaces_the_inode_so_readers_never_see_a_torn_file(
    ws: Workspace, root: Path
) -> None:
    before = (root / "README.md").stat().st_ino
    ws.write_atomic("README.md", b"changed\n")
    assert (root / "README.md").stat().st_ino != before


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Make one os function fail with an errno while the test body runs."""

    def install(name: str, code: int) -> None:
        def fail(*args: object, **kwargs: object) -> Any:
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(os, name, fail)

    yield install
    monkeypatch.undo()


def test_write_atomic_disk_full_gives_disk_error_and_keeps_the_original(
    ws: Workspace, root: Path, failing: Any
) -> None:
    failing("write", errno.ENOSPC)
    with pytest.raises(OpError) as info:
        ws.write_atomic("README.md", b"new content\n")
    assert _code(info) == ErrorCode.DISK_ERROR
    assert "no space left on device" in info.value.message
    assert info.value.data["errno"] == "ENOSPC"
    assert (root / "README.md").read_text(encoding="utf-8") == SHARED["README.md"]
    assert _tmp_files(root) == []


def test_write_atomic_fsync_failure_gives_disk_error_and_no_temp_file(
    ws: Workspace, root: Path, failing: Any
) -> None:
    failing("fsync", errno.EIO)
    with pytest.raises(OpError) as info:
        ws.write_atomic("src/app.py", b"x\n")
    assert _code(info) == ErrorCode.DISK_ERROR
    assert (root / "src/app.py").read_text(encoding="utf-8") == SHARED["src/app.py"]
    assert _tmp_files(root) == []


def test_write_atomic_rename_failure_gives_disk_error_and_no_temp_file(
    ws: Workspace, root: Path, failing: Any
) -> None:
    failing("replace", errno.EROFS)
    with pytest.raises(OpError) as info:
        ws.write_atomic("README.md", b"x\n")
    assert _code(info) == ErrorCode.DISK_ERROR
    assert "read-only file system" in info.value.message
    assert _tmp_files(root) == []


def test_write_atomic_permission_denied_gives_disk_error(
    ws: Workspace, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def deny_temp(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if TEMP_PREFIX in str(path):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", deny_temp)
    with pytest.raises(OpError) as info:
        ws.write_atomic("README.md", b"x\n")
    assert _code(info) == ErrorCode.DISK_ERROR
    assert "permission denied" in info.value.message


@pytest.mark.unprivileged
def test_write_atomic_into_a_read_only_folder_gives_disk_error(ws: Workspace, root: Path) -> None:
    folder = root / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OpError) as info:
            ws.write_atomic("locked/x.txt", b"x\n")
        assert _code(info) == ErrorCode.DISK_ERROR
    finally:
        folder.chmod(0o755)
    assert _tmp_files(root) == []


def test_write_atomic_refuses_to_write_through_a_symlink(ws: Workspace, root: Path) -> None:
    (root / "link.md").symlink_to(root / "README.md")
    with pytest.raises(OpError) as info:
        ws.write_atomic("link.md", b"x\n")
    assert _code(info) == ErrorCode.INVALID
    assert "symlink" in info.value.message
    assert (root / "README.md").read_text(encoding="utf-8") == SHARED["README.md"]
    assert ws.is_symlink("link.md")
    assert not ws.is_symlink("README.md")


def test_write_atomic_over_the_size_limit_is_too_large(root: Path) -> None:
    ws = Workspace(root, max_file_bytes=10)
    with pytest.raises(OpError) as info:
        ws.write_atomic("x.txt", b"x" * 11)
    assert _code(info) == ErrorCode.TOO_LARGE
    assert not (root / "x.txt").exists()


def test_write_atomic_onto_a_folder_is_not_a_file(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.write_atomic("src", b"x\n")
    assert _code(info) == ErrorCode.NOT_A_FILE


def test_write_atomic_below_a_file_is_invalid(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.write_atomic("README.md/x.txt", b"x\n")
    assert _code(info) == ErrorCode.INVALID


def test_write_atomic_of_the_root_is_invalid(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.write_atomic("", b"x\n")
    assert _code(info) == ErrorCode.INVALID


def test_cleanup_temp_files_removes_leftovers_and_counts_them(ws: Workspace, root: Path) -> None:
    _write(root, f"{TEMP_PREFIX}aaa", "partial")
    _write(root, f"src/deep/{TEMP_PREFIX}bbb", "partial")
    _write(root, "src/keep.txt", "keep")
    assert ws.cleanup_temp_files() == 2
    assert _tmp_files(root) == []
    assert (root / "src/keep.txt").exists()


# ------------------------------------------------------------------------------- delete, move


def test_delete_removes_a_file(ws: Workspace, root: Path) -> None:
    ws.delete("src/app.py")
    assert not (root / "src/app.py").exists()


def test_delete_of_a_missing_file_is_not_found(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.delete("nope.txt")
    assert _code(info) == ErrorCode.NOT_FOUND


def test_delete_of_a_folder_is_not_a_file(ws: Workspace, root: Path) -> None:
    with pytest.raises(OpError) as info:
        ws.delete("src")
    assert _code(info) == ErrorCode.NOT_A_FILE
    assert (root / "src").is_dir()


def test_delete_refuses_a_symlink(ws: Workspace, root: Path) -> None:
    (root / "link.md").symlink_to(root / "README.md")
    with pytest.raises(OpError) as info:
        ws.delete("link.md")
    assert _code(info) == ErrorCode.INVALID
    assert (root / "link.md").is_symlink()
    assert (root / "README.md").exists()


def test_move_renames_a_file_and_creates_parents(ws: Workspace, root: Path) -> None:
    ws.move("src/app.py", "lib/core/app.py")
    assert not (root / "src/app.py").exists()
    assert (root / "lib/core/app.py").read_text(encoding="utf-8") == SHARED["src/app.py"]


def test_move_onto_an_existing_file_is_exists(ws: Workspace, root: Path) -> None:
    with pytest.raises(OpError) as info:
        ws.move("src/app.py", "README.md")
    assert _code(info) == ErrorCode.EXISTS
    assert (root / "src/app.py").exists()


def test_move_of_a_missing_file_is_not_found(ws: Workspace) -> None:
    with pytest.raises(OpError) as info:
        ws.move("nope.txt", "other.txt")
    assert _code(info) == ErrorCode.NOT_FOUND


def test_move_refuses_a_symlink(ws: Workspace, root: Path) -> None:
    (root / "link.md").symlink_to(root / "README.md")
    with pytest.raises(OpError) as info:
        ws.move("link.md", "moved.md")
    assert _code(info) == ErrorCode.INVALID


# ------------------------------------------------------------------------------- edits


def test_apply_edit_replaces_a_unique_occurrence() -> None:
    assert apply_edit("a = 1\nb = 2\n", "b = 2", "b = 3", replace_all=False) == "a = 1\nb = 3\n"


def test_apply_edit_without_a_match_is_no_match() -> None:
    with pytest.raises(OpError) as info:
        apply_edit("a = 1\n", "c = 3", "c = 4", replace_all=False)
    assert _code(info) == ErrorCode.NO_MATCH


def test_apply_edit_no_match_mentions_crlf_when_that_is_the_cause() -> None:
    with pytest.raises(OpError) as info:
        apply_edit("a\r\nb\r\n", "a\nb", "x", replace_all=False)
    assert "CRLF" in info.value.message


def test_apply_edit_with_several_matches_is_ambiguous_and_says_how_many() -> None:
    with pytest.raises(OpError) as info:
        apply_edit("x\nx\nx\n", "x", "y", replace_all=False)
    assert _code(info) == ErrorCode.AMBIGUOUS
    assert "3 times" in info.value.message
    assert "replace_all" in info.value.message
    assert info.value.data["count"] == 3


def test_apply_edit_replace_all_replaces_every_occurrence() -> None:
    assert apply_edit("x\nx\nx\n", "x", "y", replace_all=True) == "y\ny\ny\n"


def test_apply_edit_with_an_empty_old_string_is_invalid() -> None:
    with pytest.raises(OpError) as info:
        apply_edit("abc", "", "x", replace_all=False)
    assert _code(info) == ErrorCode.INVALID


# ------------------------------------------------------------------------------- diffs


def test_unified_diff_has_a_and_b_headers() -> None:
    diff = unified_diff("src/a.py", "one\ntwo\n", "one\nthree\n")
    assert diff.splitlines() == [
        "--- a/src/a.py",
        "+++ b/src/a.py",
        "@@ -1,2 +1,2 @@",
        " one",
        "-two",
        "+three",
    ]


def test_unified_diff_of_a_create_is_from_dev_null() -> None:
    assert unified_diff("n.txt", None, "hi\n").startswith("--- /dev/null\n+++ b/n.txt\n")


def test_unified_diff_of_a_delete_is_to_dev_null() -> None:
    assert unified_diff("n.txt", "hi\n", None).startswith("--- a/n.txt\n+++ /dev/null\n")


def test_unified_diff_of_a_pure_move_has_only_headers() -> None:
    assert unified_diff("a.txt", "x\n", "x\n", new_path="b.txt") == "--- a/a.txt\n+++ b/b.txt\n"


def test_unified_diff_marks_a_missing_final_newline() -> None:
    assert "\\ No newline at end of file\n" in unified_diff("a.txt", "x", "y\n")


def test_unified_diff_of_identical_text_is_empty() -> None:
    assert unified_diff("a.txt", "same\n", "same\n") == ""


def test_workspace_root_must_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(Exception, match="not a folder"):
        Workspace(tmp_path / "file")


def test_limits_default_file_size_is_used(root: Path) -> None:
    assert Workspace(root).max_file_bytes == limits.MAX_FILE_BYTES


@pytest.mark.parametrize(
    ("size", "stat_said", "limit", "expected_len"),
    [
        (100_000, 100_000, 1_000_001, 100_000),  # as fstat said
        (100_000, 10, 1_000_001, 100_000),  # grew after fstat: read on to EOF
        (100_000, 10, 50_001, 50_001),  # grew past the limit: stop at the limit
        (100, 5_000, 1_000_001, 100),  # shrank after fstat: EOF
        (0, 0, 1_000_001, 0),
        (7, 0, 1_000_001, 7),  # fstat said 0 (a procfs-like file): read on
    ],
)
def test_reading_a_file_returns_its_bytes_whatever_fstat_said_up_to_the_limit(
    tmp_path: Path, size: int, stat_said: int, limit: int, expected_len: int
) -> None:
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        got = _read_fd(fd, limit, stat_said)
    finally:
        os.close(fd)
    assert got == data[:expected_len]


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab\n\r é\u2028"), max_size=300),
    max_chars=st.integers(1, 120),
    path=st.sampled_from(["a.txt", "src/深い/x.py"]),
)
def test_the_head_of_a_new_files_diff_is_the_head_of_its_whole_diff(
    text: str, max_chars: int, path: str
) -> None:
    assert create_diff_head(path, text, max_chars) == cut_diff(
        unified_diff(path, None, text), max_chars
    )


def test_a_cut_diff_says_how_many_line_ends_it_left_out() -> None:
    diff = unified_diff("a.txt", None, "one\ntwo\nthree\n")
    assert cut_diff(diff, len(diff)) == (diff, 0)
    head, rest = cut_diff(diff, len(diff) - 1)
    assert diff.startswith(head) and head.endswith("\n")
    assert rest == diff.count("\n") - head.count("\n") == 1
