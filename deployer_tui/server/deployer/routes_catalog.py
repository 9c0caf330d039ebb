"""Routes for stages, infras, published services and their versions (docs/protocol.md, "Deployer routes")."""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from deployer_tui.core.package import PackageError, read_package
from deployer_tui.server.deployer import model
from deployer_tui.server.deployer.auth import Principal, infra_allows, require, service_allows
from deployer_tui.server.deployer.context import Deployer
from deployer_tui.server.deployer.database import InUse
from deployer_tui.server.deployer.views import Views
from deployer_tui.server.http import (
    DSSHTTPError,
    bad_request,
    conflict,
    json_response,
    read_json,
    read_json_object,
)

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
IN_USE = "java.lang.IllegalStateException"


def ctx_of(request: Request) -> Deployer:
    return request.app.state.deployer


def in_use(message: str) -> DSSHTTPError:
    return DSSHTTPError(400, message, error_type=IN_USE)


# ---- helpers -----------------------------------------------------------------------------------------
_ROWS = {"infra": ("infras", "infra_id", "Infra", infra_allows),
         "service": ("services", "service_id", "Service", service_allows)}
_REFUSALS = {"read": "You may not read", "admin": "You are not an administrator of"}


async def _allowed_row(request: Request, kind: str, level: str,
                       doing: str = "") -> tuple[Deployer, Principal, dict[str, Any]]:
    """The context, the caller and the infra / service of the path, once the caller holds `level` on it
    (`doing` names what a 'write' allows). Refusals in order: not authenticated, unknown, not allowed."""
    table, param, label, allows = _ROWS[kind]
    ctx = ctx_of(request)
    who = await ctx.who(request)
    row = ctx.row(table, request.path_params[param], label)
    refusal = _REFUSALS.get(level) or f"You may not {doing} of"
    require(allows(who, row["doc"], level), f"{refusal} {kind} {row['id']!r}")
    return ctx, who, row


# ---- stages -----------------------------------------------------------------------------------------
async def list_stages(request: Request) -> Response:
    ctx = ctx_of(request)
    await ctx.who(request)
    return json_response(ctx.stages())


# ---- infras -----------------------------------------------------------------------------------------
async def list_infras(request: Request) -> Response:
    ctx = ctx_of(request)
    who = await ctx.who(request)
    views = Views(ctx.store)
    return json_response([views.infra_status(who, r) for r in views.infras.values()
                          if infra_allows(who, r["doc"], "read")])


async def create_infra(request: Request) -> Response:
    ctx = ctx_of(request)
    who = await ctx.who(request)
    require(who.is_admin, "Only administrators may create infrastructures")
    body = await read_json_object(request,
                                  "The body must be a JSON object {id, stage, type, governCheckPolicy}")
    infra_id = model.check_id(body.get("id"), "infra id")
    stage, type_ = body.get("stage"), body.get("type")
    policy = body.get("governCheckPolicy") or "NO_CHECK"
    stages = [s["id"] for s in ctx.stages()]
    if stage not in stages:
        raise bad_request(f"Unknown stage {stage!r}; stages are: {', '.join(stages)}")
    if type_ not in model.INFRA_TYPES:
        raise bad_request(f"Unknown infra type {type_!r}; types are: {', '.join(model.INFRA_TYPES)}")
    if policy not in model.GOVERN_POLICIES:
        raise bad_request(f"governCheckPolicy must be one of {', '.join(model.GOVERN_POLICIES)}")
    doc = model.new_infra(infra_id, stage, type_, policy)
    try:
        await ctx.write(ctx.store.insert, "infras", doc, who.login)
    except sqlite3.IntegrityError:
        raise conflict(f"Infra {infra_id!r} already exists") from None
    return json_response(doc)


async def get_infra(request: Request) -> Response:
    ctx, who, row = await _allowed_row(request, "infra", "read")
    return json_response(Views(ctx.store).infra_status(who, row))


async def get_infra_settings(request: Request) -> Response:
    # Settings hold the nodes' admin keys: infra admins only.
    ctx, who, row = await _allowed_row(request, "infra", "admin")
    return json_response(row["doc"])


async def save_infra_settings(request: Request) -> Response:
    ctx, who, row = await _allowed_row(request, "infra", "admin")
    doc = model.check_infra_settings(await read_json(request), row["doc"], ctx.stages())
    await ctx.write(ctx.store.replace, "infras", doc, who.login)
    if ctx.cache:
        ctx.cache.invalidate()
    return Response(status_code=200)


async def delete_infra(request: Request) -> Response:
    ctx, who, row = await _allowed_row(request, "infra", "admin")
    try:
        await ctx.write(ctx.store.delete_infra, row["id"])
    except InUse as exc:
        raise in_use(f"Infra {row['id']!r} still has deployments: {exc}; delete them first") from None
    return Response(status_code=200)


# ---- services ---------------------------------------------------------------------------------------
async def list_services(request: Request) -> Response:
    ctx = ctx_of(request)
    who = await ctx.who(request)
    views = Views(ctx.store)
    return json_response([views.service_status(who, r) for r in views.services.values()
                          if service_allows(who, r["doc"], "read")])


async def create_service(request: Request) -> Response:
    ctx = ctx_of(request)
    who = await ctx.who(request)
    body = await read_json_object(request, "The body must be a JSON object {publishedServiceId}")
    service_id = model.check_id(body.get("publishedServiceId"), "service id")
    doc = model.new_service(service_id, who.login)
    try:
        await ctx.write(ctx.store.insert, "services", doc, who.login)
    except sqlite3.IntegrityError:
        raise conflict(f"Service {service_id!r} already exists") from None
    return json_response(doc)


async def get_service(request: Request) -> Response:
    ctx, who, row = await _allowed_row(request, "service", "read")
    return json_response(Views(ctx.store).service_status(who, row))


async def get_service_settings(request: Request) -> Response:
    ctx, who, row = await _allowed_row(request, "service", "read")
    return json_response(row["doc"])


async def save_service_settings(request: Request) -> Response:
    ctx, who, row = await _allowed_row(request, "service", "admin")
    doc = model.check_service_settings(await read_json(request), row["doc"])
    await ctx.write(ctx.store.replace, "services", doc, who.login)
    return Response(status_code=200)


async def delete_service(request: Request) -> Response:
    ctx, who, row = await _allowed_row(request, "service", "admin")
    try:
        await ctx.write(ctx.store.delete_service, row["id"])
    except InUse as exc:
        raise in_use(f"Service {row['id']!r} still has deployments: {exc}; delete them first") from None
    return Response(status_code=200)


# ---- versions ---------------------------------------------------------------------------------------
async def _stage_upload(ctx: Deployer, request: Request) -> Path:
    """Write the uploaded zip (multipart part `file`, or a raw zip body) to a temp file; return its path."""
    path = ctx.store.tmp_dir / f"upload-{secrets.token_hex(8)}.zip"
    size = 0
    try:
        with open(path, "wb") as out:
            if request.headers.get("content-type", "").startswith("multipart/form-data"):
                form = await request.form(max_files=1, max_fields=10)
                try:
                    upload = form.get("file")
                    if upload is None or isinstance(upload, str):
                        raise bad_request("The version package must be sent as the multipart part 'file'")
                    while chunk := await upload.read(1024 * 1024):
                        size += len(chunk)
                        if size > MAX_UPLOAD_BYTES:
                            raise bad_request(f"Version package larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB")
                        out.write(chunk)
                finally:
                    await form.close()
            else:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > MAX_UPLOAD_BYTES:
                        raise bad_request(f"Version package larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB")
                    out.write(chunk)
            out.flush()
            await asyncio.to_thread(os.fsync, out.fileno())  # can take a while for a big package
        if size == 0:
            raise bad_request("No version package was sent (multipart part 'file' is empty)")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


async def import_version(request: Request) -> Response:
    ctx, who, row = await _allowed_row(request, "service", "write", "publish versions")
    staged_path = await _stage_upload(ctx, request)
    try:
        try:
            info = await ctx.write(read_package, staged_path)
        except PackageError as exc:
            raise bad_request(f"Invalid version package: {exc}") from None
        expected = request.path_params.get("version_id")
        if expected and expected != info.version_id:
            raise bad_request(f"The URL names version {expected!r} but the package's tag.json says "
                              f"{info.version_id!r}")
        record = {"createdOn": info.created_on, "endpoints": info.endpoint_summaries(), "config": info.config,
                  "testQueries": info.test_queries, "tag": info.tag}
        added = await ctx.write(ctx.store.add_version, row["id"], info.version_id, record, who.login, staged_path)
        if not added:
            raise conflict(f"Version {info.version_id!r} already exists in service {row['id']!r}")
    finally:
        staged_path.unlink(missing_ok=True)
    return Response(status_code=200)


def _version(ctx: Deployer, request: Request, service_id: str) -> dict[str, Any]:
    version_id = request.path_params["version_id"]
    version = ctx.store.get_version(service_id, version_id)
    if version is None:
        raise DSSHTTPError(404, f"Version {version_id!r} does not exist in service {service_id!r}")
    return version


async def download_version(request: Request) -> Response:
    ctx, who, row = await _allowed_row(request, "service", "read")
    version = _version(ctx, request, row["id"])
    path = ctx.store.version_path(row["id"], version["version_id"])
    if not path.is_file():
        raise DSSHTTPError(500, f"The package of version {version['version_id']!r} is missing on disk")
    return FileResponse(path, media_type="application/zip", filename=f"{row['id']}-{version['version_id']}.zip")


async def delete_version(request: Request) -> Response:
    ctx, who, row = await _allowed_row(request, "service", "write", "delete versions")
    version_id = _version(ctx, request, row["id"])["version_id"]

    def uses(settings: dict[str, Any], deployed: dict[str, Any] | None) -> bool:
        used = {e["generation"] for e in model.mapping_entries(settings.get("generationsMapping") or {})}
        used |= {e["generation"] for e in (deployed or {}).get("entries", [])}
        return version_id in used

    try:
        await ctx.write(ctx.store.delete_version, row["id"], version_id, uses)
    except InUse as exc:
        raise in_use(f"Version {version_id!r} is used by deployment(s) {exc}") from None
    return Response(status_code=200)


ROUTES = [
    Route("/api-deployer/stages", list_stages, methods=["GET"]),
    Route("/api-deployer/infras", list_infras, methods=["GET"]),
    Route("/api-deployer/infras", create_infra, methods=["POST"]),
    Route("/api-deployer/infras/{infra_id}", get_infra, methods=["GET"]),
    Route("/api-deployer/infras/{infra_id}", delete_infra, methods=["DELETE"]),
    Route("/api-deployer/infras/{infra_id}/settings", get_infra_settings, methods=["GET"]),
    Route("/api-deployer/infras/{infra_id}/settings", save_infra_settings, methods=["PUT"]),
    Route("/api-deployer/services", list_services, methods=["GET"]),
    Route("/api-deployer/services", create_service, methods=["POST"]),
    Route("/api-deployer/services/{service_id}", get_service, methods=["GET"]),
    Route("/api-deployer/services/{service_id}", delete_service, methods=["DELETE"]),
    Route("/api-deployer/services/{service_id}/settings", get_service_settings, methods=["GET"]),
    Route("/api-deployer/services/{service_id}/settings", save_service_settings, methods=["PUT"]),
    Route("/api-deployer/services/{service_id}/versions", import_version, methods=["POST"]),
    Route("/api-deployer/services/{service_id}/packages/{version_id}", import_version, methods=["POST"]),
    Route("/api-deployer/services/{service_id}/versions/{version_id}", download_version, methods=["GET"]),
    Route("/api-deployer/services/{service_id}/versions/{version_id}", delete_version, methods=["DELETE"]),
]
