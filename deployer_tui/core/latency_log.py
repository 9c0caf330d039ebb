"""Latency trends: every test-query run and canary probe the console makes, per deployer.

A sample is (when, deployment, version, endpoint, latency ms, ok, source). One JSON Lines file per deployer,
named by a hash of its URL (never of its key), under `<XDG state home>/deployer-tui/latency/`, mode 0600 in
a 0700 directory. Appends add lines at the end; once the file holds more than `max_samples` plus a slack
(a tenth, at least 100), it is rewritten with the newest `max_samples` only, to a temporary file then
renamed (a crash leaves the old file or the new one). A line that cannot be read is skipped.

`version` None means the answer did not say which version answered ("not reported"): such samples are
never attributed to a version.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer_tui.core import paths
from deployer_tui.core.journal import deployer_key

NOT_REPORTED = "not reported"
SOURCES = ("test-query", "canary")


def latency_dir() -> Path:
    return paths.state_dir() / "latency"


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """The nearest-rank percentile (0 < fraction ≤ 1) of `values`; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class LatencySample:
    at_ms: int
    deployment: str
    version: str | None
    endpoint: str
    latency_ms: float
    ok: bool
    source: str = "test-query"

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at_ms, "deployment": self.deployment, "version": self.version, "endpoint": self.endpoint,
                "ms": round(float(self.latency_ms), 3), "ok": self.ok, "source": self.source}

    @classmethod
    def from_json(cls, raw: Any) -> LatencySample | None:
        if not isinstance(raw, dict):
            return None
        at, ms = raw.get("at"), raw.get("ms")
        if not isinstance(at, int) or isinstance(at, bool) or not isinstance(ms, (int, float)) \
                or isinstance(ms, bool) or not isinstance(raw.get("deployment"), str):
            return None
        version = raw.get("version")
        return cls(at, raw["deployment"], str(version) if version is not None else None,
                   str(raw.get("endpoint") or ""), float(ms), raw.get("ok") is True,
                   str(raw.get("source") or "test-query"))


@dataclass
class VersionSummary:
    version: str  # NOT_REPORTED for answers that named no version
    count: int
    errors: int
    p50: float | None
    p95: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.count if self.count else None


class LatencyLog:
    """The latency samples of one deployer. Each call reads the file afresh, so two consoles share it."""

    def __init__(self, deployer_url: str, root: Path | None = None, max_samples: int = 5000) -> None:
        if max_samples < 1:
            raise ValueError("max_samples must be at least 1")
        self.path = (root if root is not None else latency_dir()) / f"{deployer_key(deployer_url)}.jsonl"
        self.max_samples = max_samples
        self.slack = max(100, max_samples // 10)
        self._lines: int | None = None  # lines in the file as of our last read or write

    def _read_lines(self) -> list[str]:
        try:
            with self.path.open("r", encoding="utf-8", errors="replace") as fh:
                return [line for line in fh.read().splitlines() if line.strip()]
        except OSError:
            return []

    def _rewrite(self, lines: list[str]) -> None:
        paths.write_private(self.path, "".join(line + "\n" for line in lines))
        self._lines = len(lines)

    def append(self, samples: Iterable[LatencySample]) -> None:
        """Add samples at the end; trim the oldest (atomically) once past the bound."""
        new = [json.dumps(s.to_json(), separators=(",", ":")) for s in samples]
        if not new:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._lines is None:
            self._lines = len(self._read_lines())
        if self._lines + len(new) > self.max_samples + self.slack:
            self._rewrite((self._read_lines() + new)[-self.max_samples:])
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in new))
        self._lines += len(new)

    def all_samples(self) -> list[LatencySample]:
        lines = self._read_lines()
        self._lines = len(lines)
        out = []
        for line in lines[-self.max_samples:]:
            try:
                sample = LatencySample.from_json(json.loads(line))
            except ValueError:
                continue
            if sample is not None:
                out.append(sample)
        return out

    def samples(self, deployment: str, limit: int = 200) -> list[LatencySample]:
        """The newest `limit` samples of a deployment, oldest first."""
        return self.history(deployment, limit)[0]

    def summary(self, deployment: str) -> dict[str, VersionSummary]:
        """Per version (NOT_REPORTED for answers that named none): count, errors, p50 and p95 of the
        successful answers' latencies, over every sample kept for the deployment."""
        return self.history(deployment, 0)[1]

    def history(self, deployment: str, limit: int = 200) -> tuple[list[LatencySample], dict[str, VersionSummary]]:
        """`samples(deployment, limit)` and `summary(deployment)` from one read of the file."""
        mine = [s for s in self.all_samples() if s.deployment == deployment]
        groups: dict[str, list[LatencySample]] = {}
        for sample in mine:
            groups.setdefault(sample.version or NOT_REPORTED, []).append(sample)
        out = {}
        for version, group in groups.items():
            ok = [s.latency_ms for s in group if s.ok]
            out[version] = VersionSummary(version, len(group), sum(1 for s in group if not s.ok),
                                          percentile(ok, 0.5), percentile(ok, 0.95))
        return (mine[-limit:] if limit > 0 else []), out
