"""The footer at 80 and 160 columns: the keys that matter most for the focused pane, `?` and `q` always,
one key per meaning, nothing cut at the right edge; and which keys the focused pane offers at all."""

from __future__ import annotations

from contextlib import asynccontextmanager

from deployer_tui.core.client import DeployerClient
from deployer_tui.ui.screens.main import MainScreen
from deployer_tui.ui.widgets.key_footer import KeyFooter, fit_keys, key_width
from tests.ui.conftest import needs_server
from tests.ui.helpers import RecordingApp, health_filled, table, wait_for

pytestmark = needs_server


@asynccontextmanager
async def running(server, key: str, size: tuple[int, int], **app_kwargs):
    client = DeployerClient(server.url("deployer"), key)
    app = RecordingApp(client=client, **app_kwargs)
    try:
        async with app.run_test(size=size, notifications=True) as pilot:
            await wait_for(pilot, lambda: app.store.loaded and health_filled(table(pilot, "deployments")),
                           what="the lists and their health")
            yield pilot
    finally:
        await client.aclose()


def footer_keys(pilot) -> list[tuple[str, str]]:
    """(key as shown, description) of each key the footer of the active screen shows, palette last."""
    footer = pilot.app.screen.query_one(KeyFooter)
    return [(child.key_display, child.description) for child in footer.children]


async def footer_settled(pilot, want) -> list[tuple[str, str]]:
    """The footer's keys once `want(keys)` holds (the footer rebuilds after the next refresh)."""
    await wait_for(pilot, lambda: want(footer_keys(pilot)), what=f"the footer to show what is wanted: "
                   f"{footer_keys(pilot)}")
    return footer_keys(pilot)


def fits(pilot) -> bool:
    """Every key of the footer lies wholly inside it: none passes the right edge or hides under the palette."""
    footer = pilot.app.screen.query_one(KeyFooter)
    children = list(footer.children)
    if not children:
        return False
    right = footer.region.right
    palette = [c for c in children if c.has_class("-command-palette")]
    limit = palette[0].region.x if palette else right
    keys = [c for c in children if not c.has_class("-command-palette")]
    return all(c.region.right <= limit and c.region.width >= key_width(c.key_display, c.description)
               for c in keys) and all(c.region.right <= right for c in palette)


async def laid_out(pilot) -> None:
    await wait_for(pilot, lambda: fits(pilot), what="every footer key inside the footer")


async def test_80_columns_keep_help_quit_and_the_panes_essentials(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key, (80, 24)) as pilot:
        assert isinstance(pilot.app.screen, MainScreen)
        keys = await footer_settled(pilot, lambda k: ("?", "Help") in k)
        assert ("q", "Quit") in keys
        assert ("u", "Update") in keys and ("space", "Mark") in keys  # the deployments pane has the focus
        assert keys[-1] == ("^p", "palette")
        assert [d for _, d in keys].count("Quit") == 1  # q, not ctrl+q as well
        await laid_out(pilot)
        await pilot.press("1")  # the infras pane: its own essentials, still ? and q
        keys = await footer_settled(pilot, lambda k: ("space", "Narrow") in k)
        assert ("?", "Help") in keys and ("q", "Quit") in keys
        await laid_out(pilot)
        pilot.app.open_resource("deployment", "titanic-on-dev")
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "data", None) is not None, what="the deployment")
        keys = await footer_settled(pilot, lambda k: ("esc", "Back") in k)
        assert ("?", "Help") in keys and ("^q", "Quit") in keys and ("u", "Update") in keys
        await laid_out(pilot)


async def test_160_columns_show_the_whole_palette_key(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key, (160, 45)) as pilot:
        keys = await footer_settled(pilot, lambda k: ("?", "Help") in k)
        assert keys[-1] == ("^p", "palette")
        await laid_out(pilot)
        await pilot.resize_terminal(150, 45)  # where the keys no longer all fit: the least important go
        keys = await footer_settled(pilot, lambda k: ("?", "Help") in k and fits(pilot))
        assert ("q", "Quit") in keys and ("u", "Update") in keys


async def test_the_focused_pane_decides_which_keys_are_offered(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key, (120, 40)) as pilot:
        app = pilot.app
        keys = await footer_settled(pilot, lambda k: ("space", "Mark") in k)
        assert ("space", "Narrow") not in keys and ("T", "Test") in keys and ("t", "Enable/disable") in keys
        await pilot.press("1")
        keys = await footer_settled(pilot, lambda k: ("space", "Narrow") in k)
        for gone in ("u", "T", "t"):
            assert gone not in [key for key, _ in keys], keys
        assert ("space", "Mark") not in keys
        # Hidden means refused too: T on an infra opens nothing and says nothing.
        toasts = len(app.toasts)
        await pilot.press("T", "u")
        assert isinstance(app.screen, MainScreen) and len(app.toasts) == toasts
        # Space still narrows on the infras pane.
        infra = table(pilot, "infras").current_key
        await pilot.press("space")
        await wait_for(pilot, lambda: app.screen.narrow == ("infra", infra), what="the narrowing")
        # A marked deployment makes `u` useful from any pane again (it updates the marked ones).
        await pilot.press("3")
        await footer_settled(pilot, lambda k: ("space", "Mark") in k)
        await pilot.press("space", "1")
        await wait_for(pilot, lambda: bool(app.updates.marked), what="the mark")
        keys = await footer_settled(pilot, lambda k: ("space", "Narrow") in k)
        assert ("u", "Update") in keys and ("T", "Test") not in keys


def test_fit_drops_the_least_important_first_and_one_key_per_meaning():
    keys = [("Narrow", 14, 75), ("Sort", 8, 35), ("Quit", 8, 100), ("Quit", 9, 90), ("Help", 8, 100)]
    assert fit_keys(keys, 100) == {0, 1, 2, 4}  # room for all: still one Quit, the higher one
    assert fit_keys(keys, 30) == {0, 2, 4}
    assert fit_keys(keys, 16) == {2, 4}
    # A key too wide for what is left is skipped, a narrower one below it still takes the room.
    assert fit_keys([("Quit", 8, 100), ("Enable/disable", 18, 60), ("Sort", 8, 35)], 17) == {0, 2}
