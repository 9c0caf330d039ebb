"""Keys typed ahead (a fast typist, a paste, a loaded machine): each key acts where the keys before it
moved the focus, not where the focus was when the keys arrived."""

from __future__ import annotations

from textual import events

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.config import Config
from deployer_tui.ui.app import DeployerApp
from deployer_tui.ui.screens.create_forms import CreateDeploymentScreen, CreateInfraScreen
from deployer_tui.ui.screens.main import MainScreen
from tests.ui.conftest import needs_server
from tests.ui.helpers import wait_for

pytestmark = needs_server


def type_ahead(app: DeployerApp, *keys: tuple[str, str | None]) -> None:
    """Queue every key before the app handles the first, as the terminal driver does for a burst."""
    for key, char in keys:
        app.post_message(events.Key(key, char))


async def test_pane_key_then_action_key_act_on_the_new_pane(plain_server):
    proc, key = plain_server
    async with DeployerClient(proc.url("deployer"), key) as client:
        app = DeployerApp(client=client, config=Config(refresh_interval=0))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.store.loaded, what="the lists")
            await pilot.press("1")
            assert app.screen.focused_table().id == "infras"
            type_ahead(app, ("3", "3"), ("n", "n"))
            await wait_for(pilot, lambda: not isinstance(app.screen, MainScreen), what="a form")
            assert isinstance(app.screen, CreateDeploymentScreen), f"{type(app.screen).__name__} opened"
            assert not isinstance(app.screen, CreateInfraScreen)



async def test_keys_typed_right_after_slash_go_to_the_filter_box(plain_server):
    proc, key = plain_server
    async with DeployerClient(proc.url("deployer"), key) as client:
        app = DeployerApp(client=client, config=Config(refresh_interval=0))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.store.loaded, what="the lists")
            await pilot.press("3")
            # `e` and `t` are bindings of the main screen (edit, enable/disable): typed ahead of the
            # focus change they must still land in the filter box as text.
            type_ahead(app, ("slash", "/"), ("t", "t"), ("e", "e"), ("s", "s"), ("t", "t"))
            box = app.screen.query_one("#filter")
            await wait_for(pilot, lambda: box.value == "test", what=f"the filter text (now {box.value!r})")
            assert isinstance(app.screen, MainScreen)
            assert app.focused is box
