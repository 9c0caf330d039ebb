"""The official client against the local deployer, plain and --dss-strict alike: an update to its result,
statuses, history; and what strict mode withholds, seen on the wire."""

from __future__ import annotations

import httpx
import pytest
from dataikuapi.utils import DataikuException

from tests.deployer.conftest import ADMIN_KEY, BlackHole
from tests.strict.conftest import Env


def raw(env: Env, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{env.url}/public/api{path}", params=params, auth=(ADMIN_KEY, ""), timeout=30)


def test_update_and_statuses_with_the_official_client(either_env: Env) -> None:
    dep = either_env.deployment("echo-on-live", "live")
    assert dep.get_status().get_light()["neverEverDeployed"] is True
    future = dep.start_update()
    result = future.wait_for_result()
    assert result["maxSeverity"] == "SUCCESS" and result["messages"]
    assert future.get_result() == result  # the client's cached claim: no second GET needed
    status = dep.get_status()
    assert status.get_health() == "HEALTHY"
    assert status.get_light()["neverEverDeployed"] is False
    assert status.get_service_urls() == [f"{either_env.node_url}/public/api/v1/echo"]
    updates = dep.list_updates()
    assert [u.status for u in updates] == ["SUCCESS"]
    assert dep.get_update(updates[0].start_time).get_raw()["status"] == "SUCCESS"
    if either_env.strict:
        assert "nbOKNodes" not in result and "error" not in result and "fatal" not in result
        assert status.get_heavy()["apiNodes"] == [{"url": either_env.node_url}]
        assert "version" not in status.get_heavy()
    else:
        assert result["nbOKNodes"] == 1 and result["nbNOKNodes"] == 0
        assert status.get_heavy()["apiNodes"][0]["health"] == "HEALTHY"


def test_strict_futures_are_forgotten_once_claimed(strict_env: Env) -> None:
    dep = strict_env.deployment("forget-on-live", "live")
    future = dep.start_update()
    future.wait_for_result()
    with pytest.raises(DataikuException, match="No future by that id"):
        future.get_state()  # a second claim, as on DSS


def test_strict_peeks_carry_no_log_and_no_targets(strict_env: Env, black_hole: BlackHole) -> None:
    strict_env.infra("hanging", [black_hole.url])
    dep = strict_env.deployment("peek-on-hanging", "hanging")
    future = dep.start_update()
    try:
        peek = raw(strict_env, f"/futures/{future.job_id}", peek="True").json()
        assert peek["alive"] is True and "log" not in peek
        assert "targets" not in (peek.get("payload") or {})
        listed = raw(strict_env, "/futures/", allUsers="True").json()
        assert [f["jobId"] for f in listed] == [future.job_id]
        assert all("log" not in f and "targets" not in (f.get("payload") or {}) for f in listed)
        claim = raw(strict_env, f"/futures/{future.job_id}", peek="False").json()
        assert claim["alive"] is True and "log" in claim  # claims of a running job keep it, as DSS's do
        assert not any("[http" in line for line in claim["log"]["lines"])
        # Busy: DSS's error mapping has no 409.
        busy = httpx.post(f"{strict_env.url}/public/api/api-deployer/deployments/peek-on-hanging/actions/update",
                          auth=(ADMIN_KEY, ""), timeout=30)
        assert busy.status_code == 500 and busy.json()["errorType"].endswith("DKUException")
        assert "already running" in busy.json()["message"]
    finally:
        future.abort()


def test_strict_has_no_last_update_route(strict_env: Env) -> None:
    dep = strict_env.deployment("history-on-live", "live")
    dep.start_update().wait_for_result()
    answer = raw(strict_env, "/api-deployer/deployments/history-on-live/last-update")
    assert answer.status_code == 404 and answer.json()["errorType"].endswith("NotFoundException")
    listed = raw(strict_env, "/api-deployer/deployments/history-on-live/update").json()
    assert [sorted(item) for item in listed] == [["startTimestamp", "status", "type"]]
    record = raw(strict_env, f"/api-deployer/deployments/history-on-live/update/{listed[0]['startTimestamp']}").json()
    assert record["status"] == "SUCCESS"
    assert record["logs"]["lines"] and not any("] [http" in line for line in record["logs"]["lines"])
    assert any(f"API node {strict_env.node_url}:" in line for line in record["logs"]["lines"])
    assert "nbOKNodes" not in record["result"]


def test_strict_downloads_stream_and_conflicts_are_500(strict_env: Env, tmp_path) -> None:
    service = strict_env.deployer.get_service("echo")
    target = tmp_path / "v1.zip"
    service.download_version_to_file("v1", str(target))
    assert target.read_bytes()[:2] == b"PK"
    duplicate = httpx.post(f"{strict_env.url}/public/api/api-deployer/services", json={"publishedServiceId": "echo"},
                           auth=(ADMIN_KEY, ""), timeout=30)
    assert duplicate.status_code == 500 and "already exists" in duplicate.json()["message"]
    with pytest.raises(DataikuException, match="already exists"):
        strict_env.deployer.create_service("echo")
