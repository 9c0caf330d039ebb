"""Concurrent requests on one deployment: updates and deletes are serialised, the losers get a 409, and no
update record or log line is left without its deployment."""

from __future__ import annotations

import asyncio
import sqlite3

from tests.deployer.conftest import BlackHole, wait_for
from tests.security.deployer_env import DEPLOYMENT, INFRA, SERVICE, Env, start, update

STARTS = 12  # update starts sent at once per round
ROUNDS = 5


def _records(env: Env, dep_id: str) -> list[dict]:
    with env.http() as http:
        resp = http.get(f"/api-deployer/deployments/{dep_id}/update")
        return resp.json() if resp.status_code == 200 else []


def _wait_idle(env: Env) -> None:
    with env.http() as http:
        wait_for(lambda: not http.get("/futures", params={"allUsers": "true"}).json(), what="no running update")


def test_simultaneous_update_starts_accept_exactly_one(tmp_path):
    env = start(tmp_path)
    hole = BlackHole()  # a second node that never answers holds each accepted update RUNNING until aborted
    try:
        with env.http() as http:
            settings = http.get(f"/api-deployer/infras/{INFRA}/settings").json()
            settings["apiNodes"].append({"url": hole.url, "adminAPIKey": "never-checked"})
            assert http.put(f"/api-deployer/infras/{INFRA}/settings", json=settings).status_code == 200

        async def round_() -> list:
            async with env.async_http() as http:
                url = f"/api-deployer/deployments/{DEPLOYMENT}/actions/update"
                return await asyncio.gather(*(http.post(url) for _ in range(STARTS)))

        for n in range(1, ROUNDS + 1):
            answers = asyncio.run(round_())
            accepted = [r for r in answers if r.status_code == 200]
            assert len(accepted) == 1, [r.status_code for r in answers]
            job = accepted[0].json()["jobId"]
            for resp in answers:
                if resp.status_code != 200:
                    assert resp.status_code == 409 and "already running" in resp.json()["message"], resp.text
            assert len(_records(env, DEPLOYMENT)) == n  # one record per round, never two
            with env.http() as http:
                assert http.delete(f"/futures/{job}").status_code == 200
            _wait_idle(env)
    finally:
        env.proc.stop()
        hole.close()


def _orphans(env: Env) -> tuple[int, int]:
    """Update records and log lines whose deployment no longer exists, read from the database itself."""
    with sqlite3.connect(f"file:{env.data / 'deployer.db'}?mode=ro", uri=True) as db:
        records = db.execute("SELECT COUNT(*) FROM updates WHERE deployment_id NOT IN "
                             "(SELECT id FROM deployments)").fetchone()[0]
        lines = db.execute("SELECT COUNT(*) FROM update_logs WHERE deployment_id NOT IN "
                           "(SELECT id FROM deployments)").fetchone()[0]
    return records, lines


def test_a_delete_and_an_update_sent_together_are_serialised(tmp_path):
    env = start(tmp_path)
    try:
        outcomes = []
        for trial in range(ROUNDS):
            dep_id = f"race-{trial}"
            with env.http() as http:
                assert http.post("/api-deployer/deployments", json={
                    "deploymentId": dep_id, "publishedServiceId": SERVICE, "infraId": INFRA,
                    "version": "v1"}).status_code == 200
                assert update(http, dep_id)["result"]["nbOKNodes"] == 1  # deployed: the delete visits the node
                settings = http.get(f"/api-deployer/deployments/{dep_id}/settings").json()
                assert http.put(f"/api-deployer/deployments/{dep_id}/settings",
                                json={**settings, "enabled": False}).status_code == 200

            async def race(dep_id: str = dep_id) -> tuple:
                async with env.async_http() as http:
                    return await asyncio.gather(
                        http.delete(f"/api-deployer/deployments/{dep_id}"),
                        http.post(f"/api-deployer/deployments/{dep_id}/actions/update"))

            deleted, updated = asyncio.run(race())
            assert (deleted.status_code, updated.status_code) != (200, 200), "both were accepted"
            assert 200 in (deleted.status_code, updated.status_code), (deleted.text, updated.text)
            loser = updated if deleted.status_code == 200 else deleted
            assert loser.status_code in (404, 409), loser.text
            outcomes.append("delete" if deleted.status_code == 200 else "update")
            _wait_idle(env)
        assert _orphans(env) == (0, 0)
    finally:
        env.proc.stop()
