"""Futures, auth info, and the few DSS admin routes the local deployer needs:
users and personal API keys (so that non-admin keys exist), and general settings (stages)."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deployer_tui.server.deployer import model
from deployer_tui.server.deployer.auth import require
from deployer_tui.server.deployer.database import now_ms
from deployer_tui.server.deployer.routes_catalog import ctx_of
from deployer_tui.server.http import (
    DSSHTTPError,
    bad_request,
    conflict,
    json_response,
    parse_bool,
    read_json_object,
)


# ---- futures -----------------------------------------------------------------------------------------
def _may_see(who: Any, job: Any) -> bool:
    return who.is_admin or job.owner == who.login


async def get_future(request: Request) -> Response:
    ctx = ctx_of(request)
    who = await ctx.who(request)
    job = ctx.futures.get(request.path_params["job_id"])
    require(_may_see(who, job), "Insufficient rights to inspect future")
    status, body = ctx.futures.read(job, peek=parse_bool(request.query_params.get("peek")))
    return json_response(body, status=status)


async def abort_future(request: Request) -> Response:
    ctx = ctx_of(request)
    who = await ctx.who(request)
    job = ctx.futures.get(request.path_params["job_id"])
    require(_may_see(who, job), "Insufficient rights to abort future")
    await ctx.futures.abort(job, f"aborted by {who.login}")
    return Response(status_code=200)


async def list_futures(request: Request) -> Response:
    ctx = ctx_of(request)
    who = await ctx.who(request)
    all_users = parse_bool(request.query_params.get("allUsers"))
    jobs = [j for j in ctx.futures.running() if (all_users and who.is_admin) or j.owner == who.login]
    return json_response([j.response(peek=True) for j in jobs])


# ---- auth info ---------------------------------------------------------------------------------------
async def auth_info(request: Request) -> Response:
    ctx = ctx_of(request)
    who = await ctx.who(request)
    profile = "DESIGNER" if who.is_admin else "DATA_SCIENTIST"
    return json_response({"authIdentifier": who.login, "groups": who.groups, "userProfile": profile,
                          "associatedDSSUser": who.login, "displayName": who.display_name or who.login,
                          "isAdmin": who.is_admin})


# ---- users and personal API keys (admin) ---------------------------------------------------------------
async def _admin(request: Request) -> Any:
    ctx = ctx_of(request)
    who = await ctx.who(request)
    require(who.is_admin, "Only administrators may manage users and keys")
    return ctx, who


async def create_user(request: Request) -> Response:
    ctx, _ = await _admin(request)
    body = await read_json_object(request, "The body must be a JSON object {login, groups, displayName}")
    login = model.check_id(body.get("login"), "user login")
    groups = body.get("groups") or []
    if not isinstance(groups, list) or any(not isinstance(g, str) or not g for g in groups):
        raise bad_request("groups must be a list of group names")
    model.check_fields(body, "", {"displayName": "a string", "userProfile": "a string", "email": "a string"})
    # Passwords are not kept: the local deployer authenticates API keys only.
    doc = {"login": login, "displayName": body.get("displayName") or login, "groups": groups,
           "userProfile": body.get("userProfile") or "DATA_SCIENTIST", "email": body.get("email"),
           "sourceType": "LOCAL", "enabled": True}
    if not await ctx.write(ctx.store.insert_user, doc):
        raise conflict(f"User {login!r} already exists")
    return json_response(doc)


async def list_users(request: Request) -> Response:
    ctx, _ = await _admin(request)
    return json_response(ctx.store.list_users())


async def get_user(request: Request) -> Response:
    ctx, _ = await _admin(request)
    user = ctx.store.get_user(request.path_params["login"])
    if user is None:
        raise DSSHTTPError(404, f"User {request.path_params['login']!r} does not exist")
    return json_response(user)


async def create_key(request: Request) -> Response:
    ctx, who = await _admin(request)
    body = await read_json_object(request, "The body must be a JSON object {user, label, description}")
    login = body.get("user")
    if not isinstance(login, str) or ctx.store.get_user(login) is None:
        raise DSSHTTPError(404, f"User {login!r} does not exist: create it first (POST /admin/users/)")
    doc = {"id": secrets.token_hex(8), "key": secrets.token_urlsafe(24), "user": login,
           "label": body.get("label") or "", "description": body.get("description") or "",
           "createdOn": now_ms(), "createdBy": who.login}
    await ctx.write(ctx.store.insert_key, doc)
    return json_response(doc)


async def list_keys(request: Request) -> Response:
    ctx, _ = await _admin(request)
    # The list never shows key secrets; they are shown once, at creation.
    return json_response([{k: v for k, v in doc.items() if k != "key"} for doc in ctx.store.list_keys()])


async def delete_key(request: Request) -> Response:
    ctx, _ = await _admin(request)
    if not await ctx.write(ctx.store.delete_key, request.path_params["key_id"]):
        raise DSSHTTPError(404, "API key not found")
    return Response(status_code=200)


# ---- general settings: only the API Deployer stages are meaningful here -------------------------------
async def get_general_settings(request: Request) -> Response:
    ctx, _ = await _admin(request)
    settings = ctx.store.get_meta("general-settings", {})
    if not isinstance(settings.get("apiDeployerServerSettings"), dict):  # saved before it was checked
        settings["apiDeployerServerSettings"] = {}
    settings["apiDeployerServerSettings"]["stages"] = ctx.stages()
    return json_response(settings)


async def save_general_settings(request: Request) -> Response:
    ctx, _ = await _admin(request)
    body = await read_json_object(request, "General settings must be a JSON object")
    server = model.check_object(body, "apiDeployerServerSettings", {"stages": "a list of objects"})
    stages = server.get("stages", ctx.stages())
    if not isinstance(stages, list) or not stages:
        raise bad_request("apiDeployerServerSettings.stages must be a non-empty list of {id, desc}")
    for i, stage in enumerate(stages):
        model.check_id(stage.get("id"), f"apiDeployerServerSettings.stages[{i}].id")
        model.check_fields(stage, f"apiDeployerServerSettings.stages[{i}].", {"desc": "a string"})
    ids = [s["id"] for s in stages]
    if len(set(ids)) != len(ids):
        raise bad_request("Stage ids must be unique")
    used = {r["doc"].get("stage") for r in ctx.store.list("infras")} - set(ids)
    if used:
        raise bad_request(f"Stage(s) {', '.join(sorted(used))} are used by infras and cannot be removed")

    await ctx.write(ctx.store.set_metas, {"general-settings": body, "stages": stages})
    return Response(status_code=200)


ROUTES = [
    Route("/futures", list_futures, methods=["GET"]),
    Route("/futures/{job_id}", get_future, methods=["GET"]),
    Route("/futures/{job_id}", abort_future, methods=["DELETE"]),
    Route("/auth/info", auth_info, methods=["GET"]),
    Route("/admin/users", list_users, methods=["GET"]),
    Route("/admin/users", create_user, methods=["POST"]),
    Route("/admin/users/{login}", get_user, methods=["GET"]),
    Route("/admin/personal-api-keys", list_keys, methods=["GET"]),
    Route("/admin/personal-api-keys", create_key, methods=["POST"]),
    Route("/admin/personal-api-keys/{key_id}", delete_key, methods=["DELETE"]),
    Route("/admin/general-settings", get_general_settings, methods=["GET"]),
    Route("/admin/general-settings", save_general_settings, methods=["PUT"]),
]
