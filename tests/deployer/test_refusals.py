"""Validation refusals and wire quirks (docs/protocol.md, "Quirks the servers honour"): every refusal is a
DSS-shaped error JSON and leaves nothing half-applied."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
import pytest
from dataikuapi.utils import DataikuException

from tests.deployer.conftest import ADMIN_KEY, client, make_package
from tests.servers import serve

AUTH = httpx.BasicAuth(ADMIN_KEY, "")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("refusals")
    proc = serve(root / "data", ADMIN_KEY, apinodes=0)
    deployer = client(proc.url()).get_apideployer()
    deployer.create_infra("dev", "Development", "STATIC")
    service = deployer.create_service("svc")
    for version in ("v1", "v2"):
        with open(make_package(root, version), "rb") as fh:
            service.import_version(fh)
    deployer.create_deployment("dep", "svc", "dev", "v1")
    http = httpx.Client(base_url=proc.url() + "/public/api", auth=AUTH, timeout=30)
    try:
        yield proc, root, http
    finally:
        http.close()
        proc.stop()


def assert_dss_error(resp: httpx.Response, status: int, contains: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) >= {"errorType", "message", "detailedMessage"}, body
    assert contains.lower() in body["message"].lower(), body
    return body


def zip_bytes(entries: dict[str, bytes | str], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


GOOD_CONFIG = json.dumps({"endpoints": [{"id": "f", "type": "PY_FUNCTION"}]})
GOOD_CODE = "def f(**kw):\n    return kw\n"


def upload(http: httpx.Client, content: bytes, service: str = "svc") -> httpx.Response:
    return http.post(f"/api-deployer/services/{service}/versions", files={"file": ("p.zip", content)})


def versions(http: httpx.Client) -> list[str]:
    return [p["id"] for p in http.get("/api-deployer/services/svc").json()["packages"]]


@pytest.mark.parametrize("bad_id", ["has space", "slash/inside", "", "-dash-first", "x" * 101, "é"])
def test_bad_ids_refused(env, bad_id):
    _, _, http = env
    assert_dss_error(http.post("/api-deployer/infras", json={"id": bad_id, "stage": "Development",
                                                             "type": "STATIC"}), 400, "invalid")
    assert_dss_error(http.post("/api-deployer/services", json={"publishedServiceId": bad_id}), 400, "invalid")
    assert_dss_error(http.post("/api-deployer/deployments", json={
        "deploymentId": bad_id, "publishedServiceId": "svc", "infraId": "dev", "version": "v1"}), 400, "invalid")
    assert [i["infraBasicInfo"]["id"] for i in http.get("/api-deployer/infras").json()] == ["dev"]


def test_unknown_stage_and_type_refused(env):
    _, _, http = env
    assert_dss_error(http.post("/api-deployer/infras", json={"id": "x", "stage": "Nope", "type": "STATIC"}),
                     400, "stage")
    assert_dss_error(http.post("/api-deployer/infras", json={"id": "x", "stage": "Test", "type": "MAINFRAME"}),
                     400, "infra type")
    assert_dss_error(http.post("/api-deployer/infras", json={"id": "x", "stage": "Test", "type": "STATIC",
                                                             "governCheckPolicy": "MAYBE"}), 400, "governCheckPolicy")


def test_duplicates_are_409(env):
    proc, root, http = env
    body = assert_dss_error(http.post("/api-deployer/infras", json={"id": "dev", "stage": "Test", "type": "STATIC"}),
                            409, "already exists")
    assert body["errorType"].endswith("AlreadyExistsException")
    assert_dss_error(http.post("/api-deployer/services", json={"publishedServiceId": "svc"}), 409, "already exists")
    assert_dss_error(http.post("/api-deployer/deployments", json={
        "deploymentId": "dep", "publishedServiceId": "svc", "infraId": "dev", "version": "v1"}), 409, "already exists")
    package = make_package(root, "v1")
    with pytest.raises(DataikuException, match="already exists"), open(package, "rb") as fh:
        client(proc.url()).get_apideployer().get_service("svc").import_version(fh)
    # The first infra is untouched by the refused duplicate.
    assert http.get("/api-deployer/infras/dev/settings").json()["stage"] == "Development"


def test_references_must_exist(env):
    _, _, http = env

    def create(**over):
        body = {"deploymentId": "new", "publishedServiceId": "svc", "infraId": "dev", "version": "v1", **over}
        return http.post("/api-deployer/deployments", json=body)

    assert_dss_error(create(publishedServiceId="ghost"), 404, "service 'ghost' does not exist")
    assert_dss_error(create(infraId="ghost"), 404, "infra 'ghost' does not exist")
    assert_dss_error(create(version="v9"), 400, "version 'v9' does not exist")
    assert [d["deploymentBasicInfo"]["id"] for d in http.get("/api-deployer/deployments").json()] == ["dep"]
    assert_dss_error(http.get("/api-deployer/deployments/ghost"), 404, "does not exist")
    assert_dss_error(http.get("/api-deployer/services/svc/versions/v9"), 404, "does not exist")


def test_in_use_deletions_refused(env):
    _, _, http = env
    assert_dss_error(http.delete("/api-deployer/services/svc/versions/v1"), 400, "used by deployment")
    assert_dss_error(http.delete("/api-deployer/services/svc"), 400, "still has deployments")
    assert_dss_error(http.delete("/api-deployer/infras/dev"), 400, "still has deployments")
    # The client refuses an enabled deployment locally; the server refuses it too.
    assert_dss_error(http.delete("/api-deployer/deployments/dep", params={"ignorePreDeleteErrors": "False"}),
                     400, "enabled")
    assert versions(http) == ["v2", "v1"]
    assert http.get("/api-deployer/deployments/dep").status_code == 200


def test_bad_mappings_refused_and_nothing_saved(env):
    _, _, http = env
    before = http.get("/api-deployer/deployments/dep/settings").json()

    def put(mapping):
        return http.put("/api-deployer/deployments/dep/settings", json={**before, "generationsMapping": mapping})

    multi = {"mode": "MULTI_GENERATION", "strategy": "RANDOM"}
    assert_dss_error(put({**multi, "entries": [{"generation": "v1", "proba": 0.5},
                                                {"generation": "v2", "proba": 0.4}]}), 400, "sum to 1")
    assert_dss_error(put({**multi, "entries": [{"generation": "v1", "proba": 0.5},
                                                {"generation": "v7", "proba": 0.5}]}), 400, "'v7' does not exist")
    assert_dss_error(put({**multi, "entries": []}), 400, "non-empty")
    assert_dss_error(put({**multi, "entries": [{"generation": "v1", "proba": 1.5}]}), 400, "between 0 and 1")
    assert_dss_error(put({"mode": "SINGLE_GENERATION", "generation": "v3"}), 400, "does not exist")
    assert_dss_error(put({"mode": "WHATEVER"}), 400, "mode")
    assert_dss_error(http.put("/api-deployer/deployments/dep/settings", json={**before, "infraId": "other"}),
                     400, "cannot be changed")
    assert_dss_error(http.put("/api-deployer/deployments/dep/settings", content=b"{not json"), 400, "parse")
    assert http.get("/api-deployer/deployments/dep/settings").json() == before
    # A valid multi mapping is accepted.
    ok = put({**multi, "entries": [{"generation": "v1", "proba": 0.3}, {"generation": "v2", "proba": 0.7}]})
    assert ok.status_code == 200
    http.put("/api-deployer/deployments/dep/settings", json=before).raise_for_status()


def test_bad_packages_refused(env):
    proc, _, http = env
    cases = [
        (zip_bytes({"config.json": GOOD_CONFIG, "endpoint-f/code.py": GOOD_CODE}), "tag.json"),
        (zip_bytes({"tag.json": '{"generationId": "v5"}', "endpoint-f/code.py": GOOD_CODE}), "config.json"),
        (zip_bytes({"tag.json": '{"generationId": "v5"}', "config.json": GOOD_CONFIG,
                    "endpoint-f/code.py": GOOD_CODE, "/etc/evil": "x"}), "absolute"),
        (zip_bytes({"tag.json": '{"generationId": "v5"}', "config.json": GOOD_CONFIG,
                    "endpoint-f/code.py": GOOD_CODE, "../escape.txt": "x"}), ".."),
        (zip_bytes({"tag.json": '{"generationId": "v5"}', "config.json": GOOD_CONFIG,
                    "endpoint-f/code.py": GOOD_CODE, "bomb.bin": b"\0" * (20 * 1024 * 1024)}), "zip bomb"),
        (zip_bytes({"tag.json": '{"generationId": "v5"}', "config.json": GOOD_CONFIG, "endpoint-f/code.py": GOOD_CODE,
                    **{f"f{i}": "" for i in range(10_001)}}, zipfile.ZIP_STORED), "entries"),
        (zip_bytes({"tag.json": '{"generationId": "bad id"}', "config.json": GOOD_CONFIG,
                    "endpoint-f/code.py": GOOD_CODE}), "invalid version id"),
        (zip_bytes({"tag.json": '{"generationId": "v5"}', "config.json": GOOD_CONFIG}), "code.py"),
        (b"this is not a zip", "not a valid zip"),
    ]
    for content, reason in cases:
        assert_dss_error(upload(http, content), 400, reason)
    assert_dss_error(http.post("/api-deployer/services/svc/versions", files={"other": ("p.zip", b"x")}),
                     400, "'file'")
    assert versions(http) == ["v2", "v1"]
    # No staged upload or stray zip is left behind.
    store_dir = env[1] / "data"
    assert list((store_dir / "tmp").iterdir()) == []
    assert sorted(p.name for p in (store_dir / "versions" / "svc").iterdir()) == ["v1.zip", "v2.zip"]


def test_infra_settings_checked(env):
    _, _, http = env
    before = http.get("/api-deployer/infras/dev/settings").json()
    for change, reason in (({"apiNodes": [{"url": "ftp://x"}]}, "http"),
                           ({"apiNodes": [{"url": "http://a:1"}, {"url": "http://a:1/"}]}, "twice"),
                           ({"stage": "Mars"}, "stage"), ({"type": "K8S"}, "cannot be changed"),
                           ({"id": "other"}, "cannot be changed"), ({"permissions": [{"read": True}]}, "group"),
                           ({"healthSettings": {"maxFailing": -1}}, "maxFailing")):
        assert_dss_error(http.put("/api-deployer/infras/dev/settings", json={**before, **change}), 400, reason)
    assert http.get("/api-deployer/infras/dev/settings").json() == before


def test_both_prefixes_and_path_quirks(env):
    proc, _, _ = env
    base = proc.url()
    with httpx.Client(auth=AUTH, timeout=30) as http:
        a = http.get(base + "/dip/publicapi/api-deployer/deployments").json()
        b = http.get(base + "/public/api/api-deployer/deployments").json()
        assert a == b and a[0]["deploymentBasicInfo"]["id"] == "dep"
        assert http.get(base + "//dip/publicapi//api-deployer/deployments/").json() == a
        resp = http.get(base + "/public/api/futures/")
        assert resp.status_code == 200 and resp.json() == []
        assert resp.headers["DSS-API-Version"] == "1" and "DSS-Version" in resp.headers
        # A client configured with a trailing slash sends // paths.
        assert [d.id for d in client(base + "/").get_apideployer().list_deployments()] == ["dep"]
        assert_dss_error(http.get(base + "/public/api/no/such/route"), 404, "no such api route")
        assert_dss_error(http.patch(base + "/public/api/api-deployer/infras"), 405, "not supported")
        assert_dss_error(http.get(base + "/public/api/futures/nope", params={"peek": "True"}), 400,
                         "No future by that id")


def test_booleans_and_bodies_without_content_type(env):
    proc, _, http = env
    raw = json.dumps({"id": "warned", "stage": "Test", "type": "STATIC", "governCheckPolicy": "WARN"}).encode()
    resp = http.post("/api-deployer/infras", content=raw)  # no Content-Type header at all
    assert resp.status_code == 200 and "content-type" not in resp.request.headers
    body = json.dumps({"deploymentId": "warned-dep", "publishedServiceId": "svc", "infraId": "warned",
                       "version": "v1"}).encode()
    assert_dss_error(http.post("/api-deployer/deployments", content=body, params={"ignoreWarnings": "False"}),
                     400, "ignoreWarnings")
    assert http.post("/api-deployer/deployments", content=body, params={"ignoreWarnings": "True"}).status_code == 200
    assert_dss_error(http.post("/api-deployer/deployments", content=body, params={"ignoreWarnings": "perhaps"}),
                     400, "boolean")
    prevent = json.dumps({"id": "strict", "stage": "Production", "type": "STATIC",
                          "governCheckPolicy": "PREVENT"}).encode()
    assert http.post("/api-deployer/infras", content=prevent).status_code == 200
    strict = json.dumps({"deploymentId": "strict-dep", "publishedServiceId": "svc", "infraId": "strict",
                         "version": "v1"}).encode()
    assert_dss_error(http.post("/api-deployer/deployments", content=strict, params={"ignoreWarnings": "True"}),
                     400, "PREVENT")
    gov = http.get("/api-deployer/deployments/warned-dep/governance-status", params={"version": ""}).json()
    assert gov["maxSeverity"] == "WARNING" and gov["messages"][0]["code"] == "ERR_GOVERN_NOT_AVAILABLE"
    # Clean up so other tests see the same world.
    dep = http.get("/api-deployer/deployments/warned-dep/settings").json()
    http.put("/api-deployer/deployments/warned-dep/settings", json={**dep, "enabled": False}).raise_for_status()
    http.delete("/api-deployer/deployments/warned-dep", params={"ignorePreDeleteErrors": "True"}).raise_for_status()
    http.delete("/api-deployer/infras/warned").raise_for_status()
    http.delete("/api-deployer/infras/strict").raise_for_status()


def test_stages_are_configurable(env):
    proc, _, http = env
    admin = client(proc.url())
    settings = admin.get_general_settings()
    stages = settings.get_raw()["apiDeployerServerSettings"]["stages"]
    assert [s["id"] for s in stages] == ["Development", "Test", "Production"]
    settings.get_raw()["apiDeployerServerSettings"]["stages"] = [*stages, {"id": "Staging", "desc": "Staging"}]
    settings.get_raw()["someOtherSetting"] = {"kept": True}
    settings.save()
    assert [s["id"] for s in admin.get_apideployer().list_stages()][-1] == "Staging"
    assert admin.get_general_settings().get_raw()["someOtherSetting"] == {"kept": True}
    # A stage used by an infra cannot go away; nothing changes when refused.
    settings = admin.get_general_settings()
    settings.get_raw()["apiDeployerServerSettings"]["stages"] = [{"id": "Staging", "desc": "Staging"}]
    with pytest.raises(DataikuException, match="used by infras"):
        settings.save()
    assert len(admin.get_apideployer().list_stages()) == 4
    settings.get_raw()["apiDeployerServerSettings"]["stages"] = stages
    settings.save()
    assert admin.get_apideployer().list_stages() == stages
