"""Unit tests of the pieces the HTTP tests cannot reach deterministically: futures cancelled before
they start, store recovery after a crash, mapping checks at their edges."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from deployer_tui.server.deployer import model
from deployer_tui.server.deployer.database import ERROR, Store
from deployer_tui.server.deployer.jobs import FutureRegistry, JobFailed
from deployer_tui.server.http import DSSHTTPError


async def test_future_cancelled_before_it_starts_still_ends():
    registry = FutureRegistry()
    ran = []

    async def body(job):
        ran.append(job.job_id)
        return 1

    job = registry.start("never runs", "admin", {}, body)
    await registry.abort(job, "aborted by admin")
    assert ran == [] and not job.alive and job.aborted
    status, state = registry.read(job, peek=False)
    assert status == 200 and state["aborted"] is True and state["hasResult"] is False
    with pytest.raises(DSSHTTPError, match="No future by that id"):
        registry.get(job.job_id)  # an aborted future is answered once, then forgotten


async def test_failed_future_answers_its_error_and_finished_one_stays_claimable():
    registry = FutureRegistry()

    async def fail(job):
        raise JobFailed("nope")

    async def succeed(job):
        job.log(1, "hello")
        return {"ok": True}

    failed = registry.start("fails", "admin", {}, fail)
    done = registry.start("works", "admin", {}, succeed)
    await asyncio.wait([failed.task, done.task])
    status, body = registry.read(failed, peek=False)
    assert status == 500 and body["message"] == "nope" and "errorType" in body
    assert registry.read(failed, peek=True)[1]["hasResult"] is True  # peek: finished
    for _ in range(2):  # claimable more than once
        status, body = registry.read(registry.get(done.job_id), peek=False)
        assert status == 200 and body["result"] == {"ok": True} and body["log"]["lines"][0].endswith("hello")


def test_store_recovers_interrupted_updates_and_orphan_zips(tmp_path: Path):
    store = Store(tmp_path)
    store.insert("services", model.new_service("svc", "admin"), "admin")
    store.insert("deployments", model.new_deployment("d", "svc", "i", "v1", None, None), "admin")
    ts = store.start_update("d", "UPDATE", "admin")
    store.append_update_log("d", ts, 1, "started")
    orphan = store.version_path("svc", "ghost")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"zip")
    (store.tmp_dir / "upload-x.zip").write_bytes(b"partial")
    store.close()

    again = Store(tmp_path)
    assert again.fail_interrupted_updates("restarted") == 1
    assert again.remove_orphan_zips() == 1
    update = again.get_update("d", ts)
    assert update["status"] == "FAILED" and update["end_ts"] is not None
    assert [(log["level"], log["line"]) for log in update["logs"]] == [(1, "started"), (ERROR, "restarted")]
    assert not orphan.exists() and list(again.tmp_dir.iterdir()) == []
    assert again.fail_interrupted_updates("restarted") == 0


def test_store_refuses_a_duplicate_version_and_keeps_the_first(tmp_path: Path):
    store = Store(tmp_path)
    store.insert("services", model.new_service("svc", "admin"), "admin")
    first = tmp_path / "first.zip"
    first.write_bytes(b"one")
    assert store.add_version("svc", "v1", {"endpoints": []}, "admin", first) is True
    second = tmp_path / "second.zip"
    second.write_bytes(b"two")
    assert store.add_version("svc", "v1", {"endpoints": []}, "admin", second) is False
    assert store.version_path("svc", "v1").read_bytes() == b"one" and second.exists()


def test_update_timestamps_are_unique(tmp_path: Path):
    store = Store(tmp_path)
    store.insert("deployments", {"id": "d"}, "admin")
    stamps = [store.start_update("d", "UPDATE", "admin") for _ in range(5)]
    assert len(set(stamps)) == 5 and stamps == sorted(stamps)


def test_mapping_checks_at_the_edges():
    known = {"v1", "v2", "v3"}
    model.check_mapping({"mode": "MULTI_GENERATION", "entries": [
        {"generation": "v1", "proba": 0.1}, {"generation": "v2", "proba": 0.2}, {"generation": "v3", "proba": 0.7}]},
        known)  # 0.1 + 0.2 + 0.7 is not exactly 1.0 in floating point
    for entries, reason in (
            ([{"generation": "v1", "proba": 0.5}, {"generation": "v1", "proba": 0.5}], "twice"),
            ([{"generation": "v1", "proba": True}], "between 0 and 1"),
            ([{"generation": "v1", "proba": "1"}], "between 0 and 1")):
        with pytest.raises(DSSHTTPError, match=reason):
            model.check_mapping({"mode": "MULTI_GENERATION", "entries": entries}, known)
    with pytest.raises(DSSHTTPError, match="strategy"):
        model.check_mapping({"mode": "MULTI_GENERATION", "strategy": "ROUND_ROBIN",
                             "entries": [{"generation": "v1", "proba": 1}]}, known)
    assert model.mapping_entries({"entries": [{"generation": "v2", "proba": 1}]}) == [{"generation": "v2", "proba": 1.0}]
    single = model.node_mapping({"mode": "SINGLE_GENERATION", "generation": "v3"})
    assert single["entries"] == [{"generation": "v3", "proba": 1.0}] and single["generation"] == "v3"


def test_out_of_sync_fingerprint_ignores_metadata():
    dep = model.new_deployment("d", "svc", "i", "v1", None, None)
    base = model.deployed_fingerprint(dep)
    assert model.deployed_fingerprint({**dep, "tags": ["x"], "annotations": {"a": 1}}) == base
    assert model.deployed_fingerprint({**dep, "enabled": False}) != base
    assert model.deployed_fingerprint({**dep, "deployedServiceId": "other"}) != base
    assert model.deployed_fingerprint({**dep, "generationsMapping": {"mode": "SINGLE_GENERATION",
                                                                     "generation": "v2"}}) != base


def test_admin_key_file_is_always_private(tmp_path: Path):
    from deployer_tui.server.serve import admin_key_for

    key_file = tmp_path / "admin-api-key"
    generated = admin_key_for(tmp_path, None)
    assert key_file.read_text().strip() == generated and key_file.stat().st_mode & 0o777 == 0o600
    key_file.chmod(0o644)
    assert admin_key_for(tmp_path, None) == generated  # kept across starts
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert admin_key_for(tmp_path, "given-key") == "given-key"  # --api-key wins and is written down
    assert key_file.read_text().strip() == "given-key" and key_file.stat().st_mode & 0o777 == 0o600


def test_node_serves_compares_versions_weights_and_strategy():
    from deployer_tui.server.deployer.update import node_serves

    entries = [{"generation": "v1", "proba": 0.8}, {"generation": "v2", "proba": 0.2}]
    active = {"mode": "MULTI_GENERATION", "strategy": "HASH_BASED", "entries": list(reversed(entries))}
    assert node_serves({"enabled": True, "activeMapping": active}, True, entries, "HASH_BASED")
    assert not node_serves({"enabled": True, "activeMapping": active}, True, entries, "RANDOM")
    assert node_serves({"enabled": True, "activeMapping": active}, True, entries, None)  # older records
    other = {**active, "entries": [{"generation": "v1", "proba": 0.5}, {"generation": "v2", "proba": 0.5}]}
    assert not node_serves({"enabled": True, "activeMapping": other}, True, entries, "HASH_BASED")
    assert not node_serves({"enabled": False, "activeMapping": active}, True, entries, "HASH_BASED")
    assert node_serves(None, False, entries) and node_serves({"enabled": False}, False, entries)
    assert not node_serves({"enabled": True, "activeMapping": active}, False, entries)
    single = {"mode": "SINGLE_GENERATION", "generation": "v3", "entries": [{"generation": "v3", "proba": 1.0}]}
    assert node_serves({"enabled": True, "activeMapping": single}, True, [{"generation": "v3", "proba": 1.0}], "RANDOM")


def test_store_guards_are_checked_inside_the_write(tmp_path: Path):
    from deployer_tui.server.deployer.database import InUse, Missing, StillEnabled

    store = Store(tmp_path)
    store.insert("infras", model.new_infra("i", "Test", "STATIC", "NO_CHECK"), "admin")
    store.insert("services", model.new_service("svc", "admin"), "admin")
    staged = tmp_path / "v1.zip"
    staged.write_bytes(b"zip")
    store.add_version("svc", "v1", {"endpoints": []}, "admin", staged)
    dep = model.new_deployment("d", "svc", "i", "v1", None, None)
    with pytest.raises(Missing, match="Version 'v9'"):
        store.insert_deployment(dep, "admin", "v9")
    with pytest.raises(Missing, match="Infra 'nope'"):
        store.insert_deployment({**dep, "infraId": "nope"}, "admin", "v1")
    store.insert_deployment(dep, "admin", "v1")
    with pytest.raises(InUse) as used:
        store.delete_version("svc", "v1", lambda settings, deployed: True)
    assert used.value.users == ["d"] and store.version_path("svc", "v1").exists()
    with pytest.raises(InUse):
        store.delete_service("svc")
    with pytest.raises(InUse):
        store.delete_infra("i")
    with pytest.raises(StillEnabled):
        store.delete_deployment("d")
    store.replace("deployments", {**dep, "enabled": False}, "admin")
    store.delete_deployment("d")
    store.delete_version("svc", "v1", lambda settings, deployed: True)  # no user any more
    store.delete_service("svc")
    store.delete_infra("i")
    assert store.list("infras") == [] and store.list("services") == [] and not (tmp_path / "versions" / "svc").exists()


def test_a_node_without_auth_override_is_fine_unless_an_override_is_needed() -> None:
    """A DSS API node has no `auth-override` route (404): nothing to remove when the versions decide, and a
    clear refusal when the deployment has its own auth."""
    import httpx

    from deployer_tui.server.deployer.nodes import NodeAdmin, NodeError

    seen: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        return httpx.Response(404, json={"errorType": "NotFound", "message": "no such route"})

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
            admin = NodeAdmin(http, "http://dss-node:12000", "k")
            await admin.set_auth_override("svc", None)
            with pytest.raises(NodeError, match="INHERIT_DEV") as info:
                await admin.set_auth_override("svc", {"publicAccess": True, "queryKeys": []})
            assert info.value.status == 404

    asyncio.run(run())
    assert seen == [("DELETE", "/admin/api/services/svc/auth-override"),
                    ("PUT", "/admin/api/services/svc/auth-override")]
