"""The data store's lists from a real deployer: what they repeat of each other is one object, and every
list reads as the client's plain decode of it."""

from __future__ import annotations

from deployer_tui.core import readers
from deployer_tui.core.client import DeployerClient
from deployer_tui.ui.app import DeployerApp
from tests.ui.conftest import needs_server
from tests.ui.helpers import wait_for

pytestmark = needs_server


async def test_the_lists_share_each_deployments_basic_info_and_read_as_plain(demo_server, ui_api_key):
    async with DeployerClient(demo_server.url("deployer"), ui_api_key) as client:
        app = DeployerApp(client=client)
        async with app.run_test(size=(120, 40)) as pilot:
            store = app.store
            await wait_for(pilot, lambda: store.loaded, what="the lists")
            infras, services, deployments = (await client.list_infras(), await client.list_services(),
                                             await client.list_deployments())
            assert list(store.infras.values()) == infras and list(store.services.values()) == services
            assert list(store.deployments.values()) == deployments
            listed = [d for light in [*store.infras.values(), *store.services.values()]
                      for d in light.get("deployments") or []]
            assert listed, "the demo's infras and services list their deployments"
            own = {readers.deployment_id(light): readers.basic(light, "deploymentBasicInfo")
                   for light in store.deployments.values()}
            alike = [copy for copy in listed if copy == own[copy["id"]]]
            assert alike, "the local deployer lists each deployment's own basic info"
            assert all(copy is own[copy["id"]] for copy in alike)
