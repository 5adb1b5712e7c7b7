"""The prompt for a reason, used when the host rejects a change or denies a guest."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from letswork.shared.limits import MAX_SHORT_TEXT_CHARS


class ReasonScreen(ModalScreen[str | None]):
    """Ask for a reason. Dismissed with the text typed (may be empty), or None on Escape."""

    DEFAULT_CSS = """
    ReasonScreen {
        align: center middle;
    }
    ReasonScreen > Vertical {
        width: 80%;
        max-width: 110;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 1 2;
    }
    ReasonScreen Static {
        margin-bottom: 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, prompt: Text, placeholder: str) -> None:
        super().__init__()
        self._prompt = prompt
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._prompt)
            yield Input(placeholder=self._placeholder, max_length=MAX_SHORT_TEXT_CHARS)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, message: Input.Submitted) -> None:
        message.stop()
        self.dismiss(message.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
