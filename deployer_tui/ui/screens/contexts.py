"""`ctrl+o`: the list of contexts (docs/contexts.md) — name, URL, user once known, what it is now, and
whether it is production (and why) — and `enter` switches to the highlighted one.

The list is the app's `Contexts` (ui/state/contexts_state.py), handed in; it repaints once a second and
whenever a context changes (the app calls `refill`), so a context being opened is seen connecting, then
connected or unreachable with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from deployer_tui.core.production import production_reason
from deployer_tui.ui.state.contexts_state import CONNECTED, UNREACHABLE

if TYPE_CHECKING:
    from deployer_tui.ui.state.contexts_state import Contexts, ContextState

COLUMNS = ("", "context", "URL", "user", "state", "production")
STATE_STYLES = {CONNECTED: "green", UNREACHABLE: "bold red"}


def context_row(state: ContextState, current: bool) -> tuple[Text, ...]:
    """One row: the current mark, name, URL, user, state (with why), production or read-only."""
    context = state.context
    guard = state.guard
    url = context.url or ("embedded local deployer" if context.is_local else "")
    condition = state.state + (f": {state.why}" if state.why else "")
    if context.problem:
        condition = f"unusable: {context.problem}"
    marks = []
    if guard.production:
        marks.append(Text(" PRODUCTION ", style=f"bold white on {guard.color or 'red'}"))
    if guard.read_only:
        marks.append(Text(" read-only ", style="bold black on yellow"))
    return (Text("●" if current else " ", style="bold"), Text(context.name, style="bold" if current else ""),
            Text(url, style="cyan"), Text(state.user or ""),
            Text(condition, style=STATE_STYLES.get(state.state, "dim")), Text(" ").join(marks))


class ContextListScreen(ModalScreen["str | None"]):
    """Dismisses with the chosen context's name, None on escape."""

    DEFAULT_CSS = """
    ContextListScreen { align: center middle; }
    ContextListScreen > Vertical { width: 96%; height: auto; max-height: 90%; border: thick $accent;
                                   background: $surface; }
    ContextListScreen DataTable { height: auto; max-height: 30; }
    ContextListScreen #context-why { height: auto; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="contexts.close"),
        Binding("j", "down", "Down", show=False, id="contexts.down"),
        Binding("k", "up", "Up", show=False, id="contexts.up"),
    ]

    def __init__(self, contexts: Contexts) -> None:
        super().__init__()
        self.contexts = contexts

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "contexts — enter: switch · esc: close"
            yield DataTable(cursor_type="row", zebra_stripes=False, id="contexts")
            yield Static("", id="context-why")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column or "current")
        self.refill()
        names = self.contexts.names()
        table.move_cursor(row=names.index(self.contexts.current))
        table.focus()
        self.set_interval(1.0, self.refill, name="contexts refill")

    def refill(self) -> None:
        """Repaint every row from the contexts' state now (rows stay where they are)."""
        table = self.query_one(DataTable)
        current = self.contexts.current
        for name in self.contexts.names():
            row = context_row(self.contexts.get(name), name == current)
            if name in table.rows:
                for column, value in zip(COLUMNS, row, strict=True):
                    table.update_cell(name, column or "current", value)
            else:
                table.add_row(*row, key=name)
        self._show_why()

    @on(DataTable.RowHighlighted)
    def _show_why(self) -> None:
        name = self.highlighted()
        if name is None:
            return
        state = self.contexts.get(name)
        context = state.context
        lines = [production_reason(context, state.infras)]
        if state.guard.read_only:
            lines.append("read-only: every change is refused" + (" (this context's own read_only)"
                                                                  if context.read_only else ""))
        lines.append(f"key: {context.key_origin()}")
        if context.note:
            lines.append(context.note)
        self.query_one("#context-why", Static).update(Text("  ·  ".join(lines)))

    def highlighted(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.dismiss(str(event.row_key.value))

    def action_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()

    def action_close(self) -> None:
        self.dismiss(None)
