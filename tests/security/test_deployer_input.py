"""Hostile input to the local deployer: each refusal is a DSS-style 400 that names what is wrong, and
nothing is stored (every list still answers afterwards)."""

from __future__ import annotations

import json

import httpx

from tests.deployer.conftest import make_package
from tests.security.deployer_env import (
    DEPLOYMENT,
    INFRA,
    SERVICE,
    env,  # noqa: F401 - the module's server
    refusal,
    repack,
    tag_json,
    update,
)

LISTS = ("/api-deployer/deployments", "/api-deployer/services", "/api-deployer/infras")


def lists_answer(http) -> None:
    for path in LISTS:
        resp = http.get(path)
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])


def test_nan_and_infinity_in_a_saved_document_are_refused(env):  # noqa: F811
    with env.http() as http:
        settings = http.get(f"/api-deployer/deployments/{DEPLOYMENT}/settings").json()
        for bad in (float("nan"), float("inf")):
            body = json.dumps({**settings, "tags": [bad]})  # NaN / Infinity literals
            refusal(http.put(f"/api-deployer/deployments/{DEPLOYMENT}/settings", content=body),
                    "finite numbers")
        huge = json.dumps(settings)[:-1] + ', "x": 1e400}'  # a number that overflows to infinity
        refusal(http.put(f"/api-deployer/deployments/{DEPLOYMENT}/settings", content=huge), "1e400")
        assert http.get(f"/api-deployer/deployments/{DEPLOYMENT}/settings").json() == settings
        lists_answer(http)


def test_ids_ending_in_a_newline_are_refused(env, tmp_path):  # noqa: F811
    with env.http() as http:
        refusal(http.post("/api-deployer/services", json={"publishedServiceId": "ok\n"}), "service id")
        package = repack(make_package(tmp_path, "v9"), "tag.json", tag_json(generationId="v9\n"))
        refusal(http.post(f"/api-deployer/services/{SERVICE}/versions", files={"file": ("v9.zip", package)}),
                "generationId")
        services = http.get("/api-deployer/services").json()
        assert [s["serviceBasicInfo"]["id"] for s in services] == [SERVICE]
        assert {p["id"] for p in services[0]["packages"]} == {"v1", "v2"}
        lists_answer(http)


def test_wrong_types_are_400_naming_the_field(env, tmp_path):  # noqa: F811
    with env.http() as http:
        dep_path = f"/api-deployer/deployments/{DEPLOYMENT}/settings"
        settings = http.get(dep_path).json()
        for version in (["v1"], {"v": 1}):
            refusal(http.post("/api-deployer/deployments", json={
                "deploymentId": "typed", "publishedServiceId": SERVICE, "infraId": INFRA, "version": version}),
                "version")
        for generation in (["v1"], {"v": 1}):
            mapping = {"mode": "SINGLE_GENERATION", "generation": generation}
            refusal(http.put(dep_path, json={**settings, "generationsMapping": mapping}),
                    "generationsMapping.generation")
        entries = [{"generation": "v1", "proba": 0.5}, {"generation": "v2", "proba": "0.5"}]
        refusal(http.put(dep_path, json={**settings, "generationsMapping": {
            "mode": "MULTI_GENERATION", "entries": entries}}), "generationsMapping.entries[1].proba")
        refusal(http.put(dep_path, json={**settings, "healthSettings": 5}), "healthSettings")
        refusal(http.put(dep_path, json={**settings, "tags": ["a", 1]}), "tags")

        infra_path = f"/api-deployer/infras/{INFRA}/settings"
        infra = http.get(infra_path).json()
        refusal(http.put(infra_path, json={**infra, "stage": ["Development"]}), "stage")
        refusal(http.put(infra_path, json={**infra, "healthSettings": 5}), "healthSettings")

        deep = "[" * 100_000 + "]" * 100_000
        refusal(http.put(dep_path, content=deep), "nested")
        refusal(http.post(f"/api-deployer/deployments/{DEPLOYMENT}/actions/run-queries",
                          params={"queries": "[" * 5_000 + "]" * 5_000}), "nested")

        package = repack(make_package(tmp_path, "v8"), "tag.json", '{"generationId": "v8", "createdOn": 1e400}')
        refusal(http.post(f"/api-deployer/services/{SERVICE}/versions", files={"file": ("v8.zip", package)}),
                "tag.json")

        general = http.get("/admin/general-settings").json()
        refusal(http.put("/admin/general-settings", json={"apiDeployerServerSettings": []}),
                "apiDeployerServerSettings")
        assert http.get("/admin/general-settings").json() == general

        assert http.get(dep_path).json() == settings
        assert http.get(infra_path).json() == infra
        lists_answer(http)


def test_deeply_nested_query_to_an_api_node_is_400(env):  # noqa: F811
    """The nodes read query bodies with the same reader (deployer_tui/server/http.py, loads_strict)."""
    with env.http() as http:
        assert update(http)["result"]["nbOKNodes"] == 1  # the service is on the node
    url = f"{env.proc.url('apinode')}/public/api/v1/{SERVICE}/echo/run"
    assert httpx.post(url, json={"x": 1}, timeout=30).status_code == 200
    refusal(httpx.post(url, content="[" * 100_000 + "]" * 100_000, timeout=30), "nested")
    refusal(httpx.post(url, content='{"x": NaN}', timeout=30), "NaN")
