"""A version skew made for real — one node's mapping switched through its own admin API, behind the
deployer's back — as the console shows it: the infra's node-by-node matrix, SKEW in the main pane, the
deployment screen's health messages; the matrix's one line on a deployer without per-node data; and
snapshots of the matrix and of the rollback preview (StablePresentation: ports read PORT)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import asynccontextmanager

import dataikuapi
import pytest

from deployer_tui.core import skew
from deployer_tui.core.client import DeployerClient
from deployer_tui.core.config import Config
from deployer_tui.ui.app import DeployerApp, Session
from deployer_tui.ui.screens.deployment import DeploymentScreen
from deployer_tui.ui.screens.infra import InfraScreen
from deployer_tui.ui.screens.rollback import RollbackScreen
from deployer_tui.ui.view.formatting import StablePresentation
from tests import servers
from tests.deployer.conftest import ADMIN_KEY
from tests.deployer.conftest import wait_for as wait_sync
from tests.rollback.conftest import deploy
from tests.strict.conftest import Env, start_env
from tests.ui.helpers import RecordingApp, cell, health_filled, screen_text, table, wait_for

NODE2_KEY = "node2-admin-key-for-ui-tests"
SIZE = (120, 40)


@pytest.fixture(scope="module")
def skewed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Env, str]]:
    """`serve` with its node and a second one on infra `two-nodes`: `sk1` (v1 → v2) whose second node was
    switched back to v1 behind the deployer's back, and `sk2` (v1 → v2) left alone."""
    root = tmp_path_factory.mktemp("ui-skew")
    env = start_env(root, strict=False)
    other = servers.apinode(root / "node2", NODE2_KEY)
    try:
        infra = env.deployer.create_infra("two-nodes", "Development", "STATIC")
        settings = infra.get_settings()
        settings.add_apinode(env.node_url, env.node_key)
        settings.add_apinode(other.url("apinode"), NODE2_KEY)
        settings.save()
        deploy(env, "sk1", ["v1", "v2"], infra="two-nodes")
        deploy(env, "sk2", ["v1", "v2"], infra="two-nodes")
        dataikuapi.APINodeAdminClient(other.url("apinode"), NODE2_KEY).service("svc-sk1") \
            .switch_to_single_generation("v1")

        async def heavy():
            async with DeployerClient(env.url, ADMIN_KEY) as client:
                return await client.get_deployment_status("sk1")

        # The deployer caches what nodes say for a moment: the skew shows once it asks them again.
        wait_sync(lambda: skew.skew(asyncio.run(heavy())), timeout=30, what="the skew to show")
        yield env, other.url("apinode")
    finally:
        other.stop()
        env.proc.stop()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    env = start_env(tmp_path_factory.mktemp("ui-skew-strict"), strict=True)
    deploy(env, "st-matrix", ["v1"])
    yield env
    env.proc.stop()


@asynccontextmanager
async def running(env: Env):
    client = DeployerClient(env.url, ADMIN_KEY)
    app = RecordingApp(client=client)
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await wait_for(pilot, lambda: app.store.loaded and health_filled(table(pilot, "deployments")),
                           what="the deployments and their health")
            yield pilot, app
    finally:
        await client.aclose()


async def test_a_real_skew_shows_in_the_matrix_the_main_pane_and_the_health_messages(skewed) -> None:
    env, node2 = skewed
    async with running(env) as (pilot, app):
        deployments = table(pilot, "deployments")
        assert cell(deployments, "sk1", "health") == "SKEW"
        assert cell(deployments, "sk2", "health") != "SKEW"

        app.open_resource("infra", "two-nodes")
        await wait_for(pilot, lambda: isinstance(app.screen, InfraScreen) and app.screen.matrix is not None,
                       what="the matrix")
        grid = app.screen.matrix
        assert grid.nodes == [env.node_url, node2]
        row = {r.deployment_id: r for r in grid.rows}
        assert [c.cell for c in row["sk1"].cells.values()] == ["v2", "v1"] and row["sk1"].skew
        assert [c.cell for c in row["sk2"].cells.values()] == ["v2", "v2"] and not row["sk2"].skew
        shown = screen_text(pilot)
        line = next(li for li in shown.splitlines() if li.startswith("SKEW sk1: version skew: "))
        assert f"{env.node_url} serves v2" in line and f"{node2} serves v1" in line
        assert "sk1 ⚠" in shown and "SKEW sk2" not in shown

        await pilot.press("escape")
        app.open_resource("deployment", "sk1")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen.data is not None,
                       what="the deployment screen")
        shown = screen_text(pilot)
        assert "Version skew" in shown and node2 in shown.split("Version skew", 1)[1].split("\n", 1)[0]


async def test_the_matrix_says_in_one_line_when_the_deployer_reports_no_node_data(strict: Env) -> None:
    async with running(strict) as (pilot, app):
        app.open_resource("infra", "live")
        await wait_for(pilot, lambda: isinstance(app.screen, InfraScreen) and app.screen.matrix is not None,
                       what="the matrix")
        assert not app.screen.matrix.reported
        assert skew.NO_NODE_DATA in screen_text(pilot)
        assert "API node " not in screen_text(pilot).split("Nodes × deployments", 1)[1]


def stable_app(env: Env) -> DeployerApp:
    present = StablePresentation()

    async def connect() -> Session:
        client = DeployerClient(env.url, ADMIN_KEY)
        return Session(client, present.url(env.url), client.aclose)

    return DeployerApp(connect=connect, presentation=present, config=Config(refresh_interval=0))


async def loaded(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.session is not None and app.store.loaded
                   and health_filled(table(pilot, "deployments")), what="lists and health")
    await wait_for(pilot, lambda: app.user != "", what="the user in the header")


def test_matrix_snapshot(snap_compare, skewed) -> None:
    async def run_before(pilot) -> None:
        await loaded(pilot)
        pilot.app.open_resource("infra", "two-nodes")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, InfraScreen) and pilot.app.screen.matrix,
                       what="the matrix")
        await wait_for(pilot, lambda: table(pilot, "deployments").row_count == 2, what="its deployments")
        await pilot.pause()

    assert snap_compare(stable_app(skewed[0]), terminal_size=SIZE, run_before=run_before)


def test_rollback_preview_snapshot(snap_compare, skewed) -> None:
    async def run_before(pilot) -> None:
        await loaded(pilot)
        deployments = table(pilot, "deployments")
        await wait_for(pilot, lambda: deployments.select_key("sk1"), what="sk1 listed")
        deployments.focus()
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RollbackScreen)
                       and pilot.app.screen.state == "ready", what="the preview")
        await pilot.pause()

    assert snap_compare(stable_app(skewed[0]), terminal_size=SIZE, run_before=run_before)
