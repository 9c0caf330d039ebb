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
import contextlib
import copy
import inspect
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from deployer_tui.core import canary_options, job_follower
from deployer_tui.core.canary_probe import (
    VIA_DEPLOYER,
    VIA_NODES,
    DeployerProber,
    DirectProber,
    NodeMetrics,
    ProbeAnswer,
    ProbeQuery,
    ProbeRefused,
    ProbeTarget,
    discover,
    version_key,
)
from deployer_tui.core.canary_state import CanaryRecord, CanaryStore
from deployer_tui.core.errors import ConnectionLost, DeployerError, RequestTimeout
from deployer_tui.core.journal import Journal, JournalRecord, now_ms
from deployer_tui.core.latency_log import LatencyLog, LatencySample, percentile
from deployer_tui.core.production import stage_is_production
from deployer_tui.core.readers import deployment_basic, mapping_summary
from deployer_tui.core.rollback import KIND_REASON, mapping_key, single
from deployer_tui.core.skew import mapping_versions

MAX_PROBE_RATE = 50.0  # probe queries per second, all versions together: a canary never floods a node
MAX_LATENCIES = 2000  # latencies kept per version and step, and in the previous versions' pooled baseline
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
    # The latency guard breaches only when the new p95 is also this much above the old one: on an endpoint
    # answering in a millisecond or two, the ratio of two p95s is jitter.
    min_latency_delta_ms: float = 5.0

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
        delta = _number(self.min_latency_delta_ms, "the minimum latency difference")
        if not 0 <= delta < float("inf"):
            raise CanaryError(f"the minimum p95 latency difference is a number of milliseconds ≥ 0 (new p95 − "
                              f"old p95), not {delta:g}")

    @property
    def latency_threshold(self) -> str:
        """What the latency guard allows: a breach is above both bounds."""
        return f"≤ {self.max_latency_ratio:g}× or ≤ +{self.min_latency_delta_ms:g} ms"

    def to_json(self) -> dict[str, Any]:
        return {"maxErrorRate": self.max_error_rate, "maxLatencyRatio": self.max_latency_ratio,
                "matchAnswers": self.match_answers, "minRequests": self.min_requests,
                "minLatencyDeltaMs": self.min_latency_delta_ms}

    @classmethod
    def from_json(cls, raw: Any) -> Guards:
        raw = raw if isinstance(raw, dict) else {}
        default = cls()
        return cls(float(raw.get("maxErrorRate", default.max_error_rate)),
                   float(raw.get("maxLatencyRatio", default.max_latency_ratio)),
                   bool(raw.get("matchAnswers", default.match_answers)),
                   int(raw.get("minRequests", default.min_requests)),
                   float(raw.get("minLatencyDeltaMs", default.min_latency_delta_ms)))


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
        return stage_is_production(self.stage)

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

    @property
    def version_probe_rate(self) -> float:
        """Probes per second each version gets, in every step: `probe_rate` shared by the most versions a step
        maps. At 100 % the new version alone is probed at the rate it had before, so that its latency is
        measured under the load the previous versions' was (one version taking the whole rate queues on its
        worker, and would look slower than it is)."""
        most = max((len(mapping_versions(self.mapping_at(p))) for p in self.steps), default=1)
        return self.probe_rate / max(1, most)

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
    """"10,50,100" → (10, 50, 100) (core/canary_options.py); CanaryError for anything else."""
    try:
        return canary_options.parse_steps(text)
    except ValueError as exc:
        raise CanaryError(str(exc)) from None


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
    if settings.get("enabled") is False:
        raise CanaryError(f"deployment {deployment_id} is disabled: it serves no query to compare versions on")
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
    source: str = ""  # "probes" | "probes + node metrics" | "deployer test queries"
    compared: int = 0  # answers compared with the old version's
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
    unattributed: VersionStats | None = None  # answers no version was named for (judged too), once there are any
    probe_note: str = ""  # why the probes go the way they go when not to the nodes (or why they stopped)

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

PROBE_MODES = ("auto", "deployer")
LIVE_EVERY_S = 1.0  # how often the nodes' metrics are read during a soak
GUARD_REQUESTS = "minimum requests"  # a failed_guard: the new version got no answer the guards could judge
MAX_HELD = 1000  # forced probes' errors waiting to be attributed, at most
MAX_PENDING_ANSWERS = 50  # new version's answers waiting for the old one's, per query


def _pct(fraction: float) -> str:
    value = fraction * 100
    return f"{value:.0f} %" if abs(value - round(value)) < 0.05 else f"{value:.1f} %"


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def _delta_ms(value: float) -> str:
    sign = "+" if value >= 0 else "−"
    return sign + _ms(abs(value))


def _names(versions: Sequence[str]) -> str:
    names = list(versions)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class LatencyBaseline:
    """The previous versions' latencies pooled over the steps where they were probed (the newest
    MAX_LATENCIES): a steadier baseline than one step's, and the only one at the 100 % step, where they are no
    longer served."""

    def __init__(self, limit: int = MAX_LATENCIES) -> None:
        self.latencies: deque[float] = deque(maxlen=limit)
        self.versions: list[str] = []
        self.steps: list[int] = []  # the percentages of the steps that gave latencies

    def add(self, percent: int, latencies: dict[str, Sequence[float]]) -> None:
        """One step's latencies of the previous versions, by version."""
        given = {v: lat for v, lat in latencies.items() if lat}
        if not given:
            return
        for version, values in given.items():
            self.latencies.extend(values)
            if version not in self.versions:
                self.versions.append(version)
        if not self.steps or self.steps[-1] != percent:
            self.steps.append(percent)

    def __len__(self) -> int:
        return len(self.latencies)


def latency_reading(new: Sequence[float], old: Sequence[float], guards: Guards, *, judging: bool = True,
                    final: bool = False, against: str = "") -> GuardReading:
    """The p95 latency guard on these latencies (successful answers, ms). It judges at the end of the soak
    (`final`), or before once `judging` and min_requests latencies are in on each side; it breaches only when
    the new p95 is above `max_latency_ratio` times the old one AND more than `min_latency_delta_ms` above it.
    `against`, appended to the value, says where the old latencies come from."""
    new_p95, old_p95 = percentile(new, 0.95), percentile(old, 0.95)
    value, ok = None, None
    if new_p95 is not None and old_p95 is not None:
        ratio = new_p95 / old_p95 if old_p95 > 0 else float("inf")
        delta = new_p95 - old_p95
        value = f"{ratio:.2f}× ({_ms(new_p95)} vs {_ms(old_p95)}, {_delta_ms(delta)})"
        if against:
            value += f" {against}"
        enough = len(new) >= guards.min_requests and len(old) >= guards.min_requests
        if final or (judging and enough):
            ok = not (ratio > guards.max_latency_ratio and delta > guards.min_latency_delta_ms)
    return GuardReading(GUARD_LATENCY, guards.latency_threshold, value, ok)


@dataclass
class _Verdict:
    """How a step's soak ended: passed, breach (with the guard), abort, promote, update_failed."""

    kind: str
    guard: str | None = None
    message: str = ""


class _Run:
    """One run of a canary: its state, the progress it reports, the updates it runs."""

    def __init__(self, client: Any, plan: CanaryPlan, on_progress: ProgressSink | None,
                 control: CanaryControl | None, store: CanaryStore | None, latency_log: LatencyLog | None,
                 journal: Journal | None, interval: float, started_ms: int | None, probe: str = "auto") -> None:
        if probe not in PROBE_MODES:
            raise CanaryError(f"probes go through {' or '.join(PROBE_MODES)}, not {probe!r}")
        self.probe_mode = probe
        self.client = client
        self.plan = plan
        self.sink = on_progress
        self.control = control or CanaryControl()
        self.store = store if store is not None else CanaryStore()
        self.latency_log = latency_log if latency_log is not None else LatencyLog(client.url)
        self.journal = journal if journal is not None else Journal(client.url)
        self.interval = max(0.01, interval)
        self.started_ms = started_ms if started_ms is not None else now_ms()
        self.began = time.monotonic()
        self.steps = [StepState(p) for p in plan.steps]
        self.step_index = 0
        self.phase = "planning"
        self.stats: dict[str, VersionStats] = {}
        self.unattributed = VersionStats(NOT_REPORTED)
        self.readings: list[GuardReading] = []
        self.probe_via = ""
        self.probe_note = ""
        self.log: list[str] = []
        self.soak_left: float | None = None
        self.baseline: dict[str, str] = {}  # query key -> the old version's answer (normalised)
        self.pending_new: dict[str, list[str]] = {}  # query key -> new answers waiting for the old one's
        self.mismatch_example: dict[str, str] | None = None
        self.old_latencies = LatencyBaseline()  # the previous versions' latencies, over the steps they served
        self.samples: list[LatencySample] = []
        self.held: list[ProbeAnswer] = []
        self.target: ProbeTarget | None = None
        self.prober: DirectProber | DeployerProber | None = None
        self.probe_failure: str | None = None
        self.event: asyncio.Event | None = None
        self.metrics: NodeMetrics | None = None
        # This run saved a mapping (or tried to); a run that continues an earlier one (`started_ms` given)
        # may find a split in place already.
        self.changed = started_ms is not None
        self.refused = 0  # probes a node refused for the deployer's key
        self.live_start: dict[str, tuple[int, int]] | None = None
        self.sent: dict[str, list[int]] = {}  # version -> [probes, errors] the nodes answered this step
        self.readings = self._readings((), final=False)[0]

    # ---- reporting

    async def emit(self, message: str, result: CanaryResult | None = None) -> None:
        if self.sink is None:
            self.log.clear()
            return
        progress = CanaryProgress(
            replace(self.plan), self.phase, self.step_index, [replace(s) for s in self.steps],
            {v: s.copy() for v, s in self.stats.items()}, [replace(r) for r in self.readings], self.probe_via,
            message, list(self.log), self.soak_left, result,
            self.unattributed.copy() if self.unattributed.requests else None, self.probe_note)
        self.log.clear()
        answer = self.sink(progress)
        if inspect.isawaitable(answer):
            await answer

    def write_record(self, index: int) -> None:
        self.store.write(CanaryRecord(self.client.url, self.plan.deployment_id, self.plan.to_json(),
                                      copy.deepcopy(self.plan.previous), self.plan.target, index, self.started_ms,
                                      now_ms()))

    def remove_record(self) -> None:
        self.store.remove(self.client.url, self.plan.deployment_id)

    def flush_samples(self) -> None:
        if self.samples:
            samples, self.samples = self.samples, []
            # Trends are a nicety: a full disk must not stop a canary half-way.
            with contextlib.suppress(OSError):
                self.latency_log.append(samples)

    def figures(self) -> dict[str, Any]:
        step = self.steps[self.step_index] if 0 <= self.step_index < len(self.steps) else None
        out: dict[str, Any] = {"step": step.percent if step else None,
                               "guards": [r.to_json() for r in self.readings],
                               "versions": {v: s.to_json() for v, s in self.stats.items()},
                               "probeVia": self.probe_via}
        if self.unattributed.requests:
            out["notReported"] = self.unattributed.to_json()
        if self.probe_note:
            out["probeNote"] = self.probe_note
        if self.target is not None and self.target.notes:
            out["probeNotes"] = list(self.target.notes)  # how the probes' targets were found
        if self.mismatch_example is not None:
            out["mismatchExample"] = self.mismatch_example
        return out

    def result(self, outcome: str, final: dict | None, message: str, *, guard: str | None = None,
               step: int | None = None, error: str | None = None) -> CanaryResult:
        return CanaryResult(self.plan.deployment_id, outcome, outcome == "PROMOTED", copy.deepcopy(self.plan.previous),
                            copy.deepcopy(final), guard, step, self.figures(), error,
                            int((time.monotonic() - self.began) * 1000), message)

    async def finish(self, result: CanaryResult) -> CanaryResult:
        self.phase = "done"
        self.soak_left = None
        await self.emit(result.message, result)
        return result

    # ---- updates

    async def apply(self, mapping: dict, kind: str, what: str) -> job_follower.Settled:
        """Save `mapping` (read-modify-write of the whole settings document), run the update, follow it
        and settle its outcome on evidence; the journal gets the update as rollback.py writes it."""
        dep = self.plan.deployment_id
        settings = await self.client.get_deployment_settings(dep)
        settings["generationsMapping"] = copy.deepcopy(mapping)
        try:
            await self.client.save_deployment_settings(dep, settings)
        except (ConnectionLost, RequestTimeout):
            self.changed = True  # no answer does not mean nothing was saved
            raise
        self.changed = True  # (a refusal saved nothing)
        await self.emit(f"saved {mapping_summary(mapping)}; updating ({what})")
        record = JournalRecord(dep, now_ms(), copy.deepcopy(mapping), kind)
        reason = KIND_REASON.get(kind)
        started = await job_follower.start_or_follow(self.client, dep, reason=reason)
        if started.response is None and started.running is not None:
            await self.emit(f"another update of {dep} is running: waiting for it to end")
            await self._follow_other(started.running)
            started = await job_follower.start_or_follow(self.client, dep, reason=reason)
        if started.response is None:
            record.outcome, record.ended = "REFUSED", now_ms()
            self.journal.write(record)
            error = started.error or DeployerError(f"another update of {dep} is still running")
            return job_follower.Settled("REFUSED", "error", error=error)
        job_id = str(started.response.get("jobId") or "")
        record.job_id = job_id or None
        if isinstance(started.response.get("startTime"), int):
            record.server_start = started.response["startTime"]
        self.journal.write(record)
        last: job_follower.FutureEvent | None = None
        async for event in job_follower.follow_future(self.client, job_id, interval=self.interval):
            last = event
            if event.new_lines:
                self.log.extend(event.new_lines)
                await self.emit(f"updating ({what})")
        assert last is not None
        settled = await job_follower.settle(self.client, dep, last)
        if settled.record is not None and isinstance(settled.record.get("startTimestamp"), int):
            record.server_start = settled.record["startTimestamp"]
        record.outcome, record.ended = settled.state, now_ms()
        self.journal.write(record)
        return settled

    async def _follow_other(self, running: job_follower.RunningUpdate) -> None:
        if running.job_id:
            events = job_follower.follow_future(self.client, running.job_id, interval=self.interval, claim=False)
        else:
            events = job_follower.follow_update_record(self.client, running.deployment_id,
                                                       running.start_timestamp, interval=self.interval)
        async for event in events:
            if event.new_lines:
                self.log.extend(event.new_lines)
                await self.emit("waiting for the other update to end")

    async def revert(self, outcome: str, message: str, *, guard: str | None = None, step: int | None = None,
                     error: str | None = None) -> CanaryResult:
        """Restore the mapping from before the canary and deploy it. The record stays when that fails, so
        that the next start offers the revert again."""
        self.phase = "reverting"
        self.soak_left = None
        previous = self.plan.previous
        await self.emit(f"{message}; reverting to {self.plan.previous_text}")
        if previous is None:
            return await self.finish(self.result("FAILED", None, f"{message}; nothing to revert to (the mapping "
                                                 "before the canary is not known)", guard=guard, step=step,
                                                 error=error or "the mapping before the canary is not known"))
        settled = await self.apply(previous, "rollback", f"back to {self.plan.previous_text}")
        if settled.state != "SUCCESS":
            why = str(settled.error) if settled.error is not None else f"the update ended {settled.text}"
            return await self.finish(self.result(
                "FAILED", previous, f"{message}; the revert to {self.plan.previous_text} failed: {why}",
                guard=guard, step=step, error=f"the revert failed: {why}" + (f" (after: {error})" if error else "")))
        self.remove_record()
        return await self.finish(self.result(outcome, previous, f"{message}; reverted to {self.plan.previous_text}",
                                             guard=guard, step=step, error=error))

    async def promote(self, message: str) -> CanaryResult:
        """Save and deploy the new version alone (the final step, or promote now)."""
        last = len(self.steps) - 1
        for step in self.steps[self.step_index:last]:
            if step.state not in ("passed", "failed"):
                step.state, step.note = "skipped", step.note or "promoted before this step"
        self.step_index = last
        final = self.steps[last]
        self.phase = "promoting"
        self.write_record(last)
        final.started, final.state = time.time(), "updating"
        target = single(self.plan.target)
        try:
            settled = await self.apply(target, "update", f"{self.plan.target} alone")
        except DeployerError as err:
            final.state, final.ended = "failed", time.time()
            return await self.revert("FAILED", f"promoting {self.plan.target} failed: {err}", step=100,
                                     error=str(err))
        if settled.state != "SUCCESS":
            final.state, final.ended = "failed", time.time()
            why = str(settled.error) if settled.error is not None else f"the update ended {settled.text}"
            return await self.revert("FAILED", f"promoting {self.plan.target} failed: {why}", step=100, error=why)
        final.state, final.ended, final.note = "passed", time.time(), final.note or "promoted now: not soaked"
        self.remove_record()
        return await self.finish(self.result("PROMOTED", target, f"{message}: {self.plan.target} alone"))

    # ---- the run

    async def run(self, start_step: int) -> CanaryResult:
        plan = self.plan
        self.event = self.control.bind()
        for step in self.steps[:start_step]:
            step.state, step.note = "passed", "passed before the canary was resumed"
        if plan.previous is None:
            settings = await self.client.get_deployment_settings(plan.deployment_id)
            plan.previous = copy.deepcopy(settings.get("generationsMapping"))
        await self.emit(f"canary of {plan.target} on {plan.deployment_id}: reading what to probe")
        self.target = await discover(self.client, plan.deployment_id, (*plan.previous_versions, plan.target))
        if not self.target.queries:
            raise CanaryError(f"deployment {plan.deployment_id} has no stored test queries to probe its versions "
                              "with: add test queries to the version (testqueries-<endpoint>.json)")
        if self.probe_mode == "auto":
            metrics = NodeMetrics(self.target)
            if metrics.available:
                self.metrics = metrics
            else:
                await metrics.aclose()
        try:
            for index in range(start_step, len(self.steps)):
                self.step_index = index
                if self.control.abort_requested:
                    return await self.abort()
                if self.control.promote_requested:
                    return await self.promote("promoted now")
                verdict = await self.run_step(index)
                step = self.steps[index]
                step.ended = time.time()
                if verdict.kind == "passed":
                    step.state = "passed"
                    continue
                if verdict.kind == "promote" and step.percent >= 100:
                    step.state, step.note = "passed", step.note or "promoted now: soak cut short"
                    self.remove_record()  # the new version alone is saved and deployed already
                    return await self.finish(self.result("PROMOTED", single(plan.target),
                                                         f"promoted now: {plan.target} alone"))
                if verdict.kind == "promote":
                    step.state, step.note = "skipped", step.note or "promoted now"
                    return await self.promote("promoted now")
                if verdict.kind == "abort":
                    step.state = "skipped"
                    return await self.abort()
                step.state = "failed"
                for later in self.steps[index + 1:]:
                    later.state = "skipped"
                if verdict.kind == "breach":
                    return await self.revert("REVERTED", verdict.message, guard=verdict.guard, step=step.percent)
                if not self.changed:  # the first split was refused: the deployment is as it was
                    self.remove_record()
                    return await self.finish(self.result(
                        "FAILED", copy.deepcopy(plan.previous), f"{verdict.message}; nothing was changed",
                        step=step.percent, error=verdict.message))
                return await self.revert("FAILED", verdict.message, step=step.percent, error=verdict.message)
            self.remove_record()
            return await self.finish(self.result("PROMOTED", single(plan.target),
                                                 f"every step passed: {plan.target} alone"))
        finally:
            self.flush_samples()
            if self.prober is not None:
                await self.prober.aclose()
            if self.metrics is not None:
                await self.metrics.aclose()

    async def abort(self) -> CanaryResult:
        for step in self.steps[self.step_index:]:
            if step.state not in ("passed", "failed"):
                step.state = "skipped"
        percent = self.steps[self.step_index].percent
        if not self.changed:  # aborted before this run saved anything: nothing to put back
            self.remove_record()
            return await self.finish(self.result("ABORTED", copy.deepcopy(self.plan.previous),
                                                 "aborted before anything changed", step=percent))
        return await self.revert("ABORTED", f"aborted at {percent} %", step=percent)

    async def run_step(self, index: int) -> _Verdict:
        plan, step = self.plan, self.steps[index]
        label = f"step {index + 1}/{len(self.steps)} ({step.percent} %)"
        step.started, step.state = time.time(), "saving"
        self.phase = "step"
        self.write_record(index)  # before anything of this step changes
        mapping = plan.mapping_at(step.percent)
        await self.emit(f"{label}: saving {mapping_summary(mapping)}")
        step.state = "updating"
        try:
            settled = await self.apply(mapping, "update", f"{step.percent} % to {plan.target}")
        except (ConnectionLost, RequestTimeout):
            raise
        except DeployerError as err:
            return _Verdict("update_failed", message=f"{label}: the split could not be deployed: {err}")
        if settled.state != "SUCCESS":
            why = str(settled.error) if settled.error is not None else f"ended {settled.text}"
            return _Verdict("update_failed", message=f"{label}: the update did not succeed ({why})")
        step.state = "soaking"
        return await self.soak(index, mapping_versions(mapping), label)

    # ---- the soak

    def _empty_stats(self, versions: tuple[str, ...]) -> None:
        self.stats = {v: VersionStats(v, source=self._source()) for v in versions}
        self.unattributed = VersionStats(NOT_REPORTED, source=self._source())
        self.held = []
        self.sent = {v: [0, 0] for v in versions}

    async def soak(self, index: int, versions: tuple[str, ...], label: str) -> _Verdict:
        plan, step = self.plan, self.steps[index]
        self.phase = "soak"
        await self._prober()
        self._empty_stats(versions)
        self.readings = self._readings(versions, final=False)[0]
        if plan.soak_s <= 0:
            step.note = "no soak time: not judged"
            return _Verdict("passed")
        assert self.event is not None
        loop = asyncio.get_running_loop()
        running = asyncio.Event()
        running.set()
        self.live_start = await self.metrics.read() if self.metrics is not None else None
        live_task: asyncio.Task | None = None
        live_at = loop.time()
        probes = asyncio.create_task(self.probe_loop(versions, running))
        total, elapsed, extended, confirming = plan.soak_s, 0.0, False, False
        last = loop.time()
        was_paused = False
        try:
            while True:
                now = loop.time()
                if self.live_start is not None and now - live_at >= LIVE_EVERY_S and \
                        (live_task is None or live_task.done()):
                    live_at = now
                    live_task = asyncio.create_task(self._read_live())
                paused = self.control.paused
                if not was_paused:
                    elapsed += now - last
                last = now
                if paused != was_paused:
                    was_paused = paused
                    (running.clear if paused else running.set)()
                    self.phase = "paused" if paused else "soak"
                self.soak_left = max(0.0, total - elapsed)
                self.flush_samples()
                self._attribute_held()
                if self.control.abort_requested:
                    return _Verdict("abort")
                if self.control.promote_requested:
                    return _Verdict("promote")
                final = elapsed >= total
                if final and not extended and not self._enough(versions):
                    extended, total = True, total + plan.soak_s
                    self._note(step, "soak extended once: too few requests")
                    final = False
                self.readings, breach = self._readings(versions, final=final)
                if breach is not None and breach.guard == GUARD_LATENCY and not confirming:
                    # A p95 over one soak's answers is a few of its slowest ones: one stall of the machine
                    # or the network can make it. A slow version is slow again on a fresh sample.
                    confirming, total = True, max(total, elapsed + plan.soak_s)
                    reading = next(r for r in self.readings if r.name == GUARD_LATENCY)
                    self._note(step, f"p95 latency {reading.value} above the bound: soaked once more on fresh "
                                     "latencies to confirm")
                    self._fresh_latencies(step.percent)
                    self.readings, breach = self._readings(versions, final=False)
                if breach is not None:
                    if confirming and breach.guard == GUARD_LATENCY:
                        breach.message += " (confirmed on a second soak)"
                    return breach
                if final:
                    return self._pass_or_fail(versions, label)
                if paused:
                    message = f"paused at {label}: the soak clock and the probes are stopped"
                else:
                    message = f"{label}: soaking, {self.soak_left:.0f} s left" + self._summary()
                await self.emit(message)
                wait = self.interval if paused else min(self.interval, max(total - elapsed, 0.001))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.event.wait(), wait)
                self.event.clear()
        finally:
            probes.cancel()
            await asyncio.gather(probes, return_exceptions=True)
            if live_task is not None:
                await asyncio.gather(live_task, return_exceptions=True)
            if self.live_start is not None:
                with contextlib.suppress(Exception):
                    await self._read_live()  # the step's last figures: every probe is answered now
            self._attribute_held()
            self.flush_samples()
            self.old_latencies.add(step.percent, {v: s.latencies_ms for v, s in self.stats.items()
                                                  if v != plan.target})

    @staticmethod
    def _note(step: StepState, note: str) -> None:
        step.note = f"{step.note}; {note}" if step.note else note

    def _fresh_latencies(self, percent: int) -> None:
        """Start this step's latencies again (the previous versions' so far go to the pooled baseline);
        requests and errors are kept."""
        self.old_latencies.add(percent, {v: s.latencies_ms for v, s in self.stats.items() if v != self.plan.target})
        for stats in self.stats.values():
            stats.latencies_ms = []

    async def _read_live(self) -> None:
        """Live traffic per version since the soak began: what the nodes counted, minus our probes."""
        if self.metrics is None or self.live_start is None or not isinstance(self.prober, DirectProber):
            return
        now = await self.metrics.read()
        if now is None:
            return
        for version, stats in self.stats.items():
            start = self.live_start.get(version, (0, 0))
            counted = now.get(version, start)
            sent = self.sent.get(version, [0, 0])
            stats.live_requests = max(0, counted[0] - start[0] - sent[0])
            stats.live_errors = max(0, counted[1] - start[1] - sent[1])
            stats.source = "probes + node metrics"

    def _summary(self) -> str:
        new = self.stats.get(self.plan.target)
        if new is None or not new.requests:
            return ""
        rate = new.error_rate or 0.0
        return f" — {self.plan.target}: {new.requests} probes, {_pct(rate)} errors"

    def _enough(self, versions: tuple[str, ...]) -> bool:
        need = self.plan.guards.min_requests
        return all(self.stats.get(v, VersionStats(v)).requests >= need for v in versions)

    def _old_latencies(self) -> tuple[list[float], str]:
        """The previous versions' latencies to judge the new one against, and where they come from: this
        step's, after those of the earlier steps that probed them (each version gets the same probe rate in
        every step, so they were measured under the same load). At 100 % only the earlier steps' remain."""
        mine = {v: s.latencies_ms for v, s in self.stats.items() if v != self.plan.target and s.latencies_ms}
        now = [x for values in mine.values() for x in values]
        earlier = self.old_latencies
        if not len(earlier):
            return now, ""
        pooled = [*earlier.latencies, *now][-MAX_LATENCIES:]
        names = _names([*earlier.versions, *(v for v in mine if v not in earlier.versions)])
        return pooled, f"against {names}'s p95 from {'this and earlier steps' if now else 'earlier steps'}"

    def _readings(self, versions: Any, *, final: bool) -> tuple[list[GuardReading], _Verdict | None]:
        """The guards' readings now, and a breach when one is judged failed. Before the end of the soak a
        guard judges only once min_requests are in for every probed version."""
        guards, target = self.plan.guards, self.plan.target
        new = self.stats.get(target) or VersionStats(target)
        judging = final or self._enough(tuple(versions))
        readings: list[GuardReading] = []
        breach: _Verdict | None = None

        # Error rate of the new version; errors no answer attributed are shown, and judged on their own.
        threshold = f"≤ {_pct(guards.max_error_rate)}"
        value, ok = None, None
        if new.requests:
            rate = new.error_rate or 0.0
            value = f"{_pct(rate)} ({new.errors}/{new.requests})"
            ok = rate <= guards.max_error_rate if judging else None
        loose = self.unattributed
        if loose.errors:
            value = (value + "; " if value else "") + f"{loose.errors} error(s) not attributed to a version"
            loose_rate = loose.errors / max(1, loose.requests + sum(s.requests for s in self.stats.values()))
            if judging and loose_rate > guards.max_error_rate:
                ok = False
        readings.append(GuardReading(GUARD_ERROR_RATE, threshold, value, ok))
        if ok is False:
            breach = _Verdict("breach", GUARD_ERROR_RATE, f"error rate of {target} {value} above {_pct(guards.max_error_rate)}")

        # p95 latency of the new version against the previous versions'.
        old, against = self._old_latencies()
        reading = latency_reading(new.latencies_ms, old, guards, judging=judging, final=final, against=against)
        readings.append(reading)
        if reading.ok is False and breach is None:
            breach = _Verdict("breach", GUARD_LATENCY, f"p95 latency of {target} {reading.value}: above "
                                                       f"{guards.max_latency_ratio:g}× and "
                                                       f"+{guards.min_latency_delta_ms:g} ms")

        # Answers against the old version's on the same stored query: counted either way.
        value = f"{new.mismatches} of {new.compared} differ" if new.compared else None
        if guards.match_answers:
            ok = (new.mismatches == 0) if new.compared else None
            readings.append(GuardReading(GUARD_ANSWERS, "equal", value, ok))
            if ok is False and breach is None:
                breach = _Verdict("breach", GUARD_ANSWERS, f"answers of {target} differ from the previous "
                                                           f"version's: {value}")
        else:
            readings.append(GuardReading(GUARD_ANSWERS, "off (shown only)", value, None))
        if breach is not None:
            breach.message = f"breach at {self.steps[self.step_index].percent} %: {breach.message}"
        return readings, breach

    def _pass_or_fail(self, versions: tuple[str, ...], label: str) -> _Verdict:
        """The end of the soak with no breach: pass, saying what was judged on less than asked."""
        target, need = self.plan.target, self.plan.guards.min_requests
        new = self.stats.get(target) or VersionStats(target)
        step = self.steps[self.step_index]
        if not new.requests:
            why = self.probe_failure or f"no probe answer was attributed to {target}"
            if self.refused:
                why += f"; {self.probe_note}"
            return _Verdict("breach", GUARD_REQUESTS, f"breach at {step.percent} %: the guards could not judge "
                                                      f"{target} ({why})")
        short = [f"{v} {self.stats[v].requests}" for v in versions if v in self.stats
                 and self.stats[v].requests < need]
        if short:
            note = f"judged on fewer than {need} requests ({', '.join(short)})"
            step.note = f"{step.note}; {note}" if step.note else note
        return _Verdict("passed")

    # ---- probing

    async def _prober(self) -> DirectProber | DeployerProber | None:
        if self.prober is None:
            assert self.target is not None
            if self.target.node_urls and self.probe_mode == "auto":
                service = self.target.service_id
                self.prober = DirectProber(self.target, lambda v: version_key(self.client, service, v))
                self.probe_via = VIA_NODES
            else:
                self.prober = DeployerProber(self.client, self.plan.deployment_id)
                self.probe_via = VIA_DEPLOYER
                self.probe_note = ("asked to probe through the deployer" if self.probe_mode == "deployer"
                                   else "the deployer names no API node URL")
        return self.prober

    async def _fall_back(self, prober: DirectProber | DeployerProber, why: str) -> None:
        if self.prober is not prober:
            return  # another probe already switched
        await prober.aclose()
        if isinstance(prober, DirectProber):
            self.prober = DeployerProber(self.client, self.plan.deployment_id)
            self.probe_via = VIA_DEPLOYER
            self.probe_note = f"the API nodes cannot be probed directly: {why}"
            for stats in (*self.stats.values(), self.unattributed):
                stats.source = "deployer test queries"
        else:
            self.prober = None
            self.probe_failure = why
            self.probe_note = f"probing stopped: {why}"

    async def probe_loop(self, versions: tuple[str, ...], running: asyncio.Event) -> None:
        """Probes each version the step maps at plan.version_probe_rate per second (at most plan.probe_rate
        in all), on a fixed schedule (never faster, never a burst to catch up), each stored query to each
        version in turn; at most a few in flight. Through the deployer the split picks the version: the
        same total, so that at 100 % the new version gets what each version of a 50/50 split got."""
        assert self.target is not None
        loop = asyncio.get_running_loop()
        rate = min(self.plan.probe_rate, self.plan.version_probe_rate * max(1, len(versions)))
        period = 1.0 / rate
        limit = max(2, min(16, int(rate)))
        inflight: set[asyncio.Task] = set()
        order = [(v, q) for q in self.target.queries for v in versions]
        turn = 0
        next_at = loop.time()
        try:
            while True:
                if not running.is_set():
                    await running.wait()
                    next_at = loop.time()
                prober = await self._prober()
                if prober is None:
                    return  # nothing can probe here: the guards say so at the end of the soak
                if len(inflight) < limit:
                    if isinstance(prober, DirectProber):
                        version, query = order[turn % len(order)]
                    else:
                        version, query = None, self.target.queries[turn % len(self.target.queries)]
                    turn += 1
                    task = asyncio.create_task(self._one(prober, version, query))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                next_at += period
                delay = next_at - loop.time()
                if delay < -period:
                    next_at, delay = loop.time(), 0.0
                await asyncio.sleep(max(0.0, delay))
        finally:
            for task in list(inflight):
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)

    async def _one(self, prober: DirectProber | DeployerProber, version: str | None, query: ProbeQuery) -> None:
        try:
            answer = await prober.probe(version, query)  # type: ignore[arg-type]
        except ProbeRefused as exc:
            await self._fall_back(prober, str(exc))
            return
        if isinstance(prober, DirectProber) and answer.asked in self.sent:
            self.sent[answer.asked][0] += 1
            if not answer.ok:
                self.sent[answer.asked][1] += 1
        self.record(answer, prober)

    def record(self, answer: ProbeAnswer, prober: DirectProber | DeployerProber) -> None:
        target = self.plan.target
        version = answer.version
        if answer.refused:
            self.refused += 1
            self.probe_note = f"{self.refused} probe(s) through the deployer were refused by a node for their " \
                              "key (a version with other query keys than the served one's): not counted"
            return
        if version is None and answer.asked is not None and isinstance(prober, DirectProber) and not answer.ok:
            if len(self.held) < MAX_HELD:
                self.held.append(answer)  # attributed once a node showed it honours forcing (or never)
            self._sample(answer, None)
            return
        if version is None:
            self.unattributed.add(answer.ok, answer.latency_ms)
        else:
            stats = self.stats.get(version)
            if stats is None:
                stats = self.stats[version] = VersionStats(version, source=self._source())
            stats.add(answer.ok, answer.latency_ms)
            if answer.ok and answer.answer is not None:
                self._compare(version, answer)
        self._sample(answer, version)
        if version is not None and version != target and answer.asked not in (None, version):
            self.probe_note = f"a node answered with {version} when {answer.asked} was asked: answers are " \
                              "counted for the version they name"

    def _source(self) -> str:
        return "deployer test queries" if isinstance(self.prober, DeployerProber) else "probes"

    def _sample(self, answer: ProbeAnswer, version: str | None) -> None:
        self.samples.append(LatencySample(now_ms(), self.plan.deployment_id, version, answer.query.endpoint_id,
                                          answer.latency_ms, answer.ok, "canary"))

    def _attribute_held(self) -> None:
        prober = self.prober
        if not self.held or not isinstance(prober, DirectProber):
            return
        keep = []
        for answer in self.held:
            if prober.trusted(answer.query) and answer.asked in self.stats:
                self.stats[answer.asked].add(False, answer.latency_ms)
            else:
                keep.append(answer)
        self.held = keep
        if prober.ignored:  # the nodes ignore forcing: these errors belong to no version we can name
            for answer in self.held:
                self.unattributed.add(False, answer.latency_ms)
            self.held = []

    def _compare(self, version: str, answer: ProbeAnswer) -> None:
        key, text = answer.query.key, answer.answer or ""
        target = self.plan.target
        if version != target:
            if key not in self.baseline:
                self.baseline[key] = text
                for waiting in self.pending_new.pop(key, []):
                    self._judge_answer(key, waiting)
            return
        if key in self.baseline:
            self._judge_answer(key, text)
        else:
            waiting = self.pending_new.setdefault(key, [])
            if len(waiting) < MAX_PENDING_ANSWERS:
                waiting.append(text)

    def _judge_answer(self, key: str, text: str) -> None:
        stats = self.stats.get(self.plan.target)
        if stats is None:
            return
        stats.compared += 1
        if text != self.baseline[key]:
            stats.mismatches += 1
            if self.mismatch_example is None:
                self.mismatch_example = {"query": key, "previous": self.baseline[key][:500], "new": text[:500]}


async def run_canary(client: Any, plan: CanaryPlan, on_progress: ProgressSink | None = None, *,
                     control: CanaryControl | None = None, store: CanaryStore | None = None,
                     latency_log: LatencyLog | None = None, interval: float = 0.25,
                     start_step: int = 0, journal: Journal | None = None,
                     started_ms: int | None = None, probe: str = "auto") -> CanaryResult:
    """Run the plan step by step (see the module's docstring). Raises CanaryError when it cannot start
    (nothing changed then) and DeployerError only when the deployer cannot be read or written at all
    (the record then stays, for the next start to offer the revert); how the canary ended is in the result.
    `probe`: "auto" (the API nodes when reachable, else the deployer) or "deployer" (never the nodes).
    `started_ms`: when the canary this run continues began (resume_record); its split may be in place."""
    plan.validate()
    if not 0 <= start_step < len(plan.steps):
        raise CanaryError(f"step {start_step} is not a step of this canary (0 to {len(plan.steps) - 1})")
    run = _Run(client, plan, on_progress, control, store, latency_log, journal, interval, started_ms, probe)
    return await run.run(start_step)


async def revert_record(client: Any, record: CanaryRecord, on_progress: ProgressSink | None = None, *,
                        store: CanaryStore | None = None, journal: Journal | None = None,
                        interval: float = 0.25) -> CanaryResult:
    """Restore the mapping from before a canary a console left half-way, run that update, remove the record
    (kept when the revert fails). CanaryError when another live console runs that canary."""
    if record.running_elsewhere:
        raise CanaryError(f"the canary of {record.deployment_id} is run by another console (pid {record.pid})")
    plan = CanaryPlan.from_json(record.plan)
    plan.previous = copy.deepcopy(record.previous)
    run = _Run(client, plan, on_progress, None, store, None, journal, interval, record.started_ms)
    run.step_index = min(max(record.step_index, 0), len(run.steps) - 1)
    for step in run.steps:
        step.state = "skipped"
    percent = run.steps[run.step_index].percent
    return await run.revert("REVERTED", f"the canary of {plan.target} was left at {percent} %", step=percent)


async def resume_record(client: Any, record: CanaryRecord, on_progress: ProgressSink | None = None, *,
                        control: CanaryControl | None = None, store: CanaryStore | None = None,
                        latency_log: LatencyLog | None = None, journal: Journal | None = None,
                        interval: float = 0.25) -> CanaryResult:
    """Run a canary a console left half-way from the step it was at (that step is run again: saving the
    same split and updating are harmless when they were done already)."""
    if record.running_elsewhere:
        raise CanaryError(f"the canary of {record.deployment_id} is run by another console (pid {record.pid})")
    plan = CanaryPlan.from_json(record.plan)
    plan.previous = copy.deepcopy(record.previous)
    start = min(max(record.step_index, 0), len(plan.steps) - 1)
    return await run_canary(client, plan, on_progress, control=control, store=store, latency_log=latency_log,
                            interval=interval, start_step=start, journal=journal, started_ms=record.started_ms)
