"""A real `deployer-tui serve` with one local API node, an infra on it, a service with a version and a
deployment, for the deployer's security tests (tests/security/test_deployer_*.py)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deployer.conftest import ADMIN_KEY, client, make_package, wait_for
from tests.servers import Proc, serve

INFRA, SERVICE, DEPLOYMENT = "sec-infra", "svc", "dep"


@dataclass
class Env:
    proc: Proc
    root: Path
    data: Path

    @property
    def url(self) -> str:
        return self.proc.url()

    def http(self, key: str = ADMIN_KEY) -> httpx.Client:
        return httpx.Client(base_url=self.url + "/public/api", auth=(key, ""), timeout=60)

    def async_http(self, key: str = ADMIN_KEY) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url + "/public/api", auth=(key, ""), timeout=60,
                                 limits=httpx.Limits(max_connections=50))


def populate(env: Env, *, rolling_ms: int | None = None) -> None:
    """Infra INFRA on serve's node 1 (rolling FULL updates when `rolling_ms`), service SERVICE with v1 and
    v2, deployment DEPLOYMENT of v1 (never updated)."""
    deployer = client(env.url).get_apideployer()
    infra = deployer.create_infra(INFRA, "Development", "STATIC")
    settings = infra.get_settings()
    node_key = (env.data / "apinodes" / "node-1.admin-key").read_text().strip()
    settings.get_raw()["apiNodes"] = [{"url": env.proc.url("apinode"), "adminAPIKey": node_key, "localNode": 1}]
    if rolling_ms is not None:
        settings.get_raw()["rollingUpdateSettings"] = {"waitLoadBalancerTimeout": True,
                                                      "loadBalancerTimeoutMS": rolling_ms}
    settings.save()
    service = deployer.create_service(SERVICE)
    for version in ("v1", "v2"):
        with open(make_package(env.root, version), "rb") as fh:
            service.import_version(fh)
    deployer.create_deployment(DEPLOYMENT, SERVICE, INFRA, "v1")


def start(root: Path, *, extra: list[str] | None = None, rolling_ms: int | None = None,
          fresh: bool = True) -> Env:
    env = Env(serve(root / "data", ADMIN_KEY, apinodes=1, extra=extra), root, root / "data")
    if fresh:
        try:
            populate(env, rolling_ms=rolling_ms)
        except BaseException:
            env.proc.stop()
            raise
    return env


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One server shared by a module's tests: they refuse input, so they leave it as they found it."""
    e = start(tmp_path_factory.mktemp("deployer-sec"))
    yield e
    e.proc.stop()


def update(http: httpx.Client, dep_id: str = DEPLOYMENT, body: Any = None) -> dict[str, Any]:
    """Run an update to its end; its future's final state, with the result."""
    resp = http.post(f"/api-deployer/deployments/{dep_id}/actions/update", json=body)
    assert resp.status_code == 200, resp.text
    job = resp.json()["jobId"]
    wait_for(lambda: http.get(f"/futures/{job}", params={"peek": "true"}).json()["alive"] is False,
             what=f"update {job} to end")
    return http.get(f"/futures/{job}", params={"peek": "false"}).json()


def refusal(resp: httpx.Response, *words: str) -> dict[str, Any]:
    """`resp` is a DSS-style 400 whose message holds every one of `words`."""
    assert resp.status_code == 400, (resp.status_code, resp.text[:500])
    body = resp.json()
    assert set(body) >= {"errorType", "message", "detailedMessage"}, body
    for word in words:
        assert word in body["message"], (word, body["message"])
    return body


def repack(zip_path: Path, name: str, text: str) -> bytes:
    """The package at `zip_path` with member `name` replaced by `text`."""
    out = io.BytesIO()
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, text if info.filename == name else src.read(info))
    return out.getvalue()


def tag_json(**fields: Any) -> str:
    return json.dumps(fields)
