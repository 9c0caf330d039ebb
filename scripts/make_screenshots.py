"""Make the README screenshots from the real app on the demo data.

Starts the embedded local deployer with demo content in a temporary data dir (exactly what a first
`deployer-tui` run does), drives the app headless at 120x40 and writes screenshots/*.svg. The canary ones
run a canary of titanic-on-dev to v4, which the error-rate guard reverts; the context list and the fleet
get a second demo deployer, the config profile `staging`.

    python scripts/make_screenshots.py [--out screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
    with tempfile.TemporaryDirectory(prefix="deployer-tui-shots-") as tmp, \
            tempfile.TemporaryDirectory(prefix="deployer-tui-shots-staging-") as tmp_staging:
        # The console's state (update journal, canary records, latency log) of this run only: a canary
        # record left by an earlier run must not open its resume dialog over a screenshot.
        os.environ["XDG_STATE_HOME"] = str(Path(tmp) / "state")
        local = await LocalDeployer.start(Path(tmp))
        client = DeployerClient(local.url, local.api_key)
        staging: LocalDeployer | None = None
        try:
            # A second demo deployer, for the context list and the fleet to show two contexts.
            staging = await LocalDeployer.start(Path(tmp_staging))
            staging_client = DeployerClient(staging.url, staging.api_key)
            try:
                await asyncio.gather(settle_demo(client), settle_demo(staging_client))
            finally:
                await staging_client.aclose()
            await shoot_one_context(client, out)
            await shoot_contexts_fleet(local, staging, out)
        finally:
            await client.aclose()
            await local.stop()
            if staging is not None:
                await staging.stop()


async def shoot_one_context(client: DeployerClient, out: Path) -> None:
    """The app handed the local deployer's client, as the screens of one deployer are shown."""
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
        await shoot_canary(pilot, out)


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


async def shoot_contexts_fleet(local: LocalDeployer, staging: LocalDeployer, out: Path) -> None:
    """Two contexts, as `deployer-tui` lists them: `local` (the embedded deployer, the current one) and a
    config profile `staging` (the second demo deployer). The context list (ctrl+o), then the fleet (F) once
    every context's rows and their health are in; `staging` is listed by the fleet, not opened."""
    from deployer_tui.core.contexts import LOCAL, Context
    from deployer_tui.ui.screens.contexts import ContextListScreen
    from deployer_tui.ui.screens.fleet import FleetScreen
    from deployer_tui.ui.state.session import Session

    contexts = [Context(LOCAL, None, None, source=LOCAL, current=True),
                Context("staging", staging.url, staging.api_key, source="config:profiles.staging",
                        where="~/.config/deployer-tui/config.toml")]

    async def open_context(context: Context) -> Session:
        if context.is_local:
            client = DeployerClient(local.url, local.api_key)
            return Session(client, "local", client.aclose)
        conn = context.connection()
        client = DeployerClient(conn.url or "", conn.api_key or "")
        return Session(client, conn.url or "", client.aclose, key_origin=context.key_origin())

    app = DeployerApp(contexts=contexts, open_context=open_context, config=Config(refresh_interval=0))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.store.loaded and app.user != ""
                    and app.screen.query_one("#deployments").row_count > 0)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ContextListScreen)
                    and app.screen.query_one("#contexts").row_count == len(app.contexts.names()))
        await save(pilot, out, "contexts.svg")
        await pilot.press("escape")

        await pilot.press("F")

        def fleet_in() -> bool:
            fleet = app.fleet
            rows = [fleet.rows[key] for keys in fleet.keys_of.values() for key in keys]
            return isinstance(app.screen, FleetScreen) and not fleet.loading and bool(rows) \
                and set(fleet.keys_of) == set(fleet.sources) and app.screen.table().row_count == len(rows) \
                and all(row.health is not None for row in rows
                        if row.deployment is not None and row.deployment["deploymentBasicInfo"].get("enabled"))

        await until(pilot, fleet_in, timeout=60)
        await save(pilot, out, "fleet.svg")
        await pilot.press("escape")


async def shoot_canary(pilot, out: Path) -> None:
    """A canary of titanic-on-dev to v4 (slower, fails on a fifth of its inputs): the form, the live screen
    while the first step soaks, the same screen once the guard reverted it."""
    from textual.widgets import Input, Select

    from deployer_tui.ui.screens.canary import CanaryFormScreen, CanaryScreen

    app = pilot.app
    table = app.screen.query_one("#deployments")
    table.focus()
    table.select_key("titanic-on-dev")
    await pilot.press("C")
    await until(pilot, lambda: isinstance(app.screen, CanaryFormScreen) and app.screen.loaded)
    form = app.screen
    form.query_one("#cn-version", Select).value = "v4"
    form.query_one("#cn-soak", Input).value = "3s"
    form.query_one("#cn-version", Select).focus()
    await save(pilot, out, "canary_form.svg")
    await pilot.press("ctrl+s")
    await until(pilot, lambda: isinstance(app.screen, CanaryScreen) and app.screen.run is not None, timeout=60)
    live = app.screen

    def soaking() -> bool:
        # Both versions probed a few times: the figures and sparklines have something to show, and the
        # guards (which wait for ten probes a version) have not judged yet.
        progress = live.run.progress
        if progress is None or progress.phase == "done" or not 0 <= progress.step_index < len(progress.steps):
            return False
        step = progress.steps[progress.step_index]
        stats = list(progress.stats.values())
        return step.state == "soaking" and len(stats) >= 2 and all(s.requests >= 3 for s in stats)

    await until(pilot, soaking, timeout=120)
    await save(pilot, out, "canary.svg")
    await until(pilot, lambda: not live.run.running and live.log_view.pending == 0, timeout=180)
    if live.run.result is None or live.run.result.outcome != "REVERTED":
        raise RuntimeError(f"the canary to v4 ended {live.run.phase}, not REVERTED: {live.run.error}")
    await save(pilot, out, "canary_reverted.svg")
    await pilot.press("escape")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(out))
    for name in ("main", "deployment", "service", "infra", "help", "palette",
                 "create_deployment", "test_queries", "copy_menu", "openapi",
                 "update_confirm", "update", "update_history", "settings_editor", "settings_diff",
                 "contexts", "fleet", "canary_form", "canary", "canary_reverted"):
        print(out / f"{name}.svg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
