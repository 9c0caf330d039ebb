"""App options from the config: theme (and a wrong one), auto-refresh off; `q` quits from the main screen."""

from __future__ import annotations

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.config import Config
from deployer_tui.ui.screens.main import MainScreen
from deployer_tui.ui.screens.service import ServiceScreen
from tests.ui.conftest import needs_server
from tests.ui.helpers import RecordingApp, wait_for

pytestmark = needs_server


async def test_theme_from_config_and_q_quits(plain_server):
    proc, key = plain_server
    async with DeployerClient(proc.url("deployer"), key) as client:
        await client.create_service("svc-a")
        app = RecordingApp(client=client, config=Config(theme="nord", refresh_interval=0))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: "svc-a" in app.store.services)
            assert app.theme == "nord"
            app.open_resource("service", "svc-a")
            await wait_for(pilot, lambda: isinstance(app.screen, ServiceScreen))
            await pilot.press("q")  # back, not quit
            assert isinstance(app.screen, MainScreen) and app.is_running
            await pilot.press("q")  # quit on the main screen
            await wait_for(pilot, lambda: not app.is_running, what="the app to exit")


async def test_unknown_theme_is_a_warning_not_a_crash(plain_server):
    proc, key = plain_server
    async with DeployerClient(proc.url("deployer"), key) as client:
        app = RecordingApp(client=client, config=Config(theme="no-such-theme", refresh_interval=0))
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await wait_for(pilot, lambda: app.store.loaded)
            assert app.theme != "no-such-theme"
            await wait_for(pilot, lambda: any("no-such-theme" in n.message for n in app.toasts), what="the toast")
