"""A staged canary rollout of a new version, with guards and an automatic revert. No printing, no Textual:
the console's screen and the headless command call these and show the progress themselves.

* `plan_canary` reads what a canary needs (the saved mapping it starts from, the service's versions, the
  infra's stage) and checks the plan; `CanaryError` says in words why a canary cannot start.
* `run_canary` runs the steps: for each, it writes the CanaryRecord (core/canary_state.py) before anything
  changes, saves the split (read-modify-write of the whole settings document, as core/rollback.py does),
  runs the update and follows it (core/job_follower.py: SUCCESS only on evidence), then soaks while
  probing each version at a bounded rate and judges the guards. A breach, a failed update or an abort
  restores the mapping from before the canary at once and runs that update (REVERTED / ABORTED); when every
  step passed (or on promote now) the new version alone is saved and deployed (PROMOTED).
* `revert_record` and `resume_record` finish a canary a console left half-way (its record).

How probes reach each version and what the figures mean: docs/canary.md.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from deployer_tui.core.latency_log import percentile
from deployer_tui.core.readers import deployment_basic, mapping_summary
from deployer_tui.core.rollback import PRODUCTION_STAGES, mapping_key, single
from deployer_tui.core.skew import mapping_versions

if TYPE_CHECKING:
    from deployer_tui.core.canary_state import CanaryRecord, CanaryStore
    from deployer_tui.core.latency_log import LatencyLog

MAX_PROBE_RATE = 50.0  # probe queries per second, all versions together: a canary never floods a node
MAX_LATENCIES = 2000  # latencies kept per version and step
STRATEGIES = ("HASH_BASED", "RANDOM")
NOT_REPORTED = "not reported"
PHASES = ("planning", "step", "soak", "paused", "reverting", "promoting", "done")
STEP_STATES = ("pending", "saving", "updating", "soaking", "passed", "failed", "skipped")
OUTCOMES = ("PROMOTED", "REVERTED", "ABORTED", "FAILED")
GUARD_ERROR_RATE = "error rate"
GUARD_LATENCY = "p95 latency ratio"
GUARD_ANSWERS = "answers match"


class CanaryError(Exception):
    """A canary that cannot be planned or started, said in words (CLI exit 2)."""


# ---- the plan ------------------------------------------------------------------------------------------------


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise CanaryError(f"{what} must be a number, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class Guards:
    max_error_rate: float = 0.01  # the new version's error rate over the step's probes
    max_latency_ratio: float = 1.5  # new p95 / old p95
    match_answers: bool = False  # the new version's answers must equal the old one's on the stored test queries
    min_requests: int = 10  # per version and step before a guard judges

    def validate(self) -> None:
        rate = _number(self.max_error_rate, "the maximum error rate")
        if not 0 <= rate <= 1:
            raise CanaryError(f"the maximum error rate is a fraction between 0 and 1 (0.01 is 1 %), not {rate:g}")
        ratio = _number(self.max_latency_ratio, "the maximum latency ratio")
        if ratio < 1:
            raise CanaryError(f"the maximum p95 latency ratio must be at least 1 (new p95 / old p95), not {ratio:g}")
        if isinstance(self.min_requests, bool) or not isinstance(self.min_requests, int) or self.min_requests < 1:
            raise CanaryError(f"the minimum number of requests per version must be a whole number ≥ 1, "
                              f"not {self.min_requests!r}")

    def to_json(self) -> dict[str, Any]:
        return {"maxErrorRate": self.max_error_rate, "maxLatencyRatio": self.max_latency_ratio,
                "matchAnswers": self.match_answers, "minRequests": self.min_requests}

    @classmethod
    def from_json(cls, raw: Any) -> Guards:
        raw = raw if isinstance(raw, dict) else {}
        default = cls()
        return cls(float(raw.get("maxErrorRate", default.max_error_rate)),
                   float(raw.get("maxLatencyRatio", default.max_latency_ratio)),
                   bool(raw.get("matchAnswers", default.match_answers)),
                   int(raw.get("minRequests", default.min_requests)))


def _split(previous: dict | None, target: str, share: float, strategy: str) -> dict:
    """`previous` with `target` at `share` (0 < share < 1) and the rest scaled down in their proportions."""
    others: list[tuple[str, float]] = []
    if isinstance(previous, dict):
        entries = previous.get("entries")
        if previous.get("mode") == "SINGLE_GENERATION" or (not entries and previous.get("generation")):
            others = [(str(previous.get("generation")), 1.0)]
        else:
            others = [(str(e.get("generation")), float(e.get("proba") or 0)) for e in entries or []
                      if isinstance(e, dict) and e.get("generation")]
    others = [(g, p) for g, p in others if g != target and p > 0]
    total = sum(p for _, p in others)
    if not others or total <= 0:
        return single(target)
    entries = [{"generation": g, "proba": round(p / total * (1 - share), 6)} for g, p in others]
    entries.append({"generation": target, "proba": round(share, 6)})
    # Rounded shares must still sum to 1 exactly (nodes accept 1e-6 off): the first entry takes the rest.
    entries[0]["proba"] = round(1 - sum(e["proba"] for e in entries[1:]), 6)
    return {"mode": "MULTI_GENERATION", "strategy": strategy, "entries": entries}


@dataclass
class CanaryPlan:
    deployment_id: str
    target: str  # the new version
    previous: dict | None = None  # the generationsMapping before the canary (filled by plan_canary)
    steps: tuple[int, ...] = (10, 50, 100)  # percent of traffic to the new version; strictly increasing, ends at 100
    strategy: str = "HASH_BASED"  # or "RANDOM"
    soak_s: float = 60.0  # per step
    guards: Guards = field(default_factory=Guards)
    probe_rate: float = 10.0  # probe queries per second, all versions together; at most MAX_PROBE_RATE
    stage: str | None = None  # the infra's stage (production confirmation)
    max_probe_rate: float = MAX_PROBE_RATE

    @property
    def production(self) -> bool:
        return (self.stage or "").strip().lower() in PRODUCTION_STAGES

    @property
    def previous_versions(self) -> tuple[str, ...]:
        """The versions the deployment served before the canary, the target aside."""
        return tuple(v for v in mapping_versions(self.previous) if v != self.target)

    @property
    def previous_text(self) -> str:
        return mapping_summary(self.previous) or "nothing"

    def validate(self) -> None:
        """CanaryError with a sentence when the plan cannot run."""
        if not self.deployment_id or not isinstance(self.deployment_id, str):
            raise CanaryError("a canary needs a deployment id")
        if not self.target or not isinstance(self.target, str):
            raise CanaryError("a canary needs the new version (--to VERSION)")
        steps = tuple(self.steps)
        if not steps:
            raise CanaryError("a canary needs at least one step (e.g. 10,50,100)")
        for step in steps:
            if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= 100:
                raise CanaryError(f"steps are whole percentages from 1 to 100, not {step!r}")
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise CanaryError(f"steps must be strictly increasing: {','.join(map(str, steps))}")
        if steps[-1] != 100:
            raise CanaryError(f"the last step must be 100 (the new version alone), not {steps[-1]}")
        if self.strategy not in STRATEGIES:
            raise CanaryError(f"the strategy is HASH_BASED or RANDOM, not {self.strategy!r}")
        soak = _number(self.soak_s, "the soak time")
        if soak < 0:
            raise CanaryError(f"the soak time cannot be negative ({soak:g} s)")
        rate = _number(self.probe_rate, "the probe rate")
        if not 0 < rate <= self.max_probe_rate:
            raise CanaryError(f"the probe rate must be above 0 and at most {self.max_probe_rate:g} queries/s "
                              f"(a canary must not flood the nodes), not {rate:g}")
        self.guards.validate()
        if self.previous is not None and mapping_key(self.previous) == mapping_key(single(self.target)):
            raise CanaryError(f"deployment {self.deployment_id} already has {self.target} alone saved: "
                              "nothing to roll out")

    def mapping_at(self, percent: int) -> dict:
        """The generationsMapping of a step: `percent` % to the target, the rest to the previous versions in
        their proportions; 100 is the target alone."""
        if percent >= 100:
            return single(self.target)
        return _split(self.previous, self.target, percent / 100, self.strategy)

    def to_json(self) -> dict[str, Any]:
        return {"deploymentId": self.deployment_id, "target": self.target, "previous": self.previous,
                "steps": list(self.steps), "strategy": self.strategy, "soakS": self.soak_s,
                "guards": self.guards.to_json(), "probeRate": self.probe_rate, "stage": self.stage,
                "maxProbeRate": self.max_probe_rate}

    @classmethod
    def from_json(cls, raw: Any) -> CanaryPlan:
        """Raises CanaryError when `raw` is not a plan."""
        if not isinstance(raw, dict) or not raw.get("deploymentId") or not raw.get("target"):
            raise CanaryError("not a canary plan (it needs deploymentId and target)")
        try:
            previous = raw.get("previous")
            return cls(str(raw["deploymentId"]), str(raw["target"]),
                       previous if isinstance(previous, dict) else None,
                       tuple(int(s) for s in raw.get("steps") or (10, 50, 100)),
                       str(raw.get("strategy") or "HASH_BASED"), float(raw.get("soakS", 60.0)),
                       Guards.from_json(raw.get("guards")), float(raw.get("probeRate", 10.0)),
                       str(raw["stage"]) if raw.get("stage") else None,
                       float(raw.get("maxProbeRate", MAX_PROBE_RATE)))
        except (TypeError, ValueError) as exc:
            raise CanaryError(f"not a canary plan: {exc}") from None


def parse_steps(text: str) -> tuple[int, ...]:
    """"10,50,100" → (10, 50, 100); CanaryError for anything else."""
    try:
        return tuple(int(part.strip().rstrip("%")) for part in text.split(",") if part.strip())
    except ValueError:
        raise CanaryError(f"steps are comma-separated whole percentages (10,50,100), not {text!r}") from None


async def plan_canary(client: Any, deployment_id: str, target: str, *, steps: tuple[int, ...] = (10, 50, 100),
                      strategy: str = "HASH_BASED", soak_s: float = 60.0, guards: Guards | None = None,
                      probe_rate: float = 10.0) -> CanaryPlan:
    """Read the saved mapping (what a revert restores), check the version exists in the service and differs
    from what is saved, read the stage. CanaryError when the canary cannot run; DeployerError when the
    deployer cannot be read."""
    plan = CanaryPlan(deployment_id, target, None, tuple(steps), strategy, soak_s, guards or Guards(), probe_rate)
    plan.validate()
    settings = await client.get_deployment_settings(deployment_id)
    previous = settings.get("generationsMapping") if isinstance(settings, dict) else None
    if not isinstance(previous, dict) or not mapping_versions(previous):
        raise CanaryError(f"deployment {deployment_id} has no version saved: a canary needs one to compare "
                          "the new version with")
    plan.previous = copy.deepcopy(previous)
    light = await client.get_deployment(deployment_id)
    basic = deployment_basic(light)
    service_id = str(basic.get("publishedServiceId") or settings.get("publishedServiceId") or "")
    if service_id:
        service = await client.get_service(service_id)
        packages = service.get("packages") if isinstance(service, dict) else None
        known = [str(p.get("id")) for p in packages or [] if isinstance(p, dict) and p.get("id")]
        if target not in known:
            raise CanaryError(f"service {service_id} has no version {target}"
                              + (f" (versions: {', '.join(known)})" if known else ""))
    infra = light.get("infraBasicInfo") if isinstance(light, dict) else None
    plan.stage = (str(infra.get("stage") or "") or None) if isinstance(infra, dict) else None
    plan.validate()
    if not plan.previous_versions:
        raise CanaryError(f"deployment {deployment_id} has only {target} saved: nothing to compare it with")
    return plan


# ---- what a run reports --------------------------------------------------------------------------------------


@dataclass
class VersionStats:
    """One version's probes during the current step. Latencies are of successful answers only (an error
    that comes back fast must not make a version look quick)."""

    version: str
    requests: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # this step's probes (at most MAX_LATENCIES)
    mismatches: int = 0  # answers differing from the old version's (match_answers), counted either way
    compared: int = 0  # answers compared with the old version's
    source: str = ""  # "probes" | "probes + node metrics" | "deployer test queries"
    live_requests: int | None = None  # traffic the node's metrics counted beyond our probes, when readable
    live_errors: int | None = None

    def add(self, ok: bool, latency_ms: float | None) -> None:
        self.requests += 1
        if not ok:
            self.errors += 1
        elif latency_ms is not None:
            self.latencies_ms.append(float(latency_ms))
            if len(self.latencies_ms) > MAX_LATENCIES:
                del self.latencies_ms[: len(self.latencies_ms) - MAX_LATENCIES]

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def p50(self) -> float | None:
        return percentile(self.latencies_ms, 0.5)

    @property
    def p95(self) -> float | None:
        return percentile(self.latencies_ms, 0.95)

    def copy(self) -> VersionStats:
        return replace(self, latencies_ms=list(self.latencies_ms))

    def to_json(self) -> dict[str, Any]:
        rate = self.error_rate
        return {"version": self.version, "requests": self.requests, "errors": self.errors,
                "errorRate": rate, "p50": self.p50, "p95": self.p95, "mismatches": self.mismatches,
                "compared": self.compared, "source": self.source, "liveRequests": self.live_requests,
                "liveErrors": self.live_errors}


@dataclass
class GuardReading:
    name: str  # GUARD_ERROR_RATE | GUARD_LATENCY | GUARD_ANSWERS
    threshold: str  # "≤ 1 %", "≤ 1.5×", "equal"
    value: str | None  # None = not measured yet ("not reported")
    ok: bool | None  # None = not enough data yet

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "threshold": self.threshold, "value": self.value, "ok": self.ok}


@dataclass
class StepState:
    percent: int
    state: str = "pending"  # pending | saving | updating | soaking | passed | failed | skipped
    started: float | None = None  # time.time()
    ended: float | None = None
    note: str = ""  # e.g. "soak extended once: too few requests"

    def to_json(self) -> dict[str, Any]:
        return {"percent": self.percent, "state": self.state, "started": self.started, "ended": self.ended,
                "note": self.note}


@dataclass
class CanaryResult:
    deployment_id: str
    outcome: str  # PROMOTED | REVERTED | ABORTED | FAILED (an update failed / the revert failed)
    ok: bool  # PROMOTED only
    previous: dict | None
    final_mapping: dict | None  # what is saved and deployed at the end
    failed_guard: str | None = None
    failed_step: int | None = None  # percent
    figures: dict = field(default_factory=dict)  # guard values at the breach / at the end, per version stats
    error: str | None = None
    duration_ms: int = 0
    message: str = ""  # one sentence saying how it ended

    def to_json(self) -> dict[str, Any]:
        return {"deployment": self.deployment_id, "outcome": self.outcome, "ok": self.ok,
                "previous": self.previous, "previousText": mapping_summary(self.previous),
                "final": self.final_mapping, "finalText": mapping_summary(self.final_mapping),
                "failedGuard": self.failed_guard, "failedStep": self.failed_step, "figures": self.figures,
                "error": self.error, "message": self.message, "durationMs": self.duration_ms}


@dataclass
class CanaryProgress:
    """A snapshot handed to on_progress at every change (a copy: safe to keep)."""

    plan: CanaryPlan
    phase: str  # planning | step | soak | paused | reverting | promoting | done
    step_index: int
    steps: list[StepState]
    stats: dict[str, VersionStats]  # by version, for the current step
    guards: list[GuardReading]
    probe_via: str  # e.g. "forced generation on the API nodes" or "deployer test queries"
    message: str  # one sentence for a progress line / the status line
    log_lines: list[str]  # NEW update log lines since the previous progress
    soak_left_s: float | None = None
    result: CanaryResult | None = None  # set when phase == "done"

    @property
    def percent(self) -> int | None:
        """The current step's percentage to the new version."""
        return self.steps[self.step_index].percent if 0 <= self.step_index < len(self.steps) else None


ProgressSink = Callable[[CanaryProgress], Any]


class CanaryControl:
    """Pause, resume, promote now, abort: asked by the UI or the CLI, obeyed by the running canary at its
    next wait. Safe to call from the event loop the canary runs on or from another thread."""

    def __init__(self) -> None:
        self._paused = False
        self._promote = False
        self._abort = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._lock = threading.Lock()

    def bind(self) -> asyncio.Event:
        """Called by the engine on its loop: the event set at every request."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            if self._event is None:
                self._event = asyncio.Event()
            if self._paused or self._promote or self._abort:
                self._event.set()
            return self._event

    def _changed(self) -> None:
        with self._lock:
            loop, event = self._loop, self._event
        if loop is None or event is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    def pause(self) -> None:
        self._paused = True
        self._changed()

    def resume(self) -> None:
        self._paused = False
        self._changed()

    def promote_now(self) -> None:
        self._promote = True
        self._paused = False
        self._changed()

    def abort(self) -> None:
        self._abort = True
        self._paused = False
        self._changed()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def promote_requested(self) -> bool:
        return self._promote

    @property
    def abort_requested(self) -> bool:
        return self._abort


# ---- running it ----------------------------------------------------------------------------------------------


async def run_canary(client: Any, plan: CanaryPlan, on_progress: ProgressSink | None = None, *,
                     control: CanaryControl | None = None, store: CanaryStore | None = None,
                     latency_log: LatencyLog | None = None, interval: float = 0.25,
                     start_step: int = 0) -> CanaryResult:
    """Run the plan step by step (see the module's docstring). Raises DeployerError only when the deployer
    cannot be read or written at all; how the canary ended is in the result."""
    raise NotImplementedError("the canary engine is being written")


async def revert_record(client: Any, record: CanaryRecord, on_progress: ProgressSink | None = None) -> CanaryResult:
    """Restore the mapping from before a canary a console left half-way, run that update, remove the record."""
    raise NotImplementedError("the canary engine is being written")


async def resume_record(client: Any, record: CanaryRecord, on_progress: ProgressSink | None = None, *,
                        control: CanaryControl | None = None, store: CanaryStore | None = None,
                        latency_log: LatencyLog | None = None) -> CanaryResult:
    """Run a canary a console left half-way from the step it was at."""
    raise NotImplementedError("the canary engine is being written")
