"""Routes for deployments: CRUD, statuses, updates, history, OpenAPI and queries (docs/protocol.md, "Deployer routes")."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deployer_tui.server.deployer import health, model, openapi, queries
from deployer_tui.server.deployer.auth import Principal, infra_allows, require, service_allows
from deployer_tui.server.deployer.context import Deployer, found
from deployer_tui.server.deployer.database import Missing, StillEnabled
from deployer_tui.server.deployer.nodes import NodeAdmin, describe_exc
from deployer_tui.server.deployer.routes_catalog import ctx_of, in_use
from deployer_tui.server.deployer.update import REASONS, UpdateJob, record_extras, record_fields
from deployer_tui.server.deployer.views import deployment_light, deployments_light, serving_version
from deployer_tui.server.http import (
    DSSHTTPError,
    bad_request,
    conflict,
    json_bytes_response,
    json_response,
    not_found,
    parse_bool,
    query_json,
    read_json,
    read_json_object,
)

GOVERN_WARNING = "ApplicativeException"


# ---- governance (no Govern here: see docs/deployer.md) -------------------------------------------------
def governance_messages(infra: dict[str, Any], versions: list[str]) -> list[dict[str, Any]]:
    policy = infra.get("governCheckPolicy") or "NO_CHECK"
    if policy == "NO_CHECK" or not versions:
        return []
    severity = "ERROR" if policy == "PREVENT" else "WARNING"
    return [{"severity": severity, "code": "ERR_GOVERN_NOT_AVAILABLE", "title": "No Govern sign-off",
             "message": f"Version {v} has no Govern sign-off: the local deployer has no Dataiku Govern, and infra "
                        f"{infra['id']} has policy {policy}"} for v in versions]


def govern_check(infra: dict[str, Any], versions: list[str], ignore_warnings: bool) -> None:
    messages = governance_messages(infra, versions)
    if not messages:
        return
    if messages[0]["severity"] == "ERROR":
        raise DSSHTTPError(400, f"Deploying to infra {infra['id']!r} is prevented by its Govern policy (PREVENT) and "
                                "the local deployer has no Govern to sign versions off; set the infra's "
                                "governCheckPolicy to WARN or NO_CHECK", error_type=GOVERN_WARNING)
    if not ignore_warnings:
        raise DSSHTTPError(400, f"Infra {infra['id']!r} warns about versions without Govern sign-off "
                                f"({', '.join(versions)}); repeat with ignoreWarnings=true to deploy anyway",
                           error_type=GOVERN_WARNING)


# ---- helpers -----------------------------------------------------------------------------------------
def _deployment(ctx: Deployer, request: Request) -> dict[str, Any]:
    return ctx.row("deployments", request.path_params["deployment_id"], "Deployment")


def _infra_of(ctx: Deployer, dep: dict[str, Any]) -> dict[str, Any]:
    return ctx.row("infras", dep["doc"]["infraId"], "Infra")


def _allow(who: Principal, infra: dict[str, Any], level: str, dep_id: str) -> None:
    verb = {"read": "read", "deploy": "manage"}.get(level, level)
    require(infra_allows(who, infra["doc"], level),
            f"You may not {verb} deployment {dep_id!r} (needs '{level}' on infra {infra['id']!r})")


async def _allowed(request: Request, level: str, *, shared: bool = False
                   ) -> tuple[Deployer, Principal, dict[str, Any], dict[str, Any]]:
    """The context, the caller, the deployment of the path and its infra, once the caller holds `level` on
    it. Refusals come in this order: not authenticated, unknown deployment, unknown infra, not allowed.
    `shared=True`: memoised rows (Deployer.row), for handlers that only read them."""
    ctx = ctx_of(request)
    who = await ctx.who(request)
    dep = ctx.row("deployments", request.path_params["deployment_id"], "Deployment", shared=shared)
    infra = ctx.row("infras", dep["doc"]["infraId"], "Infra", shared=shared)
    _allow(who, infra, level, dep["id"])
    return ctx, who, dep, infra


def _known_versions(ctx: Deployer, service_id: str) -> set[str]:
    return {v["version_id"] for v in ctx.store.list_versions(service_id)}


# ---- CRUD --------------------------------------------------------------------------------------------
async def list_deployments(request: Request) -> Response:
    ctx = ctx_of(request)
    who = await ctx.who(request)
    return json_bytes_response(deployments_light(ctx.store, who))


async def create_deployment(request: Request) -> Response:
    ctx = ctx_of(request)
    who = await ctx.who(request)
    ignore_warnings = parse_bool(request.query_params.get("ignoreWarnings"))
    body = await read_json_object(
        request, "The body must be a JSON object {deploymentId, publishedServiceId, infraId, version}")
    dep_id = model.check_id(body.get("deploymentId"), "deployment id")
    service_id, infra_id, version = body.get("publishedServiceId"), body.get("infraId"), body.get("version")
    if not isinstance(service_id, str) or not isinstance(infra_id, str):
        raise bad_request("publishedServiceId and infraId are required")
    model.check_fields(body, "", {"version": "a string"})
    service = ctx.row("services", service_id, "Service")
    infra = ctx.row("infras", infra_id, "Infra")
    require(infra_allows(who, infra["doc"], "deploy"), f"You may not deploy to infra {infra_id!r}")
    require(service_allows(who, service["doc"], "deploy"), f"You may not deploy service {service_id!r}")
    known = _known_versions(ctx, service_id)
    if version not in known:
        raise bad_request(f"Version {version!r} does not exist in service {service_id!r} "
                          f"(known: {', '.join(sorted(known)) or 'none'})")
    auths = model.check_list_of_objects(body, "authorizationsToQueryThroughDeployer",
                                        {"group": "a string", "queryThroughDeployer": "true or false"})
    model.check_fields(body, "", {"endpointId": "a string"})
    endpoint_id = body.get("endpointId")
    govern_check(infra["doc"], [version], ignore_warnings)
    doc = model.new_deployment(dep_id, service_id, infra_id, version, endpoint_id, auths)
    try:
        await ctx.write(ctx.store.insert_deployment, doc, who.login, version)
    except sqlite3.IntegrityError:
        raise conflict(f"Deployment {dep_id!r} already exists") from None
    except Missing as exc:  # deleted between the checks above and the write
        raise not_found(str(exc)) from None
    return json_response(doc)


async def get_deployment(request: Request) -> Response:
    ctx = ctx_of(request)
    who = await ctx.who(request)
    dep_id = request.path_params["deployment_id"]
    dep, infra, body = found(deployment_light(ctx.store, dep_id), "Deployment", dep_id)
    _allow(who, found(infra, "Infra", dep["doc"]["infraId"]), "read", dep_id)
    return json_bytes_response(body)


async def get_settings(request: Request) -> Response:
    ctx, who, dep, _infra = await _allowed(request, "read", shared=True)
    return json_response(dep["doc"])


async def save_settings(request: Request) -> Response:
    ctx = ctx_of(request)
    who = await ctx.who(request)
    ignore_warnings = parse_bool(request.query_params.get("ignoreWarnings"))
    dep = _deployment(ctx, request)
    infra = _infra_of(ctx, dep)
    _allow(who, infra, "deploy", dep["id"])
    doc = model.check_deployment_settings(await read_json(request), dep["doc"],
                                          _known_versions(ctx, dep["doc"]["publishedServiceId"]))
    old_gens = {e["generation"] for e in model.mapping_entries(dep["doc"]["generationsMapping"])}
    new_gens = [e["generation"] for e in model.mapping_entries(doc["generationsMapping"])]
    govern_check(infra["doc"], [g for g in new_gens if g not in old_gens], ignore_warnings)
    try:
        await ctx.write(ctx.store.replace, "deployments", doc, who.login, new_gens)
    except Missing as exc:  # deleted since the mapping was checked
        raise bad_request(str(exc)) from None
    return Response(status_code=200)


async def delete_deployment(request: Request) -> Response:
    ctx = ctx_of(request)
    who = await ctx.who(request)
    ignore_errors = parse_bool(request.query_params.get("ignorePreDeleteErrors"))
    dep = _deployment(ctx, request)
    infra = _infra_of(ctx, dep)
    _allow(who, infra, "deploy", dep["id"])
    enabled = in_use(f"Deployment {dep['id']!r} is enabled: disable it first (delete with disable_first=True)")
    if dep["doc"].get("enabled", True):
        raise enabled
    # Held until the row is gone: an update sent meanwhile is refused rather than run on a deployment that
    # no longer exists, and a running update makes this delete refused (409, naming its future).
    ctx.claim(dep["id"], "delete")
    try:
        failures = await _remove_from_nodes(ctx, dep, infra)
        if failures and not ignore_errors:
            raise in_use(f"Deployment {dep['id']!r} was not deleted: its service could not be removed from "
                         f"{'; '.join(failures)}. Delete with ignorePreDeleteErrors=true to delete it anyway "
                         f"(the service then stays on that node).")
        try:
            await ctx.write(ctx.store.delete_deployment, dep["id"])
        except StillEnabled:  # enabled again since it was read
            raise enabled from None
        except Missing as exc:
            raise not_found(str(exc)) from None
    finally:
        ctx.release(dep["id"], "delete")
    return Response(status_code=200)


async def _remove_from_nodes(ctx: Deployer, dep: dict[str, Any], infra: dict[str, Any]) -> list[str]:
    """The pre-delete clean-up: the deployment's service leaves every API node of a
    STATIC infra, unless another deployment on that infra serves under the same name. Returns what failed,
    as "<node url>: <why>"."""
    doc = dep["doc"]
    service = model.service_id_on_nodes(doc)
    if infra["doc"].get("type") != "STATIC" or not dep.get("deployed"):
        return []
    others = [d for d in ctx.store.list_where("deployments", "infraId", infra["id"])
              if d["id"] != dep["id"] and model.service_id_on_nodes(d["doc"]) == service]
    if others:
        return []
    nodes = [n for n in infra["doc"].get("apiNodes") or [] if isinstance(n, dict) and n.get("url")]
    assert ctx.http is not None and ctx.cache is not None

    async def one(node: dict[str, Any]) -> str | None:
        try:
            await NodeAdmin(ctx.http, node["url"], node.get("adminAPIKey") or "").delete_service(service)
        except Exception as exc:  # noqa: BLE001 - reported per node
            return f"{node['url']}: {describe_exc(exc)}"
        finally:
            ctx.cache.invalidate(node["url"])
        return None

    return [failure for failure in await asyncio.gather(*(one(n) for n in nodes)) if failure]


# ---- statuses ----------------------------------------------------------------------------------------
async def heavy_status(request: Request) -> Response:
    """What the store says is memoised until the next write (health.Basis); what the nodes say comes
    from the nodes' service lists (ServiceListCache), asked again at least every second."""
    ctx = ctx_of(request)
    who = await ctx.who(request)
    dep_id = request.path_params["deployment_id"]
    basis = ctx.store.memo(("heavy", dep_id), lambda: health.basis(ctx.store, dep_id))
    dep = found(basis, "Deployment", dep_id).dep
    infra = found(basis.infra, "Infra", dep["doc"]["infraId"])
    _allow(who, infra, "read", dep_id)
    assert ctx.cache is not None
    try:
        status = await health.compute(dep, infra["doc"], ctx.cache, basis.fingerprint, basis.nodes_out)
    except Exception as exc:  # status must be answerable even when computing it fails
        status = {"health": "ERROR", "apiNodes": [], "healthMessages": model.info_messages([{
            "severity": "ERROR", "title": "Status failed", "message": f"{type(exc).__name__}: {exc}"}])}
    return json_bytes_response(basis.body(status))


async def governance_status(request: Request) -> Response:
    ctx, who, dep, infra = await _allowed(request, "read", shared=True)
    version = request.query_params.get("version") or ""
    versions = [version] if version else [e["generation"] for e in model.mapping_entries(dep["doc"]["generationsMapping"])]
    return json_response(model.info_messages(governance_messages(infra["doc"], versions)))


# ---- updates -----------------------------------------------------------------------------------------
async def start_update(request: Request) -> Response:
    ctx, who, dep, infra = await _allowed(request, "deploy")
    body = await read_json(request, required=False)
    # The client sends no body; DSS also accepts {"updateMode": "LIGHT"|"FULL", "synchronous": bool}.
    options = body if isinstance(body, dict) else {}
    if body is not None and not isinstance(body, dict):
        raise bad_request('The update body, when given, must be {"updateMode": ..., "synchronous": ...}')
    mode = options.get("updateMode") or "LIGHT"
    if mode not in ("LIGHT", "FULL"):
        raise bad_request("updateMode must be LIGHT or FULL")
    synchronous = options.get("synchronous") is True
    reason = request.query_params.get("reason") or None
    if reason is not None and reason not in REASONS:
        raise bad_request(f"reason must be one of {', '.join(REASONS)}, got {reason!r}")
    # One update at a time: the claim is checked and taken with no await in between (Deployer.claim), and
    # released only when the job ends. A delete of the deployment holds the same claim.
    ctx.claim(dep["id"], "update")
    try:
        start_ts = await ctx.write(ctx.store.start_update, dep["id"], "UPDATE", who.login,
                                   record_extras(dep["doc"], reason))
    except Missing as exc:  # deleted since it was read
        ctx.release(dep["id"], "update")
        raise not_found(str(exc)) from None
    except BaseException:
        ctx.release(dep["id"], "update")
        raise
    assert ctx.http is not None
    job_runner = UpdateJob(ctx.store, ctx.http, dep, infra["doc"], start_ts, mode)

    async def run(job: Any) -> Any:
        try:
            return await job_runner.run(job)
        finally:
            ctx.running_updates.pop(dep["id"], None)
            ctx.release(dep["id"], "update")
            if ctx.cache is not None:
                ctx.cache.invalidate()

    payload = {"action": "update-deployment", "displayName": f"Updating deployment {dep['id']}",
               "targets": [{"objectType": "API_DEPLOYER_DEPLOYMENT", "objectId": dep["id"]}], "extras": {}}
    job = ctx.futures.start(f"Updating deployment {dep['id']}", who.login, payload, run)
    ctx.running_updates[dep["id"]] = job.job_id

    def on_done(_task: Any) -> None:
        if not job_runner.finished:  # cancelled before it ran: nothing else will close the record
            ctx.running_updates.pop(dep["id"], None)
            ctx.release(dep["id"], "update")
            ctx.background(asyncio.to_thread(job_runner.finish_if_never_ran, job))

    assert job.task is not None
    job.task.add_done_callback(on_done)
    if synchronous and job.task is not None:
        await job.task
        status, data = ctx.futures.read(job, peek=False)
        return json_response(data, status=status)
    return json_response(job.response(peek=True))


def _update_json(row: dict[str, Any], full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"startTimestamp": row["start_ts"], "type": row["type"], "status": row["status"],
                           "requester": row["requester"], **record_fields(row.get("extras"))}
    if row.get("end_ts") is not None:
        out["endTimestamp"] = row["end_ts"]
    if full:
        out.setdefault("endTimestamp", None)
        if row.get("result"):
            out["result"] = json.loads(row["result"])
        logs = row.get("logs") or []
        levels = [entry["level"] for entry in logs]
        out["logs"] = {"totalLines": len(logs), "lines": [entry["line"] for entry in logs], "status": levels,
                       "maxLevel": max(levels, default=0)}
    return out


async def list_updates(request: Request) -> Response:
    ctx, who, dep, _infra = await _allowed(request, "read")
    return json_response([_update_json(r, False) for r in ctx.store.list_updates(dep["id"])])


async def get_update(request: Request) -> Response:
    ctx, who, dep, _infra = await _allowed(request, "read")
    raw = request.path_params.get("ts")
    if raw is None:
        row = ctx.store.get_update(dep["id"])
        if row is None:
            raise not_found(f"Deployment {dep['id']!r} has never been updated")
    else:
        try:
            ts = int(raw)
        except ValueError:
            raise bad_request(f"Update id must be a start timestamp (epoch ms), got {raw!r}") from None
        row = ctx.store.get_update(dep["id"], ts)
        if row is None:
            raise not_found(f"Deployment {dep['id']!r} has no update started at {ts}")
    return json_response(_update_json(row, True))


# ---- OpenAPI and queries -----------------------------------------------------------------------------
def _serving(ctx: Deployer, dep: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    wanted = serving_version(dep["doc"], dep.get("deployed"))
    version = ctx.store.get_version(dep["doc"]["publishedServiceId"], wanted) if wanted else None
    if version is None:
        raise not_found(f"Deployment {dep['id']!r} serves no known version")
    return wanted or "", version["info"].get("config") or {}, version["info"].get("testQueries") or {}


async def get_open_api(request: Request) -> Response:
    ctx, who, dep, _infra = await _allowed(request, "read")
    if not dep.get("deployed"):
        raise not_found(f"Deployment {dep['id']!r} was never deployed: it has no OpenAPI document yet")
    version, config, tests = _serving(ctx, dep)
    doc = openapi.document(model.service_id_on_nodes(dep["doc"]), version, config, tests)
    if not doc["paths"]:
        raise not_found(f"No endpoint of version {version} has an OpenAPI description")
    return Response(json.dumps(doc, indent=2), media_type="application/json")


async def _run_queries(ctx: Deployer, dep: dict[str, Any], infra: dict[str, Any], endpoint_id: str | None,
                       given: Any, use_tests: bool) -> Response:
    if infra["doc"].get("type") != "STATIC":
        raise bad_request(f"The local deployer cannot send queries to infra type {infra['doc'].get('type')}")
    version, config, tests = _serving(ctx, dep)
    endpoint = queries.pick_endpoint(config.get("endpoints") or [], endpoint_id)
    if given is None and use_tests:
        given = tests.get(endpoint["id"], [])
        if not given:
            raise bad_request(f"Version {version} has no test queries for endpoint {endpoint['id']!r}")
    query_list = queries.check_queries(given)
    urls = [n.get("url") for n in infra["doc"].get("apiNodes") or [] if isinstance(n, dict) and n.get("url")]
    assert ctx.http is not None
    return json_response(await queries.run(ctx.http, urls, model.service_id_on_nodes(dep["doc"]), endpoint,
                                           model.effective_auth(dep["doc"], config), query_list))


async def run_test_queries(request: Request) -> Response:
    ctx, who, dep, infra = await _allowed(request, "read")
    given = query_json(request, "testQueriesParam")
    return await _run_queries(ctx, dep, infra, request.query_params.get("endpointIdParam") or None, given, True)


async def run_queries(request: Request) -> Response:
    ctx, who, dep, infra = await _allowed(request, "read")
    allowed = {a.get("group") for a in dep["doc"].get("authorizationsToQueryThroughDeployer") or []
               if isinstance(a, dict) and a.get("queryThroughDeployer") is True}
    require(who.is_admin or bool(allowed & set(who.groups)),
            f"You may not query deployment {dep['id']!r} through the deployer: none of your groups is in its "
            "authorizationsToQueryThroughDeployer")
    parse_bool(request.query_params.get("adaptQueryForInfraType"), True)
    given = query_json(request, "queries", required=True)
    return await _run_queries(ctx, dep, infra, request.query_params.get("endpointId") or None, given, False)


DEPLOYMENTS_PATH = "/api-deployer/deployments"
ROUTES = [
    Route(DEPLOYMENTS_PATH, list_deployments, methods=["GET"]),
    Route(DEPLOYMENTS_PATH, create_deployment, methods=["POST"]),
    Route(DEPLOYMENTS_PATH + "/{deployment_id}", get_deployment, methods=["GET"]),
    Route(DEPLOYMENTS_PATH + "/{deployment_id}", delete_deployment, methods=["DELETE"]),
    Route(DEPLOYMENTS_PATH + "/{deployment_id}/status", heavy_status, methods=["GET"]),
    Route(DEPLOYMENTS_PATH + "/{deployment_id}/governance-status", governance_status, methods=["GET"]),
    Route(DEPLOYMENTS_PATH + "/{deployment_id}/settings", get_settings, methods=["GET"]),
    Route(DEPLOYMENTS_PATH + "/{deployment_id}/settings", save_settings, methods=["PUT"]),
    Route(DEPLOYMENTS_PATH + "/{deployment_id}/actions/update", start_update, methods=["POST"]),
    Route(DEPLOYMENTS_PATH + "/{deployment_id}/update", list_updates, methods=["GET"]),
    Route(DEPLOYMENTS_PATH + "/{deployment_id}/update/{ts}", get_update, methods=["GET"]),
    Route(DEPLOYMENTS_PATH + "/{deployment_id}/last-update", get_update, methods=["GET"]),
    Route(DEPLOYMENTS_PATH + "/{deployment_id}/get-open-api", get_open_api, methods=["GET"]),
    Route(DEPLOYMENTS_PATH + "/{deployment_id}/actions/run-test-queries", run_test_queries, methods=["POST"]),
    Route(DEPLOYMENTS_PATH + "/{deployment_id}/actions/run-queries", run_queries, methods=["POST"]),
]
