"""Talking to API nodes: their admin API (docs/protocol.md, "API node admin API") and their user API.

Each call authenticates with HTTP Basic, the node's ``adminAPIKey`` as user name, as the
official ``APINodeAdminClient`` does. Failures become ``NodeError`` with the node's own
message when it sent a DSS error JSON, so update logs say what the node said.

``ServiceListCache`` keeps each node's ``GET /admin/api/services`` for about a second and
shares one in-flight request between concurrent callers: 500 heavy statuses polled at once
cost one request per node, not 500.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

ADMIN_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
STATUS_TIMEOUT = httpx.Timeout(3.0, connect=2.0)
CACHE_TTL_S = 1.0


class NodeError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the node's HTTP status, when it answered


def _describe(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and (body.get("detailedMessage") or body.get("message")):
        return f"HTTP {resp.status_code}: {body.get('detailedMessage') or body.get('message')}"
    text = resp.text.strip()
    return f"HTTP {resp.status_code}: {text[:300]}" if text else f"HTTP {resp.status_code}"


def describe_exc(exc: BaseException) -> str:
    if isinstance(exc, NodeError):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class NodeAdmin:
    """The admin API of one node."""

    def __init__(self, http: httpx.AsyncClient, url: str, key: str) -> None:
        self.http = http
        self.url = url.rstrip("/")
        self.auth = httpx.BasicAuth(key or "", "")

    async def _call(self, method: str, path: str, *, timeout: httpx.Timeout = ADMIN_TIMEOUT,
                    **kw: Any) -> httpx.Response:
        try:
            resp = await self.http.request(method, f"{self.url}/admin/api{path}", auth=self.auth,
                                           timeout=timeout, **kw)
        except httpx.HTTPError as exc:
            raise NodeError(describe_exc(exc)) from None
        if resp.status_code >= 400:
            raise NodeError(_describe(resp), resp.status_code)
        return resp

    async def list_services(self, timeout: httpx.Timeout = STATUS_TIMEOUT) -> list[dict[str, Any]]:
        resp = await self._call("GET", "/services", timeout=timeout)
        data = resp.json()
        if not isinstance(data, list):
            raise NodeError("GET /admin/api/services did not return a list")
        return data

    async def create_service(self, service_id: str) -> None:
        await self._call("POST", "/services", params={"ignoreIfExists": "true"}, json={"serviceId": service_id})

    async def generations(self, service_id: str) -> list[str]:
        data = (await self._call("GET", f"/services/{service_id}/generations")).json()
        gens = data.get("generations", []) if isinstance(data, dict) else []
        return [g.get("generationId") for g in gens if isinstance(g, dict)]

    async def import_stream(self, service_id: str, zip_path: Path) -> None:
        content = await asyncio.to_thread(zip_path.read_bytes)
        await self._call("POST", f"/services/{service_id}/generations/actions/importFromStream",
                         files={"file": (zip_path.name, content)})

    async def preload(self, service_id: str, generation: str) -> None:
        await self._call("POST", f"/services/{service_id}/generations/{generation}/preload")

    async def set_mapping(self, service_id: str, mapping: dict[str, Any]) -> None:
        await self._call("POST", f"/services/{service_id}/actions/setMapping", json=mapping)

    async def disable(self, service_id: str) -> None:
        await self._call("POST", f"/services/{service_id}/actions/disable")

    async def set_alive(self, alive: bool, timeout: httpx.Timeout = ADMIN_TIMEOUT) -> None:
        await self._call("POST", "/set-alive" if alive else "/set-not-alive", timeout=timeout)

    async def reset_endpoint_settings(self, service_id: str) -> None:
        await self._call("POST", f"/services/{service_id}/actions/reset-endpoints-settings")

    async def set_endpoint_settings(self, service_id: str, endpoint_id: str, config: dict[str, Any]) -> None:
        await self._call("POST", f"/services/{service_id}/endpoints/{endpoint_id}/settings", json=config)

    async def delete_service(self, service_id: str) -> bool:
        """Remove the service (all its versions) from the node; False if the node did not have it."""
        if service_id not in {s.get("serviceId") for s in await self.list_services()}:
            return False
        await self._call("DELETE", f"/services/{service_id}")
        return True

    async def set_auth_override(self, service_id: str, override: dict[str, Any] | None) -> None:
        """Who may query the service, over what its versions' `config.json` say; None: the versions decide.

        `auth-override` is a route of deployer-tui's own nodes. A node without it (a DSS API node) has no
        override to remove, so None is then a no-op; an override it cannot take fails with a clear message."""
        try:
            if override is None:
                await self._call("DELETE", f"/services/{service_id}/auth-override")
            else:
                await self._call("PUT", f"/services/{service_id}/auth-override", json=override)
        except NodeError as exc:
            if exc.status not in (404, 405):
                raise
            if override is not None:
                raise NodeError("this API node cannot take a deployment's own auth (it is not a deployer-tui "
                                "node): set the deployment's auth mode to INHERIT_DEV", exc.status) from None


class ServiceListCache:
    def __init__(self, http: httpx.AsyncClient, ttl: float = CACHE_TTL_S) -> None:
        self.http = http
        self.ttl = ttl
        self._entries: dict[tuple[str, str], tuple[float, asyncio.Future]] = {}

    def invalidate(self, url: str | None = None) -> None:
        if url is None:
            self._entries.clear()
        else:
            for k in [k for k in self._entries if k[0] == url.rstrip("/")]:
                self._entries.pop(k, None)

    async def services(self, url: str, key: str) -> list[dict[str, Any]]:
        """The node's service list; raises NodeError when the node cannot be asked."""
        cache_key = (url.rstrip("/"), key or "")
        now = time.monotonic()
        entry = self._entries.get(cache_key)
        if entry is None or now - entry[0] > self.ttl:
            fut: asyncio.Future = asyncio.get_running_loop().create_future()
            self._entries[cache_key] = (now, fut)
            try:
                fut.set_result(await NodeAdmin(self.http, url, key).list_services())
            except Exception as exc:
                fut.set_exception(exc)
            except BaseException:
                # Cancelled while others wait on the same request: release them, and retry next time.
                fut.set_exception(NodeError("status request cancelled"))
                self._entries.pop(cache_key, None)
                raise
            entry = self._entries[cache_key]
        fut = entry[1]
        if not fut.done():
            await asyncio.shield(fut)
        return fut.result()
