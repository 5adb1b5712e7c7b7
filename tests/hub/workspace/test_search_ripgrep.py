"""search_files with ripgrep picking the files (issue 15): the same answers as the Python
engine, ripgrep given only the peer's own files, and hostile patterns and names."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from letswork.hub.workspace import Workspace, ripgrep, search
from letswork.hub.workspace.index import TreeIndex
from letswork.shared.errors import OpError
from letswork.shared.protocol.files import SearchFilesResult
from tests.hub.workspace.helpers import _write

pytestmark = pytest.mark.skipif(ripgrep.find_rg() is None, reason="POSIX only")


def _engines(ws: Workspace, pattern: str, **kw: object) -> tuple[SearchFilesResult, ...]:
    """The answers of the Python engine and of ripgrep (forced, however few the files)."""
    ws.rg_min_files = 0
    out = []
    for engine in ("python", "ripgrep"):
        ws.search_engine = engine  # type: ignore[assignment]
        out.append(ws.search_files(pattern, **kw))  # type: ignore[arg-type]
    return tuple(out)


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The argv of every ripgrep process the test starts."""
    seen: list[list[str]] = []
    real = ripgrep._Run.__init__

    def spy(self: ripgrep._Run, argv: list[str], root: str, chunk: list[tuple[str, str, int]]):  # type: ignore[no-untyped-def]
        seen.append([*argv, *("./" + rel for rel, _, _ in chunk)])
        real(self, argv, root, chunk)

    monkeypatch.setattr(ripgrep._Run, "__init__", spy)
    return seen


@pytest.fixture
def tricky(root: Path) -> Path:
    """The sample project (secrets, nested ignore files) plus hidden, binary, non-UTF-8,
    oversize, symlinked and oddly named files, all holding ``needle``."""
    _write(root, ".hidden/conf.txt", "needle hidden\n")
    _write(root, "sub/deeper/.gitignore", "*.tmp\n")
    _write(root, "sub/deeper/x.tmp", "needle ignored by a nested .gitignore\n")
    _write(root, "sub/deeper/y.txt", "Needle\nneedle twice\n")
    _write(root, "-n.txt", "needle in a name like an option\n")
    _write(root, "--pre=sh", "needle in a name like rg's --pre\n")
    _write(root, "new\nline.txt", "needle in a name with a newline\n")
    (root / "bin.dat").write_bytes(b"needle\x00needle\n")
    (root / "late-nul.txt").write_bytes(b"needle\n" * 2000 + b"\x00")
    (root / "latin1.txt").write_bytes(b"needle caf\xe9\n")
    (root / "big.txt").write_bytes(b"needle\n" * 20_000)
    os.symlink(root / "README.md", root / "link.md")
    _write(root, "README.md", "# demo\nneedle in the readme\n")
    return root


@pytest.mark.parametrize("is_host", [False, True])
@pytest.mark.parametrize(
    ("pattern", "regex", "case_sensitive"),
    [
        ("needle", False, False),
        ("NEEDLE", False, True),
        ("TOPSECRET", False, False),
        (r"^needle\b", True, False),
        (r"need\w+\s", True, True),
        (r"needle\W", True, False),
        ("x", False, False),
    ],
)
def test_ripgrep_and_python_give_the_same_answer_on_a_tree_of_ignore_files_and_secrets(
    root: Path, tricky: Path, pattern: str, regex: bool, case_sensitive: bool, is_host: bool
) -> None:
    ws = Workspace(root, max_file_bytes=100_000)
    python, rg = _engines(ws, pattern, regex=regex, case_sensitive=case_sensitive, is_host=is_host)
    assert rg.matches == python.matches
    assert (rg.truncated, rg.cut_short) == (python.truncated, python.cut_short)
    unshared = {"debug.log", "build/out.txt", "private/plan.md", "sub/local.txt", ".git/config"}
    assert not unshared & {m.path for m in rg.matches} if not is_host else True


def test_ripgrep_and_python_name_the_same_files_skipped_as_too_large(
    root: Path, tricky: Path
) -> None:
    ws = Workspace(root, max_file_bytes=100_000)
    ws.max_text_bytes = 100_000  # big.txt (140 000 bytes) is over it
    python, rg = _engines(ws, "needle", is_host=False)
    assert rg.skipped == python.skipped
    assert [(f.path, f.size) for f in rg.skipped] == [("big.txt", 140_000)]
    assert rg.skipped_count == python.skipped_count == 1


def test_ripgrep_and_python_agree_with_the_index_on(root: Path, tricky: Path) -> None:
    ws = Workspace(root, max_file_bytes=100_000)
    ws.index = TreeIndex(ws)
    ws.index.build()
    python, rg = _engines(ws, "needle", is_host=False)
    assert rg.matches == python.matches
    assert rg.files_scanned == python.files_scanned


def test_ripgrep_is_given_only_the_files_the_guest_may_see(
    root: Path, tricky: Path, runs: list[list[str]]
) -> None:
    ws = Workspace(root, max_file_bytes=100_000)
    python, _ = _engines(ws, "needle", is_host=False)
    (argv,) = runs
    given = argv[argv.index("--") + 1 :]
    assert given and all(p.startswith("./") for p in given)
    assert "./sub/deeper/x.tmp" not in given and "./debug.log" not in given
    assert "./private/plan.md" not in given and "./.git/config" not in given
    assert "./link.md" not in given  # symlinks are never searched
    assert "./new\nline.txt" not in given  # a name no request can name is never listed
    assert {p[2:] for p in given} >= {m.path for m in python.matches}


def test_ripgrep_runs_without_a_config_and_takes_the_pattern_as_one_argument(
    root: Path, tricky: Path, runs: list[list[str]]
) -> None:
    ws = Workspace(root, max_file_bytes=100_000)
    python, rg = _engines(ws, "--files", is_host=True)
    (argv,) = runs
    assert argv[1] == "--no-config"
    assert "--regexp=--files" in argv
    assert argv.index("--regexp=--files") < argv.index("--")
    assert rg.matches == python.matches == []


@pytest.mark.parametrize("pattern", ["-e", "--pre=sh", "-n", "--", "-"])
def test_a_pattern_that_looks_like_an_option_is_searched_for(
    root: Path, tricky: Path, pattern: str
) -> None:
    _write(root, "opts.txt", f"x {pattern} y\n")
    python, rg = _engines(Workspace(root), pattern, is_host=True)
    assert "opts.txt" in {m.path for m in rg.matches}
    assert rg.matches == python.matches


def test_files_named_like_options_are_searched(root: Path, tricky: Path) -> None:
    python, rg = _engines(Workspace(root), "needle in a name", is_host=True)
    assert [m.path for m in rg.matches] == ["--pre=sh", "-n.txt"]
    assert rg.matches == python.matches


@pytest.mark.parametrize("regex", [False, True])
def test_a_pattern_with_nul_falls_back_to_python(
    root: Path, tricky: Path, regex: bool, runs: list[list[str]]
) -> None:
    python, rg = _engines(Workspace(root), "a\x00b", regex=regex, is_host=True)
    assert runs == []
    assert rg == python


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"\bfoo\b", "éfoo\n"),  # RE2's \b is ASCII: a boundary after é
        (r"é\B ", "é x\n"),  # no boundary between é and a space for RE2, one for ripgrep
        (r"\W", "é\n"),
        (r"\D\S", "éé\n"),
        (r"a\<b", "a<b\n"),  # a word start for ripgrep, a < for RE2
        (r"x[a&&b]y", "x&y\n"),  # an intersection for ripgrep, three characters for RE2
        (r"x[~~a]y", "x~y\n"),
        (r"x[[a]y", "x[y\n"),
        (r"x[^\w]y", "xéy\n"),
        (r"a\sb", "a\nb\n"),  # across a line ending, as RE2 searches the whole file
        (r"a[^x]b", "a\nb\n"),
        (r"\Qa.b\E", "a.b\n"),  # RE2 quotes; ripgrep refuses it: Python reads all
        (r"x\C", "xé\n"),
        (r"(?i)straße", "STRASSE\nStraße\n"),
        (r"^$", "a\n\nb\n"),
        (r"$", "no line ending"),  # rg's multiline mode misses it
        (r"[[:alpha:]]+\d", "é1 a1\n"),
        (r"\p{Greek}\x{263a}", "α☺\n"),
    ],
)
def test_a_regex_finds_the_same_lines_with_ripgrep(root: Path, pattern: str, text: str) -> None:
    _write(root, "t.txt", text)
    python, rg = _engines(Workspace(root), pattern, path="t.txt", regex=True, is_host=True)
    assert python.matches  # the case is one RE2 matches
    assert rg == python


@pytest.mark.parametrize(
    ("pattern", "regex", "expected"),
    [
        ("a.b", False, "a.b"),
        (r"\bx\B", True, r"(?-u:\b)x(?-u:\B)"),
        (r"a\<\.\-", True, r"a\x{3c}\x{2e}\x{2d}"),
        (r"[]a]", True, r"[\]a]"),
        (r"[^]\]a]", True, r"[^\]\x{5d}a]"),
        (r"[[:alpha:]]", True, r"[[:alpha:]]"),
        (r"[a&&b]", True, None),
        (r"[^\w]", True, None),
        (r"[\pL]", True, None),
        (r"[[a]", True, None),
        ("a\x00", False, None),
        ("\ud800", False, None),
    ],
)
def test_rg_pattern_rewrites_what_ripgrep_reads_otherwise(
    pattern: str, regex: bool, expected: str | None
) -> None:
    assert ripgrep.rg_pattern(pattern, regex=regex) == expected


# One a line, as UTF-8: the characters up to U+2FFF but NUL (binary files are not searched)
# and "\n", and a few far ones.
_CHARS = [
    chr(c)
    for c in [*range(0x3000), 0xE000, 0xFEFF, 0xFF21, 0xFFFD, 0x1F600, 0x10FFFF]
    if c not in (0x00, 0x0A)
]


@pytest.mark.parametrize("case_sensitive", [True, False])
@pytest.mark.parametrize("cls", [r"\w", r"\W", r"\d", r"\D", r"\s", r"\S"])
def test_each_perl_class_matches_with_ripgrep_every_character_re2s_does(
    tmp_path: Path, cls: str, case_sensitive: bool
) -> None:
    rg = ripgrep.find_rg()
    assert rg is not None
    rg_cls = ripgrep.rg_pattern(cls, regex=True)
    assert rg_cls is not None
    (tmp_path / "chars.txt").write_text("\n".join(_CHARS) + "\n", encoding="utf-8")
    case = "--case-sensitive" if case_sensitive else "--ignore-case"
    argv = [rg, "--no-config", "--line-number", "--no-filename", "--encoding=none", case]
    done = subprocess.run(
        [*argv, f"--regexp=^(?:{rg_cls})$", "--", "chars.txt"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
    )
    by_rg = {_CHARS[int(line.split(b":", 1)[0]) - 1] for line in done.stdout.splitlines()}
    rx = search._compile_re2(f"^(?:{cls})$", case_sensitive, regex=True)
    by_re2 = {c for c in _CHARS if rx.search(c.encode("utf-8"), 0) is not None}
    assert by_re2 and by_re2 <= by_rg


_TOKENS = [
    "a", "b", "é", "K", "\u212a", " ", ".", r"\.", r"\b", r"\B", r"\w", r"\W", r"\s", r"\S",
    r"\d", r"\D", r"\n", "^", "$", "*", "+", "?", "|", "(", ")", "(?i)", "[^a]", "[a-c]",
    r"[\w]", r"[^\s]", r"\<", "[&&]", r"\p{Greek}", "α", r"\x{e9}", "{2}", "[[:alpha:]]",
]  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tokens=st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=6),
    text=st.text(alphabet="abéαK\u212a <.\n1_&[]", max_size=40),
    case_sensitive=st.booleans(),
)
# RE2's \W, \D, \S match one character, a multi-byte one too: ripgrep's (?-u:\W) matched one
# byte of "é" and missed the file. RE2's \s is [\t\n\f\r ], without the \v of ripgrep's.
@example(tokens=["a", r"\W", " "], text="aé ", case_sensitive=True)
@example(tokens=["a", r"\D", r"\S", "b"], text="aαéb", case_sensitive=False)
@example(tokens=["a", r"\S", "b"], text="a\vb", case_sensitive=True)
@example(tokens=[r"\W"], text="\u212a", case_sensitive=False)
# Only an empty match at the end of a file without a final line ending, which ripgrep's
# multiline mode does not report.
@example(tokens=[r"\b", "$"], text="1", case_sensitive=False)
def test_ripgrep_never_misses_a_file_re2_matches(
    tmp_path_factory: pytest.TempPathFactory, tokens: list[str], text: str, case_sensitive: bool
) -> None:
    pattern = "".join(tokens)
    root = tmp_path_factory.mktemp("prop")
    (root / "t.txt").write_text(text, encoding="utf-8")
    try:
        python, rg = _engines(
            Workspace(root), pattern, regex=True, case_sensitive=case_sensitive, is_host=True
        )
    except OpError:
        assume(False)  # RE2 refuses it: an invalid answer, whatever the engine
        raise
    assert rg == python


def _live_rg() -> list[int]:
    """The pids of this process's children that run rg."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")[0]
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and cmd.endswith(b"/rg"):
            out.append(int(pid))
    return out


@pytest.fixture
def many(root: Path) -> Path:
    for i in range(3000):
        _write(root, f"many/d{i // 100:02d}/f{i:04d}.txt", "hit\n" * 5)
    return root


def test_max_results_stops_ripgrep_early(many: Path, runs: list[list[str]]) -> None:
    ws = Workspace(many)
    python, rg = _engines(ws, "hit", max_results=10, is_host=True)
    assert rg == python
    assert rg.truncated
    # The first chunk's answer, then the next two chunks started (and killed), not 3,000.
    assert len(runs) <= 1 + ripgrep.RG_PER_SEARCH
    assert sum(len(a) - a.index("--") - 1 for a in runs) < 2000
    assert _live_rg() == []
    assert ripgrep._slots._value == ripgrep.MAX_RG_PROCESSES  # type: ignore[attr-defined]


def test_a_huge_number_of_matches_keeps_at_most_max_results(many: Path) -> None:
    python, rg = _engines(Workspace(many), "h", max_results=1000, is_host=True)
    assert len(rg.matches) == 1000 and rg.truncated
    assert rg == python


def test_a_search_runs_at_most_rg_per_search_processes_at_once(
    many: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alive: list[int] = []
    most = [0]
    real_init, real_wait, real_kill = ripgrep._Run.__init__, ripgrep._Run.wait, ripgrep._Run.kill

    def init(self: ripgrep._Run, *a: object) -> None:
        real_init(self, *a)  # type: ignore[arg-type]
        alive.append(id(self))
        most[0] = max(most[0], len(alive))

    def wait(self: ripgrep._Run, stop: object) -> bool:
        done = real_wait(self, stop)  # type: ignore[arg-type]
        if done and id(self) in alive:
            alive.remove(id(self))
        return done

    monkeypatch.setattr(ripgrep._Run, "__init__", init)
    monkeypatch.setattr(ripgrep._Run, "wait", wait)
    monkeypatch.setattr(ripgrep._Run, "kill", real_kill)
    monkeypatch.setattr(ripgrep, "RG_CHUNK_FILES", 300)
    ws = Workspace(many)
    ws.rg_min_files = 0
    result = ws.search_files("nowhere", is_host=True)
    assert result.files_scanned > 3000
    assert most[0] == ripgrep.RG_PER_SEARCH


def test_a_fifo_where_the_index_saw_a_file_is_stopped_by_the_deadline(root: Path) -> None:
    for i in range(10):
        _write(root, f"f{i}.txt", "needle\n")
    ws = Workspace(root)
    ws.rg_min_files = 0
    ws.index = TreeIndex(ws)
    ws.index.build()
    # Replaced behind the index's back (no watcher): ripgrep's open of a FIFO blocks.
    (root / "f0.txt").unlink()
    os.mkfifo(root / "f0.txt")
    calls = [0]

    def stop() -> bool:
        calls[0] += 1
        return calls[0] > 3

    result = ws.search_files("needle", is_host=True, should_stop=stop)
    assert result.cut_short
    assert result.matches == []
    assert _live_rg() == []
    assert ripgrep._slots._value == ripgrep.MAX_RG_PROCESSES  # type: ignore[attr-defined]


def test_a_fifo_in_the_tree_is_never_searched(root: Path, runs: list[list[str]]) -> None:
    os.mkfifo(root / "pipe.txt")
    _write(root, "a.txt", "needle\n")
    python, rg = _engines(Workspace(root), "needle", is_host=True)
    assert [m.path for m in rg.matches] == ["a.txt"]
    assert rg == python
    assert all("./pipe.txt" not in argv for argv in runs)


def test_ripgrep_reads_for_python_only_the_files_that_may_match(
    many: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(many, "many/d05/f0500.txt", "hit\nthe one\n")
    reads: list[str] = []
    real = search._read_text

    def counted(path: str, max_bytes: int) -> tuple[bytes, tuple[int, int]] | None:
        reads.append(path)
        return real(path, max_bytes)

    monkeypatch.setattr(search, "_read_text", counted)
    ws = Workspace(many)
    ws.rg_min_files = 0
    ws.search_engine = "python"
    python = ws.search_files("the one", is_host=True)
    assert len(reads) > 3000
    reads.clear()
    ws.search_engine = "ripgrep"
    rg = ws.search_files("the one", is_host=True)
    assert reads == [str(many / "many/d05/f0500.txt")]
    assert rg == python


def test_find_rg_finds_the_binary_the_package_installed() -> None:
    rg = ripgrep.find_rg()
    assert rg is not None
    out = subprocess.run([rg, "--version"], capture_output=True, check=True).stdout
    assert out.startswith(b"ripgrep 14.")


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    yield
    assert _live_rg() == []


def test_a_ripgrep_that_fails_leaves_every_file_to_python(
    root: Path, tricky: Path, monkeypatch: pytest.MonkeyPatch, runs: list[list[str]]
) -> None:
    real = ripgrep._argv
    monkeypatch.setattr(ripgrep, "_argv", lambda *a, **kw: [*real(*a, **kw)[:-1], "--bogus", "--"])
    python, rg = _engines(Workspace(root), "needle", is_host=True)
    assert runs  # it ran, and exited 2 without a name
    assert rg.matches == python.matches


_FOLDS = "\u212a\u017f\u0130\u0131\u00df\u1e9e\u03c2\u03a3\u00b5\u1fbe\u2126"


@pytest.mark.parametrize("regex", [False, True])
@pytest.mark.parametrize("pattern", ["k", "S", "i", "I", "ß", "σ", "μ", "ι", "ω", "xky"])
def test_case_insensitive_folds_pick_the_same_files(root: Path, pattern: str, regex: bool) -> None:
    for i, ch in enumerate(_FOLDS):
        _write(root, f"fold/{i:02d}.txt", f"x{ch}y\n")
    python, rg = _engines(Workspace(root), pattern, path="fold", regex=regex, is_host=True)
    assert rg == python


def test_a_search_stopped_before_it_starts_runs_no_ripgrep(
    many: Path, runs: list[list[str]]
) -> None:
    ws = Workspace(many)
    found = ws.search_files("hit", is_host=True, should_stop=lambda: True)
    assert found.cut_short and found.files_scanned == 0
    assert runs == []


def test_a_search_of_few_files_starts_no_process(root: Path, runs: list[list[str]]) -> None:
    for i in range(ripgrep.RG_MIN_FILES):
        _write(root, f"few/f{i:03d}.txt", "hit\n")
    found = Workspace(root).search_files("nowhere", path="few", is_host=True)
    assert found.files_scanned == ripgrep.RG_MIN_FILES
    assert runs == []


def test_past_the_first_files_ripgrep_takes_the_rest(many: Path, runs: list[list[str]]) -> None:
    found = Workspace(many).search_files("hit", path="many", max_results=1000, is_host=True)
    assert len(found.matches) == 1000
    assert [len(a) - a.index("--") - 1 for a in runs][:1] == [ripgrep.RG_FIRST_CHUNK_FILES]
    assert runs[0][runs[0].index("--") + 1] == "./many/d02/f0256.txt"


def _indexed(root: Path, engine: str) -> Workspace:
    ws = Workspace(root)
    index = TreeIndex(ws)
    index.build()
    ws.index = index
    ws.search_engine = engine  # type: ignore[assignment]
    ws.rg_min_files = 0
    return ws


@pytest.mark.parametrize("engine", ["ripgrep", "python"])
def test_a_folder_renamed_over_a_shared_one_leaks_nothing_before_the_watcher_reports_it(
    tmp_path: Path, engine: str
) -> None:
    # A folder whose own .gitignore hides a.txt is renamed onto a shared folder's name: the
    # index still holds the old, shared public/a.txt until the watcher's batch.
    _write(tmp_path, "public/a.txt", "hello public\n")
    _write(tmp_path, "stash/.gitignore", "a.txt\n")
    _write(tmp_path, "stash/a.txt", "TOPSECRET hello\n")
    ws = _indexed(tmp_path, engine)
    assert [m.text for m in ws.search_files("hello", is_host=False).matches] == ["hello public"]
    os.rename(tmp_path / "public", tmp_path / "old")
    os.rename(tmp_path / "stash", tmp_path / "public")
    found = ws.search_files("hello", is_host=False)
    assert all("TOPSECRET" not in m.text for m in found.matches)
    assert found.matches == []
    # The host still finds it: its own search is not hidden by the check.
    assert [m.text for m in ws.search_files("TOPSECRET", is_host=True).matches] == [
        "TOPSECRET hello"
    ]


@pytest.mark.parametrize("engine", ["ripgrep", "python"])
def test_a_gitignore_created_below_the_root_hides_its_files_from_search_at_once(
    tmp_path: Path, engine: str
) -> None:
    _write(tmp_path, "sub/a.txt", "hello\n")
    ws = _indexed(tmp_path, engine)
    assert [m.path for m in ws.search_files("hello", is_host=False).matches] == ["sub/a.txt"]
    _write(tmp_path, "sub/.gitignore", "a.txt\n")
    assert ws.search_files("hello", is_host=False).matches == []


@pytest.mark.parametrize("engine", ["ripgrep", "python"])
def test_a_folder_swapped_for_a_symlink_out_of_the_project_leaks_nothing(
    tmp_path: Path, engine: str
) -> None:
    root = tmp_path / "root"
    _write(root, "pub/config", "hello shared\n")
    _write(tmp_path, "outside/config", "hello from outside\n")
    ws = _indexed(root, engine)
    assert len(ws.search_files("hello", is_host=False).matches) == 1
    os.rename(root / "pub", root / "gone")
    os.symlink(tmp_path / "outside", root / "pub")
    for is_host in (False, True):
        found = ws.search_files("hello", is_host=is_host)
        assert all("outside" not in m.text for m in found.matches)


@pytest.mark.parametrize(
    ("pattern", "regex"),
    [("\ufeffneedle", False), (r"^\x{FEFF}needle", True), (r"^.needle", True), ("^needle", True)],
)
def test_a_utf8_bom_is_text_to_ripgrep_as_it_is_to_re2(
    root: Path, pattern: str, regex: bool
) -> None:
    # ripgrep strips a UTF-8 BOM (and transcodes UTF-16) unless told --encoding=none: a
    # regex that RE2 matches on the BOM was a file ripgrep dropped.
    (root / "bom.txt").write_bytes("\ufeffneedle\nneedle\n".encode())
    python, rg = _engines(Workspace(root), pattern, regex=regex, is_host=True)
    assert rg == python
    assert python.matches


@pytest.mark.parametrize("target", ["symlink", "folder"])
def test_ripgrep_never_walks_a_folder_swapped_in_where_the_index_saw_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    # A file replaced by a symlink to a folder (out of the project: "/" or "/usr" took rg
    # 12.7 s and 22,775 names, until the deadline) or by a folder of ignored files: rg
    # walked it, reading files no peer may see, as its explicit path.
    root = tmp_path / "root"
    _write(root, "src/a.txt", "needle\n")
    _write(root, "src/b.txt", "needle\n")
    _write(root, "node/.gitignore", "*\n")
    _write(tmp_path, "outside/deep/secret.txt", "needle\n")
    _write(root, "node/deep/secret.txt", "needle\n")
    ws = _indexed(root, "ripgrep")
    printed: list[bytes] = []
    real = ripgrep._Run.wait

    def spy(self: ripgrep._Run, stop: Any) -> bool:
        done = real(self, stop)
        printed.extend(name for name in self.out.split(b"\0") if name)
        return done

    monkeypatch.setattr(ripgrep._Run, "wait", spy)
    (root / "src/a.txt").unlink()
    if target == "symlink":
        os.symlink(tmp_path / "outside", root / "src/a.txt")
    else:
        os.rename(root / "node", root / "src/a.txt")
    found = ws.search_files("needle", is_host=False)
    assert [m.path for m in found.matches] == ["src/b.txt"]
    assert printed == [b"./src/b.txt"]
