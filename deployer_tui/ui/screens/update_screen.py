"""Starting an update and watching it: the confirmation, then progress and the live log.

`UpdateConfirmScreen` summarises what the update will change — the saved settings (what will be deployed)
against what the API nodes serve now (heavy status per-node mapping, else the last update) — and answers
True to go ahead. `UpdateScreen` shows a run of the app's `UpdateTracker`: state, elapsed time, progress
steps, per-node state and the live log. Leaving the screen does not stop the update (the tracker owns it).

`UpdateHistoryScreen` lists a deployment's past updates. The list endpoint confirms only `startTimestamp`,
`type` and `status` per item; `endTimestamp` and `requester` come from the full record, so they are fetched
per row (a few at a time) when the list item lacks them. `enter` opens the update's full log
(`UpdateLogScreen`) in the same `LogView` as live updates — or, for the update this session is still
following, its live progress screen. (The screens open each other, hence one module.)
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Static

from deployer_tui.core import job_follower, readers
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.journal import HistoryRow, Journal, merge_history
from deployer_tui.ui.actions import mutating
from deployer_tui.ui.screens.modals import ConfirmScreen
from deployer_tui.ui.shell import ContextToasts, shell_of
from deployer_tui.ui.state.update_tracker import (
    NOT_REPORTED,
    UpdateFinished,
    UpdateProgressed,
    UpdateRun,
    UpdateTracker,
)
from deployer_tui.ui.view.formatting import Presentation
from deployer_tui.ui.widgets.header_bar import HeaderBar
from deployer_tui.ui.widgets.key_footer import KeyFooter
from deployer_tui.ui.widgets.log_view import LogView

STATE_STYLES = {
    "STARTING": "bold cyan", "RUNNING": "bold cyan", "ABORTING": "bold dark_orange",
    "SUCCESS": "bold green", "WARNING": "bold dark_orange", "FAILED": "bold red", "ABORTED": "bold dark_orange",
    "LOST": "bold red", NOT_REPORTED: "bold dark_orange",
}
_STAMP = re.compile(r"^\[\d{4}/[^\]]*\]\s*")  # the "[2026/06/09-10:13:20.100] " a DSS log line starts with
NODE_MARKS = {"waiting": ("○", "dim"), "working": ("◐", "cyan"), "ok": ("●", "green"), "failed": ("✗", "bold red")}


def duration(seconds: float | None) -> str:
    """12.3s, 2m 03s, 1h 02m; '-' when unknown."""
    if seconds is None or seconds < 0:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


# ---- what an update will change -----------------------------------------------------------------------


def _deployed_by_node(heavy: Any) -> list[tuple[str, bool | None, str]]:
    """(node url, enabled, mapping summary) for each node the heavy status describes; [] when it does not."""
    if not isinstance(heavy, dict) or not isinstance(heavy.get("apiNodes"), list):
        return []
    out = []
    for node in heavy["apiNodes"]:
        if not isinstance(node, dict) or "activeMapping" not in node and "enabled" not in node:
            continue
        enabled = node.get("enabled") if isinstance(node.get("enabled"), bool) else None
        out.append((str(node.get("url") or "?"), enabled, _mapping_short(node.get("activeMapping"))))
    return out


def _mapping_short(mapping: Any) -> str:
    """A node's active mapping; one generation taking all traffic reads as just its name."""
    entries = mapping.get("entries") if isinstance(mapping, dict) else None
    if isinstance(entries, list) and len(entries) == 1 and isinstance(entries[0], dict):
        return str(entries[0].get("generation") or "?")
    return readers.mapping_summary(mapping)


def change_summary(settings: dict, heavy: Any, last_update: Any,
                   url: Callable[[str], str] = lambda u: u, *,
                   never_deployed: bool | None = None) -> list[tuple[str, str, str]]:
    """Rows (what, saved = will be deployed, deployed now) for the confirmation.

    "never deployed" only when the light status says so (`never_deployed`, from `neverEverDeployed`); a
    deployer that reports neither per-node mappings nor the last update of a deployed deployment gets
    "not reported", not a claim."""
    saved_enabled = settings.get("enabled", True) is not False
    saved_mapping = readers.mapping_summary(settings.get("generationsMapping")) or "-"
    nodes = _deployed_by_node(heavy)
    if nodes:
        enabled_now = sorted({"yes" if e else "no" if e is False else "?" for _, e, _ in nodes})
        mappings: dict[str, list[str]] = {}
        for node_url, enabled, mapping in nodes:
            shown = mapping if enabled is not False and mapping else ("disabled" if enabled is False else "nothing")
            mappings.setdefault(shown, []).append(url(node_url))
        if len(mappings) == 1:
            deployed_mapping = f"{next(iter(mappings))} on {len(nodes)} node(s)"
        else:
            deployed_mapping = "; ".join(f"{m} on {', '.join(urls)}" for m, urls in mappings.items())
        deployed_enabled = "/".join(enabled_now)
    elif isinstance(last_update, dict) and last_update:
        deployed_mapping = f"unknown (last update {last_update.get('status', '?')})"
        deployed_enabled = "unknown"
    elif never_deployed:
        deployed_mapping = "never deployed"
        deployed_enabled = "-"
    elif never_deployed is False:
        deployed_mapping = "deployed (the deployer does not report what)"
        deployed_enabled = "not reported"
    else:
        deployed_mapping = "not reported"
        deployed_enabled = "not reported"
    return [
        ("Enabled", "yes" if saved_enabled else "no (the update disables the service on the nodes)", deployed_enabled),
        ("Mapping", saved_mapping if saved_enabled else "-", deployed_mapping),
    ]


class UpdateConfirmScreen(ModalScreen[bool]):
    """Confirmation before `actions/update`, with the saved vs deployed summary (loaded in a worker)."""

    DEFAULT_CSS = """
    UpdateConfirmScreen { align: center middle; }
    UpdateConfirmScreen > Vertical {
        width: 96; max-width: 95%; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    UpdateConfirmScreen #confirm-summary { height: auto; margin: 1 0; }
    UpdateConfirmScreen Horizontal { height: auto; align-horizontal: right; }
    UpdateConfirmScreen Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Update", id="update.confirm.yes"),
        Binding("n,escape", "answer(False)", "Cancel", id="update.confirm.no"),
    ]

    def __init__(self, deployment_id: str, client: Any, presentation: Presentation | None = None) -> None:
        super().__init__()
        self.deployment_id = deployment_id
        self.client = client
        self.presentation = presentation or Presentation()
        self.rows: list[tuple[str, str, str]] | None = None
        self.health: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text.assemble("Update deployment ", (self.deployment_id, "bold"), "?"), id="confirm-title")
            yield Static("Loading what will change…", id="confirm-summary")
            with Horizontal():
                yield Button("Update (y)", id="yes", variant="warning")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()
        self._load()

    @work(exit_on_error=False, group="update-confirm")
    async def _load(self) -> None:
        dep = self.deployment_id

        async def optional(coro) -> Any:
            try:
                return await coro
            except DeployerError as exc:
                return exc

        settings, heavy, light, last = await asyncio.gather(
            optional(self.client.get_deployment_settings(dep)), optional(self.client.get_deployment_status(dep)),
            optional(self.client.get_deployment(dep)), optional(self.client.get_update(dep, None)))
        summary = self.query_one("#confirm-summary", Static)
        if isinstance(settings, DeployerError):
            summary.update(Text(f"Could not read the saved settings: {settings}\n"
                                "The update will deploy whatever is saved on the deployer.", style="bold red"))
            return
        self.rows = change_summary(settings, heavy if not isinstance(heavy, DeployerError) else None,
                                   last if not isinstance(last, DeployerError) else None, self.presentation.url,
                                   never_deployed=readers.never_deployed(light) if isinstance(light, dict) else None)
        if isinstance(heavy, dict):
            self.health = str(heavy.get("health") or "")
        summary.update(self._render_summary(settings, light))

    def _render_summary(self, settings: dict, light: Any) -> Text:
        basic = readers.deployment_basic(light) if isinstance(light, dict) else {}
        infra = settings.get("infraId") or basic.get("infraId") or "?"
        service = settings.get("publishedServiceId") or basic.get("publishedServiceId") or "?"
        text = Text.assemble(("Service ", "dim"), service, ("  infra ", "dim"), infra)
        if self.health:
            text.append("  health now ", "dim")
            text.append(self.health, style="bold dark_orange" if self.health != "HEALTHY" else "bold green")
        text.append("\n\n")
        text.append(f"{'':10}{'saved (will be deployed)':34}deployed now\n", style="bold")
        for what, saved, deployed in self.rows or []:
            changed = saved.split(" ")[0] not in deployed
            text.append(f"{what:10}")
            text.append(f"{saved:34}", style="bold yellow" if changed else "")
            text.append(f"{deployed}\n")
        return text

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


def confirm_abort(screen: Screen, tracker: UpdateTracker, deployment_id: str) -> None:
    """Ask, then ask the server to abort the deployment's running update."""
    run = tracker.get(deployment_id)
    if run is None or not run.running:
        screen.notify("No update is running here.", severity="warning")
        return

    async def abort() -> None:
        if await tracker.abort(deployment_id):
            screen.notify(f"Abort requested for {deployment_id}.")

    def answered(yes: bool | None) -> None:
        if yes:
            screen.app.run_worker(abort(), group="update-abort", exit_on_error=False)

    screen.app.push_screen(ConfirmScreen(
        f"Abort the update of {deployment_id}?\n\nNodes already updated keep the new version; "
        "the others keep the old one."), answered)


# ---- progress ----------------------------------------------------------------------------------------


def progress_text(run: UpdateRun) -> Text:
    """The future's progress states, one per line, with a bar when the target is known."""
    text = Text()
    if not run.running:
        # The last progress seen may predate the end by a poll: the result is the final word.
        if isinstance(run.result, dict) and "nbOKNodes" in run.result:
            text.append(f"Done: {run.result.get('nbOKNodes')} API node(s) OK, "
                        f"{run.result.get('nbNOKNodes', 0)} failed", style="dim")
        elif run.settled is not None and run.settled.evidence in ("none", "record"):
            text.append(settled_text(run.settled), style="dim")
        return text
    if not run.progress:
        text.append("no progress reported yet", style="dim")
        return text
    for state in run.progress:
        name = str(state.get("name") or "working")
        cur, target = state.get("cur") or 0, state.get("target") or 0
        depth = int(state.get("depth") or 0) if isinstance(state.get("depth"), int) else 0
        text.append("  " * depth + name)
        if isinstance(target, (int, float)) and target > 0 and isinstance(cur, (int, float)):
            width = 20
            filled = max(0, min(width, round(width * cur / target)))
            text.append("  ")
            text.append("█" * filled, style="green")
            text.append("░" * (width - filled), style="dim")
            text.append(f" {cur:g}/{target:g}")
        text.append("\n")
    text.rstrip()
    return text


def settled_text(settled: job_follower.Settled) -> str:
    """What the deployer's record and health say of an update whose result told nothing (or nothing more)."""
    status = settled.record.get("status") if isinstance(settled.record, dict) else None
    text = f"last update record: {status}" if status else "no update record"
    return text + (f" · health now {settled.health}" if settled.health else "")


def nodes_text(run: UpdateRun, url: Callable[[str], str] = lambda u: u) -> Text:
    """Per-node state when the deployer's log reports it; else one line saying so (never "waiting" for
    nodes a deployer says nothing about)."""
    text = Text()
    if not run.nodes_reported:
        if run.running and not run.lines:
            text.append("per-node progress: none reported yet", style="dim")
        else:
            text.append(job_follower.NO_NODE_PROGRESS, style="dim")
        return text
    for node in run.nodes.values():
        mark, style = NODE_MARKS.get(node.state, ("?", ""))
        text.append(f"{mark} ", style=style)
        text.append(f"{url(node.url)}  ")
        text.append(f"{node.state:8}", style=style)
        if node.message:
            text.append(f"  {node.message}", style="dim" if node.state != "failed" else "red")
        text.append("\n")
    text.rstrip()
    return text


def head_text(deployment_id: str, run: UpdateRun | None, now: float) -> Text:
    """The update screen's first line. Separators end the span before them rather than start the next:
    a reader that trims each span's leading blanks (some SVG and screen-text readers do) still sees words
    apart, not "SUCCESSelapsed"."""
    head = Text()
    head.append("Update ", "dim")
    if run is None:
        head.append(f"{deployment_id}  ", "bold")
        head.append("no update started from this session", "dim")
        return head
    head.append(f"{deployment_id}  ", "bold")
    head.append(f"{run.state_text}  ", STATE_STYLES.get(run.state, "bold"))
    head.append("elapsed ", "dim")
    head.append(duration(run.elapsed_seconds(now)) + ("  " if run.job_id else ""))
    if run.job_id:
        head.append("job ", "dim")
        head.append(run.job_id)
    return head


class UpdateBaseScreen(ContextToasts, Screen):
    """What the update screens share: back, the presentation, j/k on their table, `e` in their log."""

    _presentation: Presentation | None = None
    deployment_id: str | None = None  # the deployment shown (UpdatesScreen: the highlighted one)

    @property
    def presentation(self) -> Presentation:
        return self._presentation or shell_of(self).presentation

    def guarded_object(self, action: str) -> str | None:
        """What a production context asks to type before a change here (ui/production_guard.py)."""
        return self.deployment_id

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    def cursor_row_key(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_first_error(self) -> None:
        if self.log_view.jump_to_first("error") is None:
            self.notify("No error line in this log.", severity="information")

    def action_cursor_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()


class UpdateScreen(UpdateBaseScreen):
    """Live progress of one deployment's update (the tracker's latest run for it)."""

    DEFAULT_CSS = """
    UpdateScreen #update-head { height: 1; padding: 0 1; background: $panel; }
    UpdateScreen #update-progress { height: auto; max-height: 6; padding: 0 1; }
    UpdateScreen #update-nodes { height: auto; max-height: 10; padding: 0 1; border-top: hkey $primary 30%; }
    UpdateScreen #update-hint { height: auto; padding: 0 1; color: $text-warning; }
    UpdateScreen LogView { border-top: hkey $primary 30%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back (keeps running)", id="update.back"),
        Binding("x", "abort", "Abort", id="update.abort", tooltip="Abort the running update shown (asks first)"),
        Binding("e", "first_error", "First error", id="update.first_error"),
        Binding("h", "history", "History", id="update.history"),
    ]

    def __init__(self, deployment_id: str, tracker: UpdateTracker | None = None, *,
                 presentation: Presentation | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.deployment_id = deployment_id
        self._tracker = tracker
        self._presentation = presentation
        self.clock = clock
        self._shown_run: UpdateRun | None = None

    @property
    def tracker(self) -> UpdateTracker:
        return self._tracker or shell_of(self).updates

    @property
    def run(self) -> UpdateRun | None:
        return self.tracker.get(self.deployment_id)

    def compose(self) -> ComposeResult:
        yield HeaderBar(crumb=f"update {self.deployment_id}")
        yield Static("", id="update-head")
        yield Static("", id="update-progress")
        yield Static("", id="update-nodes")
        yield Static("", id="update-hint")
        yield LogView(name=f"update-{self.deployment_id}", id="update-log")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.tracker.subscribe(self)
        self._show(self.run)
        self.set_interval(0.5, self._tick)
        self.log_view.lines_widget.focus()

    def on_unmount(self) -> None:
        self.tracker.unsubscribe(self)

    def _show(self, run: UpdateRun | None) -> None:
        """(Re)load a run: its lines so far, then the rest arrives through messages."""
        self._shown_run = run
        if run is not None:
            self.log_view.set_lines(list(run.lines))
        self._refresh_panels()

    def _tick(self) -> None:
        run = self.run
        if run is not None and run.running:
            self._refresh_head()

    def _refresh_head(self) -> None:
        run = self.run
        self.query_one("#update-head", Static).update(head_text(self.deployment_id, run, self.clock()))

    def _refresh_panels(self) -> None:
        self._refresh_head()
        run = self.run
        url = self.presentation.url
        self.query_one("#update-progress", Static).update(progress_text(run) if run else "")
        self.query_one("#update-nodes", Static).update(nodes_text(run, url) if run else "")
        hint = ""
        if run is not None and not run.running:
            if run.state in ("FAILED", "WARNING", "LOST"):
                hint = f"{run.summary()}  — e: jump to the first error line"
            elif run.state == "ABORTED":
                hint = "Aborted: nodes may be left between the old and the new state."
            elif run.state == NOT_REPORTED:
                hint = (f"{run.summary()}  — the deployer's result says neither success nor failure: "
                        "check the health and the history (h)")
        self.query_one("#update-hint", Static).update(escape(hint))
        self.log_view.set_complete(run is not None and not run.running)
        self.refresh_bindings()  # x Abort only while there is something to abort

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "abort":
            run = self.run
            return run is not None and run.running
        return True

    @on(UpdateProgressed)
    def _progressed(self, message: UpdateProgressed) -> None:
        if message.run.deployment_id != self.deployment_id:
            return
        if message.run is not self._shown_run:
            self._show(message.run)  # a new run of the same deployment started
            return
        if message.new_lines:
            self.log_view.write_lines(message.new_lines)
        self._refresh_panels()

    @on(UpdateFinished)
    def _finished(self, message: UpdateFinished) -> None:
        if message.run.deployment_id != self.deployment_id:
            return
        self._refresh_panels()
        if message.run.state in ("FAILED", "WARNING"):
            self.log_view.jump_to_first("error")

    # ---- actions ---------------------------------------------------------------------------------

    @mutating("Abort update")
    def action_abort(self) -> None:
        """`x`: confirm, then abort."""
        confirm_abort(self, self.tracker, self.deployment_id)

    def action_history(self) -> None:
        self.app.push_screen(UpdateHistoryScreen(self.deployment_id, self.tracker.client,
                                                 presentation=self.presentation, tracker=self.tracker))


class UpdatesScreen(UpdateBaseScreen):
    """Every update started in this session (bulk updates included), each with its own progress."""

    DEFAULT_CSS = """
    UpdatesScreen #updates-title { height: 1; padding: 0 1; background: $panel; }
    UpdatesScreen DataTable { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back (updates keep running)", id="updates.back"),
        Binding("x", "abort", "Abort", id="updates.abort", tooltip="Abort the highlighted running update (asks first)"),
        Binding("j", "cursor_down", "Down", show=False, id="updates.down"),
        Binding("k", "cursor_up", "Up", show=False, id="updates.up"),
    ]
    COLUMNS = (("deployment", "Deployment"), ("state", "State"), ("progress", "Progress"), ("nodes", "Nodes"),
               ("elapsed", "Elapsed"), ("last", "Last line"))

    def __init__(self, tracker: UpdateTracker | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._tracker = tracker
        self.clock = clock

    @property
    def tracker(self) -> UpdateTracker:
        return self._tracker or shell_of(self).updates

    def compose(self) -> ComposeResult:
        yield HeaderBar(crumb="updates")
        yield Static(Text.assemble(("Updates of this session", "bold"),
                                   ("   enter: progress and log · x: abort", "dim")), id="updates-title")
        table: DataTable = DataTable(cursor_type="row")
        for key, label in self.COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield KeyFooter()

    def on_mount(self) -> None:
        self.tracker.subscribe(self)
        self._fill()
        self.set_interval(0.5, self._fill)
        self.query_one(DataTable).focus()

    def on_unmount(self) -> None:
        self.tracker.unsubscribe(self)

    def row(self, run: UpdateRun) -> tuple:
        done = sum(1 for n in run.nodes.values() if n.state == "ok")
        failed = sum(1 for n in run.nodes.values() if n.state == "failed")
        nodes = f"{done} ok" + (f", {failed} failed" if failed else "") + f" / {len(run.nodes)}" \
            if run.nodes and run.nodes_reported else "not reported" if not run.running else "-"
        progress = "-"
        for state in run.progress[:1] if run.running else []:
            cur, target = state.get("cur") or 0, state.get("target") or 0
            progress = f"{cur:g}/{target:g}" if isinstance(target, (int, float)) and target else str(state.get("name"))
        if not run.running:
            # The last progress peeked may predate the end by a poll: a finished run is done, whatever it said.
            progress = "done" if run.state not in ("LOST", "ABORTED") else "ended"
        last = _STAMP.sub("", run.lines[-1]) if run.lines else ""
        return (run.deployment_id, Text(run.state_text, style=STATE_STYLES.get(run.state, "")), progress, nodes,
                duration(run.elapsed_seconds(self.clock())), last[:70])

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        runs = sorted(self.tracker.runs.values(), key=lambda r: r.started_at)
        for run in runs:
            values = self.row(run)
            if run.deployment_id in table.rows:
                for (column, _), value in zip(self.COLUMNS, values, strict=True):
                    table.update_cell(run.deployment_id, column, value, update_width=True)
            else:
                table.add_row(*values, key=run.deployment_id)

    @on(UpdateProgressed)
    @on(UpdateFinished)
    def _changed(self) -> None:
        self._fill()

    @property
    def deployment_id(self) -> str | None:
        return self.cursor_row_key()

    @mutating("Abort update")
    def action_abort(self) -> None:
        deployment = self.deployment_id
        if deployment is not None:
            confirm_abort(self, self.tracker, deployment)

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(UpdateScreen(str(event.row_key.value), self.tracker))


# ---- a deployment's update history and the full log of one past update ----------------------------

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
    """A deployment's past updates, merged with the console's journal (core/journal.py `merge_history`):
    what each deployed (the record's `deployedMapping`, else the journal's), its kind, who, when, how long,
    the outcome, and whether only the journal knows it. `enter` offers the log or "redeploy this" (a
    rollback to that row's mapping, ui/screens/rollback.py); `r` redeploys the highlighted row at once."""

    DEFAULT_CSS = """
    UpdateHistoryScreen #history-title { height: 1; padding: 0 1; background: $panel; }
    UpdateHistoryScreen DataTable { height: 1fr; }
    UpdateHistoryScreen #history-empty { padding: 1 2; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", id="history.back"),
        Binding("r", "redeploy", "Redeploy this", id="history.redeploy",
                tooltip="Roll the deployment back (or forward) to what the highlighted update deployed"),
        Binding("ctrl+r", "reload", "Reload", id="history.reload"),
        Binding("j", "cursor_down", "Down", show=False, id="history.down"),
        Binding("k", "cursor_up", "Up", show=False, id="history.up"),
    ]
    COLUMNS = (("start", "Start"), ("deployed", "Deployed"), ("kind", "Kind"), ("requester", "Requester"),
               ("duration", "Duration"), ("status", "Status"), ("source", "Known from"))

    def __init__(self, deployment_id: str, client: Any, *, presentation: Presentation | None = None,
                 tracker: UpdateTracker | None = None, journal: Journal | None = None) -> None:
        super().__init__()
        self.deployment_id = deployment_id
        self.client = client
        self._presentation = presentation
        self.tracker = tracker
        self.journal = journal
        self.rows: dict[str, HistoryRow] = {}
        self.items: dict[str, dict] = {}  # the deployer's record of each row it lists
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield HeaderBar(crumb=f"update history {self.deployment_id}")
        yield Static(Text.assemble(("Update history of ", "dim"), (self.deployment_id, "bold"),
                                   ("   enter: log or redeploy · r: redeploy this", "dim")), id="history-title")
        table: DataTable = DataTable(cursor_type="row", zebra_stripes=True)
        for key, label in self.COLUMNS:
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

    def on_screen_resume(self) -> None:
        if self.loaded:
            self._load()  # back from a redeploy: its record is new

    def row_cells(self, row: HistoryRow) -> tuple:
        took = duration(row.duration_ms / 1000) if row.duration_ms is not None else (
            "running" if row.outcome == "RUNNING" else "-")
        deployed = readers.mapping_summary(row.mapping) or "unknown"
        enabled = row.record.get("deployedEnabled")
        if enabled is False:
            deployed = "disabled"
        source = Text("journal only", style="bold dark_orange") if row.journal_only else (
            Text("deployer + journal", style="dim") if row.in_journal else Text("deployer", style="dim"))
        kind_word = row.kind
        if kind_word == "update" and str(row.record.get("type") or "UPDATE").upper() != "UPDATE":
            kind_word = str(row.record["type"]).lower()  # a DELETE record, say
        kind = Text(kind_word, style="bold magenta" if kind_word in ("rollback", "rollforward") else "")
        return (self.presentation.timestamp(row.start), deployed, kind, row.requester or "-", took,
                Text(row.outcome, style=STATE_STYLES.get(row.outcome, "")), source)

    def _journal(self) -> Journal:
        return self.journal if self.journal is not None else Journal(self.client.url)

    @work(exclusive=True, group="history-load", exit_on_error=False)
    async def _load(self) -> None:
        empty = self.query_one("#history-empty", Static)
        journal = self._journal()
        try:
            history = merge_history(await self.client.list_updates(self.deployment_id),
                                    journal.records(self.deployment_id))
        except DeployerError as exc:
            kept = journal.records(self.deployment_id) if exc.status in (404, 405) else []
            if not kept:
                empty.update(Text(f"Could not load the history: {exc}", style="bold red"))
                return
            history = merge_history([], kept)  # a deployer that keeps no update list: the journal's
        table = self.query_one(DataTable)
        cursor_key = self.cursor_row_key()
        table.clear()
        self.rows, self.items = {}, {}
        for row in history:
            key = str(row.start)
            if key in self.rows:
                continue
            self.rows[key] = row
            if row.record:
                self.items[key] = row.record
            table.add_row(*self.row_cells(row), key=key)
        if cursor_key in self.rows:
            table.move_cursor(row=table.get_row_index(cursor_key))
        empty.update("" if history else "No update yet: press u on the deployment to run one.")
        self.loaded = True
        missing = [r for r in self.rows.values() if not r.journal_only and
                   (not r.requester or (r.end is None and r.outcome != "RUNNING"))]
        if missing:
            await self._fill_details(missing)

    async def _fill_details(self, rows: list[HistoryRow]) -> None:
        """Full records for rows whose list item lacks end / requester / mapping (DSS list items may)."""
        limit = asyncio.Semaphore(DETAIL_CONCURRENCY)
        table = self.query_one(DataTable)

        async def one(row: HistoryRow) -> None:
            async with limit:
                try:
                    full = await self.client.get_update(self.deployment_id, row.start)
                except DeployerError:
                    return
            key = str(row.start)
            record = {**row.record, **{k: v for k, v in full.items() if k != "logs"}}
            row.record = record
            self.items[key] = record
            row.requester = row.requester or (str(record["requester"]) if record.get("requester") else None)
            if row.end is None and _ms(record.get("endTimestamp")):
                row.end = _ms(record.get("endTimestamp"))
            if row.mapping is None and isinstance(record.get("deployedMapping"), dict):
                row.mapping = record["deployedMapping"]
            for (column, _), value in zip(self.COLUMNS, self.row_cells(row), strict=True):
                table.update_cell(key, column, value, update_width=True)

        await asyncio.gather(*(one(r) for r in rows))

    def highlighted(self) -> HistoryRow | None:
        key = self.cursor_row_key()
        return self.rows.get(key) if key is not None else None

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        from deployer_tui.ui.screens.rollback import HistoryChoiceScreen  # on first use

        key = str(event.row_key.value)
        row = self.rows.get(key)
        if row is None:
            return
        if row.outcome == "RUNNING" and not row.journal_only and self.tracker is not None:
            self._open_running(int(key))
            return

        def chosen(choice: str | None) -> None:
            if choice == "log":
                self._open_log(int(key))
            elif choice == "redeploy":
                self.call_later(self.run_action, "redeploy")  # through the app: read-only refuses it

        self.app.push_screen(HistoryChoiceScreen(row, has_log=not row.journal_only), chosen)

    @mutating("Redeploy this")
    def action_redeploy(self) -> None:
        from deployer_tui.ui.screens.rollback import RollbackScreen  # on first use

        row = self.highlighted()
        if row is None:
            return
        if row.mapping is None:
            self.notify("Neither the deployer nor this console's journal says what this update deployed",
                        severity="warning")
            return
        self.app.push_screen(RollbackScreen(self.deployment_id, self.client, target=row.mapping, source=row,
                                            presentation=self._presentation))

    def _open_log(self, start_timestamp: int) -> None:
        self.app.push_screen(UpdateLogScreen(self.deployment_id, start_timestamp, self.client,
                                             presentation=self.presentation))

    @work(exclusive=True, group="history-open", exit_on_error=False)
    async def _open_running(self, start_timestamp: int) -> None:
        """A running update opens live: this session's run, or the server's job followed from now on."""
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
        self.log_view.set_complete(str(record.get("status") or "").upper() != "RUNNING")
        # A past log is read from the top; a failed one opens at its first error.
        self.log_view.flush_now()
        if str(record.get("status")) in ("FAILED", "WARNING") and self.log_view.jump_to_first("error") is not None:
            return
        self.log_view.action_top()
