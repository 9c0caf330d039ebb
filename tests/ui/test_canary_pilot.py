"""`C` and the canary screens against a real `serve` and its API node: the form's checks beside each field,
the read-only refusal, the `⟳ CANARY 10 %` row and the live screen's keys (driven by progress snapshots as
the engine hands them over), the start-up offer for a canary left half-way, and the latency the test
queries record, as the deployment screen shows it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager

import pytest
from textual.widgets import Input, Select, Sparkline

from deployer_tui.core.canary import (
    CanaryPlan,
    CanaryProgress,
    GuardReading,
    StepState,
    VersionStats,
)
from deployer_tui.core.canary_state import CanaryRecord, CanaryStore
from deployer_tui.core.client import DeployerClient
from deployer_tui.core.latency_log import LatencyLog, LatencySample
from deployer_tui.core.rollback import single
from deployer_tui.ui.screens.canary import CanaryFormScreen, CanaryPendingScreen, CanaryScreen
from deployer_tui.ui.screens.deployment import DeploymentScreen
from deployer_tui.ui.screens.modals import ConfirmScreen
from deployer_tui.ui.screens.query_runner import TestQueriesScreen
from deployer_tui.ui.state.canary_tracker import CanaryRun
from tests.deployer.conftest import ADMIN_KEY
from tests.rollback.conftest import add_v3, deploy
from tests.strict.conftest import Env, start_env
from tests.ui.helpers import RecordingApp, cell, screen_text, table, wait_for


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    env = start_env(tmp_path_factory.mktemp("ui-canary"), strict=False)
    add_v3(env)
    yield env
    env.proc.stop()


@asynccontextmanager
async def running(env: Env, *, listed: bool = True, **kwargs):
    """The app on env's deployer; `listed`: wait for the deployments pane (not when a modal opens first)."""
    client = DeployerClient(env.url, ADMIN_KEY)
    app = RecordingApp(client=client, **kwargs)
    try:
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            if listed:
                await wait_for(pilot, lambda: app.store.loaded and table(pilot, "deployments").row_count > 0,
                               what="the deployments list")
            yield pilot, app
    finally:
        await client.aclose()


async def on_deployment(pilot, dep_id: str) -> None:
    deployments = table(pilot, "deployments")
    await wait_for(pilot, lambda: deployments.select_key(dep_id), what=f"{dep_id} listed")
    deployments.focus()
    await pilot.pause()


def progress_at(plan: CanaryPlan, step_index: int = 0, *, phase: str = "soak", lines: list[str] | None = None
                ) -> CanaryProgress:
    """A snapshot as run_canary hands one over mid-step: the old version fast, the new one slower."""
    steps = [StepState(p, "passed" if i < step_index else "soaking" if i == step_index else "pending")
             for i, p in enumerate(plan.steps)]
    old = VersionStats("v1", requests=36, errors=0, latencies_ms=[4.0, 5.0, 4.5, 6.0, 5.5] * 7, source="probes")
    new = VersionStats(plan.target, requests=4, errors=1, latencies_ms=[9.0, 12.0, 10.5], source="probes")
    guards = [GuardReading("error rate", "≤ 1 %", "25.0 %", None),
              GuardReading("p95 latency ratio", "≤ 1.5×", None, None)]
    return CanaryProgress(plan, phase, step_index, steps, {"v1": old, plan.target: new}, guards,
                          "forced generation on the API nodes", f"soaking at {plan.steps[step_index]} %",
                          lines or [], soak_left_s=42.0)


def fed_run(app: RecordingApp, plan: CanaryPlan) -> CanaryRun:
    """A run in the app's tracker, without an engine behind it: the test hands its snapshots over."""
    from deployer_tui.core.canary import CanaryControl

    run = CanaryRun(plan.deployment_id, plan, CanaryControl())
    app.canaries.runs[plan.deployment_id] = run
    return run


# ---- the form ------------------------------------------------------------------------------------------------

async def test_the_form_checks_each_field_beside_it_and_keeps_what_was_typed(env: Env) -> None:
    deploy(env, "uicn1", ["v1"])
    async with running(env) as (pilot, app):
        await on_deployment(pilot, "uicn1")
        await pilot.press("C")
        form = app.screen
        assert isinstance(form, CanaryFormScreen)
        await wait_for(pilot, lambda: form.loaded, what="the versions")
        # The service's versions, newest first, but not v1: it alone serves the deployment now.
        assert form.versions == ["v3", "v2"]
        assert form.query_one("#cn-version", Select).value == "v3"
        steps, soak, rate = (form.query_one(f"#cn-{k}", Input) for k in ("steps", "soak", "probe_rate"))
        steps.value, soak.value, rate.value = "10,5,100", "soon", "500"
        await pilot.pause()
        await pilot.press("ctrl+s")
        assert app.screen is form, "nothing starts while a field is wrong"
        assert "strictly increasing" in form.errors["steps"]
        assert "duration" in form.errors["soak"]
        assert "at most 50" in form.errors["probe_rate"]
        assert "error_rate" not in form.errors
        shown = screen_text(pilot)
        assert "steps must be strictly increasing: 10,5,100" in shown
        assert (steps.value, soak.value, rate.value) == ("10,5,100", "soon", "500"), "the draft is kept"
        form.query_one("#cn-error_rate", Input).value = "150"
        await pilot.press("ctrl+s")
        assert "fraction between 0 and 1" in form.errors["error_rate"]
        form.query_one("#cn-latency_ratio", Input).value = "0.5"
        await pilot.press("ctrl+s")
        assert "at least 1" in form.errors["latency_ratio"]
        await pilot.press("escape")
        assert not isinstance(app.screen, CanaryFormScreen)
        assert not app.canaries.runs, "cancelled: no canary"


async def test_C_is_refused_read_only_on_the_pane_and_on_the_deployment_screen(env: Env) -> None:
    deploy(env, "uicn2", ["v1"])
    async with running(env, read_only=True) as (pilot, app):
        await on_deployment(pilot, "uicn2")
        await pilot.press("C")
        assert not isinstance(app.screen, CanaryFormScreen)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="the deployment screen")
        await pilot.press("C")
        assert not isinstance(app.screen, CanaryFormScreen)
        refusals = [t for t in app.toasts if t.message == "Read-only mode: “Canary” is not allowed"]
        assert len(refusals) == 2


# ---- the row and the live screen ----------------------------------------------------------------------------

async def test_the_row_shows_the_step_and_the_live_screen_asks_before_each_key(env: Env) -> None:
    deploy(env, "uicn3", ["v1"])
    plan = CanaryPlan("uicn3", "v2", previous=single("v1"), soak_s=60)
    async with running(env) as (pilot, app):
        await on_deployment(pilot, "uicn3")
        deployments = table(pilot, "deployments")
        assert cell(deployments, "uicn3", "health") != "⟳ CANARY 10 %"
        run = fed_run(app, plan)
        sink = app.canaries.sink(run)
        sink(progress_at(plan, 0, lines=["[INFO] saved the split: v1 90 %, v2 10 %"]))
        await wait_for(pilot, lambda: cell(deployments, "uicn3", "health") == "⟳ CANARY 10 %", what="the marker")
        await pilot.press("C")  # a canary runs: C opens it rather than a new form
        screen = app.screen
        assert isinstance(screen, CanaryScreen)
        text = screen_text(pilot)
        assert "✓" not in text.split("steps", 1)[1].split("\n", 1)[0]
        assert "10 % soaking (42s left)" in text and "○ 50 % pending" in text
        assert "25.0 %" in text and "not reported" in text, "a guard with no value yet says so"
        assert "forced generation on the API nodes" in text
        sparks = {row.version: row.query_one(Sparkline) for row in screen.query("VersionRow")}
        await wait_for(pilot, lambda: list(sparks["v2"].data or []) == [9.0, 12.0, 10.5], what="the sparkline")
        await wait_for(pilot, lambda: screen.log_view.pending == 0 and len(screen.log_view.buffer) == 1,
                       what="the update log")

        sink(progress_at(plan, 1))
        await pilot.pause()
        assert cell(deployments, "uicn3", "health") == "⟳ CANARY 50 %"
        assert "✓ 10 % passed" in screen_text(pilot)

        await pilot.press("p")
        assert isinstance(app.screen, ConfirmScreen), "pause asks first"
        await pilot.press("n")
        assert not run.control.paused
        await pilot.press("p")
        await pilot.press("y")
        assert run.control.paused
        await pilot.press("p", "y")
        assert not run.control.paused
        await pilot.press("P", "n")
        assert not run.control.promote_requested
        await pilot.press("a")
        assert isinstance(app.screen, ConfirmScreen) and "Puts back v1" in screen_text(pilot)
        await pilot.press("y")
        assert run.control.abort_requested

        await pilot.press("escape")
        assert not isinstance(app.screen, CanaryScreen)
        assert app.canaries.is_running("uicn3"), "esc leaves it running"
        for key in ("q", "ctrl+q"):
            await pilot.press(key)
            assert isinstance(app.screen, ConfirmScreen) and "the next start on this deployer offers" in \
                screen_text(pilot), "quitting mid-canary asks first"
            await pilot.press("n")
            assert app.is_running


# ---- a canary left half-way ---------------------------------------------------------------------------------

def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def left_record(env: Env, dep_id: str) -> CanaryRecord:
    """A canary of dep_id at its first step, written by a console that died."""
    plan = CanaryPlan(dep_id, "v2", previous=single("v1"), soak_s=0.2)
    now = int(time.time() * 1000)
    record = CanaryRecord(env.url, dep_id, plan.to_json(), single("v1"), "v2", 0, now - 60_000, now - 30_000,
                          pid=dead_pid())
    CanaryStore().write(record)
    return record


async def test_a_canary_left_half_way_is_offered_at_start_and_later_keeps_it(env: Env) -> None:
    deploy(env, "uicn4", ["v1"])
    left_record(env, "uicn4")
    async with running(env, listed=False) as (pilot, app):
        await wait_for(pilot, lambda: isinstance(app.screen, CanaryPendingScreen), what="the offer")
        await pilot.pause()
        text = screen_text(pilot)
        assert "uicn4" in text and "1 of 3 (10 % to v2)" in text
        await pilot.press("l")
        assert not isinstance(app.screen, CanaryPendingScreen)
    assert [r.deployment_id for r in CanaryStore().pending(env.url)] == ["uicn4"]


async def test_revert_at_start_puts_the_mapping_back(env: Env) -> None:
    dep = deploy(env, "uicn5", ["v1"])
    plan = CanaryPlan("uicn5", "v2", previous=single("v1"))
    settings = dep.get_settings()
    settings.get_raw()["generationsMapping"] = plan.mapping_at(10)
    settings.save()
    dep.start_update().wait_for_result()
    left_record(env, "uicn5")
    async with running(env, listed=False) as (pilot, app):
        await wait_for(pilot, lambda: isinstance(app.screen, CanaryPendingScreen), what="the offer")
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, CanaryScreen), what="the revert's progress")
        await wait_for(pilot, lambda: not app.canaries.is_running("uicn5"), what="the revert", timeout=60)
        run = app.canaries.get("uicn5")
        assert run is not None and run.result is not None, run.error
    async with DeployerClient(env.url, ADMIN_KEY) as client:
        saved = (await client.get_deployment_settings("uicn5"))["generationsMapping"]
    assert saved.get("generation") == "v1" or [e["generation"] for e in saved.get("entries", [])] == ["v1"]
    assert CanaryStore().pending(env.url) == []


async def test_a_canary_runs_from_the_form_to_the_new_version(env: Env) -> None:
    deploy(env, "uicn6", ["v1"])
    async with running(env) as (pilot, app):
        await on_deployment(pilot, "uicn6")
        await pilot.press("C")
        form = app.screen
        assert isinstance(form, CanaryFormScreen)
        await wait_for(pilot, lambda: form.loaded, what="the versions")
        form.query_one("#cn-version", Select).value = "v2"
        form.query_one("#cn-steps", Input).value = "50,100"
        form.query_one("#cn-soak", Input).value = "2s"  # some 40 answers per version at 50 %
        form.query_one("#cn-probe_rate", Input).value = "40"
        # This test is about the steps: a loose latency bound, so that a loaded machine's jitter never trips it.
        form.query_one("#cn-latency_ratio", Input).value = "20"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, CanaryScreen), what="the live screen")
        await wait_for(pilot, lambda: not app.canaries.is_running("uicn6"), what="the canary's end", timeout=90)
        run = app.canaries.get("uicn6")
        assert run is not None and run.result is not None, run.error
        assert run.result.outcome == "PROMOTED", run.result.message
        assert "PROMOTED" in screen_text(pilot)
        await wait_for(pilot, lambda: cell(table(pilot, "deployments"), "uicn6", "version") == "v2"
                       if not isinstance(app.screen, CanaryScreen) else True, what="the row")


# ---- latency ------------------------------------------------------------------------------------------------

async def test_test_queries_are_recorded_and_the_deployment_screen_shows_them(env: Env) -> None:
    deploy(env, "uicn7", ["v1"])
    async with running(env) as (pilot, app):
        await on_deployment(pilot, "uicn7")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen.data is not None,
                       what="the deployment screen")
        assert "No test query or canary probe recorded yet" in screen_text(pilot)
        await pilot.press("T")
        runner = app.screen
        assert isinstance(runner, TestQueriesScreen)
        await wait_for(pilot, lambda: runner.loaded, what="the endpoints")
        for _ in range(3):
            count = len(LatencyLog(env.url).samples("uicn7"))
            await pilot.press("r")
            await wait_for(pilot, lambda c=count: len(LatencyLog(env.url).samples("uicn7")) == c + 2,
                           what="two answers recorded")
        samples = LatencyLog(env.url).samples("uicn7")
        assert {(s.version, s.source, s.ok) for s in samples} == {("v1", "test-query", True)}
        await pilot.press("escape")
        screen = app.screen
        assert isinstance(screen, DeploymentScreen)
        await wait_for(pilot, lambda: screen.trend is not None and len(screen.trend.latencies) == 6,
                       what="the trend re-read")
        text = screen_text(pilot)
        assert "the last 6 answers" in text
        assert screen.query_one("#latency-spark", Sparkline).data == [s.latency_ms for s in samples]
        assert "▲" not in text, "one version: none is worse"


async def test_the_versions_table_names_the_version_that_answered_slower(env: Env) -> None:
    deploy(env, "uicn8", ["v1"])
    now = int(time.time() * 1000)
    LatencyLog(env.url).append(
        [LatencySample(now, "uicn8", "v1", "echo", 5.0 + i % 3, True, "test-query") for i in range(10)]
        + [LatencySample(now, "uicn8", "v2", "echo", 30.0 + i % 3, True, "canary") for i in range(10)])
    async with running(env) as (pilot, app):
        app.open_resource("deployment", "uicn8")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen.data is not None,
                       what="the deployment screen")
        text = screen_text(pilot)
        assert "v2 ▲ answered slower" in text
        assert "▲ slower: p95 32.0 ms against 7.0 ms for v1" in text


async def test_a_production_canary_wants_the_id_typed(env: Env) -> None:
    infra = env.deployer.create_infra("uicn-prod", "Production", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(env.node_url, env.node_key)
    settings.save()
    deploy(env, "uicn-prod1", ["v1"], infra="uicn-prod")
    async with running(env) as (pilot, app):
        await on_deployment(pilot, "uicn-prod1")
        await pilot.press("C")
        form = app.screen
        assert isinstance(form, CanaryFormScreen)
        await wait_for(pilot, lambda: form.loaded, what="the versions")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: form.plan is not None, what="the plan read from the deployer")
        assert form.plan.production and form.plan.previous == single("v1")
        box = form.query_one("#cn-type", Input)
        assert box.display and app.focused is box
        assert "Production (Production): type uicn-prod1" in form.error_shown
        await pilot.press(*"uicn-prod", "enter")
        assert app.screen is form and not app.canaries.runs, "not the id: nothing starts"
        assert any("Type uicn-prod1 exactly" in t.message for t in app.toasts)
        # Changing a field drops the plan read: the next start reads the deployment again.
        form.query_one("#cn-soak", Input).value = "1s"
        await pilot.pause()
        assert form.plan is None and not box.display
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: form.plan is not None, what="the plan read again")
        box.value = ""
        box.focus()
        await pilot.press(*"uicn-prod1", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CanaryScreen), what="the live screen")
        run = app.canaries.get("uicn-prod1")
        assert run is not None and run.plan.soak_s == 1.0 and run.plan.target == "v3"
        app.canaries.abort("uicn-prod1")  # not left half-way when the test ends
        await wait_for(pilot, lambda: not run.running, what="the canary's end", timeout=60)


async def test_the_start_up_offer_is_refused_read_only(env: Env) -> None:
    deploy(env, "uicn9", ["v1"])
    left_record(env, "uicn9")
    async with running(env, listed=False, read_only=True) as (pilot, app):
        await wait_for(pilot, lambda: isinstance(app.screen, CanaryPendingScreen), what="the offer")
        await pilot.press("v")
        await pilot.press("r")
        assert isinstance(app.screen, CanaryPendingScreen) and not app.canaries.runs
        assert {t.message for t in app.toasts} >= {"Read-only mode: “Revert canary” is not allowed",
                                                   "Read-only mode: “Resume canary” is not allowed"}
        await pilot.press("escape")
        assert not isinstance(app.screen, CanaryPendingScreen)


async def test_keys_typed_in_one_burst_reach_the_fields_they_were_typed_for(env: Env) -> None:
    """As a terminal hands over a fast typist's keys (or tmux send-keys): all queued before any is handled."""
    from textual import events

    deploy(env, "uicn-burst", ["v1"])
    async with running(env) as (pilot, app):
        await on_deployment(pilot, "uicn-burst")
        await pilot.press("C")
        form = app.screen
        assert isinstance(form, CanaryFormScreen)
        await wait_for(pilot, lambda: form.loaded and form.focused is not None, what="the versions")
        names = {",": "comma", ".": "full_stop"}
        burst = [("tab", "\t"), ("tab", "\t"), *((names.get(c, c), c) for c in "5,25,50,75,100"), ("tab", "\t"),
                 *((names.get(c, c), c) for c in "1.5s")]
        for key, character in burst:
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: form.query_one("#cn-soak", Input).value == "1.5s", what="the soak typed")
        assert form.query_one("#cn-steps", Input).value == "5,25,50,75,100"


async def test_editing_keys_typed_in_a_burst_apply_where_they_were_typed(env: Env) -> None:
    """`ctrl+a ctrl+k 3 s` typed fast into a field: home, clear to the end, then the text (not the text first,
    cleared by the keys typed before it)."""
    from textual import events

    deploy(env, "uicn-edit-burst", ["v1"])
    async with running(env) as (pilot, app):
        await on_deployment(pilot, "uicn-edit-burst")
        await pilot.press("C")
        form = app.screen
        assert isinstance(form, CanaryFormScreen)
        await wait_for(pilot, lambda: form.loaded and form.focused is not None, what="the versions")
        names = {",": "comma"}
        burst = [("tab", "\t"), ("tab", "\t"), ("ctrl+a", "\x01"), ("ctrl+k", "\x0b"),
                 *((names.get(c, c), c) for c in "50,100"), ("tab", "\t"), ("end", None),
                 ("backspace", "\x08"), ("backspace", "\x08"), ("backspace", "\x08"), ("ctrl+a", "\x01"),
                 ("ctrl+k", "\x0b"), ("3", "3"), ("s", "s")]
        for key, character in burst:
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: form.query_one("#cn-soak", Input).value == "3s",
                       what=f"the soak typed (now {form.query_one('#cn-soak', Input).value!r})")
        assert form.query_one("#cn-steps", Input).value == "50,100"
