"""The state one deployer app shares between its routes: store, futures, HTTP client to the nodes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from starlette.requests import Request

from deployer_tui.server.deployer import model
from deployer_tui.server.deployer.auth import Principal, authenticate
from deployer_tui.server.deployer.database import Store
from deployer_tui.server.deployer.jobs import FutureRegistry
from deployer_tui.server.deployer.nodes import ServiceListCache
from deployer_tui.server.http import not_found

T = TypeVar("T")
RESTART_LINE = "The deployer restarted while this update was running: it was interrupted and its outcome on the " \
               "API nodes is unknown; run the update again"


def found(row: T | None, what: str, doc_id: str) -> T:
    """`row`, or the 404 that names the missing `what`."""
    if row is None:
        raise not_found(f"{what} {doc_id!r} does not exist")
    return row


class Deployer:
    def __init__(self, data_dir: Path, admin_key: str,
                 local_nodes: Callable[[], list[tuple[str, str]]] | None = None) -> None:
        self.store = Store(data_dir)
        self.admin_key = admin_key
        self.local_nodes = local_nodes
        self.futures = FutureRegistry()
        # Created in start(): an AsyncClient belongs to the event loop that serves the app.
        self.http: httpx.AsyncClient | None = None
        self.cache: ServiceListCache | None = None
        self.running_updates: dict[str, str] = {}  # deployment id -> job id
        self._background: set[asyncio.Task] = set()

    async def start(self) -> None:
        self.http = httpx.AsyncClient(limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
        self.cache = ServiceListCache(self.http)
        await asyncio.to_thread(self._recover)

    def _recover(self) -> None:
        self.store.fail_interrupted_updates(RESTART_LINE)
        self.store.remove_orphan_zips()
        if self.store.get_meta("stages") is None:
            self.store.set_meta("stages", model.DEFAULT_STAGES)
        self.rewrite_local_nodes()

    def rewrite_local_nodes(self) -> None:
        """Point apiNodes[] entries marked localNode=i at serve's node i as it runs now (ports change)."""
        nodes = self.local_nodes() if self.local_nodes else []
        for row in self.store.list("infras"):
            doc = row["doc"]
            changed = False
            for entry in doc.get("apiNodes") or []:
                index = entry.get(model.LOCAL_NODE_KEY) if isinstance(entry, dict) else None
                if isinstance(index, int) and not isinstance(index, bool) and 1 <= index <= len(nodes):
                    url, key = nodes[index - 1]
                    if entry.get("url") != url or entry.get("adminAPIKey") != key:
                        entry["url"], entry["adminAPIKey"] = url, key
                        changed = True
            if changed:
                self.store.replace("infras", doc, row["modified_by"])

    def background(self, coro: Any) -> None:
        """Run a small follow-up task, kept referenced until done and awaited on stop."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        await self.futures.shutdown()
        if self._background:
            await asyncio.wait(list(self._background), timeout=5)
        if self.http is not None:
            await self.http.aclose()
        self.store.close()

    async def who(self, request: Request) -> Principal:
        return authenticate(request, self.admin_key, self.store)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking store write off the event loop (each commit fsyncs)."""
        return await asyncio.to_thread(fn, *args)

    def row(self, table: str, doc_id: str, what: str, *, shared: bool = False) -> dict[str, Any]:
        """One stored document's row, or a 404 naming `what`. `shared=True`: the row memoised until the
        next write (Store.memo), for read-only handlers that never mutate it."""
        if shared:
            row = self.store.memo((table, doc_id), lambda: self.store.get(table, doc_id))
        else:
            row = self.store.get(table, doc_id)
        return found(row, what, doc_id)

    def stages(self) -> list[dict[str, Any]]:
        return self.store.get_meta("stages", model.DEFAULT_STAGES)
