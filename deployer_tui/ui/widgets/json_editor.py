"""A JSON code editor that validates as you type and can jump to the error.

`TextArea` highlights JSON but never validates it , so every change is parsed
with `core.settings_edit.parse_settings` and the verdict is shown under the text: either "valid"
or the line, column and message of the first error. The text itself is never touched by
validation — a broken draft stays exactly as typed.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static, TextArea

from deployer_tui.core.settings_edit import JsonError, parse_settings


class JsonEditor(Vertical):
    """TextArea (JSON, line numbers) + a status line. `value` is the parsed document or None."""

    DEFAULT_CSS = """
    JsonEditor { height: 1fr; }
    JsonEditor > TextArea { height: 1fr; }
    JsonEditor > #json-status { height: 1; padding: 0 1; background: $success 20%; }
    JsonEditor.-invalid > #json-status { background: $error 30%; color: $text; }
    """

    BINDINGS = [
        Binding("ctrl+g", "jump_to_error", "Go to error", id="settings.jump_to_error"),
    ]

    class Validated(Message):
        """Posted after every change of text with the verdict (error None when valid)."""

        def __init__(self, editor: JsonEditor, error: JsonError | None) -> None:
            super().__init__()
            self.editor = editor
            self.error = error

        @property
        def control(self) -> JsonEditor:
            return self.editor

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial = text
        self.value: Any | None = None
        self.error: JsonError | None = None

    def compose(self) -> ComposeResult:
        yield TextArea.code_editor(self._initial, language="json", id="json-text")
        yield Static("", id="json-status")

    def on_mount(self) -> None:
        self._validate()

    @property
    def text_area(self) -> TextArea:
        return self.query_one("#json-text", TextArea)

    @property
    def text(self) -> str:
        return self.text_area.text

    def load(self, text: str) -> None:
        """Replace the text and forget undo history (a fresh document from the server)."""
        self.text_area.load_text(text)
        self._validate()

    def replace_all(self, text: str) -> None:
        """Replace the text as one undoable edit (a helper or $EDITOR changed the draft)."""
        area = self.text_area
        area.replace(text, (0, 0), area.document.end)
        self._validate()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self._validate()

    def _validate(self) -> None:
        self.value, self.error = parse_settings(self.text)
        self.set_class(self.error is not None, "-invalid")
        status = self.query_one("#json-status", Static)
        if self.error is None:
            status.update("✓ valid JSON")
        else:
            key = self.app.get_key_display(self._binding("jump_to_error")) if self.is_attached else "ctrl+g"
            status.update(f"✗ {self.error}   ({key}: go there)")
        self.post_message(self.Validated(self, self.error))

    def _binding(self, action: str) -> Binding:
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.action == action:
                return binding
        raise KeyError(action)

    def action_jump_to_error(self) -> None:
        if self.error is None:
            self.notify("The JSON is valid", timeout=2)
            return
        area = self.text_area
        # JSON columns count characters from 1; TextArea locations count from 0.
        line = max(0, min(self.error.line - 1, area.document.line_count - 1))
        column = max(0, min(self.error.column - 1, len(area.document.get_line(line))))
        area.move_cursor((line, column), center=True)
        area.focus()
