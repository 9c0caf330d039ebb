"""Rolling a deployment back (or forward) to a mapping it served before. No I/O beyond the client and the
journal, no printing: the console and the headless command call these and show the events themselves.

* `rollback_target` picks the target in a history: the mapping of the most recent update that ended in
  SUCCESS with a mapping different from the current one, or a single version asked for (`to_version`).
* `plan_rollback` reads what is needed to show the preview: the current mapping, the merged history
  (deployer records + journal), the target, and per node the versions served now when the deployer says.
* `run_rollback` saves the settings (read-modify-write of the whole document, so fields it does not know
  are kept), starts the update with its reason, follows it live, settles its outcome on evidence
  (job_follower), runs the stored test queries when it succeeded, writes the journal, and returns a
  RollbackSummary whose `roll_forward` is the mapping it replaced.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deployer_tui.core import job_follower
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.journal import HistoryRow, Journal, JournalRecord, merge_history, now_ms
from deployer_tui.core.production import stage_is_production
from deployer_tui.core.readers import mapping_summary
from deployer_tui.core.skew import NodeServing, mapping_versions, node_versions

KIND_REASON = {"rollback": "ROLLBACK", "rollforward": "ROLLFORWARD", "update": None}


class RollbackError(Exception):
    """No rollback can be planned (no target), said in words for the user."""


def mapping_key(mapping: Any) -> tuple:
    """What makes two generations mappings the same deployment: versions with their shares and, with
    several versions, the strategy."""
    if not isinstance(mapping, dict):
        return ()
    entries = mapping.get("entries")
    if mapping.get("mode") == "SINGLE_GENERATION" or (not entries and mapping.get("generation")):
        return ((str(mapping.get("generation")), 1.0),)
    pairs = tuple(sorted((str(e.get("generation")), round(float(e.get("proba") or 0), 6))
                         for e in entries or [] if isinstance(e, dict)))
    if len(pairs) == 1:
        return ((pairs[0][0], 1.0),)
    return (*pairs, str(mapping.get("strategy") or "RANDOM"))


def single(version: str) -> dict:
    return {"mode": "SINGLE_GENERATION", "generation": version}


def rollback_target(history: list[HistoryRow], current_mapping: dict | None,
                    to_version: str | None = None) -> HistoryRow | dict | None:
    """The target: with `to_version`, that version alone (a dict mapping); else the newest row of `history`
    that ended in SUCCESS with a known mapping different from `current_mapping`; None when there is none."""
    if to_version:
        return single(to_version)
    current = mapping_key(current_mapping)
    for row in sorted(history, key=lambda r: r.start, reverse=True):
        if row.outcome == "SUCCESS" and row.mapping is not None and mapping_key(row.mapping) != current:
            return row
    return None


@dataclass
class RollbackPlan:
    """What a rollback will do: `current` → `target` (generations mappings). `nodes`: per node URL what it
    serves now, None when the deployer does not report per-node data. `source`: the history row the target
    comes from (None for a version asked for)."""

    deployment_id: str
    current: dict | None
    target: dict
    kind: str = "rollback"
    source: HistoryRow | None = None
    nodes: dict[str, NodeServing] | None = None
    history: list[HistoryRow] = field(default_factory=list)
    stage: str | None = None  # the infra's stage, when the light status says it

    @property
    def production(self) -> bool:
        """A Production deployment: the confirmation asks for its id typed (as a delete does)."""
        return stage_is_production(self.stage)

    @property
    def current_text(self) -> str:
        return mapping_summary(self.current) or "nothing"

    @property
    def target_text(self) -> str:
        return mapping_summary(self.target)

    @property
    def target_versions(self) -> tuple[str, ...]:
        return mapping_versions(self.target)


async def read_history(client: Any, deployment_id: str, journal: Journal | None) -> list[HistoryRow]:
    """The deployer's update list (none from a deployer without it) merged with the journal's records."""
    try:
        records = await client.list_updates(deployment_id)
    except DeployerError as err:
        if err.status not in (404, 405):
            raise
        records = []
    return merge_history(records, journal.records(deployment_id) if journal is not None else [])


async def plan_rollback(client: Any, deployment_id: str, to_version: str | None = None, *,
                        journal: Journal | None = None, kind: str = "rollback") -> RollbackPlan:
    """Read the deployment and plan its rollback; RollbackError when no target can be found.

    `journal`: the console's journal of this deployer (Journal(client.url) when None)."""
    journal = journal if journal is not None else Journal(client.url)
    settings = await client.get_deployment_settings(deployment_id)
    current = settings.get("generationsMapping") if isinstance(settings, dict) else None
    history = await read_history(client, deployment_id, journal)
    found = rollback_target(history, current, to_version)
    if found is None:
        raise RollbackError(f"deployment {deployment_id}: no earlier successful update deployed something other "
                            f"than {mapping_summary(current) or 'the current mapping'}; name a version (--to)")
    source = found if isinstance(found, HistoryRow) else None
    target = copy.deepcopy(found.mapping if isinstance(found, HistoryRow) else found)
    if mapping_key(target) == mapping_key(current):
        raise RollbackError(f"deployment {deployment_id} already has {mapping_summary(current)} saved")
    try:
        heavy = await client.get_deployment_status(deployment_id)
    except DeployerError:
        heavy = None  # the preview then says nothing per node; the rollback itself does not need it
    light = await client.get_deployment(deployment_id)
    infra = light.get("infraBasicInfo") if isinstance(light, dict) else None
    stage = (str(infra.get("stage") or "") or None) if isinstance(infra, dict) else None
    return RollbackPlan(deployment_id, current, target, kind, source, node_versions(heavy), history, stage)


def forward_plan(plan: RollbackPlan) -> RollbackPlan | None:
    """The roll-forward offered after a rollback: back to the mapping it replaced."""
    if plan.current is None:
        return None
    return RollbackPlan(plan.deployment_id, plan.target, copy.deepcopy(plan.current), "rollforward")


# ---- running it -----------------------------------------------------------------------------------------


@dataclass
class RollbackEvent:
    """One step of a run, for a progress line or a screen. `step`: save, start, log, progress, settled,
    queries, done; `message` is a sentence; `lines` new update log lines (step log)."""

    step: str
    message: str
    lines: list[str] = field(default_factory=list)
    progress: list[dict] = field(default_factory=list)


@dataclass
class RollbackSummary:
    """How the run ended. `ok`: the update succeeded and no test query failed. `outcome`: the update's
    (job_follower.Settled.state), or REFUSED / BUSY when it did not start. `roll_forward`: the mapping
    replaced, to offer going back to it."""

    deployment_id: str
    kind: str
    ok: bool
    outcome: str
    previous: dict | None
    target: dict
    queries_ok: int = 0
    queries_failed: int = 0
    queries_run: bool = False
    error: str | None = None
    roll_forward: dict | None = None
    update_start: int | None = None
    duration_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"deployment": self.deployment_id, "kind": self.kind, "ok": self.ok, "outcome": self.outcome,
                "from": self.previous, "to": self.target, "fromText": mapping_summary(self.previous),
                "toText": mapping_summary(self.target),
                "testQueries": {"run": self.queries_run, "ok": self.queries_ok, "failed": self.queries_failed},
                "error": self.error, "rollForward": self.roll_forward, "updateStart": self.update_start,
                "durationMs": self.duration_ms}


def count_queries(answer: Any) -> tuple[int, int]:
    """(ok, failed) in a run-test-queries answer `{"responses": [{"response"} | {"error"}]}`."""
    responses = answer.get("responses") if isinstance(answer, dict) else None
    ok = failed = 0
    for item in responses if isinstance(responses, list) else []:
        if isinstance(item, dict) and "error" not in item and "response" in item:
            ok += 1
        else:
            failed += 1
    return ok, failed


EventSink = Callable[[RollbackEvent], Any]


async def run_rollback(client: Any, plan: RollbackPlan, on_event: EventSink | None = None, *,
                       journal: Journal | None = None, interval: float = 0.25) -> RollbackSummary:
    """Apply the plan: save, update, follow, settle, test queries, journal. Raises DeployerError only when
    the deployer cannot be read or written at all (connection, the settings refused): the outcome of the
    update itself is in the summary."""
    journal = journal if journal is not None else Journal(client.url)
    emit = on_event or (lambda _e: None)
    dep = plan.deployment_id
    began = time.monotonic()
    summary = RollbackSummary(dep, plan.kind, False, "REFUSED", plan.current, plan.target,
                              roll_forward=copy.deepcopy(plan.current))

    settings = await client.get_deployment_settings(dep)
    settings["generationsMapping"] = copy.deepcopy(plan.target)
    await client.save_deployment_settings(dep, settings)
    emit(RollbackEvent("save", f"saved {dep}: {plan.current_text} → {plan.target_text}"))

    record = JournalRecord(dep, now_ms(), copy.deepcopy(plan.target), plan.kind)
    started = await job_follower.start_or_follow(client, dep, reason=KIND_REASON.get(plan.kind))
    if started.response is None:
        summary.outcome = "BUSY" if started.running is not None else "REFUSED"
        summary.error = (f"another update of {dep} is running: the {plan.kind} was saved but not started"
                         if started.running is not None else str(started.error))
        record.outcome, record.ended = summary.outcome, now_ms()
        journal.write(record)
        emit(RollbackEvent("done", summary.error))
        summary.duration_ms = int((time.monotonic() - began) * 1000)
        return summary
    job_id = str(started.response.get("jobId") or "")
    record.job_id = job_id or None
    if isinstance(started.response.get("startTime"), int):
        record.server_start = started.response["startTime"]
    journal.write(record)
    emit(RollbackEvent("start", f"update of {dep} started ({plan.kind}, job {job_id})"))

    last: job_follower.FutureEvent | None = None
    async for event in job_follower.follow_future(client, job_id, interval=interval):
        last = event
        if event.new_lines or event.progress:
            emit(RollbackEvent("log", "", list(event.new_lines), list(event.progress)))
    assert last is not None
    settled = await job_follower.settle(client, dep, last)
    summary.outcome = settled.state
    if settled.record is not None and isinstance(settled.record.get("startTimestamp"), int):
        summary.update_start = record.server_start = settled.record["startTimestamp"]
    elif last.start_time is not None:
        summary.update_start = record.server_start = last.start_time
    record.outcome, record.ended = settled.state, now_ms()
    journal.write(record)
    emit(RollbackEvent("settled", f"update of {dep}: {settled.text}"
                       + (f" ({settled.error})" if settled.error is not None else "")))
    if settled.state != "SUCCESS":
        summary.error = str(settled.error) if settled.error is not None else f"the update ended {settled.text}"
        emit(RollbackEvent("done", f"{plan.kind} of {dep} failed: {summary.error}"))
        summary.duration_ms = int((time.monotonic() - began) * 1000)
        return summary

    try:
        answer = await client.run_test_queries(dep)
    except DeployerError as err:
        if "no test queries" in (err.message or "").lower():
            pass  # the version stores none: nothing to run is not a failure
        else:
            summary.queries_run, summary.queries_failed = True, 1
            summary.error = f"the test queries could not run: {err}"
    else:
        summary.queries_run = True
        summary.queries_ok, summary.queries_failed = count_queries(answer)
        if summary.queries_failed:
            summary.error = f"{summary.queries_failed} test quer{'y' if summary.queries_failed == 1 else 'ies'} failed"
    emit(RollbackEvent("queries", f"test queries: {summary.queries_ok} ok, {summary.queries_failed} failed"))
    summary.ok = summary.queries_failed == 0
    summary.duration_ms = int((time.monotonic() - began) * 1000)
    emit(RollbackEvent("done", f"{plan.kind} of {dep} to {plan.target_text}: "
                               f"{'done' if summary.ok else summary.error}"))
    return summary
