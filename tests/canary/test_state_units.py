"""Pure parts of the canary: plans and their mappings, the control, the state record files, the latency log."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from deployer_tui.core import canary_state
from deployer_tui.core.canary import (
    MAX_PROBE_RATE,
    CanaryControl,
    CanaryError,
    CanaryPlan,
    CanaryResult,
    Guards,
    VersionStats,
    parse_steps,
)
from deployer_tui.core.canary_state import CanaryRecord, CanaryStore
from deployer_tui.core.latency_log import NOT_REPORTED, LatencyLog, LatencySample, percentile
from deployer_tui.core.rollback import mapping_key, single

URL = "http://deployer.example:11200"


def plan(**kw) -> CanaryPlan:
    base = {"deployment_id": "dep", "target": "v2", "previous": single("v1")}
    return CanaryPlan(**{**base, **kw})


# ---- plans -----------------------------------------------------------------------------------------------------


def test_the_default_plan_is_valid_and_its_steps_split_then_end_on_the_target_alone() -> None:
    p = plan()
    p.validate()
    assert p.mapping_at(10) == {"mode": "MULTI_GENERATION", "strategy": "HASH_BASED",
                                "entries": [{"generation": "v1", "proba": 0.9}, {"generation": "v2", "proba": 0.1}]}
    assert p.mapping_at(100) == single("v2")


def test_a_split_before_the_canary_keeps_its_proportions_and_shares_sum_to_one() -> None:
    previous = {"mode": "MULTI_GENERATION", "strategy": "RANDOM",
                "entries": [{"generation": "a", "proba": 0.75}, {"generation": "b", "proba": 0.25}]}
    p = plan(previous=previous, target="c", steps=(33, 100), strategy="RANDOM")
    m = p.mapping_at(33)
    probas = {e["generation"]: e["proba"] for e in m["entries"]}
    assert probas["c"] == 0.33 and abs(probas["a"] - 0.5025) < 1e-6 and abs(probas["b"] - 0.1675) < 1e-6
    assert abs(sum(probas.values()) - 1) < 1e-9 and m["strategy"] == "RANDOM"


def test_a_target_already_in_the_previous_split_is_not_listed_twice() -> None:
    previous = {"mode": "MULTI_GENERATION", "strategy": "RANDOM",
                "entries": [{"generation": "v1", "proba": 0.9}, {"generation": "v2", "proba": 0.1}]}
    m = plan(previous=previous).mapping_at(50)
    assert [e["generation"] for e in m["entries"]] == ["v1", "v2"]
    assert mapping_key(m) == (("v1", 0.5), ("v2", 0.5), "HASH_BASED")


@pytest.mark.parametrize(("kw", "words"), [
    ({"steps": ()}, "at least one step"),
    ({"steps": (50, 10, 100)}, "strictly increasing"),
    ({"steps": (10, 50)}, "last step must be 100"),
    ({"steps": (0, 100)}, "from 1 to 100"),
    ({"steps": (10, 150)}, "from 1 to 100"),
    ({"strategy": "ROUND_ROBIN"}, "HASH_BASED or RANDOM"),
    ({"soak_s": -1}, "cannot be negative"),
    ({"probe_rate": 0}, "above 0"),
    ({"probe_rate": MAX_PROBE_RATE + 1}, "must not flood"),
    ({"guards": Guards(max_error_rate=2)}, "fraction between 0 and 1"),
    ({"guards": Guards(max_latency_ratio=0.5)}, "at least 1"),
    ({"guards": Guards(min_requests=0)}, "whole number"),
    ({"previous": single("v2")}, "already has v2 alone"),
    ({"target": ""}, "--to VERSION"),
])
def test_a_bad_plan_is_refused_in_words(kw: dict, words: str) -> None:
    with pytest.raises(CanaryError, match=words):
        plan(**kw).validate()


def test_the_probe_rate_bound_is_configurable_per_plan() -> None:
    plan(probe_rate=80, max_probe_rate=100).validate()


def test_a_plan_survives_json_and_garbage_is_refused() -> None:
    p = plan(steps=(5, 25, 100), strategy="RANDOM", soak_s=0.5, guards=Guards(0.05, 2.0, True, 3),
             probe_rate=20, stage="Production")
    back = CanaryPlan.from_json(json.loads(json.dumps(p.to_json())))
    assert back == p and back.production
    with pytest.raises(CanaryError, match="not a canary plan"):
        CanaryPlan.from_json({"target": "v2"})
    with pytest.raises(CanaryError, match="not a canary plan"):
        CanaryPlan.from_json({"deploymentId": "d", "target": "v2", "steps": ["x"]})


def test_steps_are_parsed_from_the_command_line_form() -> None:
    assert parse_steps("10, 50%,100") == (10, 50, 100)
    with pytest.raises(CanaryError, match="comma-separated"):
        parse_steps("10;50")


# ---- figures -------------------------------------------------------------------------------------------------


def test_version_stats_count_errors_apart_from_latencies() -> None:
    s = VersionStats("v2")
    assert s.error_rate is None and s.p50 is None and s.p95 is None
    for i in range(1, 21):
        s.add(True, float(i))
    s.add(False, 0.1)
    assert (s.requests, s.errors) == (21, 1) and s.error_rate == pytest.approx(1 / 21)
    assert s.p50 == 10.0 and s.p95 == 19.0
    copied = s.copy()
    s.add(True, 100.0)
    assert len(copied.latencies_ms) == 20


def test_percentile_is_the_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    assert percentile(range(1, 101), 0.95) == 95


def test_a_result_renders_as_json() -> None:
    result = CanaryResult("dep", "REVERTED", False, single("v1"), single("v1"), "error rate", 10, {"v2": {}})
    doc = json.loads(json.dumps(result.to_json()))
    assert doc["outcome"] == "REVERTED" and doc["finalText"] == "v1" and doc["failedStep"] == 10


# ---- the control ---------------------------------------------------------------------------------------------


def test_the_control_wakes_the_engine_from_its_loop_and_from_another_thread() -> None:
    async def scenario() -> None:
        control = CanaryControl()
        event = control.bind()
        control.pause()
        assert event.is_set() and control.paused
        event.clear()
        threading.Thread(target=control.abort).start()
        await asyncio.wait_for(event.wait(), 5)
        assert control.abort_requested and not control.paused

    asyncio.run(scenario())


def test_a_request_made_before_the_engine_binds_is_not_lost() -> None:
    async def scenario() -> None:
        control = CanaryControl()
        control.promote_now()
        assert control.bind().is_set() and control.promote_requested

    asyncio.run(scenario())


# ---- the state record ----------------------------------------------------------------------------------------


def record(deployment: str = "dep", **kw) -> CanaryRecord:
    base = {"deployer_url": URL, "deployment_id": deployment, "plan": plan().to_json(), "previous": single("v1"),
            "target": "v2", "step_index": 1, "started_ms": 1000, "updated_ms": 2000}
    return CanaryRecord(**{**base, **kw})


def test_a_record_is_written_0600_in_a_0700_directory_and_read_back(tmp_path: Path) -> None:
    store = CanaryStore(tmp_path / "canary")
    store.write(record())
    path = store.path(URL, "dep")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "deployer.example" not in path.name and "dep" not in path.name.split("-")[0]
    assert store.get(URL, "dep") == record()
    assert not list(path.parent.glob("*.tmp"))
    store.remove(URL, "dep")
    assert store.get(URL, "dep") is None
    store.remove(URL, "dep")  # removing twice is fine


def test_our_own_record_is_pending_a_live_one_of_another_process_is_not(tmp_path: Path) -> None:
    store = CanaryStore(tmp_path)
    store.write(record("mine"))
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        store.write(record("theirs", pid=child.pid))
        assert store.get(URL, "theirs").running_elsewhere
        assert [r.deployment_id for r in store.pending(URL)] == ["mine"]
    finally:
        child.kill()
        child.wait()
    assert not store.get(URL, "theirs").running_elsewhere  # dead now: left half-way
    assert sorted(r.deployment_id for r in store.pending(URL)) == ["mine", "theirs"]


def test_a_record_of_another_deployer_or_host_is_told_apart(tmp_path: Path) -> None:
    store = CanaryStore(tmp_path)
    store.write(record(deployer_url="http://other:1"))
    store.write(record("far", host="another-machine", pid=1))
    assert [r.deployment_id for r in store.pending(URL)] == ["far"]
    assert store.get(URL, "far").other_host and not store.get(URL, "far").running_elsewhere


def test_a_corrupt_record_is_reported_never_a_crash(tmp_path: Path) -> None:
    store = CanaryStore(tmp_path)
    store.write(record("good"))
    store.path(URL, "bad").write_text("{not json")
    store.path(URL, "half").write_text(json.dumps({"deployerUrl": URL, "deploymentId": "half"}))
    assert [r.deployment_id for r in store.pending(URL)] == ["good"]
    assert len(store.problems) == 2 and all("cannot be read" in p for p in store.problems)
    assert store.get(URL, "bad") is None


def test_a_dead_pid_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not canary_state.pid_alive(child.pid)
    assert canary_state.pid_alive(os.getpid())
    assert not canary_state.pid_alive(0)


# ---- the latency log -----------------------------------------------------------------------------------------


def sample(i: int, version: str | None = "v1", ok: bool = True, deployment: str = "dep") -> LatencySample:
    return LatencySample(1000 + i, deployment, version, "echo", float(i), ok, "canary")


def test_the_latency_log_is_a_0600_jsonl_file_per_deployer(tmp_path: Path) -> None:
    log = LatencyLog(URL, tmp_path / "latency")
    log.append([sample(1), sample(2, "v2", ok=False)])
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700
    lines = log.path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["version"] == "v2"
    again = LatencyLog(URL, tmp_path / "latency")
    assert [s.latency_ms for s in again.samples("dep")] == [1.0, 2.0]


def test_the_log_is_bounded_and_keeps_the_newest(tmp_path: Path) -> None:
    log = LatencyLog(URL, tmp_path, max_samples=200)
    for start in range(0, 1000, 50):
        log.append(sample(i) for i in range(start, start + 50))
    assert len(log.path.read_text().splitlines()) <= 200 + log.slack
    kept = log.samples("dep", limit=10_000)
    assert len(kept) == 200 and kept[-1].latency_ms == 999.0 and kept[0].latency_ms == 800.0
    assert not list(tmp_path.glob("*.tmp"))


def test_samples_are_per_deployment_newest_limited_oldest_first(tmp_path: Path) -> None:
    log = LatencyLog(URL, tmp_path)
    log.append([sample(i, deployment="dep" if i % 2 else "other") for i in range(10)])
    assert [s.latency_ms for s in log.samples("dep", limit=3)] == [5.0, 7.0, 9.0]
    assert log.samples("dep", limit=0) == []


def test_the_summary_is_per_version_and_unnamed_answers_are_not_reported(tmp_path: Path) -> None:
    log = LatencyLog(URL, tmp_path)
    log.append([*(sample(i) for i in range(1, 21)), sample(50, "v2"), sample(0, "v2", ok=False), sample(3, None)])
    summary = log.summary("dep")
    assert set(summary) == {"v1", "v2", NOT_REPORTED}
    assert summary["v1"].count == 20 and summary["v1"].p50 == 10.0 and summary["v1"].p95 == 19.0
    assert summary["v2"].errors == 1 and summary["v2"].error_rate == 0.5 and summary["v2"].p95 == 50.0
    assert summary[NOT_REPORTED].count == 1


def test_bad_lines_are_skipped(tmp_path: Path) -> None:
    log = LatencyLog(URL, tmp_path)
    log.append([sample(1)])
    with log.path.open("a") as fh:
        fh.write("garbage\n{\"at\": \"x\"}\n")
    log.append([sample(2)])
    assert [s.latency_ms for s in LatencyLog(URL, tmp_path).samples("dep")] == [1.0, 2.0]


def test_a_bound_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LatencyLog(URL, tmp_path, max_samples=0)


def test_delete_rollback_and_canary_read_a_production_stage_by_the_one_rule() -> None:
    """core/production.py decides for all three: a stage named like production, qualifiers undoing it."""
    from deployer_tui.core.canary import CanaryPlan
    from deployer_tui.core.rollback import RollbackPlan

    for stage, expected in (("Production", True), ("prd", True), ("Live", True), ("pre-prod", False),
                            ("Development", False), (None, False)):
        assert CanaryPlan("d", "v2", stage=stage).production is expected, stage
        assert RollbackPlan("d", None, {"mode": "SINGLE_GENERATION", "generation": "v1"}, stage=stage).production \
            is expected, stage
