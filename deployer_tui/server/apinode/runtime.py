"""What a running node holds in memory: services, their mounted generations, and worker pools.

A generation is *mounted* while it is in its service's active mapping (or preloaded): it has one
worker pool per endpoint. A query holds its generation (`enter`/`leave`) from dispatch to answer;
when a mapping change unmounts a generation, the generation is *retired* and its pools are closed
only once its last in-flight query has finished, so that switching versions loses no query.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from deployer_tui.core.package import MAX_ENTRIES, MAX_UNCOMPRESSED_BYTES
from deployer_tui.server.apinode import mapping as mappings
from deployer_tui.server.apinode.audit import QueryLog
from deployer_tui.server.apinode.metrics import Metrics
from deployer_tui.server.apinode.node_files import Store, StoreError
from deployer_tui.server.apinode.pool import LOAD_TIMEOUT_S, PoolError, PoolSettings, WorkerPool
from deployer_tui.server.apinode.workers import SHIM_DIR, Worker

# Worker start-ups run at most this many at once on a node: they are CPU-bound.
SPAWN_CONCURRENCY = 2
HOUSEKEEPING_S = 2.0


# Node-wide bounds, each overridable in config/server.json {"limits": {...}}.
DEFAULT_LIMITS = {
    "maxQueryBodyBytes": 16 * 1024 * 1024,
    "maxQueryDepth": 64,
    "maxAnswerBytes": 64 * 1024 * 1024,
    "maxPackageBytes": MAX_UNCOMPRESSED_BYTES,
    "maxPackageEntries": MAX_ENTRIES,
}


def node_limits(config: dict[str, Any]) -> dict[str, int]:
    limits = dict(DEFAULT_LIMITS)
    given = config.get("limits")
    if isinstance(given, dict):
        for name, value in given.items():
            if name in limits and isinstance(value, int) and not isinstance(value, bool) and value > 0:
                limits[name] = value
    return limits


def check_limits(config: dict[str, Any]) -> None:
    """Refuse a config/server.json whose `limits` would be ignored (a typo must not go unnoticed)."""
    given = config.get("limits")
    if given is None:
        return
    if not isinstance(given, dict):
        raise StoreError("config/server.json 'limits' must be an object")
    for name, value in given.items():
        if name not in DEFAULT_LIMITS:
            raise StoreError(f"config/server.json limits.{name} is unknown (known: {', '.join(DEFAULT_LIMITS)})")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise StoreError(f"config/server.json limits.{name} must be a positive integer, not {value!r}")


def endpoint_access(config: dict[str, Any]) -> dict[str, list[str]]:
    """config/server.json `endpointAccess`: folders the operator lets endpoint code read, or read and write."""
    given = config.get("endpointAccess") or {}
    return {kind: [str(p) for p in given.get(kind) or []] for kind in ("read", "readWrite")} \
        if isinstance(given, dict) else {"read": [], "readWrite": []}


def check_endpoint_access(config: dict[str, Any], root: Path) -> None:
    """Refuse an `endpointAccess` that is malformed or would open the node's own state to endpoint code."""
    given = config.get("endpointAccess")
    if given is None:
        return
    if not isinstance(given, dict) or set(given) - {"read", "readWrite"}:
        raise StoreError("config/server.json 'endpointAccess' must be an object with 'read' and/or 'readWrite' lists")
    root = root.resolve()
    for kind, paths in given.items():
        if not isinstance(paths, list) or not all(isinstance(p, str) and Path(p).is_absolute() for p in paths):
            raise StoreError(f"config/server.json endpointAccess.{kind} must be a list of absolute paths")
        for path in paths:
            resolved = Path(path).resolve()
            if resolved == root or root in resolved.parents or resolved in root.parents:
                raise StoreError(f"config/server.json endpointAccess.{kind}: {path} overlaps the node's data dir; "
                                 "endpoint code may not reach the node's state")


class MountError(Exception):
    """A generation could not be mounted (its code does not load); nothing was changed."""


class GenerationRuntime:
    def __init__(self, node: Node, service_id: str, generation: str) -> None:
        self.node = node
        self.service_id = service_id
        self.generation = generation
        self.dir = node.store.generation_dir(service_id, generation)
        config = node.store.generation_config(service_id, generation)
        self.endpoints: dict[str, dict[str, Any]] = {ep["id"]: ep for ep in config.get("endpoints") or []}
        self.public = bool(config.get("publicAccess"))
        realm = config.get("authRealm") or {}
        self.keys = frozenset(k["key"] for k in realm.get("queryKeys") or [] if isinstance(k, dict) and k.get("key"))
        self.inflight = 0
        self.retired = False
        self.closed = False
        self.pools: dict[str, WorkerPool] = {ep_id: self._make_pool(ep) for ep_id, ep in self.endpoints.items()}

    def _make_pool(self, endpoint: dict[str, Any]) -> WorkerPool:
        spec = {"serviceId": self.service_id, "generation": self.generation, "endpoint": endpoint,
                "genDir": str(self.dir), "shimDir": SHIM_DIR, **self.node.sql_context(endpoint)}
        log_path = self.node.store.log_path(self.service_id)

        private = [self.node.store.root]
        max_answer = self.node.limits()["maxAnswerBytes"]
        access = endpoint_access(self.node.store.server_config())

        async def spawn() -> Worker:
            return await Worker.spawn(spec, self.dir, log_path, LOAD_TIMEOUT_S, private, max_answer, access)

        name = f"{self.service_id}/{endpoint['id']} ({self.generation})"
        settings = self.node.pool_settings(self.service_id, endpoint["id"])
        return WorkerPool(name, spawn, settings, self.node.spawn_gate)

    def accepts(self, key: str | None) -> bool:
        return self.public or (key is not None and key in self.keys)

    async def warm_up(self) -> None:
        async def one(ep_id: str, pool: WorkerPool) -> None:
            try:
                await pool.warm_up()
            except PoolError as exc:
                raise MountError(f"Generation {self.generation} of service {self.service_id}: "
                                 f"endpoint {ep_id!r}: {exc}") from None

        await asyncio.gather(*(one(ep_id, pool) for ep_id, pool in self.pools.items()))

    def enter(self) -> None:
        self.inflight += 1

    def leave(self) -> None:
        self.inflight -= 1
        if self.retired and self.inflight == 0:
            self.node.background(self.close())

    def retire(self) -> None:
        self.retired = True
        if self.inflight == 0:
            self.node.background(self.close())

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await asyncio.gather(*(pool.close() for pool in self.pools.values()), return_exceptions=True)


class ServiceRuntime:
    def __init__(self, service_id: str, state: dict[str, Any]) -> None:
        self.id = service_id
        self.enabled = bool(state.get("enabled"))
        self.mapping: dict[str, Any] | None = state.get("activeMapping") or None
        self.gens: dict[str, GenerationRuntime] = {}
        self.start_aborted_reason: str | None = None
        self.lock = asyncio.Lock()
        self.public_any = False
        self.keys_any: frozenset[str] = frozenset()
        # Set by the deployer from the deployment's `auth`: when present it decides for every
        # generation, instead of each generation's config.json.
        self.auth_override: dict[str, Any] | None = None

    def serving(self) -> bool:
        return self.enabled and bool(self.mapping)

    def refresh_auth(self) -> None:
        if self.auth_override is not None:
            self.public_any = bool(self.auth_override.get("publicAccess"))
            self.keys_any = frozenset(k["key"] for k in self.auth_override.get("queryKeys") or [])
            return
        mapped = [self.gens[g] for g in mappings.generations(self.mapping) if g in self.gens]
        self.public_any = any(g.public for g in mapped)
        self.keys_any = frozenset().union(*(g.keys for g in mapped)) if mapped else frozenset()

    def summary(self) -> dict[str, Any]:
        return {"serviceId": self.id, "enabled": self.enabled, "activeMapping": self.mapping,
                "startAbortedReason": self.start_aborted_reason}


class Node:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.metrics = Metrics()
        self.services: dict[str, ServiceRuntime] = {}
        self.spawn_gate = asyncio.Semaphore(SPAWN_CONCURRENCY)
        self._tasks: set[asyncio.Task] = set()
        self._housekeeper: asyncio.Task | None = None
        self.query_log: QueryLog | None = None
        self._limits: dict[str, int] | None = None

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        self.query_log = QueryLog.from_config(self.store.server_config(), self.store.root / "logs" / "queries.log")
        for service_id in self.store.service_ids():
            try:
                state = self.store.service_state(service_id)
            except StoreError as exc:
                # Listed, not served, and not overwritten: the operator can see why and fix the file.
                service = ServiceRuntime(service_id, {"enabled": False, "activeMapping": None})
                service.start_aborted_reason = str(exc)
                self.services[service_id] = service
                continue
            service = ServiceRuntime(service_id, state)
            self.services[service_id] = service
            try:
                service.auth_override = self.store.auth_override(service_id)
            except StoreError as exc:
                # Serving with the versions' own keys instead would open what the deployer closed.
                service.start_aborted_reason = str(exc)
                service.enabled = False
                continue
            if service.serving():
                self._mount_at_start(service)
        self._housekeeper = asyncio.create_task(self._housekeeping())

    def _mount_at_start(self, service: ServiceRuntime) -> None:
        """Serve the saved mapping at once; workers start in the background and early queries wait for them."""
        for generation in mappings.generations(service.mapping):
            if generation not in self.store.generation_ids(service.id):
                service.start_aborted_reason = f"Generation {generation} of the saved mapping is missing on disk"
                continue
            try:
                service.gens[generation] = GenerationRuntime(self, service.id, generation)
            except StoreError as exc:
                service.start_aborted_reason = f"Generation {generation}: {exc}"
        service.refresh_auth()

        async def warm() -> None:
            try:
                await asyncio.gather(*(g.warm_up() for g in service.gens.values()))
            except MountError as exc:
                service.start_aborted_reason = str(exc)

        self.background(warm())

    async def stop(self) -> None:
        if self._housekeeper:
            self._housekeeper.cancel()
        gens = [g for s in self.services.values() for g in s.gens.values()]
        await asyncio.gather(*(g.close() for g in gens), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.query_log is not None:
            self.query_log.close()

    def background(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            now = time.monotonic()
            for service in list(self.services.values()):
                for gen in list(service.gens.values()):
                    for pool in gen.pools.values():
                        with contextlib.suppress(Exception):
                            pool.check()
                            pool.shrink(now)

    # -- settings ------------------------------------------------------------

    def limits(self) -> dict[str, int]:
        """config/server.json `limits` over the defaults (see docs/security.md); read once, used per query."""
        if self._limits is None:
            self._limits = node_limits(self.store.server_config())
        return self._limits

    def pool_settings(self, service_id: str, endpoint_id: str) -> PoolSettings:
        defaults = self.store.server_config().get("endpointDefaults")
        return PoolSettings.from_config(defaults if isinstance(defaults, dict) else None,
                                        self.store.endpoint_settings(service_id, endpoint_id))

    def apply_settings(self, service_id: str) -> None:
        service = self.services.get(service_id)
        if service is None:
            return
        for gen in service.gens.values():
            for ep_id, pool in gen.pools.items():
                pool.apply(self.pool_settings(service_id, ep_id))

    def sql_context(self, endpoint: dict[str, Any]) -> dict[str, Any]:
        """Resolve a SQL endpoint's `connection` through config/server.json `remappedConnections`.

        Accepted values: a path to a SQLite file (relative paths are relative to the node's data
        dir), or an object `{"path": ...}` / `{"params": {"path": ...}}`.
        """
        if endpoint.get("type") != "SQL_QUERY":
            return {}
        name = endpoint.get("connection")
        remapped = self.store.server_config().get("remappedConnections") or {}
        value = remapped.get(name) if isinstance(remapped, dict) else None
        if isinstance(value, dict):
            value = value.get("path") or (value.get("params") or {}).get("path")
        if not isinstance(value, str) or not value:
            return {"sqliteError": f"Connection {name!r} is not configured on this API node: map it to a SQLite "
                                   "file in config/server.json, e.g. {\"remappedConnections\": "
                                   f"{{\"{name}\": \"data.sqlite\"}}}}"}
        path = Path(value)
        return {"sqlitePath": str(path if path.is_absolute() else self.store.root / path)}

    # -- mapping changes -----------------------------------------------------

    async def mount(self, service: ServiceRuntime, generations: list[str]) -> dict[str, GenerationRuntime]:
        """Runtimes for `generations`, reusing mounted ones; new ones are warmed up, or closed on failure."""
        result: dict[str, GenerationRuntime] = {}
        fresh = []
        for generation in generations:
            runtime = service.gens.get(generation)
            if runtime is None:
                try:
                    runtime = GenerationRuntime(self, service.id, generation)
                except StoreError as exc:
                    await asyncio.gather(*(g.close() for g in fresh), return_exceptions=True)
                    raise MountError(f"Generation {generation} of service {service.id}: {exc}") from None
                fresh.append(runtime)
            result[generation] = runtime
        try:
            await asyncio.gather(*(g.warm_up() for g in fresh))
        except BaseException:
            await asyncio.gather(*(g.close() for g in fresh), return_exceptions=True)
            raise
        return result

    def switch(self, service: ServiceRuntime, gens: dict[str, GenerationRuntime]) -> None:
        """Atomically (no await) replace the mounted generations; unmounted ones retire once idle."""
        old = service.gens
        service.gens = gens
        for generation, runtime in old.items():
            if gens.get(generation) is not runtime:
                runtime.retire()
        service.refresh_auth()
