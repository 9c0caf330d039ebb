"""What the local deployer and the local API nodes share on the wire.

DSS-shaped error JSON, API-key extraction from the three header forms the official
client and docs use, and the body/query quirks (docs/protocol.md, "Quirks the servers honour"): JSON bodies
arrive without a Content-Type, booleans arrive as ``True``/``False``, and paths may carry
``//`` or a trailing ``/``.
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import logging
import math
from typing import Any

from starlette.convertors import StringConvertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route, Router, get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

# Java class names the DSS public API puts in errorType (docs/protocol.md, "Errors"). Clients match on
# them, so keep the DSS spelling rather than inventing our own.
ILLEGAL_ARGUMENT = "java.lang.IllegalArgumentException"
NOT_FOUND = "com.dataiku.dip.server.controllers.NotFoundException"
NOT_AUTHENTICATED = "com.dataiku.dip.exceptions.NotAuthenticatedException"
UNAUTHORIZED = "com.dataiku.dip.exceptions.UnauthorizedException"
MALFORMED_REQUEST = "com.dataiku.dip.server.MalformedRequestException"
CONFLICT = "com.dataiku.dip.exceptions.AlreadyExistsException"
ENDPOINT_UNAVAILABLE = "com.dataiku.lambda.EndpointUnavailableException"
CODE_FAILED = "com.dataiku.dip.exceptions.ExternalProcessFailedException"
INTERNAL = "java.lang.RuntimeException"

_TYPE_FOR_STATUS = {
    400: ILLEGAL_ARGUMENT,
    401: NOT_AUTHENTICATED,
    403: UNAUTHORIZED,
    404: NOT_FOUND,
    409: CONFLICT,
    503: ENDPOINT_UNAVAILABLE,
}


class DSSHTTPError(Exception):
    """Raise anywhere in a handler to answer with a DSS-shaped error JSON."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        detail: str | None = None,
        code: str | None = None,
        payload: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or _TYPE_FOR_STATUS.get(status, INTERNAL)
        self.detail = detail
        self.code = code
        self.payload = payload


def bad_request(message: str, **kw: Any) -> DSSHTTPError:
    return DSSHTTPError(400, message, **kw)


def not_found(message: str, **kw: Any) -> DSSHTTPError:
    return DSSHTTPError(404, message, **kw)


def conflict(message: str, **kw: Any) -> DSSHTTPError:
    return DSSHTTPError(409, message, **kw)


def forbidden(message: str, **kw: Any) -> DSSHTTPError:
    return DSSHTTPError(403, message, **kw)


def error_body(
    error_type: str, message: str, detail: str | None = None, code: str | None = None, payload: Any = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "errorType": error_type,
        "message": message,
        "detailedMessage": detail or message,
        "stackTrace": [],
    }
    if code:
        body["code"] = code
    if payload is not None:
        body["payload"] = payload
    return body


def error_response(exc: DSSHTTPError, realm: str = "DSS API") -> JSONResponse:
    headers = {"WWW-Authenticate": f'Basic realm="{realm}"'} if exc.status == 401 else None
    return JSONResponse(
        error_body(exc.error_type, exc.message, exc.detail, exc.code, exc.payload),
        status_code=exc.status,
        headers=headers,
    )


def extract_api_key(request: Request) -> str | None:
    """The API key of a request, or None when it carries none.

    Accepted (docs/protocol.md, "Authentication"): Basic with the key as username (what dataikuapi sends),
    Basic with an empty username and the key as password (the docs' curl form), and
    Bearer with the key as token.
    """
    headers = request.headers
    return _api_key(headers.get("authorization", ""), headers.get("x-dku-apiticket"))


@functools.lru_cache(maxsize=256)
def _api_key(header: str, ticket: str | None) -> str | None:
    """extract_api_key's decoding, memoised per header value: every request of a client repeats it."""
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        return user or password or None
    return ticket or None


def keys_equal(given: str | None, expected: str | None) -> bool:
    """Compare API keys in constant time: `==` stops at the first differing byte, which leaks the
    key's prefix through response times."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def parse_bool(value: str | None, default: bool = False) -> bool:
    """Query-string booleans: dataikuapi renders Python's True/False verbatim."""
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise bad_request(f"Invalid boolean value: {value!r}")


# Request limits. Bodies: what a settings document or a query batch may reasonably weigh (`serve
# --max-body-mb` changes it per app, see max_body_bytes); version uploads have their own cap. Nesting:
# far above any real document, far below what would exhaust the stack of the parser or of later code.
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 100


def max_body_bytes(request: Request) -> int:
    """The body cap of the app serving `request`: `app.state.max_body_bytes` when set, else the default."""
    return getattr(request.app.state, "max_body_bytes", None) or DEFAULT_MAX_BODY_BYTES


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"


async def read_body(request: Request) -> bytes:
    """The raw body, refused (400) as soon as it exceeds the app's cap: a huge body is never held whole."""
    limit = max_body_bytes(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise bad_request(f"Request body too large: {int(declared)} bytes, the limit is {_mib(limit)}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise bad_request(f"Request body too large: over {_mib(limit)}, the limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, *, required: bool = True, what: str = "object") -> Any:
    """Parse the raw body as JSON whatever the Content-Type (the official client sends none)."""
    return parse_json_body(await read_body(request), required=required, what=what)


async def read_json_object(request: Request, refusal: str) -> dict[str, Any]:
    """A required JSON object body; any other JSON is refused with `refusal` (say the shape expected)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request(refusal)
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (only finite numbers are accepted)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range (only finite numbers are accepted)")
    return value


def _depth_exceeds(doc: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit`, one level at a time (iterative: a deep document
    cannot exhaust the stack; exact classes: JSON gives plain dicts and lists, and `is` is cheapest)."""
    level, depth = [doc], 1
    while level:
        if depth > limit:
            return True
        below: list[Any] = []
        add = below.append
        for node in level:
            for child in (node.values() if node.__class__ is dict else node):
                if child.__class__ is dict or child.__class__ is list:
                    add(child)
        level, depth = below, depth + 1
    return False


# Built once: json.loads with options builds a new decoder on every call.
_decode = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float).decode


def loads_strict(raw: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads that refuses NaN, Infinity and numbers that overflow to them (no JSON reader elsewhere
    can read them back, and a stored one breaks every later encoding), and nesting deeper than
    `max_depth`. Raises ValueError saying which."""
    text = raw if isinstance(raw, str) else raw.decode(json.detect_encoding(raw), "surrogatepass")
    try:
        doc = _decode(text)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {max_depth} levels") from None
    # Counting brackets is C-speed: a document with fewer openings than the limit needs no walk.
    if isinstance(doc, dict | list) and text.count("[") + text.count("{") > max_depth \
            and _depth_exceeds(doc, max_depth):
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return doc


def parse_json_body(raw: bytes, *, required: bool = True, what: str = "object") -> Any:
    """A request body as JSON; an empty one is None unless `required`. Errors are DSS MALFORMED_REQUEST."""
    if not raw.strip():
        if required:
            raise DSSHTTPError(400, f"Could not parse a {what} from request body: body is empty",
                               error_type=MALFORMED_REQUEST)
        return None
    try:
        return loads_strict(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DSSHTTPError(400, f"Could not parse a {what} from request body: {exc}",
                           error_type=MALFORMED_REQUEST) from None


def query_json(request: Request, name: str, *, required: bool = False) -> Any:
    """A JSON document carried in a query parameter (run-test-queries, run-queries)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if required:
            raise bad_request(f"Missing parameter {name}")
        return None
    limit = max_body_bytes(request)
    if len(raw) > limit:
        raise bad_request(f"Parameter {name} too large: {len(raw)} characters, the limit is {_mib(limit)}")
    try:
        return loads_strict(raw)
    except ValueError as exc:
        raise bad_request(f"Parameter {name} is not valid JSON: {exc}") from None


# Built once: json.dumps with options builds a new JSONEncoder on every call.
_to_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode


def json_bytes(data: Any) -> bytes:
    """`data` encoded exactly as Starlette's JSONResponse encodes it (so cached bodies match fresh ones)."""
    return _to_json(data).encode("utf-8")


def json_bytes_response(body: bytes, status: int = 200) -> Response:
    """A JSON answer whose body is already encoded (see json_bytes)."""
    return Response(body, status_code=status, media_type="application/json")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """None becomes 204 with no body, a plain string becomes {"msg": ...}: DSS's writeJSON rules."""
    if data is None:
        return Response(status_code=204, headers=headers)
    if isinstance(data, str):
        data = {"msg": data}
    return JSONResponse(data, status_code=status, headers=headers)


class NormalizePathMiddleware:
    """Collapse duplicate slashes and drop a trailing slash, so `//dip/publicapi/x/` routes as `/dip/publicapi/x`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            normalized = "/" + "/".join(part for part in path.split("/") if part)
            if normalized != path:
                scope = dict(scope)
                scope["path"] = normalized
                scope["raw_path"] = normalized.encode()
        await self.app(scope, receive, send)


class HeadersMiddleware:
    """Add fixed response headers (DSS-Version and the API version header)."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SegmentRouter(Router):
    """A Starlette Router that only tries the routes with as many path segments as the request.

    Starlette tries every route in order (a regex match each); with forty routes that was a fifth of
    a heavy status's server time. A `Route` whose parameters use the default `str` convertor matches
    exactly one segment per parameter, so routes with another segment count can never match: trying
    only the others, in their original order, picks the same route (or the same 405 partial match).
    Requests no candidate matches, and routes with a multi-segment convertor, go the plain way.
    """

    def __init__(self, routes: list[BaseRoute]) -> None:
        super().__init__(routes=routes)
        self._by_segments: dict[int, list[BaseRoute]] = {}
        self._anywhere: list[BaseRoute] = []
        for route in self.routes:
            convertors = getattr(route, "param_convertors", None)
            if isinstance(route, Route) and all(isinstance(c, StringConvertor) for c in (convertors or {}).values()):
                self._by_segments.setdefault(route.path.count("/"), []).append(route)
            else:
                self._anywhere.append(route)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._anywhere:
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self._by_segments.get(get_route_path(scope).count("/"), ()):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is not None:
            scope["route"] = partial[0]
            scope.update(partial[1])
            await partial[0].handle(scope, receive, send)
            return
        await super().app(scope, receive, send)  # no route: the usual slash redirect, then 404


def exception_handlers(what: str) -> dict[Any, Any]:
    """Starlette exception handlers that answer every failure as DSS error JSON.

    `what` names the server in unexpected-error messages ("API node", "deployer") so that a
    user reading a 500 knows which process to look at.
    """
    from starlette.exceptions import HTTPException

    log = logging.getLogger(f"deployer_tui.server.{what.lower().replace(' ', '_')}")

    async def dss_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DSSHTTPError)
        return error_response(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            err = DSSHTTPError(405, f"Method {request.method} is not supported on {request.url.path}",
                               error_type="org.springframework.web.HttpRequestMethodNotSupportedException")
        elif exc.status_code == 404:
            err = DSSHTTPError(404, f"No such API route: {request.method} {request.url.path}")
        else:
            err = DSSHTTPError(exc.status_code, str(exc.detail))
        return error_response(err)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("Unexpected error on %s %s", request.method, request.url.path)
        return error_response(DSSHTTPError(500, f"Internal error of the {what}: {type(exc).__name__}: {exc}",
                                           error_type=INTERNAL))

    return {DSSHTTPError: dss_error, HTTPException: http_error, Exception: unexpected}
