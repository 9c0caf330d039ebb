"""`C` — a staged canary of a deployment: the form (version, steps, strategy, soak, guards, probe rate), the
live screen (steps, per-version figures and latency sparklines, guards, the probes' source, the update log;
pause, promote now, abort-and-revert, each asked first), and the start-up offer for a canary a console left
half-way (resume or revert).

The plan, its checks and the run are core/canary.py's (`CanaryPlan.validate`, `plan_canary`, `run_canary`):
the same as the headless `deployer-tui canary`. The run belongs to the app's `CanaryTracker`
(ui/state/canary_tracker.py), so leaving the live screen does not stop it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Checkbox, Input, Label, Select, Sparkline, Static

from deployer_tui.core import canary_options as options
from deployer_tui.core import readers
from deployer_tui.core.canary import (
    GUARD_ANSWERS,
    STRATEGIES,
    CanaryError,
    CanaryPlan,
    CanaryProgress,
    GuardReading,
    Guards,
    VersionStats,
    plan_canary,
)
from deployer_tui.core.canary_state import CanaryRecord
from deployer_tui.core.errors import DeployerError
from deployer_tui.ui.actions import mutating
from deployer_tui.ui.screens.create_forms import ActionModal, error_text
from deployer_tui.ui.screens.modals import ConfirmScreen
from deployer_tui.ui.shell import context_view, shell_of
from deployer_tui.ui.state.canary_tracker import (
    CanaryFinished,
    CanaryProgressed,
    CanaryRun,
    CanaryTracker,
    outcome_text,
)
from deployer_tui.ui.view.formatting import Presentation
from deployer_tui.ui.widgets.header_bar import HeaderBar
from deployer_tui.ui.widgets.key_footer import KeyFooter
from deployer_tui.ui.widgets.log_view import LogView

# (field, label, default, hint) of the form's text fields, in order.
TEXT_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("steps", "Steps (% to the new version)", "10,50,100", "strictly increasing, ending at 100"),
    ("soak", "Soak per step", "60s", "e.g. 30s, 2m, 0.5s"),
    ("error_rate", "Max error rate (%)", "1", "of the new version's probes"),
    ("latency_ratio", "Max p95 latency ratio", "1.5", "new p95 / old p95"),
    ("latency_delta", "Latency jitter floor (ms)", "5", "a p95 this close to the old one is no breach"),
    ("probe_rate", "Probe rate (queries/s)", "10", "all versions together"),
)


PARSERS: dict[str, Callable[[str], Any]] = {
    "steps": options.parse_steps, "soak": options.parse_duration, "error_rate": options.parse_percent,
    "latency_ratio": options.parse_ratio, "latency_delta": options.parse_delta_ms, "probe_rate": options.parse_rate,
}


def plan_kwargs(values: dict[str, Any], match_answers: bool) -> dict[str, Any]:
    """The form's values as plan_canary's keyword arguments."""
    defaults = Guards()
    guards = Guards(max_error_rate=values.get("error_rate", defaults.max_error_rate),
                    max_latency_ratio=values.get("latency_ratio", defaults.max_latency_ratio),
                    min_latency_delta_ms=values.get("latency_delta", defaults.min_latency_delta_ms),
                    match_answers=match_answers, min_requests=defaults.min_requests)
    kwargs: dict[str, Any] = {"guards": guards}
    for key, name in (("steps", "steps"), ("strategy", "strategy"), ("soak", "soak_s"), ("probe_rate", "probe_rate")):
        if key in values:
            kwargs[name] = values[key]
    return kwargs


def field_errors(deployment_id: str, target: str | None, raw: dict[str, str], strategy: str,
                 match_answers: bool) -> tuple[dict[str, Any], dict[str, str], str]:
    """(values, an error per field, an error of the whole) for what the form holds. Each field is checked by
    CanaryPlan.validate alone (every other field at its default), so a sentence lands beside its field."""
    values: dict[str, Any] = {"strategy": strategy}
    errors: dict[str, str] = {}
    if not target:
        errors["version"] = "pick the version to roll out"
    for key, text in raw.items():
        try:
            values[key] = PARSERS[key](text)
        except ValueError as exc:
            errors[key] = str(exc)
    for key in [k for k in values if k not in errors]:
        plan = CanaryPlan(deployment_id, target or "-", **plan_kwargs({key: values[key]}, match_answers))
        try:
            plan.validate()
        except CanaryError as exc:
            errors[key] = str(exc)
    whole = ""
    if not errors:
        try:
            CanaryPlan(deployment_id, target or "-", **plan_kwargs(values, match_answers)).validate()
        except CanaryError as exc:
            whole = str(exc)
    return values, errors, whole


def lone_version(mapping: Any) -> str | None:
    """The version a mapping sends all traffic to, if it sends it to one only."""
    if not isinstance(mapping, dict):
        return None
    if mapping.get("generation") and not mapping.get("entries"):
        return str(mapping["generation"])
    entries = [e for e in mapping.get("entries") or [] if isinstance(e, dict) and e.get("generation")]
    return str(entries[0]["generation"]) if len(entries) == 1 else None


def candidate_versions(light: dict) -> list[str]:
    """The deployment's service versions a canary can go to, newest first: not the one alone in the mapping."""
    alone = lone_version(readers.deployment_basic(light).get("generationsMapping"))
    packages = [p for p in light.get("packages") or [] if isinstance(p, dict) and p.get("id")]
    ordered = sorted(packages, key=lambda p: p.get("publishedOn") or 0, reverse=True)
    return [str(p["id"]) for p in ordered if str(p["id"]) != alone]


# ---- the form -----------------------------------------------------------------------------------------

class CanaryFormScreen(ActionModal[CanaryPlan]):
    """What to roll out and how; dismisses with the plan read from the deployer (None when cancelled)."""

    DEFAULT_CSS = """
    CanaryFormScreen .cn-row { height: auto; margin-top: 1; }
    CanaryFormScreen .cn-row > Label { width: 30; color: $text-muted; }
    CanaryFormScreen .cn-row > Input { width: 16; }
    CanaryFormScreen .cn-row > Select { width: 30; }
    CanaryFormScreen #cn-version-wait { width: 30; }
    CanaryFormScreen .cn-row > .cn-error { width: 1fr; padding: 0 0 0 2; color: $error; }
    CanaryFormScreen .cn-row > .cn-hint { width: 1fr; padding: 0 0 0 2; color: $text-muted; }
    CanaryFormScreen #cn-match { margin: 1 0 0 0; }
    CanaryFormScreen #cn-type { display: none; margin-top: 1; width: 50; }
    CanaryFormScreen #cn-type.-shown { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "start", "Start", id="canary.form.start", priority=True,
                tooltip="Check the form, read the deployment, start the canary"),
        # Priority: the focus moves as the key arrives, so text typed right after tab in one burst goes
        # to the next field (a non-priority tab runs only once it came back up from the field it leaves,
        # after that field took the text).
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True, id="canary.form.next"),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True,
                id="canary.form.previous"),
    ]
    AUTO_FOCUS = "Select, Input"

    def __init__(self, client: Any, deployment_id: str) -> None:
        super().__init__(client)
        self.deployment_id = deployment_id
        self.versions: list[str] = []
        self.current = ""
        self.loaded = False
        self.plan: CanaryPlan | None = None  # read from the deployer, waiting for the typed id (production)
        self.errors: dict[str, str] = {}
        self._focus_moves = 0

    def form_title(self) -> str:
        return f"Canary of {self.deployment_id}"

    def compose_body(self) -> ComposeResult:
        yield Static(Text("Reading the deployment…", style="dim"), id="cn-current", classes="hint")
        with Horizontal(classes="cn-row", id="cn-version-row"):
            yield Label("New version")
            # The version picker is mounted once the versions are read: a Select with no blank choice needs them.
            yield Static(Text("loading versions…", style="dim"), id="cn-version-wait")
            yield Static("", id="cn-version-error", classes="cn-error")
        with Horizontal(classes="cn-row"):
            yield Label("Strategy")
            yield Select([(s, s) for s in STRATEGIES], value="HASH_BASED", allow_blank=False, id="cn-strategy", compact=True)
            yield Static("", id="cn-strategy-error", classes="cn-error")
        for key, label, default, hint in TEXT_FIELDS:
            with Horizontal(classes="cn-row"):
                yield Label(label)
                yield Input(default, id=f"cn-{key}", compact=True)
                yield Static(hint, id=f"cn-{key}-error", classes="cn-hint")
        yield Checkbox("Answers must match the old version's on the stored test queries", id="cn-match", compact=True)
        yield Input(placeholder="type the deployment id, then enter", id="cn-type", disabled=True, compact=True)

    def compose_buttons(self) -> ComposeResult:
        yield Button("Start canary (ctrl+s)", variant="primary", id="submit")
        yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.load()

    def on_descendant_focus(self) -> None:
        # Counted, so the version picker mounted later takes the focus only if the user has not moved it.
        self._focus_moves += 1

    @work(exclusive=True, group="canary-form-load", exit_on_error=False)
    async def load(self) -> None:
        try:
            light = await self.client.get_deployment(self.deployment_id)
        except DeployerError as exc:
            self.query_one("#cn-current", Static).update(Text(f"Could not read {self.deployment_id}: "
                                                              f"{error_text(exc)}", style="red"))
            return
        mapping = readers.deployment_basic(light).get("generationsMapping")
        self.current = readers.mapping_summary(mapping) or "-"
        self.versions = candidate_versions(light)
        wait = self.query_one("#cn-version-wait", Static)
        if self.versions:
            select = Select([(v, v) for v in self.versions], value=self.versions[0], allow_blank=False,
                            id="cn-version", compact=True)
            await self.query_one("#cn-version-row", Horizontal).mount(select, before=wait)
            await wait.remove()
            if self._focus_moves <= 1:  # the form's own first focus: the user has not moved on yet
                select.focus()
            self.query_one("#cn-current", Static).update(Text.assemble(
                ("now: ", "dim"), (self.current, "bold"),
                ("   the new version takes each step's share of the traffic; a guard breached puts the "
                 "mapping back at once", "dim")))
        else:
            wait.update(Text("no other version", style="dark_orange"))
            self.query_one("#cn-current", Static).update(Text(
                f"now: {self.current}. The service has no other version to roll out: import one first (i).",
                style="dark_orange"))
        self.loaded = True

    # -- reading and checking ----------------------------------------------------------------------
    def _target(self) -> str | None:
        found = self.query("#cn-version").results(Select)
        select = next(iter(found), None)
        return None if select is None or select.is_blank() else str(select.value)

    def _strategy(self) -> str:
        select = self.query_one("#cn-strategy", Select)
        return "HASH_BASED" if select.is_blank() else str(select.value)

    def _raw(self) -> dict[str, str]:
        return {key: self.query_one(f"#cn-{key}", Input).value for key, *_ in TEXT_FIELDS}

    def _show_errors(self, errors: dict[str, str]) -> None:
        self.errors = errors
        for key in ("version", "strategy"):
            self.query_one(f"#cn-{key}-error", Static).update(Text(errors.get(key, "")))
        for key, _label, _default, hint in TEXT_FIELDS:
            note = self.query_one(f"#cn-{key}-error", Static)
            note.update(Text(errors[key]) if key in errors else Text(hint))
            note.set_class(key in errors, "cn-error")
            note.set_class(key not in errors, "cn-hint")

    def check(self) -> dict[str, Any] | None:
        """The plan's keyword arguments when every field is right; else the errors are shown beside their
        fields (what was typed stays) and None."""
        values, errors, whole = field_errors(self.deployment_id, self._target(), self._raw(), self._strategy(),
                                             self.query_one("#cn-match", Checkbox).value)
        self._show_errors(errors)
        if errors or whole:
            self.show_error(whole or "Some fields need a change (said beside them)")
            return None
        self.clear_error()
        return plan_kwargs(values, self.query_one("#cn-match", Checkbox).value)

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _edited(self, event: Input.Changed | Select.Changed | Checkbox.Changed) -> None:
        if isinstance(event, Input.Changed) and event.input.id == "cn-type":
            return
        if self.plan is not None:
            # The plan read from the deployer no longer says what the form does: read it again on start.
            self.plan = None
            box = self.query_one("#cn-type", Input)
            box.remove_class("-shown")
            box.disabled = True
            self.clear_error()

    # -- starting ----------------------------------------------------------------------------------
    @on(Button.Pressed, "#submit")
    def action_start(self) -> None:
        if not self.loaded:
            self.show_error("Still reading the deployment…")
            return
        kwargs = self.check()
        if kwargs is None:
            return
        target = self._target()
        assert target is not None
        self.read_plan(target, kwargs)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "cn-type":
            self._typed(event.value)
        else:
            self.action_start()

    @work(exclusive=True, group="canary-form-plan", exit_on_error=False)
    async def read_plan(self, target: str, kwargs: dict[str, Any]) -> None:
        self.set_busy(True)
        try:
            plan = await plan_canary(self.client, self.deployment_id, target, **kwargs)
        except CanaryError as exc:
            self.show_error(str(exc))
            return
        except DeployerError as exc:
            self.show_error(error_text(exc))
            return
        finally:
            self.set_busy(False)
        view = context_view(self)
        # Not twice: the id typed for `C` in a production context (ui/production_guard.py) counts.
        if plan.production and not (view is not None and view.typed_confirmation(self.deployment_id)):
            self.plan = plan
            self.show_error(f"Production ({plan.stage}): type {self.deployment_id} and press enter to start; "
                            "esc cancels.")
            box = self.query_one("#cn-type", Input)
            box.disabled = False
            box.add_class("-shown")
            box.focus()
            return
        self.dismiss(plan)

    def _typed(self, value: str) -> None:
        if self.plan is None:
            return
        if value.strip() != self.deployment_id:
            self.notify(f"Type {self.deployment_id} exactly to confirm", severity="warning")
            return
        self.dismiss(self.plan)


# ---- the live screen ----------------------------------------------------------------------------------

STEP_MARKS = {"pending": ("○", "dim"), "saving": ("◐", "cyan"), "updating": ("◐", "cyan"), "soaking": ("◐", "cyan"),
              "passed": ("✓", "green"), "failed": ("✗", "bold red"), "skipped": ("–", "dim")}
OUTCOME_STYLES = {"PROMOTED": "bold green", "REVERTED": "bold dark_orange", "ABORTED": "bold dark_orange",
                  "FAILED": "bold red"}
NOT_REPORTED = "not reported"


def _ms(value: float | None) -> str:
    return f"{value:.1f} ms" if value is not None else NOT_REPORTED


def _rate(value: float | None) -> str:
    return f"{value * 100:.1f} %" if value is not None else NOT_REPORTED


def head_text(run: CanaryRun) -> Text:
    plan = run.plan
    previous = readers.mapping_summary(plan.previous) or "-"
    text = Text.assemble(("Canary ", "bold"), (plan.deployment_id, "bold"), "  ", (previous, ""), (" → ", "dim"),
                         (plan.target, "bold yellow"),
                         (f"   {plan.strategy}, soak {plan.soak_s:g}s a step, probes ≤ {plan.probe_rate:g}/s", "dim"))
    if run.kind != "canary":
        text.append(f"   ({'resumed' if run.kind == 'resume' else 'reverting a canary left half-way'})",
                    style="bold magenta")
    if plan.production:
        text.append("   (production)", style="bold red")
    return text


def steps_text(progress: CanaryProgress | None, plan: CanaryPlan) -> Text:
    text = Text("steps  ", style="bold")
    if progress is None:
        for percent in plan.steps:
            text.append(f"○ {percent} %   ", style="dim")
        return text
    for i, step in enumerate(progress.steps):
        mark, style = STEP_MARKS.get(step.state, ("?", ""))
        current = i == progress.step_index and progress.phase != "done"
        text.append(f"{mark} {step.percent} % {step.state}", style=f"{style} bold" if current else style)
        if current and step.state == "soaking" and progress.soak_left_s is not None:
            text.append(f" ({progress.soak_left_s:.0f}s left)", style="cyan")
        if step.note:
            text.append(f" — {step.note}", style="dim")
        text.append("   ")
    return text


def _cell_ms(value: float | None) -> str:
    return f"{value:.1f} ms" if value is not None else "-"


def _cell_rate(value: float | None) -> str:
    return f"{value * 100:.1f} %" if value is not None else "-"


def version_line(stats: VersionStats, role: str) -> Text:
    """One version's figures, in fixed columns (the header is VERSION_HEADER; "-": nothing to tell yet); its
    sparkline and the figures' source follow on the row. The answers no version was named for have a row of
    their own (NOT_REPORTED, no role), so that the table adds up to what the guards judge."""
    errors_style = "bold red" if stats.errors else ""
    name_style = "bold yellow" if role == "new" else "dim" if not role else "bold"
    return Text.assemble(
        (f"{stats.version:<12.12}", name_style), (f"{role:<4}", "dim"),
        f"{stats.requests:>9}", (f"{stats.errors:>7}", errors_style), f"{_cell_rate(stats.error_rate):>9}",
        f"{_cell_ms(stats.p50):>10}", f"{_cell_ms(stats.p95):>10}")


# The figures take 61 columns, the sparkline 12 and its margins 2: 75, within an 80-column terminal's
# 78 (the rows' padding aside); the source column shows from 100 columns on (the probes line names it).
SPARK_WIDTH = 12
FIGURES_WIDTH = 61
WIDE_ENOUGH_FOR_SOURCE = 100
VERSION_HEADER_NARROW = Text(f"{'version':<12}{'':<4}{'requests':>9}{'errors':>7}{'err rate':>9}{'p50':>10}"
                             f"{'p95':>10} {'this step':<{SPARK_WIDTH}}", style="bold")
VERSION_HEADER = VERSION_HEADER_NARROW + Text(" source", style="bold")


def guards_table(progress: CanaryProgress | None) -> Table:
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    for column in ("guard", "threshold", "now", ""):
        table.add_column(column)
    for guard in progress.guards if progress is not None else []:
        value = Text(guard.value) if guard.value is not None else Text(NOT_REPORTED, style="dim")
        table.add_row(guard.name, guard.threshold, value, guard_verdict(guard, progress))
    return table


def guard_verdict(guard: GuardReading, progress: CanaryProgress) -> Text:
    """✓ / ✗ once judged; else why not: a guard switched off is never judged, and an ended canary waits no more."""
    if guard.ok is not None:
        return Text("✓ ok", style="green") if guard.ok else Text("✗ breached", style="bold red")
    if guard.name == GUARD_ANSWERS and not progress.plan.guards.match_answers:
        return Text("not judged (off)", style="dim")
    if progress.phase == "done":
        return Text("not judged", style="dim")
    return Text("waiting for enough probes", style="dim")


class VersionRow(Horizontal):
    """One version's figures and the sparkline of this step's probe latencies."""

    DEFAULT_CSS = """
    VersionRow { height: 1; }
    VersionRow > .figures { width: 61; }
    VersionRow > Sparkline { width: 12; margin: 0 1; }
    VersionRow > .source { width: 1fr; color: $text-muted; }
    """  # as wide as FIGURES_WIDTH and SPARK_WIDTH

    def __init__(self, version: str) -> None:
        super().__init__()
        self.version = version
        self.stats: VersionStats | None = None
        self.role = ""

    def compose(self) -> ComposeResult:
        yield Static("", classes="figures")
        yield Sparkline([], summary_function=max)
        yield Static("", classes="source")

    def on_mount(self) -> None:
        self._paint()

    def show(self, stats: VersionStats, role: str) -> None:
        """Keep the figures; paint them now if the row has its children, else once mounted."""
        self.stats, self.role = stats, role
        self._paint()

    def _paint(self) -> None:
        if self.stats is None:
            return
        for static in self.query(".figures").results(Static):
            static.update(version_line(self.stats, self.role))
        for static in self.query(".source").results(Static):
            static.update(Text(self.stats.source or "-"))
        for spark in self.query(Sparkline):
            spark.data = list(self.stats.latencies_ms)


class CanaryScreen(Screen):
    """The live canary of one deployment (the tracker's latest run for it)."""

    # Nothing focused at first: the footer then shows the canary's keys, not the log's (tab reaches the log).
    AUTO_FOCUS = None
    DEFAULT_CSS = """
    CanaryScreen #cn-head { height: auto; padding: 0 1; background: $panel; }
    CanaryScreen #cn-steps { height: auto; padding: 0 1; }
    CanaryScreen #cn-message { height: auto; padding: 0 1; }
    CanaryScreen #cn-versions { height: auto; padding: 0 1; border-top: hkey $primary 30%; }
    CanaryScreen #cn-guards { height: auto; padding: 0 1; border-top: hkey $primary 30%; }
    CanaryScreen #cn-probe { height: auto; padding: 0 1; color: $text-muted; }
    CanaryScreen LogView { border-top: hkey $primary 30%; }
    CanaryScreen.-narrow VersionRow > .source { display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back (keeps running)", id="canary.back"),
        Binding("p", "toggle_pause", "Pause/resume", id="canary.pause",
                tooltip="Hold the canary at its step, or go on (asks first)"),
        Binding("P", "promote", "Promote now", id="canary.promote",
                tooltip="The new version alone now, skipping the steps left (asks first)"),
        Binding("a", "abort", "Abort & revert", id="canary.abort",
                tooltip="Put the previous mapping back and update (asks first)"),
    ]

    def __init__(self, deployment_id: str, tracker: CanaryTracker | None = None, *,
                 presentation: Presentation | None = None) -> None:
        super().__init__()
        self.deployment_id = deployment_id
        self._tracker = tracker
        self._presentation = presentation
        self._shown_run: CanaryRun | None = None
        self._rows: dict[str, VersionRow] = {}

    @property
    def tracker(self) -> CanaryTracker:
        return self._tracker or shell_of(self).canaries

    @property
    def run(self) -> CanaryRun | None:
        return self.tracker.get(self.deployment_id)

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    def compose(self) -> ComposeResult:
        yield HeaderBar(crumb=f"canary {self.deployment_id}")
        yield Static("", id="cn-head")
        yield Static("", id="cn-steps")
        yield Static("", id="cn-message")
        with Vertical(id="cn-versions"):
            yield Static(VERSION_HEADER, id="cn-versions-header")
        yield Static("", id="cn-guards")
        yield Static("", id="cn-probe")
        yield LogView(name=f"canary-{self.deployment_id}", id="cn-log")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.tracker.subscribe(self)
        self._show(self.run)

    def on_unmount(self) -> None:
        self.tracker.unsubscribe(self)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("toggle_pause", "promote", "abort"):
            run = self.run
            return run is not None and run.running and run.kind != "revert"
        return True

    def _show(self, run: CanaryRun | None) -> None:
        self._shown_run = run
        if run is not None:
            self.log_view.set_lines(list(run.lines))
        self._refresh()

    def _refresh(self) -> None:
        run = self.run
        if run is None:
            self.query_one("#cn-head", Static).update(Text(f"No canary of {self.deployment_id} in this session",
                                                           style="dim"))
            return
        progress = run.progress
        # A revert of a canary left half-way probes nothing: no figures, no guards to show.
        for part in ("#cn-versions", "#cn-guards", "#cn-probe"):
            self.query_one(part).display = run.kind != "revert"
        self.query_one("#cn-head", Static).update(head_text(run))
        self.query_one("#cn-steps", Static).update(steps_text(progress, run.plan))
        self.query_one("#cn-message", Static).update(self._message(run))
        self._show_versions(run)
        self.query_one("#cn-guards", Static).update(guards_table(progress))
        probe = progress.probe_via if progress is not None and progress.probe_via else NOT_REPORTED
        line = Text.assemble(("probes: ", "bold"), probe)
        if progress is not None and progress.probe_note:
            line.append(f" ({progress.probe_note})", style="dark_orange")
        sources = sorted({stats.source for stats in progress.stats.values() if stats.source}) if progress else []
        if sources:
            line.append_text(Text.assemble(("  figures: ", "bold"), ", ".join(sources)))
        self.query_one("#cn-probe", Static).update(line)
        self.log_view.set_complete(not run.running)
        self.refresh_bindings()

    def _message(self, run: CanaryRun) -> Text:
        if not run.running:
            outcome = run.result.outcome if run.result is not None else "STOPPED"
            text = Text(outcome_text(run), style=OUTCOME_STYLES.get(outcome, "bold red"))
            text.append("\nesc: back", style="dim")
            return text
        progress = run.progress
        phase = run.phase
        text = Text(f"{phase}", style="bold magenta" if phase == "paused" else "bold cyan")
        if progress is not None and progress.message:
            text.append(f"  {progress.message}")
        return text

    def _show_versions(self, run: CanaryRun) -> None:
        progress = run.progress
        if progress is None:
            return
        box = self.query_one("#cn-versions", Vertical)
        shown = list(progress.stats.items())
        if progress.unattributed is not None:
            shown.append((NOT_REPORTED, progress.unattributed))
        for version, stats in shown:
            row = self._rows.get(version)
            if row is None:
                row = self._rows[version] = VersionRow(version)
                box.mount(row)
            role = "" if version == NOT_REPORTED else "new" if version == run.plan.target else "old"
            row.show(stats, role)

    def on_resize(self) -> None:
        # Below WIDE_ENOUGH_FOR_SOURCE columns the rows leave their source out (the probes line says it).
        narrow = self.size.width < WIDE_ENOUGH_FOR_SOURCE
        self.set_class(narrow, "-narrow")
        self.query_one("#cn-versions-header", Static).update(VERSION_HEADER_NARROW if narrow else VERSION_HEADER)

    @on(CanaryProgressed)
    def _progressed(self, message: CanaryProgressed) -> None:
        if message.run.deployment_id != self.deployment_id:
            return
        if message.run is not self._shown_run:
            self._show(message.run)
            return
        if message.new_lines:
            self.log_view.write_lines(message.new_lines)
        self._refresh()

    @on(CanaryFinished)
    def _finished(self, message: CanaryFinished) -> None:
        if message.run.deployment_id == self.deployment_id:
            self._refresh()

    # -- keys, each asked first ------------------------------------------------------------------
    def _ask(self, question: str, then: Callable[[], object]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                then()
                self._refresh()

        self.app.push_screen(ConfirmScreen(question), answered)

    def action_toggle_pause(self) -> None:
        run = self.run
        if run is None or not run.running:
            return
        if run.control.paused:
            self._ask(f"Resume the canary of {self.deployment_id}?\n\nIt goes on from its step "
                      f"({run.percent} %).", lambda: self.tracker.toggle_pause(self.deployment_id))
        else:
            self._ask(f"Pause the canary of {self.deployment_id}?\n\nThe split stays as it is "
                      f"({run.percent} % to {run.plan.target}) until you resume (p) or abort (a).",
                      lambda: self.tracker.toggle_pause(self.deployment_id))

    @mutating("Promote canary")
    def action_promote(self) -> None:
        run = self.run
        if run is None or not run.running:
            return
        self._ask(f"Promote {run.plan.target} now?\n\nSaves {run.plan.target} alone as the mapping of "
                  f"{self.deployment_id} and updates, skipping the steps and guards left.",
                  lambda: self.tracker.promote_now(self.deployment_id))

    @mutating("Abort canary")
    def action_abort(self) -> None:
        run = self.run
        if run is None or not run.running:
            return
        previous = readers.mapping_summary(run.plan.previous) or "the previous mapping"
        self._ask(f"Abort the canary of {self.deployment_id} and revert?\n\nPuts back {previous} and "
                  "updates at once.", lambda: self.tracker.abort(self.deployment_id))

    def action_back(self) -> None:
        self.app.pop_screen()


# ---- a canary left half-way ----------------------------------------------------------------------------

class CanaryPendingScreen(ModalScreen["str | None"]):
    """At start-up: a canary of this deployer was left mid-way. Answers "resume", "revert" or None (later)."""

    DEFAULT_CSS = """
    CanaryPendingScreen { align: center middle; }
    CanaryPendingScreen > Vertical { width: 80; height: auto; border: thick $warning; background: $surface;
                                     padding: 1 2; }
    CanaryPendingScreen Horizontal { height: auto; margin-top: 1; }
    CanaryPendingScreen Button { margin-right: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "revert", "Revert", id="canary.pending.revert",
                tooltip="Put back the mapping from before the canary and update"),
        Binding("r", "resume", "Resume", id="canary.pending.resume", tooltip="Go on from the step it was at"),
        Binding("l,escape", "later", "Later", id="canary.pending.later", tooltip="Decide at the next start"),
    ]

    def __init__(self, record: CanaryRecord, presentation: Presentation | None = None) -> None:
        super().__init__()
        self.record = record
        self._presentation = presentation

    @property
    def presentation(self) -> Presentation:
        return self._presentation or shell_of(self).presentation

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._story())
            with Horizontal():
                yield Button("Revert (v)", id="revert", variant="warning")
                yield Button("Resume (r)", id="resume")
                yield Button("Later (l)", id="later")

    def _story(self) -> Text:
        record = self.record
        steps = list(CanaryPlan.from_json(record.plan).steps)
        step = steps[record.step_index] if 0 <= record.step_index < len(steps) else None
        previous = readers.mapping_summary(record.previous) or "-"
        text = Text.assemble(("A canary was left half-way\n\n", "bold dark_orange"),
                             ("deployment  ", "bold"), (record.deployment_id, "bold"), "\n",
                             ("from → to   ", "bold"), previous, " → ", (record.target, "bold yellow"), "\n",
                             ("step        ", "bold"),
                             f"{record.step_index + 1} of {len(steps)}" + (f" ({step} % to {record.target})"
                                                                          if step is not None else ""), "\n",
                             ("started     ", "bold"), self.presentation.timestamp(record.started_ms), "\n",
                             ("last news   ", "bold"), self.presentation.timestamp(record.updated_ms), "\n\n")
        if record.other_host:
            text.append(f"Written by a console on {record.host}: it may still be running there.\n",
                        style="bold dark_orange")
        text.append("The console that ran it stopped: the deployment may still be split between the versions.\n"
                    "v: revert to the mapping from before · r: resume from this step · l: later", style="dim")
        return text

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        action = {"revert": "revert", "resume": "resume"}.get(event.button.id or "", "later")
        # Through the app's one door, so read-only refuses the buttons as it refuses the keys.
        self.run_worker(self.app.run_action(action, self), exit_on_error=False)

    def guarded_object(self, action: str) -> str | None:
        """What a production context asks to type before reverting or resuming (ui/production_guard.py)."""
        return self.record.deployment_id

    @mutating("Revert canary")
    def action_revert(self) -> None:
        self.dismiss("revert")

    @mutating("Resume canary")
    def action_resume(self) -> None:
        self.dismiss("resume")

    def action_later(self) -> None:
        self.dismiss(None)


def offer_pending(app: App, tracker: CanaryTracker) -> None:
    """Once a context is opened (and shown): one question per canary of its deployer left half-way, one after
    the other; revert and resume run in that context's tracker and open the live screen."""
    try:
        records = tracker.pending()
    except OSError as exc:
        app.notify(f"Could not read the canary records: {exc}", title="Canary", severity="warning")
        return
    for problem in tracker.problems:
        app.notify(problem, title="Canary record", severity="warning")

    def ask(left: list[CanaryRecord]) -> None:
        if not left:
            return
        record, rest = left[0], left[1:]

        def answered(choice: str | None) -> None:
            if choice in ("revert", "resume"):
                (tracker.revert if choice == "revert" else tracker.resume)(record)
                app.push_screen(CanaryScreen(record.deployment_id, tracker))
            ask(rest)

        app.push_screen(CanaryPendingScreen(record), answered)

    ask(records)


def open_canary(screen: Screen, deployment_id: str | None) -> None:
    """`C` on a deployment (main pane or its screen): its running canary, else the form."""
    if deployment_id is None:
        screen.notify("Highlight a deployment to run a canary on it", severity="warning")
        return
    shell = shell_of(screen)
    app = screen.app
    if shell.canaries.is_running(deployment_id):
        app.push_screen(CanaryScreen(deployment_id))
        return
    if shell.updates.is_running(deployment_id):
        screen.notify(f"An update of {deployment_id} is running: start the canary once it ends", severity="warning")
        return
    tracker = shell.canaries

    def chosen(plan: CanaryPlan | None) -> None:
        if plan is not None:
            tracker.start(plan)
            app.push_screen(CanaryScreen(deployment_id))

    app.push_screen(CanaryFormScreen(shell.client, deployment_id), chosen)


def quit_unless_canaries(app: App, running: list[tuple[str, str]], then: Callable[[], object]) -> None:
    """Quit (`then`), but ask first while canaries of this session run, in any context (`running`: their
    context and deployment): quitting stops them where they are."""
    if not running:
        then()
        return

    def answered(yes: bool | None) -> None:
        if yes:
            then()

    named = [f"{deployment} ({context})" if context else deployment for context, deployment in running]
    app.push_screen(ConfirmScreen(
        f"A canary runs on {', '.join(named)}.\n\nQuitting stops it where it is: its split stays on the API "
        "nodes, and the next start on this deployer offers to resume or revert it.\n\nQuit anyway?"), answered)
