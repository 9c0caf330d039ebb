"""The main screen: infras, services and deployments panes plus a detail panel.

`space` on an infra or a service narrows the deployments pane to it; `esc` widens again (after
clearing a live filter first). `space` on a deployment marks it for a bulk update (`u`). The panes are filled from the app's DataStore only.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input

from deployer_tui.core import readers
from deployer_tui.ui.actions import PaletteCommand, mutating, object_bindings
from deployer_tui.ui.gc_pause import GcPause
from deployer_tui.ui.marks import mark_shown
from deployer_tui.ui.object_actions import OBJECT_COMMANDS, PANE_KINDS, ObjectActions
from deployer_tui.ui.state.messages import (
    CanaryFinished,
    CanaryProgressed,
    ConnectionChanged,
    DataChanged,
    UpdateFinished,
    UpdateMarksChanged,
    UpdateProgressed,
)
from deployer_tui.ui.view import rows
from deployer_tui.ui.widgets.banner import ConnectionBanner
from deployer_tui.ui.widgets.detail_panel import DetailPanel
from deployer_tui.ui.widgets.header_bar import HeaderBar
from deployer_tui.ui.widgets.key_footer import KeyFooter
from deployer_tui.ui.widgets.resource_table import ResourceTable

PANES = ("infras", "services", "deployments")
# The detail panel follows a moving cursor once it rests this long on a row: a held `j` (30 keys a
# second) repaints it once when it stops, not on every row it passes. Longer than the time between two
# repeated keys, short enough to read as immediate.
DETAIL_SETTLE_SECONDS = 0.15


# Waiting health cells applied per slice (about 7 ms of row building and patching at 10,000 rows), and
# the time between two slices (a frame at 60 per second), in which keys and repaints get their turn.
HEALTH_SLICE = 250
HEALTH_SLICE_SECONDS = 1 / 60


class MainScreen(ObjectActions):
    DEFAULT_CSS = """
    MainScreen #top { height: 1fr; min-height: 7; }
    MainScreen #infras { width: 3fr; }
    MainScreen #services { width: 2fr; }
    MainScreen #detail { width: 2fr; }
    MainScreen #deployments { height: 2fr; }
    MainScreen ResourceTable { border: round $panel-lighten-2; }
    MainScreen ResourceTable:focus { border: round $accent; }
    MainScreen #filter { dock: bottom; display: none; height: 3; }
    MainScreen #filter.-active { display: block; }
    """
    BINDINGS = [
        Binding("1", "focus_pane('infras')", "Infras", show=False, id="main.pane_infras",
                tooltip="Move to the infras pane"),
        Binding("2", "focus_pane('services')", "Services", show=False, id="main.pane_services",
                tooltip="Move to the services pane"),
        Binding("3", "focus_pane('deployments')", "Deployments", show=False, id="main.pane_deployments",
                tooltip="Move to the deployments pane"),
        # One key, two meanings: check_action keeps the one of the focused pane, so the footer and `?`
        # say what space does here.
        Binding("space", "mark", "Mark", id="main.mark",
                tooltip="Mark the highlighted deployment for a bulk update (u updates the marked ones)"),
        Binding("ctrl+space", "mark", "Mark", show=False, id="main.mark_ctrl",
                tooltip="Mark the highlighted deployment for a bulk update (as space)"),
        Binding("asterisk", "mark_shown", "Mark shown", show=False, id="main.mark_shown",
                tooltip="Mark every deployment shown (after a filter: the shown ones); again unmarks them"),
        Binding("F", "fleet", "Fleet", show=False, id="main.fleet",
                tooltip="The deployments of every context side by side (also :fleet)"),
        Binding("space", "narrow", "Narrow", id="main.narrow",
                tooltip="Show only the deployments of the highlighted infra or service (again to undo)"),
        Binding("escape", "widen", "Widen", show=False, id="main.widen", tooltip="Clear the filter, then the narrowing"),
        Binding("slash", "filter", "Filter", id="main.filter", tooltip="Live filter of the focused pane"),
        Binding("s", "sort", "Sort", id="main.sort", tooltip="Cycle the sort column of the focused pane"),
        Binding("S", "sort_reverse", "Reverse sort", show=False, id="main.sort_reverse",
                tooltip="Reverse the sort of the focused pane"),
        Binding("t", "toggle_enabled", "Enable/disable", id="main.toggle_enabled",
                tooltip="Flip `enabled` in the highlighted deployment's settings (asks first)"),
        *object_bindings("main", {"create", "delete", "test_queries", "copy", "edit_settings", "update"}),
        Binding("U", "show_updates", "Updates", show=False, id="main.updates",
                tooltip="The updates started in this session, each with its progress"),
        Binding("R", "rollback", "Roll back", show=False, id="main.rollback",
                tooltip="Back to the last mapping that deployed successfully: preview, confirm, follow, test"),
        Binding("C", "canary", "Canary", show=False, id="main.canary",
                tooltip="Roll a new version out in steps, with guards and an automatic revert"),
        Binding("q", "back", "Quit", id="main.quit", tooltip="Leave deployer-tui"),
    ]
    PALETTE_COMMANDS = (
        *OBJECT_COMMANDS,
        PaletteCommand("mark_out_of_sync", "Mark every OUT_OF_SYNC deployment",
                       "Mark all deployments whose health is OUT_OF_SYNC, then u updates them"),
    )

    # Actions that need a deployment in focus: not offered on the infras and services panes.
    DEPLOYMENT_ONLY = frozenset({"test_queries", "toggle_enabled", "update_history", "openapi", "mark",
                                 "mark_shown", "canary"})

    def __init__(self) -> None:
        super().__init__()
        self.narrow: tuple[str, str] | None = None  # ("infra"|"service", id)
        self._filter_target: ResourceTable | None = None
        self._refresh_timer = None
        self._typing = GcPause(self, on_release=self._apply_waiting_health)
        self._waiting_health: set[str] = set()
        self._slice_scheduled = False
        self._detail_pending = False  # a highlighted row the panel does not show yet
        self._detail_busy_until = 0.0  # monotonic time until which the cursor counts as moving
        self._detail_timer = None

    def compose(self) -> ComposeResult:
        yield HeaderBar()
        yield ConnectionBanner(id="banner")
        with Vertical():
            with Horizontal(id="top"):
                yield ResourceTable(rows.INFRA_COLUMNS, title="1 infras", id="infras")
                yield ResourceTable(rows.SERVICE_COLUMNS, title="2 services", id="services")
                yield DetailPanel(id="detail")
            yield ResourceTable(rows.DEPLOYMENT_COLUMNS, title="3 deployments", id="deployments",
                            display=rows.DEPLOYMENT_DISPLAY)
        yield Input(placeholder="filter (enter keeps it, esc clears)", id="filter")
        yield KeyFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide what the focused pane cannot do (Textual asks for each binding the footer, `?`, the palette
        and a key press consider): False hides the key and refuses it."""
        pane = self.focused_pane()
        if pane is None:  # the filter box (or nothing) has the focus: the keys go there
            return True
        if action == "narrow":
            return pane != "deployment"
        if action in self.DEPLOYMENT_ONLY:
            return pane == "deployment"
        if action == "update":
            # `u` also updates the marked deployments, from any pane.
            return pane == "deployment" or bool(self.shell.updates.marked)
        return True

    # -- lifecycle -------------------------------------------------------------------------
    def on_mount(self) -> None:
        store = self.shell.store
        store.subscribe(self)
        store.display_order = lambda: self.table("deployments").visible_keys
        self.shell.updates.subscribe(self)
        self.shell.canaries.subscribe(self)
        self.table("deployments").focus()
        self._start_timer()
        if store.loaded:
            self._fill_all()
        if store.connection_error is not None:
            self.query_one(ConnectionBanner).show_error(store.connection_error, store.retry_in)

    def on_unmount(self) -> None:
        self._typing.on_release = None
        self._typing.release()
        self.shell.store.unsubscribe(self)
        self.shell.store.display_order = None
        self.shell.updates.unsubscribe(self)
        self.shell.canaries.unsubscribe(self)

    def _start_timer(self) -> None:
        interval = self.shell.refresh_interval
        if interval > 0 and self._refresh_timer is None:
            self._refresh_timer = self.set_interval(interval, self.shell.store.auto_refresh, name="auto-refresh")

    def on_screen_suspend(self) -> None:
        # Auto-refresh is paused while another screen is on top: nobody sees the lists, and the open
        # screen's own requests should not queue behind a reload.
        if self._refresh_timer is not None:
            self._refresh_timer.pause()

    def on_screen_resume(self) -> None:
        if self._refresh_timer is not None:
            self._refresh_timer.resume()
            store = self.shell.store
            # Back after a while on another screen: the lists are stale, refresh now rather than later.
            if store.refreshed_at is not None and \
                    self.shell.presentation.now() - store.refreshed_at >= self.shell.refresh_interval:
                store.auto_refresh()
        self.query_one(HeaderBar).refresh_text()

    # -- data ------------------------------------------------------------------------------
    def table(self, name: str) -> ResourceTable:
        return self.query_one(f"#{name}", ResourceTable)

    @on(DataChanged)
    def _data_changed(self, message: DataChanged) -> None:
        if message.kinds & {"infras", "services", "deployments"}:
            self._waiting_health.clear()  # the refill reads every health
            self._fill_all()
            # Each refresh of the lists also looks for updates started elsewhere (one futures list call).
            # Not the updates of this session's canaries: they follow their own.
            self.run_worker(self.shell.updates.adopt_running(exclude=self.shell.canaries.running_ids()),
                            group="adopt-updates", exclusive=True, exit_on_error=False)
        elif "health" in message.kinds:
            # While keys arrive, health cells wait for the first quiet moment, so that a batch of them
            # does not land between a keystroke and its repaint; otherwise they go in at once if few,
            # in slices per frame if many (_apply_waiting_health).
            self._waiting_health |= message.health_ids
            self._apply_waiting_health()
        self.query_one(HeaderBar).refresh_text()

    def _apply_waiting_health(self) -> None:
        """The health cells waiting (held back while keys arrived, or a big batch): the rows in sight
        first, then HEALTH_SLICE rows per frame. Thousands at once (a full refresh landing during a typed
        filter) took 0.2 s in one frame, long enough to stall the next key (bench/bench_ui.py, `j` held)."""
        if not self._waiting_health or self._typing.holding:
            return  # keys arrive again: the rest waits for the next quiet moment
        waiting = self._waiting_health
        table = self.table("deployments")
        top = table.scroll_offset.y
        in_sight = [key for key in table.visible_keys[top:top + table.size.height + 1] if key in waiting]
        batch, size = set(in_sight), max(HEALTH_SLICE, len(in_sight))
        for key in waiting:
            if len(batch) >= size:
                break
            batch.add(key)
        self._waiting_health = waiting - batch
        self._patch_health(frozenset(batch))
        if self._waiting_health and not self._slice_scheduled:
            self._slice_scheduled = True  # one chain of slices, however many batches arrive meanwhile
            # A timer, not call_after_refresh: with no row in sight changed there is nothing to repaint, so
            # "after the refresh" came at once and every slice ran back to back (5,000 rows, 0.17 s, in
            # one `j` at 10,000 rows: bench/bench_ui.py).
            self.set_timer(HEALTH_SLICE_SECONDS, self._next_health_slice, name="health slice")

    def _next_health_slice(self) -> None:
        self._slice_scheduled = False
        self._apply_waiting_health()

    @on(UpdateProgressed)
    @on(UpdateFinished)
    @on(UpdateMarksChanged)
    def _updates_changed(self, message: UpdateProgressed | UpdateFinished | UpdateMarksChanged) -> None:
        # Running updates and bulk marks show in the deployments pane.
        ids = message.ids if isinstance(message, UpdateMarksChanged) else frozenset({message.run.deployment_id})
        self._patch_health(ids)
        if isinstance(message, UpdateMarksChanged):
            self.refresh_bindings()  # `u` on the infras and services panes depends on the marks

    @on(CanaryProgressed)
    @on(CanaryFinished)
    def _canary_changed(self, message: CanaryProgressed | CanaryFinished) -> None:
        self._patch_health(frozenset({message.run.deployment_id}))

    @on(ConnectionChanged)
    def _connection_changed(self, message: ConnectionChanged) -> None:
        banner = self.query_one(ConnectionBanner)
        if message.error is None:
            banner.clear_error()
            self.notify("Connection restored", severity="information")
        else:
            banner.show_error(message.error, message.retry_in)
        self._show_detail()

    def _deployment_ids(self) -> list[str]:
        store = self.shell.store
        if self.narrow is None:
            return list(store.deployments)
        kind, ident = self.narrow
        if kind == "infra":
            return store.deployment_ids_of_infra(ident)
        return store.deployment_ids_of_service(ident)

    def _deployment_records(self, ids) -> dict:
        store = self.shell.store
        tracker, canaries = self.shell.updates, self.shell.canaries
        return {
            d: rows.decorate_deployment_row(
                rows.deployment_row(store.deployments[d], store.health(d),
                                    rows.infra_stage(store.infras, store.deployments[d])),
                marked=d in tracker.marked, update_state=tracker.running_state(d), canary=canaries.row_label(d))
            for d in ids if d in store.deployments
        }

    def _fill_all(self) -> None:
        store = self.shell.store
        if self.narrow is not None:
            kind, ident = self.narrow
            if ident not in (store.infras if kind == "infra" else store.services):
                self.narrow = None  # the narrowing resource is gone
        # One pass over the deployments, not one per infra and per service.
        per_infra: Counter[str] = Counter()
        per_service: Counter[str] = Counter()
        for light in store.deployments.values():
            info = readers.basic(light, "deploymentBasicInfo")
            per_infra[str(info.get("infraId"))] += 1
            per_service[str(info.get("publishedServiceId"))] += 1
        self.table("infras").set_records({
            i: rows.infra_row(light, per_infra[i]) for i, light in store.infras.items()
        })
        self.table("services").set_records({
            s: rows.service_row(light, per_service[s]) for s, light in store.services.items()
        })
        self.table("deployments").set_records(self._deployment_records(self._deployment_ids()))
        self._update_deployments_title()
        self._show_detail()

    def _patch_health(self, ids: frozenset[str]) -> None:
        table = self.table("deployments")
        shown = table.records  # the deployments of the pane (narrowed or not), filtered or not
        table.patch_records(self._deployment_records(i for i in ids if i in shown))
        focused = self.focused
        if isinstance(focused, ResourceTable) and focused.id == "deployments" and focused.current_key in ids:
            self._show_detail()

    def _update_deployments_title(self) -> None:
        table = self.table("deployments")
        table.pane_title = "3 deployments" if self.narrow is None else f"3 deployments of {self.narrow[0]} {self.narrow[1]}"
        table._update_border_title()

    # -- detail panel ----------------------------------------------------------------------
    @on(ResourceTable.RowHighlighted)
    def _row_highlighted(self, event: ResourceTable.RowHighlighted) -> None:
        if event.table is self.focused:
            self._show_detail_when_still()

    def _show_detail_when_still(self) -> None:
        """A lone move shows its row at once; moves that follow it closely wait until the cursor rests
        (DETAIL_SETTLE_SECONDS), then the row it rests on is shown."""
        now = time.monotonic()
        moving = now < self._detail_busy_until
        self._detail_busy_until = now + DETAIL_SETTLE_SECONDS
        if not moving:
            self._show_detail()
            return
        self._detail_pending = True
        if self._detail_timer is None:
            self._detail_timer = self.set_timer(DETAIL_SETTLE_SECONDS, self._detail_settled, name="detail settle")

    def _detail_settled(self) -> None:
        self._detail_timer = None
        if not self._detail_pending:
            return
        left = self._detail_busy_until - time.monotonic()
        if left > 0:  # moved again meanwhile: one timer per run of keys, not one per key
            self._detail_timer = self.set_timer(left, self._detail_settled, name="detail settle")
            return
        self._show_detail()

    def on_descendant_focus(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        self._detail_pending = False
        panel = self.query_one(DetailPanel)
        focused = self.focused
        store = self.shell.store
        if not isinstance(focused, ResourceTable) or focused.current_key is None:
            panel.show_nothing("" if store.loaded else "loading…" if store.connection_error is None
                               else "not loaded: see the banner above")
            return
        key = focused.current_key
        if focused.id == "infras" and key in store.infras:
            panel.show_infra(store.infras[key], store.deployment_ids_of_infra(key))
        elif focused.id == "services" and key in store.services:
            panel.show_service(store.services[key], store.deployment_ids_of_service(key))
        elif focused.id == "deployments" and key in store.deployments:
            panel.show_deployment(store.deployments[key], store.heavy.get(key), store.health(key))

    # -- what the object actions act on -----------------------------------------------------
    def focused_table(self) -> ResourceTable | None:
        focused = self.focused
        return focused if isinstance(focused, ResourceTable) else None

    def focused_object(self) -> tuple[str, str] | None:
        table = self.focused_table()
        if table is None or table.current_key is None:
            return None
        return PANE_KINDS.get(table.id or "", "deployment"), str(table.current_key)

    def focused_pane(self) -> str | None:
        table = self.focused_table()
        return PANE_KINDS.get(table.id or "") if table is not None else None

    def pane_highlights(self) -> dict[str, str]:
        picks = {"service_id": self.table("services").current_key, "infra_id": self.table("infras").current_key}
        return {k: str(v) for k, v in picks.items() if v is not None}

    def marked_deployments(self) -> list[str]:
        marked = self.shell.updates.marked
        return [d for d in self.shell.store.deployments if d in marked]

    def select_when_listed(self, kind: str, ident: str) -> None:
        self._select_when_listed(kind, ident, self.focused)

    @work(group="object.select-new", exclusive=True, exit_on_error=False)
    async def _select_when_listed(self, kind: str, ident: str, focused_then: object, timeout: float = 10.0) -> None:
        """The refresh runs in the store's worker; wait (bounded) until the new row is there, then select it.

        The pane takes the focus only if the person has not moved it meanwhile: a `2` typed while the list
        reloads must not be undone when the new row shows up."""
        pane = {v: k for k, v in PANE_KINDS.items()}[kind]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            table = self.table(pane)
            if table.select_key(ident):
                if self.focused is focused_then:
                    table.focus()
                return
            await asyncio.sleep(0.1)

    # -- this screen's own actions -----------------------------------------------------------
    def action_back(self) -> None:
        running = self.shell.running_canaries()  # every context's: quitting stops them all
        if running:
            from deployer_tui.ui.screens.canary import quit_unless_canaries  # only when one runs

            quit_unless_canaries(self.app, running, self.app.exit)
            return
        self.app.exit()

    def action_focus_pane(self, name: str) -> None:
        # At once, not in a later callback as Widget.focus() does: keys typed in the same burst ("2 j")
        # are already queued and must reach the pane just chosen.
        self.set_focus(self.table(name))

    def action_narrow(self) -> None:
        table = self.focused_table()
        if table is not None and table.id == "deployments":
            self.action_mark()
            return
        if table is None or table.current_key is None:
            self.notify("Highlight an infra or a service to narrow the deployments to it", severity="warning")
            return
        target = ("infra" if table.id == "infras" else "service", table.current_key)
        self.narrow = None if self.narrow == target else target
        self._refill_deployments()

    def action_widen(self) -> None:
        if self.query_one("#filter", Input).has_class("-active"):
            self._close_filter(clear=True)
            return
        table = self.focused_table()
        if table is not None and table.filter_text:
            self._typing.hold()
            table.set_filter("")
            return
        if self.narrow is not None:
            self.narrow = None
            self._refill_deployments()

    def action_sort(self) -> None:
        table = self.focused_table()
        if table is not None:
            table.cycle_sort()

    def action_sort_reverse(self) -> None:
        table = self.focused_table()
        if table is not None:
            table.reverse_sort()

    @mutating("Roll back")
    def action_rollback(self) -> None:
        from deployer_tui.ui.screens.rollback import open_rollback  # on first use

        open_rollback(self, self._deployment_in_focus())

    def action_fleet(self) -> None:
        from deployer_tui.ui.screens.fleet import open_fleet  # on first use

        open_fleet(self)

    def action_mark_shown(self) -> None:
        self.notify(mark_shown(self.shell.updates, self.table("deployments").visible_keys))

    @mutating("Canary")
    def action_canary(self) -> None:
        from deployer_tui.ui.screens.canary import open_canary  # on first use

        open_canary(self, self._deployment_in_focus())

    def action_mark_out_of_sync(self) -> None:
        store, tracker = self.shell.store, self.shell.updates
        ids = [d for d in store.deployments if store.health(d) == "OUT_OF_SYNC"]
        tracker.marked.update(ids)
        tracker.marks_changed()
        self.notify(f"Marked {len(ids)} OUT_OF_SYNC deployment{'s' if len(ids) != 1 else ''}; u updates them"
                    if ids else "No deployment is OUT_OF_SYNC")

    def _refill_deployments(self) -> None:
        self.table("deployments").set_records(self._deployment_records(self._deployment_ids()))
        self._update_deployments_title()
        self._show_detail()

    def action_filter(self) -> None:
        table = self.focused_table() or self.table("deployments")
        self._filter_target = table
        box = self.query_one("#filter", Input)
        box.border_title = f"filter {table.pane_title}"
        box.value = table.filter_text
        box.add_class("-active")
        # Now, not deferred like `focus()`: keys typed right after `/` must find the box focused
        # (DeployerApp.on_event re-sends them there).
        self.set_focus(box)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._typing.hold()  # no collector pause between keystrokes (see gc_pause)
        if self._filter_target is not None:
            self._filter_target.set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self._close_filter(clear=False)

    def _close_filter(self, clear: bool) -> None:
        self._typing.hold()  # esc re-shows every row: one more keystroke to keep smooth
        box = self.query_one("#filter", Input)
        box.remove_class("-active")
        target = self._filter_target or self.table("deployments")
        if clear:
            target.set_filter("")
        self.set_focus(target)  # at once: the next key of a burst belongs to the table

    def open_current(self) -> None:
        table = self.focused_table()
        if table is None or table.current_key is None:
            return
        kind = {"infras": "infra", "services": "service", "deployments": "deployment"}[table.id or "deployments"]
        self.shell.open_resource(kind, table.current_key)

    @on(ResourceTable.RowSelected)
    def _row_selected(self, event: ResourceTable.RowSelected) -> None:
        event.stop()
        self.open_current()
