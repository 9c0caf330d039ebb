"""Running updates, tracked at app level so they keep going when the user navigates away.

`UpdateTracker.start(deployment_id)` starts the update (`actions/update`) and follows its future in a worker
owned by the App — not by a screen, so popping the progress screen does not stop it. Each deployment's latest
run (`UpdateRun`) keeps its log lines (bounded), progress states, per-node state and outcome. Subscribed nodes
(the progress screen, the deployments pane) receive `UpdateProgressed` / `UpdateFinished` messages; the app
receives them too. When a run ends: a toast with the outcome, and the data store reloads so the deployment's
health is fresh.

Outcome of a run (the local deployer's record statuses, design §5): SUCCESS when every node is OK, WARNING
when some nodes failed, FAILED when none is OK or the job raised, ABORTED when aborted. A run whose polling
broke (connection lost) is LOST: the job may still run on the server; its history says how it ended.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message
from textual.message_pump import MessagePump

from deployer_tui.core import futures
from deployer_tui.core.errors import DeployerError
from deployer_tui.ui.widgets.log_view import DEFAULT_MAX_LINES, line_level

if TYPE_CHECKING:
    from textual.app import App

    from deployer_tui.core.client import DeployerClient

RUNNING_STATES = ("STARTING", "RUNNING", "ABORTING")
FINAL_STATES = ("SUCCESS", "WARNING", "FAILED", "ABORTED", "LOST")
# "[stamp] [LEVEL] [http://node:port] message": the local deployer names the node a line is about this way.
_NODE_LINE = re.compile(r"\[(?P<url>https?://[^\]\s]+)\]\s*(?P<message>.*)$")


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

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES

    def elapsed_seconds(self, now: float | None = None) -> float:
        end = self.ended_monotonic if self.ended_monotonic is not None else (now or time.monotonic())
        return max(self.elapsed_ms / 1000, end - self.started_monotonic)

    def add_lines(self, lines: list[str]) -> None:
        self.lines.extend(lines)
        self.total_lines += len(lines)
        for line in lines:
            self._note_node(line)

    def _note_node(self, line: str) -> None:
        found = _NODE_LINE.search(line)
        if found is None:
            return
        url = found.group("url").rstrip("/")
        node = self.nodes.setdefault(url, NodeState(url))
        level = line_level(line)
        node.message = found.group("message").strip()
        if level == "error":
            node.state = "failed"
        elif "[SUCCESS]" in line:
            node.state = "ok"
        elif node.state == "waiting":
            node.state = "working"

    def summary(self) -> str:
        """One line for a toast: outcome, node counts, error."""
        text = f"{self.deployment_id}: {self.state}"
        if isinstance(self.result, dict) and "nbOKNodes" in self.result:
            ok, nok = self.result.get("nbOKNodes", 0), self.result.get("nbNOKNodes", 0)
            text += f" — {ok} API node(s) OK, {nok} failed"
        if self.error is not None:
            text += f" — {self.error}"
        return text


def outcome(event: futures.FutureEvent) -> str:
    """The final state of a run from the future's last event."""
    if event.aborted:
        return "ABORTED"
    if event.error is not None:
        return "FAILED" if event.done else "LOST"
    result = event.result
    if isinstance(result, dict):
        ok, nok = result.get("nbOKNodes"), result.get("nbNOKNodes")
        if isinstance(nok, int) and nok > 0:
            return "WARNING" if isinstance(ok, int) and ok > 0 else "FAILED"
        if result.get("fatal") or result.get("error"):
            return "FAILED"
        if result.get("warning"):
            return "WARNING"
    return "SUCCESS"


class UpdateProgressed(Message, bubble=False):
    """A run changed: new log lines (only those not sent before), progress, or state.

    Not bubbling: every receiver (the app included) gets its own copy; bubbling would deliver twice.
    """

    def __init__(self, run: UpdateRun, new_lines: list[str]) -> None:
        super().__init__()
        self.run = run
        self.new_lines = new_lines


class UpdateFinished(Message, bubble=False):
    """A run ended (its `state` is final)."""

    def __init__(self, run: UpdateRun) -> None:
        super().__init__()
        self.run = run


class UpdateTracker:
    """The app's running updates. One per app; `client` may be given later (the app connects in a worker)."""

    def __init__(self, app: App, client: DeployerClient | None = None, *,
                 clock: Callable[[], float] = time.time, poll_interval: float = 0.25,
                 max_poll_interval: float = 1.0) -> None:
        self.app = app
        self._client = client
        self.clock = clock
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.runs: dict[str, UpdateRun] = {}
        self._subscribers: list[MessagePump] = []

    @property
    def client(self) -> DeployerClient:
        if self._client is not None:
            return self._client
        return self.app.client  # type: ignore[attr-defined]

    # -- subscribers ---------------------------------------------------------------------------
    def subscribe(self, node: MessagePump) -> None:
        if node not in self._subscribers:
            self._subscribers.append(node)

    def unsubscribe(self, node: MessagePump) -> None:
        if node in self._subscribers:
            self._subscribers.remove(node)

    def _publish(self, make: Callable[[], Message]) -> None:
        # One Message per receiver (Textual messages carry per-delivery state); the app always hears.
        receivers = [self.app, *(n for n in self._subscribers if n is not self.app)]
        for node in receivers:
            node.post_message(make())

    # -- queries -------------------------------------------------------------------------------
    def get(self, deployment_id: str) -> UpdateRun | None:
        return self.runs.get(deployment_id)

    def is_running(self, deployment_id: str) -> bool:
        run = self.runs.get(deployment_id)
        return run is not None and run.running

    def running_ids(self) -> set[str]:
        return {d for d, run in self.runs.items() if run.running}

    # -- actions -------------------------------------------------------------------------------
    def start(self, deployment_id: str, node_urls: list[str] | None = None) -> UpdateRun:
        """Start an update unless one of ours is already running for this deployment (then return it)."""
        current = self.runs.get(deployment_id)
        if current is not None and current.running:
            return current
        run = UpdateRun(deployment_id, started_at=self.clock(), started_monotonic=time.monotonic())
        for url in node_urls or []:
            run.nodes[url.rstrip("/")] = NodeState(url.rstrip("/"))
        self.runs[deployment_id] = run
        self._publish(lambda: UpdateProgressed(run, []))
        self.app.run_worker(self._run(run), name=f"update {deployment_id}", group=f"update:{deployment_id}",
                            exit_on_error=False)
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
            await futures.abort(self.client, run.job_id)
        except DeployerError as exc:
            run.abort_requested = False
            if run.state == "ABORTING":
                run.state = "RUNNING"
            self._publish(lambda: UpdateProgressed(run, []))
            self.app.notify(f"Could not abort the update of {deployment_id}: {exc}", severity="error")
            return False
        return True

    async def _run(self, run: UpdateRun) -> None:
        try:
            response = await self.client.start_update(run.deployment_id)
        except DeployerError as exc:
            self._finish(run, "FAILED", error=exc)
            return
        run.job_id = str(response.get("jobId") or "") if isinstance(response, dict) else ""
        if not run.job_id:
            self._finish(run, "FAILED", error=DeployerError("The deployer returned no job id for the update"))
            return
        if run.state == "STARTING":
            run.state = "RUNNING"
        self._publish(lambda: UpdateProgressed(run, []))
        last: futures.FutureEvent | None = None
        async for event in futures.follow_future(self.client, run.job_id, interval=self.poll_interval,
                                                 max_interval=self.max_poll_interval):
            last = event
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
        self._finish(run, outcome(last), result=last.result, error=last.error, new_lines=last.new_lines)

    def _finish(self, run: UpdateRun, state: str, *, result: Any = None, error: DeployerError | None = None,
                new_lines: list[str] | None = None) -> None:
        run.state = state
        run.result = result
        run.error = error
        run.ended_monotonic = time.monotonic()
        if run.result is not None or state in ("SUCCESS", "WARNING"):
            # Nodes not reported failed by the log were fine: the result is the authority at the end.
            for node in run.nodes.values():
                if node.state in ("waiting", "working") and state == "SUCCESS":
                    node.state = "ok"
        lines = new_lines or []
        self._publish(lambda: UpdateProgressed(run, lines))
        self._publish(lambda: UpdateFinished(run))
        severity = {"SUCCESS": "information", "WARNING": "warning"}.get(state, "error")
        self.app.notify(run.summary(), title="Update finished" if state != "LOST" else "Update: lost track",
                        severity=severity, timeout=10)
        store = getattr(self.app, "store", None)
        if store is not None:
            forget = getattr(store, "forget_heavy", None)
            if forget is not None:
                forget(run.deployment_id)
            refresh = getattr(store, "refresh", None)
            if refresh is not None:
                refresh()


def tracker_for(app: App) -> UpdateTracker:
    """The app's tracker, created on first use so every screen shares one."""
    tracker = getattr(app, "updates", None)
    if not isinstance(tracker, UpdateTracker):
        tracker = UpdateTracker(app)
        app.updates = tracker  # type: ignore[attr-defined]
    return tracker
