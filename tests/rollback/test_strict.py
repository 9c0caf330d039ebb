"""On `serve --dss-strict` the update records say nothing of what they deployed: the history's mappings
come from the console's journal alone."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from deployer_tui.core.journal import Journal, JournalRecord
from deployer_tui.core.rollback import RollbackError, plan_rollback, read_history, run_rollback
from tests.deployer.conftest import ADMIN_KEY
from tests.rollback.conftest import deploy, our_client, served_version
from tests.strict.conftest import Env


def test_strict_records_withhold_the_mapping_and_the_reason(strict_env: Env) -> None:
    deploy(strict_env, "st1", ["v1"])
    base = f"{strict_env.url}/public/api/api-deployer/deployments/st1/update"
    listed = httpx.get(base, auth=(ADMIN_KEY, ""), timeout=30).json()
    full = httpx.get(f"{base}/{listed[0]['startTimestamp']}", auth=(ADMIN_KEY, ""), timeout=30).json()
    for body in (listed[0], full):
        assert not {"deployedMapping", "deployedEnabled", "reason"} & set(body)
    assert full["requester"] and full["status"] == "SUCCESS"


def test_a_journal_only_history_on_strict(strict_env: Env) -> None:
    deploy(strict_env, "st2", ["v1", "v2"])
    journal = Journal(strict_env.url)

    async def go():
        async with our_client(strict_env) as client:
            with pytest.raises(RollbackError):
                await plan_rollback(client, "st2")  # the deployer says nothing of what was deployed
            first = await run_rollback(client, await plan_rollback(client, "st2", "v1"))
            again = await run_rollback(client, await plan_rollback(client, "st2", "v2"))
            plan = await plan_rollback(client, "st2")  # now the journal knows v1 and v2 succeeded
            history = await read_history(client, "st2", journal)
            return first, again, plan, history

    first, again, plan, history = asyncio.run(go())
    assert first.ok and again.ok and first.outcome == "SUCCESS"
    assert plan.target_text == "v1" and plan.nodes is None  # strict: no per-node data
    assert len(history) == 4
    assert [(r.mapping or {}).get("generation") for r in history] == ["v2", "v1", None, None]
    assert [r.in_journal for r in history] == [True, True, False, False]
    assert not any(r.journal_only for r in history)  # the deployer lists each of them
    assert served_version(strict_env, "st2") == "v2"

    # An update the deployer no longer lists (an old one, a record it dropped): known from the journal only.
    journal.write(JournalRecord("st2", history[-1].start - 3_600_000, {"mode": "SINGLE_GENERATION",
                                                                        "generation": "v3"}, "update", "SUCCESS"))

    async def again_history():
        async with our_client(strict_env) as client:
            return await read_history(client, "st2", journal)

    rows = asyncio.run(again_history())
    assert len(rows) == 5 and rows[-1].journal_only and rows[-1].mapping["generation"] == "v3"
    assert not any(r.journal_only for r in rows[:-1])
