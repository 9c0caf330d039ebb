"""The canary engine against a real local deployer and API node: a failing version reverted at the first
step, a slow one tripping the latency guard, a healthy one promoted through every step, a different answer
caught, pause / promote now / abort, the record written before each step and removed at the end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from deployer_tui.core.canary import (
    GUARD_ANSWERS,
    GUARD_ERROR_RATE,
    GUARD_LATENCY,
    CanaryControl,
    CanaryError,
    CanaryProgress,
    Guards,
    plan_canary,
    run_canary,
)
from deployer_tui.core.canary_probe import VIA_NODES
from deployer_tui.core.canary_state import CanaryStore
from deployer_tui.core.client import DeployerClient
from deployer_tui.core.latency_log import LatencyLog
from deployer_tui.core.rollback import mapping_key, single
from tests.canary.conftest import CanaryEnv, unique
from tests.deployer.conftest import ADMIN_KEY

SOAK = 0.5
FAST = {"soak_s": SOAK, "probe_rate": 20.0}


async def canary(env: CanaryEnv, dep: str, target: str, *, guards: Guards | None = None,
                 control: CanaryControl | None = None, on_progress=None, **kw):
    async with DeployerClient(env.url, ADMIN_KEY) as client:
        plan = await plan_canary(client, dep, target, guards=guards or Guards(min_requests=5),
                                 **{**FAST, **kw})
        return await run_canary(client, plan, on_progress, control=control, interval=0.05)


def assert_back_on_v1(env: CanaryEnv, dep: str) -> None:
    assert mapping_key(env.saved_mapping(dep)) == mapping_key(single("v1"))
    assert env.status(dep)["health"] == "HEALTHY"
    assert env.served(dep) == "v1"


def test_a_version_failing_on_20_percent_is_reverted_at_the_first_step(env: CanaryEnv, state_home: Path) -> None:
    dep = unique("flaky")
    env.deploy(dep)
    seen: list[CanaryProgress] = []
    result = asyncio.run(canary(env, dep, "flaky", on_progress=seen.append))
    assert result.outcome == "REVERTED" and not result.ok
    assert result.failed_guard == GUARD_ERROR_RATE and result.failed_step == 10
    flaky = result.figures["versions"]["flaky"]
    assert flaky["errors"] > 0 and flaky["errorRate"] > 0.01
    assert result.figures["versions"]["v1"]["errors"] == 0
    assert mapping_key(result.final_mapping) == mapping_key(single("v1"))
    assert_back_on_v1(env, dep)
    assert seen[-1].phase == "done" and seen[-1].result is result
    assert [s.state for s in seen[-1].steps] == ["failed", "skipped", "skipped"]
    assert any(p.phase == "soak" and p.probe_via == VIA_NODES for p in seen)
    assert any(p.phase == "reverting" for p in seen)
    assert any(p.log_lines for p in seen)  # the update logs reach the progress
    assert CanaryStore().get(env.url, dep) is None  # ended: no record left
    summary = LatencyLog(env.url).summary(dep)
    assert summary["flaky"].errors > 0 and summary["v1"].errors == 0


def test_a_version_3x_slower_trips_the_latency_guard(env: CanaryEnv) -> None:
    dep = unique("slow")
    env.deploy(dep)
    result = asyncio.run(canary(env, dep, "slow"))
    assert result.outcome == "REVERTED" and result.failed_guard == GUARD_LATENCY, result.message
    reading = next(g for g in result.figures["guards"] if g["name"] == GUARD_LATENCY)
    assert reading["ok"] is False and "×" in reading["value"]
    versions = result.figures["versions"]
    assert versions["slow"]["p95"] > 1.5 * versions["v1"]["p95"]
    assert_back_on_v1(env, dep)


def test_a_healthy_version_is_promoted_through_every_step(env: CanaryEnv) -> None:
    dep = unique("good")
    env.deploy(dep)
    store = CanaryStore()
    steps_seen: dict[int, str] = {}
    record_steps: set[int] = set()

    def watch(progress: CanaryProgress) -> None:
        record = store.get(env.url, dep)
        if progress.phase == "soak":
            steps_seen[progress.percent] = str(progress.stats.keys())
            assert record is not None  # written before the step changed anything
            record_steps.add(record.step_index)

    # A generous latency bound: this test is about the steps, the latency guard has its own.
    result = asyncio.run(canary(env, dep, "good", guards=Guards(max_latency_ratio=3.0, min_requests=4),
                                on_progress=watch))
    assert result.outcome == "PROMOTED" and result.ok, result.message
    assert set(steps_seen) == {10, 50, 100} and record_steps == {0, 1, 2}
    assert "v1" not in steps_seen[100]  # the last step serves the new version alone: only it is probed
    assert mapping_key(env.saved_mapping(dep)) == mapping_key(single("good"))
    assert env.status(dep)["health"] == "HEALTHY" and env.served(dep) == "good"
    assert store.get(env.url, dep) is None
    answers = next(g for g in result.figures["guards"] if g["name"] == GUARD_ANSWERS)
    assert answers["threshold"].startswith("off")  # not a guard here, still counted
    assert answers["value"] and answers["value"].startswith("0 of")


def test_match_answers_catches_a_version_that_answers_differently(env: CanaryEnv) -> None:
    dep = unique("other")
    env.deploy(dep)
    result = asyncio.run(canary(env, dep, "other",
                                guards=Guards(max_latency_ratio=3.0, match_answers=True, min_requests=4)))
    assert result.outcome == "REVERTED" and result.failed_guard == GUARD_ANSWERS, result.message
    example = result.figures["mismatchExample"]
    assert example["previous"] != example["new"] and '"y":' in example["new"]
    assert result.figures["versions"]["other"]["mismatches"] > 0
    assert_back_on_v1(env, dep)


def test_without_match_answers_a_different_answer_is_shown_not_judged(env: CanaryEnv) -> None:
    dep = unique("shown")
    env.deploy(dep)
    result = asyncio.run(canary(env, dep, "other", steps=(50, 100),
                                guards=Guards(max_latency_ratio=3.0, min_requests=4)))
    assert result.outcome == "PROMOTED", result.message
    answers = next(g for g in result.figures["guards"] if g["name"] == GUARD_ANSWERS)
    assert answers["ok"] is None and answers["threshold"].startswith("off")
    # The figures are those of the last step (the new version alone), compared with the answers the old
    # version gave at the step before: every one differs.
    other = result.figures["versions"]["other"]
    assert other["compared"] > 0 and other["mismatches"] == other["compared"]


def test_abort_reverts_and_pause_stops_the_soak_clock(env: CanaryEnv) -> None:
    dep = unique("abort")
    env.deploy(dep)
    control = CanaryControl()
    paused_left: list[float] = []

    def watch(progress: CanaryProgress) -> None:
        if progress.phase == "soak" and not control.paused and not paused_left:
            control.pause()
        elif progress.phase == "paused":
            paused_left.append(progress.soak_left_s or 0.0)
            if len(paused_left) >= 5:
                control.abort()

    result = asyncio.run(canary(env, dep, "good", control=control, on_progress=watch, soak_s=30.0))
    assert result.outcome == "ABORTED" and not result.ok
    assert len(set(paused_left)) == 1  # paused: the clock did not move
    assert_back_on_v1(env, dep)


def test_promote_now_jumps_to_the_new_version_alone(env: CanaryEnv) -> None:
    dep = unique("promote")
    env.deploy(dep)
    control = CanaryControl()

    def watch(progress: CanaryProgress) -> None:
        if progress.phase == "soak":
            control.promote_now()

    result = asyncio.run(canary(env, dep, "good", control=control, on_progress=watch, soak_s=30.0))
    assert result.outcome == "PROMOTED", result.message
    assert env.served(dep) == "good" and mapping_key(env.saved_mapping(dep)) == mapping_key(single("good"))


def test_a_canary_that_cannot_start_says_why_and_changes_nothing(env: CanaryEnv) -> None:
    dep = unique("refused")
    env.deploy(dep)

    async def scenario() -> None:
        async with DeployerClient(env.url, ADMIN_KEY) as client:
            with pytest.raises(CanaryError, match="has no version nope"):
                await plan_canary(client, dep, "nope")
            with pytest.raises(CanaryError, match="already has v1 alone"):
                await plan_canary(client, dep, "v1")
            with pytest.raises(CanaryError, match="must not flood"):
                await plan_canary(client, dep, "good", probe_rate=500)

    asyncio.run(scenario())
    assert_back_on_v1(env, dep)
