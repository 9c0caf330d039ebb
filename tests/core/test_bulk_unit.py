"""Bulk heavy statuses on a fake client: bounded concurrency, arrival order, per-deployment errors."""

from __future__ import annotations

import asyncio

from deployer_tui.core.bulk import iter_heavy_statuses
from deployer_tui.core.errors import DeployerError


class SlowClient:
    """Each status waits for its own event, so the test decides the order they complete in."""

    def __init__(self, ids: list[str]) -> None:
        self.release = {i: asyncio.Event() for i in ids}
        self.in_flight = 0
        self.max_in_flight = 0
        self.started: list[str] = []
        self.cancelled: list[str] = []

    async def get_deployment_status(self, dep_id: str) -> dict:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.started.append(dep_id)
        try:
            await self.release[dep_id].wait()
        except asyncio.CancelledError:
            self.cancelled.append(dep_id)
            raise
        finally:
            self.in_flight -= 1
        if dep_id.startswith("bad"):
            raise DeployerError(f"{dep_id} is broken", status=500)
        if dep_id.startswith("odd"):
            raise KeyError("health")
        return {"health": "HEALTHY", "id": dep_id}


async def test_yields_in_arrival_order_with_a_bound() -> None:
    ids = ["a", "b", "bad1", "c", "odd1"]
    client = SlowClient(ids)
    it = iter_heavy_statuses(client, ids, concurrency=2)
    got = []
    for name in ["b", "a", "bad1", "odd1", "c"]:
        nxt = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0)
        assert client.in_flight <= 2
        client.release[name].set()
        got.append(await nxt)
    assert [dep_id for dep_id, _ in got] == ["b", "a", "bad1", "odd1", "c"]
    assert client.max_in_flight == 2
    assert got[0][1] == {"health": "HEALTHY", "id": "b"}
    assert isinstance(got[2][1], DeployerError) and got[2][1].status == 500
    assert isinstance(got[3][1], DeployerError) and "health" in str(got[3][1])


async def test_closing_early_cancels_the_rest() -> None:
    ids = [f"d{i}" for i in range(6)]
    client = SlowClient(ids)
    it = iter_heavy_statuses(client, ids, concurrency=3)
    client.release["d0"].set()
    first = await it.__anext__()
    await it.aclose()
    assert first[0] == "d0"
    # Everything still in flight was cancelled; at most one more (the freed slot) had started.
    assert set(client.cancelled) == set(client.started) - {"d0"}
    assert {"d1", "d2"} <= set(client.cancelled) and len(client.started) <= 4
    assert client.in_flight == 0


async def test_empty_and_duplicate_ids() -> None:
    assert [x async for x in iter_heavy_statuses(SlowClient([]), [])] == []
    client = SlowClient(["x"])
    client.release["x"].set()
    assert [d for d, _ in [x async for x in iter_heavy_statuses(client, ["x", "x"])]] == ["x"]


async def test_light_then_heavy_skips_disabled() -> None:
    from deployer_tui.core.bulk import deployment_statuses

    class Client(SlowClient):
        async def list_deployments(self) -> list[dict]:
            return [{"deploymentBasicInfo": {"id": "on", "enabled": True}},
                    {"deploymentBasicInfo": {"id": "off", "enabled": False}}]

    client = Client(["on", "off"])
    for event in client.release.values():
        event.set()
    lights, heavies = await deployment_statuses(client)
    assert len(lights) == 2
    assert [dep_id async for dep_id, _ in heavies] == ["on"]
    _, heavies = await deployment_statuses(client, skip_disabled=False)
    assert sorted([dep_id async for dep_id, _ in heavies]) == ["off", "on"]


def test_importing_bulk_does_not_import_httpx() -> None:
    # The UI imports core.bulk at start-up and loads the client (httpx) off the event loop later.
    import subprocess
    import sys

    code = "import sys, deployer_tui.core.bulk, deployer_tui.core.readers, deployer_tui.core.job_follower, " \
           "deployer_tui.core.profiles, deployer_tui.core.local; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
