"""Health rules of the heavy status (docs/deployer.md) with a real node, a dead node and a node
changed behind the deployer's back; and the update endpoint's own refusals."""

from __future__ import annotations

import socket

import dataikuapi
import httpx
import pytest

from tests.deployer.conftest import ADMIN_KEY, client, make_package, serve_with_node, wait_for


def dead_url() -> str:
    """A loopback port nobody listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("health")
    proc, deployer, node_key = serve_with_node(root)
    service = deployer.create_service("svc")
    for version in ("v1", "v2"):
        with open(make_package(root, version), "rb") as fh:
            service.import_version(fh)
    try:
        yield proc, deployer, node_key
    finally:
        proc.stop()


def test_failing_nodes_against_max_failing(env):
    proc, deployer, node_key = env
    infra = deployer.create_infra("half-dead", "Development", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(proc.url("apinode"), node_key)
    settings.add_apinode(dead_url(), "any")
    settings.save()
    dep = deployer.create_deployment("svc-on-half-dead", "svc", "half-dead", "v1")
    result = dep.start_update().wait_for_result()
    assert (result["nbOKNodes"], result["nbNOKNodes"]) == (1, 1)
    assert result["maxSeverity"] == "ERROR" and "cannot connect" in result["messages"][0]["message"]
    assert dep.get_update().status == "WARNING"
    heavy = dep.get_status().get_heavy()
    assert heavy["health"] == "UNHEALTHY"
    assert [n["health"] for n in heavy["apiNodes"]] == ["HEALTHY", "ERROR"]
    assert "cannot connect" in heavy["apiNodes"][1]["error"]

    settings = infra.get_settings()
    settings.get_raw()["healthSettings"] = {"maxFailing": 1}
    settings.save()
    assert dep.get_status().get_health() == "WARNING"

    dep_settings = dep.get_settings()
    dep_settings.get_raw()["overrideSettings"]["healthSettings"] = True
    dep_settings.get_raw()["healthSettings"] = {"maxFailing": 0}
    dep_settings.save()
    assert dep.get_status().get_health() == "UNHEALTHY"

    settings = infra.get_settings()
    settings.get_raw()["apiNodes"] = settings.get_raw()["apiNodes"][:1]
    settings.save()
    assert dep.get_status().get_health() == "HEALTHY"
    dep.delete(disable_first=True)
    infra.delete()


def test_node_changed_behind_the_deployers_back(env):
    proc, deployer, node_key = env
    infra = deployer.create_infra("solo", "Development", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(proc.url("apinode"), node_key)
    settings.save()
    dep = deployer.create_deployment("svc-on-solo", "svc", "solo", "v2")
    settings = dep.get_settings()
    settings.get_raw()["deployedServiceId"] = "svc-solo"
    settings.save()
    dep.start_update().wait_for_result()
    assert dep.get_status().get_service_urls() == [f"{proc.url('apinode')}/public/api/v1/svc-solo"]
    dataikuapi.APINodeAdminClient(proc.url("apinode"), node_key).service("svc-solo").disable()

    def unhealthy():
        heavy = dep.get_status().get_heavy()
        return heavy if heavy["health"] == "UNHEALTHY" else None

    heavy = wait_for(unhealthy, timeout=30, what="the cached node state to expire")
    assert heavy["apiNodes"][0]["health"] == "OUT_OF_SYNC"
    assert "disabled" in heavy["apiNodes"][0]["error"]
    dep.start_update().wait_for_result()
    assert dep.get_status().get_health() == "HEALTHY"
    dep.delete(disable_first=True)
    infra.delete()


def test_update_refusals_and_synchronous_mode(env, black_hole):
    proc, deployer, node_key = env
    infra = deployer.create_infra("slow", "Test", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(black_hole.url, "any")
    settings.save()
    dep = deployer.create_deployment("svc-on-slow", "svc", "slow", "v1")
    base = f"{proc.url()}/dip/publicapi/api-deployer/deployments/svc-on-slow/actions/update"
    auth = (ADMIN_KEY, "")
    resp = httpx.post(base, auth=auth, json={"updateMode": "SIDEWAYS"}, timeout=30)
    assert resp.status_code == 400 and "LIGHT or FULL" in resp.json()["message"]
    future = dep.start_update()
    resp = httpx.post(base, auth=auth, timeout=30)
    assert resp.status_code == 409 and future.job_id in resp.json()["message"]
    resp = httpx.delete(f"{proc.url()}/public/api/api-deployer/deployments/svc-on-slow", auth=auth, timeout=30)
    assert resp.status_code == 400  # enabled
    future.abort()
    assert dep.get_update().status == "ABORTED"
    # FULL mode, synchronous: the answer is the finished future with its result.
    settings = infra.get_settings()
    settings.get_raw()["apiNodes"] = [{"url": proc.url("apinode"), "adminAPIKey": node_key}]
    settings.save()
    resp = httpx.post(base, auth=auth, json={"updateMode": "FULL", "synchronous": True}, timeout=60)
    body = resp.json()
    assert resp.status_code == 200 and body["hasResult"] is True and body["result"]["nbOKNodes"] == 1
    assert any("reset endpoint settings" in line for line in dep.get_update().logs)
    assert [u.status for u in dep.list_updates()] == ["SUCCESS", "ABORTED"]
    dep.delete(disable_first=True)
    infra.delete()


def test_concurrent_updates_sharing_a_service_on_the_nodes(env):
    """Two deployments of one service on one infra, updated at once: both import the same version."""
    proc, deployer, node_key = env
    infra = deployer.create_infra("shared-nodes", "Development", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(proc.url("apinode"), node_key)
    settings.save()
    deps = []
    for name in ("a", "b", "c"):
        dep = deployer.create_deployment(f"svc-{name}", "svc", "shared-nodes", "v1")
        settings = dep.get_settings()
        settings.get_raw()["deployedServiceId"] = "svc-shared"
        settings.save()
        deps.append(dep)
    futures = [dep.start_update() for dep in deps]
    results = [f.wait_for_result() for f in futures]
    assert [r["nbOKNodes"] for r in results] == [1, 1, 1], results
    assert {dep.get_status().get_health() for dep in deps} == {"HEALTHY"}
    for dep in deps:
        dep.delete(disable_first=True)
    infra.delete()


def test_node_refusals_reach_the_update_result(env, tmp_path):
    """A wrong node key and a version type the local node cannot serve fail the node, saying why."""
    proc, deployer, node_key = env
    infra = deployer.create_infra("picky", "Test", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(proc.url("apinode"), "wrong-key")
    settings.save()
    dep = deployer.create_deployment("svc-on-picky", "svc", "picky", "v1")
    result = dep.start_update().wait_for_result()
    assert result["nbNOKNodes"] == 1 and "HTTP 401" in result["messages"][0]["message"]
    assert dep.get_update().status == "FAILED" and dep.get_status().get_health() == "UNKNOWN"

    std = make_package(tmp_path, "v1", endpoint="scorer", config={
        "publicAccess": True, "endpoints": [{"id": "scorer", "type": "STD_PREDICTION", "modelId": "m1"}]})
    visual = deployer.create_service("visual")
    with open(std, "rb") as fh:
        visual.import_version(fh)  # the deployer stores any DSS endpoint type
    settings = infra.get_settings()
    settings.get_raw()["apiNodes"][0]["adminAPIKey"] = node_key
    settings.save()
    dep2 = deployer.create_deployment("visual-on-picky", "visual", "picky", "v1")
    result = dep2.start_update().wait_for_result()
    assert result["nbNOKNodes"] == 1 and "STD_PREDICTION" in result["messages"][0]["message"]
    for d in (dep, dep2):
        d.delete(disable_first=True)
    visual.delete()
    infra.delete()


def test_rolling_full_update_takes_nodes_out_of_the_load_balancer(env):
    proc, deployer, node_key = env
    infra = deployer.create_infra("rolling", "Production", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(proc.url("apinode"), node_key)
    settings.get_raw()["rollingUpdateSettings"] = {"waitLoadBalancerTimeout": True, "loadBalancerTimeoutMS": 2500}
    settings.save()
    dep = deployer.create_deployment("svc-rolling", "svc", "rolling", "v2")
    auth = (ADMIN_KEY, "")
    start = httpx.post(f"{proc.url()}/public/api/api-deployer/deployments/svc-rolling/actions/update",
                       auth=auth, json={"updateMode": "FULL"}, timeout=30).json()
    # While the node is switched it reports not alive, so a load balancer stops sending it queries.
    wait_for(lambda: httpx.get(f"{proc.url('apinode')}/isAlive", timeout=5).status_code == 503,
             what="the node to be set not alive")
    future = dataikuapi.dss.future.DSSFuture(client(proc.url()), start["jobId"], start)
    assert future.wait_for_result()["nbOKNodes"] == 1
    assert httpx.get(f"{proc.url('apinode')}/isAlive", timeout=5).status_code == 200
    logs = dep.get_update().logs
    assert any("set not alive; waiting 2500 ms" in line for line in logs)
    assert any(line.endswith("set alive") for line in logs)
    # LIGHT mode (the client's default) does not roll.
    dep.start_update().wait_for_result()
    assert not any("not alive" in line for line in dep.get_update().logs)
    dep.delete(disable_first=True)
    infra.delete()
