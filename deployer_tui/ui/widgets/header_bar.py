"""The header: the context (coloured, and saying PRODUCTION, when it is production), where we are connected
(and how that was chosen), as whom, read-only or not, and how old the data is.

It reads the app shell (`ui/shell.py`: `where`, `connection_note`, `user`, `read_only`, `status_text`,
`store`, the client's `redirect_notice`) once a second and whenever the app calls `refresh_text`; it holds no
state of its own beyond what it painted last.
"""

from __future__ import annotations

import weakref

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widgets import Static

from deployer_tui.core.production import DEFAULT_COLOR
from deployer_tui.ui.shell import context_view, shell_of
from deployer_tui.ui.view.formatting import age

# Clients whose redirect was already told in a toast: every screen has a header, the toast is said once.
_REDIRECT_TOLD: weakref.WeakSet = weakref.WeakSet()


def usable_color(color: str | None) -> str | None:
    """The configured colour if both Rich and Textual read it (a name one of them lacks), else the default."""
    if color is None:
        return None
    try:
        Style.parse(f"{color} on white")
        Color.parse(color)
    except Exception:  # noqa: BLE001 - a colour name only one of the two libraries knows
        return DEFAULT_COLOR
    return color


class HeaderBar(Static):
    DEFAULT_CSS = """
    HeaderBar { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    def __init__(self, crumb: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.crumb = crumb
        self._last: Text | None = None
        self._color: str | None = None

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh_text)
        self.refresh_text()

    def _redirect_notice(self) -> str | None:
        shell = shell_of(self)
        if not shell.connected:
            return None
        client = shell.client
        notice = client.redirect_notice
        if notice and client not in _REDIRECT_TOLD:
            _REDIRECT_TOLD.add(client)
            self.app.notify(notice, title="Deployer moved", severity="warning", timeout=20, markup=False)
        return notice

    def refresh_text(self) -> None:
        shell = shell_of(self)
        # Separators end the span before them, never start the next one (see update_screen.head_text).
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("deployer-tui" + ("" if self.crumb else "  "), style="bold")
        if self.crumb:
            text.append(f" › {self.crumb}  ", style="bold")
        view = context_view(self)
        name = view.context_name if view is not None else ""
        color = usable_color(view.production_color) if view is not None else None
        if name:
            if color:
                text.append(f" {name} · PRODUCTION ", style=f"bold {color} on white")
            else:
                text.append(name, style="bold magenta")
            text.append(" " if name == shell.where else "  ")
        if name != shell.where:  # `local` is both the context and where it connects: said once
            text.append(shell.where + (" " if shell.user else ""), style="bold cyan")
        if shell.user:
            text.append(f"as {shell.user}")
        if shell.connection_note:
            text.append("  ")
            text.append(f"({shell.connection_note})", style="dim")
        if shell.read_only:
            text.append("  ")
            text.append(" READ-ONLY ", style="bold black on yellow")
        notice = self._redirect_notice()
        if notice:
            text.append("  ")
            text.append(notice, style="bold dark_orange")
        status = shell.status_text
        store = shell.store
        if status:
            text.append("  ")
            text.append(status, style="italic")
        elif store.refreshed_at is not None:
            ago = age(shell.presentation.now() - store.refreshed_at)
            text.append("  ")
            text.append(f"refreshed {ago} ago", style="dim")
        # Called on every data batch: repaint only when the line changed, and never re-layout (one line).
        if color != self._color:
            # The whole bar in the context's colour: production is seen from across the room.
            self._color = color
            self.set_class(color is not None, "-production")
            self.styles.background = color if color else None
        if text != self._last:
            self._last = text
            self.update(text, layout=False)
