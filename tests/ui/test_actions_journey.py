"""Every API Deployer action from the TUI, against a real local deployer and API node.

The journey drives the real app by its keys: create an infra (n), a service (n), import a version built
from a folder this test writes (i), create a deployment (n), update it, run its test queries (T) stored,
through the deployer and edited as JSON. The other tests exercise each refusal path, the copy menu,
OpenAPI, governance and version download, on a world set up once through the client.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.widgets import Button, Checkbox, DataTable, Input, OptionList, Select, Static, TextArea

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.job_follower import follow_future
from deployer_tui.core.package import build_package, read_package
from deployer_tui.ui.screens.copy_menu import CopyMenuScreen
from deployer_tui.ui.screens.create_forms import (
    CreateDeploymentScreen,
    CreateInfraScreen,
    CreateServiceScreen,
)
from deployer_tui.ui.screens.delete_confirm import DeleteScreen
from deployer_tui.ui.screens.main import MainScreen
from deployer_tui.ui.screens.openapi import GovernanceScreen, OpenAPIScreen
from deployer_tui.ui.screens.query_runner import ResponseDetailScreen, TestQueriesScreen
from deployer_tui.ui.screens.update_screen import UpdateConfirmScreen
from deployer_tui.ui.screens.versions import DownloadVersionScreen, ImportVersionScreen, VersionPickScreen
from tests import servers
from tests.ui.conftest import needs_server
from tests.ui.helpers import RecordingApp, table, wait_for

pytestmark = needs_server

KEY = "actions-admin-key"
CODE = '''
def greet(name="world", times=1):
    return {"greeting": " ".join(["hello " + str(name)] * int(times))}
'''


def write_package_dir(root: Path, version: str) -> Path:
    """A one-endpoint PY_FUNCTION service folder with two stored test queries."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "tag.json").write_text(json.dumps({"generationId": version, "createdOn": 1735689600000}))
    (root / "config.json").write_text(json.dumps({
        "publicAccess": True, "authRealm": {"queryKeys": []},
        "endpoints": [{"id": "greet", "type": "PY_FUNCTION", "userFunctionName": "greet"}],
    }))
    (root / "testqueries-greet.json").write_text(json.dumps([{"q": {"name": "ada"}}, {"q": {"name": "bob", "times": 2}}]))
    (root / "endpoint-greet").mkdir(exist_ok=True)
    (root / "endpoint-greet" / "code.py").write_text(CODE)
    return root


async def run_update(client: DeployerClient, deployment: str) -> dict:
    future = await client.start_update(deployment)
    last = None
    async for event in follow_future(client, future["jobId"]):
        last = event
    assert last is not None and last.error is None, last
    return last.result


async def _setup_world(url: str, node_url: str, node_key: str, tmp: Path) -> dict:
    async with DeployerClient(url, KEY) as client:
        for infra, stage in (("dev", "Development"), ("prod", "Production")):
            await client.create_infra(infra, stage)
            settings = await client.get_infra_settings(infra)
            settings["apiNodes"] = [{"url": node_url, "adminAPIKey": node_key}]
            await client.save_infra_settings(infra, settings)
        await client.create_service("tb")
        zip_path, _ = build_package(write_package_dir(tmp / "tb-v1", "v1"), tmp / "tb-v1.zip")
        await client.import_version("tb", zip_path)
        await client.create_deployment("tb-on-dev", "tb", "dev", "v1")
        settings = await client.get_deployment_settings("tb-on-dev")
        settings["auth"] = {"authMode": "API_KEYS", "apiKeys": [{"key": "query-s3cret"}]}
        await client.save_deployment_settings("tb-on-dev", settings)
        await run_update(client, "tb-on-dev")
    return {"zip": zip_path}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("actions-deployer")
    proc = servers.serve(data, KEY, apinodes=1, demo=False)
    try:
        node_url = proc.urls["apinode"][0]
        node_key = (data / "apinodes" / "node-1.admin-key").read_text().strip()
        tmp = tmp_path_factory.mktemp("actions-files")
        extra = asyncio.run(_setup_world(proc.url("deployer"), node_url, node_key, tmp))
        yield {"proc": proc, "url": proc.url("deployer"), "node_url": node_url, "node_key": node_key,
               "tmp": tmp, **extra}
    finally:
        proc.stop()


@asynccontextmanager
async def running(world, **app_kwargs):
    client = DeployerClient(world["url"], KEY)
    app = RecordingApp(client=client, **app_kwargs)
    try:
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await wait_for(pilot, lambda: app.store.loaded, what="the lists")
            yield pilot, app, client
    finally:
        await client.aclose()


async def on_screen(pilot, cls, timeout: float = 15):
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, cls) and pilot.app.screen.is_mounted
                   and pilot.app.screen.children, what=cls.__name__, timeout=timeout)
    await pilot.pause()
    return pilot.app.screen


async def back_to_main(pilot):
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, MainScreen), what="the main screen")


async def press(pilot, selector: str) -> None:
    """Click a button once it can take a click (a Button ignores presses during its press animation)."""
    button = pilot.app.screen.query_one(selector, Button)
    await wait_for(pilot, lambda: not button.has_class("-active") and not button.disabled, what=f"{selector} ready")
    await pilot.click(selector)


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def select_row(pilot, pane: str, key: str) -> None:
    await pilot.press({"infras": "1", "services": "2", "deployments": "3"}[pane])
    tbl = table(pilot, pane)
    await wait_for(pilot, lambda: key in tbl.visible_keys, what=f"{key} in {pane}")
    tbl.move_cursor(row=tbl.get_row_index(key))
    await pilot.pause()
    assert tbl.current_key == key


async def test_whole_journey_by_keys(world, tmp_path):
    async with running(world) as (pilot, app, client):
        # 1. create an infra: n on the infras pane
        await pilot.press("1", "n")
        form = await on_screen(pilot, CreateInfraScreen)
        stage = form.query_one("#stage", Select)
        await wait_for(pilot, lambda: not stage.is_blank(), what="stages loaded")
        form.query_one("#infra-id", Input).value = "jr-dev"
        stage.value = "Test"
        await press(pilot, "#submit")
        await back_to_main(pilot)
        assert (await client.get_infra("jr-dev"))["infraBasicInfo"]["stage"] == "Test"
        settings = await client.get_infra_settings("jr-dev")
        settings["apiNodes"] = [{"url": world["node_url"], "adminAPIKey": world["node_key"]}]
        await client.save_infra_settings("jr-dev", settings)  # node wiring is the settings editor's job

        # The new infra gets the cursor once it is listed, but a pane chosen meanwhile keeps the focus.
        await pilot.press("2")
        await wait_for(pilot, lambda: table(pilot, "infras").current_key == "jr-dev", what="new infra selected")
        assert app.focused is table(pilot, "services")

        # 2. create a service: n on the services pane
        await pilot.press("n")
        form = await on_screen(pilot, CreateServiceScreen)
        form.query_one("#service-id", Input).value = "jr-svc"
        await pilot.press("enter")
        await back_to_main(pilot)
        assert (await client.get_service("jr-svc"))["packages"] == []
        await wait_for(pilot, lambda: table(pilot, "services").current_key == "jr-svc", what="new service selected")

        # 3. import a version built from a folder: i on the service
        zip_path, info = build_package(write_package_dir(tmp_path / "jr", "v7"), tmp_path / "jr-v7.zip")
        await select_row(pilot, "services", "jr-svc")
        await pilot.press("i")
        form = await on_screen(pilot, ImportVersionScreen)
        form.query_one("#zip-path", Input).value = str(zip_path)
        await wait_for(pilot, lambda: "Version v7" in text_of(form, "#package-info"), what="package read")
        assert "greet (PY_FUNCTION)" in text_of(form, "#package-info")
        await wait_for(pilot, lambda: not form.query_one("#submit", Button).disabled, what="upload enabled")
        await press(pilot, "#submit")
        await back_to_main(pilot)
        assert [p["id"] for p in (await client.get_service("jr-svc"))["packages"]] == [info.version_id]

        # 4. create a deployment: n on the deployments pane, picks from live data, id suggested
        await wait_for(pilot, lambda: "jr-svc" in app.store.services and "jr-dev" in app.store.infras,
                       what="store refreshed")
        await pilot.press("3", "n")
        form = await on_screen(pilot, CreateDeploymentScreen)
        await wait_for(pilot, lambda: form._loaded, what="form data")
        form.query_one("#service", Select).value = "jr-svc"
        form.query_one("#infra", Select).value = "jr-dev"
        await pilot.pause()
        assert form.query_one("#version", Select).value == "v7"
        assert form.query_one("#deployment-id", Input).value == "jr-svc-on-jr-dev"
        assert not form.query_one("#endpoint", Select).display  # STATIC: no endpoint pick
        form.query_one("#groups", Input).value = "data_team"
        await press(pilot, "#submit")
        await back_to_main(pilot)
        created = await client.get_deployment_settings("jr-svc-on-jr-dev")
        assert created["generationsMapping"]["generation"] == "v7"
        await wait_for(pilot, lambda: table(pilot, "deployments").current_key == "jr-svc-on-jr-dev",
                       what="new deployment selected")
        assert created.get("authorizationsToQueryThroughDeployer") == [
            {"group": "data_team", "queryThroughDeployer": True}]

        # 5. update: u, confirm, follow it to the end
        await wait_for(pilot, lambda: "jr-svc-on-jr-dev" in app.store.deployments, what="deployment listed")
        await select_row(pilot, "deployments", "jr-svc-on-jr-dev")
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UpdateConfirmScreen) and app.screen.rows is not None,
                       what="update confirmation")
        await pilot.press("y")
        tracker = app.updates
        await wait_for(pilot, lambda: "jr-svc-on-jr-dev" in tracker.runs
                       and not tracker.runs["jr-svc-on-jr-dev"].running, timeout=30, what="update done")
        run = tracker.runs["jr-svc-on-jr-dev"]
        assert run.error is None and run.result["nbOKNodes"] == 1, run.summary()
        await pilot.press("escape")
        await back_to_main(pilot)

        # 6. run the stored test queries: T on the deployment, r
        await select_row(pilot, "deployments", "jr-svc-on-jr-dev")
        await pilot.press("T")
        screen = await on_screen(pilot, TestQueriesScreen)
        results = screen.query_one("#tq-results", DataTable)
        await wait_for(pilot, lambda: screen.endpoints, what="endpoints")
        assert json.loads(screen.query_one("#tq-editor", TextArea).text)[0] == {"q": {"name": "ada"}}
        await pilot.press("r")
        await wait_for(pilot, lambda: results.row_count == 2, what="two results")
        rows = [[str(c) for c in results.get_row_at(i)] for i in range(2)]
        assert "OK" in rows[0][1] and "hello ada" in rows[0][2]
        assert "hello bob hello bob" in rows[1][2]
        assert rows[0][3].endswith(" ms")
        assert "2 OK" in text_of(screen, "#tq-status")
        # detail of one response
        results.move_cursor(row=1)
        await pilot.press("enter")
        detail = await on_screen(pilot, ResponseDetailScreen)
        assert "hello bob hello bob" in detail.query_one(TextArea).text
        await pilot.press("escape")
        await on_screen(pilot, TestQueriesScreen)

        # 7. through the deployer (run-queries), then ad-hoc JSON
        await pilot.press("ctrl+t")
        assert screen.query_one("#tq-through", Checkbox).value
        results.clear()
        await pilot.press("r")
        await wait_for(pilot, lambda: results.row_count == 2, what="results through the deployer")
        screen.query_one("#tq-editor", TextArea).text = '[{"q": {"name": "eve", "times": 3}}]'
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: results.row_count == 1, what="ad-hoc result")
        assert "hello eve hello eve hello eve" in str(results.get_row_at(0)[2])


async def test_bad_json_is_reported_and_the_draft_kept(world):
    async with running(world) as (pilot, app, client):
        app.push_screen(TestQueriesScreen(client, "tb-on-dev"))
        screen = await on_screen(pilot, TestQueriesScreen)
        await wait_for(pilot, lambda: screen.endpoints, what="endpoints")
        broken = '[{"q": {"name": "ada"}'
        screen.query_one("#tq-editor", TextArea).text = broken
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "Invalid JSON at line 1" in text_of(screen, "#tq-status"), what="error")
        assert screen.query_one("#tq-editor", TextArea).text == broken
        assert screen.query_one("#tq-results", DataTable).row_count == 0


async def test_create_refusals_keep_the_draft(world):
    async with running(world) as (pilot, app, client):
        app.push_screen(CreateServiceScreen(client))
        form = await on_screen(pilot, CreateServiceScreen)
        field = form.query_one("#service-id", Input)
        field.value = "bad id!"
        await press(pilot, "#submit")
        await wait_for(pilot, lambda: "Invalid service id" in form.error_shown, what="local validation")
        field.value = "tb"  # exists: the server refuses
        await press(pilot, "#submit")
        await wait_for(pilot, lambda: "already exists" in form.error_shown, what="server refusal")
        assert isinstance(app.screen, CreateServiceScreen) and field.value == "tb"
        await pilot.press("escape")

        app.push_screen(CreateDeploymentScreen(client, service_id="tb", infra_id="dev"))
        form = await on_screen(pilot, CreateDeploymentScreen)
        await wait_for(pilot, lambda: form._loaded, what="form data")
        # tb-on-dev is taken: the suggestion moves on, and typing the taken id is refused before sending
        assert form.query_one("#deployment-id", Input).value == "tb-on-dev-2"
        form.query_one("#deployment-id", Input).value = "tb-on-dev"
        await press(pilot, "#submit")
        await wait_for(pilot, lambda: "already exists" in form.error_shown, what="duplicate deployment id")
        form.query_one("#groups", Input).value = "ok, not/ok"
        form.query_one("#deployment-id", Input).value = "tb-fresh"
        await press(pilot, "#submit")
        await wait_for(pilot, lambda: "Invalid group name" in form.error_shown, what="bad group")
        with pytest.raises(DeployerError):
            await client.get_deployment("tb-fresh")


async def test_import_refuses_bad_zip_and_existing_version(world, tmp_path):
    async with running(world) as (pilot, app, client):
        app.push_screen(ImportVersionScreen(client, "tb"))
        form = await on_screen(pilot, ImportVersionScreen)
        bad = tmp_path / "broken.zip"
        bad.write_bytes(b"this is not a zip")
        form.query_one("#zip-path", Input).value = str(bad)
        await wait_for(pilot, lambda: "Not a valid version package" in text_of(form, "#package-info"),
                       what="bad zip refused")
        assert form.query_one("#submit", Button).disabled
        form.query_one("#zip-path", Input).value = str(world["zip"])
        await wait_for(pilot, lambda: "already has a version v1" in text_of(form, "#package-info"),
                       what="duplicate version flagged")
        assert form.query_one("#submit", Button).disabled
        # tab completes the path
        field = form.query_one("#zip-path", Input)
        field.value = str(world["zip"])[:-3]
        field.focus()
        await pilot.press("tab")
        assert field.value == str(world["zip"])


async def test_delete_refusals_are_explained(world):
    async with running(world) as (pilot, app, client):
        for kind, ident, service, expected in (
            ("service", "tb", None, "still has deployments"),
            ("infra", "dev", None, "still has deployments"),
            ("version", "v1", "tb", "used by deployment"),
        ):
            app.push_screen(DeleteScreen(client, kind, ident, service_id=service))
            form = await on_screen(pilot, DeleteScreen)
            await wait_for(pilot, lambda f=form: f.loaded, what="context")
            assert "tb-on-dev" in text_of(form, "#context")  # warned before trying
            await pilot.press("y")
            await wait_for(pilot, lambda f=form, e=expected: e in f.error_shown, what=f"{kind} refusal")
            assert "The deployer refused" in form.error_shown and "Still in use by: tb-on-dev" in form.error_shown
            await pilot.press("escape")
            await back_to_main(pilot)
        assert (await client.get_service("tb"))["packages"]


async def test_production_delete_needs_the_typed_id_and_disables_first(world):
    async with running(world) as (pilot, app, client):
        await client.create_deployment("tb-on-prod", "tb", "prod", "v1")
        app.push_screen(DeleteScreen(client, "deployment", "tb-on-prod"))
        form = await on_screen(pilot, DeleteScreen)
        await wait_for(pilot, lambda: form.loaded, what="context")
        assert form.must_type and "Production" in text_of(form, "#context")
        submit = form.query_one("#submit", Button)
        assert submit.disabled
        typed = form.query_one("#type-id", Input)
        typed.value = "tb-on-pro"
        await pilot.pause()
        assert submit.disabled
        # unticking disable-first is refused locally, as the official client does
        typed.value = "tb-on-prod"
        await pilot.pause()
        assert not submit.disabled
        form.query_one("#disable-first", Checkbox).value = False
        await press(pilot, "#submit")
        await wait_for(pilot, lambda: "tick 'Disable it first'" in form.error_shown, what="enabled refusal")
        assert (await client.get_deployment("tb-on-prod"))["deploymentBasicInfo"]["enabled"] is True
        form.query_one("#disable-first", Checkbox).value = True
        await press(pilot, "#submit")
        await back_to_main(pilot)
        with pytest.raises(DeployerError) as info:
            await client.get_deployment("tb-on-prod")
        assert info.value.status == 404


async def test_copy_menu_curl_masks_the_key_unless_asked(world):
    async with running(world) as (pilot, app, client):
        await select_row(pilot, "deployments", "tb-on-dev")
        await pilot.press("y")
        menu = await on_screen(pilot, CopyMenuScreen)
        await wait_for(pilot, lambda: any(e.what.startswith("curl") for e in menu.entries), what="entries")
        options = menu.query_one(OptionList)

        async def pick(what: str) -> None:
            options.highlighted = next(i for i, e in enumerate(menu.entries) if e.what == what)
            await pilot.press("enter")
            await back_to_main(pilot)

        await pick("curl for greet/run")
        assert app.clipboard.startswith("curl -X POST")
        assert f"{world['node_url']}/public/api/v1/tb/greet/run" in app.clipboard
        assert "query-s3cret" not in app.clipboard and "********" in app.clipboard
        assert '{"name":"ada"}' in app.clipboard
        await pilot.press("y")
        menu = await on_screen(pilot, CopyMenuScreen)
        await wait_for(pilot, lambda: menu.entries, what="entries")
        options = menu.query_one(OptionList)
        await pick("curl with API key for greet/run")
        assert "query-s3cret" in app.clipboard
        await wait_for(pilot, lambda: any("Copied curl with API key" in n.message for n in app.toasts), what="the toast")
        # a service: ids
        await select_row(pilot, "services", "tb")
        await pilot.press("y")
        menu = await on_screen(pilot, CopyMenuScreen)
        options = menu.query_one(OptionList)
        await pick("service id")
        assert app.clipboard == "tb"


async def test_openapi_and_governance(world):
    async with running(world) as (pilot, app, client):
        await select_row(pilot, "deployments", "tb-on-dev")
        await pilot.press("o")
        screen = await on_screen(pilot, OpenAPIScreen)
        tbl = screen.query_one("#oa-table", DataTable)
        await wait_for(pilot, lambda: tbl.row_count > 0, what="operations")
        assert [str(c) for c in tbl.get_row_at(0)][:2] == ["POST", "/greet/run"]
        await pilot.press("v")
        raw = screen.query_one("#oa-raw", TextArea)
        assert raw.display and json.loads(raw.text)["swagger"] == "2.0"
        await pilot.press("y")
        assert json.loads(app.clipboard)["basePath"] == "/public/api/v1/tb"
        await pilot.press("escape")
        await back_to_main(pilot)
        await app.run_action("governance", app.screen)  # a palette command (no key)
        gov = await on_screen(pilot, GovernanceScreen)
        await wait_for(pilot, lambda: "Loading" not in text_of(gov, "#gov-body"), what="governance")
        assert "No governance message" in text_of(gov, "#gov-body")


async def test_download_version_to_a_file(world, tmp_path):
    async with running(world) as (pilot, app, client):
        target = tmp_path / "out.zip"
        target.write_bytes(b"old")
        await select_row(pilot, "services", "tb")
        await pilot.press("w")  # from the main screen: pick the version, then the file
        picker = await on_screen(pilot, VersionPickScreen)
        assert picker.versions == ["v1"]
        await pilot.press("enter")
        form = await on_screen(pilot, DownloadVersionScreen)
        form.query_one("#zip-path", Input).value = str(target)
        await press(pilot, "#submit")
        await wait_for(pilot, lambda: "exists" in form.error_shown, what="overwrite refusal")
        assert target.read_bytes() == b"old"
        form.query_one("#overwrite", Checkbox).value = True
        await press(pilot, "#submit")
        await back_to_main(pilot)
        assert read_package(target).version_id == "v1"


async def test_read_only_refuses_mutating_actions(world):
    async with running(world, read_only=True) as (pilot, app, client):
        await select_row(pilot, "services", "tb")
        for action in ("create", "delete", "import_version", "create_deployment"):
            await app.run_action(action, app.screen)
            await pilot.pause()
            assert isinstance(app.screen, MainScreen), action
        await app.run_action("copy", app.screen)  # copying changes nothing
        await on_screen(pilot, CopyMenuScreen)


async def test_delete_an_unused_version_through_the_picker(world, tmp_path):
    async with running(world) as (pilot, app, client):
        zip_path, _ = build_package(write_package_dir(tmp_path / "v2", "v2"), tmp_path / "v2.zip")
        await client.import_version("tb", zip_path)
        app.store.refresh()
        await wait_for(pilot, lambda: len((app.store.services.get("tb") or {}).get("packages") or []) == 2,
                       what="v2 in the store")
        await select_row(pilot, "services", "tb")
        await app.run_action("delete_version", app.screen)  # a palette command (no key)
        picker = await on_screen(pilot, VersionPickScreen)
        assert picker.versions[0] == "v2"  # newest first
        await pilot.press("enter")
        form = await on_screen(pilot, DeleteScreen)
        await wait_for(pilot, lambda: form.loaded, what="context")
        assert "No deployment serves this version" in text_of(form, "#context")
        await press(pilot, "#submit")
        await back_to_main(pilot)
        assert [p["id"] for p in (await client.get_service("tb"))["packages"]] == ["v1"]
