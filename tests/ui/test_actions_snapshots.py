"""SVG snapshots of each action form and of the test-query results view.

These screens only show what the client returns, so they run on a small in-memory stand-in with fixed
data (no ports, no clock: deterministic) inside a harness app; the same screens run against the real
deployer in test_actions_journey.py. Update with `--snapshot-update` after looking at the report.
"""

from __future__ import annotations

import json

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input, Label, Select

from deployer_tui.core.errors import DeployerError
from deployer_tui.core.package import build_package
from deployer_tui.ui.screens.create_forms import (
    CreateDeploymentScreen,
    CreateInfraScreen,
    CreateServiceScreen,
)
from deployer_tui.ui.screens.delete_confirm import DeleteScreen
from deployer_tui.ui.screens.query_runner import TestQueriesScreen
from deployer_tui.ui.screens.versions import ImportVersionScreen
from deployer_tui.ui.view.formatting import StablePresentation
from tests.ui.helpers import wait_for

SIZE = (120, 40)
LIGHT = {
    "deploymentBasicInfo": {"id": "toolbox-on-prod", "publishedServiceId": "toolbox", "infraId": "prod",
                            "enabled": True, "generationsMapping": {"mode": "SINGLE_GENERATION", "generation": "v2"}},
    "infraBasicInfo": {"id": "prod", "stage": "Production", "type": "STATIC"},
}
HEAVY = {"apiNodes": [{"url": "http://apinode-1:12000"}],
         "endpoints": [{"id": "fare", "type": "PY_FUNCTION",
                        "testQueries": [{"q": {"pclass": 1, "passengers": 2}}, {"q": {"pclass": 9}}]},
                       {"id": "lookup", "type": "DATASETS_LOOKUP", "testQueries": []}]}


class FixedDeployer:
    """Answers the few calls these screens make, with fixed data."""

    async def list_stages(self):
        return [{"id": "Development", "desc": "Development"}, {"id": "Production", "desc": "Production"}]

    async def list_services(self, decode=None):
        return [{"serviceBasicInfo": {"id": "toolbox"},
                 "packages": [{"id": "v2", "endpoints": [{"id": "fare", "type": "PY_FUNCTION"}]},
                              {"id": "v1", "endpoints": [{"id": "fare", "type": "PY_FUNCTION"}]}]}]

    async def list_infras(self, decode=None):
        return [{"infraBasicInfo": {"id": "dev", "stage": "Development", "type": "STATIC"}},
                {"infraBasicInfo": {"id": "prod", "stage": "Production", "type": "STATIC"}}]

    async def list_deployments(self, decode=None):
        return [{"deploymentBasicInfo": {"id": "toolbox-on-dev", "infraId": "dev"}}]

    async def get_service(self, service_id):
        return {"serviceBasicInfo": {"id": service_id}, "packages": [{"id": "v1"}], "deployments": []}

    async def get_deployment(self, deployment_id):
        return LIGHT

    async def get_deployment_status(self, deployment_id):
        return HEAVY

    async def run_test_queries(self, deployment_id, endpoint_id=None, test_queries=None):
        return {"responses": [
            {"response": {"response": {"fare": 168.0, "currency": "GBP"}, "responseIsEmpty": False,
                          "timing": {"wait": 12, "execution": 1830, "functionInternal": 60}}},
            {"error": {"errorType": "java.lang.IllegalArgumentException",
                       "message": "pclass must be 1, 2 or 3, not 9"}},
        ]}

    async def create_service(self, service_id):
        raise DeployerError(f"Service '{service_id}' already exists", status=409,
                            error_type="com.dataiku.dip.exceptions.AlreadyExistsException")


class Harness(App):
    def __init__(self, screen_factory) -> None:
        super().__init__()
        self.screen_factory = screen_factory
        self.presentation = StablePresentation()

    def compose(self) -> ComposeResult:
        yield Label("deployer-tui (harness)")

    def on_mount(self) -> None:
        self.push_screen(self.screen_factory(FixedDeployer()))


async def settled(pilot, condition, what: str) -> None:
    await wait_for(pilot, condition, what=what)
    # A blinking cursor would be caught on or off depending on when the picture is taken.
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def test_snapshot_create_infra(snap_compare):
    async def run_before(pilot):
        await settled(pilot, lambda: not pilot.app.screen.query_one("#stage", Select).is_blank(), "stages")
        pilot.app.screen.query_one("#infra-id", Input).value = "qa-static"

    assert snap_compare(Harness(CreateInfraScreen), terminal_size=SIZE, run_before=run_before)


def test_snapshot_create_service_refused(snap_compare):
    async def run_before(pilot):
        await settled(pilot, lambda: pilot.app.screen.query("#service-id"), "form")
        pilot.app.screen.query_one("#service-id", Input).value = "toolbox"
        await pilot.press("enter")
        await settled(pilot, lambda: "already exists" in pilot.app.screen.error_shown, "refusal")

    assert snap_compare(Harness(CreateServiceScreen), terminal_size=SIZE, run_before=run_before)


def test_snapshot_create_deployment(snap_compare):
    async def run_before(pilot):
        await settled(pilot, lambda: getattr(pilot.app.screen, "_loaded", False), "live data")
        pilot.app.screen.query_one("#infra", Select).value = "prod"
        await settled(pilot, lambda: pilot.app.screen.query_one("#deployment-id", Input).value
                      == "toolbox-on-prod", "suggested id")

    factory = lambda client: CreateDeploymentScreen(client, service_id="toolbox")  # noqa: E731
    assert snap_compare(Harness(factory), terminal_size=SIZE, run_before=run_before)


def test_snapshot_import_version(snap_compare, tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "tag.json").write_text(json.dumps({"generationId": "v3", "createdOn": 1735689600000}))
    (src / "config.json").write_text(json.dumps({"endpoints": [{"id": "fare", "type": "PY_FUNCTION"}]}))
    (src / "endpoint-fare").mkdir()
    (src / "endpoint-fare" / "code.py").write_text("def fare(pclass):\n    return pclass\n")
    (src / "testqueries-fare.json").write_text(json.dumps([{"q": {"pclass": 1}}]))
    build_package(src, tmp_path / "toolbox-v3.zip")
    monkeypatch.chdir(tmp_path)  # a relative path on screen: no temp dir in the picture

    async def run_before(pilot):
        await settled(pilot, lambda: "Version v3" in str(pilot.app.screen.query_one("#package-info").render()),
                      "package read")

    factory = lambda client: ImportVersionScreen(client, "toolbox", path="toolbox-v3.zip")  # noqa: E731
    assert snap_compare(Harness(factory), terminal_size=SIZE, run_before=run_before)


def test_snapshot_delete_production_deployment(snap_compare):
    async def run_before(pilot):
        await settled(pilot, lambda: getattr(pilot.app.screen, "loaded", False), "context")

    factory = lambda client: DeleteScreen(client, "deployment", "toolbox-on-prod")  # noqa: E731
    assert snap_compare(Harness(factory), terminal_size=SIZE, run_before=run_before)


def test_snapshot_test_query_results(snap_compare):
    async def run_before(pilot):
        await settled(pilot, lambda: getattr(pilot.app.screen, "endpoints", None), "endpoints")
        await pilot.press("r")
        await settled(pilot, lambda: pilot.app.screen.query_one("#tq-results", DataTable).row_count == 2,
                      "results")

    clock = iter([10.0, 10.042]).__next__  # a fixed 42 ms round trip
    factory = lambda client: TestQueriesScreen(client, "toolbox-on-prod", clock=clock)  # noqa: E731
    assert snap_compare(Harness(factory), terminal_size=SIZE, run_before=run_before)

