"""Fixtures for the security tests of API nodes: the real `deployer-tui serve` and `deployer-tui apinode`
(tests/servers.py), driven with the official dataikuapi clients, as a hostile user would drive them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dataikuapi
import httpx
import pytest

from deployer_tui.core.package import build_package
from tests.servers import Proc, apinode

NODE_ADMIN_KEY = "security-node-admin-key"
http = httpx.Client(timeout=120)


def function_package(root: Path, version: str, code: str, function: str, *, public: bool = True,
                     extra: dict[str, str] | None = None) -> Path:
    """A zip with one PY_FUNCTION endpoint named `function` whose code.py is `code`."""
    src = root / f"src-{function}-{version}"
    (src / f"endpoint-{function}").mkdir(parents=True)
    (src / f"endpoint-{function}" / "code.py").write_text(code)
    (src / "tag.json").write_text(json.dumps({"generationId": version}))
    (src / "config.json").write_text(json.dumps({
        "publicAccess": public, "authRealm": {"queryKeys": []},
        "endpoints": [{"id": function, "type": "PY_FUNCTION", "userFunctionName": function}]}))
    for name, text in (extra or {}).items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    out, _ = build_package(src, root / f"{function}-{version}.zip")
    return out


def run(url: str, service: str, endpoint: str, body: Any = None, *, content: bytes | None = None) -> httpx.Response:
    kwargs: dict[str, Any] = {"content": content} if content is not None else {"json": body or {}}
    return http.post(f"{url}/public/api/v1/{service}/{endpoint}/run", **kwargs)


def deploy_function(admin: dataikuapi.APINodeAdminClient, service: str, zip_path: Path, version: str) -> None:
    admin.create_service(service)
    svc = admin.service(service)
    svc.import_generation_from_archive(str(zip_path))
    svc.set_generations_mapping({"entries": [{"generation": version, "proba": 1.0}]})


# The node of these tests takes answers of up to 300 MiB, so that a 250 MB one is served, not refused.
SERVER_JSON = {"limits": {"maxAnswerBytes": 300 * 1024 * 1024, "maxQueryBodyBytes": 1024 * 1024,
                          "maxQueryDepth": 32}}


@pytest.fixture(scope="module")
def node_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("node") / "data"
    (root / "config").mkdir(parents=True)
    (root / "config" / "server.json").write_text(json.dumps(SERVER_JSON))
    return root


@pytest.fixture(scope="module")
def node(node_root: Path) -> Iterator[Proc]:
    proc = apinode(node_root, NODE_ADMIN_KEY)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def node_url(node: Proc) -> str:
    return node.url("apinode")


@pytest.fixture(scope="module")
def node_admin(node_url: str) -> dataikuapi.APINodeAdminClient:
    return dataikuapi.APINodeAdminClient(node_url, NODE_ADMIN_KEY)


def wait_for_output(proc: Proc, fragment: str, timeout: float = 15) -> str:
    """The first line of the server's output holding `fragment`, waiting (bounded) for it to be printed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(proc.output):
            if fragment in line:
                return line
        time.sleep(0.02)
    raise AssertionError(f"no line with {fragment!r} in the server's output: {proc.output[-20:]}")
