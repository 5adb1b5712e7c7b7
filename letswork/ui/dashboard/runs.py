"""Runs of the host's commands in the dashboard (issue 17, part 1): a guest's request, with
the exact argv, in the feed and as a notification (``g`` runs the oldest waiting run, ``x``
denies it); every later state in the feed; the warning when a guest is trusted and the project
has commands (stronger when one is ``auto``). Run approvals are their own: ``a``/``r`` stay for
changes.
"""

from __future__ import annotations

from rich.text import Text

from letswork.shared.describe_runs import argv_text, run_event_line
from letswork.shared.errors import LetsworkError
from letswork.shared.protocol.commands import (
    CommandsResult,
    RunInfo,
    RunResult,
    RunsResult,
    RunUpdatedData,
)
from letswork.shared.protocol.wire import Event
from letswork.shared.sanitize import terminal_line
from letswork.ui.dashboard.core import DashboardCore
from letswork.ui.dashboard.words import _WARN_STYLE, one_line

__all__ = ["RunsPane"]


class RunsPane(DashboardCore):
    """Runs that wait for the host, and the keys that decide them."""

    #: runs waiting for the host, by id (from events and from ``list_runs``)
    waiting_runs: dict[int, RunInfo]
    #: the trust warning last shown (shown again only when it changes)
    run_warning: str | None = None
    #: the run whose argv the last ``g`` showed: the next ``g`` starts it if it still waits
    run_to_confirm: int | None = None

    def _runs_state(self) -> dict[int, RunInfo]:
        if not hasattr(self, "waiting_runs"):
            self.waiting_runs = {}
        return self.waiting_runs

    def note_run_event(self, event: Event) -> None:
        """A ``run_updated`` event: a feed line (not for ``output``), a notification and the
        bell when a run waits for the host."""
        try:
            data = RunUpdatedData.model_validate(event.data)
        except ValueError:
            self.add_activity("event run_updated (not understood)", "dim")
            return
        run = data.run
        waiting = self._runs_state()
        if run.state == "pending":
            waiting[run.id] = run
        else:
            waiting.pop(run.id, None)
        line = run_event_line(data, terminal=True)
        if line is None:
            return
        if data.change == "asked":
            self.add_activity(Text(line + " (g twice runs it, x denies it)", style=_WARN_STYLE))
            self.bell()
            self._notify(
                f"{one_line(run.by, 40)} asks to run: {argv_text(run.argv, terminal=True)} "
                "— g twice runs it, x denies it.",
                "warning",
            )
        else:
            self.add_activity(Text(line, style="dim" if data.change == "started" else ""))

    def _oldest_waiting_run(self) -> RunInfo | None:
        waiting = self._runs_state()
        return waiting[min(waiting)] if waiting else None

    def action_approve_run(self) -> None:
        """The first ``g`` shows the argv of the run it would start (the oldest waiting);
        the next starts that run, if it is still the oldest waiting: a guest that cancels and
        asks again in the moment before the key cannot swap in an argv the host did not see."""
        run = self._oldest_waiting_run()
        if run is None:
            self._notify("No run waits for your approval.", "warning")
            return
        if self.run_to_confirm != run.id:
            self.run_to_confirm = run.id
            by = one_line(run.by, 40)
            line = f"{by}'s run {run.id}: {argv_text(run.argv, terminal=True)}"
            self.add_activity(Text(f"{line} — g again starts run {run.id}", style=_WARN_STYLE))
            self._notify(f"{line} — g again starts run {run.id}.", "warning")
            return
        self.run_to_confirm = None
        self.run_worker(self.decide_run(run.id, "approve_run"), group="ops", exit_on_error=False)

    def action_deny_run(self) -> None:
        run = self._oldest_waiting_run()
        if run is None:
            self._notify("No run waits for your approval.", "warning")
            return
        self.run_worker(self.decide_run(run.id, "deny_run"), group="ops", exit_on_error=False)

    async def decide_run(self, run_id: int, op: str) -> None:
        """``approve_run`` or ``deny_run`` on run ``run_id``."""
        verb = "run" if op == "approve_run" else "deny"
        with self._reporting(f"{verb} run {run_id}"):
            result = await self._call(op, RunResult, {"id": run_id})
            self._runs_state().pop(run_id, None)
            argv = argv_text(result.run.argv, terminal=True)
            if op == "approve_run":
                self._notify(f"Run {run_id} started: {argv}", "information")
            else:
                self._notify(f"Run {run_id} denied: {argv}", "information")

    async def reload_runs(self) -> None:
        """The runs that wait (after a reconnect, events may have been missed) and the
        trust warning; failures are quiet (an older hub has no runs)."""
        try:
            runs = await self._call("list_runs", RunsResult)
            commands = await self._call("list_commands", CommandsResult)
        except LetsworkError:
            return
        self.waiting_runs = {r.id: r for r in runs.runs if r.state == "pending"}
        if commands.warning != self.run_warning:
            self.run_warning = commands.warning
            if commands.warning:
                text = f"Warning: {terminal_line(commands.warning, 400)}."
                self.add_activity(Text(text, style=_WARN_STYLE))
                self._notify(text, "warning")
