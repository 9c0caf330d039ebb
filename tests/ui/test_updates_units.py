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
from tests.ui.shell_harness import ShellBits


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
    # No evidence is no success: a result that says nothing is "finished, outcome not reported".
    assert outcome(event(result=None)) == "NOT_REPORTED"
    assert outcome(event(result={})) == "NOT_REPORTED"
    assert outcome(event(result={"messages": [{"severity": "ERROR", "message": "node down"}]})) == "FAILED"


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
    rows = dict((w, (s, d)) for w, s, d in change_summary({"enabled": False}, None, None, never_deployed=True))
    assert rows["Enabled"][0].startswith("no") and rows["Mapping"] == ("-", "never deployed")
    # "never deployed" only when the light status says so: a deployed deployment on a deployer that reports
    # neither per-node mappings nor its last update (DSS before 14.1 has no last-update route) is not "never".
    bare = {"apiNodes": [{"url": "http://a:1"}]}
    rows = dict((w, (s, d)) for w, s, d in change_summary(settings, bare, None, never_deployed=False))
    assert rows["Mapping"] == ("v3", "deployed (the deployer does not report what)")
    rows = dict((w, (s, d)) for w, s, d in change_summary(settings, bare, None))
    assert rows["Mapping"] == ("v3", "not reported")


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

    async def list_futures(self, all_users: bool = False) -> list:
        return []

    async def get_update(self, deployment_id: str, start_timestamp: int | None = None) -> dict:
        raise DeployerError("No update", status=404, error_type="NotFoundException")

    async def list_updates(self, deployment_id: str) -> list:
        return []

    async def get_deployment_status(self, deployment_id: str) -> dict:
        return {"health": "HEALTHY"}


class Harness(ShellBits, App):
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


class ScreenHarness(ShellBits, App):
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


# ---- what a deployer that says less gets: never a claim the console cannot back --------------------------


class ScriptedClient(StubClient):
    """A deployer answering in the shapes DSS documents only: a result without node counts, futures that
    may be gone after the claim, no 409 and no `last-update` unless given."""

    def __init__(self, *, peek: list, claim: object = None, record: dict | None = None,
                 records: dict[int, list[dict]] | None = None, start_error: DeployerError | None = None) -> None:
        super().__init__(start_error=start_error)
        self.peeks = list(peek)
        self.claim = claim
        self.record = record
        self.records = records or {}

    async def get_future(self, job_id: str, peek: bool = False) -> dict:
        answer = self.peeks.pop(0) if peek and len(self.peeks) > 1 else self.peeks[0] if peek else self.claim
        if isinstance(answer, DeployerError):
            raise answer
        return answer  # type: ignore[return-value]

    async def get_update(self, deployment_id: str, start_timestamp: int | None = None) -> dict:
        if start_timestamp is not None and self.records.get(start_timestamp):
            return self.records[start_timestamp].pop(0) if len(self.records[start_timestamp]) > 1 \
                else self.records[start_timestamp][0]
        if self.record is None:
            raise DeployerError("No update", status=404, error_type="NotFoundException")
        return self.record


FINISHED_PEEK = {"jobId": "job-1", "alive": False, "hasResult": True}


async def run_to_end(client) -> tuple[Harness, UpdateRun]:
    app = Harness(client)
    async with app.run_test() as pilot:
        run = app.updates.start("dep")
        await wait_for(pilot, lambda: not run.running, what="the run to end")
    return app, run


async def test_a_result_that_says_nothing_is_not_reported_with_health_re_read() -> None:
    client = ScriptedClient(peek=[FINISHED_PEEK], claim={**FINISHED_PEEK, "result": {}})
    app, run = await run_to_end(client)
    assert run.state == "NOT_REPORTED" and run.state_text == "finished, outcome not reported"
    assert "finished, outcome not reported" in run.summary() and "health HEALTHY" in run.summary()
    assert any("outcome not reported" in n.text and n.severity == "warning" for n in app.notices)


async def test_a_failure_told_only_by_messages_is_failed() -> None:
    result = {"maxSeverity": "ERROR", "anyMessage": True,
              "messages": [{"severity": "ERROR", "message": "API node http://n:1 is down"}]}
    _, run = await run_to_end(ScriptedClient(peek=[FINISHED_PEEK], claim={**FINISHED_PEEK, "result": result}))
    assert run.state == "FAILED"


async def test_a_claim_answered_no_such_future_reads_the_update_record() -> None:
    gone = DeployerError("No future by that id: job-1", status=400, error_type="IllegalArgumentException")
    record = {"startTimestamp": 10, "status": "WARNING", "result": {"maxSeverity": "WARNING"}}
    _, run = await run_to_end(ScriptedClient(peek=[FINISHED_PEEK], claim=gone, record=record))
    assert run.state == "WARNING" and run.settled is not None and run.settled.evidence == "record"


async def test_a_peek_answering_the_jobs_error_is_failed_with_that_error() -> None:
    failed = DeployerError("Infra 'x' has no API nodes", status=500, error_type="DKUException",
                           body={"errorType": "DKUException", "message": "Infra 'x' has no API nodes"})
    _, run = await run_to_end(ScriptedClient(peek=[failed], claim=failed))
    assert run.state == "FAILED" and run.error is failed
    assert "has no API nodes" in run.summary()


async def test_already_running_without_409_follows_the_running_update_record() -> None:
    busy = DeployerError("Deployment dep is busy", status=500, error_type="DKUException")
    records = {5: [{"startTimestamp": 5, "status": "RUNNING", "logs": {"totalLines": 1, "lines": ["[t] [INFO] a"]}},
                   {"startTimestamp": 5, "status": "SUCCESS", "result": {"maxSeverity": "INFO"},
                    "logs": {"totalLines": 2, "lines": ["[t] [INFO] a", "[t] [SUCCESS] done"]}}]}
    client = ScriptedClient(peek=[FINISHED_PEEK], start_error=busy, records=records,
                            record={"startTimestamp": 5, "status": "RUNNING"})
    app, run = await run_to_end(client)
    assert run.state == "SUCCESS" and list(run.lines) == ["[t] [INFO] a", "[t] [SUCCESS] done"]
    assert any("already running" in n.text for n in app.notices)
    # The deployer's log named no node: the run says so, and no node is "waiting".
    assert not run.nodes_reported and not run.nodes


async def test_a_refusal_with_nothing_running_shows_the_deployers_message_as_is() -> None:
    refused = DeployerError("Deployment dep is busy", status=500, error_type="DKUException")
    _, run = await run_to_end(ScriptedClient(peek=[FINISHED_PEEK], start_error=refused))
    assert run.state == "FAILED" and run.error is refused and "Deployment dep is busy" in run.summary()


def test_node_panel_never_says_waiting_for_a_deployer_that_reports_no_node() -> None:
    from deployer_tui.core.job_follower import NO_NODE_PROGRESS
    from deployer_tui.ui.screens.update_screen import nodes_text

    run = UpdateRun("d", started_at=0, started_monotonic=0, state="RUNNING")
    assert "none reported yet" in str(nodes_text(run))
    run.add_lines(["[t] [INFO] API node http://n:1: imported version v2"])  # a plain sentence, not our form
    assert str(nodes_text(run)) == NO_NODE_PROGRESS
    run.add_lines(["[t] [INFO] [http://n:1] preloaded v2"])
    assert "working" in str(nodes_text(run))


def test_session_updates_row_of_a_finished_run_is_done_not_its_last_progress() -> None:
    from deployer_tui.ui.screens.update_screen import UpdatesScreen

    screen = UpdatesScreen(UpdateTracker(App()), clock=lambda: 10.0)
    run = UpdateRun("d", started_at=0, started_monotonic=0, state="RUNNING")
    run.progress = [{"name": "Updating API nodes", "cur": 0, "target": 1}]
    assert screen.row(run)[2] == "0/1"
    run.state, run.ended_monotonic = "SUCCESS", 1.0
    assert screen.row(run)[2] == "done"


def spans_start_with_words(text) -> bool:
    """No span starts with a blank: a reader trimming each span still sees the words apart."""
    plain = text.plain
    return all(not plain[span.start:span.end][:1].isspace() for span in text.spans)


def test_update_head_keeps_its_spaces_in_every_reader() -> None:
    from deployer_tui.ui.screens.update_screen import head_text

    run = UpdateRun("d", started_at=0, started_monotonic=0, state="SUCCESS", job_id="abc", ended_monotonic=0.3)
    head = head_text("d", run, 1.0)
    assert head.plain == "Update d  SUCCESS  elapsed 0.3s  job abc"
    assert spans_start_with_words(head)
    assert spans_start_with_words(head_text("d", None, 1.0))


async def test_header_spaces_connection_note_and_redirect_notice() -> None:
    from deployer_tui.ui.widgets.header_bar import HeaderBar

    class Moved:
        redirect_notice = "the deployer moved to https://dss.example:11200: put that URL in your profile"

    class HeaderHarness(ShellBits, App):
        where, user = "profile:dss", "admin"
        connection_note = "the only instance in ~/.dataiku/config.json"
        connected = True
        client = Moved()
        presentation = Presentation()

        def __init__(self) -> None:
            super().__init__()
            self.notices: list[str] = []

        def compose(self) -> ComposeResult:
            yield HeaderBar()
            yield HeaderBar(crumb="second")

        def notify(self, message: str, **kwargs) -> None:  # type: ignore[override]
            self.notices.append(message)

    app = HeaderHarness()
    async with app.run_test(size=(200, 5)) as pilot:
        await pilot.pause()
        header = app.query(HeaderBar).first()
        assert header._last is not None
        shown = header._last.plain
        assert "profile:dss as admin" in shown
        assert "(the only instance in ~/.dataiku/config.json)" in shown
        assert "put that URL in your profile" in shown
        assert spans_start_with_words(header._last)
        # Two headers, one toast.
        assert app.notices == [Moved.redirect_notice]
