"""DeployerClient: every API Deployer call the console makes (docs/protocol.md, "Deployer routes" and "Futures"), async, raw JSON kept.

Speaks to a real DSS or to the local deployer alike: the console speaks only the DSS public API (docs/architecture.md). Authentication is HTTP Basic with the key
as username, like dataikuapi. Only idempotent GETs are retried, on connection errors, timeouts and
502/503/504, with a small bounded exponential backoff; POST/PUT/DELETE are never retried because a lost
answer does not mean the change was not made.

The API key lives only inside the httpx auth object: it is never logged, never put in an exception
message, and `repr(client)` does not show it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import ssl
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from deployer_tui.core import http1
from deployer_tui.core.config import Timeouts
from deployer_tui.core.errors import ConnectionLost, DeployerError, RequestTimeout
from deployer_tui.core.package import PackageError, read_package

Progress = Callable[[int, int], None]


def _httpx_timeout(timeouts: Timeouts, long: bool = False) -> httpx.Timeout:
    read = timeouts.long_read if long else timeouts.read
    return httpx.Timeout(read, connect=timeouts.connect, pool=max(read, timeouts.connect))
"""progress(done_bytes, total_bytes); total is 0 when the size is not known."""

_RETRY_STATUSES = frozenset({502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_CHUNK = 64 * 1024


def _seg(value: str) -> str:
    """One URL path segment: ids may contain characters that must not split the path."""
    return quote(str(value), safe="")


def _flag(value: bool) -> str:
    # dataikuapi renders Python booleans verbatim; DSS (Spring) and our server parse them case-insensitively.
    return "True" if value else "False"


def _reason(exc: BaseException) -> str:
    """A short human reason for a transport failure, from the OS error underneath httpx's wrapper."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLError):
            return f"TLS error: {getattr(cur, 'reason', None) or cur}"
        if isinstance(cur, socket.gaierror):
            return f"host name not found ({cur.strerror or cur})"
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(cur, OSError) and cur.strerror:
            return cur.strerror.lower()
        cur = cur.__cause__ or cur.__context__
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server closed the connection ({exc})"
    return str(exc) or type(exc).__name__


def _ssl_context(verify: bool | str, *, https: bool) -> ssl.SSLContext:
    """One TLS context for every pool of a client: loading CA certificates costs ~0.2 s, so it is done
    once, and not at all for a plain-http URL (whose context is never used)."""
    if not https:
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, with no CA: any TLS use would fail safe
    if isinstance(verify, str):
        try:
            if os.path.isdir(verify):
                return ssl.create_default_context(capath=verify)
            return ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot use CA bundle {verify}: {getattr(exc, 'strerror', None) or exc}") from None
    return httpx.create_ssl_context(verify=bool(verify))


def _proxied(url: str, trust_env: bool) -> bool:
    """Whether httpx would send requests to `url` through a proxy from the environment."""
    if not trust_env:
        return False
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass_environment(parts.netloc.rsplit("@", 1)[-1], proxies)


def _local_file_error(exc: OSError, path: Path) -> DeployerError:
    return DeployerError(f"{path}: {exc.strerror or exc}", error_type="LocalFileError", detail=str(exc))


class DeployerClient:
    """Async client of one API Deployer. Use as `async with DeployerClient(url, key) as client:`."""

    supports_lanes = True  # get_deployment_status(..., lane=i): see _lane()

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        verify: bool | str = True,
        timeout: float | Timeouts = 30.0,
        max_connections: int = 20,
        prefix: str = "/public/api",
        retries: int = 2,
        backoff: float = 0.2,
        max_backoff: float = 2.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {self.url!r}")
        self.host = parts.netloc.rsplit("@", 1)[-1]
        self._loopback = (parts.hostname or "") in ("localhost", "127.0.0.1", "::1") or \
            (parts.hostname or "").startswith("127.")
        self._parts = parts
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self.timeouts = timeout if isinstance(timeout, Timeouts) else Timeouts.parse(str(timeout))
        self._timeout = _httpx_timeout(self.timeouts)
        self._long_timeout = _httpx_timeout(self.timeouts, long=True)
        # Set when a GET of the base URL was redirected to another base (a site moved to https, a reverse
        # proxy): the URL to put in the profile. See redirect_notice.
        self.moved_to: str | None = None
        self._auth = httpx.BasicAuth(api_key, "")
        self._transport = transport
        self._ssl = _ssl_context(verify, https=parts.scheme == "https")
        self.max_connections = max(1, max_connections)
        self._http = self._new_http(self.max_connections)
        self._lanes: dict[int, httpx.AsyncClient | http1.Connection] = {}
        # Lanes are lean connections (http1) unless a transport is injected or a proxy applies.
        self._lean_lanes = transport is None and not _proxied(self.url, not self._loopback)
        self._lean_head = b"" if not self._lean_lanes else self._lean_head_fields(api_key)

    def _new_http(self, connections: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url + self.prefix,
            auth=self._auth,
            verify=self._ssl,
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            transport=self._transport,
            follow_redirects=False,  # GETs follow them in _follow, on the same host only
            # Proxy variables are for remote deployers; a loopback one (the embedded local deployer) must
            # never be sent through a corporate HTTP proxy.
            trust_env=not self._loopback,
        )

    def _lean_head_fields(self, api_key: str) -> bytes:
        """The header lines of every lean-lane GET: what httpx would send, minus what it cannot decode."""
        token = base64.b64encode(f"{api_key}:".encode()).decode("ascii")
        fields = {"Host": self.host, "Accept": "*/*", "Accept-Encoding": "gzip, deflate",
                  "Connection": "keep-alive", "User-Agent": self._http.headers.get("User-Agent", "deployer-tui"),
                  "Authorization": f"Basic {token}"}
        return "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode("latin-1")

    def _lane(self, lane: int | None) -> httpx.AsyncClient | http1.Connection:
        """The connection for a call: the shared httpx pool, or lane `lane`.

        Lanes are extra connections for many concurrent small GETs (bulk.iter_heavy_statuses), at most
        `max_connections` of them (lane i is lane i modulo that), opened on first use: each a lean
        http1.Connection (a tenth of httpx's CPU per request), or a one-connection httpx pool when a
        proxy applies (httpcore's shared pool checks every connection on every request, so one pool
        per worker is still about half the CPU of a shared one).
        """
        if lane is None or self._transport is not None:
            return self._http
        index = lane % self.max_connections
        conn = self._lanes.get(index)
        if conn is None:
            if self._lean_lanes:
                https = self._parts.scheme == "https"
                conn = http1.Connection(
                    self._parts.hostname or "", self._parts.port or (443 if https else 80), self._lean_head,
                    ssl_context=self._ssl if https else None, server_hostname=self._parts.hostname,
                    timeout=self._timeout.read or 30.0, connect_timeout=self._timeout.connect or 10.0)
            else:
                conn = self._new_http(1)
            self._lanes[index] = conn
        return conn

    def _target(self, path: str, params: dict | None) -> str:
        """The request target of a lean GET, as httpx would build it from base_url, path and params."""
        # The URL's own path may hold characters a request line cannot: encoded as httpx does.
        target = quote(self._parts.path, safe="/%!$&'()*+,;=:@~") + self.prefix + path
        return target + "?" + urlencode(params) if params else target

    def __repr__(self) -> str:
        return f"DeployerClient(url={self.url!r}, prefix={self.prefix!r})"

    async def aclose(self) -> None:
        lanes, self._lanes = list(self._lanes.values()), {}
        for http in [self._http, *lanes]:
            await http.aclose()

    async def __aenter__(self) -> DeployerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ transport

    def _transport_error(self, exc: Exception, method: str, path: str) -> DeployerError:
        if isinstance(exc, httpx.TimeoutException):
            return RequestTimeout(self.host, type(exc).__name__, method=method, path=path)
        return ConnectionLost(self.host, _reason(exc), method=method, path=path)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json_body: Any = None,
        content: Any = None,
        headers: dict | None = None,
        stream: bool = False,
        lane: int | None = None,
        long: bool = False,
    ) -> httpx.Response:
        """One request, with retries for GETs; raises DeployerError for every failure, status ≥ 400 included.

        `long`: the long read timeout (Timeouts.long_read). GETs follow redirects (see _follow)."""
        http = self._lane(lane)
        if isinstance(http, http1.Connection) and (method != "GET" or stream or json_body is not None
                                                   or content is not None or headers or long):
            http = self._http
        timeout: Any = self._long_timeout if long else httpx.USE_CLIENT_DEFAULT
        attempts = 1 + (self.retries if method == "GET" else 0)
        delay = self.backoff
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                if isinstance(http, http1.Connection):
                    try:
                        response: Any = await http.get(self._target(path, params))
                        if 300 <= response.status_code < 400:
                            raise http1.Unsupported("a redirect")  # followed by httpx, below
                    except http1.Unsupported:
                        http = self._http  # an answer only httpx understands: ask again through it
                        response = await http.send(http.build_request(method, path, params=params))
                else:
                    request = http.build_request(
                        method, path, params=params, json=json_body, content=content, headers=headers,
                        timeout=timeout,
                    )
                    response = await http.send(request, stream=stream)
                if response.status_code in _REDIRECTS:
                    response = await self._follow(response, method, path, stream=stream, timeout=timeout)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if last:
                    raise self._transport_error(exc, method, path) from None
            except http1.Timeout as exc:
                if last:
                    raise RequestTimeout(self.host, str(exc), method=method, path=path) from None
            except http1.Failure as exc:
                if last:
                    raise ConnectionLost(self.host, _reason(exc), method=method, path=path) from None
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in _RETRY_STATUSES or last:
                    if stream:
                        await response.aread()
                        await response.aclose()
                    raise self._http_error(response, method, path)
                await response.aclose()
            await self._sleep(delay)
            delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    def _moved_base(self, url: httpx.URL, path: str) -> str:
        """The base URL a redirect target implies: the target minus the prefix and path asked for."""
        target = str(url.copy_with(query=None)).rstrip("/")
        suffix = (self.prefix + path).rstrip("/")
        return target[: -len(suffix)].rstrip("/") if suffix and target.endswith(suffix) else target

    async def _follow(self, response: httpx.Response, method: str, path: str, *, stream: bool,
                      timeout: Any) -> httpx.Response:
        """Follow the redirects of a GET, on the deployer's own host only (the key is never sent to another
        host); note the new base URL in `moved_to`. Other methods are not re-sent: a redirected POST or PUT
        raises, naming the URL to put in the profile."""
        for _hop in range(_MAX_REDIRECTS):
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECTS or not location:
                return response
            await response.aclose()
            target = response.url.join(location)
            base = self._moved_base(target, path)
            if method != "GET":
                raise DeployerError(
                    f"the deployer answered {method} {path} with a redirect to {target}; it was not re-sent. "
                    f"The deployer moved to {base}: put that URL in your profile",
                    status=response.status_code, error_type="Redirected", method=method, path=path)
            if target.host != (self._parts.hostname or ""):
                raise DeployerError(
                    f"{self.host} redirects to another host ({target.host}); the API key was not sent there. "
                    f"If that is the deployer, put {base} in your profile",
                    status=response.status_code, error_type="Redirected", method=method, path=path)
            if base != self.url:
                self.moved_to = base
            response = await self._http.send(self._http.build_request("GET", target, timeout=timeout),
                                             stream=stream)
        raise DeployerError(f"{self.host}: more than {_MAX_REDIRECTS} redirects for GET {path}",
                            error_type="Redirected", method=method, path=path)

    @property
    def redirect_notice(self) -> str | None:
        """A line for the UI when the base URL redirects: where the deployer moved, to put in the profile."""
        if self.moved_to is None:
            return None
        return f"the deployer moved to {self.moved_to}: put that URL in your profile"

    @staticmethod
    def _http_error(response: httpx.Response, method: str, path: str) -> DeployerError:
        text = response.text
        try:
            parsed = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = None
        return DeployerError.from_response(response.status_code, text, parsed, method=method, path=path)

    async def _json(self, method: str, path: str, *, decode: Callable[[list[tuple[str, Any]]], Any] | None = None,
                    **kwargs: Any) -> Any:
        """`decode`: an `object_pairs_hook` for the body's JSON (e.g. shared_json.SharedDecoding.hook)."""
        response = await self._send(method, path, **kwargs)
        if response.status_code == 204 or not response.content.strip():
            return None
        try:
            return response.json() if decode is None else response.json(object_pairs_hook=decode)
        except ValueError:
            raise DeployerError(
                f"the server answered {method} {path} with a body that is not JSON",
                status=response.status_code, error_type="MalformedResponse",
                detail=response.text[:500], method=method, path=path,
            ) from None

    async def _empty(self, method: str, path: str, **kwargs: Any) -> None:
        await self._send(method, path, **kwargs)

    async def _list(self, path: str, params: dict[str, str] | None = None, *,
                    decode: Callable[[list[tuple[str, Any]]], Any] | None = None) -> list[dict]:
        data = await self._json("GET", path, params=params, decode=decode)
        if not isinstance(data, list):
            raise DeployerError(f"expected a list from GET {path}", error_type="MalformedResponse", path=path)
        return data

    # ------------------------------------------------------------------ misc

    async def auth_info(self) -> dict:
        return await self._json("GET", "/auth/info")

    async def list_stages(self) -> list[dict]:
        return await self._list("/api-deployer/stages")

    # ------------------------------------------------------------------ infras

    async def list_infras(self, *, decode: Callable[[list[tuple[str, Any]]], Any] | None = None) -> list[dict]:
        return await self._list("/api-deployer/infras", decode=decode)

    async def get_infra(self, infra_id: str) -> dict:
        return await self._json("GET", f"/api-deployer/infras/{_seg(infra_id)}")

    async def create_infra(
        self, infra_id: str, stage: str, type: str = "STATIC", govern_check_policy: str = "NO_CHECK"
    ) -> dict:
        body = {"id": infra_id, "stage": stage, "type": type, "governCheckPolicy": govern_check_policy}
        return await self._json("POST", "/api-deployer/infras", json_body=body)

    async def get_infra_settings(self, infra_id: str) -> dict:
        return await self._json("GET", f"/api-deployer/infras/{_seg(infra_id)}/settings")

    async def save_infra_settings(self, infra_id: str, settings: dict) -> None:
        await self._empty("PUT", f"/api-deployer/infras/{_seg(infra_id)}/settings", json_body=settings)

    async def delete_infra(self, infra_id: str) -> None:
        await self._empty("DELETE", f"/api-deployer/infras/{_seg(infra_id)}")

    # ------------------------------------------------------------------ services and versions

    async def list_services(self, *, decode: Callable[[list[tuple[str, Any]]], Any] | None = None) -> list[dict]:
        return await self._list("/api-deployer/services", decode=decode)

    async def get_service(self, service_id: str) -> dict:
        return await self._json("GET", f"/api-deployer/services/{_seg(service_id)}")

    async def create_service(self, service_id: str) -> dict:
        return await self._json("POST", "/api-deployer/services", json_body={"publishedServiceId": service_id})

    async def get_service_settings(self, service_id: str) -> dict:
        return await self._json("GET", f"/api-deployer/services/{_seg(service_id)}/settings")

    async def save_service_settings(self, service_id: str, settings: dict) -> None:
        await self._empty("PUT", f"/api-deployer/services/{_seg(service_id)}/settings", json_body=settings)

    async def delete_service(self, service_id: str) -> None:
        await self._empty("DELETE", f"/api-deployer/services/{_seg(service_id)}")

    async def import_version(self, service_id: str, path: str | os.PathLike,
                             progress: Progress | None = None) -> str | None:
        """Upload a version package zip, streamed from disk (multipart part `file`, filename = basename).

        A large import may outlast the read timeout and still succeed: on a timeout the service's versions
        are read again, and a version of that id there counts as imported. Returns None, or a note saying
        so (for the UI to show)."""
        path = Path(path)
        try:
            version_id: str | None = read_package(path).version_id
        except (PackageError, OSError, ValueError):
            version_id = None  # the deployer will say what is wrong with it
        # Known before: a timeout could then not tell this upload's success from the refusal of a duplicate.
        if version_id is not None and await self._has_version(service_id, version_id):
            version_id = None
        try:
            size = path.stat().st_size
            fh = path.open("rb")
        except OSError as exc:
            raise _local_file_error(exc, path) from None
        boundary = uuid.uuid4().hex
        filename = path.name.replace("\\", "_").replace('"', "_").replace("\r", "").replace("\n", "")
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
        }

        async def body() -> AsyncIterator[bytes]:
            yield head
            done = 0
            if progress:
                progress(0, size)
            while chunk := fh.read(_CHUNK):
                done += len(chunk)
                yield chunk
                if progress:
                    progress(done, size)
            yield tail

        try:
            await self._send("POST", f"/api-deployer/services/{_seg(service_id)}/versions",
                             content=body(), headers=headers, long=True)
        except RequestTimeout:
            if version_id is None or not await self._has_version(service_id, version_id):
                raise
            return (f"the import of {version_id} outlasted the {self.timeouts.long_read:g} s timeout, but the "
                    f"deployer lists it: imported")
        finally:
            fh.close()
        return None

    async def _has_version(self, service_id: str, version_id: str) -> bool:
        try:
            status = await self.get_service(service_id)
        except DeployerError:
            return False
        packages = status.get("packages") if isinstance(status, dict) else None
        return any(isinstance(p, dict) and p.get("id") == version_id for p in packages or [])

    async def download_version(
        self, service_id: str, version_id: str, path: str | os.PathLike, progress: Progress | None = None
    ) -> None:
        """Stream a version's zip to `path`, via `path.partial` renamed only once complete."""
        target = Path(path)
        partial = target.with_name(target.name + ".partial")
        url = f"/api-deployer/services/{_seg(service_id)}/versions/{_seg(version_id)}"
        response = await self._send("GET", url, stream=True, long=True)
        try:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            with partial.open("wb") as out:
                if progress:
                    progress(0, total)
                async for chunk in response.aiter_bytes(_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            if total and done != total:
                raise ConnectionLost(self.host, f"download ended after {done} of {total} bytes",
                                     method="GET", path=url)
            os.replace(partial, target)
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            partial.unlink(missing_ok=True)
            raise self._transport_error(exc, "GET", url) from None
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise _local_file_error(exc, partial) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            await response.aclose()

    async def delete_version(self, service_id: str, version_id: str) -> None:
        await self._empty("DELETE", f"/api-deployer/services/{_seg(service_id)}/versions/{_seg(version_id)}")

    # ------------------------------------------------------------------ deployments

    def _dep(self, deployment_id: str, tail: str = "") -> str:
        return f"/api-deployer/deployments/{_seg(deployment_id)}{tail}"

    async def list_deployments(self, *, decode: Callable[[list[tuple[str, Any]]], Any] | None = None) -> list[dict]:
        """`decode`: see `_json` (the console's data store keeps the parts its lists share once)."""
        return await self._list("/api-deployer/deployments", decode=decode)

    async def get_deployment(self, deployment_id: str) -> dict:
        return await self._json("GET", self._dep(deployment_id))

    async def get_deployment_status(self, deployment_id: str, *, lane: int | None = None) -> dict:
        """Heavy status (contacts the API nodes). `lane`: see bulk.iter_heavy_statuses."""
        return await self._json("GET", self._dep(deployment_id, "/status"), lane=lane)

    async def get_deployment_settings(self, deployment_id: str) -> dict:
        return await self._json("GET", self._dep(deployment_id, "/settings"))

    async def save_deployment_settings(self, deployment_id: str, settings: dict, ignore_warnings: bool = False) -> None:
        await self._empty("PUT", self._dep(deployment_id, "/settings"),
                          params={"ignoreWarnings": _flag(ignore_warnings)}, json_body=settings)

    async def create_deployment(
        self,
        deployment_id: str,
        service_id: str,
        infra_id: str,
        version: str,
        *,
        endpoint_id: str | None = None,
        authorizations: list[dict] | None = None,
        ignore_warnings: bool = False,
    ) -> dict:
        body = {
            "deploymentId": deployment_id,
            "publishedServiceId": service_id,
            "infraId": infra_id,
            "version": version,
            "endpointId": endpoint_id,
            "authorizationsToQueryThroughDeployer": authorizations,
        }
        return await self._json("POST", "/api-deployer/deployments",
                                params={"ignoreWarnings": _flag(ignore_warnings)}, json_body=body)

    async def delete_deployment(self, deployment_id: str, *, ignore_pre_delete_errors: bool = False) -> None:
        await self._empty("DELETE", self._dep(deployment_id),
                          params={"ignorePreDeleteErrors": _flag(ignore_pre_delete_errors)})

    async def get_governance_status(self, deployment_id: str, version: str = "") -> dict:
        return await self._json("GET", self._dep(deployment_id, "/governance-status"), params={"version": version})

    async def get_open_api(self, deployment_id: str) -> dict:
        """The deployment's OpenAPI document (served as JSON text); 404 when it has none."""
        return await self._json("GET", self._dep(deployment_id, "/get-open-api"))

    async def start_update(self, deployment_id: str, reason: str | None = None) -> dict:
        """Start an update job; returns the FutureResponse (follow it with futures.follow_future).

        `reason` (ROLLBACK, ROLLFORWARD): a query parameter the local deployer keeps on the update record;
        a deployer that does not know it ignores it (see docs/deployer.md)."""
        params = {"reason": reason} if reason else None
        return await self._json("POST", self._dep(deployment_id, "/actions/update"), params=params)

    async def run_test_queries(
        self, deployment_id: str, endpoint_id: str | None = None, test_queries: list | None = None
    ) -> dict:
        params: dict[str, str] = {}
        if endpoint_id is not None:
            params["endpointIdParam"] = endpoint_id
        if test_queries is not None:
            params["testQueriesParam"] = json.dumps(test_queries)
        return await self._json("POST", self._dep(deployment_id, "/actions/run-test-queries"), params=params,
                                long=True)

    async def run_queries(
        self, deployment_id: str, queries: list, endpoint_id: str | None = None, adapt: bool = True
    ) -> dict:
        """`adapt`: adaptQueryForInfraType, true by default as the official client sends it."""
        params = {"queries": json.dumps(queries), "adaptQueryForInfraType": _flag(adapt)}
        if endpoint_id is not None:
            params["endpointId"] = endpoint_id
        return await self._json("POST", self._dep(deployment_id, "/actions/run-queries"), params=params,
                                long=True)

    async def list_updates(self, deployment_id: str) -> list[dict]:
        return await self._list(self._dep(deployment_id, "/update"))

    async def get_update(self, deployment_id: str, start_timestamp: int | None = None) -> dict:
        """One update record with its logs; None = the last one."""
        if start_timestamp is None:
            return await self._json("GET", self._dep(deployment_id, "/last-update"))
        return await self._json("GET", self._dep(deployment_id, f"/update/{int(start_timestamp)}"))

    # ------------------------------------------------------------------ futures

    async def get_future(self, job_id: str, peek: bool = False) -> dict:
        """A future's state. peek=False claims the result of a finished job (the server may then forget it)."""
        return await self._json("GET", f"/futures/{_seg(job_id)}", params={"peek": _flag(peek)})

    async def abort_future(self, job_id: str) -> None:
        await self._empty("DELETE", f"/futures/{_seg(job_id)}")

    async def list_futures(self, all_users: bool = False) -> list[dict]:
        """Running futures: this key's own, or everyone's (`all_users`, administrators only on DSS)."""
        # The parameters the official client's list_futures sends.
        return await self._list("/futures/", params={"withScenarios": _flag(False), "withNotScenarios": _flag(True),
                                                     "allUsers": _flag(all_users)})
