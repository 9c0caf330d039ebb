"""The state one deployer app shares between its routes: store, futures, HTTP client to the nodes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from starlette.requests import Request

from deployer_tui.server.deployer import model
from deployer_tui.server.deployer.auth import Principal, authenticate
from deployer_tui.server.deployer.database import INFO, Store
from deployer_tui.server.deployer.jobs import FutureRegistry, log_line
from deployer_tui.server.deployer.nodes import STATUS_TIMEOUT, NodeAdmin, ServiceListCache, describe_exc
from deployer_tui.server.http import conflict, not_found

T = TypeVar("T")
log = logging.getLogger(__name__)
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
        # deployment id -> "update" or "delete": what holds it now (see claim)
        self.busy: dict[str, str] = {}
        self._background: set[asyncio.Task] = set()

    async def start(self) -> None:
        self.http = httpx.AsyncClient(limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
        self.cache = ServiceListCache(self.http)
        await asyncio.to_thread(self._recover)
        await self.restore_nodes()

    def _recover(self) -> None:
        self.store.fail_interrupted_updates(RESTART_LINE)
        self.store.remove_orphan_zips()
        if self.store.get_meta("stages") is None:
            self.store.set_meta("stages", model.DEFAULT_STAGES)
        self.rewrite_local_nodes()

    async def restore_nodes(self) -> None:
        """Nodes a rolling update took out of the load balancer and never put back (the deployer died
        during its wait) are set alive again. One that cannot be reached stays recorded: the heavy statuses
        of its infra's deployments say it is out, and the next update that reaches it puts it back."""
        assert self.http is not None
        http = self.http
        rows = await asyncio.to_thread(self.store.nodes_out)

        async def one(row: dict[str, Any]) -> None:
            infra = await asyncio.to_thread(self.store.get, "infras", row["infra_id"])
            entries = [n for n in (infra["doc"].get("apiNodes") or [] if infra else []) if isinstance(n, dict)]
            entry = next((n for n in entries if row["local_node"] is not None
                          and n.get(model.LOCAL_NODE_KEY) == row["local_node"]), None) \
                or next((n for n in entries if str(n.get("url", "")).rstrip("/") == row["url"]), None)
            args = (row["infra_id"], row["url"], row["deployment_id"], row["start_ts"], INFO)
            if entry is None:  # no longer a node of that infra: nothing of ours to put back
                await asyncio.to_thread(self.store.clear_node_out, *args, log_line(
                    INFO, f"[{row['url']}] is no longer an API node of infra {row['infra_id']}: not set alive"))
                return
            url = str(entry.get("url", "")).rstrip("/")
            if url != row["url"]:  # a local node on a new port
                await asyncio.to_thread(self.store.move_node_out, row["infra_id"], row["url"], url)
            try:
                await NodeAdmin(http, url, entry.get("adminAPIKey") or "").set_alive(True, STATUS_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - reported, and kept for the heavy status
                log.warning("API node %s is still out of the load balancer (an interrupted update set it not "
                            "alive) and could not be set alive: %s", url, describe_exc(exc))
                return
            await asyncio.to_thread(self.store.clear_node_out, row["infra_id"], url, row["deployment_id"],
                                    row["start_ts"], INFO, log_line(
                                        INFO, f"[{url}] set alive again after the restart: this update had "
                                              "taken it out of the load balancer"))

        await asyncio.gather(*(one(row) for row in rows))

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

    def claim(self, dep_id: str, what: str) -> None:
        """Mark deployment `dep_id` as held by `what` ("update" or "delete"), or refuse with a 409 naming
        what holds it. Synchronous on purpose: no await between the check and the mark, so of two requests
        sent together exactly one passes. The holder calls release() when it is done."""
        holder = self.busy.get(dep_id)
        if holder is None:
            self.busy[dep_id] = what
            return
        job = self.running_updates.get(dep_id)
        running = f"an update of deployment {dep_id!r} is running (future {job})" if job \
            else f"an update of deployment {dep_id!r} is starting"
        if holder == "delete":
            raise conflict(f"Deployment {dep_id!r} is being deleted: it cannot be {'updated' if what == 'update' else 'deleted again'}")
        if what == "update":
            raise conflict(f"An update of deployment {dep_id!r} is already running "
                           f"({f'future {job}' if job else 'starting'}); wait for it or abort it")
        raise conflict(f"Deployment {dep_id!r} cannot be deleted: {running}; wait for it or abort it")

    def release(self, dep_id: str, what: str) -> None:
        if self.busy.get(dep_id) == what:
            del self.busy[dep_id]

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
