"""`?` — the keys of the screen below, read from its live bindings (so keymap remaps show up)."""

from __future__ import annotations

import re

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from deployer_tui.ui.screens.detail_base import DetailScreen

# Keys Textual handles itself that are worth telling people about (short: the key column is as wide as
# its widest entry).
_NOTES = [
    ("tab shift+tab", "next / previous pane"),
    ("↑ ↓ pgup pgdn", "move in lists"),
]
_FILTER_HINT = "In a filter (/): type to narrow, enter keeps it, esc clears."
_KEY_NAMES = {"question_mark": "?", "slash": "/", "colon": ":", "space": "space", "escape": "esc",
              "asterisk": "*"}


def key_label(key: str) -> str:
    return _KEY_NAMES.get(key, key)


def help_title(screen: Screen) -> str:
    """What the help window is titled for `screen`: a detail screen's kind ("deployment"), else the
    screen's class name in words ("UpdateHistoryScreen" -> "update history", MainScreen -> "main")."""
    if isinstance(screen, DetailScreen):
        return screen.kind
    name = type(screen).__name__.removesuffix("Screen") or type(screen).__name__
    return " ".join(word.lower() for word in re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", name))


def help_rows(screen: Screen) -> list[tuple[str, str, str]]:
    """(keys, description, binding id) for every enabled binding active on `screen`."""
    by_action: dict[tuple[str, str], list[str]] = {}
    ids: dict[tuple[str, str], list[str]] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not active.enabled or not binding.description or binding.system:
            continue
        slot = (binding.action, binding.description)
        by_action.setdefault(slot, [])
        label = key_label(key)
        if label not in by_action[slot]:
            by_action[slot].append(label)
        if binding.id and binding.id not in ids.setdefault(slot, []):
            ids[slot].append(binding.id)
    rows = [(" ".join(keys), desc, " ".join(ids.get((action, desc), [])))
            for (action, desc), keys in by_action.items()]
    # Our own bindings (they have ids, and can be remapped) first; Textual's generic ones after.
    return sorted(rows, key=lambda r: (r[2] == "", r[1].lower()))


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 84; max-width: 95%; height: 85%; border: thick $accent;
                                   background: $surface; padding: 0 1; }
    HelpScreen #hint { margin-top: 1; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    def __init__(self, rows: list[tuple[str, str, str]], title: str) -> None:
        super().__init__()
        self.rows = rows
        self.help_title = title

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, show_header=True, header_style="bold")
        # Only "does" takes the room left (ratio); the others are as wide as their cells, so at 80
        # columns the descriptions do not wrap beside a half-empty key column.
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("does", ratio=1)
        table.add_column(Text("binding id (for [keymap])"), style="dim", no_wrap=True)
        for keys, desc, binding_id in self.rows:
            table.add_row(keys, desc, binding_id)
        for keys, desc in _NOTES:
            table.add_row(keys, desc, "")
        with VerticalScroll() as scroll:
            scroll.border_title = f"keys — {self.help_title}"
            # Short enough for the bottom border at 80 columns (the keymap is named in the header).
            scroll.border_subtitle = "esc closes"
            yield Static(table)
            if any(binding_id.partition(".")[2] == "filter"
                   for _, _, ids in self.rows for binding_id in ids.split()):
                yield Static(Text(_FILTER_HINT, style="dim"), id="hint")

    def action_close(self) -> None:
        self.dismiss(None)
