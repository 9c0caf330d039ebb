"""The canary engine against `serve --dss-strict`: futures without logs in peeks, results without node
counts, no `last-update`, heavy statuses whose nodes carry only their URL. SUCCESS is still told on evidence
(the update list's status), and a breach still reverts."""

from __future__ import annotations

import asyncio

from deployer_tui.core.canary import GUARD_ERROR_RATE, CanaryProgress, Guards, plan_canary, run_canary
from deployer_tui.core.canary_probe import VIA_NODES
from deployer_tui.core.client import DeployerClient
from deployer_tui.core.rollback import mapping_key, single
from tests.canary.conftest import CanaryEnv, unique
from tests.deployer.conftest import ADMIN_KEY


async def canary(env: CanaryEnv, dep: str, target: str, guards: Guards, on_progress=None):
    async with DeployerClient(env.url, ADMIN_KEY) as client:
        plan = await plan_canary(client, dep, target, steps=(10, 100), soak_s=0.5, probe_rate=20.0, guards=guards)
        return await run_canary(client, plan, on_progress, interval=0.05)


def test_on_a_strict_deployer_a_failing_version_is_reverted(strict_env: CanaryEnv) -> None:
    dep = unique("sflaky")
    strict_env.deploy(dep)
    result = asyncio.run(canary(strict_env, dep, "flaky", Guards(min_requests=5)))
    assert result.outcome == "REVERTED" and result.failed_guard == GUARD_ERROR_RATE, result.message
    assert mapping_key(strict_env.saved_mapping(dep)) == mapping_key(single("v1"))
    assert strict_env.status(dep)["health"] == "HEALTHY" and strict_env.served(dep) == "v1"


def test_on_a_strict_deployer_a_healthy_version_is_promoted(strict_env: CanaryEnv) -> None:
    dep = unique("sgood")
    strict_env.deploy(dep)
    seen: list[CanaryProgress] = []
    result = asyncio.run(canary(strict_env, dep, "good", Guards(min_requests=4),
                                seen.append))
    assert result.outcome == "PROMOTED", result.message
    assert any(p.probe_via == VIA_NODES for p in seen)
    assert strict_env.served(dep) == "good"
