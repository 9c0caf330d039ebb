"""The fleet: the deployments of every context at once, for the fleet screen (ui/screens/fleet.py).

It asks core/fleet.py `fetch_fleet` (every context concurrently, each with its own limit) and keeps what
arrives: rows by (context, deployment id) and each context's infras (for its production guard). Marks
and updates are each context's own (`app.contexts`, ui/state/contexts_state.py: its tracker's `marked`),
so the main pane of a context and the fleet show the same marks. Subscribers get a FleetChanged per
context listed and per batch of health.

A context already opened is asked through its own session's client. One not opened yet is asked through
a client of the fleet's own, built from `Context.connection()` (so a key only ever goes to its own
deployer) and without opening the context: its lists and user are not loaded for the fleet. The
embedded local deployer is not started for the fleet: until it is opened, it is one row saying so.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.message import Message

from deployer_tui.core import readers
from deployer_tui.core.config import Config, timeouts_for
from deployer_tui.core.contexts import Context
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.fleet import FleetRow, fetch_fleet
from deployer_tui.core.production import Guard, guard_for
from deployer_tui.ui.state.data_store import SKEW_HIDES
from deployer_tui.ui.state.publisher import Publisher
from deployer_tui.ui.state.update_tracker import UpdateTracker

if TYPE_CHECKING:
    from deployer_tui.core.client import DeployerClient
    from deployer_tui.ui.state.contexts_state import Contexts

# Health batches reach the screen at most this often: thousands of heavy statuses arrive one by one.
HEALTH_FLUSH_SECONDS = 0.05
LOCAL_NOT_STARTED = "the embedded deployer is not started (switch to it to start it)"


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
    context: Context
    problem: str | None = None


class FleetState(Publisher):
    def __init__(self, app: App, contexts: Contexts, *, per_context_limit: int = 8, read_only: bool = False,
                 config: Config | None = None) -> None:
        super().__init__()
        self.app = app
        self.contexts = contexts
        self.per_context_limit = per_context_limit
        self.read_only = read_only
        self.config = config or Config()
        self.sources: dict[str, FleetSource] = {}
        self._own_clients: dict[str, DeployerClient] = {}
        self.rows: dict[str, FleetRow] = {}
        self.keys_of: dict[str, list[str]] = {}
        self.infras: dict[str, list[dict]] = {}  # infra lights per context, as listed by the fleet
        self.loading = False
        self._pending_health: set[str] = set()
        self._flush_handle: asyncio.TimerHandle | None = None

    # -- the contexts ------------------------------------------------------------------------
    def ensure_sources(self) -> None:
        """Who to ask for each context, now: its session's client once opened, else the fleet's own."""
        sources = {}
        for name in self.contexts.names():
            state = self.contexts.get(name)
            context = state.context
            if state.session is not None:
                sources[name] = FleetSource(name, state.session.client, context)
            elif context.problem:
                sources[name] = FleetSource(name, None, context, problem=f"cannot be used: {context.problem}")
            elif context.is_local or not context.url:
                sources[name] = FleetSource(name, None, context, problem=LOCAL_NOT_STARTED if context.is_local
                                            else state.open_error or "not connected")
            else:
                client = self._own_clients.get(name)
                if client is None:
                    from deployer_tui.core.client import DeployerClient  # httpx: once the fleet opens

                    conn = context.connection()
                    client = self._own_clients[name] = DeployerClient(
                        conn.url or "", conn.api_key or "", verify=conn.verify, timeout=timeouts_for(self.config))
                sources[name] = FleetSource(name, client, context)
        self.sources = sources

    @property
    def current(self) -> str:
        return self.contexts.current

    def tracker(self, context: str) -> UpdateTracker | None:
        return self.contexts.get(context).updates if context in self.contexts.states else None

    def guard(self, context: str) -> Guard:
        """What a change in this context asks (core/production.py), from the infras its store listed or,
        for a context not opened, the ones the fleet listed."""
        if context not in self.contexts.states:
            return Guard(False, self.read_only, None, context)
        state = self.contexts.get(context)
        infras = state.infras
        if infras is None and context in self.infras:
            infras = [readers.basic(light, "infraBasicInfo") for light in self.infras[context]]
        return guard_for(state.context, infras, read_only=self.read_only or state.console_read_only)

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
        tracker = self.tracker(row.context) if row is not None else None
        return tracker is not None and row is not None and row.deployment_id in tracker.marked

    def update_state(self, key: str) -> str | None:
        row = self.rows.get(key)
        tracker = self.tracker(row.context) if row is not None else None
        return tracker.running_state(row.deployment_id or "") if tracker is not None and row is not None else None

    def status_line(self) -> str:
        """Per context: how many deployments, how much health is in, or why it is not listed."""
        parts = []
        for name in self.sources:
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
            here = " (on screen)" if name == self.current else ""
            parts.append(f"{name}{here}: {len(rows)} deployments, health {got}/{len(enabled)}")
        return " · ".join(parts)

    # -- loading -----------------------------------------------------------------------------
    async def load(self) -> None:
        """Fetch every context (again); rows are replaced per context as its list arrives."""
        if self.loading:
            return
        self.loading = True
        self.ensure_sources()
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

    async def refresh_one(self, context: str, deployment_id: str, heavy: dict | None = None) -> None:
        """One deployment again (after its update): its light and heavy status (`heavy`: one read since
        the change, as the update's end re-reads it, used instead of asking the nodes again)."""
        source = self.sources.get(context)
        key = fleet_key(context, deployment_id)
        row = self.rows.get(key)
        if source is None or source.client is None or row is None:
            return
        try:
            row.deployment = await source.client.get_deployment(deployment_id)
            row.health = None
            if readers.is_enabled(row.deployment):
                row.health = heavy if heavy is not None else await source.client.get_deployment_status(deployment_id)
        except DeployerError as exc:
            row.health = exc
        self._publish(lambda: FleetChanged(keys=frozenset({key})))

    async def aclose(self) -> None:
        """Close the clients the fleet opened (an opened context's client is its session's)."""
        clients, self._own_clients = list(self._own_clients.values()), {}
        for client in clients:
            await client.aclose()
