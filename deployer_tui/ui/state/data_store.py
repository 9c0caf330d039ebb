"""The one data store of the UI: the latest lists, heavy statuses and connection state.

Screens subscribe and receive `DataChanged` / `ConnectionChanged` messages (the app an `ApiError` when a
list cannot be read); they never fetch lists themselves, so a screen added later (settings editor, updates) sees the same data. All network
calls run in workers owned by the app (exclusive groups), never on the event loop's critical path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from deployer_tui.core import readers
from deployer_tui.core.errors import ConnectionLost, DeployerError, RequestTimeout
from deployer_tui.core.shared_json import SharedDecoding
from deployer_tui.core.skew import skew
from deployer_tui.ui.state.messages import ApiError, ConnectionChanged, DataChanged
from deployer_tui.ui.state.publisher import Publisher

if TYPE_CHECKING:
    from textual.app import App

    from deployer_tui.core.client import DeployerClient

# Heavy statuses arrive one by one; the UI gets them in batches at most this often: each batch costs a
# repaint of the visible rows (DataTable drops its render cache on any cell update), so 5 a second.
HEALTH_FLUSH_SECONDS = 0.2
# ...and, once a pass has run this long (hundreds of deployments), less often: the rows on screen
# are fetched first, so what is left to fill is mostly out of sight.
HEALTH_FLUSH_SLOW_AFTER = 1.0
HEALTH_FLUSH_SLOW_SECONDS = 0.5
BACKOFF_START = 1.0
BACKOFF_MAX = 30.0
# The deployer's healths a version skew shows in place of: a node serving other versions is why a deployer
# says OUT_OF_SYNC or UNHEALTHY; ERROR (a node or the status could not be read) says more than a skew.
SKEW_HIDES = ("HEALTHY", "WARNING", "OUT_OF_SYNC", "UNHEALTHY", "UNKNOWN")


def key_refused(error: DeployerError) -> bool:
    """The deployer does not know the API key (HTTP 401, NotAuthenticatedException): retrying with the same
    key cannot help. A 403 is a known key without a right, and stays a list error."""
    return error.status == 401 or error.short_type == "NotAuthenticatedException"


class DataStore(Publisher):
    def __init__(self, app: App, client: DeployerClient | None, *, clock: Callable[[], float] = time.time,
                 heavy_concurrency: int = 8, context_name: str = "") -> None:
        super().__init__(context_name)
        self.app = app
        self.client = client
        self.clock = clock
        self.heavy_concurrency = heavy_concurrency
        self.infras: dict[str, dict] = {}
        self.services: dict[str, dict] = {}
        self.deployments: dict[str, dict] = {}
        # Per deployment, what the lists show of its heavy status (`heavy_summary`): the whole documents
        # of a 10,000-deployment pass were 40 MB. A screen that needs one whole fetches it.
        self.heavy: dict[str, dict | DeployerError] = {}
        self.loaded = False
        self.refreshed_at: float | None = None
        self.connection_error: DeployerError | None = None
        self.retry_in: float | None = None
        self._backoff = BACKOFF_START
        self._retry_timer = None
        self._heavy_running = False
        self._lists_running = False
        # Where the API key came from, in words ("the DKU_API_KEY environment variable"), for the banner
        # of a refused key; set by the app when it connects.
        self.key_origin = ""
        # Set by the main screen: deployment ids in display order, so heavy statuses of the rows on
        # screen are fetched first.
        self.display_order: Callable[[], list[str]] | None = None

    # -- queries ---------------------------------------------------------------------------
    def health(self, deployment_id: str) -> str:
        light = self.deployments.get(deployment_id)
        if light is None:
            return "UNKNOWN"
        health = readers.display_health(light, self.heavy.get(deployment_id))
        heavy = self.heavy.get(deployment_id)
        # A version skew (core/skew.py) says more than the deployer's own word, short of a failure.
        if isinstance(heavy, dict) and heavy.get("skew") and health in SKEW_HIDES:
            return "SKEW"
        return health

    def deployment_ids_of_infra(self, infra_id: str) -> list[str]:
        return [d for d, light in self.deployments.items() if readers.basic(light, "deploymentBasicInfo").get("infraId") == infra_id]

    def deployment_ids_of_service(self, service_id: str) -> list[str]:
        return [d for d, light in self.deployments.items() if readers.basic(light, "deploymentBasicInfo").get("publishedServiceId") == service_id]

    # -- loading ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """The lists are loading."""
        return self._lists_running

    @property
    def health_loading(self) -> bool:
        """A pass over the heavy statuses is running."""
        return self._heavy_running

    def refresh(self) -> None:
        """Reload the lists now (and then the heavy statuses), in a worker."""
        if self.client is None:
            return  # not connected yet: the app refreshes once it is
        if self._retry_timer is not None:
            self._retry_timer.stop()
            self._retry_timer = None
        self._lists_running = True
        self.app.run_worker(self._load_lists(), group=self.group("store.lists"), exclusive=True, exit_on_error=False,
                            name="load lists")

    def auto_refresh(self) -> None:
        """The interval's tick: skipped while a load runs or while the retry backoff owns the schedule."""
        if self._lists_running or self.connection_error is not None:
            return
        self.refresh()

    async def _load_lists(self) -> None:
        # One decoding state for the three lists: what they repeat of each other is kept once (shared_json).
        hook = SharedDecoding().hook
        try:
            infras, services, deployments = await asyncio.gather(
                self.client.list_infras(decode=hook), self.client.list_services(decode=hook),
                self.client.list_deployments(decode=hook))
        except (ConnectionLost, RequestTimeout) as exc:
            self._lists_running = False
            self._connection_lost(exc)
            return
        except DeployerError as exc:
            self._lists_running = False
            if key_refused(exc):
                self._key_refused(exc)
            else:
                self.app.post_message(self.stamp(ApiError(exc, "refreshing the lists")))
            return
        except BaseException:
            self._lists_running = False
            raise
        self._lists_running = False
        self.infras = {readers.infra_id(i): i for i in infras}
        self.services = {readers.service_id(s): s for s in services}
        self.deployments = {readers.deployment_id(d): d for d in deployments}
        for gone in set(self.heavy) - set(self.deployments):
            del self.heavy[gone]
        self.loaded = True
        self.refreshed_at = self.clock()
        if self.connection_error is not None:
            self.connection_error = None
            self.retry_in = None
            self._backoff = BACKOFF_START
            self._publish(lambda: ConnectionChanged(None))
        self._publish(lambda: DataChanged(frozenset({"infras", "services", "deployments"})))
        self._start_heavy()

    def _lost_meanwhile(self, exc: DeployerError) -> None:
        # The retry schedule is the lists' (one timer): join it unless it already runs.
        if self.connection_error is None and not self._lists_running:
            self._connection_lost(exc)

    def _key_refused(self, exc: DeployerError) -> None:
        # A refused key stays refused: no retry timer, and `auto_refresh` skips while `connection_error`
        # is set. The banner lasts, naming where the key came from; ctrl+r (`refresh`) tries again.
        origin = f" (the key came from {self.key_origin})" if self.key_origin else ""
        refused = DeployerError(f"{exc.message}{origin}", status=exc.status, error_type=exc.error_type,
                                detail=exc.detail, body=exc.body, method=exc.method, path=exc.path)
        self.connection_error = refused
        self.retry_in = None
        self._publish(lambda: ConnectionChanged(refused, None))

    def _connection_lost(self, exc: DeployerError) -> None:
        self.connection_error = exc
        self.retry_in = self._backoff
        self._publish(lambda: ConnectionChanged(exc, self.retry_in))
        self._retry_timer = self.app.set_timer(self._backoff, self.refresh, name="reconnect")
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)

    def _start_heavy(self) -> None:
        if self._heavy_running:
            return  # the running pass will finish; the next refresh starts a new one
        # Like DSS, no heavy status is fetched for disabled deployments: they show DISABLED.
        ids = [d for d, light in self.deployments.items() if readers.basic(light, "deploymentBasicInfo").get("enabled") is not False]
        if self.display_order is not None:
            rank = {d: i for i, d in enumerate(self.display_order())}
            ids.sort(key=lambda d: rank.get(d, len(rank)))
        if not ids:
            return
        self._heavy_running = True
        self.app.run_worker(self._load_heavy(ids), group=self.group("store.heavy"), exclusive=True, exit_on_error=False,
                            name="load heavy statuses")

    async def _load_heavy(self, ids: list[str]) -> None:
        # Imported here: the HTTP stack is not needed for the first paint.
        from deployer_tui.core.bulk import iter_heavy_statuses

        pending: set[str] = set()
        started = last_flush = time.monotonic()
        try:
            async for deployment, result in iter_heavy_statuses(self.client, ids, concurrency=self.heavy_concurrency):
                if deployment not in self.deployments:
                    continue
                self.heavy[deployment] = heavy_summary(result)
                pending.add(deployment)
                now = time.monotonic()
                every = HEALTH_FLUSH_SECONDS if now - started < HEALTH_FLUSH_SLOW_AFTER else HEALTH_FLUSH_SLOW_SECONDS
                if now - last_flush >= every:
                    self.rows_changed(pending)
                    pending = set()
                    last_flush = now
        finally:
            self._heavy_running = False
            if pending:
                self.rows_changed(pending)

    def rows_changed(self, ids: set[str]) -> None:
        """Tell the subscribers that these deployments' rows changed (heavy or light status), nothing else."""
        frozen = frozenset(ids)
        self._publish(lambda: DataChanged(frozenset({"health"}), frozen))

    def refresh_deployment(self, deployment_id: str, heavy: dict | None = None) -> None:
        """Reload one deployment's light and heavy status (after its update, say), in a worker: two
        requests, not every list and every heavy status. The lists reload only if the id is gone (or new).
        `heavy`: a heavy status read since the change (the update's end re-reads it), used instead of a
        third request to the deployer and its nodes."""
        if self.client is None:
            return
        self.app.run_worker(self._load_one(deployment_id, heavy), group=self.group(f"store.one:{deployment_id}"),
                            exclusive=True, exit_on_error=False, name=f"reload {deployment_id}")

    async def _load_one(self, deployment_id: str, fresh_heavy: dict | None = None) -> None:
        assert self.client is not None
        known = deployment_id in self.deployments
        try:
            light = await self.client.get_deployment(deployment_id)
        except (ConnectionLost, RequestTimeout) as exc:
            self._lost_meanwhile(exc)
            return
        except DeployerError as exc:
            if exc.status == 404 and known:
                self.refresh()  # deleted meanwhile: the lists changed
            return
        if not known or readers.deployment_id(light) != deployment_id:
            self.refresh()  # an id the lists do not have yet
            return
        self.deployments[deployment_id] = light
        self.heavy.pop(deployment_id, None)
        self.rows_changed({deployment_id})  # the row, showing loading… until the heavy status is back
        if not readers.is_enabled(light):
            return  # like DSS, no heavy status for a disabled deployment: it shows DISABLED
        try:
            heavy: dict | DeployerError = (fresh_heavy if fresh_heavy is not None
                                           else await self.client.get_deployment_status(deployment_id))
        except (ConnectionLost, RequestTimeout) as exc:
            self._lost_meanwhile(exc)
            return
        except DeployerError as exc:
            heavy = exc
        if deployment_id in self.deployments:
            self.heavy[deployment_id] = heavy_summary(heavy)
            self.rows_changed({deployment_id})

    def forget_heavy(self, deployment_id: str) -> None:
        """After a change (enable/disable), show LOADING until the next heavy status arrives."""
        self.heavy.pop(deployment_id, None)


_QUIET_SUMMARIES: dict[object, dict] = {}


def heavy_summary(status: dict | DeployerError) -> dict | DeployerError:
    """A heavy status cut to its health and its three most severe health messages, in the same shape,
    so that `readers.display_health` and `readers.health_messages` read it as they read the whole.
    Summaries without messages are shared (one per health: most deployments are HEALTHY)."""
    if not isinstance(status, dict):
        return status
    messages = readers.health_messages(status)[:3]
    health = status.get("health")
    found = skew(status)
    if not messages and not found and isinstance(health, (str, type(None))):
        return _QUIET_SUMMARIES.setdefault(health, {"health": health, "healthMessages": {"messages": []}})
    summary: dict = {"health": health, "healthMessages": {"messages": messages}}
    if found:
        summary["skew"] = found  # the nodes are cut from the summary: what they disagree on is kept
    return summary
