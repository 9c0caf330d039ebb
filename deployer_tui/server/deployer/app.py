"""The local API Deployer as a Starlette app: every route under `/dip/publicapi` and `/public/api`.

Quirks of protocol.md Appendix B handled here: `//` and trailing slashes (NormalizePathMiddleware),
DSS-shaped errors for everything including unknown routes and wrong methods, and the
`DSS-Version` / `DSS-API-Version` response headers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from deployer_tui.server.deployer import routes_catalog, routes_deployments, routes_misc
from deployer_tui.server.deployer.context import Deployer
from deployer_tui.server.http import (
    INTERNAL,
    DSSHTTPError,
    HeadersMiddleware,
    NormalizePathMiddleware,
    error_response,
)

PREFIXES = ("/dip/publicapi", "/public/api")
DSS_VERSION = "15.2.0-local"
log = logging.getLogger(__name__)


async def _dss_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DSSHTTPError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        err = DSSHTTPError(405, f"Method {request.method} is not supported on {request.url.path}",
                           error_type="org.springframework.web.HttpRequestMethodNotSupportedException")
    elif exc.status_code == 404:
        err = DSSHTTPError(404, f"No such API route: {request.method} {request.url.path}")
    else:
        err = DSSHTTPError(exc.status_code, str(exc.detail))
    return error_response(err)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("Unexpected error on %s %s", request.method, request.url.path)
    return error_response(DSSHTTPError(500, f"{type(exc).__name__}: {exc}", error_type=INTERNAL))


def create_app(data_dir: Path, admin_key: str,
               local_nodes: Callable[[], list[tuple[str, str]]] | None = None) -> Starlette:
    """The deployer app. `local_nodes()` gives serve's nodes as (url, admin key), read at start-up."""
    deployer = Deployer(Path(data_dir), admin_key, local_nodes)
    routes = routes_catalog.ROUTES + routes_deployments.ROUTES + routes_misc.ROUTES

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await deployer.start()
        try:
            yield
        finally:
            await deployer.stop()

    app = Starlette(
        routes=[Mount(prefix, routes=routes) for prefix in PREFIXES],
        middleware=[Middleware(NormalizePathMiddleware),
                    Middleware(HeadersMiddleware, headers={"DSS-Version": DSS_VERSION, "DSS-API-Version": "1"})],
        exception_handlers={DSSHTTPError: _dss_error, HTTPException: _http_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.deployer = deployer
    return app
