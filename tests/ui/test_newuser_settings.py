"""A refused save's red box goes once the draft is fixed and saved (settings editor, real deployer)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from deployer_tui.core import settings_edit as se
from deployer_tui.core.client import DeployerClient
from deployer_tui.ui.screens.settings_diff import SettingsDiffScreen
from deployer_tui.ui.screens.settings_editor import SettingsEditorScreen
from tests import servers
from tests.ui.helpers import wait_for
from tests.ui.settings_harness import INFRA, SERVICE, EditorHarness, start_seeded

KEY = "admin-" + secrets.token_hex(8)
SIZE = (90, 28)


@pytest.fixture(scope="module")
def deployer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Proc]:
    proc = start_seeded(tmp_path_factory.mktemp("newuser-settings"), KEY)
    try:
        yield proc
    finally:
        proc.stop()


async def test_the_not_saved_box_goes_once_the_fixed_draft_is_saved(deployer) -> None:
    async with DeployerClient(deployer.url(), KEY) as client:
        dep = f"dep-{secrets.token_hex(4)}"
        await client.create_deployment(dep, SERVICE, INFRA, "v1", ignore_warnings=True)
        app = EditorHarness(deployer.url(), KEY, "deployment", dep)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SettingsEditorScreen)
                           and app.screen.loaded is not None, "the settings to load")
            screen = app.screen
            editor = screen.editor
            doc = editor.value
            doc["healthSettings"] = {"maxFailing": -1}
            editor.replace_all(se.dump(doc))
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, SettingsDiffScreen), "the diff")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: screen.last_error is not None, "the refusal")
            assert screen.has_class("-save-failed")
            assert screen.query_one("#settings-error").display
            doc["healthSettings"] = {"maxFailing": 1}
            editor.replace_all(se.dump(doc))
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, SettingsDiffScreen), "the diff")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any(m.startswith("Saved the settings") for m in app.messages), "the save")
            await pilot.press("n")
            await wait_for(pilot, lambda: app.screen is screen, "back in the editor")
            assert not screen.has_class("-save-failed")
            assert not screen.query_one("#settings-error").display
            # The refusal was told in the box alone: no red toast saying "Not saved" outlives the fix.
            assert not [m for m in app.messages if m.startswith("Not saved")]
        assert (await client.get_deployment_settings(dep))["healthSettings"] == {"maxFailing": 1}
