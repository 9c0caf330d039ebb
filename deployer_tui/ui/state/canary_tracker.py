"""Running canaries, tracked at app level so they keep going when the user navigates away (as updates do).

`CanaryTracker.start(plan)` runs core/canary.py's `run_canary` in a worker owned by the App, with a
`CanaryControl` per run (pause, resume, promote now, abort) and the state store and latency log of this
deployer, so that a console that dies mid-canary is offered the revert at its next start (core/canary_state.py)
and every probe is recorded (core/latency_log.py). `resume(record)` and `revert(record)` do the same for a
canary left half-way. Each deployment's latest run (`CanaryRun`) keeps the latest `CanaryProgress` snapshot,
the update log lines (bounded) and the outcome. Subscribers (the live canary screen, the deployments pane)
and the app receive `CanaryProgressed` / `CanaryFinished`, and the app a `Notice` with the outcome.
One tracker per context (ui/state/contexts_state.py), given that context's client: its records and latency
log are that deployer's (by the client's URL), its worker groups start with the context's name and its
messages and toasts carry it, so a canary running in a context not shown still ends with a toast naming it.
This module draws nothing and imports no screen and no widget.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message_pump import MessagePump
from textual.notifications import SeverityLevel as Severity

from deployer_tui.core.canary import (
    CanaryControl,
    CanaryError,
    CanaryPlan,
    CanaryProgress,
    CanaryResult,
    resume_record,
    revert_record,
    run_canary,
)
from deployer_tui.core.canary_state import CanaryRecord, CanaryStore
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.latency_log import LatencyLog
from deployer_tui.ui.state.messages import CanaryFinished, CanaryProgressed, Notice
from deployer_tui.ui.state.publisher import Publisher
from deployer_tui.ui.view.log_text import DEFAULT_MAX_LINES

__all__ = ["CanaryFinished", "CanaryProgressed", "CanaryRun", "CanaryTracker", "outcome_text"]

if TYPE_CHECKING:
    from pathlib import Path

    from textual.app import App

    from deployer_tui.core.client import DeployerClient

KINDS = ("canary", "resume", "revert")


@dataclass
class CanaryRun:
    """One canary of one deployment as this app runs it: started here, resumed, or a left-over reverted."""

    deployment_id: str
    plan: CanaryPlan
    control: CanaryControl
    kind: str = "canary"
    started_at: float = field(default_factory=time.time)
    progress: CanaryProgress | None = None
    result: CanaryResult | None = None
    error: str | None = None  # the engine could not go on (the deployer unreachable, say), in words
    running: bool = True
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=DEFAULT_MAX_LINES))
    soaked: set[int] = field(default_factory=set)  # the steps seen soaking (their split is deployed)

    @property
    def phase(self) -> str:
        if not self.running:
            return "done"
        if self.progress is None:
            return "reverting" if self.kind == "revert" else "planning"
        return self.progress.phase

    @property
    def percent(self) -> int | None:
        """The current step's share of traffic for the new version, once known."""
        progress = self.progress
        if progress is not None and 0 <= progress.step_index < len(progress.steps):
            return progress.steps[progress.step_index].percent
        steps = self.plan.steps
        return steps[0] if steps and self.kind != "revert" else None

    def row_label(self) -> str:
        """What the deployments pane shows in place of the health while the canary runs. At most 13 cells:
        the pane's columns only ever widen, and a longer label would push a column out at 80 columns."""
        phase = self.phase
        if phase == "reverting":
            return "⟳ REVERTING"
        if phase == "promoting":
            return "⟳ CANARY 100 %"
        percent = self.percent
        if phase == "paused":
            return f"‖ CANARY {percent} %" if percent is not None else "‖ CANARY"
        return f"⟳ CANARY {percent} %" if percent is not None else "⟳ CANARY"


def outcome_text(run: CanaryRun) -> str:
    """One sentence for a toast and the end of the live screen: how the canary ended and where it left the
    deployment."""
    result = run.result
    target = run.plan.target
    if result is None:
        return f"Canary of {run.deployment_id} stopped: {run.error or 'no result'}"
    text = f"Canary of {run.deployment_id}: {result.outcome}"
    if result.message:
        return f"{text} — {result.message}"
    if result.outcome == "PROMOTED":
        text += f" — {target} serves all traffic"
    elif result.outcome in ("REVERTED", "ABORTED"):
        if result.failed_guard:
            at = f" at {result.failed_step} %" if result.failed_step is not None else ""
            text += f" — {result.failed_guard} breached{at}"
        elif result.outcome == "ABORTED":
            text += " — aborted by the user"
        text += "; the previous mapping is back"
    if result.error:
        text += f" — {result.error}"
    if result.duration_ms:
        text += f" ({result.duration_ms / 1000:.1f}s)"
    return text


class CanaryTracker(Publisher):
    """One context's canaries; `client` may be given later (the context connects in a worker).
    `state_root`: where the canary records go (default: the state directory, core/canary_state.py)."""

    def __init__(self, app: App, client: DeployerClient | None = None, *, state_root: Path | None = None,
                 interval: float = 0.25, context_name: str = "") -> None:
        super().__init__(context_name)
        self.app = app
        self.client: DeployerClient | None = client
        self.state_root = state_root
        self.interval = interval
        self.runs: dict[str, CanaryRun] = {}
        self.problems: list[str] = []  # records pending() could not read, in words

    # -- subscribers ---------------------------------------------------------------------------
    def _receivers(self) -> list[MessagePump]:
        # The app always hears, subscribed or not.
        return [self.app, *(n for n in self._subscribers if n is not self.app)]

    def _tell(self, text: str, *, title: str = "Canary", severity: Severity = "information",
              timeout: float | None = 10) -> None:
        self.app.post_message(self.stamp(Notice(text, title=title, severity=severity, timeout=timeout)))

    def _connected_client(self) -> DeployerClient:
        if self.client is None:
            raise DeployerError("Not connected yet")
        return self.client

    # -- queries -------------------------------------------------------------------------------
    def get(self, deployment_id: str) -> CanaryRun | None:
        return self.runs.get(deployment_id)

    def is_running(self, deployment_id: str) -> bool:
        run = self.runs.get(deployment_id)
        return run is not None and run.running

    def running_ids(self) -> set[str]:
        return {d for d, run in self.runs.items() if run.running}

    def row_label(self, deployment_id: str) -> str | None:
        """`⟳ CANARY 10 %` while a canary of this app runs on the deployment, else None."""
        run = self.runs.get(deployment_id)
        return run.row_label() if run is not None and run.running else None

    def store(self) -> CanaryStore:
        return CanaryStore(self.state_root)

    def pending(self) -> list[CanaryRecord]:
        """Canaries of this deployer left half-way (the console quit or died), not run by this app now."""
        if self.client is None:
            return []
        store = self.store()
        records = store.pending(self.client.url)
        self.problems = list(store.problems)
        return [r for r in records if not self.is_running(r.deployment_id)]

    # -- actions -------------------------------------------------------------------------------
    def start(self, plan: CanaryPlan) -> CanaryRun:
        """Start a canary unless one of ours already runs on this deployment (then return that one)."""
        client = self._connected_client()
        return self._launch(plan, "canary", lambda run: run_canary(
            client, plan, self.sink(run), control=run.control, store=self.store(),
            latency_log=LatencyLog(client.url), interval=self.interval))

    def resume(self, record: CanaryRecord) -> CanaryRun:
        """Go on with a canary left half-way, from the step its record names."""
        client = self._connected_client()
        return self._launch(CanaryPlan.from_json(record.plan), "resume", lambda run: resume_record(
            client, record, self.sink(run), control=run.control, store=self.store(),
            latency_log=LatencyLog(client.url)))

    def revert(self, record: CanaryRecord) -> CanaryRun:
        """Put back the mapping a canary left half-way replaced, and update."""
        client = self._connected_client()
        return self._launch(CanaryPlan.from_json(record.plan), "revert",
                            lambda run: revert_record(client, record, self.sink(run), store=self.store(),
                                                      interval=self.interval))

    def toggle_pause(self, deployment_id: str) -> bool | None:
        """Pause or resume the running canary; whether it is paused now (None: nothing runs)."""
        run = self.runs.get(deployment_id)
        if run is None or not run.running:
            return None
        if run.control.paused:
            run.control.resume()
        else:
            run.control.pause()
        return run.control.paused

    def promote_now(self, deployment_id: str) -> bool:
        run = self.runs.get(deployment_id)
        if run is None or not run.running:
            return False
        run.control.promote_now()
        return True

    def abort(self, deployment_id: str) -> bool:
        """Abort and revert the running canary (the engine restores the previous mapping)."""
        run = self.runs.get(deployment_id)
        if run is None or not run.running:
            return False
        run.control.abort()
        return True

    # -- the run -------------------------------------------------------------------------------
    def _launch(self, plan: CanaryPlan, kind: str,
                call: Callable[[CanaryRun], Awaitable[CanaryResult]]) -> CanaryRun:
        current = self.runs.get(plan.deployment_id)
        if current is not None and current.running:
            return current
        run = CanaryRun(plan.deployment_id, plan, CanaryControl(), kind)
        self.runs[plan.deployment_id] = run
        self._publish(lambda: CanaryProgressed(run, []))
        # An app worker: leaving the live screen does not stop the canary.
        self.app.run_worker(self._run(run, call), name=f"canary {plan.deployment_id}",
                            group=self.group(f"canary:{plan.deployment_id}"), exit_on_error=False)
        return run

    def sink(self, run: CanaryRun) -> Callable[[CanaryProgress], None]:
        """The engine's progress callback for a run: keeps the snapshot and its log lines, tells subscribers."""

        def on_progress(progress: CanaryProgress) -> None:
            run.progress = progress
            lines = list(progress.log_lines)
            run.lines.extend(lines)
            step = progress.steps[progress.step_index] if 0 <= progress.step_index < len(progress.steps) else None
            deployed = step is not None and step.state == "soaking" and progress.step_index not in run.soaked
            if deployed:
                run.soaked.add(progress.step_index)
            self._publish(lambda: CanaryProgressed(run, lines, deployed))

        return on_progress

    async def _run(self, run: CanaryRun, call: Callable[[CanaryRun], Awaitable[CanaryResult]]) -> None:
        try:
            run.result = await call(run)
        except (CanaryError, DeployerError) as exc:
            run.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a run must end, whatever broke in it
            run.error = f"{type(exc).__name__}: {exc}"
            self._finish(run)
            raise
        self._finish(run)

    def _finish(self, run: CanaryRun) -> None:
        run.running = False
        self._publish(lambda: CanaryProgressed(run, []))
        self._publish(lambda: CanaryFinished(run))
        ok = run.result is not None and run.result.ok
        reverted = run.result is not None and run.result.outcome in ("REVERTED", "ABORTED")
        severity: Severity = "information" if ok else "warning" if reverted else "error"
        self._tell(outcome_text(run), severity=severity)
