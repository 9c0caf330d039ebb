"""Heavy statuses of many deployments at once: bounded concurrency, each yielded as soon as it arrives.

A heavy status contacts the API nodes, so it is slow and one failing deployment must not hide the
others: errors are yielded next to their deployment id, never raised for the whole batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

from deployer_tui.core.errors import DeployerError
from deployer_tui.core.readers import deployment_id, is_enabled


async def iter_heavy_statuses(
    client: Any, deployment_ids: Iterable[str], *, concurrency: int = 8
) -> AsyncIterator[tuple[str, dict | DeployerError]]:
    """Yield (deployment id, heavy status or the DeployerError) in arrival order.

    `concurrency` workers take ids from a queue, so at most that many requests are in flight; on a
    DeployerClient each worker uses its own connection lane (cheaper than one shared pool). Closing or
    cancelling the iterator cancels what is still pending.
    """
    ids = list(dict.fromkeys(deployment_ids))
    if not ids:
        return
    todo: asyncio.Queue[str] = asyncio.Queue()
    for dep_id in ids:
        todo.put_nowait(dep_id)
    done: asyncio.Queue[tuple[str, dict | DeployerError]] = asyncio.Queue()
    # Checked by attribute, not isinstance: importing the client (httpx) here would slow the UI's start.
    with_lanes = getattr(client, "supports_lanes", False) is True

    async def worker(lane: int) -> None:
        while not todo.empty():
            dep_id = todo.get_nowait()
            try:
                if with_lanes:
                    outcome: dict | DeployerError = await client.get_deployment_status(dep_id, lane=lane)
                else:
                    outcome = await client.get_deployment_status(dep_id)
            except DeployerError as err:
                outcome = err
            except Exception as exc:  # a bug or odd answer for one deployment must not end the batch
                outcome = DeployerError(str(exc) or type(exc).__name__, error_type=type(exc).__name__)
            done.put_nowait((dep_id, outcome))

    workers = [asyncio.create_task(worker(lane)) for lane in range(min(max(1, concurrency), len(ids)))]
    try:
        for _ in ids:
            yield await done.get()
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


async def deployment_statuses(
    client: Any, *, concurrency: int = 8, skip_disabled: bool = True
) -> tuple[list[dict], AsyncIterator[tuple[str, dict | DeployerError]]]:
    """Light statuses of all deployments now, and an iterator of their heavy statuses as they arrive.

    Like the DSS UI, disabled deployments are not asked for a heavy status unless `skip_disabled=False`
    (they show DISABLED whatever it says). A failing list call raises; heavy failures are yielded.
    """
    lights = await client.list_deployments()
    ids = [deployment_id(light) for light in lights if not skip_disabled or is_enabled(light)]
    return lights, iter_heavy_statuses(client, ids, concurrency=concurrency)
