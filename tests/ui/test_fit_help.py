"""The help window at 80 columns and on other screens: its "does" column does not wrap beside a wide
key column, it is titled for the screen it explains, it says what applies there only, and its borders
are not cut; the palette lists "Quit" once."""

from __future__ import annotations

from io import StringIO

from rich.console import Console
from textual.containers import VerticalScroll
from textual.widgets import Static

from deployer_tui.ui.commands import ActionsProvider
from deployer_tui.ui.screens.help import HelpScreen
from deployer_tui.ui.screens.update_screen import UpdateHistoryScreen
from tests.ui.conftest import needs_server
from tests.ui.helpers import wait_for
from tests.ui.test_fit_footer import running

pytestmark = needs_server


def help_lines(screen: HelpScreen) -> list[str]:
    """The help table as painted at the width of its box."""
    static = screen.query(Static).first()
    out = Console(file=StringIO(), width=static.content_region.width, color_system=None)
    out.print(static.content)
    return [line.strip() for line in out.file.getvalue().splitlines()]  # type: ignore[attr-defined]


async def open_help(pilot) -> HelpScreen:
    await pilot.press("question_mark")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="the help")
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.query(Static).first().content_region.width > 0, what="its layout")
    return screen


async def test_80_columns_help_does_not_wrap_and_its_borders_fit(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key, (80, 24)) as pilot:
        screen = await open_help(pilot)
        lines = help_lines(screen)
        widest_key = max(len(keys) for keys, _, _ in screen.rows)
        for keys, does, binding_id in screen.rows:
            row = next(line for line in lines if line.startswith(keys + " ") and binding_id in line)
            assert does in row, (does, row)  # on the row's one line: not wrapped
        # The key column is as wide as its widest key (plus the gap), not a quarter of the window.
        header = lines[0]
        assert header.index("does") <= widest_key + 2, header
        box = screen.query_one(VerticalScroll)
        assert len(box.border_title) + 4 <= box.outer_size.width
        assert len(box.border_subtitle) + 4 <= box.outer_size.width
        # On the main screen the filter hint applies (`/` is there).
        assert screen.query("#hint")


async def test_help_is_titled_for_its_screen_and_hints_only_where_it_applies(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key, (120, 40)) as pilot:
        app = pilot.app
        await app.push_screen(UpdateHistoryScreen("titanic-on-dev", app.client, tracker=app.updates))
        await wait_for(pilot, lambda: isinstance(app.screen, UpdateHistoryScreen), what="the history")
        screen = await open_help(pilot)
        assert screen.help_title == "update history"
        texts = [str(static.content) for static in screen.query(Static)]
        assert not any("type to narrow" in text for text in texts)
        await pilot.press("escape", "escape")
        app.open_resource("deployment", "titanic-on-dev")
        await wait_for(pilot, lambda: getattr(app.screen, "data", None) is not None, what="the deployment")
        screen = await open_help(pilot)
        assert screen.help_title == "deployment"
        assert not screen.query("#hint")


async def test_the_palette_lists_quit_once(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key, (120, 40)) as pilot:
        app = pilot.app
        ours = [title for title, _, _ in ActionsProvider(app.screen)._screen_commands()]
        textual = [command.title for command in app.get_system_commands(app.screen)]
        assert (ours + textual).count("Quit") == 1
        assert "Update" in ours  # the screen's own actions are still there
