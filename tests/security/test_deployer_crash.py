"""kill -9 of the deployer while a FULL rolling update waits with a node out of the load balancer: the next
start puts that node back, or, when it cannot be reached, the heavy status says it is out until an update
that reaches it puts it back."""

from __future__ import annotations

import httpx

from tests.deployer.conftest import wait_for
from tests.security.deployer_env import DEPLOYMENT, INFRA, start, update
from tests.servers import Proc
from tests.servers import start as start_process

WAIT_MS = 600_000  # the rolling wait: far longer than the test, so the kill always lands inside it


def _alive(node_url: str) -> bool:
    resp = httpx.get(f"{node_url}/isAlive", timeout=10)
    assert resp.status_code in (200, 503), resp.text
    return resp.status_code == 200


def _start_full_update_and_wait_for_the_node_to_be_out(http: httpx.Client) -> str:
    resp = http.post(f"/api-deployer/deployments/{DEPLOYMENT}/actions/update", json={"updateMode": "FULL"})
    assert resp.status_code == 200, resp.text
    job = resp.json()["jobId"]
    wait_for(lambda: any("set not alive; waiting" in line for line in
                         http.get(f"/futures/{job}", params={"peek": "true"}).json()["log"]["lines"]),
             what="the rolling update to take the node out")
    return job


def test_a_node_left_out_by_a_killed_rolling_update_is_put_back_at_restart(tmp_path):
    env = start(tmp_path, rolling_ms=WAIT_MS)
    try:
        with env.http() as http:
            _start_full_update_and_wait_for_the_node_to_be_out(http)
        assert not _alive(env.proc.url("apinode"))
        env.proc.kill()
    finally:
        env.proc.stop()

    env = start(tmp_path, fresh=False)  # same data dir: the node gets a new port, the infra follows it
    try:
        assert _alive(env.proc.url("apinode"))  # put back before the deployer announced itself
        with env.http() as http:
            last = http.get(f"/api-deployer/deployments/{DEPLOYMENT}/last-update").json()
            assert last["status"] == "FAILED"
            assert any("set alive again after the restart" in line for line in last["logs"]["lines"])
            assert update(http)["result"]["nbOKNodes"] == 1  # LIGHT
            status = http.get(f"/api-deployer/deployments/{DEPLOYMENT}/status").json()
            assert status["health"] == "HEALTHY", status
        assert _alive(env.proc.url("apinode"))
    finally:
        env.proc.stop()


def _standalone_node(root, port: int = 0) -> Proc:
    return start_process(["apinode", "--port", str(port), "--data-dir", str(root / "remote-node"),
                          "--admin-key", "remote-admin-key"], {"apinode": 1})


def test_a_node_left_out_and_unreachable_at_restart_is_reported_out(tmp_path):
    remote = _standalone_node(tmp_path)
    env = start(tmp_path, rolling_ms=WAIT_MS)
    try:
        with env.http() as http:
            settings = http.get(f"/api-deployer/infras/{INFRA}/settings").json()
            settings["apiNodes"] = [{"url": remote.url("apinode"), "adminAPIKey": "remote-admin-key"}]
            assert http.put(f"/api-deployer/infras/{INFRA}/settings", json=settings).status_code == 200
            assert update(http)["result"]["nbOKNodes"] == 1  # LIGHT: deployed, not rolling
            _start_full_update_and_wait_for_the_node_to_be_out(http)
        assert not _alive(remote.url("apinode"))
        env.proc.kill()
    finally:
        env.proc.stop()
    port = int(remote.url("apinode").rsplit(":", 1)[1])
    remote.stop()

    env = start(tmp_path, fresh=False)
    try:
        with env.http() as http:
            status = http.get(f"/api-deployer/deployments/{DEPLOYMENT}/status").json()
            assert status["health"] == "UNHEALTHY", status
            assert "Out of the load balancer" in status["apiNodes"][0]["error"], status
            remote = _standalone_node(tmp_path, port)  # back, still forced not alive
            assert not _alive(remote.url("apinode"))
            assert update(http)["result"]["nbOKNodes"] == 1  # an update that reaches it puts it back
            assert _alive(remote.url("apinode"))
            status = http.get(f"/api-deployer/deployments/{DEPLOYMENT}/status").json()
            assert status["health"] == "HEALTHY", status
    finally:
        env.proc.stop()
        remote.stop()


