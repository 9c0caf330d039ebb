"""kill -9 during an update: after a restart that update is FAILED with a log line saying why, and
every acknowledged document is intact. One node of the infra never answers, which holds the update
RUNNING deterministically while the real node is already done."""

from __future__ import annotations

import httpx

from tests.deployer.conftest import ADMIN_KEY, client, make_package, wait_for
from tests.servers import serve


def snapshot(url: str) -> dict:
    """Every document the API exposes, in full."""
    with httpx.Client(base_url=url + "/public/api", auth=(ADMIN_KEY, ""), timeout=30) as http:
        out: dict = {}
        for infra in http.get("/api-deployer/infras").json():
            iid = infra["infraBasicInfo"]["id"]
            out[f"infra/{iid}"] = http.get(f"/api-deployer/infras/{iid}/settings").json()
        for service in http.get("/api-deployer/services").json():
            sid = service["serviceBasicInfo"]["id"]
            out[f"service/{sid}"] = http.get(f"/api-deployer/services/{sid}/settings").json()
            out[f"packages/{sid}"] = service["packages"]
            for package in service["packages"]:
                out[f"zip/{sid}/{package['id']}"] = http.get(f"/api-deployer/services/{sid}/versions/{package['id']}").content
        for dep in http.get("/api-deployer/deployments").json():
            did = dep["deploymentBasicInfo"]["id"]
            out[f"deployment/{did}"] = http.get(f"/api-deployer/deployments/{did}/settings").json()
        return out


def without_node_urls(docs: dict) -> dict:
    """Local nodes get new ports on restart; everything else must be identical."""
    out = dict(docs)
    for key, doc in docs.items():
        if key.startswith("infra/"):
            out[key] = {**doc, "apiNodes": [{k: v for k, v in n.items() if k not in ("url", "adminAPIKey")}
                                            if n.get("localNode") else n for n in doc.get("apiNodes", [])]}
    return out


def test_kill_during_update_then_restart(tmp_path, black_hole):
    data = tmp_path / "data"
    proc = serve(data, ADMIN_KEY, apinodes=1)
    try:
        deployer = client(proc.url()).get_apideployer()
        infra = deployer.create_infra("mixed", "Development", "STATIC")
        settings = infra.get_settings()
        node_key = (data / "apinodes" / "node-1.admin-key").read_text().strip()
        settings.get_raw()["apiNodes"] = [
            {"url": proc.url("apinode"), "adminAPIKey": node_key, "localNode": 1},
            {"url": black_hole.url, "adminAPIKey": "never-checked"},
        ]
        settings.get_raw()["healthSettings"] = {"maxFailing": 1}
        settings.save()
        service = deployer.create_service("svc")
        for version in ("v1", "v2"):
            with open(make_package(tmp_path, version), "rb") as fh:
                service.import_version(fh)
        dep = deployer.create_deployment("svc-on-mixed", "svc", "mixed", "v1")
        future = dep.start_update()
        # Observable as running: the real node is done, the hanging one holds the update open.
        wait_for(lambda: any("node is up to date" in line for line in future.peek_state()["log"]["lines"]),
                 what="the real node to be updated")
        assert future.peek_state()["alive"] is True
        assert [u.status for u in dep.list_updates()] == ["RUNNING"]
        before = snapshot(proc.url())
        proc.kill()
    finally:
        proc.stop()

    proc = serve(data, ADMIN_KEY, apinodes=1)
    try:
        deployer = client(proc.url()).get_apideployer()
        dep = deployer.get_deployment("svc-on-mixed")
        update = dep.get_update()
        assert update.status == "FAILED"
        assert any("restarted while this update was running" in line for line in update.logs)
        assert any("node is up to date" in line for line in update.logs)  # what was logged before the kill
        assert update.end_time is not None
        after = snapshot(proc.url())
        assert without_node_urls(after) == without_node_urls(before)
        # The local node entry follows the node to its new port.
        assert after["infra/mixed"]["apiNodes"][0]["url"] == proc.url("apinode")
        resp = httpx.get(f"{proc.url()}/public/api/futures/{future.job_id}", auth=(ADMIN_KEY, ""), timeout=30)
        assert resp.status_code == 400 and resp.json()["message"] == "No future by that id"
        # An update on the reachable node alone works after the restart.
        settings = deployer.get_infra("mixed").get_settings()
        settings.get_raw()["apiNodes"] = settings.get_raw()["apiNodes"][:1]
        settings.save()
        assert dep.start_update().wait_for_result()["nbOKNodes"] == 1
        assert dep.get_status().get_health() == "HEALTHY"
    finally:
        proc.stop()


def test_clean_stop_during_update_records_it_aborted(tmp_path, black_hole):
    data = tmp_path / "data"
    proc = serve(data, ADMIN_KEY, apinodes=0)
    try:
        deployer = client(proc.url()).get_apideployer()
        infra = deployer.create_infra("hanging", "Test", "STATIC")
        settings = infra.get_settings()
        settings.add_apinode(black_hole.url, "any")
        settings.save()
        service = deployer.create_service("svc")
        with open(make_package(tmp_path, "v1"), "rb") as fh:
            service.import_version(fh)
        dep = deployer.create_deployment("svc-on-hanging", "svc", "hanging", "v1")
        dep.start_update()
        wait_for(lambda: black_hole.accepted > 0, what="the update to reach the node")
        assert proc.stop() == 0  # SIGTERM: stops promptly although a node never answers
    finally:
        proc.stop()
    proc = serve(data, ADMIN_KEY, apinodes=0)
    try:
        update = client(proc.url()).get_apideployer().get_deployment("svc-on-hanging").get_update()
        assert update.status == "ABORTED"
        assert "aborted because the deployer stopped" in update.logs[-1]
    finally:
        proc.stop()
