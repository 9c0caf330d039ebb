"""Heavy status of a deployment (docs/protocol.md, "Heavy status and health"; the rules in docs/deployer.md).

Rules, in order:

* not a STATIC infra → ``UNKNOWN`` (the local deployer does not drive other infra types);
* never successfully updated → ``UNKNOWN``;
* the infra has no API node → ``ERROR``;
* each node is asked (concurrently, short timeout, cached ~1 s) for its services; a node is OK when
  it serves what the last successful update deployed (the service enabled with the same weighted
  versions and, with several, the same strategy; or, for a disabled deployment, the service disabled or absent);
* more failing nodes than ``healthSettings.maxFailing`` (the deployment's when it overrides the
  infra's, else the infra's; default 0) → ``UNHEALTHY``;
* else the settings that reach the nodes (enabled, service id, mapping, endpoint tuning) changed since
  that update → ``OUT_OF_SYNC``;
* else some node failing (within ``maxFailing``) → ``WARNING``; else ``HEALTHY``.

Per-node entries carry ``url``, ``health`` (HEALTHY, OUT_OF_SYNC when it answers but serves something
else, ERROR when it cannot be asked), ``enabled``, ``activeMapping`` and ``error``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from deployer_tui.server.deployer import model, views
from deployer_tui.server.deployer.database import Store
from deployer_tui.server.deployer.nodes import ServiceListCache, describe_exc
from deployer_tui.server.deployer.update import describe_summary, node_serves
from deployer_tui.server.http import json_bytes


@dataclass(frozen=True)
class Basis:
    """What a heavy status needs from the store, read in one go so that it can be memoised (Store.memo)
    until the next write. Shared between requests: never mutated."""

    dep: dict[str, Any]  # the deployment's row
    infra: dict[str, Any] | None  # its infra's row; None when that does not exist
    version: str | None = None  # the version it serves
    tail: bytes = b',"endpoints":[],"version":null}'  # see tail()
    fingerprint: str = ""  # model.deployed_fingerprint of the saved settings
    # url -> the update that took that node of the infra out of the load balancer and could not put it back
    nodes_out: tuple[tuple[str, str], ...] = ()

    def body(self, status: dict[str, Any]) -> bytes:
        """The heavy status JSON: `status` (health, apiNodes, healthMessages) then endpoints and version,
        the same bytes as encoding them all in one dict, with the memoised part encoded once."""
        return json_bytes(status)[:-1] + self.tail


def tail(endpoints: list[dict[str, Any]], version: str | None) -> bytes:
    """The end of a heavy status JSON, after what the nodes say: `,"endpoints":[...],"version":...}`."""
    return b',"endpoints":' + json_bytes(endpoints) + b',"version":' + json_bytes(version) + b"}"


def basis(store: Store, dep_id: str) -> Basis | None:
    """The Basis of one deployment. What deployments share is memoised on its own (their infra's row, the
    JSON of their version's endpoints), and a deployment's row comes from the whole table when a list
    already loaded it in this generation: 500 statuses after a write cost one read of each, not 500.
    None when the deployment does not exist."""
    rows = store.peek(views.DEPLOYMENT_ROWS)
    dep = rows.get(dep_id) if rows is not None else store.get("deployments", dep_id)
    if dep is None:
        return None
    infra_id = dep["doc"]["infraId"]
    infra = store.memo(("infras", infra_id), lambda: store.get("infras", infra_id))
    wanted = views.serving_version(dep["doc"], dep.get("deployed"))
    service_id = dep["doc"]["publishedServiceId"]
    end = store.memo(("heavy-tail", service_id, wanted), lambda: tail(_endpoints(store, service_id, wanted), wanted))
    out = store.memo(("nodes-out", infra_id), lambda: tuple(
        (r["url"], f"update {r['start_ts']} of deployment {r['deployment_id']}") for r in store.nodes_out(infra_id)))
    return Basis(dep, infra, wanted, end, model.deployed_fingerprint(dep["doc"]), out)


def _endpoints(store: Store, service_id: str, version_id: str | None) -> list[dict[str, Any]]:
    """A version's endpoint definitions, each with its test queries."""
    version = store.get_version(service_id, version_id) if version_id else None
    if not version:
        return []
    tq = version["info"].get("testQueries") or {}
    return [{**ep, "testQueries": tq.get(ep["id"], [])} for ep in version["info"].get("config", {}).get("endpoints", [])]


def _msg(severity: str, title: str, message: str, details: str | None = None) -> dict[str, Any]:
    return {"severity": severity, "title": title, "message": message, "details": details}


async def _node_entry(cache: ServiceListCache, node: dict[str, Any], service: str, deployed: dict[str, Any],
                      nodes_out: dict[str, str]) -> dict[str, Any]:
    url = str(node.get("url", "")).rstrip("/")
    entry: dict[str, Any] = {"url": url}
    if url in nodes_out:
        entry.update(health="ERROR", error=f"Out of the load balancer: {nodes_out[url]} set it not alive and "
                                           "has not set it alive again (still running, interrupted, or the node "
                                           "could not be reached); an update that reaches the node puts it back")
        return entry
    try:
        services = await cache.services(url, node.get("adminAPIKey") or "")
    except Exception as exc:
        entry.update(health="ERROR", error=f"Cannot get the node's services: {describe_exc(exc)}")
        return entry
    summary = next((s for s in services if isinstance(s, dict) and s.get("serviceId") == service), None)
    entry["enabled"] = bool(summary and summary.get("enabled"))
    entry["activeMapping"] = (summary or {}).get("activeMapping")
    if node_serves(summary, deployed["enabled"], deployed["entries"], deployed.get("strategy")):
        entry["health"] = "HEALTHY"
    else:
        entry.update(health="OUT_OF_SYNC", error=f"Not serving the deployed state: {describe_summary(summary)}")
    return entry


async def compute(dep_row: dict[str, Any], infra: dict[str, Any], cache: ServiceListCache,
                  fingerprint: str | None = None, nodes_out: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """health, healthMessages and apiNodes of a heavy status (`fingerprint`: of the saved settings, when
    already known; `nodes_out`: Basis.nodes_out)."""
    out = dict(nodes_out)
    dep = dep_row["doc"]
    deployed = dep_row.get("deployed")
    nodes = [n for n in infra.get("apiNodes") or [] if isinstance(n, dict)]
    if infra.get("type") != "STATIC":
        return {"health": "UNKNOWN", "apiNodes": [], "healthMessages": model.info_messages([_msg(
            "WARNING", "Infra type not managed locally",
            f"The local deployer does not deploy to {infra.get('type')} infras; health is not tracked")])}
    if not deployed:
        return {"health": "UNKNOWN", "apiNodes": [{"url": n.get("url"), "health": "UNKNOWN"} for n in nodes],
                "healthMessages": model.info_messages([_msg(
                    "WARNING", "Never deployed", f"Deployment {dep['id']} was never updated successfully: "
                                                  "run an update to deploy it")])}
    if not nodes:
        return {"health": "ERROR", "apiNodes": [], "healthMessages": model.info_messages([_msg(
            "ERROR", "No API node", f"Infra {infra['id']} has no API nodes")])}
    if len(nodes) == 1:  # no task to create: a cached node list answers without suspending
        entries = [await _node_entry(cache, nodes[0], deployed["service"], deployed, out)]
    else:
        entries = await asyncio.gather(*(_node_entry(cache, n, deployed["service"], deployed, out) for n in nodes))
    failing = [e for e in entries if e["health"] != "HEALTHY"]
    limit = model.max_failing(dep, infra)
    messages = [_msg("ERROR" if len(failing) > limit else "WARNING", "API node failing",
                     f"Node {e['url']} is failing", e.get("error")) for e in failing]
    if fingerprint is None:
        fingerprint = model.deployed_fingerprint(dep)
    out_of_sync = fingerprint != deployed.get("fingerprint")
    if len(failing) > limit:
        health = "UNHEALTHY"
    elif out_of_sync:
        health = "OUT_OF_SYNC"
    elif failing:
        health = "WARNING"
    else:
        health = "HEALTHY"
    if out_of_sync:
        messages.append(_msg("WARNING", "Out of sync", f"The settings of deployment {dep['id']} changed since "
                                                       "its last update: run an update to apply them"))
    return {"health": health, "apiNodes": entries, "healthMessages": model.info_messages(messages)}
