"""A wrong API key: one lasting banner naming where the key came from, no retry loop while the key is
refused, the detail pane not left on "loading…" (a real local deployer that does not know the key)."""

from __future__ import annotations

import pytest

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.config import Config
from deployer_tui.core.profiles import Connection
from deployer_tui.ui.app import Session
from deployer_tui.ui.state.data_store import DataStore
from deployer_tui.ui.widgets.banner import ConnectionBanner
from deployer_tui.ui.widgets.detail_panel import DetailPanel
from tests.ui.conftest import needs_server
from tests.ui.helpers import RecordingApp, wait_for

pytestmark = needs_server


class CountingClient(DeployerClient):
    """The real client, counting the list reads it sends."""

    list_reads = 0

    async def list_infras(self, *args, **kwargs):
        type(self).list_reads += 1
        return await super().list_infras(*args, **kwargs)


def test_key_origin_names_each_source() -> None:
    assert Connection("http://127.0.0.1:1", "k", source="env").key_origin() == "the DKU_API_KEY environment variable"
    assert Connection("http://127.0.0.1:1", "k", source="flags").key_origin() == "the --api-key flag"
    named = Connection("http://127.0.0.1:1", "k", source="profile:prod").key_origin()
    assert "'prod'" in named and "config.json" in named


async def test_wrong_key_one_lasting_banner_and_no_retry_loop(plain_server, monkeypatch: pytest.MonkeyPatch):
    proc, _key = plain_server
    ticks = []
    real_tick = DataStore.auto_refresh

    def counted_tick(self: DataStore) -> None:
        ticks.append(1)
        real_tick(self)

    monkeypatch.setattr(DataStore, "auto_refresh", counted_tick)
    client = CountingClient(proc.url("deployer"), "not-a-key-this-deployer-knows")

    async def connect() -> Session:
        return Session(client, proc.url("deployer"), key_origin="the DKU_API_KEY environment variable")

    app = RecordingApp(connect=connect, config=Config(refresh_interval=0.1))
    try:
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            banner = app.screen.query_one(ConnectionBanner)
            await wait_for(pilot, lambda: banner.is_shown, "the banner")
            shown = str(banner.render())
            assert "API key refused" in shown and "DKU_API_KEY" in shown and "retrying" not in shown
            reads = CountingClient.list_reads
            await wait_for(pilot, lambda: len(ticks) >= 8, "eight refresh ticks")
            assert CountingClient.list_reads == reads, "no retry while the key is refused"
            assert banner.is_shown
            assert not [t for t in app.toasts if "refreshing the lists" in t.title], "the banner, not toasts"
            panel = app.screen.query_one(DetailPanel)
            assert "loading" not in str(panel.render())
            # ctrl+r tries again, once; the key is still refused and the banner stays.
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: CountingClient.list_reads == reads + 1 and not app.store.busy, "the retry")
            assert banner.is_shown and "API key refused" in str(banner.render())
    finally:
        await client.aclose()
