"""Request counts, errors and latency per service, endpoint and generation.

Shapes follow DSS (docs/protocol.md, "API node admin API"): `JSONMeter{count, m1_rate, m5_rate, m15_rate, mean_rate}`
and `JSONTimer{count, min, max, mean, stddev, p50, p75, p95, p98, p99, p999, *_rate}`, latencies
in milliseconds over the last `RESERVOIR` requests. Rates are exponentially weighted moving
averages ticked every 5 s, as in the Codahale library DSS uses. Besides DSS's keys, each stats
entry has `endpointId` (DSS spells it `enpdointId`), `errors` and `errorRequests`; registry names
of a generation's metrics are `dku.lambda.service.<svc>.<endpoint>.generation.<gen>.<name>`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

_now = time.monotonic  # a module attribute so that tests can move time

RESERVOIR = 2048
TICK_S = 5.0


class Meter:
    _ALPHAS = {"m1_rate": 1 - math.exp(-TICK_S / 60), "m5_rate": 1 - math.exp(-TICK_S / 300),
               "m15_rate": 1 - math.exp(-TICK_S / 900)}

    def __init__(self) -> None:
        self.count = 0
        self.start = _now()
        self._last_tick = self.start
        self._uncounted = 0
        self._rates = {name: 0.0 for name in self._ALPHAS}
        self._initialised = False

    def mark(self, now: float | None = None) -> None:
        if now is None:
            now = _now()
        if now - self._last_tick >= TICK_S:  # checked here: a query marks six meters
            self._tick(now)
        self.count += 1
        self._uncounted += 1

    def _tick(self, now: float | None = None) -> None:
        ticks = int(((_now() if now is None else now) - self._last_tick) // TICK_S)
        if ticks <= 0:
            return
        instant = self._uncounted / TICK_S
        self._uncounted = 0
        for name, alpha in self._ALPHAS.items():
            rate = self._rates[name] + alpha * (instant - self._rates[name]) if self._initialised else instant
            # The other ticks saw no event: each decays the rate by (1 - alpha), in one step after a long idle.
            self._rates[name] = rate * (1 - alpha) ** (ticks - 1)
        self._initialised = True
        self._last_tick += ticks * TICK_S

    def to_json(self) -> dict[str, Any]:
        self._tick()
        elapsed = max(_now() - self.start, 1e-9)
        return {"count": self.count, **self._rates, "mean_rate": self.count / elapsed, "units": "events/second"}


class Timer(Meter):
    def __init__(self) -> None:
        super().__init__()
        self.samples: deque[float] = deque(maxlen=RESERVOIR)
        self.total_ms = 0.0

    def update(self, ms: float, now: float | None = None) -> None:
        self.mark(now)
        self.samples.append(ms)
        self.total_ms += ms

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        values = sorted(self.samples)
        if values:
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))

            def q(p: float) -> float:
                return values[min(len(values) - 1, int(math.ceil(p * len(values))) - 1 if p > 0 else 0)]

            out.update(min=values[0], max=values[-1], mean=mean, stddev=std, p50=q(0.5), p75=q(0.75),
                       p95=q(0.95), p98=q(0.98), p99=q(0.99), p999=q(0.999))
        else:
            out.update(min=0.0, max=0.0, mean=0.0, stddev=0.0, p50=0.0, p75=0.0, p95=0.0, p98=0.0, p99=0.0,
                       p999=0.0)
        out["duration_units"] = "milliseconds"
        return out


class Counters:
    """requests, successRequests, errors and processingTime for one (service, endpoint[, generation])."""

    def __init__(self) -> None:
        self.requests = Meter()
        self.success = Meter()
        self.errors = Meter()
        self.processing = Timer()

    def record(self, ok: bool, ms: float, now: float) -> None:
        self.requests.mark(now)
        (self.success if ok else self.errors).mark(now)
        self.processing.update(ms, now)

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests.to_json(), "successRequests": self.success.to_json(),
                "errorRequests": self.errors.to_json(), "errors": self.errors.count,
                "processingTime": self.processing.to_json()}


class Metrics:
    def __init__(self) -> None:
        self.endpoints: dict[tuple[str, str], Counters] = {}
        self.versions: dict[tuple[str, str, str], Counters] = {}

    def record(self, service: str, endpoint: str, generation: str | None, ok: bool, ms: float) -> None:
        key = (service, endpoint)
        counters = self.endpoints.get(key)
        if counters is None:
            counters = self.endpoints[key] = Counters()
        now = _now()  # one clock read for the query's six meters
        counters.record(ok, ms, now)
        if generation:
            vkey = (service, endpoint, generation)
            version = self.versions.get(vkey)
            if version is None:
                version = self.versions[vkey] = Counters()
            version.record(ok, ms, now)

    def forget_service(self, service: str) -> None:
        self.endpoints = {k: v for k, v in self.endpoints.items() if k[0] != service}
        self.versions = {k: v for k, v in self.versions.items() if k[0] != service}

    def service_stats(self, service: str) -> dict[str, Any]:
        """`GET /admin/api/services/{svc}/stats` (DSS's misspelled `enpdointId` kept, `endpointId` added)."""
        endpoints = []
        for (svc, endpoint), counters in sorted(self.endpoints.items()):
            if svc != service:
                continue
            versions = [{"version": gen, **c.to_json()} for (s, e, gen), c in sorted(self.versions.items())
                        if s == svc and e == endpoint]
            endpoints.append({"enpdointId": endpoint, "endpointId": endpoint, **counters.to_json(),
                              "versions": versions})
        return {"endpoints": endpoints}

    def registry(self) -> dict[str, Any]:
        """`GET /admin/api/metrics`: a Codahale MetricRegistry-shaped document."""
        meters: dict[str, Any] = {}
        timers: dict[str, Any] = {}
        for (svc, ep), c in self.endpoints.items():
            self._add(meters, timers, f"dku.lambda.service.{svc}.{ep}", c)
        for (svc, ep, gen), c in self.versions.items():
            self._add(meters, timers, f"dku.lambda.service.{svc}.{ep}.generation.{gen}", c)
        return {"version": "4.0.0", "gauges": {}, "counters": {}, "histograms": {}, "meters": meters,
                "timers": timers}

    @staticmethod
    def _add(meters: dict[str, Any], timers: dict[str, Any], prefix: str, c: Counters) -> None:
        meters[f"{prefix}.requests"] = c.requests.to_json()
        meters[f"{prefix}.successRequests"] = c.success.to_json()
        meters[f"{prefix}.errorRequests"] = c.errors.to_json()
        timers[f"{prefix}.totalProcessing"] = c.processing.to_json()


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus(metrics: Metrics) -> str:
    """`GET /admin/api/metrics-prometheus`: counts and latency quantiles per service, endpoint and generation."""
    rows = []
    for (svc, ep, gen), c in sorted(metrics.versions.items()):
        labels = f'service="{_label(svc)}",endpoint="{_label(ep)}",generation="{_label(gen)}"'
        rows.append((labels, c, c.processing.to_json()))
    lines = ["# TYPE dku_lambda_service_requests_total counter"]
    lines += [f"dku_lambda_service_requests_total{{{labels}}} {c.requests.count}" for labels, c, _ in rows]
    lines.append("# TYPE dku_lambda_service_errors_total counter")
    lines += [f"dku_lambda_service_errors_total{{{labels}}} {c.errors.count}" for labels, c, _ in rows]
    lines.append("# TYPE dku_lambda_service_processing_ms summary")
    for labels, c, timer in rows:
        for key, quantile in (("p50", "0.5"), ("p95", "0.95"), ("p99", "0.99")):
            lines.append(f'dku_lambda_service_processing_ms{{{labels},quantile="{quantile}"}} {timer[key]:.3f}')
        lines.append(f"dku_lambda_service_processing_ms_sum{{{labels}}} {c.processing.total_ms:.3f}")
        lines.append(f"dku_lambda_service_processing_ms_count{{{labels}}} {timer['count']}")
    return "\n".join(lines) + "\n"
