"""SegmentRouter (server/http.py) picks exactly the route Starlette's own Router picks — the same
handler, the same 405 for a known path with another method, the same 404 — for every deployer route."""

from __future__ import annotations

import asyncio
import itertools

from starlette.responses import PlainTextResponse
from starlette.routing import Route, Router

from deployer_tui.server.deployer import routes_catalog, routes_deployments, routes_misc
from deployer_tui.server.http import SegmentRouter

DEPLOYER_ROUTES = routes_catalog.ROUTES + routes_deployments.ROUTES + routes_misc.ROUTES


def twins() -> tuple[Router, SegmentRouter]:
    """The deployer's route table (paths and methods), each handler answering with its own name."""

    def answer(name: str):
        async def endpoint(request):
            return PlainTextResponse(f"{name} {sorted(request.path_params.items())}")
        return endpoint

    routes = [Route(r.path, answer(f"{i}:{r.name}"), methods=[m for m in r.methods or [] if m != "HEAD"])
              for i, r in enumerate(DEPLOYER_ROUTES)]
    return Router(routes=routes), SegmentRouter(routes)


async def ask(app, method: str, path: str) -> tuple[int, bytes]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": b"", "headers": [], "scheme": "http", "server": ("t", 80)}
    try:
        await app(scope, receive, send)
    except Exception as exc:  # 404/405 are raised as HTTPException by both routers alike
        return getattr(exc, "status_code", 500), type(exc).__name__.encode()
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_segment_router_answers_like_starlettes_router():
    plain, indexed = twins()
    # Every route is indexed by its segment count: none falls back to trying the whole table.
    assert not indexed._anywhere
    assert sum(map(len, indexed._by_segments.values())) == len(DEPLOYER_ROUTES)
    paths = set()
    for route in DEPLOYER_ROUTES:
        filled = route.path.replace("{", "x-").replace("}", "")
        paths.update({filled, filled + "/extra", filled.rsplit("/", 1)[0] + "/nope", "/" + filled.split("/")[1]})
    paths.update({"/", "/nothing", "/api-deployer", "/api-deployer/deployments/a/b/c/d/e"})
    checked = 0
    for path, method in itertools.product(sorted(paths), ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")):
        expected = asyncio.run(ask(plain, method, path))
        assert asyncio.run(ask(indexed, method, path)) == expected, (method, path)
        checked += expected[0] == 200
    assert checked >= len(DEPLOYER_ROUTES)  # every route was reached, not only refusals compared
