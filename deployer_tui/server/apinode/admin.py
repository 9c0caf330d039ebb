"""The admin API (`/admin/api/...`, protocol.md §5), for the deployer and `APINodeAdminClient`.

Every route needs an admin key (Basic key-as-username, Basic password, or Bearer). Void actions
answer 200 with an empty body. `GET /admin/api/services` returns, per service:

    {"serviceId": "fraud", "enabled": true,
     "activeMapping": {"mode": "SINGLE_GENERATION", "generation": "v3",
                       "entries": [{"generation": "v3", "proba": 1.0}]},
     "startAbortedReason": null}

`activeMapping` is the mapping last accepted by `setMapping`/`switchTo`/`switchToNewest`, in the
normalized form documented in `mapping.py` (null before the first one; kept while disabled).
Compare it with a deployment's `generationsMapping` through `mapping.same_mapping`.

Choices where DSS is not documented (protocol.md INFERRED): `setMapping` starts the workers of
every newly mapped generation and waits for them; if any endpoint's code does not load it
answers 400 with the Python error and changes nothing. Deleting a generation of the active
mapping is refused (409). Deleting the last admin key is refused (400). Endpoint settings accept,
besides DSS's `pool` and `sql`, `executionTimeoutMs` (default 30000): how long one query may run
before its worker is killed. `GET .../endpoints/{ep}/settings` reads them back. `GET .../mapping`
of a service never mapped answers `{"entries": []}`. `switchToNewest` picks the generation with the
latest `tag.json` `createdOn` (ties: the greatest id). `DELETE /admin/api/services-clean-unused`
deletes disabled services and generations neither mapped nor mounted, and answers
`{"deletedServices": [ids], "deletedGenerations": [{serviceId, generationId}]}`. Code-env and
model-cache routes answer 400: endpoint code runs in the node's own Python environment.
`GET|PUT|DELETE …/services/{id}/auth-override` is our own extension: the deployer sets who may query a
service from the deployment's `auth` (`{"publicAccess", "queryKeys"}`), over every version's config.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from deployer_tui.core.package import PackageError, build_package, extract_package, validate_id
from deployer_tui.server.apinode import mapping as mappings
from deployer_tui.server.apinode.metrics import prometheus
from deployer_tui.server.apinode.node_files import new_key_record
from deployer_tui.server.apinode.pool import check_settings
from deployer_tui.server.apinode.runtime import MountError, Node, ServiceRuntime
from deployer_tui.server.http import (
    NOT_AUTHENTICATED,
    DSSHTTPError,
    bad_request,
    conflict,
    extract_api_key,
    json_response,
    not_found,
    parse_bool,
    read_json,
)

MAX_UPLOAD_BYTES = 1024 * 1024 * 1024


def node_of(request: Request) -> Node:
    return request.app.state.node


def ok() -> Response:
    return Response(status_code=200)


def require_admin(request: Request) -> None:
    key = extract_api_key(request)
    if key is None:
        raise DSSHTTPError(401, "API Key not provided", error_type=NOT_AUTHENTICATED, code="no-api-key")
    keys = request.app.state.admin_keys
    if not any(hmac.compare_digest(key.encode(), k.encode()) for k in keys):
        raise DSSHTTPError(401, "Unknown API key", error_type=NOT_AUTHENTICATED, code="unknown-api-key")


def reload_keys(request: Request) -> None:
    request.app.state.admin_keys = [k["key"] for k in node_of(request).store.admin_keys() if k.get("key")]


def service_of(request: Request) -> ServiceRuntime:
    service_id = request.path_params["service"]
    service = node_of(request).services.get(service_id)
    if service is None:
        raise not_found(f"Service does not exist: {service_id}")
    return service


@contextlib.asynccontextmanager
async def locked(node: Node, service: ServiceRuntime) -> AsyncIterator[None]:
    """Hold the service's lock; 404 if the service was deleted while we waited for it."""
    async with service.lock:
        if node.services.get(service.id) is not service:
            raise not_found(f"Service does not exist: {service.id}")
        yield


@contextlib.asynccontextmanager
async def locked_service(request: Request) -> AsyncIterator[tuple[Node, ServiceRuntime]]:
    """The node and the service of the path, its lock held (404 if unknown, or deleted while we waited)."""
    node = node_of(request)
    service = service_of(request)
    async with locked(node, service):
        yield node, service


def _generation_on_disk(request: Request, node: Node, service: ServiceRuntime) -> str:
    generation = request.path_params["generation"]
    if generation not in node.store.generation_ids(service.id):
        raise not_found(f"Service {service.id} has no generation {generation}")
    return generation


def admin(handler: Any) -> Any:
    async def wrapped(request: Request) -> Response:
        require_admin(request)
        return await handler(request)

    wrapped.__name__ = handler.__name__
    return wrapped


# ---------------------------------------------------------------- services


@admin
async def list_services(request: Request) -> Response:
    node = node_of(request)
    return json_response([s.summary() for _, s in sorted(node.services.items())])


@admin
async def create_service(request: Request) -> Response:
    node = node_of(request)
    ignore = parse_bool(request.query_params.get("ignoreIfExists"))
    body = await read_json(request, required=False, what="service creation request")
    service_id = body.get("serviceId") if isinstance(body, dict) else None
    if not service_id:
        raise bad_request("No service id")
    try:
        validate_id(service_id, "service id")
    except PackageError as exc:
        raise bad_request(str(exc)) from None
    if service_id in node.services:
        if ignore:
            return ok()
        raise conflict(f"Service already exists: {service_id}")
    node.store.create_service(service_id)
    node.services[service_id] = ServiceRuntime(service_id, node.store.service_state(service_id))
    return ok()


@admin
async def delete_service(request: Request) -> Response:
    async with locked_service(request) as (node, service):
        await asyncio.to_thread(node.store.delete_service, service.id)  # first: if it fails, nothing changed
        node.services.pop(service.id, None)
        node.switch(service, {})
        service.enabled = False
        node.metrics.forget_service(service.id)
    return ok()


def save_state(node: Node, service: ServiceRuntime) -> None:
    node.store.save_service_state(service.id, {"enabled": service.enabled, "activeMapping": service.mapping})


async def apply_mapping(node: Node, service: ServiceRuntime, doc: Any) -> None:
    """Validate, mount (workers up), persist, then switch in one step; nothing changes on failure."""
    try:
        mapping = mappings.normalize(doc)
    except mappings.MappingError as exc:
        raise bad_request(str(exc)) from None
    on_disk = set(node.store.generation_ids(service.id))
    missing = [g for g in mappings.generations(mapping) if g not in on_disk]
    if missing:
        raise bad_request(f"Service {service.id} has no generation {', '.join(missing)} "
                          f"(available: {', '.join(sorted(on_disk)) or 'none'})")
    try:
        gens = await node.mount(service, mappings.generations(mapping))
    except MountError as exc:
        raise bad_request(str(exc)) from None
    node.store.save_service_state(service.id, {"enabled": True, "activeMapping": mapping})
    service.mapping, service.enabled, service.start_aborted_reason = mapping, True, None
    node.switch(service, gens)


@admin
async def set_mapping(request: Request) -> Response:
    service = service_of(request)
    body = await read_json(request, what="generations mapping")
    async with locked(node_of(request), service):
        await apply_mapping(node_of(request), service, body)
    return ok()


@admin
async def switch_to(request: Request) -> Response:
    async with locked_service(request) as (node, service):
        await apply_mapping(node, service, {"mode": "SINGLE_GENERATION", "generation": request.path_params["generation"]})
    return ok()


@admin
async def switch_to_newest(request: Request) -> Response:
    async with locked_service(request) as (node, service):
        gens = node.store.generation_ids(service.id)
        if not gens:
            raise bad_request(f"Service {service.id} has no generation to switch to")
        newest = max(gens, key=lambda g: (node.store.generation_tag(service.id, g).get("createdOn") or 0, g))
        await apply_mapping(node, service, {"mode": "SINGLE_GENERATION", "generation": newest})
    return json_response({"switchedToGeneration": newest})


@admin
async def get_mapping(request: Request) -> Response:
    service = service_of(request)
    return json_response(service.mapping or {"entries": []})


@admin
async def enable(request: Request) -> Response:
    async with locked_service(request) as (node, service):
        if not service.mapping:
            raise bad_request("Cannot enable a service without a generations mapping")
        if not service.enabled:
            await apply_mapping(node, service, service.mapping)
    return ok()


@admin
async def disable(request: Request) -> Response:
    async with locked_service(request) as (node, service):
        service.enabled = False
        save_state(node, service)
        node.switch(service, {})
    return ok()


def _alive_flag(flag_of: Callable[[Request], Path], alive: bool) -> Any:
    """setAlive / setNotAlive: the flag file exists while the node or service is marked not alive."""
    @admin
    async def handler(request: Request) -> Response:
        flag = flag_of(request)
        if alive:
            flag.unlink(missing_ok=True)
        else:
            flag.touch()
        return ok()

    return handler


def _service_flag(request: Request) -> Path:
    return node_of(request).store.service_flag(service_of(request).id)


def _node_flag(request: Request) -> Path:
    return node_of(request).store.node_flag


# ---------------------------------------------------------------- endpoint settings and stats


@admin
async def endpoint_settings(request: Request) -> Response:
    node = node_of(request)
    service = service_of(request)
    endpoint_id = request.path_params["endpoint"]
    try:
        validate_id(endpoint_id, "endpoint id")
    except PackageError as exc:
        raise bad_request(str(exc)) from None
    if request.method == "GET":
        return json_response(node.store.endpoint_settings(service.id, endpoint_id) or {})
    body = await read_json(request, what="endpoint settings")
    try:
        check_settings(body)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    node.store.save_endpoint_settings(service.id, endpoint_id, body)
    node.apply_settings(service.id)
    return ok()


def check_auth_override(body: Any) -> dict[str, Any]:
    """`{"publicAccess": bool, "queryKeys": [{"key": str, ...}]}`; other keys of each entry are kept."""
    if not isinstance(body, dict) or not isinstance(body.get("publicAccess"), bool):
        raise bad_request("An auth override is an object {\"publicAccess\": true|false, \"queryKeys\": [...]}")
    keys = body.get("queryKeys") or []
    if not isinstance(keys, list) or any(not isinstance(k, dict) or not isinstance(k.get("key"), str) or not k["key"]
                                         for k in keys):
        raise bad_request("queryKeys must be a list of objects each with a non-empty string \"key\"")
    if not body["publicAccess"] and not keys:
        raise bad_request("An auth override that is not public needs at least one query key")
    return {"publicAccess": body["publicAccess"], "queryKeys": keys}


@admin
async def auth_override(request: Request) -> Response:
    """Who may query the service, set by the deployer from the deployment's `auth` (an extension of the
    admin API: DSS rewrites the package instead). GET shows it (null: each version's config.json decides),
    PUT sets it, DELETE removes it."""
    if request.method == "GET":
        return JSONResponse(service_of(request).auth_override)  # null, not 204, when there is none
    body = None if request.method == "DELETE" else check_auth_override(await read_json(request, what="auth override"))
    async with locked_service(request) as (node, service):
        node.store.save_auth_override(service.id, body)
        service.auth_override = body
        service.refresh_auth()
    return ok()


@admin
async def reset_endpoint_settings(request: Request) -> Response:
    node = node_of(request)
    service = service_of(request)
    node.store.reset_endpoint_settings(service.id)
    node.apply_settings(service.id)
    return ok()


@admin
async def service_stats(request: Request) -> Response:
    service = service_of(request)
    return json_response(node_of(request).metrics.service_stats(service.id))


@admin
async def metrics(request: Request) -> Response:
    return json_response(node_of(request).metrics.registry())


@admin
async def metrics_prometheus(request: Request) -> Response:
    return PlainTextResponse(prometheus(node_of(request).metrics), media_type="text/plain; version=0.0.4")


@admin
async def not_managed_here(request: Request) -> Response:
    raise bad_request("Code environments and model caches are not managed by the local API node: endpoint code "
                      "runs with the node's own Python environment")


# ---------------------------------------------------------------- generations


@admin
async def list_generations(request: Request) -> Response:
    node = node_of(request)
    service = service_of(request)
    probas = {e["generation"]: e["proba"] for e in (service.mapping or {}).get("entries") or []}
    out = []
    for generation in node.store.generation_ids(service.id):
        tag = node.store.generation_tag(service.id, generation)
        out.append({**tag, "generationId": generation, "createdOn": tag.get("createdOn", 0),
                    "mounted": generation in service.gens, "mapped": probas.get(generation, 0.0)})
    out.sort(key=lambda g: (g["createdOn"], g["generationId"]))
    return json_response({"generations": out})


def check_lookup_resources(folder: Path, config: dict[str, Any]) -> None:
    """Lookup endpoints and prediction enrichments must find their bundled CSVs in the package."""
    for ep in config.get("endpoints") or []:
        specs = ep.get("enrichMapping") or []
        if ep.get("type") == "DATASETS_LOOKUP":
            specs = ep.get("lookups")
            if not isinstance(specs, list) or not specs:
                raise PackageError(f"Lookup endpoint {ep['id']!r} must list its 'lookups'")
        if not isinstance(specs, list):
            raise PackageError(f"Endpoint {ep['id']!r}: enrichMapping must be a list")
        for spec in specs:
            resource = (spec.get("lookupResource") or {}) if isinstance(spec, dict) else {}
            resource_id = resource.get("resourceId") if isinstance(resource, dict) else None
            if not resource_id:
                raise PackageError(f"Endpoint {ep['id']!r}: each lookup needs lookupResource.resourceId")
            if not any((folder / "datasets" / str(resource_id)).glob("*.csv")):
                raise PackageError(f"Endpoint {ep['id']!r} reads dataset {resource_id!r}, but the package "
                                   f"has no datasets/{resource_id}/*.csv")


def install_generation(node: Node, service_id: str, archive: Path) -> str:
    """Check and unpack a package into services/<svc>/gens/<generation> (blocking; run in a thread)."""
    staging = node.store.tmp_dir / f"import-{uuid.uuid4().hex}"
    try:
        info = extract_package(archive, staging, served_only=True)
        check_lookup_resources(staging, info.config)
        dest = node.store.generation_dir(service_id, info.version_id)
        if dest.exists():
            raise conflict(f"Generation {info.version_id} already exists on service {service_id}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, dest)
    except PackageError as exc:
        raise bad_request(f"Invalid version package: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return info.version_id


async def _install(request: Request, archive: Path) -> Response:
    async with locked_service(request) as (node, service):
        await asyncio.to_thread(install_generation, node, service.id, archive)
    return ok()


@admin
async def import_from_stream(request: Request) -> Response:
    node = node_of(request)
    service_of(request)
    try:
        form = await request.form(max_files=4, max_fields=16, max_part_size=MAX_UPLOAD_BYTES)
    except Exception as exc:  # noqa: BLE001 - malformed multipart of any kind
        raise bad_request(f"Expected a multipart upload with the package in part 'file': {exc}") from None
    part = form.get("file")
    if part is None:
        raise bad_request("Expected a multipart upload with the package zip in part 'file'")
    archive = node.store.tmp_dir / f"upload-{uuid.uuid4().hex}.zip"
    try:
        if isinstance(part, UploadFile):
            await part.seek(0)
            with open(archive, "wb") as out:
                while chunk := await part.read(1024 * 1024):
                    out.write(chunk)
        else:
            archive.write_bytes(part.encode("utf-8", "surrogateescape"))
        await form.close()
        return await _install(request, archive)
    finally:
        archive.unlink(missing_ok=True)


@admin
async def import_from_archive(request: Request) -> Response:
    path = request.query_params.get("filePath")
    if not path:
        raise bad_request("Missing parameter filePath")
    if not Path(path).is_file():
        raise bad_request(f"No file at {path}")
    return await _install(request, Path(path))


@admin
async def import_from_directory(request: Request) -> Response:
    node = node_of(request)
    path = request.query_params.get("dirPath")
    if not path:
        raise bad_request("Missing parameter dirPath")
    archive = node.store.tmp_dir / f"dir-{uuid.uuid4().hex}.zip"
    try:
        try:
            await asyncio.to_thread(build_package, path, archive)
        except PackageError as exc:
            raise bad_request(f"Invalid version package folder: {exc}") from None
        return await _install(request, archive)
    finally:
        archive.unlink(missing_ok=True)


@admin
async def preload(request: Request) -> Response:
    async with locked_service(request) as (node, service):
        generation = _generation_on_disk(request, node, service)
        try:
            gens = await node.mount(service, [generation])
        except MountError as exc:
            raise bad_request(str(exc)) from None
        if generation not in service.gens:
            node.switch(service, {**service.gens, **gens})
    return ok()


@admin
async def delete_generation(request: Request) -> Response:
    async with locked_service(request) as (node, service):
        generation = _generation_on_disk(request, node, service)
        if generation in mappings.generations(service.mapping):
            raise conflict(f"Generation {generation} is in the mapping of service {service.id}; "
                           "switch to another generation first")
        if generation in service.gens:
            node.switch(service, {g: r for g, r in service.gens.items() if g != generation})
        await asyncio.to_thread(node.store.delete_generation, service.id, generation)
    return ok()


@admin
async def clean_unused(request: Request) -> Response:
    node = node_of(request)
    deleted_services, deleted_generations = [], []
    for service_id, service in sorted(node.services.items()):
        async with service.lock:
            if node.services.get(service_id) is not service:
                continue  # deleted meanwhile
            if not service.enabled:
                await asyncio.to_thread(node.store.delete_service, service_id)
                node.services.pop(service_id, None)
                node.switch(service, {})
                node.metrics.forget_service(service_id)
                deleted_services.append(service_id)
                continue
            used = set(mappings.generations(service.mapping)) | set(service.gens)
            for generation in node.store.generation_ids(service_id):
                if generation not in used:
                    await asyncio.to_thread(node.store.delete_generation, service_id, generation)
                    deleted_generations.append({"serviceId": service_id, "generationId": generation})
    return json_response({"deletedServices": deleted_services, "deletedGenerations": deleted_generations})


# ---------------------------------------------------------------- admin keys and node flags


@admin
async def list_keys(request: Request) -> Response:
    return json_response(node_of(request).store.admin_keys())


@admin
async def add_key(request: Request) -> Response:
    node = node_of(request)
    body = await read_json(request, required=False, what="admin key") or {}
    if not isinstance(body, dict):
        raise bad_request("An admin key request must be a JSON object {label, description, createdBy, expiry}")
    record = new_key_record(label=body.get("label"), description=body.get("description"),
                            created_by=body.get("createdBy"), expiry=body.get("expiry"))
    node.store.save_admin_keys([*node.store.admin_keys(), record])
    reload_keys(request)
    return json_response(record)


def _delete_key(request: Request, field: str, value: str) -> Response:
    node = node_of(request)
    keys = node.store.admin_keys()
    remaining = [k for k in keys if k.get(field) != value]
    if len(remaining) == len(keys):
        raise not_found("Key to delete not found")
    if not remaining:
        raise bad_request("Refusing to delete the last admin key: the node could not be administered any more")
    node.store.save_admin_keys(remaining)
    reload_keys(request)
    return ok()


@admin
async def delete_key(request: Request) -> Response:
    return _delete_key(request, "key", request.path_params["key"])


@admin
async def delete_key_by_id(request: Request) -> Response:
    return _delete_key(request, "id", request.path_params["key_id"])


# ---------------------------------------------------------------- health (no auth)


async def is_alive(request: Request) -> Response:
    forced = node_of(request).store.node_flag.exists()
    return json_response({"alive": not forced, "forcedNotAlive": forced}, status=503 if forced else 200)


async def is_alive_simple(request: Request) -> Response:
    node = node_of(request)
    service = service_of(request)
    if not service.enabled:
        raise bad_request("This service is disabled")
    if not service.mapping:
        raise bad_request("This service has no active generation")
    if node.store.service_flag(service.id).exists():
        raise bad_request("This service is forced as not-alive")
    if service.start_aborted_reason:
        raise bad_request(f"This service failed to start: {service.start_aborted_reason}")
    return json_response({"ok": True})


SERVICE_PATH = "/admin/api/services/{service}"
ROUTES = [
    Route("/isAlive", is_alive, methods=["GET"]),
    Route("/monitoring/api/{service}/isAliveSimple", is_alive_simple, methods=["GET"]),
    Route("/admin/api/services", list_services, methods=["GET"]),
    Route("/admin/api/services", create_service, methods=["POST"]),
    Route("/admin/api/services-clean-unused", clean_unused, methods=["DELETE"]),
    Route(SERVICE_PATH, delete_service, methods=["DELETE"]),
    Route(SERVICE_PATH + "/actions/enable", enable, methods=["POST"]),
    Route(SERVICE_PATH + "/actions/disable", disable, methods=["POST"]),
    Route(SERVICE_PATH + "/actions/setMapping", set_mapping, methods=["POST"]),
    Route(SERVICE_PATH + "/actions/switchToNewest", switch_to_newest, methods=["POST"]),
    Route(SERVICE_PATH + "/actions/switchTo/{generation}", switch_to, methods=["POST"]),
    Route(SERVICE_PATH + "/actions/setNotAlive", _alive_flag(_service_flag, alive=False), methods=["POST"]),
    Route(SERVICE_PATH + "/actions/setAlive", _alive_flag(_service_flag, alive=True), methods=["POST"]),
    Route(SERVICE_PATH + "/actions/reset-endpoints-settings", reset_endpoint_settings, methods=["POST"]),
    Route(SERVICE_PATH + "/mapping", get_mapping, methods=["GET"]),
    Route(SERVICE_PATH + "/endpoints/{endpoint}/settings", endpoint_settings, methods=["GET", "POST"]),
    Route(SERVICE_PATH + "/auth-override", auth_override, methods=["GET", "PUT", "DELETE"]),
    Route(SERVICE_PATH + "/stats", service_stats, methods=["GET"]),
    Route(SERVICE_PATH + "/generations", list_generations, methods=["GET"]),
    Route(SERVICE_PATH + "/generations/actions/importFromStream", import_from_stream, methods=["POST"]),
    Route(SERVICE_PATH + "/generations/actions/importFromArchive", import_from_archive, methods=["POST"]),
    Route(SERVICE_PATH + "/generations/actions/importFromDirectory", import_from_directory, methods=["POST"]),
    Route(SERVICE_PATH + "/generations/{generation}/preload", preload, methods=["POST"]),
    Route(SERVICE_PATH + "/generations/{generation}", delete_generation, methods=["DELETE"]),
    Route("/admin/api/keys", list_keys, methods=["GET"]),
    Route("/admin/api/keys", add_key, methods=["POST"]),
    Route("/admin/api/keys/{key_id}/key", delete_key_by_id, methods=["DELETE"]),
    Route("/admin/api/keys/{key}", delete_key, methods=["DELETE"]),
    Route("/admin/api/metrics", metrics, methods=["GET"]),
    Route("/admin/api/metrics-prometheus", metrics_prometheus, methods=["GET"]),
    Route("/admin/api/cached-code-envs", not_managed_here, methods=["POST", "DELETE"]),
    Route("/admin/api/register-global-code-env", not_managed_here, methods=["POST"]),
    Route("/admin/api/model-cache", not_managed_here, methods=["POST", "DELETE"]),
    Route("/admin/api/set-not-alive", _alive_flag(_node_flag, alive=False), methods=["POST"]),
    Route("/admin/api/set-alive", _alive_flag(_node_flag, alive=True), methods=["POST"]),
]
