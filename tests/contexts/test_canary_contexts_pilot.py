"""Canaries and contexts, with the pilot, against two real local deployers (tests/contexts/two_contexts.py):
a canary started in alpha keeps running while beta is on screen and its end arrives as a toast naming
alpha; in beta (production by its stages) `C` asks for the deployment's id once, not again in the form."""

from __future__ import annotations

from textual.widgets import Input, Select

from deployer_tui.core.client import DeployerClient
from deployer_tui.ui.screens.canary import CanaryFormScreen, CanaryScreen
from deployer_tui.ui.screens.main import MainScreen
from tests.contexts.two_contexts import deployers_fixture, make_app  # noqa: F401 - the `deployers` fixture
from tests.ui.conftest import keys_are_processed, state_home  # noqa: F401 - autouse fixtures of the UI tests
from tests.ui.helpers import cell, table, wait_for

SIZE = (140, 40)
DEMO = "titanic-on-dev"  # the demo's deployment with v4 and v5 to roll out (docs/deployer.md)


async def goto(pilot, line: str) -> None:
    await pilot.press("colon", *line, "enter")


async def loaded(pilot, name: str) -> None:
    from deployer_tui.ui.state.contexts_state import CONNECTED

    state = pilot.app.contexts.get(name)
    await wait_for(pilot, lambda: state.state == CONNECTED and state.user != "" and not state.store.busy,
                   what=f"context {name} connected")


async def highlight(pilot, deployment_id: str) -> None:
    """Put the cursor on `deployment_id` and see it there: `C` opens the form of the highlighted row."""
    deployments = table(pilot, "deployments")
    # select_key is False until the row is listed: the lists may still be filling in.
    await wait_for(pilot, lambda: deployments.select_key(deployment_id), what=f"{deployment_id} listed")
    deployments.focus()
    await wait_for(pilot, lambda: deployments.current_key == deployment_id and deployments.has_focus,
                   what=f"{deployment_id} highlighted (now {deployments.current_key})")


async def fill_form(pilot, form: CanaryFormScreen, version: str, soak: str) -> None:
    await wait_for(pilot, lambda: form.loaded and bool(form.query("#cn-version")),
                   what=f"the version picker (versions read: {form.versions})")
    form.query_one("#cn-version", Select).value = version
    form.query_one("#cn-steps", Input).value = "50,100"
    form.query_one("#cn-soak", Input).value = soak
    form.query_one("#cn-probe_rate", Input).value = "40"
    # Not a test of the guards: a loose latency bound, so that a loaded machine's jitter never trips one.
    form.query_one("#cn-latency_ratio", Input).value = "50"
    await pilot.pause()


async def test_a_canary_left_running_in_another_context_ends_with_a_toast_naming_it(
        tmp_path, monkeypatch, deployers) -> None:
    app = make_app(tmp_path, monkeypatch, deployers)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot, "alpha")
        alpha, beta = app.contexts.get("alpha"), app.contexts.get("beta")
        await highlight(pilot, DEMO)
        await pilot.press("C")
        form = app.screen
        assert isinstance(form, CanaryFormScreen) and form.deployment_id == DEMO
        await fill_form(pilot, form, "v5", "3s")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, CanaryScreen), what="the live screen")
        alpha_live = app.screen
        assert alpha.canaries.is_running(DEMO)

        await goto(pilot, "ctx beta")
        assert app.contexts.current == "beta"
        await loaded(pilot, "beta")
        assert alpha.canaries.is_running(DEMO), "switching does not stop alpha's canary"
        assert not beta.canaries.runs and app.canaries is beta.canaries
        # beta's own titanic-on-dev (another deployer) shows no canary: the marker is read per context.
        assert isinstance(app.screen, MainScreen)
        assert "CANARY" not in cell(table(pilot, "deployments"), DEMO, "health")

        run = alpha.canaries.get(DEMO)
        assert run is not None
        await wait_for(pilot, lambda: not run.running, what="alpha's canary", timeout=120)
        assert run.result is not None, run.error
        await wait_for(pilot, lambda: any(t.title.startswith("alpha: Canary") for t in app.toasts),
                       what="the toast naming alpha")
        toast = next(t for t in app.toasts if t.title.startswith("alpha: Canary"))
        assert DEMO in toast.message and run.result.outcome in toast.message
        assert app.contexts.current == "beta", "the toast moved no one"
        assert not any(t.title.startswith("beta:") for t in app.toasts)
        # Back in alpha, its live screen is where it was, showing the end.
        await goto(pilot, "ctx alpha")
        assert app.screen is alpha_live
    # The deployment as the canary left it, in alpha's deployer only.
    async with DeployerClient(deployers["alpha"].direct, deployers["alpha"].key) as client:
        mapping = (await client.get_deployment(DEMO))["deploymentBasicInfo"]["generationsMapping"]
    expected = "v5" if run.result.outcome == "PROMOTED" else "v2"
    assert mapping.get("generation") == expected, mapping


async def test_canary_in_a_production_context_asks_for_the_id_once(tmp_path, monkeypatch, deployers) -> None:
    app = make_app(tmp_path, monkeypatch, deployers)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot, "alpha")
        await goto(pilot, "ctx beta")
        await loaded(pilot, "beta")
        beta = app.contexts.get("beta")
        assert beta.guard.production
        await highlight(pilot, DEMO)
        await pilot.press("C")
        assert type(app.screen).__name__ == "TypedConfirmScreen"
        await pilot.press(*DEMO, "enter")
        form = app.screen
        assert isinstance(form, CanaryFormScreen)
        await fill_form(pilot, form, "v5", "30s")
        await pilot.press("ctrl+s")
        # The stage is Production, yet the form does not ask again: the id was typed for this `C`.
        await wait_for(pilot, lambda: isinstance(app.screen, CanaryScreen), what="the live screen")
        run = beta.canaries.get(DEMO)
        assert run is not None and run.plan.production
        beta.canaries.abort(DEMO)  # back to v2, not left half-way for the other tests
        await wait_for(pilot, lambda: not run.running, what="the abort", timeout=120)
        assert run.result is not None and run.result.outcome in ("ABORTED", "REVERTED"), run.error
