"""The confirmation of a bulk update: what will be updated, grouped by context when the marks span
several, and for each production context one typed confirmation in this same dialog, under the list:
the context's name, whatever the number of its marked deployments, or the deployment's id when one
deployment was chosen without marks (the fleet's `u` on a row). A read-only context's items are listed
as refused and are not updated."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from deployer_tui.core.production import Guard

# Lines listed per context; the rest is counted.
LISTED_PER_CONTEXT = 12


@dataclass
class BulkGroup:
    """The deployments of one context in a bulk update: `lines` say what each will deploy."""

    context: str
    lines: list[str]
    guard: Guard
    running: list[str] = field(default_factory=list)  # already updating: not started again
    # One deployment chosen without marks: a change of that one object, so its id is what is typed (as
    # for any one object, ui/production_guard.py); None: the marked ones, the context's name is typed.
    object_id: str | None = None

    @property
    def refusal(self) -> str | None:
        return self.guard.refusal("Update deployment(s)")

    @property
    def needs_typing(self) -> bool:
        return self.refusal is None and self.guard.needs_typed_confirmation("Update deployment(s)")

    @property
    def answer(self) -> str:
        """What must be typed to confirm this group."""
        return self.object_id or self.context

    @property
    def answer_kind(self) -> str:
        return "the deployment id" if self.object_id else "the context name"

    def typed_prompt(self) -> str:
        if self.object_id is not None:
            return self.guard.confirmation_prompt("Update deployment", self.object_id)
        count = len(self.lines)
        return (f"{self.context!r} is a production context: type the context name {self.context!r} to update "
                f"its {count} deployment{'s' if count != 1 else ''}")


def confirmation_text(groups: list[BulkGroup]) -> str:
    """The list the dialog shows, as one text (tests read it too)."""
    todo = sum(len(group.lines) for group in groups if group.refusal is None)
    grouped = len(groups) > 1
    contexts = f" in {len(groups)} contexts" if grouped else ""
    text = f"Update {todo} marked deployment{'s' if todo != 1 else ''}{contexts}?\n"
    for group in groups:
        indent = "  "
        if grouped:
            marker = " (production)" if group.guard.production else ""
            text += f"\n{group.context}{marker}: {len(group.lines)}"
            indent = "    "
        for line in group.lines[:LISTED_PER_CONTEXT]:
            text += f"\n{indent}{line}"
        if len(group.lines) > LISTED_PER_CONTEXT:
            text += f"\n{indent}… and {len(group.lines) - LISTED_PER_CONTEXT} more"
        if group.refusal is not None:
            text += f"\n{indent}not updated: {group.refusal}"
        if group.running:
            text += f"\n{indent}(already running: {', '.join(group.running)})"
        if grouped:
            text += "\n"
    return text.rstrip("\n")


class BulkConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    BulkConfirmScreen { align: center middle; }
    BulkConfirmScreen > Vertical { width: 84; height: auto; max-height: 90%; border: thick $warning;
        background: $surface; padding: 1 2; }
    BulkConfirmScreen VerticalScroll { height: auto; max-height: 24; }
    BulkConfirmScreen .typed-prompt { color: $error; text-style: bold; margin-top: 1; }
    BulkConfirmScreen #bulk-error { color: $error; height: auto; }
    BulkConfirmScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    BulkConfirmScreen Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="bulk_confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="bulk_confirm.no"),
    ]

    def __init__(self, groups: list[BulkGroup]) -> None:
        super().__init__()
        self.groups = groups
        self.typed = [group for group in groups if group.needs_typing]

    @property
    def question(self) -> str:
        """What the dialog lists (as ConfirmScreen.question)."""
        return confirmation_text(self.groups)

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Static(self.question, id="bulk-list", markup=False)
            for index, group in enumerate(self.typed):
                yield Static(group.typed_prompt(), classes="typed-prompt", markup=False)
                yield Input(placeholder=f"type {group.answer_kind} here", id=f"typed-{index}")
            yield Static("", id="bulk-error")
            with Horizontal():
                yield Button("Update (enter)" if self.typed else "Yes (y)", id="yes", variant="warning")
                yield Button("Cancel (esc)" if self.typed else "No (n)", id="no")

    def on_mount(self) -> None:
        if self.typed:
            self.query_one("#typed-0", Input).focus()
        else:
            self.query_one("#no", Button).focus()

    def wrong_inputs(self) -> list[Input]:
        return [box for index, group in enumerate(self.typed)
                if not Guard.confirmed((box := self.query_one(f"#typed-{index}", Input)).value, group.answer)]

    def _try_confirm(self) -> None:
        wrong = self.wrong_inputs()
        if not wrong:
            self.dismiss(True)
            return
        groups = [self.typed[int(str(box.id).split("-")[1])] for box in wrong]
        kinds = " or ".join(dict.fromkeys(group.answer_kind for group in groups))
        answers = ", ".join(repr(group.answer) for group in groups)
        self.query_one("#bulk-error", Static).update(f"Type {kinds} to confirm: {answers}")
        wrong[0].focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._try_confirm()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self.action_answer(True)
        else:
            self.dismiss(False)

    def action_answer(self, value: bool) -> None:
        if value and self.typed:
            self._try_confirm()  # `y` alone is not enough in production
            return
        self.dismiss(value)
