"""The typed confirmation of a change in a production context: the user types the object's id (or the
context's name for a change of no one object) before the change runs (ui/production_guard.py)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class TypedConfirmScreen(ModalScreen["str | None"]):
    """Dismisses with what was typed on enter, None on escape."""

    DEFAULT_CSS = """
    TypedConfirmScreen { align: center middle; }
    TypedConfirmScreen > Vertical { width: 76; height: auto; border: thick $error; background: $surface;
                                     padding: 1 2; }
    TypedConfirmScreen #typed-prompt { height: auto; margin-bottom: 1; }
    TypedConfirmScreen #typed-hint { height: auto; color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="typed_confirm.cancel")]

    def __init__(self, prompt: str, context_name: str) -> None:
        super().__init__()
        self.prompt = prompt
        self.context_name = context_name

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"PRODUCTION — {self.context_name}"
            yield Static(self.prompt, id="typed-prompt", markup=False)
            yield Input(placeholder="type it here, then enter", id="typed-id")
            yield Static("enter: confirm · esc: cancel (nothing changes)", id="typed-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#typed-id")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
