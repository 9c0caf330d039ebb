"""The OpenAPI (Swagger 2.0) document of a deployment.

Built from the endpoints of the version the deployment serves (the last successfully deployed
mapping's version with the highest probability, else the saved mapping's): one path per endpoint
and verb, with the request body shape of the endpoint family and an example from its test queries.
"""

from __future__ import annotations

from typing import Any

from deployer_tui.core.package import ENDPOINT_VERBS

_BODY_SCHEMAS: dict[str, dict[str, Any]] = {
    "predict": {"type": "object", "required": ["features"], "properties": {
        "features": {"type": "object", "description": "feature name -> value"},
        "explanations": {"type": "object"}, "dispatch": {"type": "object"}, "context": {"type": "object"}}},
    "predict-multi": {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": {"type": "object", "properties": {"features": {"type": "object"}}}},
        "dispatch": {"type": "object"}}},
    "lookup": {"type": "object", "required": ["data"], "properties": {"data": {"type": "object"}}},
    "lookup-multi": {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": {"type": "object", "properties": {"data": {"type": "object"}}}}}},
}
_DESCRIPTIONS = {"predict": "prediction", "predict-multi": "predictions", "run": "function result",
                 "lookup": "looked-up record", "lookup-multi": "looked-up records", "query": "query results"}


def document(service: str, version: str, config: dict[str, Any], test_queries: dict[str, list]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for ep in config.get("endpoints") or []:
        for verb in ENDPOINT_VERBS.get(ep.get("type", ""), ()):
            schema = dict(_BODY_SCHEMAS.get(verb, {"type": "object", "description": "keyword arguments"}))
            examples = [q.get("q") for q in test_queries.get(ep["id"], []) if isinstance(q, dict)]
            if examples and not verb.endswith("-multi"):
                schema["example"] = examples[0]
            paths[f"/{ep['id']}/{verb}"] = {"post": {
                "summary": f"{ep['id']} ({ep.get('type')})", "operationId": f"{ep['id']}_{verb}".replace("-", "_"),
                "consumes": ["application/json"], "produces": ["application/json"],
                "parameters": [{"in": "body", "name": "body", "required": True, "schema": schema}],
                "responses": {"200": {"description": _DESCRIPTIONS.get(verb, "result")},
                              "400": {"description": "bad request"}, "401": {"description": "missing or bad API key"}},
            }}
    doc: dict[str, Any] = {"swagger": "2.0", "info": {"title": service, "version": version},
                           "basePath": f"/public/api/v1/{service}", "schemes": ["http", "https"], "paths": paths}
    if not config.get("publicAccess"):
        doc["securityDefinitions"] = {"apiKey": {"type": "basic", "description": "API key as user name"}}
        doc["security"] = [{"apiKey": []}]
    return doc
