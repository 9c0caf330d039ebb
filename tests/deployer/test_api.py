"""Every method of the official client's API Deployer classes against `deployer-tui serve` with two
real local API nodes."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import dataikuapi
import pytest
from dataikuapi.utils import DataikuException

from tests.deployer.conftest import ADMIN_KEY, client, make_package, wait_for
from tests.servers import serve


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("api")
    proc = serve(root / "data", ADMIN_KEY, apinodes=2)
    try:
        yield proc, root
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def deployer(env):
    return client(env[0].url()).get_apideployer()


@pytest.fixture(scope="module")
def static_infra(env, deployer):
    """A STATIC infra with both local nodes, added with the client's own helper."""
    proc, root = env
    infra = deployer.create_infra("dev-static", "Development", "STATIC")
    settings = infra.get_settings()
    keys = [(root / "data" / "apinodes" / f"node-{i}.admin-key").read_text().strip() for i in (1, 2)]
    for url, key in zip(proc.urls["apinode"], keys, strict=True):
        settings.add_apinode(url, key)
    settings.save()
    return infra


def test_stages_and_infras(env, deployer, static_infra):
    assert [s["id"] for s in deployer.list_stages()] == ["Development", "Test", "Production"]
    assert static_infra.id == "dev-static"
    settings = static_infra.get_settings()
    assert settings.get_type() == "STATIC"
    assert [n["url"] for n in settings.get_raw()["apiNodes"]] == env[0].urls["apinode"]
    # Unknown keys round-trip through PUT.
    settings.get_raw()["myOwnKey"] = {"nested": [1, 2]}
    settings.save()
    assert static_infra.get_settings().get_raw()["myOwnKey"] == {"nested": [1, 2]}
    status = static_infra.get_status()
    assert status.get_raw()["infraBasicInfo"]["apiNodeUrls"] == env[0].urls["apinode"]
    assert status.get_raw()["isAdmin"] is True and status.get_deployments() == []
    listed = deployer.list_infras()
    assert [i.id for i in listed] == ["dev-static"]
    raw = deployer.list_infras(as_objects=False)
    assert raw[0]["infraBasicInfo"]["type"] == "STATIC"
    # remove_apinode, then put it back
    settings = static_infra.get_settings()
    settings.remove_apinode(env[0].urls["apinode"][1])
    settings.save()
    assert len(static_infra.get_settings().get_raw()["apiNodes"]) == 1
    settings = static_infra.get_settings()
    key2 = (env[1] / "data" / "apinodes" / "node-2.admin-key").read_text().strip()
    settings.add_apinode(env[0].urls["apinode"][1], key2)
    settings.save()
    assert deployer.get_infra("dev-static").get_status().get_raw()["infraBasicInfo"]["apiNodeUrls"] == \
        env[0].urls["apinode"]


def test_services_and_versions(env, deployer, tmp_path: Path):
    _, root = env
    service = deployer.create_service("catalog")
    assert service.id == "catalog"
    for version in ("v1", "v2"):
        with open(make_package(root, version), "rb") as fh:
            service.import_version(fh)
    status = service.get_status()
    assert [v["id"] for v in status.get_versions()] == ["v2", "v1"]  # newest first
    assert status.get_versions()[0]["endpoints"] == [{"id": "echo", "type": "PY_FUNCTION"}]
    assert status.get_deployments() == []
    settings = service.get_settings()
    assert settings.get_raw()["owner"] == "admin"
    settings.get_raw()["permissions"] = [{"group": "data_team", "read": True, "write": False,
                                          "deploy": True, "admin": False}]
    settings.get_raw()["extra"] = "kept"
    settings.save()
    raw = deployer.get_service("catalog").get_settings().get_raw()
    assert raw["permissions"][0]["group"] == "data_team" and raw["extra"] == "kept"
    # Download: same bytes as the package holds.
    target = tmp_path / "v1.zip"
    service.download_version_to_file("v1", str(target))
    with zipfile.ZipFile(target) as zf:
        assert json.loads(zf.read("tag.json"))["generationId"] == "v1"
    stream = service.get_version_stream("v2")
    with zipfile.ZipFile(io.BytesIO(stream.content)) as zf:
        assert "endpoint-echo/code.py" in zf.namelist()
    # Delete a version, then the whole service.
    service.delete_version("v2")
    assert [v["id"] for v in service.get_status().get_versions()] == ["v1"]
    assert [s.id for s in deployer.list_services()] == ["catalog"]
    assert deployer.list_services(as_objects=False)[0]["serviceBasicInfo"]["id"] == "catalog"
    service.delete()
    assert deployer.list_services() == []


def test_deployment_lifecycle(env, deployer, static_infra):
    proc, root = env
    service = deployer.create_service("echo")
    for version in ("v1", "v2"):
        with open(make_package(root, version, public=False), "rb") as fh:
            service.import_version(fh)
    dep = deployer.create_deployment("echo-on-dev", "echo", "dev-static", "v1")
    assert dep.id == "echo-on-dev"
    assert [d.id for d in deployer.list_deployments()] == ["echo-on-dev"]
    assert deployer.list_deployments(as_objects=False)[0]["deploymentBasicInfo"]["infraId"] == "dev-static"
    assert [d.id for d in service.get_status().get_deployments("dev-static")] == ["echo-on-dev"]
    assert service.get_status().get_deployments("elsewhere") == []
    assert [d.id for d in static_infra.get_status().get_deployments()] == ["echo-on-dev"]

    status = dep.get_status()
    assert status.get_light()["neverEverDeployed"] is True
    assert status.get_health() == "UNKNOWN"
    assert status.get_health_messages()["maxSeverity"] == "WARNING"
    with pytest.raises(DataikuException, match="never deployed"):
        dep.get_open_api()

    result = dep.start_update().wait_for_result()
    assert result["nbOKNodes"] == 2 and result["nbNOKNodes"] == 0
    status = dep.get_status()
    assert status.get_health() == "HEALTHY", status.get_heavy()
    assert status.get_light()["neverEverDeployed"] is False
    urls = status.get_service_urls()
    assert urls == [f"{u}/public/api/v1/echo" for u in proc.urls["apinode"]]
    assert [n["health"] for n in status.get_heavy()["apiNodes"]] == ["HEALTHY", "HEALTHY"]

    # The endpoints really answer on both nodes, with the package's query key.
    for url in proc.urls["apinode"]:
        answer = dataikuapi.APINodeClient(url, "echo", api_key="query-key-1").run_function("echo", a=1)
        assert answer["response"] == {"version": "v1", "args": {"a": 1}}

    tests = dep.run_test_queries()
    assert [r["response"]["response"]["args"] for r in tests["responses"]] == [{"x": 1}, {"x": 2}]
    tests = dep.run_test_queries(endpoint_id="echo", test_queries=[{"q": {"y": 3}}])
    assert tests["responses"][0]["response"]["response"] == {"version": "v1", "args": {"y": 3}}
    queries = dep.run_queries([{"q": {"z": 4}}], endpoint_id="echo")
    assert queries["responses"][0]["response"]["response"]["args"] == {"z": 4}

    openapi = dep.get_open_api()
    doc = openapi.get()
    assert doc["swagger"] == "2.0" and "/echo/run" in doc["paths"]
    assert json.loads(openapi.get_raw()) == doc

    assert dep.get_governance_status()["anyMessage"] is False

    # Settings: switch to v2 -> OUT_OF_SYNC until updated.
    settings = dep.get_settings()
    settings.set_single_version("v2")
    settings.get_raw()["tags"] = ["blue"]
    settings.save()
    assert dep.get_settings().get_raw()["generationsMapping"] == {"mode": "SINGLE_GENERATION", "generation": "v2"}
    assert dep.get_status().get_health() == "OUT_OF_SYNC"
    future = dep.start_update()
    assert future.wait_for_result()["nbOKNodes"] == 2
    assert dep.get_status().get_health() == "HEALTHY"
    answer = dataikuapi.APINodeClient(proc.urls["apinode"][0], "echo", api_key="query-key-1").run_function("echo")
    assert answer["response"]["version"] == "v2"

    # Multi-version mapping, as a raw edit of the settings document.
    settings = dep.get_settings()
    settings.get_raw()["generationsMapping"] = {"mode": "MULTI_GENERATION", "strategy": "HASH_BASED",
                                               "entries": [{"generation": "v1", "proba": 0.5},
                                                           {"generation": "v2", "proba": 0.5}]}
    settings.save()
    assert dep.start_update().wait_for_result()["nbNOKNodes"] == 0
    heavy = dep.get_status().get_heavy()
    assert heavy["health"] == "HEALTHY"
    assert sorted(e["generation"] for e in heavy["apiNodes"][0]["activeMapping"]["entries"]) == ["v1", "v2"]

    # History: three updates, newest first, with logs naming each node.
    updates = dep.list_updates()
    assert [u.status for u in updates] == ["SUCCESS"] * 3 and {u.type for u in updates} == {"UPDATE"}
    assert updates[0].start_time > updates[1].start_time > updates[2].start_time
    full = updates[2].get_full_update()
    assert full.status == "SUCCESS" and full.requester == "admin" and full.end_time >= full.start_time
    assert any(proc.urls["apinode"][1] in line and "imported version v1" in line for line in full.logs)
    assert updates[0].get_raw()["startTimestamp"] == dep.get_update().start_time
    assert dep.get_update(updates[1].start_time).get_raw()["startTimestamp"] == updates[1].start_time

    # Deleting: refused while enabled, then delete(disable_first=True).
    with pytest.raises(Exception, match="disabled first"):
        dep.delete()
    dep.delete(disable_first=True)
    assert deployer.list_deployments() == []
    service.delete_version("v1")  # no longer in use
    service.delete()


def test_disable_is_deployed_and_healthy(env, deployer, static_infra):
    _, root = env
    service = deployer.create_service("toggle")
    with open(make_package(root, "v1"), "rb") as fh:
        service.import_version(fh)
    dep = deployer.create_deployment("toggle-on-dev", "toggle", "dev-static", "v1")
    dep.start_update().wait_for_result()
    settings = dep.get_settings()
    settings.set_enabled(False)
    settings.get_raw()["notADSSKey"] = {"mine": [1]}
    settings.save()
    assert dep.get_settings().get_raw()["notADSSKey"] == {"mine": [1]}  # unknown keys round-trip
    assert dep.get_status().get_health() == "OUT_OF_SYNC"
    result = dep.start_update().wait_for_result()
    assert result["nbOKNodes"] == 2
    heavy = dep.get_status().get_heavy()
    assert heavy["health"] == "HEALTHY" and [n["enabled"] for n in heavy["apiNodes"]] == [False, False]
    dep.delete()
    service.delete()


def test_abort_update(env, deployer, static_infra, black_hole):
    _, root = env
    service = deployer.create_service("slow")
    with open(make_package(root, "v1"), "rb") as fh:
        service.import_version(fh)
    infra = deployer.create_infra("hanging", "Test", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(black_hole.url, "whatever")
    settings.save()
    dep = deployer.create_deployment("slow-on-hanging", "slow", "hanging", "v1")
    future = dep.start_update()
    state = wait_for(lambda: (lambda st: st if st["log"]["lines"] else None)(future.peek_state()),
                     what="the update's first log line")
    assert state["alive"] is True and state["hasResult"] is False
    assert state["progress"]["states"][0]["name"] == "Updating API nodes"
    assert state["progress"]["states"][0]["target"] == 1
    assert any("Updating deployment slow-on-hanging" in line for line in state["log"]["lines"])
    future.abort()
    state = future.get_state()
    assert state["aborted"] is True and state["hasResult"] is False
    update = dep.get_update()
    assert update.status == "ABORTED"
    assert any("aborted" in line for line in update.logs)
    settings = dep.get_settings()
    settings.set_enabled(False)
    settings.save()
    dep.delete()
    infra.delete()
    service.delete()


def test_other_infra_types(env, deployer):
    _, root = env
    infra = deployer.create_infra("k8s", "Production", "K8S", govern_check_policy="WARN")
    settings = infra.get_settings()
    assert settings.get_type() == "K8S"
    settings.get_raw()["k8sNamespace"] = "ml"
    settings.save()
    assert infra.get_settings().get_raw()["k8sNamespace"] == "ml"
    service = deployer.create_service("k8s-svc")
    with open(make_package(root, "v1"), "rb") as fh:
        service.import_version(fh)
    with pytest.raises(DataikuException, match="ignoreWarnings"):
        deployer.create_deployment("k8s-dep", "k8s-svc", "k8s", "v1")
    dep = deployer.create_deployment("k8s-dep", "k8s-svc", "k8s", "v1", ignore_warnings=True)
    assert dep.get_governance_status()["maxSeverity"] == "WARNING"
    with pytest.raises(DataikuException, match="infra type K8S"):
        dep.start_update().wait_for_result()
    assert dep.get_update().status == "FAILED"
    assert dep.get_status().get_health() == "UNKNOWN"
    assert dep.get_status().get_service_urls() == []
    dep.delete(disable_first=True)
    infra.delete()
    service.delete()


def test_auth_info(env):
    info = client(env[0].url()).get_auth_info()
    assert info["authIdentifier"] == "admin" and info["groups"] == ["administrators"]
