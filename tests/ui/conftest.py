"""Fixtures for the TUI tests: one real local deployer with demo data per module, and an app factory
that hands the app a ready DeployerClient (no LocalDeployer in tests)."""

from __future__ import annotations

import importlib.util
import secrets
from collections.abc import Iterator

import pytest

from tests import servers

SERVE_MISSING = importlib.util.find_spec("deployer_tui.server.serve") is None
needs_server = pytest.mark.skipif(
    SERVE_MISSING, reason="the local deployer (deployer_tui.server.serve) is not in the tree yet")


@pytest.fixture(scope="module")
def ui_api_key() -> str:
    return "admin-" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory, ui_api_key: str) -> Iterator[servers.Proc]:
    if SERVE_MISSING:
        pytest.skip("the local deployer is not in the tree yet")
    proc = servers.serve(tmp_path_factory.mktemp("ui-deployer"), ui_api_key, apinodes=1, demo=True)
    try:
        yield proc
    finally:
        proc.stop()
