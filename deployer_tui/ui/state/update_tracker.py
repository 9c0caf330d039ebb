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

from rich.text import Text
from textual.message import Message
from textual.message_pump import MessagePump

from deployer_tui.core import job_follower
from deployer_tui.core.errors import DeployerError
from deployer_tui.ui.state.publisher import Publisher
from deployer_tui.ui.widgets.log_view import DEFAULT_MAX_LINES, line_level

if TYPE_CHECKING:
    from textual.app import App

    from deployer_tui.core.client import DeployerClient

RUNNING_STATES = ("STARTING", "RUNNING", "ABORTING")
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


def outcome(event: job_follower.FutureEvent) -> str:
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


class UpdateMarksChanged(Message, bubble=False):
    """Deployments were marked or unmarked (`ids`: those whose mark flipped)."""

    def __init__(self, ids: frozenset[str]) -> None:
        super().__init__()
        self.ids = ids


def decorate_deployment_row(app: Any, deployment_id: str, row: tuple) -> tuple:
    """A deployments-pane row with the update state shown: a mark after the id, and UPDATING (in place of
    the health, which is stale while nodes change) when this session runs an update of it."""
    tracker = getattr(app, "updates", None)
    if not isinstance(tracker, UpdateTracker) or not row:
        return row
    from deployer_tui.ui.view.rows import DEPLOYMENT_COLUMNS

    keys = [column.key for column in DEPLOYMENT_COLUMNS]
    id_at, health_at = keys.index("id"), keys.index("health")
    cells = list(row)
    if deployment_id in tracker.marked:
        # A suffix, not a prefix: the pane sorts by this cell and a mark must not move the row.
        cells[id_at] = Text.assemble((str(cells[id_at]), "bold magenta"), (" ✓", "bold magenta"))
    run = tracker.runs.get(deployment_id)
    if run is not None and run.running:
        cells[health_at] = Text("⟳ UPDATING" if run.state != "ABORTING" else "⟳ ABORTING", style="bold cyan")
    return tuple(cells)


class UpdateTracker(Publisher):
    """The app's running updates. One per app; `client` may be given later (the app connects in a worker)."""

    def __init__(self, app: App, client: DeployerClient | None = None, *,
                 clock: Callable[[], float] = time.time, poll_interval: float = 0.25,
                 max_poll_interval: float = 1.0) -> None:
        super().__init__()
        self.app = app
        self._client = client
        self.clock = clock
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.runs: dict[str, UpdateRun] = {}
        # Deployments marked (space) for a bulk update; kept here so every screen sees the same marks.
        self.marked: set[str] = set()
        self._last_marked: set[str] = set()

    @property
    def client(self) -> DeployerClient:
        if self._client is not None:
            return self._client
        return self.app.client  # type: ignore[attr-defined]

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

    async def adopt_running(self) -> list[str]:
        """Follow every deployment update running on the server that this app does not follow yet — started
        by another session, a colleague or a CI script — so that the panes show it running and its log can
        be watched here too. Their results are left for whoever started them. Returns the adopted ids."""
        if self.client is None:
            return []
        adopted = []
        for deployment_id, job_id in (await self._running_jobs()).items():
            current = self.runs.get(deployment_id)
            if current is not None and (current.running or current.job_id == job_id):
                continue
            self.follow(deployment_id, job_id)
            adopted.append(deployment_id)
        if adopted:
            self.app.notify(f"Started elsewhere, followed here: {', '.join(sorted(adopted))}",
                            title="Updates running", severity="information")
        return adopted

    async def find_running(self, deployment_id: str) -> str | None:
        """The job id of an update of this deployment running on the server (any client's), if any."""
        return (await self._running_jobs()).get(deployment_id)

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
                            group=f"update:{deployment_id}", exit_on_error=False)
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
            await job_follower.abort(self.client, run.job_id)
        except DeployerError as exc:
            run.abort_requested = False
            if run.state == "ABORTING":
                run.state = "RUNNING"
            self._publish(lambda: UpdateProgressed(run, []))
            self.app.notify(f"Could not abort the update of {deployment_id}: {exc}", severity="error")
            return False
        return True

    async def _run(self, run: UpdateRun, job_id: str | None = None) -> None:
        ours = job_id is None  # only our own futures are claimed (see job_follower.follow_future)
        try:
            response = {"jobId": job_id} if job_id else await self.client.start_update(run.deployment_id)
        except DeployerError as exc:
            running = await self.find_running(run.deployment_id) if exc.status == 409 else None
            if running is None:
                self._finish(run, "FAILED", error=exc)
                return
            # Someone else (another session, a CI job) is updating it: follow that update instead.
            response = {"jobId": running}
            ours = False
            self.app.notify(f"An update of {run.deployment_id} was already running: following it",
                            title="Update", severity="warning")
        run.job_id = str(response.get("jobId") or "") if isinstance(response, dict) else ""
        if not run.job_id:
            self._finish(run, "FAILED", error=DeployerError("The deployer returned no job id for the update"))
            return
        if run.state == "STARTING":
            run.state = "RUNNING"
        self._publish(lambda: UpdateProgressed(run, []))
        last: job_follower.FutureEvent | None = None
        async for event in job_follower.follow_future(self.client, run.job_id, interval=self.poll_interval,
                                                 max_interval=self.max_poll_interval, claim=ours):
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
        if not ours and last.done and last.error is None and not last.aborted:
            # Not claimed: the outcome is the one the deployer recorded for that update.
            state, result = await self._recorded_outcome(run.deployment_id)
            self._finish(run, state, result=result, new_lines=last.new_lines)
            return
        self._finish(run, outcome(last), result=last.result, error=last.error, new_lines=last.new_lines)

    async def _recorded_outcome(self, deployment_id: str) -> tuple[str, Any]:
        try:
            record = await self.client.get_update(deployment_id)
        except DeployerError:
            return "DONE", None
        record = record if isinstance(record, dict) else {}
        status = str(record.get("status") or "DONE")
        return (status if status in ("SUCCESS", "WARNING", "FAILED", "ABORTED") else "DONE"), record.get("result")

    async def _running_jobs(self) -> dict[str, str]:
        """Deployment id -> job id of every running update future the key may see (everyone's when allowed)."""
        try:
            listed = await self.client.list_futures(all_users=True)
        except DeployerError:
            try:
                listed = await self.client.list_futures()
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


# ---- actions (registered in the app's ActionRegistry) ---------------------------------------------------


def deployment_in_focus(screen: Any) -> str | None:
    """The deployment the user is on: the highlighted row / detail, or the one an update screen shows."""
    from deployer_tui.ui.object_actions import focused_object

    found = focused_object(screen)
    if found is not None:
        return found[1] if found[0] == "deployment" else None
    own = getattr(screen, "deployment_id", None)
    return own if isinstance(own, str) else None


def _on_main(screen: Any) -> bool:
    from deployer_tui.ui.screens.main import MainScreen

    return isinstance(screen, MainScreen)


def node_urls(app: Any, deployment_id: str) -> list[str]:
    """The API node URLs of the deployment's infra, from the light status (STATIC infras)."""
    store = getattr(app, "store", None)
    light = store.deployments.get(deployment_id) if store is not None else None
    info = (light or {}).get("infraBasicInfo") if isinstance(light, dict) else None
    urls = info.get("apiNodeUrls") if isinstance(info, dict) else None
    return [str(u) for u in urls] if isinstance(urls, list) else []


def marked_deployments(app: Any) -> list[str]:
    """Marked deployments that still exist, in the store's order."""
    tracker = tracker_for(app)
    store = getattr(app, "store", None)
    known = list(store.deployments) if store is not None else sorted(tracker.marked)
    return [d for d in known if d in tracker.marked]


def start_update(app: Any) -> None:
    """`u`: the marked deployments (main screen), else the one in focus; a running one opens its progress."""
    from deployer_tui.ui.screens.update_screen import UpdateConfirmScreen, UpdateScreen

    tracker = tracker_for(app)
    marked = marked_deployments(app) if _on_main(app.screen) else []
    if marked:
        start_bulk(app, marked)
        return
    deployment = deployment_in_focus(app.screen)
    if deployment is None:
        app.notify("Highlight a deployment (or mark some with space) to update it", severity="warning")
        return
    if tracker.is_running(deployment):
        app.push_screen(UpdateScreen(deployment, tracker))
        return

    def answered(yes: bool | None) -> None:
        if yes:
            tracker.start(deployment, node_urls(app, deployment))
            if not isinstance(app.screen, UpdateScreen) or app.screen.deployment_id != deployment:
                app.push_screen(UpdateScreen(deployment, tracker))

    app.push_screen(UpdateConfirmScreen(deployment, app.client, getattr(app, "presentation", None)), answered)


def start_bulk(app: Any, deployments: list[str]) -> None:
    from deployer_tui.ui.screens.modals import ConfirmScreen
    from deployer_tui.ui.screens.update_screen import UpdatesScreen

    tracker = tracker_for(app)
    running = [d for d in deployments if tracker.is_running(d)]
    todo = [d for d in deployments if d not in running]
    if not todo:
        app.push_screen(UpdatesScreen(tracker))
        return
    question = f"Update {len(todo)} marked deployment{'s' if len(todo) != 1 else ''}?\n"
    for deployment in todo[:12]:
        question += f"\n  {deployment}: {bulk_line(app, deployment)}"
    if len(todo) > 12:
        question += f"\n  … and {len(todo) - 12} more"
    if running:
        question += f"\n\n(already running: {', '.join(running)})"

    def answered(yes: bool | None) -> None:
        if not yes:
            return
        for deployment in todo:
            tracker.start(deployment, node_urls(app, deployment))
        tracker.marked.clear()
        tracker.marks_changed()
        app.push_screen(UpdatesScreen(tracker))

    app.push_screen(ConfirmScreen(question), answered)


def bulk_line(app: Any, deployment_id: str) -> str:
    """What one deployment of a bulk update will deploy, from the store: saved mapping (or disable), health."""
    from deployer_tui.core import readers

    store = getattr(app, "store", None)
    light = store.deployments.get(deployment_id) if store is not None else None
    if not isinstance(light, dict):
        return "?"
    basic = readers.deployment_basic(light)
    what = "disable" if basic.get("enabled") is False else (readers.mapping_summary(basic.get("generationsMapping")) or "?")
    return f"{what} (now {store.health(deployment_id)})"


def toggle_mark(app: Any) -> None:
    deployment = deployment_in_focus(app.screen)
    if deployment is None:
        return
    tracker_for(app).toggle_mark(deployment)


def mark_out_of_sync(app: Any) -> None:
    store = app.store
    ids = [d for d in store.deployments if store.health(d) == "OUT_OF_SYNC"]
    tracker = tracker_for(app)
    tracker.marked.update(ids)
    tracker.marks_changed()
    app.notify(f"Marked {len(ids)} OUT_OF_SYNC deployment{'s' if len(ids) != 1 else ''}; u updates them"
               if ids else "No deployment is OUT_OF_SYNC")


def clear_marks(app: Any) -> None:
    tracker = tracker_for(app)
    tracker.marked.clear()
    tracker.marks_changed()


def show_updates(app: Any) -> None:
    from deployer_tui.ui.screens.update_screen import UpdatesScreen

    app.push_screen(UpdatesScreen(tracker_for(app)))


def show_history(app: Any) -> None:
    from deployer_tui.ui.screens.update_history import UpdateHistoryScreen

    deployment = deployment_in_focus(app.screen)
    if deployment is None:
        app.notify("Highlight a deployment to see its update history", severity="warning")
        return
    app.push_screen(UpdateHistoryScreen(deployment, app.client, tracker=tracker_for(app)))


def abort_update(app: Any) -> None:
    ask = getattr(app.screen, "ask_abort", None)
    if ask is None:
        app.notify("Open the update (u, or U for all) to abort it", severity="warning")
        return
    ask()


def register_update_actions(registry: Any) -> None:
    from deployer_tui.ui.actions import UIAction

    def has_deployment(screen: Any) -> bool:
        return deployment_in_focus(screen) is not None

    for action in [
        UIAction("deployment.update", "Update deployment(s)",
                 "Deploy the saved settings to the API nodes (asks first); the marked deployments if any",
                 start_update, mutating=True,
                 available=lambda s: has_deployment(s) or (_on_main(s) and bool(marked_deployments(s.app)))),
        UIAction("deployment.mark", "Mark/unmark deployment", "Mark the highlighted deployment for a bulk update",
                 toggle_mark, available=has_deployment),
        UIAction("deployment.mark_out_of_sync", "Mark every OUT_OF_SYNC deployment",
                 "Mark all deployments whose health is OUT_OF_SYNC, then u updates them", mark_out_of_sync,
                 available=_on_main),
        UIAction("deployment.clear_marks", "Clear marks", "Unmark every deployment", clear_marks),
        UIAction("deployment.update_history", "Update history",
                 "Past updates of the deployment: start, end, duration, requester, status; enter opens the log",
                 show_history, available=has_deployment),
        UIAction("updates.show", "Running updates", "The updates started in this session, each with its progress",
                 show_updates),
        UIAction("update.abort", "Abort update", "Abort the running update shown (asks first)", abort_update,
                 mutating=True, available=lambda s: getattr(s, "ask_abort", None) is not None),
    ]:
        registry.register(action)
