"""Switching contexts in the console, with the pilot, against two real local deployers behind recording
proxies and a third context where nothing listens: each context keeps its own screens (filter, selection),
coming back shows the cached lists before any answer, an update left running in a context not shown ends
with a toast naming it, and no context's key ever reaches the other's deployer."""

from __future__ import annotations

import contextlib

import pytest

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.readers import is_enabled
from deployer_tui.ui.screens.contexts import ContextListScreen
from deployer_tui.ui.screens.main import MainScreen
from deployer_tui.ui.screens.update_screen import UpdateScreen
from deployer_tui.ui.state.contexts_state import CONNECTED, NOT_OPENED, UNREACHABLE
from deployer_tui.ui.widgets.header_bar import HeaderBar
from tests.contexts.two_contexts import deployers_fixture, make_app  # noqa: F401 - the `deployers` fixture
from tests.ui.conftest import keys_are_processed, state_home  # noqa: F401 - autouse fixtures of the UI tests
from tests.ui.helpers import plain, screen_text, table, wait_for

SIZE = (140, 40)


def header_text(pilot) -> str:
    return plain(pilot.app.screen.query_one(HeaderBar).render())


async def goto(pilot, line: str) -> None:
    await pilot.press("colon", *line, "enter")


async def loaded(pilot, name: str) -> None:
    state = pilot.app.contexts.get(name)
    await wait_for(pilot, lambda: state.state == CONNECTED and state.user != "" and not state.store.busy,
                   what=f"context {name} connected")


async def test_switching_keeps_each_context_and_shows_cached_lists(tmp_path, monkeypatch, deployers) -> None:
    app = make_app(tmp_path, monkeypatch, deployers)
    async with app.run_test(size=SIZE) as pilot:
        assert app.contexts.names() == ["alpha", "beta", "down", "local"]
        assert app.contexts.current == "alpha"
        await loaded(pilot, "alpha")
        assert app.contexts.get("beta").state == NOT_OPENED  # nothing opened before it is chosen
        alpha_main = app.screen
        assert isinstance(alpha_main, MainScreen)
        assert "alpha" in header_text(pilot) and "PRODUCTION" not in header_text(pilot)
        # A filter and a selection in alpha, to find again on return.
        await pilot.press("slash", *"titanic", "enter")
        deployments = table(pilot, "deployments")
        kept = [key for key in deployments.visible_keys if "titanic" in key]
        assert kept and len(kept) < len(app.store.deployments)
        deployments.select_key(kept[-1])
        await pilot.pause()

        # ctrl+o: the list of every context; enter on beta switches.
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, ContextListScreen)
        listed = screen_text(pilot)
        for name in ("alpha", "beta", "down", "local"):
            assert name in listed
        assert deployers["alpha"].proxy.url in listed and "embedded local deployer" in listed
        await pilot.press("j", "enter")
        assert app.contexts.current == "beta"
        await loaded(pilot, "beta")
        beta_main = app.screen
        assert isinstance(beta_main, MainScreen) and beta_main is not alpha_main
        beta_ids = set(app.contexts.get("beta").store.deployments)
        assert set(table(pilot, "deployments").visible_keys) == beta_ids  # beta's unfiltered list, its own
        # beta's infras are all in the Production stage: production, said in the header.
        assert app.contexts.get("beta").guard.production
        assert "beta · PRODUCTION" in header_text(pilot)
        assert beta_main.query_one(HeaderBar).has_class("-production")

        # Back to alpha with its deployer holding every answer: what shows is the cache, at once.
        alpha = app.contexts.get("alpha")
        refreshed = alpha.store.refreshed_at
        deployers["alpha"].proxy.hold()
        try:
            await goto(pilot, "ctx alpha")
            assert app.screen is alpha_main
            shown = table(pilot, "deployments")
            assert shown.filter_text == "titanic"
            assert list(shown.visible_keys) == kept and shown.current_key == kept[-1]
            assert alpha.store.refreshed_at == refreshed  # nothing answered: these rows are the cached ones
            assert "alpha" in header_text(pilot) and "PRODUCTION" not in header_text(pilot)
        finally:
            deployers["alpha"].proxy.release()
        # ...and the lists were refreshed in the background meanwhile.
        await wait_for(pilot, lambda: alpha.store.refreshed_at != refreshed and not alpha.store.busy,
                       what="alpha's background refresh")

        # The context where nothing listens: unreachable, saying why; the others are untouched.
        await goto(pilot, "ctx down")
        down = app.contexts.get("down")
        await wait_for(pilot, lambda: down.state == UNREACHABLE, what="down unreachable")
        assert down.why
        await pilot.press("ctrl+o")
        row = next(line for line in screen_text(pilot).splitlines() if " down " in f" {line} ")
        assert "unreachable" in row
        await pilot.press("escape")
        assert app.contexts.get("alpha").state == CONNECTED and app.contexts.get("beta").state == CONNECTED

        # A name no context has: a warning naming the known ones, and nothing moves.
        await goto(pilot, "ctx nosuch")
        assert app.contexts.current == "down"
        assert any("No context 'nosuch'" in toast.message and "alpha" in toast.message for toast in app.toasts)

    # The wire: each deployer got its own key, and never the other's, across every switch.
    alpha_proxy, beta_proxy = deployers["alpha"].proxy, deployers["beta"].proxy
    assert alpha_proxy.saw_key(deployers["alpha"].key) and beta_proxy.saw_key(deployers["beta"].key)
    assert not alpha_proxy.saw_key(deployers["beta"].key)
    assert not beta_proxy.saw_key(deployers["alpha"].key)
    for proxy in (alpha_proxy, beta_proxy):
        assert not proxy.saw_key("down-key-not-secret")


async def test_an_update_left_running_in_another_context_ends_with_a_toast_naming_it(
        tmp_path, monkeypatch, deployers) -> None:
    app = make_app(tmp_path, monkeypatch, deployers)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "alpha")
        alpha = app.contexts.get("alpha")
        target = next(d for d, light in alpha.store.deployments.items() if is_enabled(light))
        table(pilot, "deployments").select_key(target)
        await pilot.pause()
        await pilot.press("u")
        # Its deployer holds every answer from now on, while we leave: the update is still running
        # (started, not answered) when beta shows.
        deployers["alpha"].proxy.hold()
        try:
            await pilot.press("y")
            assert isinstance(app.screen, UpdateScreen) and alpha.updates.get(target) is not None
            update_screen = app.screen
            await goto(pilot, "ctx beta")
            assert app.contexts.current == "beta"
            assert alpha.updates.is_running(target)
            await loaded(pilot, "beta")
        finally:
            deployers["alpha"].proxy.release()
        run = alpha.updates.get(target)
        assert run is not None
        await wait_for(pilot, lambda: not run.running, what="alpha's update", timeout=60)
        await wait_for(pilot, lambda: any(t.title.startswith("alpha: Update") for t in app.toasts),
                       what="the toast naming alpha")
        toast = next(t for t in app.toasts if t.title.startswith("alpha: Update"))
        assert target in toast.message
        assert app.contexts.current == "beta"  # the toast did not move anyone
        assert not any(t.title.startswith("beta:") for t in app.toasts)
        # Back in alpha, its update screen is where it was.
        await goto(pilot, "ctx alpha")
        assert app.screen is update_screen


async def test_typed_confirmation_in_a_production_context(tmp_path, monkeypatch, deployers) -> None:
    app = make_app(tmp_path, monkeypatch, deployers)
    beta = deployers["beta"]
    async with DeployerClient(beta.direct, beta.key) as client:
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, "alpha")
            await goto(pilot, "ctx beta")
            await loaded(pilot, "beta")
            state = app.contexts.get("beta")
            assert state.guard.production  # by the stage rule: no config says so
            target = next(d for d, light in state.store.deployments.items() if is_enabled(light))
            table(pilot, "deployments").select_key(target)
            await pilot.pause()

            # The wrong id: nothing changes.
            await pilot.press("t")
            assert type(app.screen).__name__ == "TypedConfirmScreen"
            assert f"type {target!r} to confirm" in screen_text(pilot) and "'beta'" in screen_text(pilot)
            await pilot.press(*"not-it", "enter")
            assert isinstance(app.screen, MainScreen)
            assert any(t.title == "Not confirmed" for t in app.toasts)
            assert (await client.get_deployment_settings(target))["enabled"] is True

            # The right id: the change goes on (its own y/n question, then the save).
            await pilot.press("t", *target, "enter")
            assert type(app.screen).__name__ == "ConfirmScreen"
            await pilot.press("y")
            await wait_for(pilot, lambda: any(t.title == "Saved" for t in app.toasts), what="the save")
            assert (await client.get_deployment_settings(target))["enabled"] is False

            # A delete on a Production stage asks for the id once: here, not again in its own dialog.
            await pilot.press("D")
            assert type(app.screen).__name__ == "TypedConfirmScreen"
            await pilot.press(*target, "enter")
            delete = app.screen
            assert type(delete).__name__ == "DeleteScreen"
            await wait_for(pilot, lambda: delete.loaded, what="the delete dialog's checks")
            assert delete.stage == "Production" and delete.must_type is False
            assert not delete.query_one("#type-id").display
            await pilot.press("n")  # nothing deleted
        settings = await client.get_deployment_settings(target)
        settings["enabled"] = True
        await client.save_deployment_settings(target, settings)
        assert target in {d["deploymentBasicInfo"]["id"] for d in await client.list_deployments()}


@pytest.mark.parametrize("which", ["config", "stages"])
async def test_production_detection(tmp_path, monkeypatch, deployers, which) -> None:
    extra = ({"alpha": 'production = true\ncolor = "#ff8800"', "beta": "production = false"}
             if which == "config" else {})
    app = make_app(tmp_path, monkeypatch, deployers, extra)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "alpha")
        await goto(pilot, "ctx beta")
        await loaded(pilot, "beta")
        alpha, beta = app.contexts.get("alpha").guard, app.contexts.get("beta").guard
        if which == "config":
            # The config wins both ways: alpha's stages are mixed, beta's all Production.
            assert alpha.production and alpha.color == "#ff8800"
            assert not beta.production and beta.color is None
            assert "PRODUCTION" not in header_text(pilot)
            await goto(pilot, "ctx alpha")
            assert "alpha · PRODUCTION" in header_text(pilot)
        else:
            assert not alpha.production and beta.production and beta.color == "red"
            assert "beta · PRODUCTION" in header_text(pilot)


async def test_read_only_per_context(tmp_path, monkeypatch, deployers) -> None:
    app = make_app(tmp_path, monkeypatch, deployers, {"alpha": "read_only = true"})
    alpha = deployers["alpha"]
    async with DeployerClient(alpha.direct, alpha.key) as client, app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "alpha")
        state = app.contexts.get("alpha")
        target = next(d for d, light in state.store.deployments.items() if is_enabled(light))
        table(pilot, "deployments").select_key(target)
        await pilot.pause()
        assert "READ-ONLY" in header_text(pilot)
        await pilot.press("t")
        assert isinstance(app.screen, MainScreen)  # no question: refused outright
        refused = [t for t in app.toasts if t.title == "Refused"]
        assert refused and refused[-1].message == "Read-only mode: “Enable/disable deployment” is not allowed"
        assert (await client.get_deployment_settings(target))["enabled"] is True
        # Another context is not read-only for it.
        await goto(pilot, "ctx down")
        assert "READ-ONLY" not in header_text(pilot)
        assert not app.contexts.get("down").guard.read_only


async def test_quitting_asks_about_a_draft_left_in_another_context(tmp_path, monkeypatch, deployers) -> None:
    from deployer_tui.core import settings_edit as se
    from deployer_tui.ui.screens.settings_diff import AskScreen
    from deployer_tui.ui.screens.settings_editor import SettingsEditorScreen
    from deployer_tui.ui.widgets.json_editor import JsonEditor

    app = make_app(tmp_path, monkeypatch, deployers)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "alpha")
        alpha = app.contexts.get("alpha")
        target = next(d for d, light in alpha.store.deployments.items() if is_enabled(light))
        table(pilot, "deployments").select_key(target)
        await pilot.pause()
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsEditorScreen) and app.screen.loaded is not None,
                       what="the editor")
        editor_screen = app.screen
        editor = editor_screen.query_one(JsonEditor)
        editor.replace_all(se.dump(se.set_enabled(editor.value, False)))
        await wait_for(pilot, lambda: editor_screen.dirty, what="an unsaved draft")
        await pilot.press("ctrl+o", "j", "j", "enter")  # `:` would be typed into the editor
        assert app.contexts.current == "down" and not isinstance(app.screen, SettingsEditorScreen)
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, AskScreen)  # the draft of alpha, not shown, is not lost silently
        assert "Unsaved settings changes" in screen_text(pilot)
        await pilot.press("n")
        assert app.is_running


async def test_toasts_of_a_hidden_contexts_screens_name_it(tmp_path, monkeypatch, deployers) -> None:
    """Screens left in a context not shown go on: a save of theirs that fails, and their "Connection
    restored", say which context they speak of; the shown context's toasts do not."""
    app = make_app(tmp_path, monkeypatch, deployers)
    proxy = deployers["alpha"].proxy
    async with DeployerClient(deployers["alpha"].direct, deployers["alpha"].key) as client:
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, "alpha")
            alpha = app.contexts.get("alpha")
            target = next(d for d, light in alpha.store.deployments.items() if is_enabled(light))
            table(pilot, "deployments").select_key(target)
            await pilot.pause()
            # A save started in alpha, its request held; beta shown; then alpha's deployer goes away.
            await pilot.press("t")
            assert type(app.screen).__name__ == "ConfirmScreen"
            proxy.hold()
            try:
                await pilot.press("y")
                await goto(pilot, "ctx beta")
                assert app.contexts.current == "beta"
                await loaded(pilot, "beta")
                proxy.cut()
                await wait_for(pilot, lambda: any(t.title.startswith("Error saving") for t in app.toasts),
                               what="the failed save's toast")
                [failed] = [t for t in app.toasts if t.title.startswith("Error saving")]
                assert failed.title == f"Error saving deployment {target} in alpha"

                # Back in alpha: its lists cannot be read (the banner); beta again; alpha's deployer back.
                await goto(pilot, "ctx alpha")
                await wait_for(pilot, lambda: alpha.store.connection_error is not None, what="alpha unreachable")
                await goto(pilot, "ctx beta")
                assert app.contexts.current == "beta"
            finally:
                proxy.release()
                with contextlib.suppress(OSError):
                    proxy.restore()
            # alpha's retry, in the background, reaches it: its main screen's toast names it.
            await wait_for(pilot, lambda: any(t.message == "Connection restored" for t in app.toasts),
                           what="alpha's reconnection", timeout=60)
            assert [t.title for t in app.toasts if t.message == "Connection restored"] == ["alpha"]
            assert app.contexts.current == "beta"
            assert not any(t.title.startswith("beta") for t in app.toasts)  # the shown one's are plain
        assert (await client.get_deployment_settings(target))["enabled"] is True  # the save never arrived
