"""What the real deployer cannot show on demand: progress mid-transfer, a deploy-anywhere infra, a lost
connection during a form. A scripted stand-in client controls when each call returns."""

from __future__ import annotations

import asyncio
import json

from textual.app import App, ComposeResult
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, Select, TextArea

from deployer_tui.core.errors import ConnectionLost, DeployerError
from deployer_tui.core.package import build_package
from deployer_tui.ui.screens.create_forms import CreateDeploymentScreen, CreateInfraScreen
from deployer_tui.ui.screens.query_runner import TestQueriesScreen
from deployer_tui.ui.screens.versions import DownloadVersionScreen, ImportVersionScreen
from deployer_tui.ui.view.formatting import Presentation
from tests.ui.helpers import wait_for


class Scripted:
    """Calls block on `gate` so a test can look at the screen half-way."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.calls: list[tuple] = []

    async def get_service(self, service_id):
        return {"packages": []}

    async def import_version(self, service_id, path, progress=None):
        self.calls.append(("import", service_id, str(path)))
        progress(0, 1000)
        progress(400, 1000)
        await self.gate.wait()
        progress(1000, 1000)

    async def download_version(self, service_id, version_id, path, progress=None):
        self.calls.append(("download", service_id, version_id))
        progress(0, 0)  # no Content-Length: indeterminate
        progress(300, 0)
        await self.gate.wait()
        path.write_bytes(b"zip")

    async def list_services(self, decode=None):
        return [{"serviceBasicInfo": {"id": "svc"},
                 "packages": [{"id": "v1", "endpoints": [{"id": "a", "type": "PY_FUNCTION"},
                                                          {"id": "b", "type": "SQL_QUERY"}]}]}]

    async def list_infras(self, decode=None):
        return [{"infraBasicInfo": {"id": "sm", "stage": "Production", "type": "SAGEMAKER"}}]

    async def list_deployments(self, decode=None):
        return []

    async def create_deployment(self, *args, **kwargs):
        self.calls.append(("create_deployment", args, kwargs))
        return {}

    async def list_stages(self):
        raise ConnectionLost("127.0.0.1:1", "connection refused")


class Harness(App):
    def __init__(self) -> None:
        super().__init__()
        self.presentation = Presentation()

    def compose(self) -> ComposeResult:
        yield Label("harness")


async def test_upload_shows_progress_then_closes(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "tag.json").write_text(json.dumps({"generationId": "v9", "createdOn": 1}))
    (src / "config.json").write_text(json.dumps({"endpoints": [{"id": "f", "type": "PY_FUNCTION"}]}))
    (src / "endpoint-f").mkdir()
    (src / "endpoint-f" / "code.py").write_text("def f():\n    return 1\n")
    zip_path, _ = build_package(src, tmp_path / "p.zip")
    client = Scripted()
    app = Harness()
    async with app.run_test() as pilot:
        results: list = []
        app.push_screen(ImportVersionScreen(client, "svc", path=str(zip_path)), results.append)
        await wait_for(pilot, lambda: isinstance(app.screen, ImportVersionScreen)
                       and app.screen.package is not None, what="package read")
        await wait_for(pilot, lambda: not app.screen.query_one("#submit", Button).disabled, what="upload enabled")
        app.screen.query_one("#submit", Button).press()
        await wait_for(pilot, lambda: client.calls, what="upload started")
        bar = app.screen.query_one("#progress", ProgressBar)
        await wait_for(pilot, lambda: bar.display and bar.progress == 400 and bar.total == 1000, what="40%")
        assert app.screen.query_one("#submit", Button).disabled  # no second upload meanwhile
        client.gate.set()
        await wait_for(pilot, lambda: results == ["v9"], what="dismissed with the version id")


async def test_download_with_unknown_size_is_indeterminate(tmp_path):
    client = Scripted()
    app = Harness()
    async with app.run_test() as pilot:
        target = tmp_path / "v1.zip"
        results: list = []
        app.push_screen(DownloadVersionScreen(client, "svc", "v1", path=str(target)), results.append)
        await wait_for(pilot, lambda: isinstance(app.screen, DownloadVersionScreen) and app.screen.is_mounted,
                       what="form")
        await pilot.pause()
        app.screen.query_one("#submit", Button).press()
        await wait_for(pilot, lambda: client.calls, what="download started")
        bar = app.screen.query_one("#progress", ProgressBar)
        await wait_for(pilot, lambda: bar.display and bar.total is None and bar.progress == 300, what="bytes")
        client.gate.set()
        await wait_for(pilot, lambda: results == [target], what="dismissed with the path")
        assert target.read_bytes() == b"zip"


async def test_deploy_anywhere_infra_needs_an_endpoint():
    client = Scripted()
    app = Harness()
    async with app.run_test() as pilot:
        app.push_screen(CreateDeploymentScreen(client))
        await wait_for(pilot, lambda: isinstance(app.screen, CreateDeploymentScreen) and app.screen.loaded,
                       what="form data")
        form = app.screen
        await pilot.pause()
        # one service and one infra: both picked; SAGEMAKER serves one endpoint, so the picker shows
        assert form.query_one("#service", Select).value == "svc"
        assert form.query_one("#infra", Select).value == "sm"
        endpoint = form.query_one("#endpoint", Select)
        assert endpoint.display and endpoint.is_blank()
        assert "Production" in str(form.query_one("#form-note").render())
        form.query_one("#submit", Button).press()
        await wait_for(pilot, lambda: "pick the endpoint" in form.error_shown, what="endpoint required")
        assert client.calls == []
        endpoint.value = "b"
        form.query_one("#groups", Input).value = "ops"
        await pilot.pause()
        await wait_for(pilot, lambda: not form.query_one("#submit", Button).has_class("-active"), what="button")
        form.query_one("#submit", Button).press()
        await wait_for(pilot, lambda: client.calls, what="create sent")
        _, args, kwargs = client.calls[0]
        assert args == ("svc-on-sm", "svc", "sm", "v1")
        assert kwargs["endpoint_id"] == "b"
        assert kwargs["authorizations"] == [{"group": "ops", "queryThroughDeployer": True}]


async def test_lost_connection_in_a_form_is_said_and_nothing_is_lost():
    app = Harness()
    async with app.run_test() as pilot:
        app.push_screen(CreateInfraScreen(Scripted()))
        await wait_for(pilot, lambda: isinstance(app.screen, CreateInfraScreen) and app.screen.query("#form-error")
                       and "Could not read the stages" in app.screen.error_shown, what="stages error")
        form = app.screen
        assert "connection refused" in form.error_shown
        form.query_one("#infra-id", Input).value = "kept"
        form.query_one("#submit", Button).press()
        await wait_for(pilot, lambda: "Pick a stage" in form.error_shown, what="stage required")
        assert form.query_one("#infra-id", Input).value == "kept"


class TwoEndpoints:
    async def get_deployment(self, deployment_id):
        return {"deploymentBasicInfo": {"id": deployment_id, "generationsMapping": {"generation": "v1"}}}

    async def get_deployment_status(self, deployment_id):
        return {"endpoints": [{"id": "fn", "type": "PY_FUNCTION", "testQueries": [{"q": {"x": 1}}]},
                              {"id": "lk", "type": "DATASETS_LOOKUP", "testQueries": []}]}

    async def run_queries(self, deployment_id, queries, endpoint_id=None, adapt=False):
        raise DeployerError("Not allowed to query through the deployer", status=403,
                            error_type="com.dataiku.dip.exceptions.UnauthorizedException")


async def test_endpoint_switch_refills_unless_edited_and_through_deployer_refusal_is_explained():
    app = Harness()
    async with app.run_test() as pilot:
        app.push_screen(TestQueriesScreen(TwoEndpoints(), "dep"))
        await wait_for(pilot, lambda: isinstance(app.screen, TestQueriesScreen) and app.screen.endpoints,
                       what="endpoints")
        screen = app.screen
        editor = screen.query_one("#tq-editor", TextArea)
        await wait_for(pilot, lambda: json.loads(editor.text) == [{"q": {"x": 1}}], what="stored queries shown")
        screen.query_one("#tq-endpoint", Select).value = "lk"
        await wait_for(pilot, lambda: json.loads(editor.text) == [{"q": {"data": {}}}], what="lookup template")
        editor.text = '[{"q": {"data": {"id": 7}}}]'  # the user's draft
        screen.query_one("#tq-endpoint", Select).value = "fn"
        await pilot.pause()
        assert editor.text == '[{"q": {"data": {"id": 7}}}]'
        # through the deployer without a group authorisation
        screen.query_one("#tq-through", Checkbox).value = True
        screen.action_run_edited()
        await wait_for(pilot, lambda: "Refused" in str(screen.query_one("#tq-status").render()), what="refusal")
        status = str(screen.query_one("#tq-status").render())
        assert "Not allowed to query" in status and "queryThroughDeployer" in status
