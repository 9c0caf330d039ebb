"""Snapshots of the settings editor: a draft with a JSON error, and the review diff before saving.

They run on a real local deployer seeded with fixed ids; the deployment settings it returns hold no
timestamps or ports, so the pictures are deterministic. The cursor blink is turned off.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest

from deployer_tui.core import settings_edit as se
from deployer_tui.core.client import DeployerClient
from deployer_tui.ui.screens.settings_diff import SettingsDiffScreen
from deployer_tui.ui.screens.settings_editor import SettingsEditorScreen
from deployer_tui.ui.widgets.json_editor import JsonEditor
from tests import servers
from tests.ui.helpers import wait_for
from tests.ui.settings_harness import INFRA, SERVICE, EditorHarness, start_seeded

KEY = "admin-" + secrets.token_hex(8)
SIZE = (100, 32)


@pytest.fixture(scope="module")
def deployer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Proc]:
    proc = start_seeded(tmp_path_factory.mktemp("settings-snapshots"), KEY)

    async def deployments() -> None:
        async with DeployerClient(proc.url(), KEY) as client:
            for dep in ("snap-error", "snap-diff"):
                await client.create_deployment(dep, SERVICE, INFRA, "v1")

    try:
        asyncio.run(deployments())
        yield proc
    finally:
        proc.stop()


async def _loaded(pilot) -> JsonEditor:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, SettingsEditorScreen) and app.screen.loaded is not None,
                   "the settings to load")
    editor = app.screen.query_one(JsonEditor)
    editor.text_area.cursor_blink = False
    return editor


def test_snapshot_editor_with_a_json_error(deployer, snap_compare) -> None:
    async def run_before(pilot) -> None:
        editor = await _loaded(pilot)
        editor.replace_all(editor.text.replace('"enabled": true,', '"enabled": true', 1))  # missing comma
        await pilot.pause()
        editor.action_jump_to_error()
        await pilot.pause()

    app = EditorHarness(deployer.url(), KEY, "deployment", "snap-error")
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_review_diff(deployer, snap_compare) -> None:
    async def run_before(pilot) -> None:
        editor = await _loaded(pilot)
        doc = se.set_traffic_split(editor.value, [("v1", 0.9), ("v2", 0.1)], "HASH_BASED")
        editor.replace_all(se.dump(se.set_enabled(doc, False)))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SettingsDiffScreen), "the diff")
        await pilot.pause()

    app = EditorHarness(deployer.url(), KEY, "deployment", "snap-diff")
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
