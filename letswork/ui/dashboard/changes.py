"""The pending changes pane and the diff view: the queue, a syntax-highlighted diff of the
selected change (fetched one at a time with ``get_change``, so a long queue never makes one huge
response), ``a`` approves it, ``r`` rejects it with a reason.

``a`` approves only the proposal on screen: the change's ``proposal_sha256`` as fetched with its
diff goes with the approval, so one its author resubmitted since (``update_change``, issue 17)
is refused by the hub and its new diff shown instead; a change whose diff is not on screen yet
is not approved."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.widgets import DataTable, Static

from letswork.shared.errors import ErrorCode, LetsworkError, OpError
from letswork.shared.protocol.changes import ChangeDetail, ChangeInfo
from letswork.ui.dashboard.core import DashboardCore
from letswork.ui.dashboard.reason import ReasonScreen
from letswork.ui.dashboard.tables import _cursor_key, _restore_cursor
from letswork.ui.dashboard.words import (
    _WARN_STYLE,
    describe_change,
    diff_renderable,
    one_line,
    peer_text,
    sensitive_mark,
)


class ChangesPane(DashboardCore):
    """The pending changes table, the diff of the selected change, approve and reject."""

    def _render_changes(self) -> None:
        table = self.query_one("#changes", DataTable)
        keep = _cursor_key(table)
        table.clear()
        for change in self.pending.values():
            what = peer_text(describe_change(change), "", 200)
            if change.sensitive:
                what.append(sensitive_mark(change), style=_WARN_STYLE)
            table.add_row(
                peer_text(change.id, "bold", 16),
                peer_text(change.author, "cyan", 32),
                what,
                key=change.id,
            )
        table.border_title = Text(f"Pending changes ({len(self.pending)}): a approve, r reject")
        _restore_cursor(table, keep)

    def _render_diff(self, change: ChangeInfo | None, note: str | None = None) -> None:
        view = self.query_one("#diff", Static)
        if change is None:
            self.diff_text = ""
            view.update(Text(note or "No pending change.", style="dim"))
            return
        self.diff_text, renderable = diff_renderable(change)
        view.update(renderable)

    @on(DataTable.RowHighlighted, "#changes")
    def _change_highlighted(self, message: DataTable.RowHighlighted) -> None:
        self._show_selected_change()

    def _show_selected_change(self) -> None:
        change_id = self.selected_change_id
        if change_id is None:
            self.shown_change_id = None
            self._render_diff(None)
            return
        cached = self._diffs.get(change_id)
        if cached is not None:
            if self.shown_change_id != change_id or self.diff_text == "":
                self.shown_change_id = change_id
                self._render_diff(cached)
            return
        if self.shown_change_id != change_id:
            self.shown_change_id = None
            self._render_diff(None, f"Loading the diff of change {one_line(change_id, 16)}...")
        if self._fetching != change_id:
            self._fetching = change_id
            self.run_worker(
                self._fetch_diff(change_id), group="diff", exclusive=True, exit_on_error=False
            )

    async def _get_change(self, change_id: str) -> ChangeDetail:
        """``get_change`` with the change's ``proposal_sha256`` (an older hub, which refuses
        the argument, is asked again without it: nothing to pin then)."""
        try:
            return await self._call(
                "get_change", ChangeDetail, {"id": change_id, "include_proposal": True}
            )
        except OpError as exc:
            if exc.data.get("reason") != "extra_field":
                raise
            return await self._call("get_change", ChangeDetail, {"id": change_id})

    async def _fetch_diff(self, change_id: str) -> None:
        try:
            detail = await self._get_change(change_id)
        except LetsworkError as exc:
            if self.selected_change_id == change_id:
                self._render_diff(None, f"Cannot show this diff: {one_line(exc.message, 300)}")
            return
        finally:
            if self._fetching == change_id:
                self._fetching = None
        if change_id not in self.pending:
            return
        self._diffs[change_id] = detail.change
        if self.selected_change_id == change_id:
            self.shown_change_id = change_id
            self._render_diff(detail.change)

    def forget_change(self, change_id: str) -> None:
        """Drop the diff and merge kept for ``change_id``: it was submitted again (a conflict
        its author resubmitted under the same id, issue 17), so what ``a`` approves now is
        its new diff, fetched and shown first, never the one shown before."""
        self._merges.pop(change_id, None)
        if self._diffs.pop(change_id, None) is not None and self.shown_change_id == change_id:
            self.shown_change_id = None
            self._show_selected_change()

    @property
    def selected_change_id(self) -> str | None:
        """The id of the pending change under the cursor."""
        return _cursor_key(self.query_one("#changes", DataTable))

    def action_approve(self) -> None:
        change_id = self.selected_change_id
        if change_id is None:
            self._notify("There is no pending change to approve.", "warning")
            return
        self.run_worker(self.approve_change(change_id), group="ops", exit_on_error=False)

    async def approve_change(self, change_id: str) -> None:
        on_screen = self._diffs.get(change_id)
        if on_screen is None or self.shown_change_id != change_id:
            self._notify(
                f"The diff of change {one_line(change_id, 16)} is not on screen yet: read it, "
                "then press a.",
                "warning",
            )
            return
        with self._reporting(f"approve change {change_id}"):
            args: dict[str, Any] = {"id": change_id, "merge": True}
            if on_screen.proposal_sha256 is not None:  # the proposal on screen, or nothing
                args["proposal_sha256"] = on_screen.proposal_sha256
            shown = self._merges.pop(change_id, None)
            if shown is not None:  # the merge shown by the last ``a``: exactly that is written
                args["current_sha256"], args["merged_sha256"] = shown
            try:
                detail = await self._call("approve_change", ChangeDetail, args)
            except OpError as exc:
                if exc.code != ErrorCode.CONFLICT or "proposal_sha256" not in exc.data:
                    raise
                # Resubmitted since it was shown: nothing written; its new diff is fetched.
                self.forget_change(change_id)
                self._notify(
                    f"Change {one_line(change_id, 16)} was resubmitted by its author since it "
                    "was shown; nothing was written. Its new diff is on screen: read it, then "
                    "press a.",
                    "warning",
                )
                return
            change, merge = detail.change, detail.merge
            if change.status == "pending" and merge is not None and merge.merged_sha256:
                self._merges[change_id] = (merge.current_sha256, merge.merged_sha256)
                self._diffs[change_id] = change.model_copy(update={"diff": merge.diff})
                self.shown_change_id = None
                self._show_selected_change()
                again = " again" if shown is not None else ""
                self._notify(
                    f"{one_line(change.path)} changed{again} since change "
                    f"{one_line(change.id, 16)} was proposed; it merges cleanly. The diff shows "
                    "the merged result against the file now: press a again to write exactly it.",
                    "warning",
                )
            elif change.status == "applied":
                self._notify(f"Approved: {describe_change(change)}", "information")
            elif change.status == "conflict":
                where = f", {one_line(change.reason, 200)}" if change.reason else ""
                self._notify(
                    f"Change {one_line(change.id, 16)} was not applied: {one_line(change.path)} "
                    f"changed since it was proposed (conflict{where}).",
                    "warning",
                )
            else:
                # Not written (the file went back to the change's base since the merge was
                # shown): the merged diff kept for it is not what a writes now.
                self.forget_change(change_id)
                self._notify(f"Change {one_line(change.id, 16)} is {change.status}.", "warning")
        self._request_refresh()

    def action_reject(self) -> None:
        change_id = self.selected_change_id
        if change_id is None:
            self._notify("There is no pending change to reject.", "warning")
            return
        change = self.pending.get(change_id)
        prompt = Text(end="")
        prompt.append(f"Reject change {one_line(change_id, 16)}", style="bold")
        if change is not None:
            prompt.append(f": {describe_change(change)} by {one_line(change.author, 64)}")
        prompt.append("\nReason (optional, the author sees it). Enter sends, Escape cancels.")

        def done(reason: str | None) -> None:
            if reason is None:
                return
            self.run_worker(
                self.reject_change(change_id, reason or None), group="ops", exit_on_error=False
            )

        self.push_screen(ReasonScreen(prompt, "why this change is rejected"), done)

    async def reject_change(self, change_id: str, reason: str | None) -> None:
        with self._reporting(f"reject change {change_id}"):
            args: dict[str, Any] = {"id": change_id}
            if reason:
                args["reason"] = reason
            detail = await self._call("reject_change", ChangeDetail, args)
            self._notify(f"Rejected: {describe_change(detail.change)}", "information")
        self._request_refresh()
