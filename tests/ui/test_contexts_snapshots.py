"""Snapshots of contexts on screen: the main screen of a production context (its header in the context's
colour, saying PRODUCTION) and the ctrl+o list of contexts, on the demo data of a real local deployer.

As in tests/ui/test_snapshots.py the app runs with `StablePresentation` (frozen clock, URLs whose port
reads PORT); the contexts' URLs are written as the list shows them, and the one opened connects to the
demo deployer. Update with `--snapshot-update` after looking at the report."""

from __future__ import annotations

import pytest

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.config import Config
from deployer_tui.core.contexts import Context
from deployer_tui.ui.app import DeployerApp, Session
from deployer_tui.ui.screens.contexts import ContextListScreen
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
        contexts = [
            Context("prod", present.url(url), "not-sent", source="config:profiles.prod", production=True,
                    current=True, where="config.toml"),
            Context("design", "https://design.example.com", "not-sent", source="dataiku:design",
                    where="~/.dataiku/config.json"),
            Context("sandbox", "https://sandbox.example.com", "not-sent", source="config:profiles.sandbox",
                    read_only=True, where="config.toml"),
            Context("local", None, None, source="local", where="the embedded deployer"),
        ]

        async def open_context(context: Context) -> Session:
            assert context.name == "prod", "only the current context is opened here"
            client = DeployerClient(url, ui_api_key)
            return Session(client, present.url(url), client.aclose)

        return DeployerApp(contexts=contexts, open_context=open_context, presentation=present,
                           config=Config(refresh_interval=0))

    return make


async def loaded(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.store.loaded and health_filled(table(pilot, "deployments")),
                   what="lists and health")
    await wait_for(pilot, lambda: app.user != "", what="the user in the header")


def test_production_header(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=loaded)


def test_context_list(snap_compare, make_app) -> None:
    async def run_before(pilot) -> None:
        await loaded(pilot)
        await pilot.press("ctrl+o")
        assert isinstance(pilot.app.screen, ContextListScreen)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)
