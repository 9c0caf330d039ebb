"""The fleet: the deployments of every context at once, for the fleet screen (ui/screens/fleet.py).

It asks core/fleet.py `fetch_fleet` (every context concurrently, each with its own limit) and keeps what
arrives: rows by (context, deployment id), each context's infras (for its production guard), and one
update tracker per context (the app's own for the context the console is connected to, a
ContextTracker for the others) whose `marked` set holds that context's marks, so the main pane and the
fleet show the same marks. Subscribers get a FleetChanged per context listed and per batch of health.

The contexts come from core/contexts.py `list_contexts`. The one the console is connected to is found by
its URL (the embedded deployer: `local`) and uses the app's client; every other usable context gets its
own client from `Context.connection()`, so a key only ever goes to its own deployer. The embedded local
deployer, when it is not the console's connection, is not started for the fleet: it is one row saying so.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.message import Message

from deployer_tui.core import readers
from deployer_tui.core.config import Config, ConfigError, timeouts_for
from deployer_tui.core.contexts import Context, list_contexts
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.fleet import FleetRow, fetch_fleet
from deployer_tui.core.production import Guard, guard_for
from deployer_tui.core.profiles import ProfileError
from deployer_tui.ui.state.context_tracker import ContextTracker
from deployer_tui.ui.state.data_store import SKEW_HIDES
from deployer_tui.ui.state.publisher import Publisher
from deployer_tui.ui.state.update_tracker import UpdateTracker

if TYPE_CHECKING:
    from deployer_tui.core.client import DeployerClient

# Health batches reach the screen at most this often: thousands of heavy statuses arrive one by one.
HEALTH_FLUSH_SECONDS = 0.05
LOCAL_NOT_STARTED = ("the embedded local deployer is not started in this session (it runs only when it is "
                     "the console's own connection)")


class FleetChanged(Message):
    """`contexts`: contexts whose rows were replaced (listed, or found unreachable); `keys`: rows whose
    health arrived."""

    def __init__(self, contexts: frozenset[str] = frozenset(), keys: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.contexts = contexts
        self.keys = keys


def fleet_key(context: str, deployment_id: str | None) -> str:
    """A row's key in the fleet table: ids alone may repeat across deployers."""
    return f"{context}\x1f{deployment_id or ''}"


@dataclass
class FleetSource:
    """One context of the fleet: the client to ask, or why it cannot be asked."""

    name: str
    client: Any | None
    context: Context | None = None
    problem: str | None = None
    current: bool = False
    owned: bool = False  # a client of the fleet's own, closed by FleetState.aclose


def _same_url(a: str | None, b: str | None) -> bool:
    return bool(a and b) and str(a).rstrip("/") == str(b).rstrip("/")


def fleet_sources(config: Config, current_client: Any, current_where: str, *,
                  env: Mapping[str, str] = os.environ, dataiku_config: Path | None = None) -> list[FleetSource]:
    """Every context, the console's own first (with `current_client`); the others with clients of their
    own (not connected until asked), or a problem saying why they cannot be asked."""
    try:
        contexts = list_contexts(config, dataiku_config=dataiku_config, env=env)
    except (ConfigError, ProfileError) as exc:
        return [FleetSource(current_where or "current", current_client, current=True),
                FleetSource("config", None, problem=f"the other contexts cannot be listed: {exc}")]
    is_local = current_where == "local"
    url = getattr(current_client, "url", None)
    own = next((c for c in contexts if (c.is_local if is_local else c.problem is None and _same_url(c.url, url))),
               None)
    sources = [FleetSource(own.name if own else current_where or "current", current_client, own, current=True)]
    timeouts = timeouts_for(config)
    for context in contexts:
        if context is own:
            continue
        if context.problem:
            sources.append(FleetSource(context.name, None, context, problem=f"cannot be used: {context.problem}"))
        elif context.is_local:
            sources.append(FleetSource(context.name, None, context, problem=LOCAL_NOT_STARTED))
        else:
            from deployer_tui.core.client import DeployerClient  # httpx: only once the fleet opens

            conn = context.connection()
            client = DeployerClient(conn.url or "", conn.api_key or "", verify=conn.verify, timeout=timeouts)
            sources.append(FleetSource(context.name, client, context, owned=True))
    return sources


class FleetState(Publisher):
    def __init__(self, app: App, own_tracker: UpdateTracker, *, per_context_limit: int = 8,
                 read_only: bool = False) -> None:
        super().__init__()
        self.app = app
        self.own_tracker = own_tracker
        self.per_context_limit = per_context_limit
        self.read_only = read_only
        self.sources: dict[str, FleetSource] = {}
        self.rows: dict[str, FleetRow] = {}
        self.keys_of: dict[str, list[str]] = {}
        self.infras: dict[str, list[dict] | None] = {}
        self.listed: set[str] = set()  # contexts whose list (or failure) arrived
        self.trackers: dict[str, UpdateTracker] = {}
        self.loading = False
        self.loaded_once = False
        # For the benchmark and the status line: monotonic times of the last load.
        self.started_at: float | None = None
        self.first_rows_at: float | None = None
        self.done_at: float | None = None
        self._pending_health: set[str] = set()
        self._flush_handle: asyncio.TimerHandle | None = None

    # -- the contexts ------------------------------------------------------------------------
    def set_sources(self, sources: list[FleetSource]) -> None:
        """The contexts of the fleet (once: their clients and trackers live as long as the app)."""
        self.sources = {source.name: source for source in sources}
        for source in sources:
            if source.current:
                self.trackers[source.name] = self.own_tracker
            elif source.client is not None:
                self.trackers[source.name] = ContextTracker(self.app, source.client, source.name)

    def ensure_sources(self, config: Config, current_client: Any, current_where: str) -> None:
        """The contexts, listed on first use (the console's own client is known only once connected)."""
        if not self.sources:
            self.set_sources(fleet_sources(config, current_client, current_where))

    @property
    def current(self) -> str | None:
        return next((name for name, source in self.sources.items() if source.current), None)

    def tracker(self, context: str) -> UpdateTracker | None:
        return self.trackers.get(context)

    def guard(self, context: str) -> Guard:
        """What a change in this context asks (core/production.py); an unlisted context is guarded only by
        the console-wide read-only."""
        source = self.sources.get(context)
        if source is None or source.context is None:
            return Guard(False, self.read_only, None, context)
        return guard_for(source.context, self.infras.get(context), read_only=self.read_only)

    # -- reading -----------------------------------------------------------------------------
    def health(self, key: str) -> str:
        row = self.rows.get(key)
        if row is None or row.deployment is None:
            return "UNKNOWN"
        health = readers.display_health(row.deployment, row.health)
        if isinstance(row.health, dict) and row.health.get("skew") and health in SKEW_HIDES:
            return "SKEW"
        return health

    def stage(self, key: str) -> str:
        row = self.rows.get(key)
        if row is None or row.deployment is None:
            return "-"
        own = readers.basic(row.deployment, "infraBasicInfo").get("stage")
        if own:
            return str(own)
        infra_id = readers.basic(row.deployment, "deploymentBasicInfo").get("infraId")
        for infra in self.infras.get(row.context) or []:
            if readers.infra_id(infra) == infra_id:
                return str(readers.basic(infra, "infraBasicInfo").get("stage") or "-")
        return "-"

    def marked(self, key: str) -> bool:
        row = self.rows.get(key)
        tracker = self.trackers.get(row.context) if row is not None else None
        return tracker is not None and row is not None and row.deployment_id in tracker.marked

    def update_state(self, key: str) -> str | None:
        row = self.rows.get(key)
        tracker = self.trackers.get(row.context) if row is not None else None
        return tracker.running_state(row.deployment_id or "") if tracker is not None and row is not None else None

    def context_of_run(self, tracker_run: object) -> str | None:
        """Which context's tracker an UpdateProgressed/UpdateFinished run belongs to."""
        for name, tracker in self.trackers.items():
            run_id = getattr(tracker_run, "deployment_id", None)
            if run_id is not None and tracker.runs.get(run_id) is tracker_run:
                return name
        return None

    def status_line(self) -> str:
        """Per context: how many deployments, how much health is in, or why it is not listed."""
        parts = []
        for name, source in self.sources.items():
            keys = self.keys_of.get(name)
            if keys is None:
                parts.append(f"{name}: loading…")
                continue
            rows = [self.rows[key] for key in keys]
            if len(rows) == 1 and rows[0].error:
                parts.append(f"{name}: {rows[0].error}")
                continue
            enabled = [row for row in rows if row.deployment is not None and readers.is_enabled(row.deployment)]
            got = sum(1 for row in enabled if row.health is not None)
            here = " (this console's)" if source.current else ""
            parts.append(f"{name}{here}: {len(rows)} deployments, health {got}/{len(enabled)}")
        return " · ".join(parts)

    # -- loading -----------------------------------------------------------------------------
    async def load(self) -> None:
        """Fetch every context (again); rows are replaced per context as its list arrives."""
        if self.loading:
            return
        self.loading = True
        self.started_at, self.first_rows_at, self.done_at = time.monotonic(), None, None
        self.listed.clear()
        for name, source in self.sources.items():
            if source.problem is not None or source.client is None:
                self._rows_arrived(name, [FleetRow(name, None, None, source.problem or "not available")])
        clients = {name: source.client for name, source in self.sources.items()
                   if source.problem is None and source.client is not None}
        try:
            await asyncio.gather(
                fetch_fleet(clients, per_context_limit=self.per_context_limit, on_rows=self._rows_arrived,
                            on_health=self._health_arrived),
                *(self._load_infras(name, client) for name, client in clients.items()))
        finally:
            self._flush_health()
            self.loading = False
            self.loaded_once = True
            self.done_at = time.monotonic()

    async def _load_infras(self, name: str, client: DeployerClient) -> None:
        try:
            infras = await client.list_infras()
        except Exception:  # noqa: BLE001 - the list's own failure already says why, in its row
            # Unknown infras: not production unless the config says so (core/production.py).
            return
        self.infras[name] = infras
        self._publish(lambda: FleetChanged(contexts=frozenset({name})))

    def _rows_arrived(self, name: str, rows: list[FleetRow]) -> None:
        for key in self.keys_of.get(name, []):
            self.rows.pop(key, None)
        keys = []
        for row in rows:
            key = fleet_key(name, row.deployment_id)
            self.rows[key] = row
            keys.append(key)
        self.keys_of[name] = keys
        self.listed.add(name)
        if self.first_rows_at is None and any(row.error is None for row in rows):
            self.first_rows_at = time.monotonic()
        self._publish(lambda: FleetChanged(contexts=frozenset({name})))

    def _health_arrived(self, name: str, deployment_id: str, health: dict | DeployerError) -> None:
        self._pending_health.add(fleet_key(name, deployment_id))
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(HEALTH_FLUSH_SECONDS, self._flush_health)

    def _flush_health(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._pending_health:
            return
        keys = frozenset(self._pending_health)
        self._pending_health = set()
        self._publish(lambda: FleetChanged(keys=keys))

    async def refresh_one(self, context: str, deployment_id: str) -> None:
        """One deployment again (after its update): its light and heavy status."""
        source = self.sources.get(context)
        key = fleet_key(context, deployment_id)
        row = self.rows.get(key)
        if source is None or source.client is None or row is None:
            return
        try:
            row.deployment = await source.client.get_deployment(deployment_id)
            row.health = None
            if readers.is_enabled(row.deployment):
                row.health = await source.client.get_deployment_status(deployment_id)
        except DeployerError as exc:
            row.health = exc
        self._publish(lambda: FleetChanged(keys=frozenset({key})))

    async def aclose(self) -> None:
        """Close the clients the fleet opened (the console's own client is the app's)."""
        for source in self.sources.values():
            if source.owned and source.client is not None:
                await source.client.aclose()
