"""Errors in the TUI: the banner when the deployer goes away and comes back on its own, and API
errors as a toast with errorType + message and the full details in a modal."""

from __future__ import annotations

import asyncio
import secrets
import socket

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.config import Config
from deployer_tui.ui.app import Session
from deployer_tui.ui.screens.main import MainScreen
from deployer_tui.ui.screens.modals import ErrorScreen
from deployer_tui.ui.widgets.banner import ConnectionBanner
from tests import servers
from tests.ui.conftest import needs_server
from tests.ui.helpers import RecordingApp, screen_text, wait_for

pytestmark = needs_server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_banner_while_the_server_is_gone_then_recovers(tmp_path):
    key = "admin-" + secrets.token_hex(8)
    port = free_port()
    data_dir = tmp_path / "deployer"
    proc = servers.serve(data_dir, key, apinodes=1, extra=["--port", str(port)])
    client = DeployerClient(proc.url("deployer"), key)
    await client.create_service("still-here")
    # Auto-refresh every half second: the loss is noticed without any key press.
    app = RecordingApp(client=client, config=Config(refresh_interval=0.5))
    try:
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await wait_for(pilot, lambda: app.store.loaded and "still-here" in app.store.services)
            banner = app.screen.query_one(ConnectionBanner)
            assert not banner.is_shown
            proc.stop()
            await wait_for(pilot, lambda: banner.is_shown, timeout=20, what="the banner")
            assert "Connection lost" in screen_text(pilot) and str(port) in screen_text(pilot)
            assert app.store.connection_error is not None
            # Comes back on the same port with the same data: the app recovers by itself.
            proc = servers.serve(data_dir, key, apinodes=1, extra=["--port", str(port)])
            await wait_for(pilot, lambda: not banner.is_shown, timeout=40, what="the recovery")
            assert app.store.connection_error is None and "still-here" in app.store.services
            await wait_for(pilot, lambda: any("restored" in n.message for n in app.toasts), what="the toast")
    finally:
        await client.aclose()
        proc.stop()


async def test_api_error_toast_and_details(plain_server):
    proc, key = plain_server
    client = DeployerClient(proc.url("deployer"), key)
    app = RecordingApp(client=client, config=Config(refresh_interval=0))
    try:
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await wait_for(pilot, lambda: app.store.loaded)
            await pilot.press("ctrl+e")
            await wait_for(pilot, lambda: any("No error" in n.message for n in app.toasts), what="the toast")
            app.open_resource("deployment", "no-such-deployment")
            # `notify` posts a message: the toast joins the list a moment after `last_error` is set.
            await wait_for(pilot, lambda: app.last_error is not None
                           and any(n.severity == "error" for n in app.toasts), what="the error toast")
            _context, error = app.last_error
            toast = [n for n in app.toasts if n.severity == "error"][-1]
            assert error.error_type and error.error_type.split(".")[-1] in toast.message
            assert "no-such-deployment" in toast.message or error.message in toast.message
            await pilot.press("ctrl+e")
            assert isinstance(app.screen, ErrorScreen)
            assert error.describe().splitlines()[0] in screen_text(pilot)
            await pilot.press("escape", "escape")
            assert isinstance(app.screen, MainScreen)
    finally:
        await client.aclose()


async def test_connects_after_the_first_paint_and_closes_what_it_opened(plain_server):
    proc, key = plain_server
    release = asyncio.Event()
    closed: list[bool] = []

    async def connect() -> Session:
        await release.wait()  # e.g. the embedded deployer still starting
        client = DeployerClient(proc.url("deployer"), key)

        async def close() -> None:
            await client.aclose()
            closed.append(True)

        return Session(client, "local", close)

    app = RecordingApp(connect=connect, connect_status="starting local deployer…",
                      config=Config(refresh_interval=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert "starting local deployer…" in screen_text(pilot)
        await pilot.press("ctrl+r")  # nothing to refresh yet: said, not crashed
        release.set()
        await wait_for(pilot, lambda: app.store.loaded, what="the lists")
        # The header says how old the data is at its next repaint after the lists arrive.
        await wait_for(pilot, lambda: "refreshed" in screen_text(pilot), what="the header's refresh age")
        text = screen_text(pilot)
        assert "local" in text and "starting" not in text
    assert closed == [True]
