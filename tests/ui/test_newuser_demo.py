"""What a new user tripped over, against a real local deployer with demo data: the create-deployment
form's defaults, a detail screen that follows the console's own changes, the delete dialog's story and
the copied curl's key."""

from __future__ import annotations

import secrets
import shlex
import time
from contextlib import asynccontextmanager

import httpx
from textual.widgets import Select, Static

from deployer_tui.core import readers
from deployer_tui.core.client import DeployerClient
from deployer_tui.core.config import Config
from deployer_tui.core.job_follower import follow_future
from deployer_tui.core.readers import MASKED_KEY
from deployer_tui.ui.screens.copy_menu import CopyMenuScreen, deployment_entries
from deployer_tui.ui.screens.create_forms import CreateDeploymentScreen
from deployer_tui.ui.screens.delete_confirm import DeleteScreen, node_cleanup_story
from deployer_tui.ui.screens.deployment import DeploymentScreen
from deployer_tui.ui.view.formatting import Presentation
from tests.ui.conftest import needs_server
from tests.ui.helpers import RecordingApp, screen_text, table, wait_for

pytestmark = needs_server


@asynccontextmanager
async def running(server, key: str, size: tuple[int, int] = (120, 40), **app_kwargs):
    client = DeployerClient(server.url("deployer"), key)
    app = RecordingApp(client=client, **app_kwargs)
    try:
        async with app.run_test(size=size, notifications=True) as pilot:
            await wait_for(pilot, lambda: app.store.loaded and table(pilot, "deployments").row_count > 0,
                           what="the deployments list")
            yield pilot, app, client
    finally:
        await client.aclose()


async def highlight(pilot, pane: str, key: str) -> None:
    await pilot.press({"infras": "1", "services": "2", "deployments": "3"}[pane])
    tbl = table(pilot, pane)
    await wait_for(pilot, lambda: key in tbl.visible_keys, what=f"{key} in {pane}")
    tbl.move_cursor(row=tbl.get_row_index(key))
    await pilot.pause()
    assert tbl.current_key == key


async def test_new_deployment_defaults_to_the_highlighted_service_and_infra(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key) as (pilot, app, client):
        services = sorted(app.store.services)
        infras = sorted(app.store.infras)
        # Not the first of either list, and not what the highlighted deployment runs.
        service, infra = services[-1], infras[-1]
        await highlight(pilot, "services", service)
        await highlight(pilot, "infras", infra)
        deployments = table(pilot, "deployments")
        await pilot.press("3")
        first = deployments.current_key
        basic = app.store.deployments[str(first)]["deploymentBasicInfo"]
        assert (basic["publishedServiceId"], basic["infraId"]) != (service, infra)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CreateDeploymentScreen) and app.screen.loaded,
                       "the create-deployment form")
        form = app.screen
        await pilot.pause()
        assert form.query_one("#service", Select).value == service
        assert form.query_one("#infra", Select).value == infra
        version = form.query_one("#version", Select)
        assert version.value != Select.BLANK
        assert version.prompt != "pick a service first", "a service is picked: the blank entry says so no more"
        await pilot.press("escape")


async def test_delete_dialog_says_the_nodes_are_cleaned_up(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key) as (pilot, app, client):
        deployed = next(d for d, light in app.store.deployments.items() if light.get("neverEverDeployed") is False)
        await highlight(pilot, "deployments", deployed)
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, DeleteScreen) and app.screen.loaded, "the delete dialog")
        context = str(app.screen.query_one("#context", Static).render())
        assert "stays on the API nodes" not in context
        assert "removes what it serves from the infra's API nodes" in context
        assert "local deployer at once" in context
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, DeleteScreen), "the dialog closed")
    assert await client_has(demo_server, ui_api_key, deployed), "cancelled: nothing deleted"


def test_a_never_deployed_deployment_needs_no_cleanup() -> None:
    assert "never deployed" in node_cleanup_story({"neverEverDeployed": True})
    assert "removes what it serves" in node_cleanup_story({"neverEverDeployed": False})
    assert "removes what it serves" in node_cleanup_story({}), "not said: the wording true of every deployer"


async def client_has(server, key: str, deployment: str) -> bool:
    async with DeployerClient(server.url("deployer"), key) as client:
        return deployment in {d["deploymentBasicInfo"]["id"] for d in await client.list_deployments()}


async def new_titanic_deployment(client: DeployerClient, version: str = "v1") -> str:
    dep = f"nu-{secrets.token_hex(3)}"
    await client.create_deployment(dep, "titanic", "test-static", version, ignore_warnings=True)
    return dep


async def set_version(client: DeployerClient, dep: str, version: str) -> None:
    settings = await client.get_deployment_settings(dep)
    settings["generationsMapping"] = {"mode": "SINGLE_GENERATION", "generation": version}
    await client.save_deployment_settings(dep, settings, ignore_warnings=True)


def mapping_shown(pilot) -> str:
    text = screen_text(pilot)
    line = next((line for line in text.splitlines() if line.strip().startswith("mapping")), "")
    return line.split("mapping", 1)[-1].strip(" :")


async def test_deployment_screen_shows_a_change_made_from_a_screen_on_top(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key) as (pilot, app, client):
        dep = await new_titanic_deployment(client)
        app.open_resource("deployment", dep)
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen.data is not None,
                       "the deployment screen")
        detail = app.screen
        assert mapping_shown(pilot) == "v1"
        # A screen on top (here the help) while the console changes the deployment, as the settings
        # editor does; back on the detail, the new mapping shows at once, not at the next interval.
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: app.screen is not detail, "the help on top")
        await set_version(client, dep, "v2")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is detail and mapping_shown(pilot) == "v2", "the new mapping",
                       timeout=5)
        # The store re-reading this deployment (what an update's end does) reloads the screen too.
        await set_version(client, dep, "v3")
        app.store.refresh_deployment(dep)
        await wait_for(pilot, lambda: mapping_shown(pilot) == "v3", "the mapping after the store's re-read",
                       timeout=5)


async def test_deployment_screen_refreshes_on_its_own_and_its_ages_tick(demo_server, ui_api_key):
    now = [time.time()]
    present = Presentation(clock=lambda: now[0])
    async with running(demo_server, ui_api_key, presentation=present,
                       config=Config(refresh_interval=0.3)) as (pilot, app, client):
        dep = await new_titanic_deployment(client)
        app.open_resource("deployment", dep)
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen.data is not None,
                       "the deployment screen")
        await set_version(client, dep, "v2")  # by another client: only the interval can notice
        await wait_for(pilot, lambda: mapping_shown(pilot) == "v2", "the automatic reload", timeout=10)
        before = screen_text(pilot)
        assert "(0s ago)" in before or "(1s ago)" in before
        now[0] += 3 * 3600
        await wait_for(pilot, lambda: "(3h ago)" in screen_text(pilot), "the relative time to move", timeout=5)


async def test_copied_curl_carries_the_key_every_version_of_a_split_accepts(demo_server, ui_api_key):
    """v2 of the demo's titanic is public, v3 needs its query key: the copied curl must work whichever
    version answers, so it carries v3's key (a public version accepts any)."""
    async with running(demo_server, ui_api_key) as (pilot, app, client):
        dep = f"nu-split-{secrets.token_hex(3)}"
        await client.create_deployment(dep, "titanic", "dev-local", "v2", ignore_warnings=True)
        settings = await client.get_deployment_settings(dep)
        assert (settings.get("auth") or {}).get("authMode", "INHERIT_DEV") == "INHERIT_DEV"
        settings["deployedServiceId"] = dep
        settings["generationsMapping"] = {"mode": "MULTI_GENERATION", "strategy": "RANDOM", "entries": [{"generation": "v2", "proba": 0.5},
                                                                         {"generation": "v3", "proba": 0.5}]}
        await client.save_deployment_settings(dep, settings, ignore_warnings=True)
        future = await client.start_update(dep)
        last = None
        async for event in follow_future(client, future["jobId"]):
            last = event
        assert last is not None and last.error is None, last

        app.push_screen(CopyMenuScreen.for_deployment(client, dep))
        await wait_for(pilot, lambda: isinstance(app.screen, CopyMenuScreen) and app.screen.entries,
                       "the copy menu", timeout=30)
        menu = app.screen
        with_key = [e for e in menu.entries if e.what.startswith("curl with API key")]
        assert with_key, [e.label for e in menu.entries]
        entry = with_key[0]
        assert "titanic-demo-query-key" in entry.text and "titanic-demo-query-key" not in entry.preview
        masked = next(e for e in menu.entries if e.what.startswith("curl for"))
        assert MASKED_KEY in masked.text and "before the ':' after -u" in masked.preview
        await pilot.press("escape")

    # Run what was copied, as a shell would, twenty times: every call answers, whichever version serves it.
    argv = shlex.split(entry.text)
    url = argv[3]
    user = argv[argv.index("-u") + 1]
    body = argv[argv.index("--data-binary") + 1]
    async with httpx.AsyncClient(timeout=30) as http:
        statuses = []
        for _ in range(20):
            answer = await http.post(url, content=body, headers={"Content-Type": "application/json"},
                                     auth=(user.rstrip(":"), ""))
            statuses.append(answer.status_code)
        assert statuses == [200] * 20
        bare = [(await http.post(url, content=body, headers={"Content-Type": "application/json"})).status_code
                for _ in range(20)]
        assert 401 in bare, "without the key, the keyed version refuses: the key mattered"


def test_per_version_keys_when_none_is_common() -> None:
    choice = readers.query_key_choice(None, {"v1": (False, ["a"]), "v2": (False, ["b"]), "v3": (True, [])})
    assert choice.key is None and choice.needed and choice.per_version == {"v1": "a", "v2": "b"}
    entries = deployment_entries(SPLIT_LIGHT, SPLIT_HEAVY, None,
                                 {"v1": (False, ["a"]), "v2": (False, ["b"])})
    labels = [e.label for e in entries]
    assert any("v1's key" in label for label in labels) and any("v2's key" in label for label in labels)
    masked = next(e for e in entries if e.what.startswith("curl for"))
    assert "no key is accepted by every mapped version" in masked.preview
    public = readers.query_key_choice({"auth": {"authMode": "INHERIT_DEV"}}, {"v1": (True, [])})
    assert not public.needed and public.key is None


SPLIT_LIGHT = {"deploymentBasicInfo": {"id": "s", "publishedServiceId": "svc", "infraId": "dev",
                                       "generationsMapping": {"mode": "RANDOM", "entries": [
                                           {"generation": "v1", "proba": 0.5}, {"generation": "v2", "proba": 0.5}]}}}
SPLIT_HEAVY = {"apiNodes": [{"url": "http://127.0.0.1:1"}], "endpoints": [{"id": "f", "type": "PY_FUNCTION"}]}
