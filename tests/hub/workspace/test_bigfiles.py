"""The streaming pass over a file too large for one reply (``bigfiles.py``, issue 16)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from letswork.hub.workspace import bigfiles
from letswork.hub.workspace.pages import FileFacts, facts_of


def _facts(path: Path, size: int | None = None) -> FileFacts | None:
    fd = os.open(path, os.O_RDONLY)
    try:
        return bigfiles.stream_facts(fd, path.stat().st_size if size is None else size)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"no newline",
        ("é\n" * 700_000).encode(),  # 2-byte characters across every chunk's edge
        b"a\n" * 600_000 + b"tail",
        b"x" * (bigfiles.CHUNK_BYTES * 2 + 5) + "€".encode(),
    ],
    ids=["empty", "one-line", "utf8-across-chunks", "no-final-newline", "one-long-line"],
)
def test_the_streaming_pass_learns_what_a_whole_read_does(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(data)
    assert _facts(path) == facts_of(data)


@pytest.mark.parametrize(
    "data",
    [
        b"a" * (bigfiles.CHUNK_BYTES + 10) + b"\x00",
        b"a" * (bigfiles.CHUNK_BYTES - 1) + "é".encode() + b"\xff",
        b"a" * (bigfiles.CHUNK_BYTES - 1) + b"\xc3",  # a character cut by the end
    ],
    ids=["nul-in-second-chunk", "bad-byte-after-a-split-character", "truncated-character"],
)
def test_the_streaming_pass_refuses_what_a_whole_read_refuses(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    facts = _facts(path)
    assert facts is not None and facts.refusal is not None
    assert facts.refusal == facts_of(data).refusal


def test_a_file_that_grew_after_its_fstat_is_not_learnt(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"line\n" * 1000)
    assert _facts(path, size=4000) is None  # 5000 bytes now: it grew


def test_a_file_that_shrank_after_its_fstat_is_not_learnt(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"line\n" * 1000)
    assert _facts(path, size=6000) is None
