"""A `deployer-tui serve` with one API node (plain, and --dss-strict), a service `echo` with versions v1-v3,
and a helper that creates a deployment with its own service id on the nodes and updates it, version by
version, through the official client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deployer_tui.core.client import DeployerClient
from tests.deployer.conftest import ADMIN_KEY, make_package
from tests.strict.conftest import Env, start_env


def add_v3(env: Env) -> None:
    with make_package(env.root, "v3").open("rb") as fh:
        env.deployer.get_service("echo").import_version(fh)


def deploy(env: Env, dep_id: str, versions: list[str], infra: str = "live") -> Any:
    """Create `dep_id` with versions[0] and update it to each version in turn; every update must succeed."""
    dep = env.deployer.create_deployment(dep_id, "echo", infra, versions[0])
    settings = dep.get_settings()
    settings.get_raw()["deployedServiceId"] = f"svc-{dep_id}"  # deployments of one service share no node service
    settings.save()
    for i, version in enumerate(versions):
        if i:
            settings = dep.get_settings()
            settings.set_single_version(version)
            settings.save()
        dep.start_update().wait_for_result()
    return dep


def served_version(env: Env, dep_id: str) -> str:
    """Which version the node answers with, asked as a user would (the endpoint names its version)."""
    resp = httpx.post(f"{env.node_url}/public/api/v1/svc-{dep_id}/echo/run", json={"x": 1}, timeout=30)
    resp.raise_for_status()
    return resp.json()["response"]["version"]


def our_client(env: Env) -> DeployerClient:
    return DeployerClient(env.url, ADMIN_KEY)


@pytest.fixture(scope="module")
def plain_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    env = start_env(tmp_path_factory.mktemp("plain"), strict=False)
    add_v3(env)
    yield env
    env.proc.stop()


@pytest.fixture(scope="module")
def strict_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    env = start_env(tmp_path_factory.mktemp("strict"), strict=True)
    add_v3(env)
    yield env
    env.proc.stop()


@pytest.fixture(autouse=True)
def state_home(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """Each test its own journal (XDG state home)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"
