"""The TUI against a real local deployer with demo data: loading, navigation, narrowing, filter,
sort, go-to, palette, help (with a keymap remap), read-only refusal and the first mutating action."""

from __future__ import annotations

import gc
import time
from contextlib import asynccontextmanager

from deployer_tui.core import readers
from deployer_tui.core.client import DeployerClient
from deployer_tui.core.config import Config
from deployer_tui.ui.screens import main as main_screen
from deployer_tui.ui.screens.deployment import DeploymentScreen
from deployer_tui.ui.screens.help import HelpScreen
from deployer_tui.ui.screens.infra import InfraScreen
from deployer_tui.ui.screens.main import MainScreen
from deployer_tui.ui.screens.modals import ConfirmScreen
from deployer_tui.ui.screens.service import ServiceScreen
from tests.ui.conftest import needs_server
from tests.ui.helpers import RecordingApp, cell, health_filled, screen_text, table, wait_for

pytestmark = needs_server


@asynccontextmanager
async def running(server, key: str, **app_kwargs):
    client = DeployerClient(server.url("deployer"), key)
    app = RecordingApp(client=client, **app_kwargs)
    try:
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await wait_for(pilot, lambda: app.store.loaded and table(pilot, "deployments").row_count > 0,
                           what="the deployments list")
            yield pilot, client
    finally:
        await client.aclose()


async def expected(client: DeployerClient) -> tuple[list[dict], list[dict], list[dict]]:
    return await client.list_infras(), await client.list_services(), await client.list_deployments()


async def test_loads_lists_header_and_health(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key) as (pilot, client):
        infras, services, deployments = await expected(client)
        assert set(table(pilot, "infras").visible_keys) == {readers.infra_id(i) for i in infras}
        assert set(table(pilot, "services").visible_keys) == {readers.service_id(s) for s in services}
        deps = table(pilot, "deployments")
        assert set(deps.visible_keys) == {readers.deployment_id(d) for d in deployments}
        await wait_for(pilot, lambda: health_filled(deps), what="every health cell")
        for light in deployments:
            dep = readers.deployment_id(light)
            want = "DISABLED" if not readers.is_enabled(light) else None
            shown = cell(deps, dep, "health")
            assert shown != "loading…"
            if want:
                assert shown == want
        auth = await client.auth_info()
        header = screen_text(pilot)
        assert demo_server.url("deployer") in header
        assert f"as {auth['authIdentifier']}" in header
        assert "refreshed" in header and "READ-ONLY" not in header


async def test_navigation_panes_and_detail_screens(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key) as (pilot, _client):
        app = pilot.app
        deps = table(pilot, "deployments")
        assert app.focused is deps
        await pilot.press("G")
        assert deps.cursor_row == deps.row_count - 1
        await pilot.press("g")
        assert deps.cursor_row == 0
        if deps.row_count > 1:
            await pilot.press("j")
            assert deps.cursor_row == 1
            await pilot.press("k")
            assert deps.cursor_row == 0
        first = deps.current_key
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen.data is not None,
                       what="the deployment screen")
        assert app.screen.resource_id == first
        text = screen_text(pilot)
        for heading in ("Health messages", "API nodes", "Service URLs", "Available versions"):
            assert heading in text
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen) and deps.current_key == first

        await pilot.press("1")
        assert app.focused is table(pilot, "infras")
        infra = table(pilot, "infras").current_key
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InfraScreen) and app.screen.data is not None)
        text = screen_text(pilot)
        assert "API nodes" in text
        # The infra settings hold the nodes' admin key; it must never be shown.
        assert ui_api_key not in text
        assert set(table(pilot, "deployments").visible_keys) == set(app.store.deployment_ids_of_infra(infra))
        await pilot.press("q")
        assert isinstance(app.screen, MainScreen)

        await pilot.press("2")
        assert app.focused is table(pilot, "services")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ServiceScreen) and app.screen.data is not None)
        assert "Versions" in screen_text(pilot)
        await pilot.press("escape", "3")
        assert app.focused is deps


async def test_narrow_by_infra_and_service_then_widen(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key) as (pilot, _client):
        app = pilot.app
        deps = table(pilot, "deployments")
        everything = set(deps.visible_keys)
        await pilot.press("1", "space")
        infra = table(pilot, "infras").current_key
        assert set(deps.visible_keys) == set(app.store.deployment_ids_of_infra(infra))
        assert f"infra {infra}" in deps.border_title
        await pilot.press("escape")
        assert set(deps.visible_keys) == everything
        await pilot.press("2", "space")
        service = table(pilot, "services").current_key
        assert set(deps.visible_keys) == set(app.store.deployment_ids_of_service(service))
        await pilot.press("space")  # again: undo
        assert set(deps.visible_keys) == everything


async def test_live_filter_keeps_and_clears(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key) as (pilot, _client):
        deps = table(pilot, "deployments")
        everything = list(deps.visible_keys)
        target = sorted(everything)[-1]
        await pilot.press("slash", *target)
        assert target in deps.visible_keys
        # No garbage-collector pause between keystrokes (gc_pause); given back once typing stops.
        assert not gc.isenabled()
        assert all(target.lower() in " ".join(cell(deps, k, c.key) for c in deps.columns_spec).lower()
                   for k in deps.visible_keys)
        await pilot.press("enter")  # keep the filter, back in the table
        assert pilot.app.focused is deps and deps.filter_text == target.lower()
        await pilot.press("escape")  # clears the filter first
        assert sorted(deps.visible_keys) == sorted(everything)
        await pilot.press("slash", "z", "z", "q", "x")
        assert deps.row_count == 0
        await pilot.press("escape")
        assert deps.row_count == len(everything)
        await wait_for(pilot, gc.isenabled, what="the collector given back after typing")


async def test_health_arriving_while_typing_waits_for_a_quiet_moment(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key) as (pilot, _client):
        app, deps = pilot.app, table(pilot, "deployments")
        await wait_for(pilot, lambda: health_filled(deps) and not app.store.health_loading, what="health")
        dep = next(d for d in deps.visible_keys if readers.is_enabled(app.store.deployments[d]))
        before = cell(deps, dep, "health")
        await pilot.press("slash", dep[0])
        assert not gc.isenabled()  # typing: the screen holds back work until a quiet moment
        app.store.heavy[dep] = {"health": "UNHEALTHY", "healthMessages": {"messages": []}}
        app.store.rows_changed({dep})
        await pilot.pause()
        assert cell(deps, dep, "health") == before  # not between two keystrokes
        await wait_for(pilot, lambda: "UNHEALTHY" in cell(deps, dep, "health"), what="the quiet moment")
        assert gc.isenabled()


async def test_sort_cycles_and_reverses_keeping_cursor(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key) as (pilot, _client):
        deps = table(pilot, "deployments")
        ids = deps.visible_keys
        assert ids == sorted(ids, key=str.lower)
        await pilot.press("G")
        anchor = deps.current_key
        await pilot.press("S")
        assert deps.visible_keys == list(reversed(ids))
        assert deps.current_key == anchor  # the cursor follows its row
        await pilot.press("S")
        for _ in deps.display_columns:  # `s` cycles through the columns
            await pilot.press("s")
            if "Service" in deps.border_subtitle:
                break
        assert "Service" in deps.border_subtitle
        services = [cell(deps, k, "service").lower() for k in deps.visible_keys]
        assert services == sorted(services)


async def test_goto_opens_resources_and_refuses_unknown(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key) as (pilot, _client):
        app = pilot.app
        dep = table(pilot, "deployments").visible_keys[-1]
        await pilot.press("colon", *f"deploy {dep}", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen))
        assert app.screen.resource_id == dep
        await pilot.press("escape")
        service = table(pilot, "services").visible_keys[0]
        await pilot.press("colon", *f"service {service}", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ServiceScreen))
        assert app.screen.resource_id == service
        await pilot.press("escape")
        await pilot.press("colon", *"infra no-such-infra", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await wait_for(pilot, lambda: any("no-such-infra" in n.message for n in app.toasts), what="the toast")
        await pilot.press("colon", *"banana x", "enter")
        assert "unknown kind" in screen_text(pilot)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_palette_lists_actions_and_resources(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key) as (pilot, _client):
        app = pilot.app
        infra = table(pilot, "infras").visible_keys[0]
        await pilot.press("ctrl+p")
        await pilot.press(*f"infra {infra}")
        # The hit names the infra and summarises it (stage, type, deployment count).
        await wait_for(pilot, lambda: f"infra {infra}" in _palette_text(app) and "deployments" in _palette_text(app),
                       what="the infra in the palette")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InfraScreen))
        assert app.screen.resource_id == infra
        await pilot.press("escape")
        await pilot.press("ctrl+p", *"help keys")
        await wait_for(pilot, lambda: "Show the keys" in _palette_text(app), what="the help action")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))


def _palette_text(app) -> str:
    from textual.command import CommandList

    try:
        options = app.screen.query_one(CommandList)
    except Exception:  # noqa: BLE001 - not open yet
        return ""
    return "\n".join(str(options.get_option_at_index(i).prompt) for i in range(options.option_count))


async def test_help_lists_live_bindings_and_keymap_remaps(demo_server, ui_api_key):
    config = Config(keymap={"main.filter": "f"})
    async with running(demo_server, ui_api_key, config=config) as (pilot, _client):
        app = pilot.app
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = {binding_id: keys for keys, _desc, binding_id in app.screen.rows}
        assert rows["main.filter"] == "f"
        assert rows["app.goto"] == ":" and rows["app.refresh"] == "ctrl+r"
        assert "t" in rows["main.toggle_enabled"].split()
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("f")  # the remapped key opens the filter
        assert app.screen.query_one("#filter").has_class("-active")


async def test_read_only_refuses_toggle_and_changes_nothing(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key, read_only=True) as (pilot, client):
        app = pilot.app
        dep = table(pilot, "deployments").current_key
        before = await client.get_deployment_settings(dep)
        assert "READ-ONLY" in screen_text(pilot)
        await pilot.press("t")
        assert not isinstance(app.screen, ConfirmScreen)
        await wait_for(pilot, lambda: any("Read-only" in n.message for n in app.toasts), what="the toast")
        assert await client.get_deployment_settings(dep) == before


async def test_toggle_enabled_asks_then_saves(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key) as (pilot, client):
        app = pilot.app
        deps = table(pilot, "deployments")
        dep = deps.current_key
        before = await client.get_deployment_settings(dep)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # declined: nothing saved
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        assert await client.get_deployment_settings(dep) == before
        try:
            await pilot.press("t")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            flipped = not before["enabled"]
            await wait_for(pilot, lambda: cell(deps, dep, "enabled") == ("yes" if flipped else "no"),
                           what="the row to show the new state")
            after = await client.get_deployment_settings(dep)
            assert after["enabled"] is flipped
            # Read-modify-write: every other key went back as it came.
            assert {k: v for k, v in after.items() if k != "enabled"} == \
                {k: v for k, v in before.items() if k != "enabled"}
        finally:
            restore = await client.get_deployment_settings(dep)
            restore["enabled"] = before["enabled"]
            await client.save_deployment_settings(dep, restore)


async def test_auto_refresh_runs_on_main_and_pauses_under_a_detail_screen(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key, config=Config(refresh_interval=0.3)) as (pilot, _client):
        app = pilot.app
        first = app.store.refreshed_at
        await wait_for(pilot, lambda: app.store.refreshed_at != first, what="an automatic refresh")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen.data is not None)
        await wait_for(pilot, lambda: not app.store.busy)
        paused_at = app.store.refreshed_at
        await pilot.pause(1.0)  # three intervals: a running timer would have refreshed by now
        assert app.store.refreshed_at == paused_at
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.store.refreshed_at != paused_at, what="auto-refresh to resume")


async def test_palette_offers_the_screens_own_actions_and_refuses_like_the_keys(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key, read_only=True) as (pilot, _client):
        app = pilot.app
        await pilot.press("ctrl+p", *"out of sync")
        await wait_for(pilot, lambda: "Mark every OUT_OF_SYNC deployment" in _palette_text(app),
                       what="the main screen's palette command")
        await pilot.press("escape")
        await pilot.press("enter")  # a deployment's screen: the main screen's own actions are not offered there
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen))
        await pilot.press("ctrl+p", *"out of sync")
        await wait_for(pilot, lambda: "No matches" in _palette_text(app) or
                       "Mark every OUT_OF_SYNC" not in _palette_text(app) and _palette_text(app) != "",
                       what="the detail screen's palette")
        assert "Mark every OUT_OF_SYNC deployment" not in _palette_text(app)
        await pilot.press("escape")
        # A mutating palette command goes through the same door as a key: refused, with the same toast.
        await pilot.press("ctrl+p", *"create infra")
        await wait_for(pilot, lambda: "Create infra" in _palette_text(app), what="the create command")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(t.message == "Read-only mode: “Create infra” is not allowed"
                                          for t in app.toasts), what="the refusal")
        assert isinstance(app.screen, DeploymentScreen)


async def test_keys_typed_in_one_burst_after_a_pane_key_go_to_the_new_pane(demo_server, ui_api_key):
    """A terminal (or tmux, or a fast typist over SSH) delivers "2 j" in one read: the `j` must move the
    services pane, which "2" just focused, not the deployments pane that had the focus before."""
    from textual import events

    async with running(demo_server, ui_api_key) as (pilot, _client):
        deps, services = table(pilot, "deployments"), table(pilot, "services")
        assert pilot.app.focused is deps and deps.cursor_row == 0 and services.cursor_row == 0
        for key, char in (("2", "2"), ("j", "j")):
            pilot.app.post_message(events.Key(key, char))  # both queued before either is handled
        await wait_for(pilot, lambda: pilot.app.focused is services, what="the services pane focused")
        await pilot.pause()
        assert services.cursor_row == 1 and deps.cursor_row == 0


async def test_health_held_back_while_typing_all_arrives_even_in_slices(demo_server, ui_api_key, monkeypatch):
    monkeypatch.setattr(main_screen, "HEALTH_SLICE", 1)  # one row per frame: every row needs its own frame
    async with running(demo_server, ui_api_key) as (pilot, _client):
        app, deps = pilot.app, table(pilot, "deployments")
        await wait_for(pilot, lambda: health_filled(deps) and not app.store.health_loading, what="health")
        enabled = [d for d in deps.visible_keys if readers.is_enabled(app.store.deployments[d])]
        assert len(enabled) >= 2
        await pilot.press("slash", "x")
        assert app.screen.query_one("#deployments") is deps and not gc.isenabled()
        for dep in enabled:
            app.store.heavy[dep] = {"health": "UNHEALTHY", "healthMessages": {"messages": []}}
        app.store.rows_changed(set(enabled))
        await pilot.pause()
        assert not any("UNHEALTHY" in cell(deps, d, "health") for d in enabled)  # held while keys arrive
        await wait_for(pilot, lambda: all("UNHEALTHY" in cell(deps, d, "health") for d in enabled),
                       what="every held row, one slice per frame")


async def test_waiting_health_out_of_sight_goes_in_slices_a_frame_apart(demo_server, ui_api_key, monkeypatch):
    """Slices of rows out of sight change nothing on screen: they must still wait a frame between them, or
    they all run in one go (thousands of rows at 10,000 deployments, one long stall of the next key)."""
    monkeypatch.setattr(main_screen, "HEALTH_SLICE", 1)
    async with running(demo_server, ui_api_key) as (pilot, _client):
        app, deps = pilot.app, table(pilot, "deployments")
        await wait_for(pilot, lambda: health_filled(deps) and not app.store.health_loading, what="health")
        enabled = [d for d in deps.visible_keys if readers.is_enabled(app.store.deployments[d])]
        assert len(enabled) >= 3
        await pilot.press("slash", *"zzqq")  # matches no row: every waiting row is out of sight
        assert deps.row_count == 0
        patched: list[tuple[float, int]] = []
        patch = deps.patch_records

        def recording(records):
            patched.append((time.monotonic(), len(records)))
            patch(records)

        monkeypatch.setattr(deps, "patch_records", recording)
        for dep in enabled:
            app.store.heavy[dep] = {"health": "UNHEALTHY", "healthMessages": {"messages": []}}
        app.store.rows_changed(set(enabled))
        await wait_for(pilot, lambda: sum(n for _, n in patched) == len(enabled), what="every held row")
        assert [n for _, n in patched] == [1] * len(enabled)
        gaps = [b - a for (a, _), (b, _) in zip(patched, patched[1:], strict=False)]
        assert min(gaps) >= main_screen.HEALTH_SLICE_SECONDS / 2, gaps
        assert all("UNHEALTHY" in cell(deps, d, "health") for d in enabled)
