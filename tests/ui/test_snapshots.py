"""SVG snapshots of the main screen and each detail view, on the demo data of a real local deployer.

The demo data carries real timestamps and the servers listen on ephemeral ports, so the app runs
with `StablePresentation`: a frozen clock, fixed timestamps and URLs whose port reads PORT. Nothing
else is masked: every id, health, mapping and table layout is the real app's output.
Update with `pytest tests/ui/test_snapshots.py --snapshot-update` after looking at the report.
"""

from __future__ import annotations

import pytest

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.config import Config
from deployer_tui.ui.app import DeployerApp, Session
from deployer_tui.ui.view.formatting import StablePresentation
from tests.ui.conftest import needs_server
from tests.ui.helpers import health_filled, table, wait_for

pytestmark = needs_server
SIZE = (120, 40)


@pytest.fixture
def make_app(demo_server, ui_api_key):
    def make() -> DeployerApp:
        url = demo_server.url("deployer")
        present = StablePresentation()

        async def connect() -> Session:
            client = DeployerClient(url, ui_api_key)
            return Session(client, present.url(url), client.aclose)

        # No auto-refresh: a refresh during the capture would only add noise.
        return DeployerApp(connect=connect, presentation=present, config=Config(refresh_interval=0))

    return make


async def loaded(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.store.loaded and health_filled(table(pilot, "deployments")),
                   what="lists and health")
    await wait_for(pilot, lambda: app.user != "", what="the user in the header")


def opened(kind: str, ident: str, *keys: str):
    async def run_before(pilot) -> None:
        await loaded(pilot)
        pilot.app.open_resource(kind, ident)
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "data", None) is not None, what=f"{kind} {ident}")
        if kind != "deployment":
            await wait_for(pilot, lambda: table(pilot, "deployments").row_count > 0, what="its deployments")
        if kind == "infra":
            await wait_for(pilot, lambda: pilot.app.screen.matrix is not None, what="the node-by-node matrix")
        await pilot.press(*keys)
        await pilot.pause()

    return run_before


def test_main_screen(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=loaded)


def test_main_screen_narrowed_to_a_service(snap_compare, make_app):
    async def run_before(pilot) -> None:
        await loaded(pilot)
        await pilot.press("2", "G", "space")

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_deployment_detail(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=opened("deployment", "titanic-on-dev"))


def test_service_detail(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=opened("service", "titanic"))


def test_infra_detail(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=opened("infra", "dev-local"))


def test_help(snap_compare, make_app):
    async def run_before(pilot) -> None:
        await loaded(pilot)
        await pilot.press("question_mark")

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


# At 80×24 the footer keeps the focused pane's essentials with `?` and `q`, the tables drop their least
# useful columns, and the help's "does" column does not wrap.
SMALL = (80, 24)


def test_main_screen_80x24(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=loaded)


def test_deployment_detail_80x24(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=opened("deployment", "titanic-on-dev"))


def test_help_80x24(snap_compare, make_app):
    async def run_before(pilot) -> None:
        await loaded(pilot)
        await pilot.press("question_mark")

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)
