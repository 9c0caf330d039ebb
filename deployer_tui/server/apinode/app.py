"""The local API node as an ASGI app: `create_app(data_dir, admin_key)`.

The app's lifespan loads the node's state from `data_dir` (see `node_files.py`), starts the worker
processes of every enabled service's mapped generations, and stops them all on shutdown. Routes:
the admin API (`admin.py`), the user API (`user.py`; its queries are answered by `UserAPI`, the
hot path, which wraps the Starlette app), `/isAlive` and per-service `isAliveSimple`.
Every error is DSS-shaped JSON; every response carries `DSS-Version` and `DSS-APINode-API-Version`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp

import deployer_tui
from deployer_tui.server.apinode import admin, confine, user
from deployer_tui.server.apinode.node_files import Store
from deployer_tui.server.apinode.runtime import Node, check_endpoint_access, check_limits
from deployer_tui.server.apinode.workers import CONFINEMENT
from deployer_tui.server.http import HeadersMiddleware, NormalizePathMiddleware, exception_handlers

RESPONSE_HEADERS = {"DSS-Version": f"deployer-tui-{deployer_tui.__version__}", "DSS-APINode-API-Version": "1"}


def create_app(data_dir: Path, admin_key: str) -> ASGIApp:
    """An API node keeping its state in `data_dir`; `admin_key` is (also) accepted on the admin API."""
    store = Store(Path(data_dir))
    store.install_startup_key(admin_key)
    config = store.server_config()  # a malformed config/server.json stops the start here, with its name
    check_limits(config)
    check_endpoint_access(config, store.root)
    # Other processes of this user (and endpoint code where Landlock is missing) cannot read this
    # process's memory, environment or open files.
    confine.set_not_dumpable()
    line, warning = confine.describe(CONFINEMENT)
    print(f"deployer-tui apinode: {line}", file=sys.stderr, flush=True)
    if warning:
        logging.getLogger("deployer_tui.apinode").warning("%s", line)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        node = Node(store)
        app.state.node = node
        app.state.admin_keys = [k["key"] for k in store.admin_keys() if k.get("key")]
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    app = Starlette(
        routes=[*user.ROUTES, *admin.ROUTES],
        middleware=[Middleware(NormalizePathMiddleware), Middleware(HeadersMiddleware, headers=RESPONSE_HEADERS)],
        exception_handlers=exception_handlers("API node"),
        lifespan=lifespan,
    )
    return user.UserAPI(app, RESPONSE_HEADERS)
