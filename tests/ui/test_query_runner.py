"""The test-queries screen against a real local deployer: the adaptQueryForInfraType toggle (on by
default, as the official client sends it) and the version that answered each query."""

from __future__ import annotations

from typing import Any

from textual.widgets import Checkbox, DataTable

from deployer_tui.core.client import DeployerClient
from deployer_tui.ui.screens.query_runner import NOT_REPORTED, TestQueriesScreen, answering_version
from tests import servers
from tests.ui.conftest import needs_server
from tests.ui.helpers import RecordingApp, wait_for

pytestmark = needs_server


class Recording(DeployerClient):
    """The real client, noting the `adapt` flag each run-queries call sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.adapt_sent: list[bool] = []

    async def run_queries(self, deployment_id: str, queries: list, endpoint_id: str | None = None,
                          adapt: bool = True) -> dict:
        self.adapt_sent.append(adapt)
        return await super().run_queries(deployment_id, queries, endpoint_id=endpoint_id, adapt=adapt)


async def test_adapt_query_toggle_through_the_deployer(demo_server: servers.Proc, ui_api_key: str) -> None:
    async with Recording(demo_server.url("deployer"), ui_api_key) as client:
        app = RecordingApp(client=client)
        async with app.run_test(size=(120, 40)) as pilot:
            app.push_screen(TestQueriesScreen(client, "titanic-on-dev"))
            await wait_for(pilot, lambda: isinstance(app.screen, TestQueriesScreen) and app.screen.loaded)
            screen = app.screen
            adapt = screen.query_one("#tq-adapt", Checkbox)
            assert adapt.value is True and not adapt.display  # offered only through the deployer
            await pilot.press("ctrl+t")
            assert adapt.display
            results = screen.query_one("#tq-results", DataTable)
            results.focus()
            await pilot.press("r")
            await wait_for(pilot, lambda: client.adapt_sent == [True] and results.row_count > 0)
            # Through the deployer the node's answer still names its version.
            assert str(results.get_row_at(0)[4]).startswith("v")
            await pilot.press("a")
            assert adapt.value is False
            await pilot.press("r")
            await wait_for(pilot, lambda: client.adapt_sent == [True, False], what="a call without adapting")


def test_answering_version_reads_the_nodes_api_context() -> None:
    answer = {"response": {"result": {"prediction": "1"}, "apiContext": {"serviceGeneration": "v3"}}}
    assert answering_version(answer) == "v3"
    assert answering_version({"response": {"result": 1}}) == NOT_REPORTED
    assert answering_version({"error": {"errorType": "X"}}) == NOT_REPORTED
