"""Small modal screens: confirmation, error details, the `:` go-to line, the base of option-list pickers."""

from __future__ import annotations

from typing import Generic, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, OptionList, Static

GOTO_KINDS = {"deploy": "deployment", "deployment": "deployment", "d": "deployment",
              "infra": "infra", "i": "infra", "service": "service", "svc": "service", "s": "service",
              "ctx": "context", "context": "context"}

PickT = TypeVar("PickT")


class OptionListModal(ModalScreen[PickT], Generic[PickT]):
    """A modal around one OptionList: its subclasses bind j/k to `down`/`up` and escape to `close`."""

    def action_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 64; height: auto; border: thick $warning; background: $surface; padding: 1 2; }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question)
            with Horizontal():
                yield Button("Yes (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class ErrorScreen(ModalScreen[None]):
    """The full details of an API error (errorType, message, detailedMessage, HTTP status, body)."""

    DEFAULT_CSS = """
    ErrorScreen { align: center middle; }
    ErrorScreen > VerticalScroll { width: 90%; height: 80%; border: thick $error; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close", id="error.close")]

    def __init__(self, title: str, details: str) -> None:
        super().__init__()
        self.error_title = title
        self.details = details

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = self.error_title
            scroll.border_subtitle = "esc to close"
            yield Static(Text(self.details))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)


class GotoScreen(ModalScreen["tuple[str, str] | None"]):
    """`:deploy ID`, `:infra ID`, `:service ID`, `:ctx NAME`, `:fleet` — with completion of the known ids and names."""

    DEFAULT_CSS = """
    GotoScreen { align: center top; }
    GotoScreen > Vertical { width: 80%; height: auto; margin-top: 3; background: $surface; border: thick $accent; }
    GotoScreen #goto-error { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="goto.cancel")]

    def __init__(self, completions: list[str]) -> None:
        super().__init__()
        self.completions = completions

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "go to — deploy ID | infra ID | service ID | ctx NAME | fleet (→ completes)"
            yield Input(placeholder=":deploy ID", id="goto-input",
                        suggester=SuggestFromList(self.completions, case_sensitive=False))
            yield Static("", id="goto-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        parsed = parse_goto(event.value)
        if isinstance(parsed, str):
            self.query_one("#goto-error", Static).update(parsed)
            return
        self.dismiss(parsed)

    def action_cancel(self) -> None:
        self.dismiss(None)


def parse_goto(line: str) -> tuple[str, str] | str:
    """`deploy ID` -> ("deployment", ID), `ctx NAME` -> ("context", NAME), `fleet` -> ("fleet", ""); an
    error message (str) when it does not parse."""
    words = line.strip().lstrip(":").split()
    if [word.lower() for word in words] == ["fleet"]:
        return "fleet", ""
    if len(words) != 2:
        return "usage: deploy ID | infra ID | service ID | ctx NAME | fleet"
    kind = GOTO_KINDS.get(words[0].lower())
    if kind is None:
        return f"unknown kind {words[0]!r}: use deploy, infra, service or ctx"
    return kind, words[1]
