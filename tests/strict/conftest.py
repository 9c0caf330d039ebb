"""A `deployer-tui serve --dss-strict` with one API node, set up with the official client: an infra on the
node, a service with two versions, and helpers to add infras (a dead node, no node at all)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import servers
from tests.deployer.conftest import ADMIN_KEY, client, make_package
from tests.deployer.conftest import black_hole as black_hole  # a fixture of these tests too


@dataclass
class Env:
    proc: servers.Proc
    root: Path
    deployer: Any  # dataikuapi's DSSAPIDeployer
    node_key: str
    strict: bool

    @property
    def url(self) -> str:
        return self.proc.url()

    @property
    def node_url(self) -> str:
        return self.proc.url("apinode")

    def infra(self, infra_id: str, node_urls: list[str]) -> Any:
        infra = self.deployer.create_infra(infra_id, "Development", "STATIC")
        settings = infra.get_settings()
        for url in node_urls:
            settings.add_apinode(url, self.node_key)
        settings.save()
        return infra

    def deployment(self, deployment_id: str, infra_id: str, version: str = "v1") -> Any:
        return self.deployer.create_deployment(deployment_id, "echo", infra_id, version)


def dead_url() -> str:
    """A loopback URL nobody listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def start_env(root: Path, strict: bool) -> Env:
    proc = servers.serve(root / "data", ADMIN_KEY, apinodes=1, extra=["--dss-strict"] if strict else [])
    try:
        node_key = (root / "data" / "apinodes" / "node-1.admin-key").read_text().strip()
        deployer = client(proc.url()).get_apideployer()
        env = Env(proc, root, deployer, node_key, strict)
        service = deployer.create_service("echo")
        for version in ("v1", "v2"):
            with make_package(root, version).open("rb") as fh:
                service.import_version(fh)
        env.infra("live", [env.node_url])
        return env
    except BaseException:
        proc.stop()
        raise


@pytest.fixture(scope="module")
def strict_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    env = start_env(tmp_path_factory.mktemp("strict"), strict=True)
    yield env
    env.proc.stop()


@pytest.fixture(scope="module", params=["plain", "strict"])
def either_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    env = start_env(tmp_path_factory.mktemp(request.param), strict=request.param == "strict")
    yield env
    env.proc.stop()
