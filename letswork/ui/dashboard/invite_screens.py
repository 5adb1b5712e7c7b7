"""The invite box's screens: making a new invite (role and label), showing the current join line
on its own (after copying it), and how to share in local mode."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, RadioButton, RadioSet, Static

#: The longest label an invite may have (the protocol's ``Label``).
_LABEL_CHARS = 64
#: What the new-invite screen returns: the role and the label (None when left empty).
NewInvite = tuple[str, str | None]

_MODAL_CSS = """
{name} {{
    align: center middle;
}}
{name} > Vertical {{
    width: 100%;
    max-width: 110;
    height: auto;
    max-height: 100%;
    border-top: thick $accent;
    border-bottom: thick $accent;
    background: $surface;
    padding: 0 1;
}}
{name} Static {{
    margin-bottom: 1;
}}
"""


class NewInviteScreen(ModalScreen[NewInvite | None]):
    """Ask for the new invite's role and label. Dismissed with ``(role, label)``, or None on
    Escape."""

    DEFAULT_CSS = _MODAL_CSS.format(name="NewInviteScreen")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(
                    "A new invite, for one person. Role (Tab, then arrows), a label to revoke it "
                    "by (optional). Enter makes it, Escape cancels."
                )
            )
            with RadioSet(id="role"):
                yield RadioButton(Text("editor: proposes changes"), value=True, id="editor")
                yield RadioButton(Text("viewer: reads only"), id="viewer")
            yield Input(placeholder="label, e.g. bob", max_length=_LABEL_CHARS, id="label")

    def on_mount(self) -> None:
        self.query_one("#label", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, message: Input.Submitted) -> None:
        message.stop()
        pressed = self.query_one("#role", RadioSet).pressed_button
        role = "viewer" if pressed is not None and pressed.id == "viewer" else "editor"
        self.dismiss((role, message.value.strip() or None))

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextScreen(ModalScreen[None]):
    """Show ``body`` (already built, shown literally) until Escape, Enter or q."""

    DEFAULT_CSS = _MODAL_CSS.format(name="TextScreen")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, body: Text) -> None:
        super().__init__()
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.body, id="body")

    def action_close(self) -> None:
        self.dismiss(None)
