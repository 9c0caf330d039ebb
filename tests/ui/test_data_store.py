"""DataStore: heavy statuses kept as summaries that read like the whole, arriving in batches."""

from __future__ import annotations

import time

from textual.app import App
from textual.widget import Widget

from deployer_tui.core import readers
from deployer_tui.core.errors import DeployerError
from deployer_tui.ui.state.data_store import DataStore, heavy_summary
from deployer_tui.ui.state.messages import DataChanged


def heavy(health: str, *severities: str) -> dict:
    return {
        "health": health,
        "apiNodes": [{"url": "http://node:1", "health": health, "activeMapping": {"generation": "v1"}}],
        "endpoints": [{"id": "e", "type": "PY_FUNCTION", "testQueries": [{"q": {"x": 1}}]}],
        "healthMessages": {"anyMessage": bool(severities), "messages": [
            {"severity": s, "title": f"t{i}", "message": f"m{i}", "isFatal": False} for i, s in enumerate(severities)
        ]},
    }


def light(dep: str, enabled: bool = True) -> dict:
    return {"deploymentBasicInfo": {"id": dep, "enabled": enabled, "infraId": "i", "publishedServiceId": "s"}}


def test_summary_reads_like_the_whole_status():
    whole = heavy("WARNING", "INFO", "ERROR", "WARNING", "SUCCESS", "ERROR")
    summary = heavy_summary(whole)
    assert set(summary) == {"health", "healthMessages"}
    for enabled in (True, False):
        assert readers.display_health(light("d", enabled), summary) == readers.display_health(light("d", enabled), whole)
    assert readers.health_messages(summary) == readers.health_messages(whole)[:3]
    assert [m["severity"] for m in readers.health_messages(summary)] == ["ERROR", "ERROR", "WARNING"]
    failed = DeployerError("boom", error_type="X")
    assert heavy_summary(failed) is failed
    assert readers.display_health(light("d"), heavy_summary({})) == "UNKNOWN"


class FakeClient:
    def __init__(self, lights: list[dict], statuses: dict[str, dict | DeployerError]) -> None:
        self.lights = lights
        self.statuses = statuses
        self.asked: list[str] = []

    async def list_infras(self, decode=None) -> list[dict]:
        return []

    async def list_services(self, decode=None) -> list[dict]:
        return []

    async def list_deployments(self, decode=None) -> list[dict]:
        return self.lights

    async def get_deployment_status(self, dep: str) -> dict:
        self.asked.append(dep)
        status = self.statuses[dep]
        if isinstance(status, DeployerError):
            raise status
        return status


class Listener(Widget):
    def __init__(self) -> None:
        super().__init__()
        self.changes: list[DataChanged] = []

    def on_data_changed(self, message: DataChanged) -> None:
        self.changes.append(message)


async def test_store_keeps_summaries_and_announces_every_arrival():
    lights = [light(f"d{i}") for i in range(30)] + [light("off", enabled=False)]
    statuses = {f"d{i}": heavy("HEALTHY" if i % 2 else "WARNING", "WARNING", "INFO") for i in range(30)}
    statuses["d7"] = DeployerError("unreachable", error_type="ConnectException")
    client = FakeClient(lights, statuses)
    app = App()
    async with app.run_test() as pilot:
        listener = Listener()
        await app.mount(listener)
        store = DataStore(app, client)
        store.subscribe(listener)
        store.refresh()
        deadline = time.monotonic() + 10
        while len(store.heavy) < 30 or store.health_loading:
            assert time.monotonic() < deadline, "the heavy statuses did not all arrive"
            await pilot.pause(0.02)
        await pilot.pause()
        assert "off" not in client.asked and store.health("off") == "DISABLED"
        assert store.health("d7") == "LOADING_FAILED" and isinstance(store.heavy["d7"], DeployerError)
        assert store.health("d1") == "HEALTHY" and store.health("d2") == "WARNING"
        assert all(set(store.heavy[d]) == {"health", "healthMessages"} for d in statuses if d != "d7")
        announced = set().union(*(m.health_ids for m in listener.changes if "health" in m.kinds))
        assert announced == set(statuses)
        assert any(m.kinds == frozenset({"infras", "services", "deployments"}) for m in listener.changes)
