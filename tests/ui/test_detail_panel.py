"""The main screen's detail panel against a real local deployer with demo data: it follows a lone cursor
move at once, waits while the cursor keeps moving, and then shows the row the cursor rests on."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

from deployer_tui.core.client import DeployerClient
from deployer_tui.ui.screens import main as main_screen
from deployer_tui.ui.widgets.detail_panel import DetailPanel
from tests.ui.conftest import needs_server
from tests.ui.helpers import RecordingApp, _render_to_text, table, wait_for

pytestmark = needs_server


@asynccontextmanager
async def running(server, key: str, size: tuple[int, int] = (120, 40)):
    client = DeployerClient(server.url("deployer"), key)
    app = RecordingApp(client=client)
    try:
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: app.store.loaded and table(pilot, "deployments").row_count > 3,
                           what="the deployments list")
            yield pilot
    finally:
        await client.aclose()


def panel_text(pilot) -> str:
    return _render_to_text(pilot.app.screen.query_one(DetailPanel).content)


def shows(pilot, deployment_id: str) -> bool:
    return f"deployment: {deployment_id}\n" in panel_text(pilot)


def at_rest(pilot) -> bool:
    """The cursor has not moved for the settle time (the first rows' highlight counts as a move)."""
    return time.monotonic() >= pilot.app.screen._detail_busy_until


async def test_a_lone_move_shows_its_row_at_once(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key) as pilot:
        deps = table(pilot, "deployments")
        await wait_for(pilot, lambda: shows(pilot, deps.current_key), what="the first row in the panel")
        await wait_for(pilot, lambda: at_rest(pilot), what="the cursor at rest")
        await pilot.press("j")
        assert deps.cursor_row == 1
        assert shows(pilot, deps.current_key), panel_text(pilot)


async def test_a_run_of_moves_shows_the_row_the_cursor_rests_on(demo_server, ui_api_key, monkeypatch):
    # A settle time no loaded machine takes between two keys: the keys below are one run of moves.
    monkeypatch.setattr(main_screen, "DETAIL_SETTLE_SECONDS", 3.0)
    async with running(demo_server, ui_api_key) as pilot:
        deps = table(pilot, "deployments")
        first = deps.current_key
        await wait_for(pilot, lambda: shows(pilot, first), what="the first row in the panel")
        await pilot.press("j", "j", "j")  # within 3 s of the first rows' highlight: one run of moves
        assert deps.cursor_row == 3
        assert shows(pilot, first), "the panel followed the cursor while it moved"
        rested = deps.current_key
        await wait_for(pilot, lambda: shows(pilot, rested), what="the row the cursor rests on", timeout=15)

