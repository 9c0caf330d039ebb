"""Running updates, tracked at app level so they keep going when the user navigates away.

`UpdateTracker.start(deployment_id)` starts the update (`actions/update`) and follows its future in a worker
owned by the App — not by a screen, so popping the progress screen does not stop it. Each deployment's latest
run (`UpdateRun`) keeps its log lines (bounded), progress states, per-node state and outcome. Subscribed nodes
(the progress screen, the deployments pane) receive `UpdateProgressed` / `UpdateFinished` messages; the app
receives them too, and a `Notice` for each thing to tell the person (the outcome, an update followed from
elsewhere): the app shell shows those and, on `UpdateFinished`, refreshes that deployment in the data store.
This module draws nothing and imports no screen and no widget.

Outcome of a run, from positive evidence only (`core/job_follower.settle`): the result's node counts or
messages, else the deployment's last update record. SUCCESS, WARNING, FAILED (the job's error included, even
when a peek answers it), ABORTED; NOT_REPORTED ("finished, outcome not reported") when nothing tells, with the
record and health re-read from the deployer beside it. A run whose polling broke (connection lost) is LOST: the
job may still run on the server; its history says how it ended. Per-node state comes from the local
deployer's log lines (`job_follower.NodeProgress`); a deployer that writes none reports no per-node progress,
and the run says so rather than showing every node "waiting".
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message_pump import MessagePump
from textual.notifications import SeverityLevel as Severity

from deployer_tui.core import job_follower
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.journal import Journal, JournalRecord, now_ms
from deployer_tui.ui.state.messages import Notice, UpdateFinished, UpdateMarksChanged, UpdateProgressed
from deployer_tui.ui.state.publisher import Publisher
from deployer_tui.ui.view.log_text import DEFAULT_MAX_LINES

__all__ = ["NodeState", "UpdateFinished", "UpdateMarksChanged", "UpdateProgressed", "UpdateRun", "UpdateTracker",
           "outcome"]

if TYPE_CHECKING:
    from textual.app import App

    from deployer_tui.core.client import DeployerClient

RUNNING_STATES = ("STARTING", "RUNNING", "ABORTING")
NOT_REPORTED = job_follower.NOT_REPORTED


@dataclass
class NodeState:
    url: str
    state: str = "waiting"  # waiting → working → ok | failed
    message: str = ""


@dataclass
class UpdateRun:
    """One update of one deployment, as seen by this app."""

    deployment_id: str
    started_at: float  # wall clock, seconds
    started_monotonic: float
    state: str = "STARTING"
    job_id: str | None = None
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=DEFAULT_MAX_LINES))
    total_lines: int = 0
    progress: list[dict] = field(default_factory=list)
    nodes: dict[str, NodeState] = field(default_factory=dict)
    elapsed_ms: int = 0
    ended_monotonic: float | None = None
    result: Any = None
    error: DeployerError | None = None
    abort_requested: bool = False
    node_progress: job_follower.NodeProgress = field(default_factory=job_follower.NodeProgress)
    settled: job_follower.Settled | None = None  # how it ended, with the record and health re-read
    journal: JournalRecord | None = None  # what the console's journal says of this update (ours only)

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES

    def elapsed_seconds(self, now: float | None = None) -> float:
        end = self.ended_monotonic if self.ended_monotonic is not None else (now or time.monotonic())
        return max(self.elapsed_ms / 1000, end - self.started_monotonic)

    def add_lines(self, lines: list[str]) -> None:
        self.lines.extend(lines)
        self.total_lines += len(lines)
        self.node_progress.add(lines)
        for url, (state, message) in self.node_progress.nodes.items():
            node = self.nodes.setdefault(url, NodeState(url))
            node.state, node.message = state, message

    @property
    def nodes_reported(self) -> bool:
        """Whether the deployer's log named any node (only then is per-node state shown)."""
        return self.node_progress.reported

    @property
    def state_text(self) -> str:
        """The state as shown: NOT_REPORTED reads "finished, outcome not reported"."""
        return job_follower.NOT_REPORTED_TEXT if self.state == NOT_REPORTED else self.state

    def summary(self) -> str:
        """One line for a toast: outcome, node counts, error; what the record and health say when the
        result itself told nothing."""
        text = f"{self.deployment_id}: {self.state_text}"
        if isinstance(self.result, dict) and "nbOKNodes" in self.result:
            ok, nok = self.result.get("nbOKNodes", 0), self.result.get("nbNOKNodes", 0)
            text += f" — {ok} API node(s) OK, {nok} failed"
        if self.error is not None:
            text += f" — {self.error}"
        settled = self.settled
        if settled is not None and settled.evidence in ("none", "record"):
            status = settled.record.get("status") if isinstance(settled.record, dict) else None
            text += f" — last update record: {status or 'none'}"
            if settled.health:
                text += f", health {settled.health}"
        return text


def outcome(event: job_follower.FutureEvent) -> str:
    """The final state the last event alone tells (see job_follower.outcome): NOT_REPORTED, never SUCCESS,
    when the result says nothing."""
    return job_follower.outcome(event)


class UpdateTracker(Publisher):
    """The app's running updates. One per app; `client` may be given later (the app connects in a worker)."""

    def __init__(self, app: App, client: DeployerClient | None = None, *,
                 clock: Callable[[], float] = time.time, poll_interval: float = 0.25,
                 max_poll_interval: float = 1.0, context_name: str = "") -> None:
        super().__init__(context_name)
        self.app = app
        # Given later when the app connects in a worker.
        self.client: DeployerClient | None = client
        self.clock = clock
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.runs: dict[str, UpdateRun] = {}
        # Deployments marked (space) for a bulk update; kept here so every screen sees the same marks.
        self.marked: set[str] = set()
        self._last_marked: set[str] = set()

    def _connected_client(self) -> DeployerClient:
        if self.client is None:
            raise DeployerError("Not connected yet")
        return self.client

    def _tell(self, text: str, *, title: str = "", severity: Severity = "information",
              timeout: float | None = None) -> None:
        """A toast, shown by the app shell (which hears every Notice)."""
        self.app.post_message(self.stamp(Notice(text, title=title, severity=severity, timeout=timeout)))

    # -- subscribers ---------------------------------------------------------------------------
    def _receivers(self) -> list[MessagePump]:
        # The app always hears, subscribed or not.
        return [self.app, *(n for n in self._subscribers if n is not self.app)]

    # -- queries -------------------------------------------------------------------------------
    def get(self, deployment_id: str) -> UpdateRun | None:
        return self.runs.get(deployment_id)

    def is_running(self, deployment_id: str) -> bool:
        run = self.runs.get(deployment_id)
        return run is not None and run.running

    def running_state(self, deployment_id: str) -> str | None:
        """The state of this session's update of the deployment while it runs, else None."""
        run = self.runs.get(deployment_id)
        return run.state if run is not None and run.running else None

    def running_ids(self) -> set[str]:
        return {d for d, run in self.runs.items() if run.running}

    def toggle_mark(self, deployment_id: str) -> bool:
        """Mark or unmark; returns whether it is marked now."""
        if deployment_id in self.marked:
            self.marked.discard(deployment_id)
        else:
            self.marked.add(deployment_id)
        self.marks_changed()
        return deployment_id in self.marked

    def marks_changed(self) -> None:
        changed = frozenset(self.marked ^ self._last_marked)
        self._last_marked = set(self.marked)
        if changed:
            self._publish(lambda: UpdateMarksChanged(changed))

    # -- actions -------------------------------------------------------------------------------
    def start(self, deployment_id: str, node_urls: list[str] | None = None) -> UpdateRun:
        """Start an update unless one of ours is already running for this deployment (then return it)."""
        return self._launch(deployment_id, node_urls, job_id=None)

    def follow(self, deployment_id: str, job_id: str, node_urls: list[str] | None = None) -> UpdateRun:
        """Follow an update someone else started (its future `job_id`), as if it were ours."""
        return self._launch(deployment_id, node_urls, job_id=job_id)

    async def adopt_running(self, exclude: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Follow every deployment update running on the server that this app does not follow yet — started
        by another session, a colleague or a CI script — so that the panes show it running and its log can
        be watched here too. Their results are left for whoever started them. Returns the adopted ids.
        `exclude`: deployments whose updates something else of this app follows (a canary)."""
        if self.client is None:
            return []
        adopted = []
        for deployment_id, job_id in (await self._running_jobs()).items():
            if deployment_id in exclude:
                continue
            current = self.runs.get(deployment_id)
            if current is not None and (current.running or current.job_id == job_id):
                continue
            self.follow(deployment_id, job_id)
            adopted.append(deployment_id)
        if adopted:
            self._tell(f"Started elsewhere, followed here: {', '.join(sorted(adopted))}", title="Updates running")
        return adopted

    async def find_running(self, deployment_id: str) -> str | None:
        """The job id of an update of this deployment running on the server (any client's), if any."""
        found = await job_follower.find_running_update(self._connected_client(), deployment_id)
        return found.job_id if found is not None else None

    def _launch(self, deployment_id: str, node_urls: list[str] | None, job_id: str | None) -> UpdateRun:
        current = self.runs.get(deployment_id)
        if current is not None and current.running:
            return current
        run = UpdateRun(deployment_id, started_at=self.clock(), started_monotonic=time.monotonic())
        for url in node_urls or []:
            run.nodes[url.rstrip("/")] = NodeState(url.rstrip("/"))
        self.runs[deployment_id] = run
        self._publish(lambda: UpdateProgressed(run, []))
        self.app.run_worker(self._run(run, job_id), name=f"update {deployment_id}",
                            group=self.group(f"update:{deployment_id}"), exit_on_error=False)
        return run

    async def abort(self, deployment_id: str) -> bool:
        """Ask the server to abort this deployment's running update; False if there is none to abort."""
        run = self.runs.get(deployment_id)
        if run is None or not run.running or run.job_id is None:
            return False
        run.abort_requested = True
        run.state = "ABORTING"
        self._publish(lambda: UpdateProgressed(run, []))
        try:
            await job_follower.abort(self._connected_client(), run.job_id)
        except DeployerError as exc:
            run.abort_requested = False
            if run.state == "ABORTING":
                run.state = "RUNNING"
            self._publish(lambda: UpdateProgressed(run, []))
            self._tell(f"Could not abort the update of {deployment_id}: {exc}", severity="error")
            return False
        return True

    async def _run(self, run: UpdateRun, job_id: str | None = None) -> None:
        try:
            await self._follow(run, job_id)
        except Exception as exc:  # noqa: BLE001 - a run must end, whatever broke while following it
            if run.running:
                self._finish(run, "LOST", error=DeployerError(f"Stopped following the update: {exc!r}"))
            raise

    async def _follow(self, run: UpdateRun, job_id: str | None) -> None:
        client = self._connected_client()
        ours = job_id is None  # only our own futures are claimed (see job_follower.follow_future)
        record_start: int | None = None
        following_record = False
        if job_id is None:
            started = await job_follower.start_or_follow(client, run.deployment_id)
            if started.error is not None:
                self._finish(run, "FAILED", error=started.error)  # the deployer's refusal, as it said it
                return
            if started.running is not None:
                # Someone else (another session, a CI job) is updating it: follow that update instead.
                ours = False
                job_id = started.running.job_id
                following_record = job_id is None
                record_start = started.running.start_timestamp
                self._tell(f"An update of {run.deployment_id} was already running: following it", title="Update",
                           severity="warning")
            else:
                response = started.response or {}
                job_id = str(response.get("jobId") or "")
                if not job_id:
                    self._finish(run, "FAILED", error=DeployerError("The deployer returned no job id for the update"))
                    return
        run.job_id = job_id
        if ours and run.job_id:
            await self._journal_start(run, started.response or {})
        if run.state == "STARTING":
            run.state = "RUNNING"
        self._publish(lambda: UpdateProgressed(run, []))
        if following_record:
            events = job_follower.follow_update_record(client, run.deployment_id, record_start,
                                                       interval=self.poll_interval, max_interval=self.max_poll_interval)
        else:
            assert job_id is not None
            events = job_follower.follow_future(client, job_id, interval=self.poll_interval,
                                                max_interval=self.max_poll_interval, claim=ours)
        last: job_follower.FutureEvent | None = None
        async for event in events:
            last = event
            if event.progress:  # a finished job may report none: keep the last known steps
                run.progress = event.progress
            run.elapsed_ms = event.elapsed_ms
            if event.new_lines:
                run.add_lines(event.new_lines)
            if event.done or event.error is not None:
                break
            lines = event.new_lines
            self._publish(lambda lines=lines: UpdateProgressed(run, lines))
        if last is None:
            self._finish(run, "LOST", error=DeployerError("Stopped following the update before any news"))
            return
        settled = await job_follower.settle(client, run.deployment_id, last)
        if following_record and isinstance(last.result, dict) and last.error is None:
            # Followed through its record: that record, read at its end, is the evidence.
            told = job_follower.record_outcome(last.result)
            settled.record = last.result
            if told is not None:
                settled.state, settled.evidence = told, "record"
        run.settled = settled
        result = settled.result
        if following_record or (not ours and result is None and settled.record is not None):
            result = settled.record.get("result") if isinstance(settled.record, dict) else None
        self._finish(run, settled.state, result=result, error=settled.error, new_lines=last.new_lines)

    async def _journal_start(self, run: UpdateRun, response: dict) -> None:
        """Write down what this update deploys (core/journal.py): a deployer may not say it in its records."""
        try:
            settings = await self._connected_client().get_deployment_settings(run.deployment_id)
        except DeployerError:
            settings = {}
        mapping = settings.get("generationsMapping") if isinstance(settings, dict) else None
        start = response.get("startTime")
        run.journal = JournalRecord(run.deployment_id, now_ms(), mapping if isinstance(mapping, dict) else None,
                                    "update", job_id=run.job_id,
                                    server_start=start if isinstance(start, int) else None)
        self._journal_write(run.journal)

    def _journal_write(self, record: JournalRecord) -> None:
        try:
            Journal(self._connected_client().url).write(record)
        except OSError as exc:  # a read-only home must not stop an update
            self._tell(f"Could not write the update journal: {exc}", severity="warning")

    async def _running_jobs(self) -> dict[str, str]:
        """Deployment id -> job id of every running update future the key may see (everyone's when allowed)."""
        try:
            listed = await self._connected_client().list_futures(all_users=True)
        except DeployerError:
            try:
                listed = await self._connected_client().list_futures()
            except DeployerError:
                return {}
        running: dict[str, str] = {}
        for future in listed if isinstance(listed, list) else []:
            payload = future.get("payload") if isinstance(future, dict) else None
            targets = payload.get("targets") if isinstance(payload, dict) else None
            job_id = str(future.get("jobId") or "") if isinstance(future, dict) else ""
            if not job_id or not future.get("alive", True) or not isinstance(targets, list):
                continue
            for target in targets:
                if isinstance(target, dict) and target.get("objectId") and \
                        target.get("objectType") in (None, "API_DEPLOYER_DEPLOYMENT"):
                    running.setdefault(str(target["objectId"]), job_id)
        return running

    def _finish(self, run: UpdateRun, state: str, *, result: Any = None, error: DeployerError | None = None,
                new_lines: list[str] | None = None) -> None:
        run.state = state
        run.result = result
        run.error = error
        run.ended_monotonic = time.monotonic()
        if run.journal is not None and self.client is not None:
            run.journal.outcome, run.journal.ended = state, now_ms()
            self._journal_write(run.journal)
        if state == "SUCCESS" and run.nodes_reported:
            # Nodes the log did not report failed were fine: the result is the authority at the end.
            for node in run.nodes.values():
                if node.state in ("waiting", "working"):
                    node.state = "ok"
        lines = new_lines or []
        self._publish(lambda: UpdateProgressed(run, lines))
        self._publish(lambda: UpdateFinished(run))
        severity: Severity = "information" if state == "SUCCESS" else \
            "warning" if state in ("WARNING", NOT_REPORTED) else "error"
        self._tell(run.summary(), title="Update finished" if state != "LOST" else "Update: lost track",
                   severity=severity, timeout=10)
