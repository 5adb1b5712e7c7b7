"""Bounded reads and hashes of bytes on disk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from letswork.hub.workspace.disk import _read_fd, sha256_hex


def test_sha256_hex_is_lowercase_hex() -> None:
    assert sha256_hex(b"") == hashlib.sha256(b"").hexdigest()


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
