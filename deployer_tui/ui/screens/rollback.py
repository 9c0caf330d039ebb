"""`R` — roll a deployment back: a preview of current → target (per node where the deployer says), one
confirmation, then the run followed live on the same screen: save, update, the update's log, its outcome, the
stored test queries. Afterwards `f` offers the roll-forward to what was just replaced.

The plan and the run are core/rollback.py's (`plan_rollback`, `run_rollback`, `forward_plan`): the same steps
as the headless `deployer-tui rollback`, so the console and a script roll back alike. The run is an app
worker, so leaving the screen does not stop it; the toast at the end names it a rollback.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Static

from deployer_tui.core.errors import DeployerError
from deployer_tui.core.journal import HistoryRow, Journal
from deployer_tui.core.readers import mapping_summary
from deployer_tui.core.rollback import (
    RollbackError,
    RollbackEvent,
    RollbackPlan,
    RollbackSummary,
    forward_plan,
    mapping_key,
    plan_rollback,
    run_rollback,
)
from deployer_tui.core.skew import NO_NODE_DATA, NodeServing, mapping_versions, node_versions
from deployer_tui.ui.actions import mutating
from deployer_tui.ui.shell import ContextToasts, context_view, shell_of
from deployer_tui.ui.view.formatting import Presentation
from deployer_tui.ui.widgets.header_bar import HeaderBar
from deployer_tui.ui.widgets.key_footer import KeyFooter
from deployer_tui.ui.widgets.log_view import LogView

KIND_WORDS = {"rollback": "Roll back", "rollforward": "Roll forward", "update": "Redeploy"}
KIND_NOUNS = {"rollback": "rollback", "rollforward": "roll-forward", "update": "redeploy"}


async def plan_to(client: Any, deployment_id: str, mapping: dict, *, kind: str = "rollback",
                  source: HistoryRow | None = None, journal: Journal | None = None) -> RollbackPlan:
    """A plan to a mapping picked by the person (a history row's), read like plan_rollback reads one."""
    settings = await client.get_deployment_settings(deployment_id)
    current = settings.get("generationsMapping") if isinstance(settings, dict) else None
    if mapping_key(current) == mapping_key(mapping):
        raise RollbackError(f"deployment {deployment_id} already has {mapping_summary(current)} saved")
    try:
        heavy = await client.get_deployment_status(deployment_id)
    except DeployerError:
        heavy = None
    light = await client.get_deployment(deployment_id)
    infra = light.get("infraBasicInfo") if isinstance(light, dict) else None
    stage = (str(infra.get("stage") or "") or None) if isinstance(infra, dict) else None
    return RollbackPlan(deployment_id, current, copy.deepcopy(mapping), kind, source, node_versions(heavy),
                        stage=stage)


def preview_text(plan: RollbackPlan, url: Any = lambda u: u, *, ran: bool = False) -> Table:
    """Current → target side by side; per node what it serves now and will serve, where the deployer says.
    `ran`: the run is over, so "now" is what it was before."""
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("")
    table.add_column("before" if ran else "now")
    table.add_column("")
    table.add_column(("after the " if not ran else "the ") + KIND_NOUNS.get(plan.kind, "rollback"))
    target = ", ".join(mapping_versions(plan.target)) or "-"
    table.add_row(Text("saved mapping", style="bold"), plan.current_text, "→",
                  Text(plan.target_text, style="bold yellow"))
    if plan.nodes:
        for node_url, serving in plan.nodes.items():
            changed = serving.versions != mapping_versions(plan.target)
            table.add_row(url(node_url), serving.cell, "→", Text(target, style="bold yellow" if changed else ""))
    elif plan.nodes is None:
        table.add_row(Text("per node", style="bold"), Text(NO_NODE_DATA, style="dim"), "", "")
    return table


class RollbackScreen(ContextToasts, Screen):
    """The preview, the confirmation and the live run of one rollback (or roll-forward, or redeploy)."""

    DEFAULT_CSS = """
    RollbackScreen #rb-title { height: auto; padding: 0 1; background: $panel; }
    RollbackScreen #rb-preview { height: auto; padding: 1 2; }
    RollbackScreen #rb-type { display: none; margin: 0 2; width: 60; }
    RollbackScreen #rb-type.-shown { display: block; }
    RollbackScreen #rb-status { height: auto; padding: 0 2; }
    RollbackScreen LogView { border-top: hkey $primary 30%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: the log view below binds y (copy) and n (next match); disabled (check_action) while the
        # id must be typed, so a y typed into the field stays a letter.
        Binding("y", "confirm", "Go", id="rollback.confirm", priority=True,
                tooltip="Save, update, follow, run the test queries"),
        Binding("escape,q", "back", "Back", id="rollback.back"),
        Binding("f", "roll_forward", "Roll forward", id="rollback.forward",
                tooltip="After a rollback: back to the mapping it replaced (asks first)"),
        Binding("e", "first_error", "First error", show=False, id="rollback.first_error"),
    ]

    def __init__(self, deployment_id: str, client: Any, *, target: dict | None = None, kind: str = "rollback",
                 source: HistoryRow | None = None, plan: RollbackPlan | None = None,
                 presentation: Presentation | None = None) -> None:
        super().__init__()
        self.deployment_id = deployment_id
        self.client = client
        self.target = target
        self.kind = plan.kind if plan is not None else kind
        self.source = source
        self.plan: RollbackPlan | None = plan
        self._presentation = presentation
        self.state = "planning"  # planning → ready | impossible → running → done
        self.summary: RollbackSummary | None = None
        self.events: list[RollbackEvent] = []
        self._gone = False
        self._typed_already = False

    @property
    def presentation(self) -> Presentation:
        return self._presentation or shell_of(self).presentation

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    def compose(self) -> ComposeResult:
        yield HeaderBar(crumb=f"{KIND_NOUNS.get(self.kind, 'rollback')} {self.deployment_id}")
        yield Static(Text.assemble((f"{KIND_WORDS.get(self.kind, 'Roll back')} ", "bold"),
                                   (self.deployment_id, "bold")), id="rb-title")
        yield Static(Text("Reading the deployment and its history…", style="dim"), id="rb-preview")
        # Disabled (so not focusable) until a Production deployment asks for its id.
        yield Input(placeholder="type the deployment id, then enter", id="rb-type", disabled=True)
        yield Static("", id="rb-status")
        yield LogView(name=f"rollback-{self.deployment_id}", id="rb-log")
        yield KeyFooter()

    def on_mount(self) -> None:
        if self.plan is not None:
            self._show_plan(self.plan)
        else:
            self._load()

    def on_unmount(self) -> None:
        self._gone = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            return self.state == "ready" and not self._must_type
        if action == "roll_forward":
            return self.state == "done" and self.summary is not None and self.summary.outcome == "SUCCESS" \
                and self.kind == "rollback"
        return True

    @property
    def _must_type(self) -> bool:
        # Not twice: an id typed for this change in a production context (ui/production_guard.py) counts.
        return self.plan is not None and self.plan.production and not self._typed_already

    def guarded_object(self, action: str) -> str | None:
        """What a production context asks to type before a change here (ui/production_guard.py)."""
        return self.deployment_id

    # ---- the plan ---------------------------------------------------------------------------------

    @work(exclusive=True, group="rollback-plan", exit_on_error=False)
    async def _load(self) -> None:
        try:
            if self.target is not None:
                plan = await plan_to(self.client, self.deployment_id, self.target, kind=self.kind,
                                     source=self.source)
            else:
                plan = await plan_rollback(self.client, self.deployment_id, kind=self.kind)
        except RollbackError as exc:
            self._impossible(str(exc))
            return
        except DeployerError as exc:
            self._impossible(f"Could not read {self.deployment_id}: {exc}")
            return
        self.plan = plan
        self._show_plan(plan)

    def _impossible(self, why: str) -> None:
        self.state = "impossible"
        self.query_one("#rb-preview", Static).update(Text(why, style="bold dark_orange"))
        self.query_one("#rb-status", Static).update(Text("esc: back", style="dim"))
        self.refresh_bindings()

    def _show_plan(self, plan: RollbackPlan) -> None:
        self.plan = plan
        parts = Text()
        if plan.source is not None:
            parts.append("target: the update of ", style="dim")
            parts.append(self.presentation.timestamp(plan.source.start))
            parts.append(f" ({plan.source.outcome}"
                         + (f", by {plan.source.requester}" if plan.source.requester else "") + ")\n", style="dim")
        self.query_one("#rb-preview", Static).update(preview_text(plan, self.presentation.url))
        self.query_one("#rb-title", Static).update(Text.assemble(
            (f"{KIND_WORDS.get(plan.kind, 'Roll back')} ", "bold"), (plan.deployment_id, "bold"),
            ("  ", ""), (plan.current_text, ""), (" → ", "dim"), (plan.target_text, "bold yellow"),
            ("   (production)" if plan.production else "", "bold red")))
        self.state = "ready"
        view = context_view(self)
        self._typed_already = view is not None and view.typed_confirmation(plan.deployment_id)
        if self._must_type:
            parts.append(f"Production: type {plan.deployment_id} and press enter to "
                         f"{KIND_WORDS.get(plan.kind, 'roll back').lower()}; esc cancels.", style="bold")
            box = self.query_one("#rb-type", Input)
            box.disabled = False
            box.add_class("-shown")
            box.focus()
        else:
            parts.append("y: save the settings, update, follow it, run the test queries · esc: cancel",
                         style="bold")
        self.query_one("#rb-status", Static).update(parts)
        self.refresh_bindings()

    @on(Input.Submitted, "#rb-type")
    def _typed(self, event: Input.Submitted) -> None:
        if self.plan is None or self.state != "ready":
            return
        if event.value.strip() != self.plan.deployment_id:
            self.notify(f"Type {self.plan.deployment_id} exactly to confirm", severity="warning")
            return
        event.input.remove_class("-shown")
        event.input.disabled = True
        self._go()

    # ---- the run ----------------------------------------------------------------------------------

    @mutating("Roll back")
    def action_confirm(self) -> None:
        if self.state == "ready" and not self._must_type:
            self._go()

    def _go(self) -> None:
        assert self.plan is not None
        self.state = "running"
        self.refresh_bindings()
        self.query_one("#rb-status", Static).update(Text("saving…", style="cyan"))
        # An app worker: leaving the screen does not stop the rollback (as an update goes on).
        self.app.run_worker(self._run(self.plan), name=f"rollback {self.deployment_id}",
                            group=f"rollback:{self.deployment_id}", exit_on_error=False)

    def _on_event(self, event: RollbackEvent) -> None:
        self.events.append(event)
        if self._gone:
            return
        if event.lines:
            self.log_view.write_lines(event.lines)
        if event.message:
            self.query_one("#rb-status", Static).update(Text(event.message, style="cyan"))

    async def _run(self, plan: RollbackPlan) -> None:
        noun = KIND_NOUNS.get(plan.kind, "rollback")
        try:
            summary = await run_rollback(self.client, plan, self._on_event)
        except DeployerError as exc:
            self.state = "done"
            self.notify(f"{noun.capitalize()} of {plan.deployment_id} failed: {exc}", title=noun.capitalize(),
                       severity="error", timeout=10)
            if not self._gone:
                self.query_one("#rb-status", Static).update(Text(f"{noun} failed: {exc}", style="bold red"))
                self.refresh_bindings()
            return
        self.summary = summary
        self.state = "done"
        store = shell_of(self).store
        store.forget_heavy(plan.deployment_id)
        store.refresh_deployment(plan.deployment_id)
        text = f"{noun.capitalize()} of {plan.deployment_id}: {plan.current_text} → {plan.target_text} " + (
            "done" if summary.ok else f"— {summary.error}")
        if summary.queries_run:
            text += f"; test queries {summary.queries_ok} ok, {summary.queries_failed} failed"
        self.notify(text, title=noun.capitalize(), severity="information" if summary.ok else "error", timeout=10)
        if not self._gone:
            self.query_one("#rb-preview", Static).update(preview_text(plan, self.presentation.url, ran=True))
            self.query_one("#rb-status", Static).update(self._result_text(plan, summary))
            self.refresh_bindings()
            if not summary.ok:
                self.log_view.jump_to_first("error")

    def _result_text(self, plan: RollbackPlan, summary: RollbackSummary) -> Text:
        noun = KIND_NOUNS.get(plan.kind, "rollback")
        text = Text()
        text.append(f"{noun}: {summary.outcome}", style="bold green" if summary.ok else "bold red")
        text.append(f"  {plan.current_text} → {plan.target_text}  ({summary.duration_ms / 1000:.1f}s)\n")
        if summary.queries_run:
            style = "green" if not summary.queries_failed else "bold red"
            text.append(f"stored test queries: {summary.queries_ok} ok, {summary.queries_failed} failed\n",
                        style=style)
        elif summary.outcome == "SUCCESS":
            text.append("stored test queries: none stored in this version\n", style="dim")
        if summary.error:
            text.append(f"{summary.error}\n", style="red")
        if plan.kind == "rollback" and summary.outcome == "SUCCESS" and summary.roll_forward is not None:
            text.append(f"f: roll forward to {mapping_summary(summary.roll_forward)} · ", style="bold")
        text.append("esc: back", style="dim")
        return text

    # ---- after ------------------------------------------------------------------------------------

    @mutating("Roll forward")
    def action_roll_forward(self) -> None:
        if self.plan is None or self.state != "done" or self.kind != "rollback":
            return
        forward = forward_plan(self.plan)
        if forward is None:
            self.notify("Nothing to roll forward to: the deployment had no mapping before", severity="warning")
            return
        forward.stage = self.plan.stage
        # After a successful rollback every node serves its target: that is what the roll-forward starts from.
        forward.nodes = {url: NodeServing(url, mapping_versions(self.plan.target)) for url in self.plan.nodes} \
            if self.plan.nodes else self.plan.nodes
        self.app.switch_screen(RollbackScreen(self.deployment_id, self.client, plan=forward,
                                              presentation=self._presentation))

    def action_first_error(self) -> None:
        if self.log_view.jump_to_first("error") is None:
            self.notify("No error line in this log.", severity="information")

    def action_back(self) -> None:
        self.app.pop_screen()


class HistoryChoiceScreen(ModalScreen["str | None"]):
    """`enter` on a history row: its log, or "redeploy this" (a rollback to what it deployed)."""

    DEFAULT_CSS = """
    HistoryChoiceScreen { align: center middle; }
    HistoryChoiceScreen > Static { width: 72; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l,enter", "choose('log')", "Log", id="history_choice.log"),
        Binding("r", "choose('redeploy')", "Redeploy this", id="history_choice.redeploy"),
        Binding("escape,q", "choose('')", "Cancel", id="history_choice.cancel"),
    ]

    def __init__(self, row: HistoryRow, *, has_log: bool = True) -> None:
        super().__init__()
        self.row = row
        self.has_log = has_log

    def compose(self) -> ComposeResult:
        deployed = mapping_summary(self.row.mapping) or "unknown"
        text = Text.assemble(("Update ", "bold"), (f"{self.row.outcome}", "bold"), (f" ({self.row.kind})", "dim"),
                             "\ndeployed: ", (deployed, "bold yellow"))
        if self.row.journal_only:
            text.append(f"\n{self.row.source_note}", style="dark_orange")
        text.append("\n\n")
        if self.has_log:
            text.append("l / enter: its full log\n")
        if self.row.mapping is not None:
            text.append(f"r: redeploy this ({deployed}): preview, confirm, follow, test\n")
        text.append("esc: cancel", style="dim")
        yield Static(text)

    def action_choose(self, choice: str) -> None:
        if choice == "log" and not self.has_log:
            return
        self.dismiss(choice or None)


def open_rollback(screen: Screen, deployment_id: str | None) -> None:
    """`R` on a deployment (main pane or its screen): the preview of its rollback."""
    if deployment_id is None:
        screen.notify("Highlight a deployment to roll it back", severity="warning")
        return
    shell = shell_of(screen)
    if shell.updates.is_running(deployment_id):
        screen.notify(f"An update of {deployment_id} is running: roll back once it ends", severity="warning")
        return
    screen.app.push_screen(RollbackScreen(deployment_id, shell.client))
