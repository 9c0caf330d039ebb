"""Latency trends of a deployer's deployments: the test-query runs of the console written to the latency log
of that deployer (core/latency_log.py, beside the canary's probes), and read back for the deployment screen.

Screens hand over what they measured (the version that answered, the latency, whether it was an error) and
read a `Trend`; the file and its format stay core's.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer_tui.core.latency_log import NOT_REPORTED, LatencyLog, LatencySample, VersionSummary

# Below this many answers a version is not judged slower or worse than another.
MIN_COMPARED = 5
# How much slower (p95) a version must be to be called slower; error rates must differ by this much.
SLOWER_RATIO = 1.2
WORSE_ERROR_RATE = 0.01


@dataclass(frozen=True)
class Answer:
    """One answer a screen saw: `version` None when the answer did not name it."""

    version: str | None
    latency_ms: float
    ok: bool


@dataclass
class Trend:
    """What the deployment screen shows: recent latencies (oldest first), per-version figures, and the
    version that answered slower or worse than the others, with why."""

    latencies: list[float]
    versions: dict[str, VersionSummary]
    worse: str | None = None
    worse_how: str = ""  # "slower" | "more errors"
    why: str = ""  # the figures that say so


def worse_version(versions: dict[str, VersionSummary]) -> tuple[str | None, str, str]:
    """(version, how, figures): the version with the highest error rate (by WORSE_ERROR_RATE at least), else
    the slowest at p95 (by SLOWER_RATIO at least), among versions with MIN_COMPARED answers or more and a
    name; (None, "", "") when none stands out."""
    judged = [v for key, v in versions.items() if v.count >= MIN_COMPARED and key != NOT_REPORTED]
    if len(judged) < 2:
        return None, "", ""
    by_errors = sorted(judged, key=lambda v: v.error_rate or 0.0, reverse=True)
    worst, best = by_errors[0], by_errors[-1]
    if (worst.error_rate or 0.0) - (best.error_rate or 0.0) >= WORSE_ERROR_RATE:
        return (worst.version, "more errors", f"error rate {(worst.error_rate or 0) * 100:.1f} % against "
                f"{(best.error_rate or 0) * 100:.1f} % for {best.version}")
    timed = [v for v in judged if v.p95 is not None]
    if len(timed) < 2:
        return None, "", ""
    slowest = max(timed, key=lambda v: v.p95 or 0.0)
    fastest = min(timed, key=lambda v: v.p95 or 0.0)
    if fastest.p95 and slowest.p95 and slowest.p95 / fastest.p95 >= SLOWER_RATIO:
        return slowest.version, "slower", f"p95 {slowest.p95:.1f} ms against {fastest.p95:.1f} ms for {fastest.version}"
    return None, "", ""


class LatencyTrends:
    """The latency log of one deployer, as the screens use it."""

    def __init__(self, deployer_url: str, root: Path | None = None) -> None:
        self.log = LatencyLog(deployer_url, root)

    @classmethod
    def of(cls, client: Any) -> LatencyTrends | None:
        """The trends of a client's deployer; None for a client that names no deployer (a test stub)."""
        url = getattr(client, "url", None)
        return cls(url) if isinstance(url, str) and url else None

    def record_test_queries(self, deployment: str, endpoint: str, answers: list[Answer]) -> None:
        at = int(time.time() * 1000)
        self.log.append([LatencySample(at, deployment, a.version, endpoint, a.latency_ms, a.ok, "test-query")
                         for a in answers])

    async def record_test_queries_async(self, deployment: str, endpoint: str, answers: list[Answer]) -> None:
        """The same off the event loop (the log trims itself by rewriting its file)."""
        await asyncio.to_thread(self.record_test_queries, deployment, endpoint, answers)

    def trend(self, deployment: str, limit: int = 120) -> Trend:
        samples, versions = self.log.history(deployment, limit)
        worse, how, why = worse_version(versions)
        return Trend([s.latency_ms for s in samples], versions, worse, how, why)

    async def trend_async(self, deployment: str, limit: int = 120) -> Trend:
        return await asyncio.to_thread(self.trend, deployment, limit)
