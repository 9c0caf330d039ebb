"""The p95 latency guard's judgement without a deployer: a ratio over the bound breaches only when the new
p95 is also more than the floor above the old one; the previous versions' latencies pooled over the steps
that probed them (bounded) are the baseline of the 100 % step; each version gets the same probe rate in
every step; the floor's bounds and its flag."""

from __future__ import annotations

import argparse
import json

import pytest

from deployer_tui.canary_cli import parse_delta
from deployer_tui.core.canary import (
    GUARD_LATENCY,
    CanaryError,
    CanaryPlan,
    Guards,
    LatencyBaseline,
    latency_reading,
)
from deployer_tui.core.rollback import single


def ms(value: float, n: int = 20) -> list[float]:
    return [value] * n


def test_a_ratio_over_the_bound_and_a_difference_over_the_floor_breach() -> None:
    reading = latency_reading(ms(30.0), ms(10.0), Guards())
    assert reading.name == GUARD_LATENCY and reading.ok is False
    assert reading.threshold == "≤ 1.5× or ≤ +5 ms"
    assert reading.value == "3.00× (30.0 ms vs 10.0 ms, +20.0 ms)"  # both figures the guard judged on


def test_a_ratio_over_the_bound_under_the_floor_is_jitter_not_a_breach() -> None:
    # A sub-millisecond endpoint: three times slower is 1 ms.
    reading = latency_reading(ms(1.5), ms(0.5), Guards())
    assert reading.ok is True and reading.value == "3.00× (1.5 ms vs 0.5 ms, +1.0 ms)"
    # The same figures with no floor: the ratio alone judges, as before the floor.
    assert latency_reading(ms(1.5), ms(0.5), Guards(min_latency_delta_ms=0)).ok is False
    # The floor is per plan: a 1 ms floor, 1 ms is not above it, 1.2 ms is.
    assert latency_reading(ms(1.5), ms(0.5), Guards(min_latency_delta_ms=1)).ok is True
    assert latency_reading(ms(1.7), ms(0.5), Guards(min_latency_delta_ms=1)).ok is False


def test_a_difference_over_the_floor_under_the_ratio_passes() -> None:
    reading = latency_reading(ms(120.0), ms(100.0), Guards())
    assert reading.ok is True and reading.value == "1.20× (120 ms vs 100 ms, +20.0 ms)"


def test_a_faster_new_version_shows_a_negative_difference() -> None:
    reading = latency_reading(ms(8.0), ms(10.0), Guards())
    assert reading.ok is True and reading.value == "0.80× (8.0 ms vs 10.0 ms, −2.0 ms)"


def test_before_the_end_of_the_soak_it_judges_only_on_min_requests_each_side() -> None:
    guards = Guards(min_requests=10)
    assert latency_reading(ms(30.0, 9), ms(10.0), guards).ok is None  # too few new latencies yet
    assert latency_reading(ms(30.0), ms(10.0, 9), guards).ok is None
    assert latency_reading(ms(30.0), ms(10.0), guards, judging=False).ok is None  # another version lacks some
    assert latency_reading(ms(30.0, 3), ms(10.0, 3), guards, final=True).ok is False  # the end judges anyway
    nothing = latency_reading([], ms(10.0), guards, final=True)
    assert nothing.value is None and nothing.ok is None  # nothing to compare: not reported, not judged


def test_the_100_percent_step_is_judged_against_the_pooled_baseline_of_the_earlier_steps() -> None:
    baseline = LatencyBaseline()
    baseline.add(10, {"v1": ms(10.0, 30)})
    baseline.add(50, {"v1": ms(12.0, 30)})
    baseline.add(100, {})  # the 100 % step maps no previous version: it adds nothing
    assert len(baseline) == 60 and baseline.versions == ["v1"] and baseline.steps == [10, 50]
    against = "against v1's p95 from earlier steps"
    healthy = latency_reading(ms(12.5), list(baseline.latencies), Guards(), final=True, against=against)
    assert healthy.ok is True and healthy.value == f"1.04× (12.5 ms vs 12.0 ms, +0.5 ms) {against}"
    slow = latency_reading(ms(40.0), list(baseline.latencies), Guards(), final=True, against=against)
    assert slow.ok is False and slow.value.endswith(against)


def test_the_pooled_baseline_is_bounded_and_keeps_the_newest() -> None:
    baseline = LatencyBaseline(limit=50)
    baseline.add(10, {"a": ms(1.0, 40), "b": ms(2.0, 40)})
    baseline.add(50, {"a": ms(3.0, 30)})
    assert len(baseline) == 50 and list(baseline.latencies) == [2.0] * 20 + [3.0] * 30
    assert baseline.versions == ["a", "b"]


def test_each_version_gets_the_same_probe_rate_in_every_step() -> None:
    two = CanaryPlan("dep", "v2", single("v1"), probe_rate=50.0)
    assert two.version_probe_rate == 25.0  # 10 % and 50 %: two versions at 25/s; 100 %: v2 alone at 25/s
    three = CanaryPlan("dep", "v3", {"mode": "MULTI_GENERATION", "strategy": "RANDOM", "entries": [
        {"generation": "a", "proba": 0.75}, {"generation": "b", "proba": 0.25}]}, probe_rate=30.0)
    assert three.version_probe_rate == 10.0
    alone = CanaryPlan("dep", "v2", single("v1"), steps=(100,), probe_rate=20.0)
    assert alone.version_probe_rate == 20.0  # one version in its only step


@pytest.mark.parametrize("delta", [-1, float("inf"), float("nan"), "5"])
def test_a_bad_floor_is_refused_in_words(delta: object) -> None:
    with pytest.raises(CanaryError, match="latency difference"):
        Guards(min_latency_delta_ms=delta).validate()  # type: ignore[arg-type]


def test_the_floor_survives_json_and_older_records_get_the_default() -> None:
    guards = Guards(min_latency_delta_ms=12.5)
    assert Guards.from_json(json.loads(json.dumps(guards.to_json()))) == guards
    assert Guards.from_json({"maxLatencyRatio": 2.0}).min_latency_delta_ms == 5.0


def test_the_floor_flag_reads_milliseconds() -> None:
    assert parse_delta("5") == parse_delta("5ms") == parse_delta(" 5 ms ") == 5.0
    assert parse_delta("0.005s") == pytest.approx(5.0) and parse_delta("0") == 0.0
    with pytest.raises(argparse.ArgumentTypeError, match="milliseconds"):
        parse_delta("fast")
