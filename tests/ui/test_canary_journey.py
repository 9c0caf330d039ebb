"""A canary run from the console with the real engine on a real `serve`: a version failing on 20 % of its
calls is reverted at its first step, the live screen naming the guard, and the node answers with the old
version again; the row shows `⟳ CANARY 50 %` while the canary runs and the version again once it ended."""

from __future__ import annotations

from textual.widgets import Input, Select

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.latency_log import LatencyLog
from deployer_tui.ui.screens.canary import CanaryFormScreen, CanaryScreen
from tests.canary.conftest import CanaryEnv, unique
from tests.canary.conftest import env as env  # the canary tests' deployer, service `calc` and its versions
from tests.deployer.conftest import ADMIN_KEY
from tests.ui.helpers import RecordingApp, cell, screen_text, table, wait_for


async def test_a_failing_version_is_reverted_from_the_console(env: CanaryEnv) -> None:
    dep = unique("uiflaky")
    env.deploy(dep)
    async with DeployerClient(env.url, ADMIN_KEY) as client:
        app = RecordingApp(client=client)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            deployments = table(pilot, "deployments")
            await wait_for(pilot, lambda: deployments.select_key(dep), what=f"{dep} listed")
            deployments.focus()
            await pilot.press("C")
            form = app.screen
            assert isinstance(form, CanaryFormScreen)
            await wait_for(pilot, lambda: form.loaded, what="the versions")
            assert "v1" not in form.versions and "flaky" in form.versions
            form.query_one("#cn-version", Select).value = "flaky"
            form.query_one("#cn-steps", Input).value = "50,100"
            form.query_one("#cn-soak", Input).value = "1s"
            form.query_one("#cn-probe_rate", Input).value = "40"
            await pilot.pause()
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, CanaryScreen), what="the live screen")
            live = app.screen
            labels: set[str] = set()
            await wait_for(pilot, lambda: labels.add(app.canaries.row_label(dep) or "") or
                           not app.canaries.is_running(dep), what="the canary's end", timeout=90)
            assert "⟳ CANARY 50 %" in labels
            run = app.canaries.get(dep)
            assert run is not None and run.result is not None, run.error
            assert run.result.outcome == "REVERTED" and run.result.failed_guard == "error rate"
            await pilot.pause()
            text = screen_text(pilot)
            assert f"Canary of {dep}: REVERTED" in text
            assert "✗ 50 % failed" in text and "✗ breached" in text
            assert any(t.title == "Canary" and "REVERTED" in t.message for t in app.toasts)
            assert len(live.log_view.buffer) > 0, "the updates' log was shown"
            assert env.served(dep) == "v1"
            await pilot.press("escape")
            await wait_for(pilot, lambda: cell(deployments, dep, "version") == "v1"
                           and "CANARY" not in cell(deployments, dep, "health"), what="the row read again")
    versions = {s.version for s in LatencyLog(env.url).samples(dep, limit=5000) if s.source == "canary"}
    assert versions >= {"v1", "flaky"}, "the probes are in the latency log"
