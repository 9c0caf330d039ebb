"""The user API: `/public/api/v1/{service}/{endpoint}/{verb}` (docs/protocol.md, "API node user API").

A query is authenticated against the answering generation's `config.json` (`publicAccess`, or a
key of `authRealm.queryKeys` sent as Basic username, Basic password or Bearer), dispatched to a
generation of the active mapping, run by a worker of that generation's endpoint pool, and
answered with `result`/`results`/`response`, `timing` in microseconds and `apiContext`.

Dispatch input: prediction and lookup bodies carry `dispatch: {forcedGeneration | dispatchKey}`
as DSS clients send it. Function (`run`) and SQL (`query`) bodies are the user's parameters, so
there (INFERRED, our choice) the same two values may come as headers `X-DKU-Forced-Generation`
and `X-DKU-Dispatch-Key`. `GET` on `run` and `query` takes the parameters from the query string,
numbers converted; so do `GET .../predict-simple` and `GET .../lookup-simple` for one record.
`forcedGeneration` must name a mounted generation (mapped or preloaded), else 400.

Errors (DSS JSON, docs/protocol.md "Errors"): unknown service, endpoint or verb 404; no key or an unknown one
401; a bad body 400; a disabled service 503; endpoint code that raises 500 with the Python error as
`message` and its traceback in `stackTraceStr` (or the status of a `DkuCustomApiException`); past
the execution timeout, or no worker free within the pool's queue limits, 503; a worker that died 500.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from deployer_tui.core.package import SERVED_ENDPOINT_TYPES
from deployer_tui.server.apinode import mapping as mappings
from deployer_tui.server.apinode.pool import PoolError
from deployer_tui.server.apinode.runtime import Node
from deployer_tui.server.http import (
    CODE_FAILED,
    ENDPOINT_UNAVAILABLE,
    ILLEGAL_ARGUMENT,
    INTERNAL,
    MALFORMED_REQUEST,
    NOT_AUTHENTICATED,
    DSSHTTPError,
    bad_request,
    error_body,
    extract_api_key,
    json_bytes,
    loads_strict,
    not_found,
)

Headers = Mapping[str, str]
Answer = tuple[int, "dict[str, Any] | Spliced"]

# DSS's GET shortcuts: the query string is the record.
SIMPLE_VERBS = {"predict-simple": ("predict", "features"), "lookup-simple": ("lookup", "data")}
# Request headers the user API reads.
WANTED_HEADERS = {b"authorization", b"x-dku-apiticket", b"x-dku-forced-generation", b"x-dku-dispatch-key"}

log = logging.getLogger("deployer_tui.apinode")

_KEY_CACHE: dict[tuple[str, str], str | None] = {}
_KEY_CACHE_MAX = 1024


def api_key(headers: Headers) -> str | None:
    """http.extract_api_key, memoised per header value: decoding Basic on every query is measurable."""
    cache_key = (headers.get("authorization", ""), headers.get("x-dku-apiticket", ""))
    if cache_key == ("", ""):
        return None
    try:
        return _KEY_CACHE[cache_key]
    except KeyError:
        if len(_KEY_CACHE) >= _KEY_CACHE_MAX:
            _KEY_CACHE.clear()
        key = _KEY_CACHE[cache_key] = extract_api_key(SimpleNamespace(headers=headers))  # type: ignore[arg-type]
        return key


def no_key() -> DSSHTTPError:
    return DSSHTTPError(401, "API Key not provided", error_type=NOT_AUTHENTICATED, code="no-api-key")


def unknown_key() -> DSSHTTPError:
    return DSSHTTPError(401, "Unknown API key", error_type=NOT_AUTHENTICATED, code="unknown-api-key")


def query_value(text: str) -> Any:
    """Query-string parameters become numbers when they look like numbers (finite ones: "NaN" stays text)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def malformed(what: str, problem: str) -> DSSHTTPError:
    return DSSHTTPError(400, f"Could not parse a {what} from request body: {problem}", error_type=MALFORMED_REQUEST)


def parse_query_body(raw: bytes, what: str, max_depth: int) -> Any:
    """A query body as JSON, None when empty. NaN and infinities, and nesting deeper than `max_depth`,
    are refused (400) here, by the reader the deployer uses too: they would otherwise fail only once a
    worker has the query."""
    if not raw.strip():
        return None
    try:
        return loads_strict(raw, max_depth)
    except (ValueError, UnicodeDecodeError) as exc:
        raise malformed(what, str(exc)) from None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"{what} must be a JSON object")
    return value


def build_message(verb: str, body: Any) -> dict[str, Any]:
    """The worker message of a query, with DSS's checks on the body."""
    if verb in ("run", "query"):
        params = {} if body is None else _object(body, f"The body of a '{verb}' query")
        return {"args": params} if verb == "run" else {"params": params}
    body = _object(body if body is not None else {}, f"The body of a '{verb}' query")
    if verb == "predict":
        if body.get("features") is None:
            raise bad_request("'features' is required")
        return {"items": [_object(body["features"], "'features'")]}
    if verb == "lookup":
        if body.get("data") is None:
            raise bad_request("'data' is required")
        return {"items": [_object(body["data"], "'data'")]}
    items = body.get("items")
    if items is None:
        raise bad_request("'items' is required")
    if not isinstance(items, list):
        raise bad_request("'items' must be a list")
    field = "features" if verb == "predict-multi" else "data"
    rows = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get(field), dict):
            raise bad_request(f"items[{index}] must be an object with a '{field}' object")
        rows.append(item[field])
    return {"items": rows}


def dispatch_of(headers: Headers, verb: str, body: Any) -> tuple[str | None, str | None]:
    if verb in ("run", "query"):
        return headers.get("x-dku-forced-generation"), headers.get("x-dku-dispatch-key")
    dispatch = body.get("dispatch") if isinstance(body, dict) else None
    if not isinstance(dispatch, dict):
        return None, None
    forced, key = dispatch.get("forcedGeneration"), dispatch.get("dispatchKey")
    return (str(forced) if forced else None), (str(key) if key is not None and key != "" else None)


def worker_error(reply: dict[str, Any]) -> Answer:
    status = int(reply.get("status") or 500)
    if not 400 <= status <= 599:
        status = 500
    error_type = ILLEGAL_ARGUMENT if status == 400 else CODE_FAILED
    body = error_body(error_type, reply.get("error") or "The endpoint failed")
    if reply.get("trace"):
        body["stackTraceStr"] = reply["trace"]
    return status, body


async def answer(node: Node, method: str, service_id: str, endpoint_id: str, verb: str, headers: Headers,
                 query: Mapping[str, str], read_body: Callable[[int], Awaitable[bytes]]) -> Answer:
    """One query, whatever carried it: (status, JSON body, or its bytes for a big answer). Client errors
    raise DSSHTTPError. `read_body(limit)` refuses a body larger than `limit` bytes."""
    service = node.services.get(service_id)
    if service is None:
        raise not_found(f"Service not found: {service_id}")
    if not service.serving():
        raise DSSHTTPError(503, f"Service {service_id} is disabled on this API node", error_type=ENDPOINT_UNAVAILABLE)
    key = api_key(headers)
    if not service.public_any:  # refuse before reading the body when no generation could accept the key
        if key is None:
            raise no_key()
        if key not in service.keys_any:
            raise unknown_key()

    started = time.perf_counter_ns()
    method = "GET" if method == "HEAD" else method
    if method == "GET":
        body: Any = {k: query_value(v) for k, v in query.items()}
    else:
        limits = node.limits()
        body = parse_query_body(await read_body(limits["maxQueryBodyBytes"]), f"'{verb}' query",
                                limits["maxQueryDepth"])
    forced, dispatch_key = dispatch_of(headers, verb, body)
    try:
        generation = mappings.select(service.mapping, forced, dispatch_key)  # type: ignore[arg-type]
    except mappings.DispatchError as exc:
        raise bad_request(str(exc)) from None
    gen = service.gens.get(generation)
    if gen is None:
        if forced:
            raise bad_request(f"Invalid selected generation: {forced} (mounted: {', '.join(service.gens) or 'none'})")
        raise DSSHTTPError(503, f"Generation {generation} of service {service_id} is not loaded",
                           error_type=ENDPOINT_UNAVAILABLE)
    if service.auth_override is None and not gen.accepts(key):  # an override was checked above, for all
        raise no_key() if key is None else unknown_key()
    endpoint = gen.endpoints.get(endpoint_id)
    if endpoint is None:
        raise not_found(f"Endpoint not found: {endpoint_id} (service {service_id}, generation {generation})")
    verbs = SERVED_ENDPOINT_TYPES.get(endpoint["type"], ())
    if verb in SIMPLE_VERBS and method == "GET" and SIMPLE_VERBS[verb][0] in verbs:
        verb, field = SIMPLE_VERBS[verb]
        body = {field: body}
    if verb not in verbs:
        raise not_found(f"Endpoint {endpoint_id} ({endpoint['type']}) has no verb {verb!r}; "
                        f"it answers: {', '.join(verbs)}")
    message = build_message(verb, body)

    context = {"serviceId": service_id, "endpointId": endpoint_id, "serviceGeneration": generation}
    status, result = 500, None
    gen.enter()
    try:
        prepared = time.perf_counter_ns()
        try:
            reply, waited = await gen.pools[endpoint_id].run(message)
        except PoolError as exc:
            status = exc.status
            log_failure(node, context, exc.status, f"{exc.kind}: {exc}")
            error_type = ENDPOINT_UNAVAILABLE if exc.status == 503 else CODE_FAILED
            raise DSSHTTPError(exc.status, str(exc), error_type=error_type) from None
        done = time.perf_counter_ns()
        if not reply.get("ok"):
            status, error = worker_error(reply)
            if status >= 500:
                log_failure(node, context, status, f"{reply.get('errorType') or 'error'}: {error['message']}")
            return status, error
        status, result = 200, reply.get("result")
        if "resultRaw" in reply:
            result = f"<{len(reply['resultRaw'])} bytes>"
        return 200, shape(verb, reply, waited, (prepared - started) // 1000, (done - prepared) // 1000, context)
    finally:
        gen.leave()
        ms = (time.perf_counter_ns() - started) / 1e6
        node.metrics.record(service_id, endpoint_id, generation, status == 200, ms)
        if node.query_log is not None:
            node.query_log.write(context, status, ms, body, result)


def log_failure(node: Node, context: dict[str, Any], status: int, what: str) -> None:
    """A node-side failure of a query, in the node's log and the service's worker log (never the query or a key)."""
    line = (f"query failed with {status}: service {context['serviceId']}, endpoint {context['endpointId']}, "
            f"version {context['serviceGeneration']}: {what}")
    log.error("%s", line)
    try:
        with open(node.store.log_path(context["serviceId"]), "a", encoding="utf-8") as fh:
            fh.write(f"[node] {time.strftime('%Y-%m-%dT%H:%M:%S%z')} {line}\n")
    except OSError:
        pass


def shape(verb: str, reply: dict[str, Any], waited: int, preparation: int, execution: int,
          context: dict[str, Any]) -> dict[str, Any] | Spliced:
    raw = reply.get("resultRaw")
    if raw is not None and verb == "predict":  # one prediction: small enough to decode after all
        reply = {**reply, "result": json.loads(bytes(raw).decode("utf-8"))}
        raw = None
    result = reply.get("result")
    internal = int(reply.get("us") or 0)
    if raw is not None:
        body = shape(verb, {**reply, "result": _SPLICE, "resultRaw": None}, waited, preparation, execution, context)
        assert isinstance(body, dict)
        key = "response" if verb == "run" else "results"
        if verb == "run":
            body["responseIsEmpty"] = False
        del body[key]
        return Spliced(b'{"' + key.encode() + b'":', raw, b"," + json_bytes(body)[1:])
    if verb == "run":
        return {"response": result, "responseIsEmpty": result is None,
                "timing": {"wait": waited, "execution": max(execution - waited, 0), "functionInternal": internal},
                "apiContext": context}
    if verb in ("predict", "predict-multi"):
        timing = {"preparation": preparation, "wait": waited, "enrich": 0, "preProcessing": 0,
                  "prediction": internal, "postProcessing": max(execution - waited - internal, 0)}
        key = "result" if verb == "predict" else "results"
        return {key: result[0] if verb == "predict" else result, "timing": timing, "apiContext": context}
    return {"results": result, "timing": {"wait": waited, "execution": max(execution - waited, 0)},
            "apiContext": context}


# Stands for a result spliced in as bytes (see shape).
_SPLICE = object()
# A spliced answer goes out in pieces this big, so that the connection's flow control (and other
# requests) get a turn between them.
SEND_CHUNK_BYTES = 1024 * 1024


class Spliced:
    """An answer body made of the JSON around a result and the result's JSON bytes from the worker, as is."""

    def __init__(self, head: bytes, raw: memoryview | bytes, tail: bytes) -> None:
        self.head, self.raw, self.tail = head, raw, tail

    def __len__(self) -> int:
        return len(self.head) + len(self.raw) + len(self.tail)

    def chunks(self) -> Iterator[bytes]:
        yield self.head
        for start in range(0, len(self.raw), SEND_CHUNK_BYTES):
            yield bytes(self.raw[start:start + SEND_CHUNK_BYTES])
        yield self.tail

    def join(self) -> bytes:
        return b"".join((self.head, self.raw, self.tail))


def encode(status: int, body: dict[str, Any] | Spliced) -> tuple[bytes | Spliced, list[tuple[bytes, bytes]]]:
    data = body if isinstance(body, Spliced) else json_bytes(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Basic realm="DSS API"'))
    return data, headers


def error_answer(exc: Exception) -> Answer:
    if isinstance(exc, DSSHTTPError):
        return exc.status, error_body(exc.error_type, exc.message, exc.detail, exc.code, exc.payload)
    return 500, error_body(INTERNAL, f"Internal error of the API node: {type(exc).__name__}: {exc}")


class UserAPI:
    """The node's outermost ASGI app: answers `GET|POST /public/api/v1/{service}/{endpoint}/{verb}` itself.

    This is the node's hot path, so it runs before Starlette and its middleware stack (router, Request
    objects, exception and path-normalising middleware: about half of the node's own time per query
    otherwise) and adds the node's response headers itself. Every other request, and a query path that
    needs normalising (`//`, a trailing `/`), goes on to `app`, whose router answers queries the same way.
    """

    def __init__(self, app: Starlette, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if not path.startswith("/public/api/v1/"):
            await self.app(scope, receive, send)
            return
        parts = path[15:].split("/")  # len("/public/api/v1/")
        if len(parts) != 3 or not all(parts):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in WANTED_HEADERS}
        query: dict[str, str] = {}
        if scope["method"] == "GET":
            query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))

        async def read_body(limit: int) -> bytes:
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise body_too_large(limit)
                chunks.append(chunk)
                if not message.get("more_body"):
                    break
            return b"".join(chunks)

        try:
            status, body = await answer(self.app.state.node, scope["method"], *parts, headers, query, read_body)
        except Exception as exc:  # noqa: BLE001 - every failure is answered as DSS JSON
            status, body = error_answer(exc)
            if not isinstance(exc, DSSHTTPError):  # the node's own bug: query failures are logged in answer()
                log.exception("internal error answering %s %s", scope["method"], path)
        data, response_headers = encode(status, body)
        response_headers += self.headers
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        if isinstance(data, Spliced):
            for chunk in data.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            data = b""
        await send({"type": "http.response.body", "body": data})


def body_too_large(limit: int) -> DSSHTTPError:
    return DSSHTTPError(400, f"The query body is larger than this API node accepts ({limit} bytes; "
                             "limits.maxQueryBodyBytes in config/server.json)", error_type=MALFORMED_REQUEST)


async def query(request: Request) -> Response:
    """The same queries through Starlette (HEAD, and whatever the middleware leaves to the router)."""
    params = request.path_params
    headers = {k: v for k, v in request.headers.items() if k.encode("latin-1") in WANTED_HEADERS}

    async def read_body(limit: int) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise body_too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    status, body = await answer(request.app.state.node, request.method, params["service"], params["endpoint"],
                                params["verb"], headers, request.query_params, read_body)
    if isinstance(body, Spliced):
        return Response(body.join(), status_code=status, media_type="application/json")
    return JSONResponse(body, status_code=status)


async def ping(request: Request) -> Response:
    return JSONResponse({})


ROUTES = [
    Route("/public/api/v1/ping", ping, methods=["GET"]),
    Route("/public/api/v1/{service}/{endpoint}/{verb}", query, methods=["GET", "POST"]),
]
