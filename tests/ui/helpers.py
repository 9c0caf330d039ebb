"""Helpers for pilot tests: wait for a condition (never a bare sleep), read what a screen shows."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.notifications import SeverityLevel
from textual.pilot import Pilot

from deployer_tui.ui import app as app_module
from deployer_tui.ui.app import DeployerApp
from deployer_tui.ui.widgets.resource_table import ResourceTable, plain


async def wait_for(pilot: Pilot, condition: Callable[[], object], what: str = "", timeout: float = 30.0) -> None:
    """Poll `condition` between short pauses of the app until it holds; fail after `timeout` seconds.

    The one wait of the UI tests: a bound generous enough for a loaded machine, never a bare sleep."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        await pilot.pause(0.02)


async def settle(pilot: Pilot, timeout: float = 30.0) -> None:
    """Wait until the app and every widget of the active screen have an empty message queue.

    `Pilot.press`/`click` return once Textual's CPU-time heuristic says the process is idle, and after
    one round of the messages queued so far. On a loaded machine the heuristic says "idle" at once, and
    a key the app forwards to the focused widget (or a message it bubbles up) lands after that round:
    state read then is the state before the key. Rounds repeat here until nothing is pending.
    """
    deadline = time.monotonic() + timeout
    while True:
        await pilot._wait_for_screen(timeout)
        app = pilot.app
        try:
            screen = app.screen
        except Exception:  # noqa: BLE001 - no screen (the app is closing): nothing left to wait for
            return
        pumps = [app, *screen.walk_children(with_self=True)]
        if all(pump._message_queue.empty() for pump in pumps):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the app still had messages to process after {timeout}s")


def table(pilot: Pilot, name: str) -> ResourceTable:
    return pilot.app.screen.query_one(f"#{name}", ResourceTable)


def cell(tbl: ResourceTable, key: str, column: str) -> str:
    return plain(tbl.get_cell(key, column))


def health_filled(tbl: ResourceTable) -> bool:
    return tbl.row_count > 0 and all(cell(tbl, key, "health") != "loading…" for key in tbl.visible_keys)


def screen_text(pilot: Pilot) -> str:
    """Every Static/DataTable text of the active screen, for 'is this shown' assertions."""
    from textual.widgets import DataTable, Static

    parts: list[str] = []
    for widget in pilot.app.screen.query(Static):
        content = widget.content
        parts.append(content if isinstance(content, str) else _render_to_text(content))
    for data_table in pilot.app.screen.query(DataTable):
        for row in data_table.ordered_rows:
            parts.append(" ".join(plain(c) for c in data_table.get_row(row.key)))
    for resource_table in pilot.app.screen.query(ResourceTable):
        for key in resource_table.visible_keys:
            parts.append(" ".join(plain(c) for c in resource_table.get_row(key)))
    return "\n".join(parts)


def _render_to_text(renderable: object) -> str:
    from io import StringIO

    from rich.console import Console

    console = Console(file=StringIO(), width=200, color_system=None, legacy_windows=False)
    try:
        console.print(renderable)
    except Exception:  # noqa: BLE001 - a renderable Rich cannot print alone (e.g. Content)
        return ""
    return console.file.getvalue()  # type: ignore[attr-defined]


@dataclass
class Toast:
    message: str
    title: str
    severity: str


class RecordingApp(DeployerApp):
    """The app, keeping every toast it shows in `toasts` (what the person was told, in order), so tests
    read what was said rather than Textual's private notification list."""

    # Textual reads a relative CSS_PATH next to the module of the class: here, the app's own file.
    CSS_PATH = str(Path(app_module.__file__).with_name(str(DeployerApp.CSS_PATH)))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.toasts: list[Toast] = []

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               **kwargs: Any) -> None:
        self.toasts.append(Toast(str(message), str(title), severity))
        super().notify(message, title=title, severity=severity, **kwargs)
