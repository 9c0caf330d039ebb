"""SVG snapshots of the canary form (one field refused, the error beside it) and of the live canary screen
mid-step, from fixed data: a stub client for the form's versions, and a tracker run holding one progress
snapshot as the engine hands them over (no engine, no clock). Update with
`pytest tests/ui/test_canary_snapshots.py --snapshot-update` after looking at the report."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from deployer_tui.core.canary import CanaryControl, CanaryPlan, Guards, VersionStats
from deployer_tui.core.rollback import single
from deployer_tui.ui.screens.canary import CanaryFormScreen, CanaryScreen
from deployer_tui.ui.state.canary_tracker import CanaryRun, CanaryTracker
from deployer_tui.ui.view.formatting import Presentation
from tests.ui.helpers import wait_for
from tests.ui.shell_harness import ShellBits
from tests.ui.test_canary_pilot import progress_at

SIZE = (120, 36)
FROZEN = Presentation(clock=lambda: 1_781_000_000.0)


class StubClient:
    url = "http://deployer.test"

    async def get_deployment(self, deployment_id: str) -> dict:
        return {"deploymentBasicInfo": {"id": deployment_id, "publishedServiceId": "fraud",
                                        "generationsMapping": {"mode": "SINGLE_GENERATION", "generation": "v2"}},
                "packages": [{"id": "v1", "publishedOn": 1}, {"id": "v2", "publishedOn": 2},
                             {"id": "v3", "publishedOn": 3}]}


class Harness(ShellBits, App):
    def __init__(self, screen_factory) -> None:
        super().__init__()
        self.presentation = FROZEN
        self.canaries = CanaryTracker(self)
        self._factory = screen_factory

    def compose(self) -> ComposeResult:
        yield Static("home")

    def on_mount(self) -> None:
        self.push_screen(self._factory(self))


def test_snapshot_canary_form_with_a_refused_field(snap_compare):
    async def run_before(pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CanaryFormScreen) and pilot.app.screen.loaded,
                       what="the versions")
        form = pilot.app.screen
        form.query_one("#cn-steps", Input).value = "10,5,100"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "steps" in form.errors, what="the error beside the field")
        await pilot.pause()

    assert snap_compare(Harness(lambda app: CanaryFormScreen(StubClient(), "fraud-on-prod")), terminal_size=SIZE,
                        run_before=run_before)


def live_mid_step(app: Harness) -> CanaryScreen:
    plan = CanaryPlan("fraud-on-dev", "v3", previous=single("v2"), soak_s=60, guards=Guards(), probe_rate=10)
    run = CanaryRun("fraud-on-dev", plan, CanaryControl())
    app.canaries.runs[run.deployment_id] = run
    progress = progress_at(plan, 1, lines=[
        "[INFO] saved the split: v2 90 %, v3 10 %", "[INFO] update of fraud-on-dev: SUCCESS (1 API node OK)",
        "[INFO] saved the split: v2 50 %, v3 50 %", "[INFO] update of fraud-on-dev: SUCCESS (1 API node OK)"])
    progress.stats["v2"] = progress.stats.pop("v1")
    progress.stats["v2"].version = "v2"
    # Two answers no version was named for: a row of their own, as the error-rate guard counts them.
    progress.unattributed = VersionStats("not reported", requests=2, errors=2, latencies_ms=[30.0, 31.0],
                                         source="probes")
    app.canaries.sink(run)(progress)
    return CanaryScreen("fraud-on-dev", app.canaries, presentation=FROZEN)


async def live_shown(pilot) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CanaryScreen), what="the live screen")
    screen = pilot.app.screen
    await wait_for(pilot, lambda: len(screen.query("VersionRow")) == 3 and screen.log_view.pending == 0,
                   what="the versions (the answers not reported too) and the log")
    await pilot.pause()


def test_snapshot_live_canary_mid_step(snap_compare):
    assert snap_compare(Harness(live_mid_step), terminal_size=SIZE, run_before=live_shown)


def test_snapshot_live_canary_80x24(snap_compare):
    """Every row within 80 columns: the figures and the sparkline; the source said on the probes line."""
    assert snap_compare(Harness(live_mid_step), terminal_size=(80, 24), run_before=live_shown)
