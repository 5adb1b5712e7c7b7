"""Runs of the host's commands: their state machine, their processes and their output
(issue 17, part 1).

A run is asked for (``pending`` when the command says ``approval = "ask"`` and a guest asked),
started (``running``) by the host's approval or at once, and ends in one of five final states.
Every move is checked against :data:`RUN_STATE`. A run's process:

- starts with ``asyncio`` (never blocking the loop) from the command's argv and the added
  arguments, no shell, in the project folder, with stdin from ``/dev/null``;
- gets a minimal environment: ``PATH``, ``HOME`` and ``LANG`` of the hub, plus the variables
  the command declares (never the hub's whole environment, which holds tokens);
- leads its own process group (``start_new_session``), which is killed whole: SIGTERM then,
  after ``RUN_KILL_GRACE_SECONDS``, SIGKILL on cancel and timeout, SIGKILL at once on hub stop
  and when its guest is kicked, and SIGKILL for whatever is left once its first process ends;
- writes stdout and stderr into one stream, of which the first ``RUN_OUTPUT_HEAD_BYTES`` and
  the last ``RUN_OUTPUT_TAIL_BYTES`` are kept (the rest is counted).

Runs live in the hub's memory (the newest ``MAX_RUNS_KEPT``); a hub that stops kills them. The
output is the process's text as it wrote it: readers clean it (``shared/sanitize.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

from letswork.hub.commands_file import Command
from letswork.hub.transitions import Transitions
from letswork.shared import limits as lim
from letswork.shared.errors import ErrorCode, op_error
from letswork.shared.protocol.commands import RunInfo

__all__ = ["FINAL", "RUN_STATE", "Run", "RunTable", "run_env", "run_info"]

log = logging.getLogger("letswork.hub")

#: What a run's state may become.
RUN_STATE = Transitions(
    "run state",
    {
        "pending": frozenset({"running", "denied", "cancelled"}),
        "running": frozenset({"succeeded", "failed", "timed_out", "cancelled"}),
        "succeeded": frozenset(),
        "failed": frozenset(),
        "timed_out": frozenset(),
        "cancelled": frozenset(),
        "denied": frozenset(),
    },
)
#: The states a run ends in.
FINAL = frozenset({"succeeded", "failed", "timed_out", "cancelled", "denied"})
#: What a run's environment takes from the hub's.
PASSED_ENV = ("PATH", "HOME", "LANG")


@dataclasses.dataclass(eq=False)
class Run:
    """One run. ``guest_id`` is its asker's identity (``host`` for the host)."""

    id: int
    command: Command
    argv: tuple[str, ...]
    by: str
    guest_id: str
    created_at: float
    state: str = "pending"
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    head: bytearray = dataclasses.field(default_factory=bytearray)
    tail: bytearray = dataclasses.field(default_factory=bytearray)
    output_bytes: int = 0
    pgid: int | None = None
    #: the final state a kill under way leads to (cancelled, timed_out)
    ending: str | None = None
    task: asyncio.Task[None] | None = None
    last_event: float = 0.0
    #: an ``output`` event is due after the throttle's pause
    flush: asyncio.TimerHandle | None = None
    #: the SIGKILL due ``RUN_KILL_GRACE_SECONDS`` after a SIGTERM (cancelled when the run
    #: ends: its group id may be another group's by then)
    kill_timer: asyncio.TimerHandle | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def add_output(self, chunk: bytes) -> None:
        """Keep ``chunk`` within the head and the tail; count it."""
        self.output_bytes += len(chunk)
        room = lim.RUN_OUTPUT_HEAD_BYTES - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            extra = len(self.tail) - lim.RUN_OUTPUT_TAIL_BYTES
            if extra > 0:
                del self.tail[:extra]

    @property
    def left_out(self) -> int:
        return self.output_bytes - len(self.head) - len(self.tail)

    def text(self) -> str:
        """The kept output as text (undecodable bytes as U+FFFD), with a line where bytes were
        left out."""
        text = self.head.decode("utf-8", "replace")
        if self.left_out:
            text += f"\n[... {self.left_out} bytes of output left out ...]\n"
        return text + self.tail.decode("utf-8", "replace")

    def page(self, page: int) -> tuple[str, int]:
        """Page ``page`` (1: the last) of :meth:`text`, and how many pages it has."""
        text = self.text()
        size = lim.RUN_PAGE_CHARS
        pages = max(1, -(-len(text) // size))
        end = len(text) - (page - 1) * size
        if end <= 0:
            return "", pages
        return text[max(0, end - size) : end], pages


def run_info(run: Run) -> RunInfo:
    """``run`` as peers see it."""
    return RunInfo(
        id=run.id,
        command=run.command.name,
        argv=list(run.argv),
        by=run.by,
        state=run.state,  # type: ignore[arg-type]
        approval=run.command.approval,  # type: ignore[arg-type]
        timeout_seconds=run.command.timeout,
        created_at=run.created_at,
        started_at=run.started_at,
        ended_at=run.ended_at,
        exit_code=run.exit_code,
        reason=run.reason,
        output_bytes=run.output_bytes,
    )


def run_env(command: Command, environ: dict[str, str] | None = None) -> dict[str, str]:
    """A run's environment: ``PATH``, ``HOME`` and ``LANG`` from ``environ`` (the hub's; LANG
    ``C.UTF-8`` when unset), then the command's own variables."""
    source = os.environ if environ is None else environ
    env = {key: source[key] for key in PASSED_ENV if key in source}
    env.setdefault("LANG", "C.UTF-8")
    env.update(command.env)
    return env


class RunTable:
    """Every run the hub remembers, and their processes.

    Args:
        root: the project folder, each run's working directory.
        clock: wall clock (seconds), for the runs' times.
        changed: called on the loop with a run whose state changed or which printed more
            (at most every ``RUN_PROGRESS_EVENT_SECONDS``).
    """

    def __init__(self, root: Path, clock: Callable[[], float], changed: Callable[[Run], None]):
        self.root = root
        self._clock = clock
        self._changed = changed
        self._runs: dict[int, Run] = {}
        self._next_id = 1
        self.closed = False

    def __iter__(self) -> Iterator[Run]:
        """Newest first."""
        return iter(sorted(self._runs.values(), key=lambda r: -r.id))

    def get(self, run_id: int) -> Run:
        """Raises ``not_found`` for a run the hub does not remember."""
        run = self._runs.get(run_id)
        if run is None:
            raise op_error(
                ErrorCode.NOT_FOUND, f"no run {run_id}; list_runs shows the runs", id=run_id
            )
        return run

    def _count(self, state: str, guest_id: str | None = None) -> list[Run]:
        return [
            r
            for r in self._runs.values()
            if r.state == state and (guest_id is None or r.guest_id == guest_id)
        ]

    def add(self, command: Command, extra: list[str], *, by: str, guest_id: str, now: float) -> Run:
        """Record a run asked for by ``by`` (``pending``); :meth:`start` starts it.

        Raises:
            OpError: ``quota_exceeded`` when a guest has a run waiting or running, or
                ``MAX_PENDING_RUNS`` runs wait.
        """
        if guest_id != "host":
            mine = self._count("pending", guest_id) + self._count("running", guest_id)
            if mine:
                other = mine[0]
                raise op_error(
                    ErrorCode.QUOTA_EXCEEDED,
                    f"your run {other.id} of '{other.command.name}' is still {other.state}; "
                    "one run at a time: wait for it (get_run) or cancel_run it",
                    id=other.id,
                )
        if len(self._count("pending")) >= lim.MAX_PENDING_RUNS:
            raise op_error(
                ErrorCode.QUOTA_EXCEEDED,
                f"{lim.MAX_PENDING_RUNS} runs already wait for the host; try again later",
            )
        run = Run(
            id=self._next_id,
            command=command,
            argv=(*command.run, *extra),
            by=by,
            guest_id=guest_id,
            created_at=now,
        )
        self._next_id += 1
        self._runs[run.id] = run
        self._forget_old()
        return run

    def _forget_old(self) -> None:
        excess = len(self._runs) - lim.MAX_RUNS_KEPT
        for old in sorted(self._runs.values(), key=lambda r: r.id):
            if excess <= 0:
                break
            if old.final:
                del self._runs[old.id]
                excess -= 1

    def _move(self, run: Run, state: str) -> None:
        RUN_STATE.check(run.state, state)
        run.state = state

    def start(self, run: Run, now: float) -> None:
        """Start ``run``'s process (on the running loop).

        Raises:
            OpError: ``quota_exceeded`` at ``MAX_CONCURRENT_RUNS`` running runs;
                ``unavailable`` without a running event loop or once the hub stops.
        """
        if self.closed:
            raise op_error(ErrorCode.UNAVAILABLE, "the hub is stopping")
        if len(self._count("running")) >= lim.MAX_CONCURRENT_RUNS:
            raise op_error(
                ErrorCode.QUOTA_EXCEEDED,
                f"{lim.MAX_CONCURRENT_RUNS} runs are running, the most at once; "
                "try again when one ends",
            )
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise op_error(ErrorCode.UNAVAILABLE, "runs need the hub's event loop") from None
        self._move(run, "running")
        run.started_at = now
        run.task = loop.create_task(self._drive(run))

    def deny(self, run: Run, now: float, reason: str | None) -> None:
        self._move(run, "denied")
        run.ended_at = now
        run.reason = reason

    def cancel(self, run: Run, now: float, reason: str, *, at_once: bool = False) -> None:
        """Cancel ``run``: a waiting one ends now; a running one's group gets SIGTERM (SIGKILL
        with ``at_once``) and the run ends ``cancelled`` when its process does."""
        if run.state == "pending":
            self._move(run, "cancelled")
            run.ended_at = now
            run.reason = reason
            self._changed(run)
            return
        if run.state != "running":
            return
        if run.ending is None:
            run.ending = "cancelled"
            run.reason = reason
        self._kill(run, at_once=at_once)

    def end_guest(self, guest_id: str, now: float, reason: str) -> int:
        """Cancel a guest's runs at once (kicked, left, revoked); returns how many."""
        mine = [r for r in self._runs.values() if r.guest_id == guest_id and not r.final]
        for run in mine:
            self.cancel(run, now, reason, at_once=True)
        return len(mine)

    def stop_all(self, now: float) -> None:
        """The hub stops: every process group gets SIGKILL now, every run ends ``cancelled``
        (no more events: nobody is left to tell)."""
        self.closed = True
        for run in self._runs.values():
            if run.final:
                continue
            if run.state == "running":
                self._kill(run, at_once=True)
                if run.task is not None:
                    run.task.cancel()
            self._move(run, "cancelled")
            run.ended_at = now
            run.reason = "the hub stopped"

    def _kill(self, run: Run, *, at_once: bool) -> None:
        if run.pgid is None:
            return  # not spawned yet: _drive sees ``ending`` and does not start it
        _killpg(run.pgid, signal.SIGKILL if at_once else signal.SIGTERM)
        if not at_once and run.kill_timer is None:
            run.kill_timer = asyncio.get_running_loop().call_later(
                lim.RUN_KILL_GRACE_SECONDS, _killpg, run.pgid, signal.SIGKILL
            )

    async def _drive(self, run: Run) -> None:
        loop = asyncio.get_running_loop()
        try:
            proc = await asyncio.create_subprocess_exec(
                *run.argv,
                cwd=self.root,
                env=run_env(run.command),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except (OSError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            self._end(run, "failed", reason=f"could not start {run.argv[0][:80]!r}: {why}")
            return
        run.pgid = proc.pid
        if run.ending is not None:  # cancelled while it was being spawned
            self._kill(run, at_once=True)
        assert proc.stdout is not None
        reader = loop.create_task(self._read(run, proc.stdout))
        deadline = run.command.timeout - (self._clock() - (run.started_at or 0.0))
        try:
            await asyncio.wait_for(proc.wait(), timeout=max(deadline, 0.001))
        except asyncio.TimeoutError:
            if run.ending is None:
                run.ending = "timed_out"
                run.reason = f"ran past its timeout of {run.command.timeout}s"
            self._kill(run, at_once=False)
            await proc.wait()
        finally:
            # Whatever its first process left behind in the group goes too, now; the delayed
            # SIGKILL is then due to nobody.
            _killpg(proc.pid, signal.SIGKILL)
            if run.kill_timer is not None:
                run.kill_timer.cancel()
                run.kill_timer = None
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(reader, lim.RUN_DRAIN_SECONDS)
        code = proc.returncode
        if run.ending is not None:
            self._end(run, run.ending, exit_code=code)
        else:
            self._end(run, "succeeded" if code == 0 else "failed", exit_code=code)

    async def _read(self, run: Run, stream: asyncio.StreamReader) -> None:
        while True:
            chunk = await stream.read(64 * lim.KiB)
            if not chunk:
                return
            run.add_output(chunk)
            self._announce_output(run)

    def _announce_output(self, run: Run) -> None:
        """An ``output`` event now, or once ``RUN_PROGRESS_EVENT_SECONDS`` have passed since
        the last one (so the last output before a pause is announced too)."""
        if self.closed or run.final or run.flush is not None:
            return
        wait = run.last_event + lim.RUN_PROGRESS_EVENT_SECONDS - self._clock()
        if wait > 0:

            def due() -> None:
                run.flush = None
                self._announce_output(run)

            run.flush = asyncio.get_running_loop().call_later(wait, due)
            return
        run.last_event = self._clock()
        self._changed(run)

    def _end(self, run: Run, state: str, *, exit_code: int | None = None, reason: str = "") -> None:
        if self.closed or run.final:
            return
        if run.flush is not None:
            run.flush.cancel()
            run.flush = None
        self._move(run, state)
        run.ended_at = self._clock()
        run.exit_code = exit_code if exit_code is None else max(-255, min(255, exit_code))
        if reason:
            run.reason = reason
        self._changed(run)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
