"""The commands file's rules (``hub/commands_file.py``) and the run state table
(``hub/runs.py``), without a hub."""

from __future__ import annotations

import pytest

from letswork.hub.commands_file import check_args, parse_commands
from letswork.hub.runs import FINAL, RUN_STATE, Run, run_env
from letswork.hub.transitions import IllegalTransition
from letswork.shared import limits
from letswork.shared.errors import OpError

GOOD = b"""
[commands.test]
run = ["pytest", "-q"]
args = ["tests/*", "-x"]
approval = "auto"
timeout = "2m"
roles = ["editor", "viewer"]
env = { PYTHONHASHSEED = "0" }
description = "the tests"
"""


def test_a_full_command_is_read_with_every_field() -> None:
    found = parse_commands(GOOD, "letswork.toml")
    assert found.problem is None
    test = found.commands["test"]
    assert test.run == ("pytest", "-q")
    assert (test.args, test.patterns, test.approval, test.timeout) == (
        "patterns",
        ("tests/*", "-x"),
        "auto",
        120,
    )
    assert test.roles == {"editor", "viewer"} and dict(test.env) == {"PYTHONHASHSEED": "0"}


def test_defaults_are_ask_no_arguments_editors_and_ten_minutes() -> None:
    test = parse_commands(b'[commands.t]\nrun = ["x"]\n', "letswork.toml").commands["t"]
    assert (test.args, test.approval, test.timeout, test.roles) == (
        "none",
        "ask",
        limits.DEFAULT_RUN_TIMEOUT_SECONDS,
        {"editor"},
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('[commands.t]\nrun = "pytest -q"\n', "never a shell string"),
        ("[commands.t]\nrun = []\n", "a list of 1 to"),
        ('[commands.t]\nrun = ["x"]\naproval = "auto"\n', "unknown key 'aproval'"),
        ('[commands.t]\nrun = ["x"]\napproval = "yes"\n', 'approval is "ask" or "auto"'),
        ('[commands.t]\nrun = ["x"]\ntimeout = "0s"\n', "timeout is 1s to"),
        ('[commands.t]\nrun = ["x"]\ntimeout = "2d"\n', "timeout is seconds"),
        ('[commands.t]\nrun = ["x"]\nroles = ["host"]\n', "roles is a list"),
        ('[commands.t]\nrun = ["x"]\nenv = { "A B" = "1" }\n', "NAME = "),
        ('[commands."a b"]\nrun = ["x"]\n', "a command's name"),
        # `$` matches before a final newline: such a name reached the host's warning.
        ('[commands."check\\n"]\nrun = ["x"]\n', "a command's name"),
        ('[commands.t]\nrun = ["x"]\nenv = { "A\\n" = "1" }\n', "NAME = "),
        ('[commands.t]\nrun = ["x"]\nargs = "some"\n', 'args is "any", "none"'),
        ("[commands\n", "not valid TOML"),
    ],
)
def test_a_file_that_breaks_a_rule_gives_no_commands_and_says_why(body: str, says: str) -> None:
    found = parse_commands(body.encode(), "letswork.toml")
    assert found.commands == {}
    assert found.problem is not None and says in found.problem


def test_pyproject_without_tool_letswork_declares_nothing() -> None:
    found = parse_commands(b"[project]\nname = 'x'\n", "pyproject.toml")
    assert (found.source, found.commands, found.problem) == (None, {}, None)


@pytest.mark.parametrize(
    ("allowed", "args", "refused"),
    [
        ("none", ["-x"], True),
        ("none", [], False),
        ("any", ["--anything", "goes"], False),
        ("patterns", ["tests/a.py", "-x"], False),
        ("patterns", ["tests/a.py", "--rootdir=/"], True),
        ("patterns", ["../tests/a.py"], True),
        ("patterns", ["tests/../../.ssh/id_rsa"], True),
        ("any", ["a\0b"], True),
    ],
)
def test_arguments_are_checked_against_args(allowed: str, args: list[str], refused: bool) -> None:
    body = {"none": "", "any": 'args = "any"\n', "patterns": 'args = ["tests/*", "-x"]\n'}
    command = parse_commands(
        f'[commands.t]\nrun = ["x"]\n{body[allowed]}'.encode(), "letswork.toml"
    ).commands["t"]
    if refused:
        with pytest.raises(OpError):
            check_args(command, args)
    else:
        check_args(command, args)


def test_a_run_never_leaves_a_final_state_and_starts_only_from_pending() -> None:
    for state in FINAL:
        assert RUN_STATE.allowed[state] == frozenset()
    with pytest.raises(IllegalTransition):
        RUN_STATE.check("pending", "succeeded")
    assert ("pending", "running") in RUN_STATE.pairs()


def test_the_environment_holds_path_home_lang_and_the_commands_own_only() -> None:
    command = parse_commands(GOOD, "letswork.toml").commands["test"]
    env = run_env(command, {"PATH": "/bin", "HOME": "/h", "AWS_SECRET_ACCESS_KEY": "x"})
    assert env == {"PATH": "/bin", "HOME": "/h", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}


def test_output_past_the_head_keeps_the_tail_and_counts_what_fell_between() -> None:
    command = parse_commands(GOOD, "letswork.toml").commands["test"]
    run = Run(id=1, command=command, argv=("x",), by="a", guest_id="g", created_at=0.0)
    size = limits.RUN_OUTPUT_HEAD_BYTES + limits.RUN_OUTPUT_TAIL_BYTES
    for _ in range(3):
        run.add_output(b"h" * size)
    assert len(run.head) == limits.RUN_OUTPUT_HEAD_BYTES
    assert len(run.tail) == limits.RUN_OUTPUT_TAIL_BYTES
    assert run.left_out == 3 * size - size
    last, pages = run.page(1)
    assert len(last) == limits.RUN_PAGE_CHARS and pages > 1


def test_arguments_too_long_for_the_host_to_read_are_refused() -> None:
    command = parse_commands(
        b'[commands.t]\nrun = ["x"]\nargs = "any"\n', "letswork.toml"
    ).commands["t"]
    check_args(command, ["a" * 1000] * 8)
    with pytest.raises(OpError, match="over 8192 characters"):
        check_args(command, ["a" * 1000] * 9)


def test_pattern_matching_takes_time_linear_in_the_argument() -> None:
    """A guest's argument against a host's pattern with several wildcards (``*a*a*a*b``,
    ``tests/*/*/*_test.py``): a backtracking matcher took a minute for 300 characters, on the
    hub's loop; fnmatch's translation does not backtrack so."""
    for pattern, arg in [("*a*a*a*b", "a" * 1000), ("tests/*/*/*_test.py", "tests/" + "/" * 1000)]:
        body = f'[commands.t]\nrun = ["x"]\nargs = ["{pattern}"]\n'.encode()
        command = parse_commands(body, "letswork.toml").commands["t"]
        with pytest.raises(OpError, match="is not allowed"):
            check_args(command, [arg])


def test_a_pattern_with_a_reversed_range_matches_nothing_as_fnmatch_says() -> None:
    found = parse_commands(b'[commands.t]\nrun = ["x"]\nargs = ["[z-a]*"]\n', "letswork.toml")
    with pytest.raises(OpError, match="is not allowed"):
        check_args(found.commands["t"], ["zebra"])
