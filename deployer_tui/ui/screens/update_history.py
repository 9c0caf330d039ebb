"""A deployment's update history (protocol.md §2.6.11) and the full log of one past update.

The list endpoint confirms only `startTimestamp`, `type` and `status` per item; `endTimestamp` and
`requester` come from the full record, so they are fetched per row (a few at a time) when the list item
lacks them. `enter` opens the update's full log in the same `LogView` as live updates — or, for the update
this session is still following, its live progress screen.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from deployer_tui.core.errors import DeployerError
from deployer_tui.ui.screens.update_screen import STATE_STYLES, UpdateBaseScreen, duration
from deployer_tui.ui.state.update_tracker import UpdateFinished, UpdateTracker
from deployer_tui.ui.view.formatting import Presentation
from deployer_tui.ui.widgets.header_bar import HeaderBar
from deployer_tui.ui.widgets.key_footer import KeyFooter
from deployer_tui.ui.widgets.log_view import LogView

COLUMNS = (("start", "Start"), ("end", "End"), ("duration", "Duration"), ("requester", "Requester"),
           ("type", "Type"), ("status", "Status"))
DETAIL_CONCURRENCY = 4


def _ms(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def history_row(item: dict, presentation: Presentation) -> tuple[str, str, str, str, str, Text]:
    start, end = _ms(item.get("startTimestamp")), _ms(item.get("endTimestamp"))
    status = str(item.get("status") or "?")
    took = duration((end - start) / 1000) if start and end else ("running" if status == "RUNNING" else "-")
    return (presentation.timestamp(start), presentation.timestamp(end) if end else "-", took,
            str(item.get("requester") or "-"), str(item.get("type") or "-"),
            Text(status, style=STATE_STYLES.get(status, "")))


class UpdateHistoryScreen(UpdateBaseScreen):
    DEFAULT_CSS = """
    UpdateHistoryScreen #history-title { height: 1; padding: 0 1; background: $panel; }
    UpdateHistoryScreen DataTable { height: 1fr; }
    UpdateHistoryScreen #history-empty { padding: 1 2; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", id="history.back"),
        Binding("ctrl+r", "reload", "Reload", id="history.reload"),
        Binding("j", "cursor_down", "Down", show=False, id="history.down"),
        Binding("k", "cursor_up", "Up", show=False, id="history.up"),
    ]

    def __init__(self, deployment_id: str, client: Any, *, presentation: Presentation | None = None,
                 tracker: UpdateTracker | None = None) -> None:
        super().__init__()
        self.deployment_id = deployment_id
        self.client = client
        self._presentation = presentation
        self.tracker = tracker
        self.items: dict[str, dict] = {}
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield HeaderBar(crumb=f"update history {self.deployment_id}")
        yield Static(Text.assemble(("Update history of ", "dim"), (self.deployment_id, "bold"),
                                   ("   enter: full log", "dim")), id="history-title")
        table: DataTable = DataTable(cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static("", id="history-empty")
        yield KeyFooter()

    def on_mount(self) -> None:
        if self.tracker is not None:
            self.tracker.subscribe(self)
        self.query_one(DataTable).focus()
        self.action_reload()

    def on_unmount(self) -> None:
        if self.tracker is not None:
            self.tracker.unsubscribe(self)

    def action_reload(self) -> None:
        self._load()

    @on(UpdateFinished)
    def _update_finished(self, message: UpdateFinished) -> None:
        if message.run.deployment_id == self.deployment_id:
            self._load()

    @work(exclusive=True, group="history-load", exit_on_error=False)
    async def _load(self) -> None:
        empty = self.query_one("#history-empty", Static)
        try:
            items = await self.client.list_updates(self.deployment_id)
        except DeployerError as exc:
            empty.update(Text(f"Could not load the history: {exc}", style="bold red"))
            return
        items = sorted((i for i in items if isinstance(i, dict) and _ms(i.get("startTimestamp"))),
                       key=lambda i: -_ms(i["startTimestamp"]))  # type: ignore[operator]
        table = self.query_one(DataTable)
        cursor_key = self.cursor_row_key()
        table.clear()
        self.items = {}
        for item in items:
            key = str(_ms(item["startTimestamp"]))
            self.items[key] = item
            table.add_row(*history_row(item, self.presentation), key=key)
        if cursor_key in self.items:
            table.move_cursor(row=table.get_row_index(cursor_key))
        empty.update("" if items else "No update yet: press u on the deployment to run one.")
        self.loaded = True
        missing = [i for i in items if "requester" not in i or ("endTimestamp" not in i and i.get("status") != "RUNNING")]
        if missing:
            await self._fill_details(missing)

    async def _fill_details(self, items: list[dict]) -> None:
        """Full records for rows whose list item lacks end / requester (DSS list items may)."""
        limit = asyncio.Semaphore(DETAIL_CONCURRENCY)
        table = self.query_one(DataTable)

        async def one(item: dict) -> None:
            async with limit:
                try:
                    full = await self.client.get_update(self.deployment_id, _ms(item["startTimestamp"]))
                except DeployerError:
                    return
            key = str(_ms(item["startTimestamp"]))
            merged = {**item, **{k: v for k, v in full.items() if k != "logs"}}
            self.items[key] = merged
            for (column, _), value in zip(COLUMNS, history_row(merged, self.presentation), strict=True):
                table.update_cell(key, column, value, update_width=True)

        await asyncio.gather(*(one(i) for i in items))

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        key = str(event.row_key.value)
        item = self.items.get(key)
        if item is None:
            return
        if item.get("status") == "RUNNING" and self.tracker is not None:
            self._open_running(int(key))
            return
        self._open_log(int(key))

    def _open_log(self, start_timestamp: int) -> None:
        self.app.push_screen(UpdateLogScreen(self.deployment_id, start_timestamp, self.client,
                                             presentation=self.presentation))

    @work(exclusive=True, group="history-open", exit_on_error=False)
    async def _open_running(self, start_timestamp: int) -> None:
        """A running update opens live: this session's run, or the server's job followed from now on."""
        from deployer_tui.ui.screens.update_screen import UpdateScreen

        assert self.tracker is not None
        run = self.tracker.get(self.deployment_id)
        if run is None or not run.running:
            job_id = await self.tracker.find_running(self.deployment_id)
            if job_id is None:  # ended meanwhile (or the server does not list it): its record has the log
                self._open_log(start_timestamp)
                return
            self.tracker.follow(self.deployment_id, job_id)
        self.app.push_screen(UpdateScreen(self.deployment_id, self.tracker))


class UpdateLogScreen(UpdateBaseScreen):
    """The full log of one past update, in the same log view as live updates."""

    DEFAULT_CSS = """
    UpdateLogScreen #update-log-title { height: auto; padding: 0 1; background: $panel; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", id="update_log.back"),
        Binding("e", "first_error", "First error", id="update_log.first_error"),
    ]

    def __init__(self, deployment_id: str, start_timestamp: int, client: Any, *,
                 presentation: Presentation | None = None) -> None:
        super().__init__()
        self.deployment_id = deployment_id
        self.start_timestamp = start_timestamp
        self.client = client
        self._presentation = presentation
        self.record: dict | None = None

    def compose(self) -> ComposeResult:
        yield HeaderBar(crumb=f"update log {self.deployment_id}")
        yield Static(Text.assemble(("Update of ", "dim"), (self.deployment_id, "bold"), ("  loading…", "dim")),
                     id="update-log-title")
        yield LogView(name=f"update-{self.deployment_id}-{self.start_timestamp}", id="update-log")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.log_view.lines_widget.focus()
        self._load()

    @work(exclusive=True, group="update-log-load", exit_on_error=False)
    async def _load(self) -> None:
        title = self.query_one("#update-log-title", Static)
        try:
            record = await self.client.get_update(self.deployment_id, self.start_timestamp)
        except DeployerError as exc:
            title.update(Text(f"Could not load this update's log: {exc}", style="bold red"))
            return
        self.record = record
        start, end, took, requester, kind, status = history_row(record, self.presentation)
        logs = record.get("logs") if isinstance(record.get("logs"), dict) else {}
        lines = [str(line) for line in logs.get("lines") or []]
        total = logs.get("totalLines")
        header = Text.assemble(("Update of ", "dim"), (self.deployment_id, "bold"), "  ", status,
                               ("  started ", "dim"), start, ("  took ", "dim"), took,
                               ("  by ", "dim"), requester, ("  ", ""), (kind, "dim"))
        if isinstance(total, int) and total > len(lines):
            header.append(f"\nthe deployer kept the last {len(lines):,} of {total:,} lines", style="dim")
        title.update(header)
        self.log_view.set_lines(lines)
        # A past log is read from the top; a failed one opens at its first error.
        self.log_view.flush_now()
        if str(record.get("status")) in ("FAILED", "WARNING") and self.log_view.jump_to_first("error") is not None:
            return
        self.log_view.action_top()
