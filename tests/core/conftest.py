"""Shared fixtures for the core tests: a version package built from a folder, and a running local deployer."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from deployer_tui.core.package import build_package


def make_package(work: Path, service: str = "hello-svc", version: str = "v1", *, sleep_s: float = 0) -> Path:
    """A small PY_FUNCTION package: endpoint `hello` returns {"hello": name, "version": version}."""
    src = work / f"{service}-{version}-src"
    (src / "endpoint-hello").mkdir(parents=True)
    (src / "tag.json").write_text(json.dumps({"generationId": version}))
    (src / "config.json").write_text(json.dumps({
        "publicAccess": True,
        "endpoints": [{"id": "hello", "type": "PY_FUNCTION", "userFunctionName": "hello"}],
    }))
    (src / "endpoint-hello" / "code.py").write_text(
        f"def hello(name='world'):\n    return {{'hello': name, 'version': {version!r}}}\n"
    )
    (src / "testqueries-hello.json").write_text(json.dumps([{"q": {"name": "test"}}]))
    out, _ = build_package(src, work / f"{service}-{version}.zip")
    return out


@pytest.fixture(scope="module")
def api_key() -> str:
    return "admin-" + secrets.token_hex(12)
