"""The embedded local deployer as the TUI starts it: a child process, its URLs read from its announcements."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.errors import ConnectionLost
from deployer_tui.core.local import LOG_FILE, LocalDeployer, LocalDeployerError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("deployer_tui.server.serve") is None,
    reason="the local deployer (deployer_tui.server.serve, `deployer-tui serve`) is not in the tree yet",
)


async def test_start_use_stop(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    local = await LocalDeployer.start(tmp_path / "data", apinodes=1, demo=False, timeout=60)
    try:
        assert local.url.startswith("http://127.0.0.1:") and len(local.node_urls) == 1
        assert local.api_key and local.api_key not in repr(local)
        assert local.api_key == (tmp_path / "data" / "admin-api-key").read_text().strip()
        async with DeployerClient(local.url, local.api_key) as client:
            assert (await client.auth_info())["authIdentifier"] == "admin"
            assert await client.list_deployments() == []
    finally:
        await local.stop()
    assert not local.running
    assert (tmp_path / "data" / LOG_FILE).exists()
    out, err = capfd.readouterr()
    assert local.url not in out + err  # the child's output went to its log, not to our terminal
    async with DeployerClient(local.url, local.api_key, retries=0) as client:
        with pytest.raises(ConnectionLost):
            await client.list_deployments()


async def test_start_failure_is_reported_with_the_log(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises((LocalDeployerError, OSError)):
        await LocalDeployer.start(not_a_dir, demo=False, timeout=30)
