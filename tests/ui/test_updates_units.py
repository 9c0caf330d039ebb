"""The update tracker's logic without a server: outcomes, per-node state, the change summary, and runs whose
start or polling fails (a stub client stands in for the deployer)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from deployer_tui.core.errors import ConnectionLost, DeployerError
from deployer_tui.core.job_follower import FutureEvent
from deployer_tui.ui.screens.update_screen import change_summary, duration, history_row, progress_text
from deployer_tui.ui.state.messages import Notice
from deployer_tui.ui.state.update_tracker import UpdateRun, UpdateTracker, outcome
from deployer_tui.ui.view.formatting import Presentation
from tests.ui.helpers import wait_for


def event(**kw) -> FutureEvent:
    base = {"job_id": "j", "alive": False, "done": True, "aborted": False}
    base.update(kw)
    return FutureEvent(**base)


def test_outcome_from_the_last_event() -> None:
    assert outcome(event(result={"nbOKNodes": 2, "nbNOKNodes": 0})) == "SUCCESS"
    assert outcome(event(result={"nbOKNodes": 1, "nbNOKNodes": 1})) == "WARNING"
    assert outcome(event(result={"nbOKNodes": 0, "nbNOKNodes": 2})) == "FAILED"
    assert outcome(event(aborted=True)) == "ABORTED"
    assert outcome(event(error=DeployerError("boom", status=500))) == "FAILED"
    assert outcome(event(done=False, error=ConnectionLost("127.0.0.1:1", "connection refused"))) == "LOST"
    assert outcome(event(result={"warning": True})) == "WARNING"
    assert outcome(event(result=None)) == "SUCCESS"


def test_node_state_follows_the_log() -> None:
    run = UpdateRun("d", started_at=0, started_monotonic=0)
    run.add_lines([
        "[t] [INFO] Updating deployment d",
        "[t] [INFO] [http://n1:1] imported version v2",
        "[t] [INFO] [http://n2:1/] imported version v2",
        "[t] [SUCCESS] [http://n1:1] node is up to date",
        "[t] [ERROR] [http://n2:1] failed while activating the mapping: refused",
    ])
    assert {u: (n.state, n.message) for u, n in run.nodes.items()} == {
        "http://n1:1": ("ok", "node is up to date"),
        "http://n2:1": ("failed", "failed while activating the mapping: refused"),
    }
    assert run.total_lines == 5


def test_change_summary_saved_vs_deployed() -> None:
    settings = {"enabled": True, "generationsMapping": {"mode": "SINGLE_GENERATION", "generation": "v3"}}
    heavy = {"apiNodes": [
        {"url": "http://a:1", "enabled": True, "activeMapping": {"entries": [{"generation": "v2", "proba": 1.0}]}},
        {"url": "http://b:1", "enabled": True, "activeMapping": {"entries": [{"generation": "v2", "proba": 1.0}]}},
    ]}
    assert change_summary(settings, heavy, None) == [("Enabled", "yes", "yes"), ("Mapping", "v3", "v2 on 2 node(s)")]
    heavy["apiNodes"][1] = {"url": "http://b:1", "enabled": False, "activeMapping": None}
    rows = dict((w, (s, d)) for w, s, d in change_summary(settings, heavy, None))
    assert rows["Enabled"] == ("yes", "no/yes")
    assert rows["Mapping"][1] == "v2 on http://a:1; disabled on http://b:1"
    # No per-node mapping (a real DSS may not send one): say what is known.
    rows = dict((w, (s, d)) for w, s, d in change_summary(settings, {"apiNodes": [{"url": "x"}]},
                                                            {"status": "FAILED"}))
    assert rows["Mapping"] == ("v3", "unknown (last update FAILED)")
    rows = dict((w, (s, d)) for w, s, d in change_summary({"enabled": False}, None, None))
    assert rows["Enabled"][0].startswith("no") and rows["Mapping"] == ("-", "never deployed")


def test_durations_and_history_rows() -> None:
    assert [duration(s) for s in (None, 0.04, 12.34, 95.5, 3725)] == ["-", "0.0s", "12.3s", "1m 35s", "1h 02m"]
    row = history_row({"startTimestamp": 1_000_000, "status": "RUNNING"}, Presentation(clock=lambda: 1_000.0))
    assert row[1] == "-" and row[2] == "running" and row[3] == "-" and str(row[5]) == "RUNNING"


def test_progress_of_a_finished_run_is_its_result() -> None:
    run = UpdateRun("d", started_at=0, started_monotonic=0, state="RUNNING")
    run.progress = [{"name": "Updating API nodes", "cur": 1, "target": 4}]
    assert "1/4" in str(progress_text(run))
    run.state, run.result = "SUCCESS", {"nbOKNodes": 4, "nbNOKNodes": 0}
    assert str(progress_text(run)) == "Done: 4 API node(s) OK, 0 failed"


class StubClient:
    url = "http://deployer.test"  # names the console's journal of this deployer

    def __init__(self, *, start_error: DeployerError | None = None, poll_error: DeployerError | None = None):
        self.start_error = start_error
        self.poll_error = poll_error

    async def start_update(self, deployment_id: str) -> dict:
        if self.start_error is not None:
            raise self.start_error
        return {"jobId": "job-1", "alive": True, "hasResult": False}

    async def get_deployment_settings(self, deployment_id: str) -> dict:
        return {"generationsMapping": {"mode": "SINGLE_GENERATION", "generation": "v1"}}

    async def get_future(self, job_id: str, peek: bool = False) -> dict:
        if self.poll_error is not None:
            raise self.poll_error
        return {"jobId": job_id, "alive": False, "hasResult": True, "result": {"nbOKNodes": 1, "nbNOKNodes": 0}}


class Harness(App):
    def __init__(self, client) -> None:
        super().__init__()
        self.updates = UpdateTracker(self, client, poll_interval=0.01)
        self.notices: list[Notice] = []  # what the tracker asked the app to tell the person

    def compose(self) -> ComposeResult:
        yield Static("home")

    def on_notice(self, message: Notice) -> None:
        self.notices.append(message)


async def test_a_refused_start_is_a_failed_run_with_a_toast() -> None:
    refused = DeployerError("Deployment is on a K8S infra", status=400, error_type="IllegalArgumentException")
    app = Harness(StubClient(start_error=refused))
    async with app.run_test(notifications=True) as pilot:
        run = app.updates.start("dep")
        await wait_for(pilot, lambda: not run.running)
        assert run.state == "FAILED" and run.error is refused and run.job_id is None
        await wait_for(pilot, lambda: any("K8S infra" in n.text and n.severity == "error" for n in app.notices))
        # A new start after a failure is a new run.
        assert app.updates.start("dep") is not run


async def test_losing_the_deployer_while_following_is_lost_not_failed() -> None:
    app = Harness(StubClient(poll_error=ConnectionLost("127.0.0.1:1", "connection refused")))
    async with app.run_test(notifications=True) as pilot:
        run = app.updates.start("dep")
        await wait_for(pilot, lambda: not run.running)
        assert run.state == "LOST" and run.job_id == "job-1"
        await wait_for(pilot, lambda: any("lost track" in n.title.lower() for n in app.notices))


async def test_start_twice_returns_the_running_run_and_abort_needs_a_job() -> None:
    app = Harness(StubClient())
    async with app.run_test() as pilot:
        run = app.updates.start("dep")
        assert app.updates.start("dep") is run  # already running: no second update
        assert app.updates.running_ids() == {"dep"}
        assert await app.updates.abort("other") is False
        await wait_for(pilot, lambda: not run.running)
        assert run.state == "SUCCESS"
        assert await app.updates.abort("dep") is False  # nothing running any more


class FailingClient:
    """Every call fails as a deployer would for an unknown deployment."""

    url = "http://deployer.test"

    def _missing(self, *args, **kwargs):
        raise DeployerError("Deployment 'nope' not found", status=404, error_type="NotFoundException")

    async def get_deployment_settings(self, *a, **k):
        self._missing()

    async def get_deployment_status(self, *a, **k):
        self._missing()

    async def get_deployment(self, *a, **k):
        self._missing()

    async def get_update(self, *a, **k):
        self._missing()

    async def list_updates(self, *a, **k):
        self._missing()


class ScreenHarness(App):
    def __init__(self, make) -> None:
        super().__init__()
        self.make = make
        self.updates = UpdateTracker(self)
        self.presentation = Presentation()

    def compose(self) -> ComposeResult:
        yield Static("home")

    def on_mount(self) -> None:
        self.push_screen(self.make())


def shown(app: App, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_confirm_says_when_the_settings_cannot_be_read() -> None:
    from deployer_tui.ui.screens.update_screen import UpdateConfirmScreen

    app = ScreenHarness(lambda: UpdateConfirmScreen("nope", FailingClient()))
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: "Could not read" in shown(app, "#confirm-summary"))
        assert "not found" in shown(app, "#confirm-summary")
        assert app.screen.rows is None


async def test_history_and_log_screens_show_load_errors() -> None:
    from deployer_tui.ui.screens.update_screen import UpdateHistoryScreen, UpdateLogScreen

    app = ScreenHarness(lambda: UpdateHistoryScreen("nope", FailingClient()))
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: "Could not load the history" in shown(app, "#history-empty"))
        await app.push_screen(UpdateLogScreen("nope", 123, FailingClient()))
        await wait_for(pilot, lambda: "Could not load this update's log" in shown(app, "#update-log-title"))


async def test_a_log_the_deployer_truncated_says_so() -> None:
    from deployer_tui.ui.screens.update_screen import UpdateLogScreen

    class Truncated:
        async def get_update(self, deployment_id, start_timestamp=None):
            return {"startTimestamp": 1_000, "endTimestamp": 2_000, "requester": "admin", "type": "UPDATE",
                    "status": "FAILED", "logs": {"totalLines": 5_000, "lines": ["[INFO] a", "[ERROR] b", "[INFO] c"]}}

    app = ScreenHarness(lambda: UpdateLogScreen("dep", 1_000, Truncated(), presentation=Presentation()))
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.screen.record is not None)
        assert "kept the last 3 of 5,000 lines" in shown(app, "#update-log-title")
        log = app.screen.log_view
        assert log.lines == ["[INFO] a", "[ERROR] b", "[INFO] c"]
        assert not log.lines_widget.following  # a failed past update opens at its first error
