"""The admin API through the official dataikuapi.APINodeAdminClient (and raw HTTP where it has no method)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import dataikuapi
import pytest

from deployer_tui.core.package import build_package
from tests.apinode.conftest import ADMIN_KEY, QUERY_KEY, deploy, http, node_dir, write_package
from tests.servers import apinode

DataikuException = dataikuapi.utils.DataikuException


def test_create_list_and_delete_service(admin: dataikuapi.APINodeAdminClient) -> None:
    admin.create_service("lifecycle")
    listed = {s["serviceId"]: s for s in admin.list_services()}
    assert listed["lifecycle"] == {"serviceId": "lifecycle", "enabled": False, "activeMapping": None,
                                   "startAbortedReason": None}
    with pytest.raises(DataikuException, match="Service already exists"):
        admin.create_service("lifecycle")
    admin._perform_empty("POST", "services", params={"ignoreIfExists": True}, body={"serviceId": "lifecycle"})
    admin.service("lifecycle").delete()
    assert "lifecycle" not in {s["serviceId"] for s in admin.list_services()}


@pytest.mark.parametrize("body, fragment", [({}, "No service id"), ({"serviceId": "../x"}, "Invalid service id")])
def test_create_service_refuses_bad_ids(admin: dataikuapi.APINodeAdminClient, body: dict, fragment: str) -> None:
    with pytest.raises(DataikuException, match=fragment):
        admin._perform_empty("POST", "services/", body=body)


def test_import_by_stream_then_switch_and_mapping(admin, url: str, packages: dict) -> None:
    admin.create_service("streamed")
    with open(packages["m1"], "rb") as fh:
        response = http.post(f"{url}/admin/api/services/streamed/generations/actions/importFromStream",
                              files={"file": ("m1.zip", fh)}, auth=(ADMIN_KEY, ""))
    assert response.status_code == 200, response.text
    service = admin.service("streamed")
    service.import_generation_from_archive(str(packages["m2"]))
    gens = {g["generationId"]: g for g in service.list_generations()}
    assert set(gens) == {"m1", "m2"} and not any(g["mounted"] for g in gens.values())
    assert service.switch_to_newest() == {"switchedToGeneration": "m2"}
    assert admin._perform_json("GET", "services/streamed/mapping")["entries"] == [{"generation": "m2", "proba": 1.0}]
    service.switch_to_single_generation("m1")
    gens = {g["generationId"]: g for g in service.list_generations()}
    assert gens["m1"]["mapped"] == 1.0 and gens["m1"]["mounted"] and gens["m2"]["mapped"] == 0.0
    summary = next(s for s in admin.list_services() if s["serviceId"] == "streamed")
    assert summary["enabled"] is True
    assert summary["activeMapping"]["mode"] == "SINGLE_GENERATION" and summary["activeMapping"]["generation"] == "m1"
    answer = dataikuapi.APINodeClient(url, "streamed", api_key=QUERY_KEY).run_function("hello")
    assert answer["apiContext"]["serviceGeneration"] == "m1"


def test_import_refusals(admin, url: str, packages: dict, tmp_path: Path) -> None:
    deploy(admin, "refusals", [packages["m1"]])
    service = admin.service("refusals")
    with pytest.raises(DataikuException, match="Generation m1 already exists"):
        service.import_generation_from_archive(str(packages["m1"]))
    with pytest.raises(DataikuException, match="Service does not exist"):
        admin.service("nosuch").import_generation_from_archive(str(packages["m1"]))
    src = write_package(tmp_path / "r-src", "r1", only_functions=True, functions=("hello",),
                        extra_endpoints=[{"id": "visual", "type": "STD_PREDICTION", "modelId": "m"}])
    zipped, _ = build_package(src, tmp_path / "r1.zip")
    with pytest.raises(DataikuException, match="type STD_PREDICTION, which this API node cannot serve"):
        service.import_generation_from_archive(str(zipped))
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip at all")
    response = http.post(f"{url}/admin/api/services/refusals/generations/actions/importFromStream",
                          files={"file": ("g.zip", garbage.read_bytes())}, auth=(ADMIN_KEY, ""))
    assert response.status_code == 400 and "Not a valid zip file" in response.json()["message"]
    response = http.post(f"{url}/admin/api/services/refusals/generations/actions/importFromStream",
                          files={"other": ("g.zip", b"x")}, auth=(ADMIN_KEY, ""))
    assert response.status_code == 400 and "part 'file'" in response.json()["message"]
    assert [g["generationId"] for g in service.list_generations()] == ["m1"]


def test_mapping_refusals_change_nothing(admin, packages: dict) -> None:
    deploy(admin, "strict", [packages["m1"], packages["m2"]], {"mode": "SINGLE_GENERATION", "generation": "m1"})
    service = admin.service("strict")
    for mapping, fragment in [
        ({"entries": [{"generation": "m1", "proba": 0.5}, {"generation": "m2", "proba": 0.4}]}, "sum to 1"),
        ({"mode": "SINGLE_GENERATION", "generation": "f9"}, "has no generation f9"),
        ({"mode": "MULTI_GENERATION", "strategy": "ROUND_ROBIN",
          "entries": [{"generation": "m1", "proba": 1}]}, "Unknown mapping strategy"),
        ({"entries": []}, "non-empty 'entries'"),
    ]:
        with pytest.raises(DataikuException, match=fragment):
            service.set_generations_mapping(mapping)
    assert admin._perform_json("GET", "services/strict/mapping")["generation"] == "m1"
    with pytest.raises(DataikuException, match="in the mapping of service strict"):
        admin._perform_empty("DELETE", "services/strict/generations/m1")
    admin._perform_empty("DELETE", "services/strict/generations/m2")
    assert [g["generationId"] for g in service.list_generations()] == ["m1"]


def test_code_that_does_not_load_is_refused_at_set_mapping(admin, url: str, packages: dict, tmp_path: Path) -> None:
    src = write_package(tmp_path / "broken-src", "b2", only_functions=True, functions=("hello",))
    (src / "endpoint-hello" / "code.py").write_text("def hello(:\n")
    broken, _ = build_package(src, tmp_path / "b2.zip")
    deploy(admin, "broken", [packages["m1"], broken], {"mode": "SINGLE_GENERATION", "generation": "m1"})
    with pytest.raises(DataikuException, match="SyntaxError"):
        admin.service("broken").switch_to_single_generation("b2")
    answer = dataikuapi.APINodeClient(url, "broken", api_key=QUERY_KEY).run_function("hello")
    assert answer["apiContext"]["serviceGeneration"] == "m1"


def test_disable_enable_and_alive_checks(admin, url: str, packages: dict) -> None:
    deploy(admin, "toggle", [packages["m1"]])
    service = admin.service("toggle")
    with pytest.raises(DataikuException, match="without a generations mapping"):
        service.enable()
    alive = http.get(f"{url}/monitoring/api/toggle/isAliveSimple")
    assert alive.status_code == 400
    service.switch_to_single_generation("m1")
    assert http.get(f"{url}/monitoring/api/toggle/isAliveSimple").json() == {"ok": True}
    service.disable()
    response = http.post(f"{url}/public/api/v1/toggle/hello/run", json={}, auth=(QUERY_KEY, ""))
    assert response.status_code == 503 and "disabled" in response.json()["message"]
    assert "disabled" in http.get(f"{url}/monitoring/api/toggle/isAliveSimple").json()["message"]
    service.enable()
    response = http.post(f"{url}/public/api/v1/toggle/hello/run", json={}, auth=(QUERY_KEY, ""))
    assert response.status_code == 200
    admin._perform_empty("POST", "services/toggle/actions/setNotAlive")
    assert "forced as not-alive" in http.get(f"{url}/monitoring/api/toggle/isAliveSimple").json()["message"]
    admin._perform_empty("POST", "services/toggle/actions/setAlive")
    admin._perform_empty("POST", "set-not-alive")
    try:
        response = http.get(f"{url}/isAlive")
        assert response.status_code == 503 and response.json()["forcedNotAlive"] is True
    finally:
        admin._perform_empty("POST", "set-alive")
    assert http.get(f"{url}/isAlive").status_code == 200


@pytest.mark.parametrize("auth", [None, ("wrong", ""), (QUERY_KEY, "")])
def test_admin_api_needs_an_admin_key(url: str, auth: tuple | None) -> None:
    response = http.get(f"{url}/admin/api/services", auth=auth)
    assert response.status_code == 401
    assert response.json()["errorType"] == "com.dataiku.dip.exceptions.NotAuthenticatedException"


def test_admin_keys(admin, url: str, node) -> None:
    auth = admin.auth()
    created = auth.add_key(label="ci", description="for a test", created_by="tests")
    assert created["label"] == "ci" and created["key"]
    assert created["key"] in [k["key"] for k in auth.list_keys()]
    second = dataikuapi.APINodeAdminClient(url, created["key"])
    assert isinstance(second.list_services(), list)
    auth.delete_key(created["key"])
    with pytest.raises(DataikuException, match="Unknown API key"):
        second.list_services()
    with pytest.raises(DataikuException, match="Key to delete not found"):
        auth.delete_key("no-such-key")
    other = auth.add_key(label="by-id")
    auth.delete_key_by_id(other["id"])
    assert other["key"] not in [k["key"] for k in auth.list_keys()]


def test_adminkeys_file_is_private(node) -> None:
    data_dir = Path(node.popen.args[node.popen.args.index("--data-dir") + 1])
    path = data_dir / "config" / "adminkeys.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert ADMIN_KEY in [k["key"] for k in json.loads(path.read_text())["keys"]]


def test_unknown_admin_route_is_a_dss_404(url: str) -> None:
    response = http.get(f"{url}/admin/api/nothing-here", auth=(ADMIN_KEY, ""))
    assert response.status_code == 404
    assert response.json()["errorType"] == "com.dataiku.dip.server.controllers.NotFoundException"


def test_clean_unused_deletes_disabled_services_and_unmapped_versions(tmp_path: Path, packages: dict) -> None:
    own = apinode(node_dir(tmp_path / "node"), ADMIN_KEY)  # its own node: cleaning would hit other tests' services
    try:
        admin = dataikuapi.APINodeAdminClient(own.url("apinode"), ADMIN_KEY)
        deploy(admin, "live", [packages["m1"], packages["m2"]], {"generation": "m2"})
        deploy(admin, "idle", [packages["m1"]])
        summary = admin._perform_json("DELETE", "services-clean-unused")
        assert summary == {"deletedServices": ["idle"],
                           "deletedGenerations": [{"serviceId": "live", "generationId": "m1"}]}
        assert [s["serviceId"] for s in admin.list_services()] == ["live"]
        assert [g["generationId"] for g in admin.service("live").list_generations()] == ["m2"]
        answer = dataikuapi.APINodeClient(own.url("apinode"), "live", api_key=QUERY_KEY).run_function("hello")
        assert answer["apiContext"]["serviceGeneration"] == "m2"
    finally:
        own.stop()


def test_lookup_without_its_csv_is_refused_at_import(admin, tmp_path: Path) -> None:
    src = write_package(tmp_path / "l-src", "l1", only_functions=True, functions=("hello",), extra_endpoints=[
        {"id": "find", "type": "DATASETS_LOOKUP", "lookups": [{"lookupResource": {"resourceId": "absent"},
                                                               "on": [{"inputLookupKey": "k", "resourceLookupCol": "k"}]}]}])
    zipped, _ = build_package(src, tmp_path / "l1.zip")
    admin.create_service("no-csv")
    with pytest.raises(DataikuException, match=r"has no datasets/absent/\*\.csv"):
        admin.service("no-csv").import_generation_from_archive(str(zipped))
    assert admin.service("no-csv").list_generations() == []


def test_sql_endpoint_on_an_unknown_connection_is_refused_at_set_mapping(admin, tmp_path: Path) -> None:
    src = write_package(tmp_path / "q-src", "q1", only_functions=True, functions=("hello",), extra_endpoints=[
        {"id": "q", "type": "SQL_QUERY", "connection": "nowhere", "queries": [{"query": "select 1"}]}])
    zipped, _ = build_package(src, tmp_path / "q1.zip")
    deploy(admin, "no-conn", [zipped])
    with pytest.raises(DataikuException, match="Connection 'nowhere' is not configured on this API node"):
        admin.service("no-conn").switch_to_single_generation("q1")
    assert next(s for s in admin.list_services() if s["serviceId"] == "no-conn")["enabled"] is False
