"""Light statuses (docs/protocol.md, "Light statuses and settings"): computed views of the stored documents,
filtered by what the caller may read.

Deployment light statuses are what every list refresh and every `get_status()` asks for, so they are
kept encoded (Store.memo) until the next write; who may read which is still decided per request."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from deployer_tui.server.deployer import model
from deployer_tui.server.deployer.auth import Principal, infra_allows, service_allows
from deployer_tui.server.deployer.database import Store
from deployer_tui.server.http import json_bytes


class Views:
    """Lookups for one request, each table read at most once: lists load a table in one query,
    single statuses read only the rows they show."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._versions: dict[str, list[dict[str, Any]]] = {}
        self._one: dict[tuple[str, str], dict[str, Any] | None] = {}

    @cached_property
    def infras(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in self.store.list("infras")}

    @cached_property
    def services(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in self.store.list("services")}

    @cached_property
    def deployments(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in self.store.list("deployments")}

    def _get(self, table: str, doc_id: str) -> dict[str, Any] | None:
        loaded = self.__dict__.get(table)
        if loaded is not None:
            return loaded.get(doc_id)
        if (table, doc_id) not in self._one:
            self._one[(table, doc_id)] = self.store.get(table, doc_id)
        return self._one[(table, doc_id)]

    def infra(self, infra_id: str) -> dict[str, Any] | None:
        return self._get("infras", infra_id)

    def service(self, service_id: str) -> dict[str, Any] | None:
        return self._get("services", service_id)

    def deployments_where(self, field: str, value: str) -> list[dict[str, Any]]:
        loaded = self.__dict__.get("deployments")
        if loaded is not None:
            return [d for d in loaded.values() if d["doc"].get(field) == value]
        return self.store.list_where("deployments", field, value)

    def versions(self, service_id: str) -> list[dict[str, Any]]:
        if service_id not in self._versions:
            self._versions[service_id] = self.store.list_versions(service_id)
        return self._versions[service_id]

    def can_read_deployment(self, who: Principal, dep: dict[str, Any]) -> bool:
        infra = self.infra(dep["doc"]["infraId"])
        return infra is not None and infra_allows(who, infra["doc"], "read")

    def infra_status(self, who: Principal, row: dict[str, Any]) -> dict[str, Any]:
        deployments = [model.deployment_basic_info(d) for d in self.deployments_where("infraId", row["id"])]
        return {"infraBasicInfo": model.infra_basic_info(row), "deployments": deployments,
                "isAdmin": infra_allows(who, row["doc"], "admin"),
                "canDeploy": infra_allows(who, row["doc"], "deploy")}

    def service_status(self, who: Principal, row: dict[str, Any]) -> dict[str, Any]:
        deps = [d for d in self.deployments_where("publishedServiceId", row["id"]) if self.can_read_deployment(who, d)]
        infra_ids = sorted({d["doc"]["infraId"] for d in deps})
        return {"serviceBasicInfo": model.service_basic_info(row),
                "packages": [model.package_entry(v) for v in self.versions(row["id"])],
                "deployments": [model.deployment_basic_info(d) for d in deps],
                "infras": [model.infra_basic_info(i) for i in map(self.infra, infra_ids) if i is not None],
                "canDeploy": service_allows(who, row["doc"], "deploy"),
                "canWrite": service_allows(who, row["doc"], "write"),
                "isAdmin": service_allows(who, row["doc"], "admin")}

    def deployment_status(self, row: dict[str, Any]) -> dict[str, Any]:
        doc = row["doc"]
        infra = self.infra(doc["infraId"])
        service = self.service(doc["publishedServiceId"])
        versions = self.versions(doc["publishedServiceId"])
        config = active_config(doc, row.get("deployed"), versions)
        public, keys = model.effective_auth(doc, config)
        return {"deploymentBasicInfo": model.deployment_basic_info(row),
                "infraBasicInfo": model.infra_basic_info(infra) if infra else {"id": doc["infraId"]},
                "serviceBasicInfo": model.service_basic_info(service) if service else {"id": doc["publishedServiceId"]},
                "packages": [model.package_entry(v) for v in versions],
                "publicAccess": public, "apiKeys": keys or [],
                "neverEverDeployed": not row.get("deployed")}


def serving_version(doc: dict[str, Any], deployed: dict[str, Any] | None) -> str | None:
    """The version a deployment serves: the heaviest of the deployed mapping, else of the saved one."""
    entries = (deployed or {}).get("entries") or model.mapping_entries(doc.get("generationsMapping") or {})
    if not entries:
        return None
    return max(entries, key=lambda e: e.get("proba", 0)).get("generation")


def active_config(doc: dict[str, Any], deployed: dict[str, Any] | None,
                  versions: list[dict[str, Any]]) -> dict[str, Any]:
    wanted = serving_version(doc, deployed)
    for v in versions:
        if v["version_id"] == wanted:
            return v["info"].get("config") or {}
    return {}


def deployment_light(store: Store, dep_id: str) -> tuple[dict[str, Any], dict[str, Any] | None, bytes] | None:
    """(deployment row, its infra's row or None, its light status as JSON bytes), memoised until the next
    write; None when the deployment does not exist. Rows are shared: never mutate them."""

    def build() -> tuple[dict[str, Any], dict[str, Any] | None, bytes] | None:
        views = Views(store)
        row = store.get("deployments", dep_id)
        if row is None:
            return None
        return row, views.infra(row["doc"]["infraId"]), json_bytes(views.deployment_status(row))

    return store.memo(("light", dep_id), build)


DEPLOYMENT_ROWS = "deployment-rows"  # Store.memo key: every deployment's row by id, ordered by id


def deployments_light(store: Store, who: Principal) -> bytes:
    """The JSON list of the light statuses of the deployments `who` may read, ordered by id."""

    def build() -> tuple[dict[str, dict[str, Any]], list[tuple[str, bytes]]]:
        views = Views(store)
        # Memoised on its own: heavy statuses asked after a list read their rows from it (health.basis).
        rows = store.memo(DEPLOYMENT_ROWS, lambda: {r["id"]: r for r in store.list("deployments")})
        infras = {infra_id: row["doc"] for infra_id, row in views.infras.items()}
        return infras, [(row["doc"]["infraId"], json_bytes(views.deployment_status(row))) for row in rows.values()]

    infras, items = store.memo("light-list", build)
    readable = {infra_id for infra_id, doc in infras.items() if infra_allows(who, doc, "read")}
    return b"[" + b",".join(body for infra_id, body in items if infra_id in readable) + b"]"
