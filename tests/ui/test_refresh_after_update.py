"""After an update ends the app reloads what the update changed — that deployment's light and heavy status —
not every list and every heavy status. Counted on the wire, through the client's transport hook, against the
real local deployer."""

from __future__ import annotations

from collections import Counter

import httpx

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.config import Config
from deployer_tui.ui.app import DeployerApp
from tests.ui.helpers import wait_for

LISTS = ("/api-deployer/infras", "/api-deployer/services", "/api-deployer/deployments")


class CountingTransport(httpx.AsyncHTTPTransport):
    """A real transport that counts the GETs it sends, by path."""

    def __init__(self) -> None:
        super().__init__()
        self.gets: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            self.gets[request.url.path] += 1
        return await super().handle_async_request(request)


def gets_of(counter: Counter[str], suffix: str) -> int:
    return sum(n for path, n in counter.items() if path.endswith(suffix))


async def test_a_bulk_update_reloads_only_its_deployments(demo_server, ui_api_key) -> None:
    transport = CountingTransport()
    async with DeployerClient(demo_server.url("deployer"), ui_api_key, transport=transport) as client:
        app = DeployerApp(client=client, config=Config(refresh_interval=0))
        async with app.run_test(size=(140, 40)) as pilot:
            store = app.store
            await wait_for(pilot, lambda: store.loaded and not store.busy, what="the lists")
            enabled = [d for d in store.deployments if store.health(d) != "DISABLED"]
            await wait_for(pilot, lambda: all(d in store.heavy for d in enabled), what="every heavy status")
            todo = [d for d in ("toolbox-on-dev", "passengers-on-dev") if d in enabled]
            assert len(todo) == 2, sorted(store.deployments)
            others = [d for d in enabled if d not in todo]
            assert others  # else "only these" would prove nothing
            await pilot.pause()
            transport.gets.clear()
            runs = [app.updates.start(d) for d in todo]
            await wait_for(pilot, lambda: not any(run.running for run in runs), what="the updates")
            await wait_for(pilot, lambda: all(d in store.heavy for d in todo), what="the fresh heavy statuses")
            await pilot.pause()
            seen = dict(transport.gets)
            for deployment in todo:
                assert gets_of(transport.gets, f"/api-deployer/deployments/{deployment}") == 1, seen
                assert gets_of(transport.gets, f"/api-deployer/deployments/{deployment}/status") == 1, seen
                assert store.health(deployment) != "LOADING"
            for deployment in others:
                assert gets_of(transport.gets, f"/api-deployer/deployments/{deployment}/status") == 0, seen
            for path in LISTS:
                assert gets_of(transport.gets, path) == 0, seen
