"""The local API Deployer as a Starlette app: every route under `/dip/publicapi` and `/public/api`.

Quirks handled here (docs/protocol.md, "Quirks the servers honour"): `//` and trailing slashes (NormalizePathMiddleware),
DSS-shaped errors for everything including unknown routes and wrong methods, and the
`DSS-Version` / `DSS-API-Version` response headers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from deployer_tui.server.deployer import routes_catalog, routes_deployments, routes_misc
from deployer_tui.server.deployer.context import Deployer
from deployer_tui.server.deployer.strict import StrictMiddleware
from deployer_tui.server.http import (
    HeadersMiddleware,
    NormalizePathMiddleware,
    SegmentRouter,
    exception_handlers,
)

PREFIXES = ("/dip/publicapi", "/public/api")
DSS_VERSION = "15.2.0-local"
log = logging.getLogger(__name__)


def create_app(data_dir: Path, admin_key: str,
               local_nodes: Callable[[], list[tuple[str, str]]] | None = None, *, dss_strict: bool = False) -> Starlette:
    """The deployer app. `local_nodes()` gives serve's nodes as (url, admin key), read at start-up.
    `dss_strict`: answer only in the shapes DSS documents or the official client reads (strict.py)."""
    deployer = Deployer(Path(data_dir), admin_key, local_nodes)
    routes = routes_catalog.ROUTES + routes_deployments.ROUTES + routes_misc.ROUTES

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await deployer.start()
        try:
            yield
        finally:
            await deployer.stop()

    # The strict shaper sits inside NormalizePathMiddleware: it matches routes on normalised paths.
    strict = [Middleware(StrictMiddleware, deployer=deployer)] if dss_strict else []
    app = Starlette(
        routes=[Mount(prefix, app=SegmentRouter(routes)) for prefix in PREFIXES],
        middleware=[Middleware(NormalizePathMiddleware), *strict,
                    Middleware(HeadersMiddleware, headers={"DSS-Version": DSS_VERSION, "DSS-API-Version": "1"})],
        exception_handlers=exception_handlers("deployer"),
        lifespan=lifespan,
    )
    app.state.deployer = deployer
    app.state.dss_strict = dss_strict
    return app
