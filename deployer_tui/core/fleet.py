"""The deployments of every context at once: the fleet (docs/contexts.md, "The fleet").

Each context is fetched by core/bulk.py `deployment_statuses`, the same calls the main screen's store
makes (the light list, then the heavy statuses of the enabled deployments with bounded concurrency), so
there is one bulk fetcher, not two. The contexts run concurrently and each has its own limit: a slow
deployer holds only its own requests. A context that cannot be listed (refused connection, refused
key, timeout, any error) becomes one FleetRow whose `error` says why in words; it never delays the
rows of the others, and a failing heavy status stays that deployment's health, as on the main screen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from deployer_tui.core.bulk import deployment_statuses
from deployer_tui.core.errors import ConnectionLost, DeployerError, RequestTimeout
from deployer_tui.core.readers import deployment_id


@dataclass
class FleetRow:
    """One deployment of one context, or (error set, deployment None) the row saying why a context is
    unreachable. `health`: the heavy status as the client returns it, its DeployerError, or None while it
    is not reported (and for disabled deployments, which are not asked, as on the main screen)."""

    context: str
    deployment: dict | None
    health: dict | DeployerError | None = None
    error: str | None = None

    @property
    def deployment_id(self) -> str | None:
        return deployment_id(self.deployment) if self.deployment is not None else None

    @property
    def key(self) -> tuple[str, str | None]:
        """(context, deployment id): unique across the fleet, where ids alone may repeat."""
        return self.context, self.deployment_id


RowsCallback = Callable[[str, list[FleetRow]], None]
HealthCallback = Callable[[str, str, "dict | DeployerError"], None]


def unreachable_reason(error: BaseException) -> str:
    """Why a context's deployments could not be listed, in words (never a key: the client's messages
    carry the host and the server's own words only, core/errors.py)."""
    if isinstance(error, (ConnectionLost, RequestTimeout)):
        return f"unreachable: {error.message}"
    if isinstance(error, DeployerError):
        if error.status == 401:
            return f"the deployer refused this context's API key (HTTP 401: {error.message})"
        if error.status == 403:
            return f"this context's API key may not list deployments (HTTP 403: {error.message})"
        if error.status is not None:
            return f"the deployer answered HTTP {error.status}: {error}"
        return str(error)
    if isinstance(error, asyncio.TimeoutError):
        return "unreachable: no answer in time"
    return f"cannot list deployments: {type(error).__name__}: {error}" if str(error) else type(error).__name__


async def fetch_context(name: str, client: Any, *, limit: int = 8, on_rows: RowsCallback | None = None,
                        on_health: HealthCallback | None = None) -> list[FleetRow]:
    """One context's rows: reported through `on_rows` as soon as its list arrives, each health through
    `on_health` as it arrives (and set on its row). Never raises for the deployer's failures."""
    try:
        lights, heavies = await deployment_statuses(client, concurrency=limit)
    except Exception as exc:  # any failure of the list: the one row saying why
        rows = [FleetRow(name, None, None, unreachable_reason(exc))]
        if on_rows is not None:
            on_rows(name, rows)
        return rows
    rows = [FleetRow(name, light) for light in lights]
    by_id = {row.deployment_id: row for row in rows}
    if on_rows is not None:
        on_rows(name, rows)
    try:
        async for dep_id, health in heavies:
            row = by_id.get(dep_id)
            if row is not None:
                row.health = health
            if on_health is not None:
                on_health(name, dep_id, health)
    finally:
        await heavies.aclose()
    return rows


async def fetch_fleet(clients: Mapping[str, Any], *, per_context_limit: int = 8,
                      on_rows: RowsCallback | None = None, on_health: HealthCallback | None = None,
                      limits: Mapping[str, int] | None = None) -> dict[str, list[FleetRow]]:
    """Every context's rows, fetched concurrently, each context with at most `per_context_limit` heavy
    statuses in flight (or its own in `limits`). Returns when every context is done, in the order of
    `clients`; cancelling it cancels every context's requests. A callback that raises is the caller's
    bug: it stops the fetch (the other contexts are cancelled) rather than being hidden."""
    names = list(clients)
    tasks = [asyncio.ensure_future(fetch_context(
        name, clients[name], limit=(limits or {}).get(name, per_context_limit), on_rows=on_rows,
        on_health=on_health)) for name in names]
    try:
        results = await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return dict(zip(names, results, strict=True))
