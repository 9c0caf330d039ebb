"""The settings editor inside the real app: `e` / `E` on the highlighted row, and saving through the
app's one read-only check (its action dispatch)."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import asynccontextmanager

import pytest

from deployer_tui.core import settings_edit as se
from deployer_tui.core.client import DeployerClient
from deployer_tui.ui.screens.main import MainScreen
from deployer_tui.ui.screens.settings_diff import AskScreen, SettingsDiffScreen
from deployer_tui.ui.screens.settings_editor import SettingsEditorScreen
from deployer_tui.ui.screens.update_screen import UpdateScreen
from deployer_tui.ui.widgets.json_editor import JsonEditor
from deployer_tui.ui.widgets.resource_table import ResourceTable
from tests import servers
from tests.ui.helpers import RecordingApp, wait_for
from tests.ui.settings_harness import INFRA, SERVICE, start_seeded

KEY = "admin-" + secrets.token_hex(8)
DEPLOYMENTS = ("app-a", "app-b")


@pytest.fixture(scope="module")
def deployer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Proc]:
    import asyncio

    proc = start_seeded(tmp_path_factory.mktemp("settings-app"), KEY)

    async def deployments() -> None:
        async with DeployerClient(proc.url(), KEY) as client:
            for dep in DEPLOYMENTS:
                await client.create_deployment(dep, SERVICE, INFRA, "v1")

    try:
        asyncio.run(deployments())
        yield proc
    finally:
        proc.stop()


@asynccontextmanager
async def running(deployer: servers.Proc, **kwargs):
    client = DeployerClient(deployer.url(), KEY)
    app = RecordingApp(client=client, **kwargs)
    try:
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and app.store.loaded
                           and app.screen.query_one("#deployments", ResourceTable).row_count > 0,
                           "the deployments list")
            yield pilot, client
    finally:
        await client.aclose()


async def highlight(pilot, pane: str, key: str) -> None:
    table = pilot.app.screen.query_one(f"#{pane}", ResourceTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(key))
    await wait_for(pilot, lambda: table.current_key == key, f"{key} highlighted")


async def editor_loaded(pilot) -> JsonEditor:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, SettingsEditorScreen) and app.screen.loaded is not None,
                   "the editor")
    return app.screen.query_one(JsonEditor)


async def test_e_edits_the_highlighted_deployment_and_saves(deployer) -> None:
    async with running(deployer) as (pilot, client):
        await highlight(pilot, "deployments", "app-b")
        await pilot.press("e")
        editor = await editor_loaded(pilot)
        assert (pilot.app.screen.kind, pilot.app.screen.object_id) == ("deployment", "app-b")
        editor.replace_all(se.dump(se.set_single_version(editor.value, "v2")))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SettingsDiffScreen), "the diff")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, AskScreen), "the update offer")
        await pilot.press("u")  # start the update: the app's update screen follows it
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, UpdateScreen)
                       and pilot.app.screen.deployment_id == "app-b", "the update screen")
        assert (await client.get_deployment_settings("app-b"))["generationsMapping"]["generation"] == "v2"
        await wait_for(pilot, lambda: pilot.app.screen.run is not None and not pilot.app.screen.run.running,
                       "the update to end")  # it fails: this deployer has no API node
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SettingsEditorScreen)
                       and not pilot.app.screen.dirty, "back in the saved editor")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, MainScreen), "back on the main screen")


async def test_e_on_the_infra_and_service_panes(deployer) -> None:
    async with running(deployer) as (pilot, _client):
        for pane, kind, ident in (("infras", "infra", INFRA), ("services", "service", SERVICE)):
            await highlight(pilot, pane, ident)
            await pilot.press("e")
            await editor_loaded(pilot)
            assert (pilot.app.screen.kind, pilot.app.screen.object_id) == (kind, ident)
            await pilot.press("escape")  # no changes: leaves without asking
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, MainScreen), "back on the main screen")


async def test_read_only_app_refuses_saving_in_its_dispatch(deployer) -> None:
    async with running(deployer, read_only=True) as (pilot, client):
        app = pilot.app
        await highlight(pilot, "deployments", "app-a")
        await pilot.press("e")  # reading and editing a draft is allowed
        editor = await editor_loaded(pilot)
        editor.replace_all(se.dump(se.set_enabled(editor.value, False)))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("Read-only mode" in str(n.message) for n in app.toasts),
                       "the app's read-only refusal")
        assert isinstance(app.screen, SettingsEditorScreen) and app.screen.dirty
        assert editor.value["enabled"] is False, "the draft is kept"
        assert (await client.get_deployment_settings("app-a"))["enabled"] is True


async def test_capital_e_opens_the_external_editor_first(deployer, tmp_path, monkeypatch) -> None:
    script = tmp_path / "editor.py"
    script.write_text("import json, sys\np = sys.argv[-1]\nd = json.load(open(p))\nd['tags'] = ['via-E']\n"
                      "json.dump(d, open(p, 'w'))\n")
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    async with running(deployer) as (pilot, _client):
        await highlight(pilot, "deployments", "app-a")
        await pilot.press("E")
        editor = await editor_loaded(pilot)
        await wait_for(pilot, lambda: editor.value is not None and editor.value.get("tags") == ["via-E"],
                       "the external editor's result")
        assert pilot.app.screen.dirty


async def test_ctrl_q_asks_before_losing_an_unsaved_draft(deployer) -> None:
    async with running(deployer) as (pilot, _client):
        app = pilot.app
        await highlight(pilot, "deployments", "app-a")
        await pilot.press("e")
        editor = await editor_loaded(pilot)
        editor.replace_all(editor.text.replace("{", "{ broken", 1))
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen), "the question")
        assert "deployment app-a" in app.screen.question
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsEditorScreen), "back to the draft")
        assert app.is_running and editor.text.startswith("{ broken")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen), "the question again")
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running, "the app to quit")
