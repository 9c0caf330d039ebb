"""The fleet screen (`F`, `:fleet`): the deployments of every context side by side, with a context column.

It shows what the fleet state (ui/state/fleet_state.py) holds: a context's rows as soon as its list
arrives, health as it arrives, one row saying why for a context that cannot be reached. The table is the
main pane's (same filter, sort and marks); marks live in each context's tracker, so `u` here updates the
marked deployments of every context, each in its own deployer (ui/bulk_update.py).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, Static

from deployer_tui.core import readers
from deployer_tui.ui.bulk_update import BulkItem, start_bulk
from deployer_tui.ui.shell import Shell, shell_of
from deployer_tui.ui.state.fleet_state import LOCAL_NOT_STARTED, FleetChanged, FleetState, fleet_key
from deployer_tui.ui.state.messages import UpdateFinished, UpdateMarksChanged, UpdateProgressed
from deployer_tui.ui.view import fleet_rows
from deployer_tui.ui.widgets.header_bar import HeaderBar
from deployer_tui.ui.widgets.key_footer import KeyFooter
from deployer_tui.ui.widgets.resource_table import ResourceTable


class FleetScreen(Screen):
    DEFAULT_CSS = """
    FleetScreen ResourceTable { border: round $accent; }
    FleetScreen #fleet-status { height: auto; max-height: 3; color: $text-muted; padding: 0 1; }
    FleetScreen #filter { dock: bottom; display: none; height: 3; }
    FleetScreen #filter.-active { display: block; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", id="fleet.back", tooltip="Clear the filter, then back to the main screen"),
        Binding("slash", "filter", "Filter", id="fleet.filter", tooltip="Live filter of the fleet"),
        Binding("s", "sort", "Sort", id="fleet.sort", tooltip="Cycle the sort column"),
        Binding("S", "sort_reverse", "Reverse sort", show=False, id="fleet.sort_reverse", tooltip="Reverse the sort"),
        Binding("space,ctrl+space", "mark", "Mark", id="fleet.mark",
                tooltip="Mark the highlighted deployment for a bulk update (u updates the marked ones)"),
        Binding("asterisk", "mark_shown", "Mark shown", id="fleet.mark_shown",
                tooltip="Mark every deployment shown (after a filter: the shown ones); again unmarks them"),
        Binding("u", "update", "Update", id="fleet.update",
                tooltip="Update the marked deployments of every context (asks first), else the highlighted one"),
        Binding("r", "reload", "Reload", id="fleet.reload", tooltip="Fetch every context again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._records: dict[str, tuple] = {}
        self._subscribed: list = []

    @property
    def shell(self) -> Shell:
        return shell_of(self)

    @property
    def fleet(self) -> FleetState:
        return self.shell.fleet

    def compose(self) -> ComposeResult:
        yield HeaderBar("fleet")
        table = ResourceTable(fleet_rows.FLEET_COLUMNS, title="fleet", id="fleet", display=fleet_rows.FLEET_DISPLAY)
        table.sort_index = fleet_rows.FLEET_SORT
        yield table
        yield Static("", id="fleet-status", markup=False)
        yield Input(placeholder="filter (enter keeps it, esc clears)", id="filter")
        yield KeyFooter()

    def table(self) -> ResourceTable:
        return self.query_one("#fleet", ResourceTable)

    # -- lifecycle ---------------------------------------------------------------------------
    def on_mount(self) -> None:
        fleet = self.fleet
        fleet.ensure_sources()
        fleet.subscribe(self)
        for name in fleet.contexts.names():
            tracker = fleet.contexts.get(name).updates
            tracker.subscribe(self)
            self._subscribed.append(tracker)
        self._fill(set(fleet.sources))
        self.table().focus()
        if not fleet.loading:
            self.action_reload()

    def on_unmount(self) -> None:
        self.fleet.unsubscribe(self)
        for tracker in self._subscribed:
            tracker.unsubscribe(self)

    # -- rows --------------------------------------------------------------------------------
    def _record(self, key: str) -> tuple:
        fleet = self.fleet
        row = fleet.rows[key]
        if row.deployment is None:
            # Through the presentation: a reason names a URL, whose port snapshots must not show.
            reason = self.shell.presentation.url(row.error or "not available")
            return fleet_rows.unreachable_row(row.context, reason, started=row.error != LOCAL_NOT_STARTED)
        return fleet_rows.fleet_row(row.context, row.deployment, fleet.health(key), fleet.stage(key),
                                    marked=fleet.marked(key), update_state=fleet.update_state(key))

    def _fill(self, contexts: set[str]) -> None:
        """Rebuild the rows of these contexts (a context not listed yet shows one loading row)."""
        fleet = self.fleet
        for name in contexts:
            for key in [k for k in self._records if k.startswith(fleet_key(name, None))]:
                del self._records[key]
            keys = fleet.keys_of.get(name)
            if keys is None:
                self._records[fleet_key(name, None)] = fleet_rows.loading_row(name)
                continue
            for key in keys:
                self._records[key] = self._record(key)
        self.table().set_records(self._records)
        self._status()

    def _patch(self, keys) -> None:
        fleet = self.fleet
        changed = {key: self._record(key) for key in keys if key in fleet.rows and key in self._records}
        self._records.update(changed)
        self.table().patch_records(changed)

    def _status(self) -> None:
        self.query_one("#fleet-status", Static).update(self.shell.presentation.url(self.fleet.status_line()))

    @on(FleetChanged)
    def _fleet_changed(self, message: FleetChanged) -> None:
        if message.contexts:
            self._fill(set(message.contexts))
        if message.keys:
            self._patch(message.keys)
            self._status()

    @on(UpdateProgressed)
    @on(UpdateFinished)
    def _update_changed(self, message: UpdateProgressed | UpdateFinished) -> None:
        context = message.context_name or self.fleet.current
        key = fleet_key(context, message.run.deployment_id)
        self._patch([key])
        if isinstance(message, UpdateFinished):
            settled = message.run.settled
            heavy = settled.status if settled is not None else None
            self.run_worker(self.fleet.refresh_one(context, message.run.deployment_id, heavy),
                            group=f"fleet.one:{key}", exclusive=True, exit_on_error=False)

    @on(UpdateMarksChanged)
    def _marks_changed(self, message: UpdateMarksChanged) -> None:
        context = message.context_name or self.fleet.current
        self._patch([fleet_key(context, deployment_id) for deployment_id in message.ids])

    # -- actions -----------------------------------------------------------------------------
    def action_reload(self) -> None:
        # Not exclusive: a second `r` while a load runs is a no-op of FleetState.load, and cancelling the
        # running one for it would leave nothing loading.
        self.run_worker(self.fleet.load(), group="fleet.load", exit_on_error=False)

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("-active"):
            self._close_filter(clear=True)
            return
        table = self.table()
        if table.filter_text:
            table.set_filter("")
            return
        self.dismiss()

    def action_sort(self) -> None:
        self.table().cycle_sort()

    def action_sort_reverse(self) -> None:
        self.table().reverse_sort()

    def action_filter(self) -> None:
        table = self.table()
        box = self.query_one("#filter", Input)
        box.border_title = "filter fleet"
        box.value = table.filter_text
        box.add_class("-active")
        self.set_focus(box)  # at once: keys typed right after `/` must reach the box

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table().set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._close_filter(clear=False)

    def _close_filter(self, clear: bool) -> None:
        box = self.query_one("#filter", Input)
        box.remove_class("-active")
        table = self.table()
        if clear:
            table.set_filter("")
        self.set_focus(table)

    def _deployment_keys(self, keys) -> list[str]:
        rows = self.fleet.rows
        return [key for key in keys if key in rows and rows[key].deployment is not None]

    def action_mark(self) -> None:
        key = self.table().current_key
        if key is None or not self._deployment_keys([key]):
            return
        row = self.fleet.rows[key]
        tracker = self.fleet.tracker(row.context)
        if tracker is not None and row.deployment_id:
            tracker.toggle_mark(row.deployment_id)

    def action_mark_shown(self) -> None:
        """Every deployment shown marked; if they all are already, unmarked."""
        fleet = self.fleet
        keys = self._deployment_keys(self.table().visible_keys)
        unmark = bool(keys) and all(fleet.marked(key) for key in keys)
        touched = []
        for key in keys:
            row = fleet.rows[key]
            tracker = fleet.tracker(row.context)
            if tracker is None or not row.deployment_id:
                continue
            if unmark:
                tracker.marked.discard(row.deployment_id)
            else:
                tracker.marked.add(row.deployment_id)
            if tracker not in touched:
                touched.append(tracker)
        for tracker in touched:
            tracker.marks_changed()
        count = len(keys)
        self.notify(f"{'Unmarked' if unmark else 'Marked'} {count} deployment{'s' if count != 1 else ''}"
                    + ("" if unmark else "; u updates them"))

    def _item(self, key: str) -> BulkItem | None:
        fleet = self.fleet
        row = fleet.rows[key]
        tracker = fleet.tracker(row.context)
        if tracker is None or row.deployment is None or not row.deployment_id:
            return None
        basic = readers.deployment_basic(row.deployment)
        what = "disable" if basic.get("enabled") is False else (
            readers.mapping_summary(basic.get("generationsMapping")) or "?")
        urls = readers.basic(row.deployment, "infraBasicInfo").get("apiNodeUrls")
        return BulkItem(row.context, row.deployment_id, f"{what} (now {fleet.health(key)})", tracker,
                        [str(url) for url in urls] if isinstance(urls, list) else [])

    def marked_keys(self) -> list[str]:
        """The marked deployments of every context, in the order shown (then the hidden ones)."""
        fleet = self.fleet
        shown = self.table().visible_keys
        hidden = [key for key in fleet.rows if key not in set(shown)]
        return [key for key in [*shown, *hidden] if fleet.marked(key)]

    # Not @mutating: the guard of DeployerApp.run_action (ui/production_guard.py) is the guard of the
    # screen's context, and the marks here span contexts. ui/bulk_update.py asks each marked context's own
    # guard instead: the read-only refusal (the console's or the context's, the same words) and, in
    # production, the context's name typed once, or the highlighted deployment's id when nothing is marked.
    def action_update(self) -> None:
        keys = self.marked_keys()
        marked = bool(keys)
        if not keys:
            current = self.table().current_key
            keys = self._deployment_keys([current]) if current is not None else []
        items = [item for item in map(self._item, keys) if item is not None]
        if not items:
            self.notify("Highlight a deployment (or mark some with space or *) to update it", severity="warning")
            return

        def started(todo: list[BulkItem]) -> None:
            if not todo:
                self.notify("Every marked deployment is updating already")
                return
            per: dict[str, int] = {}
            for item in todo:
                per[item.context] = per.get(item.context, 0) + 1
            where = ", ".join(f"{name} ({count})" for name, count in per.items())
            self.notify(f"Started {len(todo)} update{'s' if len(todo) != 1 else ''}: {where}", title="Updates")

        start_bulk(self, items, started, marked=marked)

    def _open(self, key: str) -> None:
        fleet = self.fleet
        row = fleet.rows.get(key)
        if row is None or row.deployment is None or not row.deployment_id:
            reason = row.error if row is not None else "still loading"
            self.notify(f"{key.split(chr(31))[0]}: {reason}", severity="warning")
            return
        if row.context == fleet.current:
            self.shell.open_resource("deployment", row.deployment_id)
            return
        self.app.run_worker(self._open_elsewhere(row.context, row.deployment_id), group="fleet.open",
                            exclusive=True, exit_on_error=False, name=f"open {row.context}")

    async def _open_elsewhere(self, context: str, deployment_id: str) -> None:
        """Switch to the deployment's context (opened first, so its screen finds a client), then open it."""
        contexts = self.fleet.contexts
        state = await contexts.open(context)
        if state.session is None:
            self.app.notify(f"{context}: {state.why or 'could not connect'}", title="Cannot open", severity="error")
            return
        contexts.switch(context)
        self.app.notify(f"Switched to context {context!r}", title="Context")
        self.app.open_resource("deployment", deployment_id)

    @on(ResourceTable.RowSelected)
    def _row_selected(self, event: ResourceTable.RowSelected) -> None:
        event.stop()
        self._open(event.key)


def open_fleet(node: Screen) -> None:
    """Push the fleet screen (from `F` on the main screen or `:fleet`)."""
    node.app.push_screen(FleetScreen())
