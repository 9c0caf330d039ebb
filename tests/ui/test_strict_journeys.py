"""The console's main journeys, each run against the local deployer as it is and as `serve --dss-strict`
(only the shapes the official client reads or DSS documents): the main screen, the deployment screen, an
update from start to end (success, a failure with an API node down, an abort), the history, test queries
and a settings save with its conflict check. Both must pass, and neither may claim what the deployer did
not say (SUCCESS without evidence, "never deployed" for a deployed deployment, a column of UNKNOWN nodes,
nodes "waiting" for a whole update)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import pytest
from textual.widgets import DataTable

from deployer_tui.core import readers
from deployer_tui.core.client import DeployerClient
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.job_follower import NO_NODE_PROGRESS
from deployer_tui.core.settings_edit import dump, set_enabled
from deployer_tui.ui.screens.deployment import DeploymentScreen
from deployer_tui.ui.screens.main import MainScreen
from deployer_tui.ui.screens.modals import ConfirmScreen
from deployer_tui.ui.screens.query_runner import NOT_REPORTED, TestQueriesScreen
from deployer_tui.ui.screens.rollback import HistoryChoiceScreen
from deployer_tui.ui.screens.settings_diff import AskScreen, ConflictScreen, SettingsDiffScreen
from deployer_tui.ui.screens.settings_editor import SettingsEditorScreen
from deployer_tui.ui.screens.update_screen import (
    UpdateConfirmScreen,
    UpdateHistoryScreen,
    UpdateLogScreen,
    UpdateScreen,
)
from deployer_tui.ui.widgets.json_editor import JsonEditor
from deployer_tui.ui.widgets.key_footer import KeyFooter
from tests import servers
from tests.ui.conftest import needs_server
from tests.ui.helpers import RecordingApp, cell, health_filled, screen_text, table, wait_for

pytestmark = needs_server

NODE_KEY = "node-admin-key-" + secrets.token_hex(6)
SIZE = (120, 40)


@pytest.fixture
async def client(either_server: tuple[servers.Proc, bool], ui_api_key: str):
    async with DeployerClient(either_server[0].url("deployer"), ui_api_key) as c:
        yield c


@pytest.fixture
def strict(either_server: tuple[servers.Proc, bool]) -> bool:
    return either_server[1]


@pytest.fixture
def spare_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Proc]:
    proc = servers.apinode(tmp_path_factory.mktemp("spare-node"), NODE_KEY)
    try:
        yield proc
    finally:
        proc.stop()


async def new_deployment(client: DeployerClient, node_url: str) -> str:
    """A toolbox deployment alone on an infra of one API node (`node_url`)."""
    suffix = secrets.token_hex(3)
    infra, deployment = f"infra-{suffix}", f"toolbox-on-{suffix}"
    await client.create_infra(infra, "Development")
    settings = await client.get_infra_settings(infra)
    settings["apiNodes"] = [{"url": node_url, "adminAPIKey": NODE_KEY}]
    await client.save_infra_settings(infra, settings)
    await client.create_deployment(deployment, "toolbox", infra, "v1")
    return deployment


async def main_loaded(pilot, app: RecordingApp) -> None:
    await wait_for(pilot, lambda: app.store.loaded and health_filled(table(pilot, "deployments")),
                   what="the lists and their health")


async def update_by_keys(pilot, app: RecordingApp, deployment: str) -> UpdateScreen:
    """u on the deployment, y in the confirmation: the live update screen."""
    deployments = table(pilot, "deployments")
    deployments.focus()
    assert deployments.select_key(deployment)
    await pilot.press("u")
    await wait_for(pilot, lambda: isinstance(app.screen, UpdateConfirmScreen) and app.screen.rows is not None,
                   what="the confirmation's summary")
    await pilot.press("y")
    await wait_for(pilot, lambda: isinstance(app.screen, UpdateScreen), what="the update screen")
    return app.screen  # type: ignore[return-value]


def footer_keys(pilot) -> set[str]:
    footer = pilot.app.screen.query_one(KeyFooter)
    return {binding.action for (_, binding, enabled, _) in footer.screen.active_bindings.values()
            if binding.show and enabled}


async def test_main_screen(client: DeployerClient) -> None:
    app = RecordingApp(client=client)
    async with app.run_test(size=SIZE) as pilot:
        await main_loaded(pilot, app)
        deployments = table(pilot, "deployments")
        assert {"titanic-on-dev", "toolbox-on-dev", "passengers-on-dev"} <= set(deployments.visible_keys)
        # Health is the deployer's own top-level value on both: nothing here needs per-node data.
        assert cell(deployments, "passengers-on-dev", "health") == "HEALTHY"
        assert cell(deployments, "titanic-canary-on-dev", "health") == "DISABLED"


async def test_deployment_screen_shows_node_columns_only_when_nodes_report(client: DeployerClient,
                                                                          strict: bool) -> None:
    app = RecordingApp(client=client)
    async with app.run_test(size=SIZE) as pilot:
        await main_loaded(pilot, app)
        app.open_resource("deployment", "passengers-on-dev")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen.data is not None,
                       what="the deployment detail")
        text = screen_text(pilot)
        assert "API nodes (1)" in text
        if strict:
            # Only `url` per node: one line saying so, never a column of UNKNOWN that looks like a fault.
            assert readers.NO_NODE_STATE in text
            assert "UNKNOWN" not in text
        else:
            assert readers.NO_NODE_STATE not in text
            assert "serving" in text and "v1" in text


async def test_update_success(client: DeployerClient, strict: bool) -> None:
    app = RecordingApp(client=client)
    async with app.run_test(size=SIZE) as pilot:
        await main_loaded(pilot, app)
        screen = await update_by_keys(pilot, app, "passengers-on-dev")
        run = app.updates.get("passengers-on-dev")
        await wait_for(pilot, lambda: not run.running, what="the update to end")
        assert run.state == "SUCCESS", run.summary()
        await wait_for(pilot, lambda: screen.log_view.pending == 0 and "SUCCESS" in screen_text(pilot))
        text = screen_text(pilot)
        if strict:
            # The strict log names no node in our form: say so, rather than "waiting" for the whole update.
            assert NO_NODE_PROGRESS in text and "waiting" not in text
        else:
            assert [n.state for n in run.nodes.values()] == ["ok"]
        # Finished: no abort offered, and the log says it is complete rather than "end to follow".
        assert "abort" not in footer_keys(pilot)
        assert "COMPLETE" in screen.log_view.status_text and "end to follow" not in screen.log_view.status_text
        await pilot.press("x")
        assert app.screen is screen  # no abort confirmation for a finished update


async def test_update_confirmation_does_not_say_never_deployed_for_a_deployed_deployment(
        client: DeployerClient) -> None:
    app = RecordingApp(client=client)
    async with app.run_test(size=SIZE) as pilot:
        await main_loaded(pilot, app)
        deployments = table(pilot, "deployments")
        deployments.focus()
        assert deployments.select_key("titanic-on-dev")
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UpdateConfirmScreen) and app.screen.rows is not None)
        rows = {what: deployed for what, _, deployed in app.screen.rows}
        assert "never deployed" not in rows["Mapping"], rows
        await pilot.press("n")
        assert isinstance(app.screen, MainScreen)


async def test_update_failure_with_the_node_down(client: DeployerClient, spare_node: servers.Proc) -> None:
    deployment = await new_deployment(client, spare_node.url("apinode"))
    app = RecordingApp(client=client)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.store.loaded and deployment in app.store.deployments)
        first = app.updates.start(deployment)
        await wait_for(pilot, lambda: not first.running, what="the first update")
        assert first.state == "SUCCESS", first.summary()
        spare_node.kill()
        run = app.updates.start(deployment)
        await app.push_screen(UpdateScreen(deployment, app.updates))
        await wait_for(pilot, lambda: not run.running, what="the failing update")
        # FAILED on both: from node counts here, from the result's messages alone on the strict deployer.
        assert run.state == "FAILED", run.summary()
        await wait_for(pilot, lambda: "FAILED" in screen_text(pilot))
        assert "abort" not in footer_keys(pilot)


async def test_update_abort(client: DeployerClient, blackhole: str) -> None:
    deployment = await new_deployment(client, blackhole)
    app = RecordingApp(client=client)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.store.loaded and deployment in app.store.deployments)
        screen = await update_by_keys(pilot, app, deployment)
        run = app.updates.get(deployment)
        await wait_for(pilot, lambda: run.state == "RUNNING" and run.job_id, what="the job to start")
        assert "abort" in footer_keys(pilot)
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: not run.running, what="the abort")
        assert run.state == "ABORTED", run.summary()
        assert app.screen is screen and "Aborted" in screen_text(pilot)
        record = await client.list_updates(deployment)
        assert any(item.get("status") == "ABORTED" for item in record)


async def test_history_and_a_past_log(client: DeployerClient) -> None:
    app = RecordingApp(client=client)
    async with app.run_test(size=SIZE) as pilot:
        await main_loaded(pilot, app)
        await app.push_screen(UpdateHistoryScreen("titanic-on-dev", client, tracker=app.updates))
        history = app.screen
        await wait_for(pilot, lambda: history.loaded and history.query_one(DataTable).row_count > 0)
        assert str(history.query_one(DataTable).get_row_at(0)[5]) == "SUCCESS"
        await pilot.press("enter")  # a past row offers its log or a redeploy: l, the log
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryChoiceScreen) and app.screen.is_mounted)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, UpdateLogScreen) and app.screen.record is not None)
        log = app.screen.log_view
        await wait_for(pilot, lambda: log.pending == 0 and len(log.lines) > 0)
        # A past update's log is complete: not "PAUSED · end to follow".
        assert "COMPLETE" in log.status_text and "PAUSED" not in log.status_text


async def test_test_queries_run_on_an_early_r_and_show_the_answering_version(client: DeployerClient) -> None:
    app = RecordingApp(client=client)
    async with app.run_test(size=(80, 24)) as pilot:
        await main_loaded(pilot, app)
        deployments = table(pilot, "deployments")
        deployments.focus()
        assert deployments.select_key("titanic-on-dev")
        # r right after T, before the endpoints are loaded: it runs once they are, not lost.
        await pilot.press("T", "r")
        screen = app.screen
        assert isinstance(screen, TestQueriesScreen)
        results = screen.query_one("#tq-results", DataTable)
        await wait_for(pilot, lambda: results.row_count > 0, what="the results of the early r")
        row = [str(c) for c in results.get_row_at(0)]
        assert "OK" in row[1]
        assert row[3].endswith(" ms")  # latency
        assert row[4] not in ("", NOT_REPORTED) and row[4].startswith("v"), row  # which version answered


async def test_settings_save_with_its_conflict_check(client: DeployerClient) -> None:
    app = RecordingApp(client=client)
    async with app.run_test(size=SIZE) as pilot:
        await main_loaded(pilot, app)
        app.push_screen(SettingsEditorScreen(client, "deployment", "passengers-on-dev"))
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsEditorScreen) and app.screen.loaded is not None,
                       what="the settings to load")
        editor = app.screen.query_one(JsonEditor)
        editor.replace_all(dump(set_enabled(editor.value, False)))
        theirs = await client.get_deployment_settings("passengers-on-dev")
        theirs["tags"] = ["changed-elsewhere"]
        await client.save_deployment_settings("passengers-on-dev", theirs)
        try:
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, ConflictScreen) and app.screen.is_mounted)
            assert (await client.get_deployment_settings("passengers-on-dev"))["enabled"] is not False
            await pilot.press("r")  # my change on top of theirs
            await wait_for(pilot, lambda: isinstance(app.screen, SettingsEditorScreen))
            await wait_for(pilot, lambda: editor.value.get("tags") == ["changed-elsewhere"])
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, SettingsDiffScreen) and app.screen.is_mounted)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, AskScreen) and app.screen.is_mounted)
            await pilot.press("n")  # no update now
            await wait_for(pilot, lambda: not isinstance(app.screen, AskScreen))
            saved = await client.get_deployment_settings("passengers-on-dev")
            assert saved["tags"] == ["changed-elsewhere"] and saved["enabled"] is False
        finally:
            with contextlib.suppress(DeployerError):
                restored = await client.get_deployment_settings("passengers-on-dev")
                restored["enabled"], restored["tags"] = True, []
                await client.save_deployment_settings("passengers-on-dev", restored)
