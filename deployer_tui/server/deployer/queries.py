"""Queries sent through the deployer to a deployment's API nodes (docs/protocol.md, "Deployer routes").

Each query ``{"q": body, "headers": [{key, value}]}`` goes to the first API node of the infra that
answers (the next one is tried only when a node cannot be reached), at
``/public/api/v1/<service>/<endpoint>/<verb>``. The verb follows the endpoint type; a body with
``items`` goes to the ``-multi`` verb. When the deployment is not public, its first query key authenticates the
call: the deployment's own keys when its ``auth`` overrides the version's, else the first of the
version's ``config.json``. The answer is
``{"responses": [{"response": <node answer>} | {"error": <DSS error JSON>}]}``.
"""

from __future__ import annotations

from typing import Any

import httpx

from deployer_tui.server.deployer.nodes import describe_exc
from deployer_tui.server.http import bad_request, error_body

QUERY_TIMEOUT = httpx.Timeout(60.0, connect=5.0)

_VERBS = {
    "PY_FUNCTION": ("run", None), "R_FUNCTION": ("run", None),
    "CUSTOM_PREDICTION": ("predict", "predict-multi"), "CUSTOM_R_PREDICTION": ("predict", "predict-multi"),
    "STD_PREDICTION": ("predict", "predict-multi"), "STD_CLUSTERING": ("predict", "predict-multi"),
    "STD_MULTITARGET_PREDICTION": ("predict", "predict-multi"),
    "STD_CAUSAL_PREDICTION": ("predict-effect", "predict-effect-multi"), "STD_FORECAST": ("forecast", None),
    "DATASETS_LOOKUP": ("lookup", "lookup-multi"), "SQL_QUERY": ("query", None),
}


def verb_for(endpoint_type: str, body: Any) -> str:
    single, multi = _VERBS.get(endpoint_type, ("predict", "predict-multi"))
    if multi and isinstance(body, dict) and "items" in body:
        return multi
    return single


def pick_endpoint(endpoints: list[dict[str, Any]], endpoint_id: str | None) -> dict[str, Any]:
    if endpoint_id:
        for ep in endpoints:
            if ep.get("id") == endpoint_id:
                return ep
        raise bad_request(f"Endpoint {endpoint_id!r} is not in the deployed version "
                          f"(endpoints: {', '.join(e['id'] for e in endpoints)})")
    if len(endpoints) != 1:
        raise bad_request("The deployed version has several endpoints: say which one with the endpoint id "
                          f"({', '.join(e['id'] for e in endpoints)})")
    return endpoints[0]


def check_queries(queries: Any) -> list[dict[str, Any]]:
    if not isinstance(queries, list) or any(not isinstance(q, dict) for q in queries):
        raise bad_request('Queries must be a JSON list of {"q": {...}, "headers": [...]} objects')
    for i, q in enumerate(queries):
        headers = q.get("headers") or []
        if not isinstance(headers, list) or any(not isinstance(h, dict) or "key" not in h for h in headers):
            raise bad_request(f"Query {i}: headers must be a list of {{key, value}} objects")
    return queries


def query_key(public: bool, keys: list[dict[str, Any]]) -> str | None:
    if public:
        return None
    return keys[0].get("key") if keys and isinstance(keys[0], dict) else None


async def run(http: httpx.AsyncClient, node_urls: list[str], service: str, endpoint: dict[str, Any],
              auth: tuple[bool, list[dict[str, Any]]], queries: list[dict[str, Any]]) -> dict[str, Any]:
    """`auth` is (public, query keys) as the nodes apply them (model.effective_auth)."""
    if not node_urls:
        raise bad_request("The deployment's infra has no API node to send queries to")
    key = query_key(*auth)
    responses = []
    for query in queries:
        body = query.get("q")
        headers = {str(h["key"]): str(h.get("value", "")) for h in query.get("headers") or []}
        auth = httpx.BasicAuth(key, "") if key else None
        path = f"/public/api/v1/{service}/{endpoint['id']}/{verb_for(endpoint.get('type', ''), body)}"
        responses.append(await _send(http, node_urls, path, body, headers, auth))
    return {"responses": responses}


async def _send(http: httpx.AsyncClient, node_urls: list[str], path: str, body: Any, headers: dict[str, str],
                auth: httpx.Auth | None) -> dict[str, Any]:
    last = "no API node"
    for url in node_urls:
        try:
            resp = await http.post(url.rstrip("/") + path, json=body if body is not None else {}, headers=headers,
                                   auth=auth, timeout=QUERY_TIMEOUT)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            last = f"{url}: {describe_exc(exc)}"
            continue
        except httpx.HTTPError as exc:
            return {"error": error_body("java.io.IOException", f"Query to {url} failed: {describe_exc(exc)}")}
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code >= 400:
            if isinstance(data, dict) and "errorType" in data:
                return {"error": data}
            return {"error": error_body("java.io.IOException", f"HTTP {resp.status_code} from {url}: {resp.text[:300]}")}
        if data is None:
            return {"error": error_body("java.io.IOException", f"{url} did not answer with JSON")}
        return {"response": data}
    return {"error": error_body("java.io.IOException", f"No API node could be reached ({last})")}
