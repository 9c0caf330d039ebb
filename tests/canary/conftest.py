"""One `deployer-tui serve` with one API node for the canary tests, a service `calc` whose versions differ in
how they answer (the same, failing on 20 % of calls, 3× slower, a different answer), and helpers to deploy
one of them and ask the node which version answers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployer_tui.core.package import build_package
from tests import servers
from tests.deployer.conftest import ADMIN_KEY, client

# Every version sleeps, so that a loaded machine's jitter is small beside what is measured.
CODE = '''
import time

CALLS = [0]


def calc(x=0):
    CALLS[0] += 1
    if {fail_every} and CALLS[0] % {fail_every} == 0:
        raise ValueError("this version fails on one call in {fail_every}")
    time.sleep({sleep_s})
    return {{"y": x * 2 + {offset}}}
'''
BASE_SLEEP_S = 0.02
VERSIONS = {
    "v1": {"fail_every": 0, "sleep_s": BASE_SLEEP_S, "offset": 0},
    "good": {"fail_every": 0, "sleep_s": BASE_SLEEP_S, "offset": 0},
    "flaky": {"fail_every": 5, "sleep_s": BASE_SLEEP_S, "offset": 0},  # 20 % of calls raise
    "slow": {"fail_every": 0, "sleep_s": BASE_SLEEP_S * 3, "offset": 0},
    "other": {"fail_every": 0, "sleep_s": BASE_SLEEP_S, "offset": 1},  # answers differently
    "keyed": {"fail_every": 0, "sleep_s": BASE_SLEEP_S, "offset": 0},  # as v1, but queries need a key
}
QUERY_KEY = "calc-query-key"


def calc_package(root: Path, version: str) -> Path:
    src = root / f"calc-{version}"
    (src / "endpoint-calc").mkdir(parents=True)
    (src / "tag.json").write_text(json.dumps({"generationId": version}))
    keyed = version == "keyed"
    (src / "config.json").write_text(json.dumps({
        "publicAccess": not keyed, "authRealm": {"queryKeys": [{"key": QUERY_KEY}] if keyed else []},
        "endpoints": [{"id": "calc", "type": "PY_FUNCTION", "userFunctionName": "calc"}]}))
    (src / "endpoint-calc" / "code.py").write_text(CODE.format(**VERSIONS[version]))
    (src / "testqueries-calc.json").write_text(json.dumps([{"q": {"x": i}} for i in range(1, 6)]))
    out, _ = build_package(src, root / f"calc-{version}.zip")
    return out


@dataclass
class CanaryEnv:
    proc: servers.Proc
    root: Path
    deployer: Any  # dataikuapi's DSSAPIDeployer

    @property
    def url(self) -> str:
        return self.proc.url()

    @property
    def node_url(self) -> str:
        return self.proc.url("apinode")

    def deploy(self, dep_id: str, version: str = "v1", infra: str = "live") -> None:
        """A deployment of `calc` with its own service on the node, updated to `version`."""
        dep = self.deployer.create_deployment(dep_id, "calc", infra, version, ignore_warnings=True)
        settings = dep.get_settings()
        settings.get_raw()["deployedServiceId"] = f"svc-{dep_id}"
        settings.save()
        dep.start_update().wait_for_result()

    def served(self, dep_id: str) -> str:
        """The version the node answers with for a user's query (no version forced)."""
        resp = httpx.post(f"{self.node_url}/public/api/v1/svc-{dep_id}/calc/run", json={"x": 1}, timeout=30)
        resp.raise_for_status()
        return resp.json()["apiContext"]["serviceGeneration"]

    def status(self, dep_id: str) -> dict:
        return self.deployer.get_deployment(dep_id).get_status().get_heavy()

    def saved_mapping(self, dep_id: str) -> dict:
        return self.deployer.get_deployment(dep_id).get_settings().get_raw()["generationsMapping"]


def start_env(root: Path, *, strict: bool = False) -> CanaryEnv:
    proc = servers.serve(root / "data", ADMIN_KEY, apinodes=1, extra=["--dss-strict"] if strict else [])
    try:
        node_key = (root / "data" / "apinodes" / "node-1.admin-key").read_text().strip()
        deployer = client(proc.url()).get_apideployer()
        service = deployer.create_service("calc")
        for version in VERSIONS:
            with calc_package(root, version).open("rb") as fh:
                service.import_version(fh)
        infra = deployer.create_infra("live", "Development", "STATIC")
        settings = infra.get_settings()
        settings.add_apinode(proc.url("apinode"), node_key)
        settings.save()
        # An infra that warns about every version (no Govern here): saving a new mapping needs ignoreWarnings.
        governed = deployer.create_infra("governed", "Development", "STATIC", govern_check_policy="WARN")
        settings = governed.get_settings()
        settings.add_apinode(proc.url("apinode"), node_key)
        settings.save()
        return CanaryEnv(proc, root, deployer)
    except BaseException:
        proc.stop()
        raise


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanaryEnv]:
    started = start_env(tmp_path_factory.mktemp("canary"))
    yield started
    started.proc.stop()


@pytest.fixture(scope="module")
def strict_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanaryEnv]:
    """The same with `serve --dss-strict`: only what DSS documents or the official client reads."""
    started = start_env(tmp_path_factory.mktemp("canary-strict"), strict=True)
    yield started
    started.proc.stop()


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own state directory (records, journal, latency log)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns() % 10_000_000}"
