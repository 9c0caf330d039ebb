"""The header: where we are connected, as whom, read-only or not, and how old the data is.

It reads the app's state (`where`, `user`, `read_only`, `status_text`, `store`) once a second and
whenever the app calls `refresh_text`; it holds no state of its own.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from deployer_tui.ui.view.formatting import age


class HeaderBar(Static):
    DEFAULT_CSS = """
    HeaderBar { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    def __init__(self, crumb: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.crumb = crumb
        self._last: Text | None = None

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh_text)
        self.refresh_text()

    def refresh_text(self) -> None:
        app = self.app
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("deployer-tui", style="bold")
        if self.crumb:
            text.append(f" › {self.crumb}", style="bold")
        text.append("  ")
        text.append(getattr(app, "where", ""), style="bold cyan")
        user = getattr(app, "user", "")
        if user:
            text.append(f" as {user}")
        if getattr(app, "read_only", False):
            text.append("  ")
            text.append(" READ-ONLY ", style="bold black on yellow")
        status = getattr(app, "status_text", "")
        store = getattr(app, "store", None)
        if status:
            text.append(f"  {status}", style="italic")
        elif store is not None and store.refreshed_at is not None:
            ago = age(app.presentation.now() - store.refreshed_at)
            text.append(f"  refreshed {ago} ago", style="dim")
        # Called on every data batch: repaint only when the line changed, and never re-layout (one line).
        if text != self._last:
            self._last = text
            self.update(text, layout=False)
