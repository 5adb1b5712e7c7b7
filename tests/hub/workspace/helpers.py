"""The sample project the workspace tests share (secrets, shared files, ignore files), and
small helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from letswork.hub.workspace.disk import TEMP_PREFIX
from letswork.shared.errors import ErrorCode, OpError
from letswork.shared.protocol.files import Entry

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


def _write(root: Path, rel: str, text: str = "x\n") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _code(exc: pytest.ExceptionInfo[OpError]) -> ErrorCode:
    return exc.value.code


def _paths(entries: list[Entry]) -> set[str]:
    return {e.path for e in entries}


def _tmp_files(root: Path) -> list[Path]:
    return list(root.rglob(f"{TEMP_PREFIX}*"))
