"""Statuses are memoised until the next write (Store.memo): every write must show in the very next
light status, list and heavy status, with no waiting — updates, settings saves, infra changes,
version imports, permissions, deletions — while what the nodes say is still asked of the nodes."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import dataikuapi
import httpx
import pytest
from dataikuapi.utils import DataikuException

from deployer_tui.server.deployer.database import Store
from deployer_tui.server.deployer.health import Basis, tail
from deployer_tui.server.http import json_bytes
from tests.deployer.conftest import ADMIN_KEY, client, make_package, wait_for
from tests.servers import serve


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("freshness")
    proc = serve(root / "data", ADMIN_KEY, apinodes=1)
    node_key = (root / "data" / "apinodes" / "node-1.admin-key").read_text().strip()
    admin = client(proc.url())
    deployer = admin.get_apideployer()
    infra = deployer.create_infra("fresh-infra", "Development", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(proc.url("apinode"), node_key)
    settings.save()
    service = deployer.create_service("fresh")
    for version in ("v1", "v2"):
        with open(make_package(root, version), "rb") as fh:
            service.import_version(fh)
    try:
        yield proc, root, admin, node_key
    finally:
        proc.stop()


def light(deployer: dataikuapi.dss.apideployer.DSSAPIDeployer, dep_id: str) -> dict:
    return deployer.get_deployment(dep_id).get_status().get_light()


def listed(deployer: dataikuapi.dss.apideployer.DSSAPIDeployer) -> dict[str, dict]:
    return {d["deploymentBasicInfo"]["id"]: d for d in deployer.list_deployments(as_objects=False)}


def test_every_write_shows_in_the_next_statuses(env):
    proc, root, admin, _node_key = env
    deployer = admin.get_apideployer()
    dep = deployer.create_deployment("fresh-1", "fresh", "fresh-infra", "v1")
    status = dep.get_status()
    assert status.get_health() == "UNKNOWN" and status.get_light()["neverEverDeployed"] is True
    assert listed(deployer)["fresh-1"]["neverEverDeployed"] is True

    dep.start_update().wait_for_result()
    status = dep.get_status()
    assert status.get_health() == "HEALTHY" and status.get_light()["neverEverDeployed"] is False
    assert status.get_heavy()["version"] == "v1"
    assert listed(deployer)["fresh-1"]["neverEverDeployed"] is False

    # A settings save: the saved mapping shows at once, and the heavy status is OUT_OF_SYNC at once.
    settings = dep.get_settings()
    settings.set_single_version("v2")
    settings.get_raw()["tags"] = ["after-save"]
    settings.save()
    status = dep.get_status()
    assert status.get_health() == "OUT_OF_SYNC"
    assert status.get_heavy()["version"] == "v1"  # still serving what was deployed
    assert status.get_light()["deploymentBasicInfo"]["tags"] == ["after-save"]
    assert listed(deployer)["fresh-1"]["deploymentBasicInfo"]["generationsMapping"]["generation"] == "v2"

    dep.start_update().wait_for_result()
    heavy = dep.get_status().get_heavy()
    assert (heavy["health"], heavy["version"]) == ("HEALTHY", "v2")

    # Infra settings: a new health rule and a new node list show in the next statuses.
    infra_settings = deployer.get_infra("fresh-infra").get_settings()
    infra_settings.get_raw()["apiNodes"].append({"url": "http://127.0.0.1:9", "adminAPIKey": "k"})
    infra_settings.get_raw()["healthSettings"] = {"maxFailing": 1}
    infra_settings.save()
    assert light(deployer, "fresh-1")["infraBasicInfo"]["apiNodeUrls"][-1] == "http://127.0.0.1:9"
    assert listed(deployer)["fresh-1"]["infraBasicInfo"]["apiNodeUrls"][-1] == "http://127.0.0.1:9"
    heavy = dep.get_status().get_heavy()
    assert heavy["health"] == "WARNING" and [n["health"] for n in heavy["apiNodes"]] == ["HEALTHY", "ERROR"]
    infra_settings = deployer.get_infra("fresh-infra").get_settings()
    infra_settings.get_raw()["apiNodes"].pop()
    infra_settings.get_raw()["healthSettings"] = {"maxFailing": 0}
    infra_settings.save()
    assert dep.get_status().get_health() == "HEALTHY"

    # A new version is listed in the packages of the next light status.
    with open(make_package(root, "v3"), "rb") as fh:
        deployer.get_service("fresh").import_version(fh)
    assert "v3" in [p["id"] for p in light(deployer, "fresh-1")["packages"]]
    assert "v3" in [p["id"] for p in listed(deployer)["fresh-1"]["packages"]]

    # Disabled then deleted: gone from the next list, 404 for both statuses.
    settings = dep.get_settings()
    settings.set_enabled(False)
    settings.save()
    assert light(deployer, "fresh-1")["deploymentBasicInfo"]["enabled"] is False
    dep.delete()
    assert "fresh-1" not in listed(deployer)
    for path in ("", "/status"):
        resp = httpx.get(f"{proc.url()}/public/api/api-deployer/deployments/fresh-1{path}", auth=(ADMIN_KEY, ""))
        assert resp.status_code == 404 and "does not exist" in resp.json()["message"], path


def test_permissions_and_keys_apply_to_the_next_request(env):
    proc, _root, admin, _node_key = env
    deployer = admin.get_apideployer()
    deployer.create_deployment("fresh-perm", "fresh", "fresh-infra", "v1")
    admin.create_user("carol", "unused-password", groups=["carol_team"])
    key = admin.create_personal_api_key_for_user("carol", as_type="dict")
    carol = client(proc.url(), key["key"]).get_apideployer()
    assert "fresh-perm" not in listed(carol)
    with pytest.raises(DataikuException, match="may not read"):
        carol.get_deployment("fresh-perm").get_status()

    infra_settings = deployer.get_infra("fresh-infra").get_settings()
    infra_settings.get_raw()["permissions"] = [{"group": "carol_team", "read": True}]
    infra_settings.save()
    assert "fresh-perm" in listed(carol)
    assert carol.get_deployment("fresh-perm").get_status().get_health() == "UNKNOWN"

    deleted = httpx.delete(f"{proc.url()}/public/api/admin/personal-api-keys/{key['id']}", auth=(ADMIN_KEY, ""))
    assert deleted.status_code < 300, deleted.text
    resp = httpx.get(f"{proc.url()}/public/api/api-deployer/deployments", auth=(key["key"], ""))
    assert resp.status_code == 401


def test_node_changes_are_asked_of_the_node_not_memoised(env):
    proc, _root, admin, node_key = env
    deployer = admin.get_apideployer()
    dep = deployer.create_deployment("fresh-node", "fresh", "fresh-infra", "v1")
    dep.start_update().wait_for_result()
    assert dep.get_status().get_health() == "HEALTHY"
    # Behind the deployer's back: no write on the deployer, so only the node can tell.
    node = httpx.post(f"{proc.url('apinode')}/admin/api/services/fresh/actions/disable", auth=(node_key, ""))
    assert node.status_code < 300, node.text
    wait_for(lambda: dep.get_status().get_health() == "UNHEALTHY", what="the node's change in the heavy status")
    assert dep.get_status().get_heavy()["apiNodes"][0]["health"] == "OUT_OF_SYNC"
    dep.start_update().wait_for_result()
    assert dep.get_status().get_health() == "HEALTHY"


def test_memo_keeps_a_value_until_the_next_commit(tmp_path: Path):
    store = Store(tmp_path)
    builds: list[int] = []

    def build() -> int:
        builds.append(store.generation)
        return len(builds)

    assert store.peek("k") is None  # peek never builds
    assert store.memo("k", build) == 1
    assert store.memo("k", build) == 1
    assert store.peek("k") == 1
    store.set_meta("x", 1)
    assert store.peek("k") is None
    assert store.memo("k", build) == 2
    assert store.memo("other", build) == 3
    assert builds == [0, 1, 1]
    assert store.memo("missing", lambda: None) is None
    assert store.memo("missing", lambda: "found since") == "found since"  # None is never kept
    store.close()


def test_update_log_lines_keep_the_memo_and_the_update_record_does_not(tmp_path: Path):
    store = Store(tmp_path)
    store.insert("deployments", {"id": "dep"}, "admin")  # an update is recorded only for an existing deployment
    assert store.memo("k", lambda: "before") == "before"
    start = store.start_update("dep", "UPDATE", "admin")
    assert store.memo("k", lambda: "after the record") == "after the record"  # a new update: a document write
    store.append_update_log("dep", start, 1, "a line")
    store.append_update_log("dep", start, 1, "another line")
    assert store.memo("k", lambda: "rebuilt") == "after the record"  # log lines: nothing memoised reads them
    assert [u["status"] for u in store.list_updates("dep")] == ["RUNNING"]
    store.finish_update("dep", start, "SUCCESS")
    assert store.memo("k", lambda: "after the end") == "after the end"
    store.close()


def test_memo_drops_a_value_built_while_a_write_committed(tmp_path: Path):
    store = Store(tmp_path)
    committed = threading.Event()

    def build_during_a_write() -> str:
        writer = threading.Thread(target=lambda: (store.set_meta("x", 2), committed.set()))
        writer.start()
        writer.join()
        return store.get_meta("x") and "read during the write"

    store.set_meta("x", 1)
    assert store.memo("k", build_during_a_write) == "read during the write"
    assert committed.is_set()
    # Not kept: it was built under a generation the write has since ended.
    assert store.memo("k", lambda: "rebuilt") == "rebuilt"
    store.close()


def test_heavy_body_splices_the_same_bytes_as_one_encoding():
    endpoints = ({"id": "é", "type": "PY_FUNCTION", "testQueries": [{"q": {"x": [1, 2.5, None]}}]},)
    status = {"health": "HEALTHY", "apiNodes": [{"url": "http://n", "health": "HEALTHY"}], "healthMessages": {}}
    for version, eps in (("v1", endpoints), (None, ())):
        basis = Basis({"id": "d"}, {"id": "i"}, version, tail(list(eps), version), "fp")
        whole = json_bytes({**status, "endpoints": list(eps), "version": version})
        assert basis.body(status) == whole
        assert json.loads(basis.body(status))["version"] == version
