"""The fleet screen on two real local deployers and a context that is down: every context's rows side by
side, the unreachable one as one row saying why, the same filter and marks as the main pane, `enter`
opening a deployment in its own context, and `u` on marks updating exactly the marked deployments in
their own deployers (their update records show it), with one confirmation grouped by context and the
production context's name typed once."""

from __future__ import annotations

import asyncio

from textual.widgets import Input, Static

from deployer_tui.ui.screens.bulk_confirm import BulkConfirmScreen, confirmation_text
from deployer_tui.ui.screens.deployment import DeploymentScreen
from deployer_tui.ui.screens.fleet import FleetScreen
from deployer_tui.ui.screens.help import help_rows
from deployer_tui.ui.shell import shell_of
from deployer_tui.ui.state.fleet_state import fleet_key
from tests.contexts.fleet_fixtures import (
    DEMO_IDS,
    deployers,  # noqa: F401 - the module's servers
    make_app,
    update_counts,
    updates_settled,
    write_config,
)
from tests.ui.conftest import keys_are_processed, state_home  # noqa: F401 - autouse fixtures of the UI tests
from tests.ui.helpers import cell, table, wait_for


def deployment_keys(tbl, context: str) -> set[str]:
    return {key for key in tbl.records if key.startswith(fleet_key(context, None)) and key != fleet_key(context, None)}


def fleet_filled(app) -> bool:
    """Every context listed (or found unreachable) and every enabled deployment's health in."""
    fleet = app.fleet
    if fleet.loading or set(fleet.keys_of) != set(app.contexts.names()):
        return False
    return all(row.health is not None for row in fleet.rows.values()
               if row.deployment is not None and row.deployment.get("deploymentBasicInfo", {}).get("enabled", True))


async def open_fleet(pilot, *, via_goto: bool = False) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.store.loaded, what="the main screen's lists")
    await pilot.press(*(["colon", *"fleet", "enter"] if via_goto else ["F"]))
    await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="the fleet screen")
    await wait_for(pilot, lambda: fleet_filled(app), what="every context's rows and health")
    await pilot.pause()


def keys_of(text: str) -> list[str]:
    return ["space" if c == " " else c for c in text]


def test_rows_of_every_context_the_unreachable_one_filter_and_enter(deployers, tmp_path, monkeypatch) -> None:  # noqa: F811
    write_config(tmp_path, deployers, monkeypatch)

    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 40)) as pilot:
            await open_fleet(pilot)
            tbl = table(pilot, "fleet")
            for name in ("a", "b"):
                assert deployment_keys(tbl, name) == {fleet_key(name, d) for d in DEMO_IDS}
            assert cell(tbl, fleet_key("a", "toolbox-on-dev"), "health") == "OUT OF SYNC"
            assert cell(tbl, fleet_key("b", "titanic-on-dev"), "health") == "HEALTHY"
            # The context that is down: one row, saying why; `local` is not started for the fleet.
            assert [k for k in tbl.records if k.startswith(fleet_key("down", None))] == [fleet_key("down", None)]
            assert cell(tbl, fleet_key("down", None), "health") == "UNREACHABLE"
            assert cell(tbl, fleet_key("down", None), "version").startswith("cannot reach 127.0.0.1:")
            assert cell(tbl, fleet_key("local", None), "health") == "NOT STARTED"
            status = str(app.screen.query_one("#fleet-status", Static).content)
            assert "a (on screen): 6 deployments" in status and "down: unreachable" in status
            assert tbl.border_subtitle == "sort: Context↑"
            # `?` and the palette read the live bindings: the new keys are there.
            rows = {binding_id: (keys, does) for keys, does, binding_id in help_rows(app.screen)}
            assert rows["fleet.mark_shown"] == ("*", "Mark shown")
            assert rows["fleet.mark"] == ("space ctrl+space", "Mark")
            main = {binding_id: keys for keys, _, binding_id in help_rows(app.screen_stack[-2])}
            assert main["main.fleet"] == "F"

            await pilot.press("slash", *keys_of("toolbox"), "enter")
            assert tbl.visible_keys == [fleet_key("a", "toolbox-on-dev"), fleet_key("b", "toolbox-on-dev")]
            await pilot.press("S")
            assert tbl.visible_keys == [fleet_key("b", "toolbox-on-dev"), fleet_key("a", "toolbox-on-dev")]

            # enter on the context on screen: its deployment screen.
            tbl.select_key(fleet_key("a", "toolbox-on-dev"))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="a's deployment screen")
            assert app.screen.resource_id == "toolbox-on-dev" and app.contexts.current == "a"
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="back to the fleet")

            # enter on another context's row: switched to it, the deployment opened with b's client.
            table(pilot, "fleet").select_key(fleet_key("b", "toolbox-on-dev"))
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.contexts.current == "b" and isinstance(app.screen, DeploymentScreen),
                           what="b's deployment screen")
            assert app.screen.resource_id == "toolbox-on-dev"
            assert shell_of(app.screen).client.url == deployers.urls["b"]
            await wait_for(pilot, lambda: getattr(app.screen, "data", None) is not None, what="b's deployment loaded")

    asyncio.run(run())


def test_out_of_sync_star_u_updates_exactly_the_filtered_ones(deployers, tmp_path, monkeypatch) -> None:  # noqa: F811
    write_config(tmp_path, deployers, monkeypatch)

    async def run() -> None:
        before = await update_counts(deployers)
        app = make_app()
        async with app.run_test(size=(160, 40)) as pilot:
            # The main pane first: `*` after a filter marks only the shown; again unmarks.
            await wait_for(pilot, lambda: app.store.loaded and all(
                cell(table(pilot, "deployments"), k, "health") != "loading…"
                for k in table(pilot, "deployments").visible_keys), what="the main pane's health")
            await pilot.press("slash", *keys_of("out of sync"), "enter")
            assert table(pilot, "deployments").visible_keys == ["toolbox-on-dev"]
            await pilot.press("asterisk")
            assert app.updates.marked == {"toolbox-on-dev"}
            await pilot.press("asterisk")
            assert app.updates.marked == set()
            await pilot.press("escape")

            await open_fleet(pilot)
            tbl = table(pilot, "fleet")
            await pilot.press("slash", *keys_of("out of sync"), "enter")
            shown = [fleet_key("a", "toolbox-on-dev"), fleet_key("b", "toolbox-on-dev")]
            assert tbl.visible_keys == shown
            await pilot.press("asterisk")
            assert app.contexts.get("a").updates.marked == {"toolbox-on-dev"}
            assert app.contexts.get("b").updates.marked == {"toolbox-on-dev"}
            assert cell(tbl, shown[1], "id") == "toolbox-on-dev ✓"
            await pilot.press("u")
            await wait_for(pilot, lambda: isinstance(app.screen, BulkConfirmScreen), what="the bulk confirmation")
            text = confirmation_text(app.screen.groups)
            assert text.startswith("Update 2 marked deployments in 2 contexts?")
            assert "\na: 1\n    toolbox-on-dev: v2 (now OUT_OF_SYNC)" in text
            assert "\nb: 1\n    toolbox-on-dev: v2 (now OUT_OF_SYNC)" in text
            assert not app.screen.query(Input)  # neither context is production: y is enough
            await pilot.press("y")
            await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="back to the fleet")
            await wait_for(pilot, lambda: not app.contexts.get("b").updates.marked, what="the started ones unmarked")
            wanted = {("a", "toolbox-on-dev"): before[("a", "toolbox-on-dev")] + 1,
                      ("b", "toolbox-on-dev"): before[("b", "toolbox-on-dev")] + 1}
            for _ in range(600):
                if await updates_settled(deployers, wanted):
                    break
                await pilot.pause(0.1)
            else:
                raise AssertionError("the two updates did not finish")
            # b's row read again once its update ended (the health the deployer's nodes report then).
            await wait_for(pilot, lambda: cell(tbl, shown[1], "health") not in ("OUT OF SYNC", "⟳ UPDATING"),
                           what="b's row refreshed")
        after = await update_counts(deployers)
        assert {k: after[k] - before[k] for k in before if after[k] != before[k]} == {
            ("a", "toolbox-on-dev"): 1, ("b", "toolbox-on-dev"): 1}

    asyncio.run(run())


def test_production_context_name_typed_once_for_all_its_marks(deployers, tmp_path, monkeypatch) -> None:  # noqa: F811
    write_config(tmp_path, deployers, monkeypatch, production={"b"})

    async def run() -> None:
        before = await update_counts(deployers)
        app = make_app()
        async with app.run_test(size=(160, 40)) as pilot:
            await open_fleet(pilot, via_goto=True)
            tbl = table(pilot, "fleet")
            tbl.select_key(fleet_key("a", "passengers-on-dev"))
            await pilot.press("space")
            tbl.select_key(fleet_key("b", "passengers-on-dev"))
            await pilot.press("ctrl+space")
            tbl.select_key(fleet_key("b", "titanic-on-dev"))
            await pilot.press("space")
            assert app.contexts.get("b").updates.marked == {"passengers-on-dev", "titanic-on-dev"}
            await pilot.press("u")
            await wait_for(pilot, lambda: isinstance(app.screen, BulkConfirmScreen), what="the bulk confirmation")
            screen = app.screen
            text = confirmation_text(screen.groups)
            assert "\nb (production): 2" in text and "\na: 1" in text
            [box] = screen.query(Input)  # one typed confirmation for b's two deployments, none for a
            prompts = [str(w.content) for w in screen.query(".typed-prompt")]
            assert prompts == ["'b' is a production context: type the context name 'b' to update its 2 deployments"]
            await pilot.press("y")  # into the box, not a yes
            await pilot.press("enter")
            assert app.screen is screen and "Type the context name" in str(screen.query_one("#bulk-error").content)
            await pilot.press("backspace", "b", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="confirmed")
            wanted = {(c, d): before[(c, d)] + 1 for c, d in
                      (("a", "passengers-on-dev"), ("b", "passengers-on-dev"), ("b", "titanic-on-dev"))}
            for _ in range(900):
                if await updates_settled(deployers, wanted):
                    break
                await pilot.pause(0.1)
            else:
                raise AssertionError("the three updates did not finish")
        after = await update_counts(deployers)
        assert {k for k in before if after[k] != before[k]} == set(wanted)

    asyncio.run(run())


def record_pushes(app) -> list[str]:
    """The names of the screens pushed from now on, in order (how many dialogs the person met)."""
    pushed: list[str] = []
    push = app.push_screen

    def recording(screen, *args, **kwargs):
        pushed.append(screen if isinstance(screen, str) else type(screen).__name__)
        return push(screen, *args, **kwargs)

    app.push_screen = recording
    return pushed


async def wait_settled(pilot, deployers, wanted) -> None:  # noqa: F811
    for _ in range(900):
        if await updates_settled(deployers, wanted):
            return
        await pilot.pause(0.1)
    raise AssertionError(f"the updates did not finish: {sorted(wanted)}")


def test_main_pane_marked_update_in_production_is_one_dialog_list_first(deployers, tmp_path, monkeypatch) -> None:  # noqa: F811
    """The main pane's `u` on marks in production: one dialog, listing the marked deployments, with the
    context's name typed under the list; DeployerApp.run_action's guard does not ask first. A wrong
    name updates nothing; the right one updates exactly the marked ones."""
    write_config(tmp_path, deployers, monkeypatch, production={"a"})

    async def run() -> None:
        before = await update_counts(deployers)
        app = make_app()
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: app.store.loaded and app.contexts.get("a").guard.production,
                           what="a's lists")
            await pilot.press("slash", *keys_of("passengers"), "enter", "asterisk", "escape")
            tbl = table(pilot, "deployments")
            tbl.select_key("titanic-on-dev")
            await pilot.press("space")
            assert app.updates.marked == {"passengers-on-dev", "titanic-on-dev"}
            pushed = record_pushes(app)

            await pilot.press("u")
            await wait_for(pilot, lambda: isinstance(app.screen, BulkConfirmScreen), what="the bulk confirmation")
            assert pushed == ["BulkConfirmScreen"]  # no typed name asked before the list
            screen = app.screen
            assert "passengers-on-dev: v1" in screen.question and "titanic-on-dev: v2" in screen.question
            [box] = screen.query(Input)  # the name, once for both deployments, in this dialog
            await wait_for(pilot, lambda: app.focused is box, what="the box focused")
            prompts = [str(w.content) for w in screen.query(".typed-prompt")]
            assert prompts == ["'a' is a production context: type the context name 'a' to update its 2 deployments"]
            # A wrong name: the dialog says so and stays; esc then leaves with nothing updated.
            await pilot.press("b", "enter")
            assert app.screen is screen
            assert str(screen.query_one("#bulk-error").content) == "Type the context name to confirm: 'a'"
            await pilot.press("y")  # into the box: `y` is no yes in production
            assert app.screen is screen and box.value == "by"
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is not screen, what="the dialog closed")
            assert any(t.title == "Production" and "nothing changed" in t.message for t in app.toasts)
            assert app.updates.get("passengers-on-dev") is None and app.updates.get("titanic-on-dev") is None
            assert app.updates.marked == {"passengers-on-dev", "titanic-on-dev"}  # still marked
            assert await update_counts(deployers) == before
            assert pushed == ["BulkConfirmScreen"]

            # The right name: one dialog again, and the two updates run.
            await pilot.press("u")
            await wait_for(pilot, lambda: isinstance(app.screen, BulkConfirmScreen), what="the bulk confirmation")
            await wait_for(pilot, lambda: isinstance(app.focused, Input), what="the box focused")
            await pilot.press("a", "enter")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "UpdatesScreen", what="the updates")
            assert pushed == ["BulkConfirmScreen", "BulkConfirmScreen", "UpdatesScreen"]
            wanted = {("a", d): before[("a", d)] + 1 for d in ("passengers-on-dev", "titanic-on-dev")}
            await wait_settled(pilot, deployers, wanted)
            assert not app.updates.marked
        after = await update_counts(deployers)
        assert {k: after[k] - before[k] for k in before if after[k] != before[k]} == dict.fromkeys(wanted, 1)

    asyncio.run(run())


def test_fleet_u_without_marks_in_production_asks_for_the_deployment_id(deployers, tmp_path, monkeypatch) -> None:  # noqa: F811
    """The fleet's `u` on a highlighted row, nothing marked, in a production context: the one deployment's
    id is typed (the object), not the context's name."""
    write_config(tmp_path, deployers, monkeypatch, production={"b"})

    async def run() -> None:
        before = await update_counts(deployers)
        app = make_app()
        async with app.run_test(size=(160, 40)) as pilot:
            await open_fleet(pilot)
            await wait_for(pilot, lambda: app.fleet.guard("b").production, what="b production")
            pushed = record_pushes(app)
            table(pilot, "fleet").select_key(fleet_key("b", "titanic-on-dev"))
            await pilot.press("u")
            await wait_for(pilot, lambda: isinstance(app.screen, BulkConfirmScreen), what="the confirmation")
            assert pushed == ["BulkConfirmScreen"]
            screen = app.screen
            assert "titanic-on-dev: v2" in screen.question
            [box] = screen.query(Input)
            prompts = [str(w.content) for w in screen.query(".typed-prompt")]
            assert prompts == ["Update deployment in production context 'b': type 'titanic-on-dev' to confirm"]
            assert box.placeholder == "type the deployment id here"
            await wait_for(pilot, lambda: app.focused is box, what="the box focused")
            await pilot.press("b", "enter")  # the context's name is not the object's id
            assert app.screen is screen
            assert str(screen.query_one("#bulk-error").content) == \
                "Type the deployment id to confirm: 'titanic-on-dev'"
            assert await update_counts(deployers) == before
            await pilot.press("backspace", *keys_of("titanic-on-dev"), "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="confirmed")
            wanted = {("b", "titanic-on-dev"): before[("b", "titanic-on-dev")] + 1}
            await wait_settled(pilot, deployers, wanted)
        after = await update_counts(deployers)
        assert {k: after[k] - before[k] for k in before if after[k] != before[k]} == dict.fromkeys(wanted, 1)

    asyncio.run(run())


def test_read_only_context_marks_are_listed_as_refused_and_not_updated(deployers, tmp_path, monkeypatch) -> None:  # noqa: F811
    write_config(tmp_path, deployers, monkeypatch, read_only={"b"})

    async def run() -> None:
        before = await update_counts(deployers)
        app = make_app()
        async with app.run_test(size=(160, 40)) as pilot:
            await open_fleet(pilot)
            await pilot.press("slash", *keys_of("titanic-on-dev"), "enter", "asterisk", "u")
            await wait_for(pilot, lambda: isinstance(app.screen, BulkConfirmScreen), what="the bulk confirmation")
            text = app.screen.question
            assert text.startswith("Update 1 marked deployment in 2 contexts?")
            assert "\nb: 1\n    titanic-on-dev: v2 (now HEALTHY)\n    not updated: Read-only mode: “Update deployment(s)” " \
                   "is not allowed" in text
            await pilot.press("y")
            wanted = {("a", "titanic-on-dev"): before[("a", "titanic-on-dev")] + 1}
            for _ in range(600):
                if await updates_settled(deployers, wanted):
                    break
                await pilot.pause(0.1)
            else:
                raise AssertionError("a's update did not finish")
            assert app.contexts.get("b").updates.marked == {"titanic-on-dev"}  # refused: still marked
        after = await update_counts(deployers)
        assert {k for k in before if after[k] != before[k]} == set(wanted)

    asyncio.run(run())
