"""Every DeployerClient call against the real local deployer (`deployer-tui serve`), and the error cases:
401, 403, 404, 409, connection refused, a deployer killed while a future is followed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployer_tui.core import readers
from deployer_tui.core.bulk import iter_heavy_statuses
from deployer_tui.core.client import DeployerClient
from deployer_tui.core.errors import ConnectionLost, DeployerError
from deployer_tui.core.job_follower import abort, follow_future
from deployer_tui.core.package import read_package
from tests import servers
from tests.core.conftest import make_package

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("deployer_tui.server.serve") is None,
    reason="the local deployer (deployer_tui.server.serve, `deployer-tui serve`) is not in the tree yet",
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deployer")


@pytest.fixture(scope="module")
def deployer(data_dir: Path, api_key: str) -> Iterator[servers.Proc]:
    proc = servers.serve(data_dir, api_key, apinodes=1)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("work")


@pytest.fixture
async def client(deployer: servers.Proc, api_key: str):
    async with DeployerClient(deployer.url("deployer"), api_key) as c:
        yield c


def node_key(data_dir: Path, index: int = 1) -> str:
    """Admin key of serve's node `index`, kept in its data dir (docs/deployer.md)."""
    return (data_dir / "apinodes" / f"node-{index}.admin-key").read_text().strip()


async def static_infra(client: DeployerClient, infra_id: str, node_urls: list[str], key: str) -> dict:
    stage = (await client.list_stages())[0]["id"]
    await client.create_infra(infra_id, stage)
    settings = await client.get_infra_settings(infra_id)
    settings["apiNodes"] = [{"url": u, "adminAPIKey": key, "graphitePrefix": None} for u in node_urls]
    await client.save_infra_settings(infra_id, settings)
    return settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A URL whose server accepts TCP connections (in the backlog) but never answers: calls to it hang."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


# ---------------------------------------------------------------------------------------------- reads


async def test_auth_info_and_stages(client: DeployerClient) -> None:
    info = await client.auth_info()
    assert info["authIdentifier"] == "admin"
    stages = await client.list_stages()
    assert stages and all("id" in s for s in stages)


async def test_both_prefixes(client: DeployerClient, deployer: servers.Proc, api_key: str) -> None:
    async with DeployerClient(deployer.url("deployer"), api_key, prefix="/dip/publicapi") as dip:
        assert dip.prefix == "/dip/publicapi"
        assert await dip.list_stages() == await client.list_stages()


# ---------------------------------------------------------------------------------------------- infras


async def test_infra_crud_keeps_unknown_keys(client: DeployerClient, deployer: servers.Proc, data_dir: Path) -> None:
    stage = (await client.list_stages())[0]["id"]
    created = await client.create_infra("crud-infra", stage)
    assert created["id"] == "crud-infra"
    settings = await client.get_infra_settings("crud-infra")
    settings["apiNodes"] = [{"url": deployer.url("apinode"), "adminAPIKey": node_key(data_dir), "graphitePrefix": None}]
    settings["someFutureKey"] = {"kept": [1, 2]}
    await client.save_infra_settings("crud-infra", settings)
    again = await client.get_infra_settings("crud-infra")
    assert again["someFutureKey"] == {"kept": [1, 2]} and again["apiNodes"][0]["url"] == deployer.url("apinode")
    light = await client.get_infra("crud-infra")
    assert readers.infra_id(light) == "crud-infra"
    assert "crud-infra" in {readers.infra_id(i) for i in await client.list_infras()}
    await client.delete_infra("crud-infra")
    with pytest.raises(DeployerError) as info:
        await client.get_infra("crud-infra")
    assert info.value.status == 404


# ---------------------------------------------------------------------------------------------- services


async def test_service_versions_upload_download(client: DeployerClient, work: Path) -> None:
    created = await client.create_service("svc-files")
    assert isinstance(created, dict)
    package = make_package(work, "svc-files", "v1")
    progress: list[tuple[int, int]] = []
    await client.import_version("svc-files", package, progress=lambda d, t: progress.append((d, t)))
    assert progress[-1] == (package.stat().st_size, package.stat().st_size)
    await client.import_version("svc-files", make_package(work, "svc-files", "v2"))
    light = await client.get_service("svc-files")
    assert readers.service_id(light) == "svc-files"
    assert [p["id"] for p in light["packages"]] == ["v2", "v1"]  # newest first
    assert "svc-files" in {readers.service_id(s) for s in await client.list_services()}

    target = work / "downloaded.zip"
    await client.download_version("svc-files", "v1", target)
    assert read_package(target).version_id == "v1" and not (work / "downloaded.zip.partial").exists()
    with zipfile.ZipFile(target) as zf:
        assert "endpoint-hello/code.py" in zf.namelist()

    settings = await client.get_service_settings("svc-files")
    settings["permissions"] = [{"group": "readers", "read": True, "write": False, "deploy": False, "admin": False}]
    settings["extraThing"] = "kept"
    await client.save_service_settings("svc-files", settings)
    again = await client.get_service_settings("svc-files")
    assert again["permissions"][0]["group"] == "readers" and again["extraThing"] == "kept"

    await client.delete_version("svc-files", "v2")
    assert [p["id"] for p in (await client.get_service("svc-files"))["packages"]] == ["v1"]
    with pytest.raises(DeployerError) as info:
        await client.download_version("svc-files", "v2", work / "gone.zip")
    assert info.value.status == 404 and not (work / "gone.zip").exists()
    assert not (work / "gone.zip.partial").exists()
    await client.delete_service("svc-files")
    with pytest.raises(DeployerError) as info:
        await client.get_service("svc-files")
    assert info.value.status == 404


# ---------------------------------------------------------------------------------------------- deployments


async def test_deployment_lifecycle(client: DeployerClient, deployer: servers.Proc, data_dir: Path, work: Path) -> None:
    await static_infra(client, "life-infra", [deployer.url("apinode")], node_key(data_dir))
    await client.create_service("life-svc")
    await client.import_version("life-svc", make_package(work, "life-svc", "v1"))
    created = await client.create_deployment("life-dep", "life-svc", "life-infra", "v1")
    assert created["id"] == "life-dep"

    light = await client.get_deployment("life-dep")
    assert readers.deployment_id(light) == "life-dep"
    assert readers.mapping_summary(light["deploymentBasicInfo"]["generationsMapping"]) == "v1"
    assert "life-dep" in {readers.deployment_id(d) for d in await client.list_deployments()}

    settings = await client.get_deployment_settings("life-dep")
    settings["tags"] = ["bench", "kept"]
    settings["notAFieldDSSKnows"] = 42
    await client.save_deployment_settings("life-dep", settings, ignore_warnings=True)
    again = await client.get_deployment_settings("life-dep")
    assert again["tags"] == ["bench", "kept"] and again["notAFieldDSSKnows"] == 42

    future = await client.start_update("life-dep")
    assert future["jobId"]
    events = [event async for event in follow_future(client, future["jobId"], interval=0.05)]
    last = events[-1]
    assert last.done and last.error is None and not last.aborted, last
    lines = [line for event in events for line in event.new_lines]
    assert lines and not any("not kept by the server" in line for line in lines)

    heavy = await client.get_deployment_status("life-dep")
    assert readers.display_health(light, heavy) == "HEALTHY", heavy
    urls = readers.service_urls(light, heavy)
    assert urls == [f"{deployer.url('apinode')}/public/api/v1/life-svc"]
    endpoints = readers.endpoint_urls(light, heavy)
    assert [(e.endpoint_id, e.verb) for e in endpoints] == [("hello", "run")]

    tested = await client.run_test_queries("life-dep", "hello")
    assert tested["responses"][0]["response"]["response"] == {"hello": "test", "version": "v1"}
    ran = await client.run_queries("life-dep", [{"q": {"name": "tui"}}], endpoint_id="hello")
    assert ran["responses"][0]["response"]["response"] == {"hello": "tui", "version": "v1"}

    governance = await client.get_governance_status("life-dep")
    assert isinstance(governance.get("messages"), list)
    try:
        openapi = await client.get_open_api("life-dep")
        assert isinstance(openapi, dict) and openapi
    except DeployerError as err:  # 404 is the documented answer when no endpoint has documentation
        assert err.status == 404

    updates = await client.list_updates("life-dep")
    assert updates and updates[0]["status"] == "SUCCESS"
    last_update = await client.get_update("life-dep")
    same = await client.get_update("life-dep", updates[0]["startTimestamp"])
    assert last_update["startTimestamp"] == same["startTimestamp"] == updates[0]["startTimestamp"]
    assert same["logs"]["lines"] == lines  # the follower saw every line of the update once, in order
    assert isinstance(await client.list_futures(), list)

    async for dep_id, status in iter_heavy_statuses(client, ["life-dep", "no-such-dep"], concurrency=2):
        if dep_id == "life-dep":
            assert status["health"] == "HEALTHY"
        else:
            assert isinstance(status, DeployerError) and status.status == 404
    assert len(client._lanes) == 2  # one one-connection lane per worker

    settings = await client.get_deployment_settings("life-dep")
    settings["enabled"] = False
    await client.save_deployment_settings("life-dep", settings)
    await client.delete_deployment("life-dep")
    with pytest.raises(DeployerError) as info:
        await client.get_deployment("life-dep")
    assert info.value.status == 404


async def test_abort_a_hanging_update(client: DeployerClient, black_hole: str, work: Path, api_key: str) -> None:
    await static_infra(client, "hole-infra", [black_hole], api_key)
    await client.create_service("hole-svc")
    await client.import_version("hole-svc", make_package(work, "hole-svc", "v1"))
    await client.create_deployment("hole-dep", "hole-svc", "hole-infra", "v1")
    future = await client.start_update("hole-dep")
    events = []
    async for event in follow_future(client, future["jobId"], interval=0.05):
        events.append(event)
        if len(events) == 1:
            assert event.alive and not event.done
            await abort(client, future["jobId"])
    assert events[-1].done and events[-1].aborted


# ---------------------------------------------------------------------------------------------- errors


async def test_401_unknown_key(deployer: servers.Proc) -> None:
    async with DeployerClient(deployer.url("deployer"), "not-a-key") as bad:
        with pytest.raises(DeployerError) as info:
            await bad.list_deployments()
    assert info.value.status == 401 and "not-a-key" not in info.value.describe()


async def test_403_for_a_non_admin_key(deployer: servers.Proc, api_key: str) -> None:
    import dataikuapi

    def make_user_key() -> str:
        admin = dataikuapi.DSSClient(deployer.url("deployer"), api_key)
        admin.create_user("reader", "pw", groups=["readers"])
        return admin.create_personal_api_key_for_user("reader", as_type="dict")["key"]

    user_key = await asyncio.to_thread(make_user_key)
    async with DeployerClient(deployer.url("deployer"), user_key) as user:
        assert (await user.auth_info())["authIdentifier"] == "reader"
        with pytest.raises(DeployerError) as info:
            await user.create_infra("not-allowed", "Development")
    assert info.value.status == 403 and info.value.error_type


async def test_404_and_409(client: DeployerClient) -> None:
    with pytest.raises(DeployerError) as info:
        await client.get_deployment_status("does-not-exist")
    assert info.value.status == 404 and "does-not-exist" in info.value.message
    await client.create_service("dup-svc")
    with pytest.raises(DeployerError) as info:
        await client.create_service("dup-svc")
    assert info.value.status == 409
    with pytest.raises(DeployerError) as info:
        await client.get_future("no-such-job")
    assert info.value.status in (400, 404) and "No future" in info.value.message
    with pytest.raises(DeployerError) as info:
        await client.delete_version("dup-svc", "v404")
    assert info.value.status == 404


async def test_409_on_import_of_an_existing_version_and_on_a_second_update(
        client: DeployerClient, black_hole: str, work: Path, api_key: str) -> None:
    await client.create_service("twice-svc")
    package = make_package(work, "twice-svc", "v1")
    await client.import_version("twice-svc", package)
    with pytest.raises(DeployerError) as info:
        await client.import_version("twice-svc", package)
    assert info.value.status == 409 and "v1" in info.value.message
    await static_infra(client, "twice-infra", [black_hole], api_key)
    await client.create_deployment("twice-dep", "twice-svc", "twice-infra", "v1")
    first = await client.start_update("twice-dep")
    try:
        with pytest.raises(DeployerError) as info:
            await client.start_update("twice-dep")
        assert info.value.status == 409
    finally:
        await abort(client, first["jobId"])


async def test_connection_refused(api_key: str) -> None:
    async with DeployerClient(f"http://127.0.0.1:{free_port()}", api_key, retries=1, backoff=0.01) as c:
        with pytest.raises(ConnectionLost) as info:
            await c.list_deployments()
    assert info.value.status is None and "refused" in str(info.value)


async def test_deployer_killed_while_a_future_is_followed(tmp_path: Path, black_hole: str, work: Path) -> None:
    key = "victim-key"
    proc = servers.serve(tmp_path / "victim", key, apinodes=0)
    try:
        async with DeployerClient(proc.url("deployer"), key, retries=1, backoff=0.01) as victim:
            await static_infra(victim, "v-infra", [black_hole], key)
            await victim.create_service("v-svc")
            await victim.import_version("v-svc", make_package(work, "v-svc", "v1"))
            await victim.create_deployment("v-dep", "v-svc", "v-infra", "v1")
            future = await victim.start_update("v-dep")
            events = []
            async for event in follow_future(victim, future["jobId"], interval=0.05):
                events.append(event)
                if len(events) == 1:
                    assert event.alive
                    await asyncio.to_thread(proc.kill)
    finally:
        proc.stop()
    assert isinstance(events[-1].error, ConnectionLost) and not events[-1].done


class PeekRecorder:
    """The real client, with a note of every `get_future` call's `peek` (to prove nothing was claimed)."""

    def __init__(self, client: DeployerClient) -> None:
        self.client = client
        self.peeks: list[bool] = []

    async def get_future(self, job_id: str, peek: bool = True) -> dict:
        self.peeks.append(peek)
        return await self.client.get_future(job_id, peek=peek)


async def test_following_someone_elses_future_leaves_its_result_to_them(
        client: DeployerClient, deployer: servers.Proc, data_dir: Path, work: Path) -> None:
    await static_infra(client, "watch-infra", [deployer.url("apinode")], node_key(data_dir))
    await client.create_service("watch-svc")
    await client.import_version("watch-svc", make_package(work, "watch-svc", "v1"))
    await client.create_deployment("watch-dep", "watch-svc", "watch-infra", "v1")
    job = (await client.start_update("watch-dep"))["jobId"]
    spy = PeekRecorder(client)
    events = [event async for event in follow_future(spy, job, interval=0.05, claim=False)]
    last = events[-1]
    assert last.done and last.result is None and last.error is None
    assert spy.peeks and all(spy.peeks), "only peeks: the result is still the starter's to claim"
    lines = [line for event in events for line in event.new_lines]
    assert any("Update finished" in line for line in lines)
    claimed = await client.get_future(job, peek=False)  # what the starter's wait_for_result() does
    assert claimed["hasResult"] and claimed["result"]["nbOKNodes"] == 1
