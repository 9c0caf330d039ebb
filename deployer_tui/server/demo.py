"""Demo content for a new data dir of `deployer-tui serve` (unless `--no-demo`).

Everything is created through the deployer's own public API, as a user would, once the nodes and
the deployer listen (serve's `on_ready`); the deployments that need updates are updated for real,
so a first start shows real health:

* infras: ``dev-local`` (Development, STATIC, serve's API nodes), ``test-static`` (Test, STATIC,
  no node yet), ``prod-k8s`` (Production, K8S, Govern policy WARN);
* services built from ``demo_packages/``: ``titanic`` (CUSTOM_PREDICTION survival predictor on
  Pclass/Sex/Age/Embarked, v1-v5: v4 is slower and raises on a fifth of its inputs, v5 answers as v2
  does, the two targets of a canary of ``titanic-on-dev``), ``toolbox`` (PY_FUNCTION fare estimate, v1-v2),
  ``passengers`` (DATASETS_LOOKUP on a bundled CSV and a SQL_QUERY on a SQLite copy of it, v1);
* deployments: ``titanic-on-dev`` healthy (updated to v1 then v2), ``passengers-on-dev`` healthy,
  ``toolbox-on-dev`` out of sync (v2 saved after deploying v1), ``titanic-canary-on-dev`` disabled
  (an 80/20 HASH_BASED split of v2/v3 served as ``titanic-canary``, deployed, then disabled and
  updated), ``titanic-on-test`` never deployed (its update failed: no node), ``titanic-on-prod``
  on K8S (created ignoring the Govern warning; not deployable locally).

The SQL endpoint's connection ``titanic_db`` is mapped on each local node to a SQLite file made
from the bundled CSV (``config/server.json`` of the node, written before the node starts).
"""

from __future__ import annotations

import asyncio
import csv
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import httpx

from deployer_tui.core.package import build_package

PACKAGES_DIR = Path(__file__).parent / "demo_packages"
SQL_CONNECTION = "titanic_db"
SQL_FILE = "titanic-demo.sqlite"
PASSENGERS_CSV = PACKAGES_DIR / "passengers-v1" / "datasets" / "TITANIC.passengers" / "passengers.csv"
UPDATE_TIMEOUT_S = 120.0


def prepare_node_dir(node_dir: Path) -> None:
    """Give a local node the SQLite connection the demo's SQL endpoint uses (only if it has none)."""
    config = node_dir / "config"
    config.mkdir(parents=True, exist_ok=True)
    server_json = config / "server.json"
    settings: dict[str, Any] = {}
    if server_json.exists():
        try:
            settings = json.loads(server_json.read_text("utf-8"))
        except ValueError:
            return  # someone's own file: leave it alone
    remapped = settings.setdefault("remappedConnections", {})
    if SQL_CONNECTION in remapped:
        return
    db = node_dir / SQL_FILE
    with open(PASSENGERS_CSV, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE IF EXISTS passengers")
        conn.execute("CREATE TABLE passengers (PassengerId INTEGER PRIMARY KEY, Name TEXT, Pclass INTEGER, "
                     "Sex TEXT, Age REAL, Embarked TEXT, Survived INTEGER)")
        conn.executemany("INSERT INTO passengers VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [(int(r["PassengerId"]), r["Name"], int(r["Pclass"]), r["Sex"],
                           float(r["Age"]) if r["Age"] else None, r["Embarked"], int(r["Survived"])) for r in rows])
    conn.close()
    remapped[SQL_CONNECTION] = SQL_FILE
    server_json.write_text(json.dumps(settings, indent=2), "utf-8")


class _Api:
    def __init__(self, http: httpx.AsyncClient, base: str) -> None:
        self.http = http
        self.base = base.rstrip("/") + "/public/api"

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        resp = await self.http.request(method, self.base + path, **kw)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else None

    async def update(self, dep_id: str) -> Any:
        future = await self.call("POST", f"/api-deployer/deployments/{dep_id}/actions/update")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + UPDATE_TIMEOUT_S
        while loop.time() < deadline:
            peeked = await self.http.get(f"{self.base}/futures/{future['jobId']}", params={"peek": "true"})
            if peeked.status_code >= 400:  # `serve --dss-strict` answers a peek of a failed job with its error
                return peeked.json()
            state = peeked.json()
            if state.get("hasResult") or not state.get("alive"):
                break
            await asyncio.sleep(0.1)
        resp = await self.http.get(f"{self.base}/futures/{future['jobId']}", params={"peek": "false"})
        return resp.json()

    async def set_mapping(self, dep_id: str, **changes: Any) -> None:
        settings = await self.call("GET", f"/api-deployer/deployments/{dep_id}/settings")
        settings.update(changes)
        await self.call("PUT", f"/api-deployer/deployments/{dep_id}/settings", json=settings)


async def populate(url: str, admin_key: str, nodes: list[tuple[str, str]]) -> None:
    async with httpx.AsyncClient(auth=httpx.BasicAuth(admin_key, ""), timeout=60) as http:
        api = _Api(http, url)
        await api.call("POST", "/api-deployer/infras", json={"id": "dev-local", "stage": "Development",
                                                             "type": "STATIC", "governCheckPolicy": "NO_CHECK"})
        settings = await api.call("GET", "/api-deployer/infras/dev-local/settings")
        settings["apiNodes"] = [{"url": node_url, "adminAPIKey": key, "graphitePrefix": None, "localNode": i}
                                for i, (node_url, key) in enumerate(nodes, start=1)]
        settings["permissions"] = [{"group": "data_team", "read": True, "deploy": True, "admin": False}]
        await api.call("PUT", "/api-deployer/infras/dev-local/settings", json=settings)
        await api.call("POST", "/api-deployer/infras", json={"id": "test-static", "stage": "Test",
                                                             "type": "STATIC", "governCheckPolicy": "NO_CHECK"})
        await api.call("POST", "/api-deployer/infras", json={"id": "prod-k8s", "stage": "Production",
                                                             "type": "K8S", "governCheckPolicy": "WARN"})

        with tempfile.TemporaryDirectory(prefix="deployer-tui-demo-") as tmp:
            for src in sorted(p for p in PACKAGES_DIR.iterdir() if p.is_dir()):
                service = src.name.rsplit("-", 1)[0]
                if not any(s["serviceBasicInfo"]["id"] == service
                           for s in await api.call("GET", "/api-deployer/services")):
                    await api.call("POST", "/api-deployer/services", json={"publishedServiceId": service})
                out, _info = await asyncio.to_thread(build_package, src, Path(tmp) / f"{src.name}.zip")
                content = await asyncio.to_thread(out.read_bytes)
                await api.call("POST", f"/api-deployer/services/{service}/versions",
                               files={"file": (out.name, content)})

        admins = [{"group": "administrators", "queryThroughDeployer": True},
                  {"group": "data_team", "queryThroughDeployer": True}]
        for dep_id, service, infra, version in (
                ("titanic-on-dev", "titanic", "dev-local", "v1"),
                ("toolbox-on-dev", "toolbox", "dev-local", "v1"),
                ("passengers-on-dev", "passengers", "dev-local", "v1"),
                ("titanic-canary-on-dev", "titanic", "dev-local", "v2"),
                ("titanic-on-test", "titanic", "test-static", "v3")):
            await api.call("POST", "/api-deployer/deployments", json={
                "deploymentId": dep_id, "publishedServiceId": service, "infraId": infra, "version": version,
                "endpointId": None, "authorizationsToQueryThroughDeployer": admins})
        await api.call("POST", "/api-deployer/deployments", params={"ignoreWarnings": "true"}, json={
            "deploymentId": "titanic-on-prod", "publishedServiceId": "titanic", "infraId": "prod-k8s",
            "version": "v2", "endpointId": None, "authorizationsToQueryThroughDeployer": admins})

        await api.update("titanic-on-test")  # fails: the infra has no API node yet — real history
        if not nodes:
            return
        await api.set_mapping("titanic-canary-on-dev", deployedServiceId="titanic-canary", generationsMapping={
            "mode": "MULTI_GENERATION", "strategy": "HASH_BASED",
            "entries": [{"generation": "v2", "proba": 0.8}, {"generation": "v3", "proba": 0.2}]})
        for dep_id in ("titanic-on-dev", "toolbox-on-dev", "passengers-on-dev", "titanic-canary-on-dev"):
            await api.update(dep_id)
        await api.set_mapping("titanic-on-dev", generationsMapping={"mode": "SINGLE_GENERATION", "generation": "v2"})
        await api.update("titanic-on-dev")
        await api.set_mapping("toolbox-on-dev", generationsMapping={"mode": "SINGLE_GENERATION", "generation": "v2"})
        await api.set_mapping("titanic-canary-on-dev", enabled=False)
        await api.update("titanic-canary-on-dev")
