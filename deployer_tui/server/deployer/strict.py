"""`serve --dss-strict`: the deployer answers only in shapes the official client reads or DSS documents.

Everything the local deployer adds for convenience is withheld here, in one ASGI middleware keyed by
route, so that the routes stay as they are and the list below is the whole difference (it is also the
table "What --dss-strict withholds" of docs/dss-compatibility.md):

* heavy status: each `apiNodes[]` entry keeps only `url`; the top-level `version` goes;
* futures: a peek carries no `log`; `payload` keeps no `targets`; a claimed job is forgotten at once
  (DSS removes a finished job from its registry on the first non-peek read); a peek of a finished job
  that failed answers with the job's error, as the claim does;
* update results (futures and update records): no node counts, and of the InfoMessages only
  `messages`, `maxSeverity` and `anyMessage`;
* logs (futures and update records): our `[node-url] message` form becomes a plain sentence;
* update list items keep the three fields the official client reads (`startTimestamp`, `type`, `status`);
* `last-update` answers 404 as a deployer before DSS 14.1 does;
* no 409: DSS's error mapping has none, so a refusal for "busy" or "already exists" is a 500 with
  the error type kept (for a busy deployment, a generic DKUException).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployer_tui.server.deployer.context import Deployer
from deployer_tui.server.http import DSSHTTPError, error_body, error_response, json_bytes, parse_bool

PREFIXES = ("/dip/publicapi", "/public/api")
BUSY_ERROR_TYPE = "com.dataiku.dip.exceptions.DKUException"

_FUTURE = re.compile(r"^/futures/(?P<job>[^/]+)$")
_FUTURES = re.compile(r"^/futures$")
_STATUS = re.compile(r"^/api-deployer/deployments/[^/]+/status$")
_UPDATE_ACTION = re.compile(r"^/api-deployer/deployments/[^/]+/actions/update$")
_UPDATE_RECORD = re.compile(r"^/api-deployer/deployments/[^/]+/update/[^/]+$")
_UPDATE_LIST = re.compile(r"^/api-deployer/deployments/[^/]+/update$")
_LIST_ITEM_KEEPS = ("startTimestamp", "type", "status")
_LAST_UPDATE = re.compile(r"^/api-deployer/deployments/[^/]+/last-update$")
# "[stamp] [LEVEL] [http://node:port] message", the form update.py writes.
_NODE_LINE = re.compile(r"^(?P<head>(?:\[[^\]]*\]\s*){2})\[(?P<url>https?://[^\]\s]+)\]\s*(?P<message>.*)$")
_RESULT_KEEPS = ("messages", "maxSeverity", "anyMessage")


def plain_line(line: str) -> str:
    """A log line without our per-node bracket: "[stamp] [INFO] API node http://n:1: message"."""
    found = _NODE_LINE.match(line)
    if found is None:
        return line
    return f"{found.group('head')}API node {found.group('url')}: {found.group('message')}"


def plain_log(log: Any) -> Any:
    if isinstance(log, dict) and isinstance(log.get("lines"), list):
        log = {**log, "lines": [plain_line(str(line)) for line in log["lines"]]}
    return log


def update_result(result: Any) -> Any:
    """An update result as DSS documents it: InfoMessages, without our node counts and flags."""
    if not isinstance(result, dict):
        return result
    return {k: result[k] for k in _RESULT_KEEPS if k in result}


def future_body(body: Any, *, peek: bool) -> Any:
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if peek:
        body.pop("log", None)
    elif "log" in body:
        body["log"] = plain_log(body["log"])
    payload = body.get("payload")
    if isinstance(payload, dict):
        body["payload"] = {k: v for k, v in payload.items() if k != "targets"}
    if "result" in body and isinstance(payload, dict) and payload.get("action") == "update-deployment":
        body["result"] = update_result(body["result"])
    return body


def heavy_status(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    body = {k: v for k, v in body.items() if k != "version"}
    nodes = body.get("apiNodes")
    if isinstance(nodes, list):
        body["apiNodes"] = [{"url": n.get("url")} for n in nodes if isinstance(n, dict)]
    return body


def update_record(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if "logs" in body:
        body["logs"] = plain_log(body["logs"])
    if "result" in body:
        body["result"] = update_result(body["result"])
    return body


class StrictMiddleware:
    """Reshape the deployer's JSON answers to the strict shapes above (see the module docstring)."""

    def __init__(self, app: ASGIApp, deployer: Deployer) -> None:
        self.app = app
        self.deployer = deployer

    def _shaper(self, method: str, route: str, query: bytes) -> Callable[[int, Any], tuple[int, Any]] | None:
        params = dict(part.split("=", 1) if "=" in part else (part, "")
                      for part in query.decode("latin-1").split("&") if part)
        if method == "GET" and (found := _FUTURE.match(route)):
            return self._future(found.group("job"), parse_bool(params.get("peek")))
        if method == "GET" and _FUTURES.match(route):
            return lambda status, body: (status, [future_body(f, peek=True) for f in body]
                                         if isinstance(body, list) else body)
        if method == "GET" and _STATUS.match(route):
            return lambda status, body: (status, heavy_status(body) if status < 400 else body)
        if method == "GET" and _UPDATE_LIST.match(route):
            return lambda status, body: (status, [{k: i[k] for k in _LIST_ITEM_KEEPS if k in i}
                                                  for i in body if isinstance(i, dict)]
                                         if isinstance(body, list) else body)
        if method == "GET" and _UPDATE_RECORD.match(route):
            return lambda status, body: (status, update_record(body) if status < 400 else body)
        if method == "POST" and _UPDATE_ACTION.match(route):
            # The synchronous variant answers a claim; the usual one a peek.
            return lambda status, body: (status, future_body(
                body, peek=not (isinstance(body, dict) and "result" in body)))
        return None

    def _future(self, job_id: str, peek: bool) -> Callable[[int, Any], tuple[int, Any]]:
        futures = self.deployer.futures

        def shape(status: int, body: Any) -> tuple[int, Any]:
            job = futures.jobs.get(job_id)
            if status < 400 and job is not None and not job.alive:
                if peek and job.error is not None:
                    return 500, job.error
                if not peek:
                    futures.jobs.pop(job_id, None)  # claimed: DSS forgets it
            elif status >= 400 and not peek and job is not None and job.error is not None and not job.alive:
                futures.jobs.pop(job_id, None)
            return status, future_body(body, peek=peek) if status < 400 else body

        return shape

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        route = next((path[len(p):] for p in PREFIXES if path == p or path.startswith(p + "/")), None)
        if route is None:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "GET" and _LAST_UPDATE.match(route):
            await error_response(DSSHTTPError(404, f"No such API route: GET {path}"))(scope, receive, send)
            return
        shaper = self._shaper(method, route, scope.get("query_string", b""))
        start: Message | None = None
        chunks: list[bytes] = []
        passthrough = False

        async def capture(message: Message) -> None:
            nonlocal start, passthrough
            if message["type"] == "http.response.start":
                if shaper is None and message["status"] != 409:
                    passthrough = True  # nothing to reshape: streamed as is (version downloads)
                    await send(message)
                    return
                start = message
                return
            if passthrough or message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            status, headers, body = self._reshape(method, route, start, b"".join(chunks), shaper)
            await send({**start, "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)

    def _reshape(self, method: str, route: str, start: Message, raw: bytes,
                 shaper: Callable[[int, Any], tuple[int, Any]] | None) -> tuple[int, list, bytes]:
        status: int = start["status"]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        is_json = any(k.lower() == b"content-type" and b"json" in v for k, v in headers)
        if (shaper is None and status != 409) or not is_json or not raw:
            return status, [*headers, (b"content-length", str(len(raw)).encode())], raw
        try:
            body = json.loads(raw)
        except ValueError:
            return status, [*headers, (b"content-length", str(len(raw)).encode())], raw
        if status == 409:
            # DSS maps no exception to 409: a refusal of that kind comes back as a 500.
            kind = BUSY_ERROR_TYPE if method == "POST" and _UPDATE_ACTION.match(route) else \
                (body.get("errorType") if isinstance(body, dict) else None)
            message = body.get("message", "") if isinstance(body, dict) else ""
            status, body = 500, error_body(kind or BUSY_ERROR_TYPE, message)
        elif shaper is not None:
            status, body = shaper(status, body)
        out = json_bytes(body)
        return status, [*headers, (b"content-length", str(len(out)).encode())], out
