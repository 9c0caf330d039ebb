"""Heavy statuses of many deployments at once: bounded concurrency, each yielded as soon as it arrives.

A heavy status contacts the API nodes, so it is slow and one failing deployment must not hide the
others: errors are yielded next to their deployment id, never raised for the whole batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

from deployer_tui.core.errors import DeployerError
from deployer_tui.core.models import deployment_id, is_enabled


async def iter_heavy_statuses(
    client: Any, deployment_ids: Iterable[str], *, concurrency: int = 8
) -> AsyncIterator[tuple[str, dict | DeployerError]]:
    """Yield (deployment id, heavy status or the DeployerError) in arrival order.

    At most `concurrency` requests are in flight. Closing or cancelling the iterator cancels what is
    still pending.
    """
    ids = list(dict.fromkeys(deployment_ids))
    if not ids:
        return
    gate = asyncio.Semaphore(max(1, concurrency))
    done: asyncio.Queue[tuple[str, dict | DeployerError]] = asyncio.Queue()

    async def fetch(dep_id: str) -> None:
        async with gate:
            try:
                outcome: dict | DeployerError = await client.get_deployment_status(dep_id)
            except DeployerError as err:
                outcome = err
            except Exception as exc:  # a bug or odd answer for one deployment must not end the batch
                outcome = DeployerError(str(exc) or type(exc).__name__, error_type=type(exc).__name__)
        done.put_nowait((dep_id, outcome))

    tasks = [asyncio.create_task(fetch(dep_id)) for dep_id in ids]
    try:
        for _ in ids:
            yield await done.get()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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
