"""Make the README screenshots from the real app on the demo data.

Starts the embedded local deployer with demo content in a temporary data dir (exactly what a first
`deployer-tui` run does), drives the app headless at 120x40 and writes screenshots/*.svg.

    python scripts/make_screenshots.py [--out screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deployer_tui.core.client import DeployerClient  # noqa: E402
from deployer_tui.core.config import Config  # noqa: E402
from deployer_tui.core.local import LocalDeployer  # noqa: E402
from deployer_tui.ui.app import DeployerApp  # noqa: E402

SIZE = (120, 40)


async def settle_demo(client: DeployerClient, timeout: float = 90) -> None:
    """The demo is filled after the deployer announces itself; its last step disables the canary."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deployments = {d["deploymentBasicInfo"]["id"]: d for d in await client.list_deployments()}
        canary = deployments.get("titanic-canary-on-dev")
        if canary is not None and canary["deploymentBasicInfo"].get("enabled") is False \
                and not await client.list_futures():
            return
        await asyncio.sleep(0.3)
    raise RuntimeError("the demo content did not settle")


async def until(pilot, condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {condition}")
        await pilot.pause(0.05)


async def save(pilot, out: Path, name: str) -> None:
    # Let pending layout (new heights, column widths measured on idle) reach the screen first.
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.2)
    pilot.app.save_screenshot(name, str(out))


async def shoot(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="deployer-tui-shots-") as tmp:
        local = await LocalDeployer.start(Path(tmp))
        client = DeployerClient(local.url, local.api_key)
        try:
            await settle_demo(client)
            app = DeployerApp(client=client, where="local", config=Config(refresh_interval=0))
            async with app.run_test(size=SIZE) as pilot:
                deployments = lambda: app.screen.query_one("#deployments")  # noqa: E731

                def healthy() -> bool:
                    table = deployments()
                    return app.store.loaded and table.row_count > 0 and app.user != "" and all(
                        "loading" not in str(table.get_cell(k, "health")) for k in table.visible_keys)

                await until(pilot, healthy)
                await pilot.press("j", "j")
                await save(pilot, out, "main.svg")

                await pilot.press("enter")
                await until(pilot, lambda: getattr(app.screen, "data", None) is not None)
                await save(pilot, out, "deployment.svg")
                await pilot.press("escape")

                app.open_resource("service", "titanic")
                await until(pilot, lambda: getattr(app.screen, "data", None) is not None)
                await until(pilot, lambda: app.screen.query_one("#deployments").row_count > 0)
                await save(pilot, out, "service.svg")
                await pilot.press("escape")

                app.open_resource("infra", "dev-local")
                await until(pilot, lambda: getattr(app.screen, "data", None) is not None)
                await until(pilot, lambda: app.screen.query_one("#deployments").row_count > 0)
                await save(pilot, out, "infra.svg")
                await pilot.press("escape")

                await pilot.press("question_mark")
                await save(pilot, out, "help.svg")
                await pilot.press("escape")

                await pilot.press("ctrl+p", *"titan")
                await pilot.pause(0.5)
                await save(pilot, out, "palette.svg")
                await pilot.press("escape")

                await shoot_actions(pilot, out)
                await shoot_updates(pilot, out)
                await shoot_settings(pilot, out)
        finally:
            await client.aclose()
            await local.stop()


async def shoot_actions(pilot, out: Path) -> None:
    """The API Deployer action screens: a create form, test-query results, the copy menu, OpenAPI."""
    from deployer_tui.ui.screens.copy_menu import CopyMenuScreen
    from deployer_tui.ui.screens.create_forms import CreateDeploymentScreen
    from deployer_tui.ui.screens.openapi import OpenAPIScreen
    from deployer_tui.ui.screens.query_runner import TestQueriesScreen

    app = pilot.app
    app.push_screen(CreateDeploymentScreen(app.client, service_id="toolbox"))
    await until(pilot, lambda: getattr(app.screen, "_loaded", False))
    await save(pilot, out, "create_deployment.svg")
    await pilot.press("escape")

    app.push_screen(TestQueriesScreen(app.client, "titanic-on-dev"))
    await until(pilot, lambda: getattr(app.screen, "endpoints", None))
    await pilot.press("r")
    await until(pilot, lambda: app.screen.query_one("#tq-results").row_count > 0)
    await save(pilot, out, "test_queries.svg")
    await pilot.press("escape")

    app.push_screen(CopyMenuScreen.for_deployment(app.client, "titanic-on-dev"))
    await until(pilot, lambda: getattr(app.screen, "entries", None))
    await save(pilot, out, "copy_menu.svg")
    await pilot.press("escape")

    app.push_screen(OpenAPIScreen(app.client, "titanic-on-dev"))
    await until(pilot, lambda: getattr(app.screen, "document", None) is not None)
    await save(pilot, out, "openapi.svg")
    await pilot.press("escape")


async def shoot_updates(pilot, out: Path) -> None:
    """Updating the out-of-sync deployment: the confirmation, the finished progress view, the history."""
    from deployer_tui.ui.screens.update_screen import UpdateConfirmScreen, UpdateHistoryScreen, UpdateScreen

    app = pilot.app
    table = app.screen.query_one("#deployments")
    table.focus()
    table.select_key("toolbox-on-dev")
    await pilot.press("u")
    await until(pilot, lambda: isinstance(app.screen, UpdateConfirmScreen) and app.screen.rows is not None)
    await save(pilot, out, "update_confirm.svg")
    await pilot.press("y")
    await until(pilot, lambda: isinstance(app.screen, UpdateScreen) and app.screen.run is not None
                and not app.screen.run.running and app.screen.log_view.pending == 0)
    await save(pilot, out, "update.svg")
    await pilot.press("h")
    await until(pilot, lambda: isinstance(app.screen, UpdateHistoryScreen) and app.screen.loaded)
    await save(pilot, out, "update_history.svg")
    await pilot.press("escape", "escape")


async def shoot_settings(pilot, out: Path) -> None:
    """The settings editor: a draft with a JSON error, then the review diff of a traffic split."""
    from deployer_tui.core import settings_edit as se
    from deployer_tui.ui.screens.settings_diff import AskScreen, SettingsDiffScreen
    from deployer_tui.ui.screens.settings_editor import SettingsEditorScreen
    from deployer_tui.ui.widgets.json_editor import JsonEditor

    app = pilot.app
    app.push_screen(SettingsEditorScreen(app.client, "deployment", "titanic-on-dev"))
    await until(pilot, lambda: isinstance(app.screen, SettingsEditorScreen) and app.screen.loaded is not None)
    editor = app.screen.query_one(JsonEditor)
    editor.text_area.cursor_blink = False
    valid = editor.text
    editor.replace_all(valid.replace('"enabled": true,', '"enabled": true', 1))
    editor.action_jump_to_error()
    await save(pilot, out, "settings_editor.svg")
    editor.replace_all(valid)
    split = se.set_traffic_split(app.screen.draft, [("v2", 0.8), ("v3", 0.2)], "HASH_BASED")
    editor.replace_all(se.dump(split))
    await pilot.press("ctrl+s")
    await until(pilot, lambda: isinstance(app.screen, SettingsDiffScreen))
    await save(pilot, out, "settings_diff.svg")
    await pilot.press("escape", "escape")
    await until(pilot, lambda: isinstance(app.screen, AskScreen))
    await pilot.press("d")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(out))
    for name in ("main", "deployment", "service", "infra", "help", "palette",
                 "create_deployment", "test_queries", "copy_menu", "openapi",
                 "update_confirm", "update", "update_history", "settings_editor", "settings_diff"):
        print(out / f"{name}.svg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
