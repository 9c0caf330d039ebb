"""`R` and the history's "redeploy this" against a real `serve` and its API node: the node's own answers
prove which version is served after each step; the stored test queries run and their counts are shown."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import asynccontextmanager

import pytest
from textual.widgets import DataTable

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.journal import Journal, JournalRecord
from deployer_tui.ui.screens.deployment import DeploymentScreen
from deployer_tui.ui.screens.rollback import HistoryChoiceScreen, RollbackScreen
from deployer_tui.ui.screens.update_screen import UpdateHistoryScreen, UpdateScreen
from tests.deployer.conftest import ADMIN_KEY
from tests.rollback.conftest import add_v3, deploy, served_version
from tests.strict.conftest import Env, start_env
from tests.ui.helpers import RecordingApp, screen_text, table, wait_for


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    env = start_env(tmp_path_factory.mktemp("ui-rollback"), strict=False)
    add_v3(env)
    yield env
    env.proc.stop()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    env = start_env(tmp_path_factory.mktemp("ui-rollback-strict"), strict=True)
    yield env
    env.proc.stop()


@asynccontextmanager
async def running(env: Env, **kwargs):
    client = DeployerClient(env.url, ADMIN_KEY)
    app = RecordingApp(client=client, **kwargs)
    try:
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
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


def rollback_screen(pilot) -> RollbackScreen | None:
    screen = pilot.app.screen
    return screen if isinstance(screen, RollbackScreen) else None


async def confirm_and_finish(pilot) -> RollbackScreen:
    screen = rollback_screen(pilot)
    assert screen is not None
    await wait_for(pilot, lambda: screen.state == "ready", what="the preview")
    await pilot.press("y")
    await wait_for(pilot, lambda: screen.state == "done", what="the rollback's end", timeout=60)
    await pilot.pause()
    return screen


async def test_R_rolls_back_runs_the_test_queries_then_offers_the_roll_forward(env: Env) -> None:
    deploy(env, "uirb1", ["v1", "v2"])
    async with running(env) as (pilot, app):
        await on_deployment(pilot, "uirb1")
        await pilot.press("R")
        screen = rollback_screen(pilot)
        assert screen is not None
        await wait_for(pilot, lambda: screen.state == "ready", what="the preview")
        assert "uirb1  v2 → v1" in screen_text(pilot)
        assert screen.plan is not None and [n.versions for n in screen.plan.nodes.values()] == [("v2",)]
        assert served_version(env, "uirb1") == "v2", "nothing changes before the confirmation"

        screen = await confirm_and_finish(pilot)
        assert screen.summary is not None and screen.summary.ok
        assert (screen.summary.queries_ok, screen.summary.queries_failed) == (2, 0)
        assert served_version(env, "uirb1") == "v1"
        assert "stored test queries: 2 ok, 0 failed" in screen_text(pilot)
        assert any(e.lines for e in screen.events), "the update's log was followed live"
        await wait_for(pilot, lambda: screen.log_view.pending == 0, what="the log written")
        assert len(screen.log_view.buffer) > 0
        assert any(t.title == "Rollback" and "uirb1" in t.message for t in app.toasts)

        await pilot.press("f")
        forward = rollback_screen(pilot)
        assert forward is not None and forward is not screen and forward.kind == "rollforward"
        forward = await confirm_and_finish(pilot)
        assert forward.summary is not None and forward.summary.ok
        assert served_version(env, "uirb1") == "v2"
        assert any(t.title == "Roll-forward" for t in app.toasts)

    async with DeployerClient(env.url, ADMIN_KEY) as client:
        records = await client.list_updates("uirb1")
    assert [r.get("reason") for r in records[:2]] == ["ROLLFORWARD", "ROLLBACK"]


async def test_R_on_the_deployment_screen_and_refused_read_only(env: Env) -> None:
    deploy(env, "uirb2", ["v1", "v2"])
    async with running(env, read_only=True) as (pilot, app):
        await on_deployment(pilot, "uirb2")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="the deployment screen")
        await pilot.press("R")
        assert rollback_screen(pilot) is None
        assert any("Roll back" in t.message and "Read-only" in t.message for t in app.toasts)
    async with running(env) as (pilot, app):
        await on_deployment(pilot, "uirb2")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="the deployment screen")
        await pilot.press("R")
        screen = await confirm_and_finish(pilot)
        assert screen.summary is not None and screen.summary.ok
    assert served_version(env, "uirb2") == "v1"


async def test_history_shows_what_each_update_deployed_and_redeploys_an_older_one(env: Env) -> None:
    deploy(env, "uirb3", ["v1", "v2", "v3"])
    async with running(env) as (pilot, app):
        await on_deployment(pilot, "uirb3")
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, UpdateHistoryScreen) and app.screen.loaded,
                       what="the history")
        history = app.screen
        grid = history.query_one(DataTable)
        await wait_for(pilot, lambda: grid.row_count == 3, what="three updates")
        deployed = [str(grid.get_row_at(i)[1]) for i in range(3)]
        assert deployed == ["v3", "v2", "v1"]
        assert all(str(grid.get_row_at(i)[3]) != "-" for i in range(3)), "who started each"
        await pilot.press("j", "j")
        await pilot.press("enter")
        assert isinstance(app.screen, HistoryChoiceScreen)
        await pilot.press("r")
        screen = rollback_screen(pilot)
        assert screen is not None and (screen.target or {}).get("generation") == "v1"
        screen = await confirm_and_finish(pilot)
        assert screen.summary is not None and screen.summary.ok
        assert served_version(env, "uirb3") == "v1"
        await pilot.press("escape")
        assert app.screen is history
        await wait_for(pilot, lambda: grid.row_count == 4, what="the redeploy's record")
        assert str(grid.get_row_at(0)[1]) == "v1" and str(grid.get_row_at(0)[2]) == "rollback"


async def test_journal_only_rows_against_a_strict_deployer(strict: Env) -> None:
    deploy(strict, "uist1", ["v1"])
    async with running(strict) as (pilot, app):
        await on_deployment(pilot, "uist1")
        # An update started from the console is journalled with what it deploys: a DSS record does not say.
        await pilot.press("u")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, UpdateScreen), what="the update screen")
        await wait_for(pilot, lambda: not app.updates.is_running("uist1") and app.updates.get("uist1") is not None,
                       what="the update's end", timeout=60)
        journal = Journal(strict.url)
        assert [(r.kind, r.outcome, (r.mapping or {}).get("generation")) for r in journal.records("uist1")] \
            == [("update", "SUCCESS", "v1")]
        # One the deployer does not list (its record is gone): only the journal knows it.
        oldest = journal.records("uist1")[0].started - 3_600_000
        journal.write(JournalRecord("uist1", oldest, {"mode": "SINGLE_GENERATION", "generation": "v2"},
                                    "rollback", "SUCCESS", ended=oldest + 5_000))
        await pilot.press("escape")
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, UpdateHistoryScreen) and app.screen.loaded,
                       what="the history")
        grid = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: grid.row_count == 3, what="two deployer records and a journal one")
        rows = [[str(c) for c in grid.get_row_at(i)] for i in range(3)]
        assert rows[0][1] == "v1" and rows[0][6] == "deployer + journal"
        assert rows[1][1] == "unknown" and rows[1][6] == "deployer"  # created before this console ran
        assert rows[2][1] == "v2" and rows[2][6] == "journal only" and rows[2][2] == "rollback"
        await pilot.press("j", "j", "enter")
        assert isinstance(app.screen, HistoryChoiceScreen) and not app.screen.has_log
        assert "known only from this console's journal" in screen_text(pilot)
        await pilot.press("escape")


async def test_a_production_rollback_wants_the_id_typed(env: Env) -> None:
    infra = env.deployer.create_infra("uirb-prod", "Production", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(env.node_url, env.node_key)
    settings.save()
    deploy(env, "uirb-prod1", ["v1", "v2"], infra="uirb-prod")
    async with running(env) as (pilot, app):
        await on_deployment(pilot, "uirb-prod1")
        await pilot.press("R")
        screen = rollback_screen(pilot)
        assert screen is not None
        await wait_for(pilot, lambda: screen.state == "ready", what="the preview")
        assert screen.plan is not None and screen.plan.production
        await pilot.press("y")  # a letter of the field, not a confirmation
        assert screen.state == "ready" and served_version(env, "uirb-prod1") == "v2"
        await pilot.press("backspace", *"uirb-prod", "enter")  # not the id: refused, nothing runs
        assert screen.state == "ready"
        assert any("Type uirb-prod1 exactly" in t.message for t in app.toasts)
        await pilot.press("1", "enter")
        await wait_for(pilot, lambda: screen.state == "done", what="the rollback's end", timeout=60)
        assert screen.summary is not None and screen.summary.ok
    assert served_version(env, "uirb-prod1") == "v1"
