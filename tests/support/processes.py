"""Test support: run ``letswork start`` as a real subprocess and read its invite line."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

JOIN_PREFIX = "letswork join "


@dataclass
class HubProcess:
    """A ``letswork start`` subprocess whose output is drained by threads."""

    proc: subprocess.Popen[str]
    code: str = ""
    stdout_lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    stderr_lines: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    stderr_changed: threading.Condition = field(default_factory=threading.Condition)

    def wait_stderr(self, text: str, timeout: float) -> bool:
        """Wait until a stderr line contains ``text`` (or the process ends); True if seen."""
        with self.stderr_changed:
            return self.stderr_changed.wait_for(
                lambda: (
                    any(text in line for line in self.stderr_lines) or self.proc.poll() is not None
                ),
                timeout,
            ) and any(text in line for line in self.stderr_lines)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def next_line(self, timeout: float) -> str | None:
        return self.stdout_lines.get(timeout=timeout)

    def wait_for_join_line(self, timeout: float = 30.0) -> str:
        while True:
            try:
                line = self.next_line(timeout)
            except queue.Empty:
                raise AssertionError(
                    "letswork start printed no join line; stderr:\n" + "".join(self.stderr_lines)
                ) from None
            if line is None:
                self.proc.wait()
                raise AssertionError(
                    f"letswork start exited with {self.proc.returncode}; stderr:\n"
                    + "".join(self.stderr_lines)
                )
            if line.startswith(JOIN_PREFIX):
                return line[len(JOIN_PREFIX) :].strip()

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for t in self.threads:
            t.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def spawn(args: list[str], env: dict[str, str] | None = None) -> HubProcess:
    proc = subprocess.Popen(
        [sys.executable, "-m", "letswork", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    hp = HubProcess(proc=proc)

    def drain_out() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            hp.stdout_lines.put(line)
        hp.stdout_lines.put(None)

    def drain_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with hp.stderr_changed:
                hp.stderr_lines.append(line)
                hp.stderr_changed.notify_all()
        with hp.stderr_changed:
            hp.stderr_changed.notify_all()

    hp.threads = [threading.Thread(target=f, daemon=True) for f in (drain_out, drain_err)]
    for t in hp.threads:
        t.start()
    return hp


@contextlib.contextmanager
def hub_process(
    project: Path, *extra: str, env: dict[str, str] | None = None, tunnel: str = "none"
) -> Iterator[HubProcess]:
    """``letswork start PROJECT --tunnel none --no-ui EXTRA...``, with its invite code read."""
    hp = spawn(["start", str(project), "--tunnel", tunnel, "--no-ui", *extra], env=env)
    try:
        hp.code = hp.wait_for_join_line()
        yield hp
    finally:
        hp.close()
