"""The canary engine against a real local deployer and API node: a failing version reverted at the first
step, a slow one tripping the latency guard, a healthy one promoted through every step, a different answer
caught, pause / promote now / abort, the record written before each step and removed at the end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from deployer_tui.core.canary import (
    GUARD_ANSWERS,
    GUARD_ERROR_RATE,
    GUARD_LATENCY,
    GUARD_REQUESTS,
    CanaryControl,
    CanaryError,
    CanaryProgress,
    Guards,
    plan_canary,
    revert_record,
    run_canary,
)
from deployer_tui.core.canary_probe import (
    VIA_DEPLOYER,
    VIA_NODES,
    DirectProber,
    ProbeQuery,
    ProbeRefused,
    ProbeTarget,
)
from deployer_tui.core.canary_state import CanaryStore
from deployer_tui.core.client import DeployerClient
from deployer_tui.core.latency_log import LatencyLog
from deployer_tui.core.rollback import mapping_key, single
from tests.canary.conftest import CanaryEnv, unique
from tests.deployer.conftest import ADMIN_KEY
from tests.strict.conftest import dead_url

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
    result = asyncio.run(canary(env, dep, "flaky", on_progress=seen.append, guards=Guards(min_requests=5)))
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
    # Ten answers per version at least, so that one jittery answer of v1 cannot hide the slowness.
    result = asyncio.run(canary(env, dep, "slow", soak_s=1.0, guards=Guards(min_requests=10)))
    assert result.outcome == "REVERTED" and result.failed_guard == GUARD_LATENCY, result.message
    reading = next(g for g in result.figures["guards"] if g["name"] == GUARD_LATENCY)
    assert reading["ok"] is False and "×" in reading["value"]
    versions = result.figures["versions"]
    assert versions["slow"]["p95"] > 1.5 * versions["v1"]["p95"]
    # The floor: "slow" sleeps 40 ms more per call than v1, well above the default 5 ms.
    assert versions["slow"]["p95"] - versions["v1"]["p95"] > Guards().min_latency_delta_ms
    assert reading["threshold"] == "≤ 1.5× or ≤ +5 ms" and " ms, +" in reading["value"]
    # One soak's p95 can be one stall: the breach was confirmed on fresh latencies before reverting.
    assert "confirmed on a second soak" in result.message
    assert_back_on_v1(env, dep)


def test_a_healthy_version_is_promoted_through_every_step(env: CanaryEnv) -> None:
    dep = unique("good")
    env.deploy(dep)
    store = CanaryStore()
    steps_seen: dict[int, str] = {}
    record_steps: set[int] = set()

    seen: list[CanaryProgress] = []

    def watch(progress: CanaryProgress) -> None:
        seen.append(progress)
        record = store.get(env.url, dep)
        if progress.phase == "soak":
            steps_seen[progress.percent] = str(progress.stats.keys())
            assert record is not None  # written before the step changed anything
            record_steps.add(record.step_index)

    # The default guards (a p95 ratio of 1.5 and 5 ms): each version is probed at the same rate in every
    # step, and the 100 % step is judged against v1's latencies of the earlier steps.
    result = asyncio.run(canary(env, dep, "good", guards=Guards(min_requests=4), on_progress=watch))
    assert result.outcome == "PROMOTED" and result.ok, result.message
    assert set(steps_seen) == {10, 50, 100} and record_steps == {0, 1, 2}
    assert "v1" not in steps_seen[100]  # the last step serves the new version alone: only it is probed
    latency = next(g for g in result.figures["guards"] if g["name"] == GUARD_LATENCY)
    assert latency["ok"] is True and latency["value"].endswith("against v1's p95 from earlier steps")
    # Alone at 100 %, "good" is probed at the rate each version had before (20/s shared by two), never
    # faster: a fixed schedule, no burst; the soak may have been extended once.
    last = seen[-1].steps[-1]
    soaked = SOAK * (2 if "extended" in last.note else 1)
    assert result.figures["versions"]["good"]["requests"] <= FAST["probe_rate"] / 2 * (soaked + 0.1) + 1
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
                                guards=Guards(match_answers=True, min_requests=4)))
    assert result.outcome == "REVERTED" and result.failed_guard == GUARD_ANSWERS, result.message
    example = result.figures["mismatchExample"]
    assert example["previous"] != example["new"] and '"y":' in example["new"]
    assert result.figures["versions"]["other"]["mismatches"] > 0
    assert_back_on_v1(env, dep)


def test_without_match_answers_a_different_answer_is_shown_not_judged(env: CanaryEnv) -> None:
    dep = unique("shown")
    env.deploy(dep)
    result = asyncio.run(canary(env, dep, "other", steps=(50, 100),
                                guards=Guards(min_requests=4)))
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


def test_through_the_deployer_errors_no_answer_names_still_revert(env: CanaryEnv) -> None:
    dep = unique("viadep")
    env.deploy(dep)
    seen: list[CanaryProgress] = []

    async def scenario():
        async with DeployerClient(env.url, ADMIN_KEY) as client:
            plan = await plan_canary(client, dep, "flaky", steps=(50, 100), soak_s=SOAK, probe_rate=20.0,
                                     guards=Guards(min_requests=4))
            return await run_canary(client, plan, seen.append, interval=0.05, probe="deployer")

    result = asyncio.run(scenario())
    assert result.outcome == "REVERTED" and result.failed_guard == GUARD_ERROR_RATE, result.message
    assert result.figures["probeVia"] == VIA_DEPLOYER
    # The deployer cannot pick a version: answers count for the version they name, errors for none.
    assert result.figures["notReported"]["errors"] > 0
    assert result.figures["versions"]["flaky"]["errors"] == 0
    assert result.figures["versions"]["flaky"]["source"] == "deployer test queries"
    reading = next(g for g in result.figures["guards"] if g["name"] == GUARD_ERROR_RATE)
    assert "not attributed" in reading["value"]
    assert_back_on_v1(env, dep)


def test_through_the_deployer_a_healthy_version_is_promoted(env: CanaryEnv) -> None:
    dep = unique("viadepok")
    env.deploy(dep)

    async def scenario():
        async with DeployerClient(env.url, ADMIN_KEY) as client:
            plan = await plan_canary(client, dep, "good", steps=(50, 100), soak_s=SOAK, probe_rate=20.0,
                                     guards=Guards(min_requests=3))
            return await run_canary(client, plan, interval=0.05, probe="deployer")

    result = asyncio.run(scenario())
    assert result.outcome == "PROMOTED", result.message
    assert result.figures["versions"]["good"]["requests"] > 0 and "notReported" not in result.figures
    assert env.served(dep) == "good"


def test_live_traffic_is_counted_per_version_from_the_node_metrics(env: CanaryEnv) -> None:
    dep = unique("live")
    env.deploy(dep)
    sent: list[int] = []
    live: list[int] = []

    def watch(progress: CanaryProgress) -> None:
        if progress.phase == "soak" and progress.percent == 10 and not sent:
            # 20 user queries to v1 while the canary soaks (sent from the callback, so they land in this step).
            for i in range(20):
                httpx.post(f"{env.node_url}/public/api/v1/svc-{dep}/calc/run", json={"x": i},
                           headers={"X-DKU-Forced-Generation": "v1"}, timeout=30).raise_for_status()
            sent.append(20)
        stats = progress.stats.get("v1")
        if stats is not None and stats.live_requests is not None:
            live.append(stats.live_requests)
            assert stats.source == "probes + node metrics"

    result = asyncio.run(canary(env, dep, "good", steps=(10, 100), on_progress=watch,
                                guards=Guards(min_requests=4)))
    assert result.outcome == "PROMOTED", result.message
    # Our own probes are not live traffic; a probe cancelled in flight at the end of the soak may be.
    assert live and 20 <= max(live) <= 20 + 16


def test_a_cancelled_canary_leaves_its_record_for_the_next_start(env: CanaryEnv) -> None:
    """The console quitting cancels the canary's task: the split stays, and so does the record saying so."""
    dep = unique("cancel")
    env.deploy(dep)

    async def scenario() -> None:
        async with DeployerClient(env.url, ADMIN_KEY) as client:
            plan = await plan_canary(client, dep, "good", soak_s=30.0, probe_rate=20.0)
            task: asyncio.Task | None = None

            def watch(progress: CanaryProgress) -> None:
                if progress.phase == "soak" and task is not None:
                    task.cancel()

            task = asyncio.create_task(run_canary(client, plan, watch, interval=0.05))
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(scenario())
    record = CanaryStore().get(env.url, dep)
    assert record is not None and record.step_index == 0 and not record.running_elsewhere
    assert env.saved_mapping(dep)["mode"] == "MULTI_GENERATION"

    async def revert():
        async with DeployerClient(env.url, ADMIN_KEY) as client:
            return await revert_record(client, record)

    assert asyncio.run(revert()).outcome == "REVERTED"
    assert_back_on_v1(env, dep)


def test_a_node_nobody_listens_on_refuses_direct_probes() -> None:
    async def scenario() -> None:
        target = ProbeTarget("d", "svc", [dead_url()], [ProbeQuery("calc", "PY_FUNCTION", 0, {"x": 1})])
        prober = DirectProber(target)
        try:
            with pytest.raises(ProbeRefused, match="cannot be reached"):
                await prober.probe("v1", target.queries[0])
        finally:
            await prober.aclose()

    asyncio.run(scenario())


def test_promote_now_during_the_last_step_ends_without_another_update(env: CanaryEnv) -> None:
    dep = unique("lastpromote")
    env.deploy(dep)
    control = CanaryControl()

    def watch(progress: CanaryProgress) -> None:
        if progress.phase == "soak" and progress.percent == 100:
            control.promote_now()

    async def scenario():
        async with DeployerClient(env.url, ADMIN_KEY) as client:
            plan = await plan_canary(client, dep, "good", steps=(100,), soak_s=30.0, probe_rate=20.0)
            result = await run_canary(client, plan, watch, control=control, interval=0.05)
            return result, await client.list_updates(dep)

    result, updates = asyncio.run(scenario())
    assert result.outcome == "PROMOTED", result.message
    assert len(updates) == 2  # the deployment's first update, and the canary's one step: no third
    assert env.served(dep) == "good" and CanaryStore().get(env.url, dep) is None


def test_abort_before_anything_changed_runs_no_update(env: CanaryEnv) -> None:
    dep = unique("earlyabort")
    env.deploy(dep)
    control = CanaryControl()
    control.abort()

    async def scenario():
        async with DeployerClient(env.url, ADMIN_KEY) as client:
            plan = await plan_canary(client, dep, "good", soak_s=30.0)
            result = await run_canary(client, plan, control=control, interval=0.05)
            return result, await client.list_updates(dep)

    result, updates = asyncio.run(scenario())
    assert result.outcome == "ABORTED" and len(updates) == 1
    assert CanaryStore().get(env.url, dep) is None
    assert_back_on_v1(env, dep)


def test_a_disabled_deployment_is_refused(env: CanaryEnv) -> None:
    dep = unique("disabled")
    settings = env.deployer.create_deployment(dep, "calc", "live", "v1").get_settings()
    settings.get_raw()["enabled"] = False
    settings.save()

    async def scenario() -> None:
        async with DeployerClient(env.url, ADMIN_KEY) as client:
            with pytest.raises(CanaryError, match="is disabled"):
                await plan_canary(client, dep, "good")

    asyncio.run(scenario())


def test_a_new_version_with_its_own_query_key_is_probed_with_it(env: CanaryEnv) -> None:
    """The light status gives the served version's access (public here): the new version's key is read from
    its package once a node refuses the probe without it."""
    dep = unique("keyed")
    env.deploy(dep)
    seen: list[CanaryProgress] = []
    result = asyncio.run(canary(env, dep, "keyed", steps=(50, 100), on_progress=seen.append,
                                guards=Guards(min_requests=4)))
    assert result.outcome == "PROMOTED", result.message
    assert all(p.probe_via in ("", VIA_NODES) for p in seen)
    assert result.figures["versions"]["keyed"]["requests"] > 0 and result.figures["versions"]["keyed"]["errors"] == 0


def test_through_the_deployer_a_node_refusing_its_key_is_not_an_error_of_the_version(env: CanaryEnv) -> None:
    dep = unique("keyeddep")
    env.deploy(dep)

    async def scenario():
        async with DeployerClient(env.url, ADMIN_KEY) as client:
            plan = await plan_canary(client, dep, "keyed", steps=(50, 100), soak_s=SOAK, probe_rate=20.0,
                                     guards=Guards(min_requests=3))
            return await run_canary(client, plan, interval=0.05, probe="deployer")

    result = asyncio.run(scenario())
    # At 50 % the deployer sends v1's access (none) and the node refuses it for "keyed": such probes say
    # nothing of how "keyed" answers, so they are not its errors; with no answer to judge, the canary reverts.
    assert result.outcome == "REVERTED" and result.failed_guard == GUARD_REQUESTS, result.message
    assert "refused by a node for their key" in result.message
    assert result.figures["versions"]["keyed"]["errors"] == 0
    assert_back_on_v1(env, dep)


def test_a_split_the_deployer_refuses_to_save_changes_nothing(env: CanaryEnv) -> None:
    dep = unique("governed")
    env.deploy(dep, infra="governed")

    async def scenario():
        async with DeployerClient(env.url, ADMIN_KEY) as client:
            plan = await plan_canary(client, dep, "good", soak_s=SOAK)
            result = await run_canary(client, plan, interval=0.05)
            return result, await client.list_updates(dep)

    result, updates = asyncio.run(scenario())
    assert result.outcome == "FAILED" and "Govern" in (result.error or "") and "nothing was changed" in result.message
    assert len(updates) == 1 and CanaryStore().get(env.url, dep) is None
    assert mapping_key(env.saved_mapping(dep)) == mapping_key(single("v1"))
