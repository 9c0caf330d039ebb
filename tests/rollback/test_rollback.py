"""Rollback against a real `serve` and its API node: the node's answers prove which version is served."""

from __future__ import annotations

import asyncio

import dataikuapi
import httpx
import pytest

from deployer_tui.core import skew
from deployer_tui.core.journal import Journal
from deployer_tui.core.rollback import RollbackError, forward_plan, plan_rollback, run_rollback
from tests import servers
from tests.deployer.conftest import ADMIN_KEY, wait_for
from tests.rollback.conftest import deploy, our_client, served_version
from tests.strict.conftest import Env


async def _plan_and_run(env: Env, dep_id: str, to: str | None = None):
    async with our_client(env) as client:
        plan = await plan_rollback(client, dep_id, to)
        events = []
        summary = await run_rollback(client, plan, events.append)
        records = await client.list_updates(dep_id)
        return plan, summary, events, records


def test_rollback_serves_the_previous_version_and_runs_the_test_queries(plain_env: Env) -> None:
    deploy(plain_env, "rb1", ["v1", "v2"])
    assert served_version(plain_env, "rb1") == "v2"
    plan, summary, events, records = asyncio.run(_plan_and_run(plain_env, "rb1"))
    assert (plan.current_text, plan.target_text) == ("v2", "v1")
    assert plan.nodes is not None and [n.versions for n in plan.nodes.values()] == [("v2",)]
    assert summary.ok and summary.outcome == "SUCCESS"
    assert (summary.queries_ok, summary.queries_failed) == (2, 0)
    assert served_version(plain_env, "rb1") == "v1"
    assert [e.step for e in events][:2] == ["save", "start"] and events[-1].step == "done"
    assert any(e.lines for e in events), "the update's log is followed live"
    newest = records[0]
    assert newest["reason"] == "ROLLBACK" and newest["deployedMapping"]["generation"] == "v1"
    assert newest["status"] == "SUCCESS" and newest["requester"]
    journal = Journal(plain_env.url).records("rb1")
    assert [(r.kind, r.outcome, r.mapping["generation"]) for r in journal] == [("rollback", "SUCCESS", "v1")]
    assert summary.roll_forward == {"mode": "SINGLE_GENERATION", "generation": "v2"}


def test_roll_forward_after_a_rollback(plain_env: Env) -> None:
    deploy(plain_env, "rb2", ["v1", "v2"])

    async def go():
        async with our_client(plain_env) as client:
            plan = await plan_rollback(client, "rb2")
            await run_rollback(client, plan)
            forward = forward_plan(plan)
            assert forward is not None and forward.kind == "rollforward"
            summary = await run_rollback(client, forward)
            return summary, await client.list_updates("rb2")

    summary, records = asyncio.run(go())
    assert summary.ok and served_version(plain_env, "rb2") == "v2"
    assert [r["reason"] for r in records[:2]] == ["ROLLFORWARD", "ROLLBACK"]


def test_rollback_to_an_older_version(plain_env: Env) -> None:
    deploy(plain_env, "rb3", ["v1", "v2", "v3"])

    async def plan_only():
        async with our_client(plain_env) as client:
            return await plan_rollback(client, "rb3")

    assert asyncio.run(plan_only()).target_text == "v2"  # without --to: the one just before
    plan, summary, _events, _records = asyncio.run(_plan_and_run(plain_env, "rb3", "v1"))
    assert plan.target_text == "v1" and summary.ok
    assert served_version(plain_env, "rb3") == "v1"


def test_no_rollback_target_is_said_and_changes_nothing(plain_env: Env) -> None:
    deploy(plain_env, "rb4", ["v1"])

    async def go():
        async with our_client(plain_env) as client:
            with pytest.raises(RollbackError, match="no earlier successful update"):
                await plan_rollback(client, "rb4")
            return await client.list_updates("rb4")

    assert len(asyncio.run(go())) == 1
    assert served_version(plain_env, "rb4") == "v1"


def test_a_skew_made_behind_the_deployers_back_is_detected(plain_env: Env, tmp_path) -> None:
    other = servers.apinode(tmp_path / "node2", "node2-admin-key")
    try:
        infra = plain_env.deployer.create_infra("two-nodes", "Development", "STATIC")
        settings = infra.get_settings()
        settings.add_apinode(plain_env.node_url, plain_env.node_key)
        settings.add_apinode(other.url("apinode"), "node2-admin-key")
        settings.save()
        deploy(plain_env, "rb5", ["v1", "v2"], infra="two-nodes")

        async def heavy():
            async with our_client(plain_env) as client:
                return await client.get_deployment_status("rb5")

        assert skew.skew(asyncio.run(heavy())) is None
        admin = dataikuapi.APINodeAdminClient(other.url("apinode"), "node2-admin-key")
        admin.service("svc-rb5").switch_to_single_generation("v1")
        # The deployer caches what nodes say for a moment: the skew shows once it asks them again.
        found = wait_for(lambda: skew.skew(asyncio.run(heavy())), timeout=30, what="the skew to show")
        assert found is not None and other.url("apinode") in found and "v1" in found and "v2" in found
        table = skew.matrix([("rb5", asyncio.run(heavy()))], [plain_env.node_url, other.url("apinode")])
        assert [c.cell for c in table.rows[0].cells.values()] == ["v2", "v1"] and table.skewed
    finally:
        other.stop()


def test_a_bad_reason_is_refused(plain_env: Env) -> None:
    deploy(plain_env, "rb6", ["v1"])
    resp = httpx.post(f"{plain_env.url}/public/api/api-deployer/deployments/rb6/actions/update",
                      params={"reason": "OOPS"}, auth=(ADMIN_KEY, ""), timeout=30)
    assert resp.status_code == 400 and resp.json()["errorType"] and "reason" in resp.json()["message"]
    listed = httpx.get(f"{plain_env.url}/public/api/api-deployer/deployments/rb6/update",
                       auth=(ADMIN_KEY, ""), timeout=30).json()
    assert len(listed) == 1  # no update was started
