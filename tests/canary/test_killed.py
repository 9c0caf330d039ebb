"""A console killed mid-canary (kill -9 of a process running run_canary, mid-soak): its record says so, and
the next start can revert it to the mapping from before the canary, or resume it."""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from deployer_tui.core.canary import CanaryError, resume_record, revert_record
from deployer_tui.core.canary_state import CanaryRecord, CanaryStore
from deployer_tui.core.client import DeployerClient
from deployer_tui.core.rollback import mapping_key, single
from tests.canary.conftest import CanaryEnv, unique
from tests.deployer.conftest import ADMIN_KEY

CHILD = """
import asyncio, sys
from deployer_tui.core.canary import Guards, plan_canary, run_canary
from deployer_tui.core.client import DeployerClient

async def main(url, key, dep, target):
    def progress(p):
        if p.phase == "soak":
            print("SOAKING", p.step_index, flush=True)
    async with DeployerClient(url, key) as client:
        plan = await plan_canary(client, dep, target, soak_s=120, probe_rate=5, guards=Guards(min_requests=2))
        await run_canary(client, plan, progress, interval=0.05)

asyncio.run(main(*sys.argv[1:]))
"""


def kill_mid_soak(env: CanaryEnv, dep: str, target: str, state_home: Path) -> None:
    """Start a canary in a child process, kill -9 it once it soaks at the first step."""
    repo = str(Path(__file__).resolve().parents[2])
    child_env = {**os.environ, "XDG_STATE_HOME": str(state_home), "PYTHONPATH": repo}
    child = subprocess.Popen([sys.executable, "-c", CHILD, env.url, ADMIN_KEY, dep, target], env=child_env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    output = []
    try:
        while True:
            line = lines.get(timeout=60)
            if line is None:
                raise AssertionError(f"the canary process ended before soaking: {''.join(output)}")
            output.append(line)
            if line.startswith("SOAKING 0"):
                break
    finally:
        child.kill()
        child.wait(10)


def test_a_killed_canary_is_offered_and_reverted(env: CanaryEnv, state_home: Path) -> None:
    dep = unique("killed")
    env.deploy(dep)
    kill_mid_soak(env, dep, "good", state_home)
    assert env.saved_mapping(dep)["mode"] == "MULTI_GENERATION"  # left half-way, with the split in place

    store = CanaryStore()
    pending = store.pending(env.url)
    assert [r.deployment_id for r in pending] == [dep]
    record = pending[0]
    assert record.step_index == 0 and record.target == "good" and not record.running_elsewhere
    assert mapping_key(record.previous) == mapping_key(single("v1"))

    async def revert():
        async with DeployerClient(env.url, ADMIN_KEY) as client:
            return await revert_record(client, record)

    result = asyncio.run(revert())
    assert result.outcome == "REVERTED", result.message
    assert mapping_key(env.saved_mapping(dep)) == mapping_key(single("v1"))
    assert env.status(dep)["health"] == "HEALTHY" and env.served(dep) == "v1"
    assert store.pending(env.url) == [] and store.get(env.url, dep) is None


def test_a_killed_canary_can_be_resumed_to_the_end(env: CanaryEnv, state_home: Path) -> None:
    dep = unique("resumed")
    env.deploy(dep)
    kill_mid_soak(env, dep, "good", state_home)
    record = CanaryStore().get(env.url, dep)
    assert record is not None
    # The resumed run keeps the plan, only shorter soaks make the test quick.
    record.plan = {**record.plan, "soakS": 0.4, "probeRate": 20.0,
                   "guards": {**record.plan["guards"], "minRequests": 4, "maxLatencyRatio": 5.0}}

    async def resume():
        async with DeployerClient(env.url, ADMIN_KEY) as client:
            return await resume_record(client, record, interval=0.05)

    result = asyncio.run(resume())
    assert result.outcome == "PROMOTED", result.message
    assert env.served(dep) == "good" and CanaryStore().get(env.url, dep) is None


def test_a_record_another_live_console_runs_is_refused(env: CanaryEnv) -> None:
    dep = unique("elsewhere")
    env.deploy(dep)
    holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        record = CanaryRecord(env.url, dep, {"deploymentId": dep, "target": "good"}, single("v1"), "good", 0,
                              1, 1, pid=holder.pid)
        CanaryStore().write(record)
        assert CanaryStore().pending(env.url) == []

        async def revert():
            async with DeployerClient(env.url, ADMIN_KEY) as client:
                return await revert_record(client, record)

        with pytest.raises(CanaryError, match="another console"):
            asyncio.run(revert())
    finally:
        holder.kill()
        holder.wait()
    assert mapping_key(env.saved_mapping(dep)) == mapping_key(single("v1"))
