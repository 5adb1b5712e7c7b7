"""Each refusal in the safe_join table of docs/architecture.md, with its own reason.

test_safe_join.py checks that no request path leaves the root; on POSIX most of these forms
would stay inside it anyway (``/etc/passwd`` joined component by component is ``root/etc/
passwd``, ``..\\x`` is one odd name). The architecture still refuses them, as ``invalid`` with a
message that says why; the mutation pass (bench/mutants.py) found that no test held that.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from letswork.hub.workspace.paths import safe_join
from letswork.shared import limits
from letswork.shared.errors import ErrorCode, OpError

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
