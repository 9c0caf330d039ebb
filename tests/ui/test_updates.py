"""Updates against a real local deployer: start → live lines → success, a failure with an API node down,
abort, and the history with its full logs. The tracker and screens run in a small harness app."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.errors import DeployerError
from deployer_tui.ui.screens.bulk_confirm import BulkConfirmScreen
from deployer_tui.ui.screens.main import MainScreen
from deployer_tui.ui.screens.modals import ConfirmScreen
from deployer_tui.ui.screens.update_screen import (
    UpdateConfirmScreen,
    UpdateHistoryScreen,
    UpdateLogScreen,
    UpdateScreen,
    UpdatesScreen,
)
from deployer_tui.ui.state.messages import Notice
from deployer_tui.ui.state.update_tracker import UpdateFinished, UpdateProgressed, UpdateRun, UpdateTracker
from deployer_tui.ui.view.formatting import Presentation
from deployer_tui.ui.view.rows import decorate_deployment_row
from tests import servers
from tests.ui.helpers import RecordingApp, cell, screen_text, table, wait_for
from tests.ui.shell_harness import ShellBits

NODE_KEY = "node-admin-key-for-tests"


class Harness(ShellBits, App):
    def __init__(self, client: DeployerClient) -> None:
        super().__init__()
        self.client = client
        self.updates = UpdateTracker(self, client, poll_interval=0.05, max_poll_interval=0.2)
        self.presentation = Presentation()
        self.heard: list[object] = []
        self.notices: list[Notice] = []  # what the tracker asked the app to tell the person

    def compose(self) -> ComposeResult:
        yield Static("home")

    def on_update_progressed(self, message: UpdateProgressed) -> None:
        self.heard.append(message)

    def on_update_finished(self, message: UpdateFinished) -> None:
        self.heard.append(message)

    def on_notice(self, message: Notice) -> None:
        self.notices.append(message)


@pytest.fixture(scope="module")
def extra_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Proc]:
    proc = servers.apinode(tmp_path_factory.mktemp("extra-node"), NODE_KEY)
    try:
        yield proc
    finally:
        proc.stop()


_READY: set[str] = set()


async def demo_ready(client: DeployerClient, timeout: float = 60) -> None:
    """The demo is created after the server announces itself; wait (once per server) until toolbox-on-dev
    shows out of sync and the canary's disabling update (the demo's last step) has ended."""
    if client.url in _READY:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = await client.get_deployment_status("toolbox-on-dev")
            canary = await client.list_updates("titanic-canary-on-dev")
            if (status.get("health") == "OUT_OF_SYNC" and len(canary) >= 2
                    and all(u.get("status") != "RUNNING" for u in canary)):
                _READY.add(client.url)
                return
        except Exception:  # noqa: BLE001 - not created yet
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the demo content did not appear in time")


async def make_deployment(client: DeployerClient, infra: str, nodes: list[dict], deployment: str) -> None:
    if infra not in {i["infraBasicInfo"]["id"] for i in await client.list_infras()}:
        await client.create_infra(infra, "Development")
        settings = await client.get_infra_settings(infra)
        settings["apiNodes"] = nodes
        await client.save_infra_settings(infra, settings)
    await client.create_deployment(deployment, "toolbox", infra, "v1")


@pytest.fixture
async def client(demo_server: servers.Proc, ui_api_key: str):
    async with DeployerClient(demo_server.url("deployer"), ui_api_key) as c:
        await demo_ready(c)
        yield c


async def test_confirm_summarises_saved_vs_deployed(client: DeployerClient) -> None:
    app = Harness(client)
    async with app.run_test(size=(120, 30)) as pilot:
        answers: list[bool | None] = []
        app.push_screen(UpdateConfirmScreen("toolbox-on-dev", client), answers.append)
        await wait_for(pilot, lambda: app.screen.rows is not None, what="the summary")
        rows = {what: (saved, deployed) for what, saved, deployed in app.screen.rows}
        # The demo saved v2 after deploying v1 on the one local node.
        assert rows["Mapping"] == ("v2", "v1 on 1 node(s)")
        assert rows["Enabled"] == ("yes", "yes")
        assert "OUT_OF_SYNC" in screen_text(pilot)
        await pilot.press("n")
        assert answers == [False]


async def test_start_live_lines_success(client: DeployerClient) -> None:
    app = Harness(client)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        run = app.updates.start("toolbox-on-dev")
        assert app.updates.is_running("toolbox-on-dev")
        await app.push_screen(UpdateScreen("toolbox-on-dev", app.updates))
        screen = app.screen
        await wait_for(pilot, lambda: not run.running, what="the update to end")
        await wait_for(pilot, lambda: screen.log_view.pending == 0 and len(screen.log_view.buffer) > 0)
        assert run.state == "SUCCESS", run.summary()
        assert run.result["nbOKNodes"] == 1 and run.result["nbNOKNodes"] == 0
        assert [n.state for n in run.nodes.values()] == ["ok"]
        # Every line the server persisted reached the view, once, in order.
        record = await client.get_update("toolbox-on-dev")
        assert record["status"] == "SUCCESS"
        assert screen.log_view.lines == record["logs"]["lines"]
        assert any("node is up to date" in line for line in screen.log_view.lines)
        # Lines came through progress messages, and the end was announced once with a toast.
        assert sum(len(m.new_lines) for m in app.heard if isinstance(m, UpdateProgressed)) == len(record["logs"]["lines"])
        assert [m.run.state for m in app.heard if isinstance(m, UpdateFinished)] == ["SUCCESS"]
        await wait_for(pilot, lambda: any("toolbox-on-dev: SUCCESS" in n.text for n in app.notices), what="the toast")
        assert "SUCCESS" in screen_text(pilot)
        assert not app.updates.is_running("toolbox-on-dev")
        health = await client.get_deployment_status("toolbox-on-dev")
        assert health["health"] == "HEALTHY"


async def test_update_keeps_running_after_leaving_the_screen(client: DeployerClient) -> None:
    app = Harness(client)
    async with app.run_test(size=(120, 40)) as pilot:
        run = app.updates.start("passengers-on-dev")
        await app.push_screen(UpdateScreen("passengers-on-dev", app.updates))
        app.pop_screen()
        await wait_for(pilot, lambda: not run.running, what="the update to end in the background")
        assert run.state == "SUCCESS" and run.total_lines > 0
        # Coming back shows the whole log of that run.
        await app.push_screen(UpdateScreen("passengers-on-dev", app.updates))
        await wait_for(pilot, lambda: app.screen.log_view.pending == 0)
        assert app.screen.log_view.lines == list(run.lines)


async def test_failure_with_the_api_node_down(client: DeployerClient, extra_node: servers.Proc) -> None:
    await make_deployment(client, "flaky-infra", [{"url": extra_node.url("apinode"), "adminAPIKey": NODE_KEY}],
                          "toolbox-on-flaky")
    app = Harness(client)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        first = app.updates.start("toolbox-on-flaky")
        await wait_for(pilot, lambda: not first.running, what="the first update")
        assert first.state == "SUCCESS", first.summary()

        extra_node.kill()  # the infra's only API node is down now
        run = app.updates.start("toolbox-on-flaky")
        assert run is not first
        await app.push_screen(UpdateScreen("toolbox-on-flaky", app.updates))
        screen = app.screen
        await wait_for(pilot, lambda: not run.running, what="the failing update")
        assert run.state == "FAILED", run.summary()
        assert run.result["nbOKNodes"] == 0 and run.result["nbNOKNodes"] == 1
        assert [n.state for n in run.nodes.values()] == ["failed"]
        # The screen hears of the end through the tracker's messages, after the run itself.
        await wait_for(pilot, lambda: screen.log_view.pending == 0 and len(screen.log_view.lines) == run.total_lines
                       and "FAILED" in screen_text(pilot), what="the screen to show the end")
        # The error lines are easy to find: the hint says how, and the view opened at the first error.
        assert "e: jump to the first error line" in screen_text(pilot)
        log = screen.log_view
        first_error = next(i for i, line in enumerate(log.lines) if "[ERROR]" in line)
        widget = log.lines_widget
        top = int(widget.scroll_y)
        assert top <= widget.row_of_line(first_error) < top + widget.scrollable_content_region.height
        assert not widget.following
        await wait_for(pilot, lambda: any("FAILED" in n.text and n.severity == "error" for n in app.notices), what="the toast")
        record = await client.get_update("toolbox-on-flaky")
        assert record["status"] == "FAILED"


async def test_abort_through_the_app(client: DeployerClient, blackhole: str) -> None:
    """In the real app: u on the deployment, confirm, then x aborts (after a confirmation)."""
    await make_deployment(client, "hanging-infra", [{"url": blackhole, "adminAPIKey": NODE_KEY}],
                          "toolbox-on-hanging")
    app = RecordingApp(client=client)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.store.loaded and "toolbox-on-hanging" in app.store.deployments)
        deployments = table(pilot, "deployments")
        deployments.focus()
        assert deployments.select_key("toolbox-on-hanging")
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UpdateConfirmScreen) and app.screen.rows is not None)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, UpdateScreen))
        tracker = app.updates
        run = tracker.get("toolbox-on-hanging")
        await wait_for(pilot, lambda: run.state == "RUNNING" and run.job_id, what="the job to start")
        # Lines stream in while the update runs (it hangs on its node, so this is before any end).
        log = app.screen.log_view
        await wait_for(pilot, lambda: any("Updating deployment toolbox-on-hanging" in line for line in log.lines),
                       what="a live log line")
        assert run.running and "FOLLOW" in log.status_text
        # Back on the main screen the update keeps running and the pane says so; u reopens its progress.
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await wait_for(pilot, lambda: cell(deployments, "toolbox-on-hanging", "health") == "⟳ UPDATING")
        await pilot.press("u")
        assert isinstance(app.screen, UpdateScreen) and app.screen.deployment_id == "toolbox-on-hanging"
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # changed my mind: nothing happens
        assert run.running and not run.abort_requested
        await pilot.press("x")
        await pilot.press("y")
        await wait_for(pilot, lambda: not run.running, what="the abort")
        assert run.state == "ABORTED", run.summary()
        record = await client.get_update("toolbox-on-hanging")
        assert record["status"] == "ABORTED"
        assert "Aborted" in screen_text(pilot)
        await pilot.press("x")  # nothing left to abort
        assert isinstance(app.screen, UpdateScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: cell(deployments, "toolbox-on-hanging", "health") != "⟳ UPDATING")


async def test_read_only_refuses_update_but_shows_history(client: DeployerClient) -> None:
    app = RecordingApp(client=client, read_only=True)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.store.loaded and table(pilot, "deployments").row_count > 0)
        deployments = table(pilot, "deployments")
        deployments.focus()
        assert deployments.select_key("passengers-on-dev")
        await pilot.press("u")
        assert isinstance(app.screen, MainScreen)
        assert not app.updates.runs
        await wait_for(pilot, lambda: any("Read-only" in str(n.message) for n in app.toasts), what="the toast")
        await pilot.press("H")
        assert isinstance(app.screen, UpdateHistoryScreen)
        await wait_for(pilot, lambda: app.screen.loaded)


async def test_history_and_full_log(client: DeployerClient) -> None:
    app = Harness(client)
    async with app.run_test(size=(120, 40)) as pilot:
        run = app.updates.start("titanic-on-dev")
        await wait_for(pilot, lambda: not run.running, what="an update to list")
        records = await client.list_updates("titanic-on-dev")
        await app.push_screen(UpdateHistoryScreen("titanic-on-dev", client, tracker=app.updates))
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded)
        from textual.widgets import DataTable

        table = screen.query_one(DataTable)
        assert table.row_count == len(records) >= 2  # the demo's updates and ours
        newest = max(r["startTimestamp"] for r in records)
        full = await client.get_update("titanic-on-dev", newest)
        first_row = [str(c) for c in table.get_row_at(0)]
        assert first_row[3] == full["requester"] and full["requester"]
        assert first_row[2] == "update" and first_row[5] == "SUCCESS"
        assert first_row[1] == full["deployedMapping"]["generation"]  # what it deployed
        assert first_row[6] == "deployer + journal"  # this console started it
        assert first_row[4].endswith("s")  # a duration
        await pilot.press("enter", "enter")  # the row's choices, then its log
        assert isinstance(app.screen, UpdateLogScreen)
        log_screen = app.screen
        assert log_screen.start_timestamp == newest
        await wait_for(pilot, lambda: log_screen.record is not None and log_screen.log_view.pending == 0)
        assert log_screen.log_view.lines == full["logs"]["lines"] == list(run.lines)
        await pilot.press("escape")
        assert app.screen is screen


async def test_bulk_marks_and_updates_each_with_its_own_progress(client: DeployerClient) -> None:
    # toolbox-on-dev must be OUT_OF_SYNC: if an earlier test deployed what is saved, save the other version.
    if (await client.get_deployment_status("toolbox-on-dev"))["health"] != "OUT_OF_SYNC":
        settings = await client.get_deployment_settings("toolbox-on-dev")
        other = "v1" if settings["generationsMapping"].get("generation") == "v2" else "v2"
        settings["generationsMapping"] = {"mode": "SINGLE_GENERATION", "generation": other}
        await client.save_deployment_settings("toolbox-on-dev", settings)
    app = RecordingApp(client=client)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: app.store.loaded and app.store.health("toolbox-on-dev") == "OUT_OF_SYNC",
                       what="toolbox-on-dev out of sync")
        deployments = table(pilot, "deployments")
        deployments.focus()
        await app.run_action("mark_out_of_sync", app.screen)  # a palette command (no key)
        tracker = app.updates
        assert "toolbox-on-dev" in tracker.marked
        assert all(app.store.health(d) == "OUT_OF_SYNC" for d in tracker.marked)
        # space marks the highlighted deployment too, and space again unmarks it.
        order = list(deployments.visible_keys)
        assert deployments.select_key("passengers-on-dev")
        await pilot.press("space")
        assert "passengers-on-dev" in tracker.marked
        await wait_for(pilot, lambda: cell(deployments, "passengers-on-dev", "id").endswith("✓"))
        assert list(deployments.visible_keys) == order  # a mark does not move the row
        assert deployments.select_key("titanic-on-dev")
        await pilot.press("space", "space")
        assert "titanic-on-dev" not in tracker.marked
        marked = set(tracker.marked)
        await pilot.press("u")
        assert isinstance(app.screen, BulkConfirmScreen)
        assert all(d in app.screen.question for d in marked)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, UpdatesScreen))
        assert not tracker.marked
        runs = [tracker.get(d) for d in marked]
        assert all(run is not None for run in runs)
        await wait_for(pilot, lambda: not any(run.running for run in runs), what="the bulk updates")
        assert {run.deployment_id: run.state for run in runs} == dict.fromkeys(marked, "SUCCESS")
        overview = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: all(str(overview.get_cell(d, "state")) == "SUCCESS" for d in marked))
        # enter opens one run's own progress and log.
        overview.move_cursor(row=overview.get_row_index("toolbox-on-dev"))
        await pilot.press("enter")
        assert isinstance(app.screen, UpdateScreen) and app.screen.deployment_id == "toolbox-on-dev"
        await wait_for(pilot, lambda: app.screen.log_view.pending == 0)
        assert app.screen.log_view.lines == list(tracker.get("toolbox-on-dev").lines)
        # Back on the main screen, the store was refreshed when each update ended: health is current.
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, MainScreen)
        await wait_for(pilot, lambda: cell(table(pilot, "deployments"), "toolbox-on-dev", "health") == "HEALTHY",
                       what="the refreshed health")


def test_pane_decoration() -> None:
    row = ("dep-a", "svc", "v1", "infra", "Dev", "yes", "HEALTHY")
    assert decorate_deployment_row(row, marked=False, update_state=None) == row
    decorated = decorate_deployment_row(row, marked=True, update_state="RUNNING")
    assert str(decorated[0]) == "dep-a ✓" and str(decorated[-1]) == "⟳ UPDATING"
    assert str(decorate_deployment_row(row, marked=False, update_state="ABORTING")[-1]) == "⟳ ABORTING"
    # The tracker gives the state only while its run is running: a finished run shows the health again.
    tracker = UpdateTracker(App())
    tracker.runs["dep-a"] = UpdateRun("dep-a", started_at=0, started_monotonic=0, state="RUNNING")
    assert tracker.running_state("dep-a") == "RUNNING"
    tracker.runs["dep-a"].state = "FAILED"
    assert tracker.running_state("dep-a") is None
    assert str(decorate_deployment_row(row, marked=False, update_state=tracker.running_state("dep-a"))[-1]) == "HEALTHY"


async def test_an_update_started_elsewhere_is_followed_not_refused(client: DeployerClient, blackhole: str) -> None:
    for deployment in ("toolbox-on-hanging-2", "toolbox-on-hanging-3"):
        await make_deployment(client, "hanging-infra", [{"url": blackhole, "adminAPIKey": NODE_KEY}], deployment)
    # Updates started by someone else (e.g. a CI job).
    elsewhere = {d: (await client.start_update(d))["jobId"] for d in ("toolbox-on-hanging-2", "toolbox-on-hanging-3")}
    try:
        app = Harness(client)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            # u on it: the deployer answers 409, the app follows the running job instead.
            run = app.updates.start("toolbox-on-hanging-2")
            await wait_for(pilot, lambda: run.job_id is not None or not run.running, what="the job id")
            assert run.running and run.job_id == elsewhere["toolbox-on-hanging-2"]
            await wait_for(pilot, lambda: any("already running" in n.text for n in app.notices), what="the toast")
            assert await app.updates.abort("toolbox-on-hanging-2")
            await wait_for(pilot, lambda: not run.running, what="the abort")
            assert run.state == "ABORTED"

            # enter on a RUNNING row of the history opens it live.
            await app.push_screen(UpdateHistoryScreen("toolbox-on-hanging-3", client, tracker=app.updates))
            history = app.screen
            await wait_for(pilot, lambda: history.loaded)
            assert str(history.query_one(DataTable).get_row_at(0)[5]) == "RUNNING"
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, UpdateScreen), what="the live update")
            followed = app.updates.get("toolbox-on-hanging-3")
            assert followed.running and followed.job_id == elsewhere["toolbox-on-hanging-3"]
            assert app.updates.start("toolbox-on-hanging-3") is followed  # no second update
            assert await app.updates.abort("toolbox-on-hanging-3")
            await wait_for(pilot, lambda: not followed.running, what="the second abort")
            assert followed.state == "ABORTED"
    finally:
        for job in elsewhere.values():
            with contextlib.suppress(DeployerError):
                await client.abort_future(job)


async def test_updates_started_elsewhere_show_up_running_without_pressing_anything(
        client: DeployerClient, blackhole: str) -> None:
    await make_deployment(client, "hanging-infra", [{"url": blackhole, "adminAPIKey": NODE_KEY}],
                          "toolbox-on-hanging-4")
    job = (await client.start_update("toolbox-on-hanging-4"))["jobId"]  # e.g. a CI job, before the app starts
    try:
        app = RecordingApp(client=client)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await wait_for(pilot, lambda: app.store.loaded and "toolbox-on-hanging-4" in app.store.deployments)
            deployments = table(pilot, "deployments")
            await wait_for(pilot, lambda: cell(deployments, "toolbox-on-hanging-4", "health") == "⟳ UPDATING",
                           what="the pane to show the update started elsewhere")
            run = app.updates.get("toolbox-on-hanging-4")
            assert run.running and run.job_id == job
            await wait_for(pilot, lambda: any("Started elsewhere" in str(n.message) and "toolbox-on-hanging-4"
                                              in str(n.message) for n in app.toasts), what="the toast")
            await client.abort_future(job)  # its owner aborts it
            await wait_for(pilot, lambda: not run.running, what="the end to be seen")
            assert run.state == "ABORTED"
            await wait_for(pilot, lambda: cell(deployments, "toolbox-on-hanging-4", "health") != "⟳ UPDATING")
            assert await app.updates.adopt_running() == []  # an ended job is not adopted again
            assert app.updates.get("toolbox-on-hanging-4") is run
    finally:
        with contextlib.suppress(DeployerError):
            await client.abort_future(job)
