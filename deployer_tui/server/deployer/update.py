"""The update job of a deployment on a STATIC infra (docs/protocol.md, "What an update does on a STATIC infra"; docs/deployer.md).

For every API node of the infra, in parallel:

1. ``POST /admin/api/services?ignoreIfExists=true`` — the service exists;
2. ``GET  …/generations`` then ``importFromStream`` for each version of the mapping it lacks;
3. ``POST …/generations/{v}/preload`` for each version of the mapping;
4. FULL mode only: ``reset-endpoints-settings``; then the deployment's ``endpointsServerSideConfigs``;
   then the deployment's ``auth`` as the service's ``auth-override`` (PUT), or none (DELETE) when it
   inherits the version's ``config.json``;
5. enabled: ``setMapping`` with the saved mapping (plus explicit ``entries``); disabled: ``disable``;
6. verify with ``GET /admin/api/services`` that the node serves what was asked.

Rolling: in FULL mode, when the effective ``rollingUpdateSettings.waitLoadBalancerTimeout`` is on
(the deployment's when it overrides them, else the infra's), steps 1-3 still run on every node at
once, then steps 4-6 run one node at a time between ``set-not-alive`` + a wait of
``loadBalancerTimeoutMS`` and ``set-alive``.

Each step writes a line to the future's log and to the persisted update record. The result
is ``{nbOKNodes, nbNOKNodes}`` plus InfoMessages. Record status: SUCCESS when every node is
OK, WARNING when some are, FAILED when none is, ABORTED when the future is aborted.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import httpx

from deployer_tui.server.deployer import model
from deployer_tui.server.deployer.database import ERROR, INFO, SUCCESS, WARNING, Store
from deployer_tui.server.deployer.jobs import Job, JobFailed
from deployer_tui.server.deployer.nodes import NodeAdmin, NodeError, describe_exc

# Why an update was started, as the console says it with `?reason=` on actions/update (our server only;
# DSS keeps no such thing, the console's journal does): stored on the record, UPDATE when not said.
REASONS = ("UPDATE", "ROLLBACK", "ROLLFORWARD")


def record_extras(dep: dict[str, Any], reason: str | None) -> dict[str, Any]:
    """What an update record carries beyond DSS's fields: the mapping it deploys (the saved
    generationsMapping when it starts, so that the history says what each update deployed, whatever
    was saved after it) and its reason."""
    return {"deployedMapping": dep.get("generationsMapping"), "deployedEnabled": bool(dep.get("enabled", True)),
            "reason": reason or "UPDATE"}


def record_fields(extras: str | None) -> dict[str, Any]:
    """The record's extras (a JSON text, or None for a record made before they were kept) as fields."""
    if not extras:
        return {}
    value = json.loads(extras)
    return value if isinstance(value, dict) else {}


def entries_key(entries: list[dict[str, Any]]) -> list[tuple[str, float]]:
    return sorted((str(e.get("generation")), round(float(e.get("proba", 0)), 6)) for e in entries)


def node_serves(summary: dict[str, Any] | None, enabled: bool, entries: list[dict[str, Any]],
                strategy: str | None = None) -> bool:
    """Whether a node's ServiceSummaryState matches what the deployment asked for.

    With several versions the dispatch strategy counts too (when known): RANDOM and HASH_BASED
    send the same key to different versions.
    """
    if not enabled:
        return summary is None or not summary.get("enabled")
    if summary is None or not summary.get("enabled"):
        return False
    active = summary.get("activeMapping")
    if not isinstance(active, dict) or entries_key(model.mapping_entries(active)) != entries_key(entries):
        return False
    return strategy is None or len(entries) < 2 or (active.get("strategy") or "RANDOM") == strategy


def describe_summary(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "the service is not on this node"
    if not summary.get("enabled"):
        return "the service is disabled on this node"
    active = summary.get("activeMapping") or {}
    gens = ", ".join(f"{e['generation']} ({e['proba']:g})" for e in model.mapping_entries(active)) or "none"
    return f"the node serves {gens}"


def describe_auth(override: dict[str, Any] | None) -> str:
    """For the update log: never the keys themselves."""
    if override is None:
        return "query auth from the version's config.json"
    if override.get("publicAccess"):
        return "public access (the deployment's auth)"
    return f"query keys of the deployment's auth ({len(override.get('queryKeys') or [])} key(s))"


class UpdateJob:
    def __init__(self, store: Store, http: httpx.AsyncClient, dep_row: dict[str, Any], infra: dict[str, Any],
                 start_ts: int, mode: str) -> None:
        self.store = store
        self.http = http
        self.dep = dep_row["doc"]
        self.infra = infra
        self.start_ts = start_ts
        self.mode = mode
        self.service = model.service_id_on_nodes(self.dep)
        self.entries = model.mapping_entries(self.dep["generationsMapping"])
        self.strategy = self.dep["generationsMapping"].get("strategy") or "RANDOM"
        self.enabled = bool(self.dep.get("enabled", True))
        self.auth: dict[str, Any] | None = None  # the nodes' auth-override; checked when the job starts
        self.done_nodes = 0
        self.finished = False  # the record got its final status
        # Nodes of this infra an earlier rolling update left out of the load balancer: put back once updated.
        self.left_out = {row["url"] for row in store.nodes_out(infra["id"])} if infra.get("id") else set()

    async def _log(self, job: Job, level: int, message: str) -> None:
        line = job.log(level, message)
        await asyncio.to_thread(self.store.append_update_log, self.dep["id"], self.start_ts, level, line)

    async def run(self, job: Job) -> dict[str, Any]:
        dep_id = self.dep["id"]
        try:
            return await self._run(job)
        except asyncio.CancelledError:
            await asyncio.shield(self._finish_aborted(job))
            raise
        except JobFailed as exc:
            await self._log(job, ERROR, str(exc))
            await asyncio.to_thread(self.store.finish_update, dep_id, self.start_ts, "FAILED",
                                    {"error": str(exc)})
            self.finished = True
            raise
        except Exception as exc:
            await self._log(job, ERROR, f"Update failed: {describe_exc(exc)}")
            await asyncio.to_thread(self.store.finish_update, dep_id, self.start_ts, "FAILED",
                                    {"error": describe_exc(exc)})
            self.finished = True
            raise

    async def _finish_aborted(self, job: Job) -> None:
        why = job.abort_reason or "aborted"
        await self._log(job, WARNING, f"Update {why}: nodes may be left between the old and the new state")
        await asyncio.to_thread(self.store.finish_update, self.dep["id"], self.start_ts, "ABORTED")
        self.finished = True

    def finish_if_never_ran(self, job: Job) -> None:
        """The record of an update whose job was cancelled before it started (blocking; run in a thread)."""
        if self.finished:
            return
        line = job.log(WARNING, f"Update {job.abort_reason or 'aborted'} before it started")
        self.store.append_update_log(self.dep["id"], self.start_ts, WARNING, line)
        self.store.finish_update(self.dep["id"], self.start_ts, "ABORTED")
        self.finished = True

    async def _run(self, job: Job) -> dict[str, Any]:
        infra_type = self.infra.get("type")
        if infra_type != "STATIC":
            raise JobFailed(f"The local deployer cannot update deployments on infra type {infra_type} "
                            f"(infra {self.infra['id']!r}): only STATIC infras are supported")
        nodes = [n for n in self.infra.get("apiNodes") or [] if isinstance(n, dict)]
        if not nodes:
            raise JobFailed(f"Infra {self.infra['id']!r} has no API nodes: add one to its settings (apiNodes)")
        try:
            self.auth = model.auth_override(self.dep)
        except ValueError as exc:  # refused before any node is touched: nothing half-applied
            raise JobFailed(f"Deployment {self.dep['id']!r}: {exc}") from None
        job.set_progress("Updating API nodes", 0, len(nodes))
        versions = ", ".join(f"{e['generation']} ({e['proba']:g})" for e in self.entries)
        what = f"activate {versions}" if self.enabled else "disable the service"
        await self._log(job, INFO, f"Updating deployment {self.dep['id']} ({self.mode} mode) on infra "
                                   f"{self.infra['id']}: {what} as service {self.service} on {len(nodes)} API node(s)")
        rolling = self._rolling_timeout_ms()
        if rolling is None:
            outcomes = await asyncio.gather(*(self._node(job, n, len(nodes), (self._prepare, self._deploy))
                                              for n in nodes))
        else:
            # Rolling (FULL mode with waitLoadBalancerTimeout): prepare everywhere at once, then take
            # the nodes out of the load balancer one at a time to switch them.
            await self._log(job, INFO, f"Rolling update: one node at a time, {rolling} ms for the load balancer")
            prepared = await asyncio.gather(*(self._node(job, n, len(nodes), (self._prepare,), count=False)
                                              for n in nodes))
            outcomes = []
            for node, (url, err) in zip(nodes, prepared, strict=True):
                if err is None:
                    outcomes.append(await self._node(job, node, len(nodes),
                                                      (functools.partial(self._rolling_deploy, node=node),)))
                else:
                    outcomes.append((url, err))
                    self._count(job, len(nodes))
        ok = [url for url, err in outcomes if err is None]
        failed = [(url, err) for url, err in outcomes if err is not None]
        messages = [{"severity": "ERROR", "code": "ERR_APIDEPLOYER_NODE_UPDATE_FAILED",
                     "title": "API node update failed", "message": f"{url}: {err}", "details": err}
                    for url, err in failed]
        status = "SUCCESS" if not failed else ("WARNING" if ok else "FAILED")
        if status == "SUCCESS":
            messages.append({"severity": "SUCCESS", "title": "Update done",
                             "message": f"Deployment {self.dep['id']} updated on {len(ok)} API node(s)"})
        result = {"nbOKNodes": len(ok), "nbNOKNodes": len(failed), **model.info_messages(messages)}
        level = {"SUCCESS": SUCCESS, "WARNING": WARNING, "FAILED": ERROR}[status]
        await self._log(job, level, f"Update finished: {len(ok)} API node(s) OK, {len(failed)} failed")
        deployed = None
        if ok:
            deployed = {"fingerprint": model.deployed_fingerprint(self.dep), "enabled": self.enabled,
                        "service": self.service, "entries": self.entries, "strategy": self.strategy,
                        "updateStart": self.start_ts}
        await asyncio.to_thread(self.store.finish_update, self.dep["id"], self.start_ts, status, result, deployed)
        self.finished = True
        return result

    def _rolling_timeout_ms(self) -> int | None:
        if self.mode != "FULL" or not self.enabled:
            return None
        source = self.dep if (self.dep.get("overrideSettings") or {}).get("rollingUpdateSettings") else self.infra
        rolling = source.get("rollingUpdateSettings") or {}
        if not rolling.get("waitLoadBalancerTimeout"):
            return None
        timeout = rolling.get("loadBalancerTimeoutMS", 10000)
        return timeout if isinstance(timeout, int) and not isinstance(timeout, bool) and timeout >= 0 else 10000

    def _count(self, job: Job, total: int) -> None:
        self.done_nodes += 1
        job.set_progress("Updating API nodes", self.done_nodes, total)

    async def _node(self, job: Job, node: dict[str, Any], total: int, phases: tuple, count: bool = True
                    ) -> tuple[str, str | None]:
        """Run `phases` on one node; the outcome is (url, None) or (url, what failed and why)."""
        url = str(node.get("url", "")).rstrip("/")
        admin = NodeAdmin(self.http, url, node.get("adminAPIKey") or "")
        step = ["connecting"]
        try:
            for phase in phases:
                await phase(job, admin, url, step)
            if url in self.left_out and self._deploy in phases:  # rolling ones set it alive themselves
                await self._set_alive_again(job, admin, url)
            return url, None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason = f"{step[0]}: {describe_exc(exc)}"
            await self._log(job, ERROR, f"[{url}] failed while {reason}")
            return url, reason
        finally:
            if count:
                self._count(job, total)

    async def _prepare(self, job: Job, admin: NodeAdmin, url: str, step: list[str]) -> None:
        """The service exists on the node with every version of the mapping imported and preloaded."""
        if not self.enabled:
            return
        step[0] = "creating the service"
        await admin.create_service(self.service)
        await self._log(job, INFO, f"[{url}] service {self.service} is on the node")
        step[0] = "listing generations"
        present = set(await admin.generations(self.service))
        for entry in self.entries:
            gen = entry["generation"]
            if gen in present:
                await self._log(job, INFO, f"[{url}] version {gen} is already on the node")
                continue
            step[0] = f"importing version {gen}"
            path = self.store.version_path(self.dep["publishedServiceId"], gen)
            if not path.is_file():
                raise JobFailed(f"the package of version {gen} is missing from the deployer")
            try:
                await admin.import_stream(self.service, path)
            except NodeError:
                # Another update (same service on this node) may have imported it meanwhile.
                if gen not in await admin.generations(self.service):
                    raise
                await self._log(job, INFO, f"[{url}] version {gen} was imported meanwhile")
                continue
            await self._log(job, INFO, f"[{url}] imported version {gen}")
        for entry in self.entries:
            step[0] = f"preloading version {entry['generation']}"
            await admin.preload(self.service, entry["generation"])
        await self._log(job, INFO, f"[{url}] preloaded {', '.join(e['generation'] for e in self.entries)}")

    async def _deploy(self, job: Job, admin: NodeAdmin, url: str, step: list[str]) -> None:
        """Switch the node to the mapping (or disable the service), then check what it serves."""
        if self.enabled:
            step[0] = "applying endpoint settings"
            await self._tuning(job, admin, url)
            step[0] = "applying the deployment's auth"
            await admin.set_auth_override(self.service, self.auth)
            await self._log(job, INFO, f"[{url}] {describe_auth(self.auth)}")
            step[0] = "activating the mapping"
            await admin.set_mapping(self.service, model.node_mapping(self.dep["generationsMapping"]))
            await self._log(job, INFO, f"[{url}] activated the mapping")
        else:
            step[0] = "listing services"
            listed = {s.get("serviceId") for s in await admin.list_services()}
            if self.service in listed:
                step[0] = "disabling the service"
                await admin.disable(self.service)
                await self._log(job, INFO, f"[{url}] disabled the service")
            else:
                await self._log(job, INFO, f"[{url}] the service is not on the node: nothing to disable")
        step[0] = "verifying"
        summaries = {s.get("serviceId"): s for s in await admin.list_services()}
        summary = summaries.get(self.service)
        if not node_serves(summary, self.enabled, self.entries, self.strategy):
            raise JobFailed(f"verification failed: {describe_summary(summary)}")
        await self._log(job, SUCCESS, f"[{url}] node is up to date")

    async def _rolling_deploy(self, job: Job, admin: NodeAdmin, url: str, step: list[str], *,
                              node: dict[str, Any] | None = None) -> None:
        wait_ms = self._rolling_timeout_ms() or 0
        step[0] = "taking the node out of the load balancer"
        # Recorded before the node is set not alive: if the deployer dies before it is set alive again,
        # the next start finds the record and puts the node back (Deployer.restore_nodes).
        local = (node or {}).get(model.LOCAL_NODE_KEY)
        line = job.log(INFO, f"[{url}] taking the node out of the load balancer")
        await asyncio.to_thread(self.store.mark_node_out, self.infra["id"], url,
                                local if isinstance(local, int) and not isinstance(local, bool) else None,
                                self.dep["id"], self.start_ts, INFO, line)
        try:
            await admin.set_alive(False)
            await self._log(job, INFO, f"[{url}] set not alive; waiting {wait_ms} ms for the load balancer")
            await asyncio.sleep(wait_ms / 1000)
            await self._deploy(job, admin, url, step)
        finally:
            # Back into the load balancer even when the switch failed: it still serves something.
            await asyncio.shield(self._set_alive_again(job, admin, url))

    async def _set_alive_again(self, job: Job, admin: NodeAdmin, url: str) -> None:
        try:
            await admin.set_alive(True)
        except Exception as exc:
            # The record stays: the heavy status reports the node as out of the load balancer.
            await self._log(job, ERROR, f"[{url}] could not be set alive again: {describe_exc(exc)}")
            return
        line = job.log(INFO, f"[{url}] set alive")
        await asyncio.to_thread(self.store.clear_node_out, self.infra["id"], url, self.dep["id"], self.start_ts,
                                INFO, line)
        self.left_out.discard(url)

    async def _tuning(self, job: Job, admin: NodeAdmin, url: str) -> None:
        if self.mode == "FULL":
            await admin.reset_endpoint_settings(self.service)
            await self._log(job, INFO, f"[{url}] reset endpoint settings")
        for item in self.dep.get("endpointsServerSideConfigs") or []:
            if isinstance(item, dict) and item.get("endpointId") and isinstance(item.get("config"), dict):
                await admin.set_endpoint_settings(self.service, item["endpointId"], item["config"])
                await self._log(job, INFO, f"[{url}] applied settings of endpoint {item['endpointId']}")
