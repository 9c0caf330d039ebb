"""A pool of worker processes for one endpoint of one generation (DSS's pool settings: docs/protocol.md, "Python endpoint code").

Pool settings, as in DSS's `endpointsServerSideConfigs.pool`: `floor` workers are started when
the generation is mounted and kept; up to `ceil` run at once; after a burst, idle workers beyond
`cruise` are stopped; when `ceil` are busy, up to `queue` requests wait in FIFO order, each for
at most `timeout` ms, and further ones are refused with 503. One worker serves one request at a
time. On top of DSS's settings, `executionTimeoutMs` bounds how long one request may run: past
it the worker is killed (and replaced) and the caller gets a 503.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deployer_tui.server.apinode.workers import Worker, WorkerDied, WorkerLoadError, WorkerMisbehaved

DEFAULT_POOL = {"floor": 1, "ceil": 8, "cruise": 2, "queue": 16, "timeout": 10000}
DEFAULT_EXECUTION_TIMEOUT_MS = 30000
# Idle workers above `cruise` are stopped once idle this long.
SHRINK_AFTER_S = 30.0
# After a failed load, requests get the same error for a while instead of spawning again: 2 s after
# the first failure, doubling up to a minute while the code keeps failing to load.
LOAD_RETRY_AFTER_S = 2.0
LOAD_RETRY_MAX_S = 60.0
LOAD_TIMEOUT_S = 120.0


@dataclass
class PoolSettings:
    floor: int = 1
    ceil: int = 8
    cruise: int = 2
    queue: int = 16
    timeout_ms: int = 10000
    execution_timeout_ms: int = DEFAULT_EXECUTION_TIMEOUT_MS

    @classmethod
    def from_config(cls, *configs: dict[str, Any] | None) -> PoolSettings:
        """Merge settings documents, later ones winning: node defaults, then per-endpoint settings."""
        merged: dict[str, Any] = dict(DEFAULT_POOL)
        execution = DEFAULT_EXECUTION_TIMEOUT_MS
        for config in configs:
            if not config:
                continue
            merged.update({k: v for k, v in (config.get("pool") or {}).items() if v is not None})
            if config.get("executionTimeoutMs") is not None:
                execution = config["executionTimeoutMs"]
        return cls(floor=merged["floor"], ceil=merged["ceil"], cruise=merged["cruise"], queue=merged["queue"],
                   timeout_ms=merged["timeout"], execution_timeout_ms=execution)


def check_settings(doc: Any) -> dict[str, Any]:
    """Validate an endpoint settings document; returns it. Raises ValueError with the reason."""
    if not isinstance(doc, dict):
        raise ValueError("Endpoint settings must be a JSON object")
    pool = doc.get("pool")
    if pool is not None:
        if not isinstance(pool, dict):
            raise ValueError("'pool' must be an object with floor, ceil, cruise, queue and timeout")
        for key, value in pool.items():
            if key in DEFAULT_POOL and value is not None and (
                    not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"pool.{key} must be a non-negative integer, not {value!r}")
        merged = {**DEFAULT_POOL, **{k: v for k, v in pool.items() if v is not None}}
        if merged["ceil"] < 1:
            raise ValueError("pool.ceil must be at least 1")
        if not merged["floor"] <= merged["cruise"] <= merged["ceil"]:
            raise ValueError(f"pool settings need floor <= cruise <= ceil (got floor={merged['floor']}, "
                             f"cruise={merged['cruise']}, ceil={merged['ceil']})")
    execution = doc.get("executionTimeoutMs")
    if execution is not None and (not isinstance(execution, int) or isinstance(execution, bool) or execution < 1):
        raise ValueError(f"executionTimeoutMs must be a positive integer (milliseconds), not {execution!r}")
    return doc


class PoolError(Exception):
    """A request the pool could not run; `status` and `kind` say how to answer it."""

    def __init__(self, status: int, message: str, kind: str = "unavailable", trace: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.trace = trace


class WorkerPool:
    def __init__(self, name: str, spawn: Callable[[], Any], settings: PoolSettings,
                 spawn_gate: asyncio.Semaphore) -> None:
        self.name = name
        self._spawn_fn = spawn
        self.settings = settings
        self._gate = spawn_gate
        self.idle: list[Worker] = []
        self.busy = 0
        self.starting = 0
        self.waiters: deque[asyncio.Future[Worker]] = deque()
        self.closed = False
        self.load_error: WorkerLoadError | None = None
        self._load_error_at = 0.0
        self._load_failures = 0
        self._tasks: set[asyncio.Task] = set()
        # Waiters that timed out or were cancelled since the last prune (an upper bound).
        self._gave_up = 0

    @property
    def size(self) -> int:
        return len(self.idle) + self.busy + self.starting

    # -- spawning ------------------------------------------------------------

    async def _spawn_one(self) -> Worker:
        async with self._gate:
            if self.closed:
                raise PoolError(503, f"Endpoint {self.name} was unloaded")
            return await self._spawn_fn()

    def _start_spawn(self) -> None:
        self.starting += 1
        task = asyncio.create_task(self._spawn_and_offer())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _spawn_and_offer(self) -> None:
        try:
            worker = await self._spawn_one()
        except WorkerLoadError as exc:
            self.starting -= 1
            self._record_load_error(exc)
            self._fail_waiters_if_nothing_coming(exc)
            return
        except BaseException as exc:  # noqa: BLE001 - e.g. cancelled at shutdown, or a PoolError
            self.starting -= 1
            self._fail_waiters_if_nothing_coming(exc)
            return
        self.starting -= 1
        self.load_error, self._load_failures = None, 0
        self._offer(worker)

    def _fail_waiters_if_nothing_coming(self, exc: BaseException) -> None:
        if self.busy or self.idle or self.starting:
            return
        error = _as_pool_error(exc)
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def _offer(self, worker: Worker) -> None:
        """Hand a free worker to the first live waiter, else park it."""
        if self.closed or not worker.alive:
            worker.kill()
            self._replenish()
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                self.busy += 1
                waiter.set_result(worker)
                return
        worker.idle_since = time.monotonic()
        self.idle.append(worker)

    def _replenish(self) -> None:
        """Keep `floor` workers, and enough spawning to serve whoever waits."""
        if self.closed:
            return
        self._prune_waiters()
        wanted = max(self.settings.floor, min(self.settings.ceil, self.busy + len(self.waiters)))
        while self.size < wanted and not self._recent_load_error():
            self._start_spawn()

    def _prune_waiters(self) -> None:
        """Forget waiters that gave up (timed out or cancelled) so that they are not counted."""
        if self._gave_up:  # only then can a queued waiter be done: skip the scan on the hot path
            self._gave_up = 0
            self.waiters = deque(w for w in self.waiters if not w.done())

    def _record_load_error(self, exc: WorkerLoadError) -> None:
        self.load_error, self._load_error_at = exc, time.monotonic()
        self._load_failures += 1

    def _recent_load_error(self) -> bool:
        if self.load_error is None:
            return False
        backoff = min(LOAD_RETRY_AFTER_S * 2 ** (self._load_failures - 1), LOAD_RETRY_MAX_S)
        return time.monotonic() - self._load_error_at < backoff

    async def warm_up(self) -> None:
        """Start `floor` workers and wait for them; raises PoolError if the code does not load."""
        spawns = [asyncio.create_task(self._spawn_one()) for _ in range(max(self.settings.floor - self.size, 0))]
        self.starting += len(spawns)
        results = await asyncio.gather(*spawns, return_exceptions=True)
        self.starting -= len(spawns)
        error = None
        for result in results:
            if isinstance(result, Worker):
                self._offer(result)
            else:
                error = error or result
        if error is not None:
            if isinstance(error, WorkerLoadError):
                self._record_load_error(error)
            raise _as_pool_error(error)

    # -- requests ------------------------------------------------------------

    async def acquire(self) -> Worker:
        while self.idle:
            worker = self.idle.pop()
            if worker.alive:
                self.busy += 1
                return worker
            worker.kill()
        if self.closed:
            raise PoolError(503, f"Endpoint {self.name} was unloaded")
        if self._recent_load_error() and not self.starting and not self.busy:
            raise _as_pool_error(self.load_error)
        self._prune_waiters()
        if len(self.waiters) >= self.settings.queue + max(self.settings.ceil - self.busy, 0):
            raise PoolError(503, f"Endpoint {self.name} is overloaded: {self.busy} requests running and "
                                 f"{len(self.waiters)} queued (pool ceil {self.settings.ceil}, "
                                 f"queue {self.settings.queue})")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Worker] = loop.create_future()
        self.waiters.append(waiter)
        self._replenish()
        # A timer on the waiter itself: cheaper per queued request than wait_for(shield(...)).
        timer = loop.call_later(self.settings.timeout_ms / 1000, _expire, waiter)
        try:
            return await waiter
        except _QueueTimeout:
            self._gave_up += 1
            raise PoolError(503, f"Endpoint {self.name} had no free worker within {self.settings.timeout_ms} ms "
                                 f"(pool ceil {self.settings.ceil})") from None
        except asyncio.CancelledError:
            # Cancelled (client gone, shutdown) after a worker was handed over: give it back.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release(waiter.result())
            else:
                self._gave_up += 1
                waiter.cancel()
            raise
        finally:
            timer.cancel()

    def release(self, worker: Worker) -> None:
        self.busy -= 1
        self._offer(worker)

    def discard(self, worker: Worker) -> None:
        """A worker that timed out or crashed: kill it and start a replacement if one is needed."""
        self.busy -= 1
        worker.kill()
        self._replenish()

    async def run(self, message: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Run one query; returns (the worker's reply, µs waited for a worker)."""
        queued = time.perf_counter_ns()
        worker = await self.acquire()
        waited = (time.perf_counter_ns() - queued) // 1000
        limit = self.settings.execution_timeout_ms / 1000
        try:
            reply = await worker.call(message, limit)
        except asyncio.TimeoutError:
            self.discard(worker)
            raise PoolError(503, f"Endpoint {self.name} did not answer within {self.settings.execution_timeout_ms} ms; "
                                 "its worker was stopped and replaced", kind="timeout") from None
        except WorkerMisbehaved as exc:
            self.discard(worker)
            raise PoolError(500, f"The worker process of endpoint {self.name} was stopped and replaced: {exc}",
                            kind="protocol") from None
        except WorkerDied as exc:
            self.discard(worker)
            raise PoolError(500, f"The worker process of endpoint {self.name} died while running the query "
                                 f"({exc}); it was replaced", kind="crash") from None
        except BaseException:
            # Cancelled mid-call (client gone, shutdown): the worker's state is unknown, replace it.
            self.discard(worker)
            raise
        self.release(worker)
        return reply, waited

    # -- housekeeping --------------------------------------------------------

    def shrink(self, now: float) -> None:
        """Stop idle workers above `cruise` (or `floor` when nothing ran lately) that idled long enough."""
        keep = max(self.settings.cruise, self.settings.floor)
        if len(self.idle) <= keep:
            return
        self.idle.sort(key=lambda w: w.idle_since)
        while len(self.idle) > keep and now - self.idle[0].idle_since > SHRINK_AFTER_S:
            asyncio.create_task(self.idle.pop(0).stop())

    def check(self) -> None:
        """Drop idle workers that died on their own and keep `floor` workers."""
        dead = [w for w in self.idle if not w.alive]
        for worker in dead:
            self.idle.remove(worker)
            worker.kill()
        self._replenish()

    def apply(self, settings: PoolSettings) -> None:
        self.settings = settings
        self._replenish()

    async def close(self) -> None:
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_exception(PoolError(503, f"Endpoint {self.name} was unloaded"))
        self.waiters.clear()
        idle, self.idle = self.idle, []
        await asyncio.gather(*(w.stop(0.5) for w in idle), return_exceptions=True)


class _QueueTimeout(Exception):
    """A queued request waited `timeout` ms without getting a worker."""


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(_QueueTimeout())


def _as_pool_error(exc: BaseException | None) -> PoolError:
    if isinstance(exc, PoolError):
        return exc
    if isinstance(exc, WorkerLoadError):
        return PoolError(500, f"The endpoint code failed to load: {exc}", kind="load", trace=exc.trace)
    if isinstance(exc, asyncio.CancelledError):
        return PoolError(503, "The endpoint is being unloaded")
    return PoolError(500, f"Could not start a worker: {exc}")

