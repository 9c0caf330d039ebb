"""Review dialogs of the settings editor: the save diff, the three-way conflict view, and a small
question box. Every one is a modal that dismisses with the user's choice; none saves anything.

Credentials are masked in these views (`settings_edit.mask_secrets`): a review screen is exactly
what ends up in screenshots and screen shares.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from deployer_tui.core import jsondiff
from deployer_tui.core.settings_edit import mask_secrets, mask_secrets_at

_DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 90%; height: 90%; border: thick $primary; background: $surface; padding: 0 1;
}}
{name} .title {{ text-style: bold; height: auto; padding: 0 0 1 0; }}
{name} .buttons {{ height: auto; align-horizontal: right; padding-top: 1; }}
{name} .buttons Button {{ margin-left: 1; }}
"""


def diff_text(old: Any, new: Any, *, old_name: str, new_name: str) -> Text:
    """A coloured unified diff of two documents, credentials masked."""
    body = jsondiff.unified(mask_secrets(old), mask_secrets(new), old_name=old_name, new_name=new_name)
    text = Text()
    for line in body.splitlines():
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        else:
            style = ""
        text.append(line + "\n", style=style)
    return text


def marked_document(doc: Any, base: Any, style: str) -> Text:
    """`doc` pretty-printed, its lines that are not in `base` (at the same place) in `style`."""
    lines = jsondiff.pretty(mask_secrets(doc)).splitlines()
    base_lines = jsondiff.pretty(mask_secrets(base)).splitlines()
    changed: set[int] = set()
    matcher = difflib.SequenceMatcher(a=base_lines, b=lines, autojunk=False)
    for tag, _a0, _a1, b0, b1 in matcher.get_opcodes():
        if tag != "equal":
            changed.update(range(b0, b1))
    text = Text()
    for index, line in enumerate(lines):
        text.append(line + "\n", style=style if index in changed else "")
    return text


def _short(value: Any, path: Sequence[Any]) -> str:
    text = json.dumps(mask_secrets_at(value, path), ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= 60 else text[:57] + "..."


def change_summary(changes: list[jsondiff.Change]) -> Text:
    text = Text()
    for change in changes:
        if change.kind == "added":
            text.append(f"+ {change.where} = {_short(change.new, change.path)}\n", style="green")
        elif change.kind == "removed":
            text.append(f"- {change.where} (was {_short(change.old, change.path)})\n", style="red")
        else:
            old, new = _short(change.old, change.path), _short(change.new, change.path)
            text.append(f"~ {change.where}: {old} → {new}\n", style="yellow")
    return text


class SettingsDiffScreen(ModalScreen[bool]):
    """Saved vs draft before a save. Dismisses True to save, False to go back to editing."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="SettingsDiffScreen") + """
    SettingsDiffScreen #diff-summary { height: auto; max-height: 8; border-bottom: solid $primary-background; }
    SettingsDiffScreen #diff-body { height: 1fr; }
    """
    BINDINGS = [
        Binding("ctrl+s,y", "confirm", "Save", id="settings_diff.confirm"),
        Binding("escape,n", "cancel", "Back to editing", id="settings_diff.cancel"),
    ]

    def __init__(self, saved: Any, draft: Any, *, title: str) -> None:
        super().__init__()
        self.saved = saved
        self.draft = draft
        self.title_text = title
        self.changes = jsondiff.diff(saved, draft)

    def compose(self) -> ComposeResult:
        with Vertical():
            count = len(self.changes)
            yield Static(
                f"{self.title_text} — {count} change{'s' if count != 1 else ''}. Save the whole document?",
                classes="title",
            )
            with VerticalScroll(id="diff-summary"):
                yield Static(change_summary(self.changes))
            with VerticalScroll(id="diff-body"):
                yield Static(diff_text(self.saved, self.draft, old_name="saved", new_name="draft"), id="diff-text")
            with Horizontal(classes="buttons"):
                yield Button("Back to editing (esc)", id="cancel")
                yield Button("Save (ctrl+s)", id="confirm", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#diff-body").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class ConflictScreen(ModalScreen[str]):
    """The settings moved on the server since the draft was loaded.

    Shows what was loaded, what the server has now and the draft, then the colliding changes.
    Dismisses with "edit" (keep editing), "overwrite" (save the draft over theirs) or "rebase"
    (replay my changes on top of theirs in the editor; offered only when nothing collides).
    """

    DEFAULT_CSS = _DIALOG_CSS.format(name="ConflictScreen") + """
    ConflictScreen #conflict-list { height: auto; max-height: 10; border-bottom: solid $primary-background; }
    ConflictScreen #three-way { height: 1fr; }
    ConflictScreen #three-way > ScrollableContainer { width: 1fr; border: round $primary-background; }
    ConflictScreen #three-way Static { width: auto; text-wrap: nowrap; }
    """
    BINDINGS = [
        Binding("escape,e", "choose('edit')", "Keep editing", id="settings_conflict.edit"),
        Binding("o", "choose('overwrite')", "Overwrite theirs", id="settings_conflict.overwrite"),
        Binding("r", "choose('rebase')", "My changes on top of theirs", id="settings_conflict.rebase"),
    ]

    def __init__(self, loaded: Any, server_now: Any, draft: Any, *, title: str) -> None:
        super().__init__()
        self.loaded, self.server_now, self.draft = loaded, server_now, draft
        self.title_text = title
        self.conflicts = jsondiff.conflicts(loaded, server_now, draft)
        self.theirs = jsondiff.diff(loaded, server_now)

    def compose(self) -> ComposeResult:
        with Vertical():
            colliding = len(self.conflicts)
            verdict = (
                f"{colliding} of your changes collide with theirs."
                if colliding
                else "None of your changes collide with theirs."
            )
            yield Static(
                f"{self.title_text} changed on the server since you loaded it "
                f"({len(self.theirs)} change{'s' if len(self.theirs) != 1 else ''}). {verdict} "
                "Nothing has been saved. Below, their changes are in red and yours in green.",
                classes="title",
            )
            with VerticalScroll(id="conflict-list"):
                yield Static(self._conflict_text())
            with Horizontal(id="three-way"):
                for pane_id, label, doc, style in (
                    ("loaded", "loaded", self.loaded, ""),
                    ("server", "server now", self.server_now, "bold red"),
                    ("draft", "your draft", self.draft, "bold green"),
                ):
                    with ScrollableContainer(id=f"pane-{pane_id}") as pane:
                        pane.border_title = label
                        yield Static(marked_document(doc, self.loaded, style))
            with Horizontal(classes="buttons"):
                yield Button("Keep editing (e)", id="edit")
                yield Button("Overwrite (o)", id="overwrite", variant="error")
                yield Button("Mine on top of theirs (r)", id="rebase", variant="primary",
                             disabled=bool(self.conflicts))

    def _conflict_text(self) -> Text:
        if not self.conflicts:
            text = Text("Their changes:\n", style="bold")
            text.append_text(change_summary(self.theirs))
            return text
        text = Text()
        for theirs, mine in self.conflicts:
            text.append(f"{theirs.where}\n", style="bold")
            text.append(f"  theirs: {_describe(theirs)}\n", style="red")
            text.append(f"  yours:  {_describe(mine)}\n", style="green")
        return text

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose(event.button.id or "edit")

    def action_choose(self, choice: str) -> None:
        if choice == "rebase" and self.conflicts:
            self.notify("Your changes collide with theirs: overwrite, or keep editing", severity="warning")
            return
        self.dismiss(choice)


def _describe(change: jsondiff.Change) -> str:
    if change.kind == "added":
        return f"added {change.where} = {_short(change.new, change.path)}"
    if change.kind == "removed":
        return f"removed {change.where}"
    return f"{change.where}: {_short(change.old, change.path)} → {_short(change.new, change.path)}"


class AskScreen(ModalScreen[str]):
    """A question with a few answers, each on a key. Dismisses with the chosen answer's id;
    `escape` picks the first (safest) answer."""

    DEFAULT_CSS = """
    AskScreen { align: center middle; }
    AskScreen > Vertical {
        width: 70; max-width: 90%; height: auto; max-height: 80%;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    AskScreen #ask-detail { height: auto; max-height: 16; margin-top: 1; }
    AskScreen .buttons { height: auto; align-horizontal: right; padding-top: 1; }
    AskScreen .buttons Button { margin-left: 1; }
    """
    BINDINGS = [Binding("escape", "answer_first", "Cancel", id="settings_ask.cancel")]

    def __init__(self, question: str, answers: list[tuple[str, str, str]], *, detail: str = "") -> None:
        """`answers`: (id, label, key) — the first is the safe default."""
        super().__init__()
        self.question = question
        self.answers = answers
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="ask-question")
            if self.detail:
                with VerticalScroll(id="ask-detail"):
                    yield Static(Text(self.detail), id="ask-detail-text")
            with Horizontal(classes="buttons"):
                for index, (answer_id, label, key) in enumerate(self.answers):
                    yield Button(f"{label} ({key})", id=f"answer-{answer_id}",
                                 variant="primary" if index == 0 else "default")

    def on_mount(self) -> None:
        self.query_one(Button).focus()

    def on_key(self, event: Any) -> None:
        for answer_id, _label, key in self.answers:
            if event.key == key:
                event.stop()
                self.dismiss(answer_id)
                return

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss((event.button.id or "answer-").removeprefix("answer-"))

    def action_answer_first(self) -> None:
        self.dismiss(self.answers[0][0])
