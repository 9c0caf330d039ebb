"""The embedded local deployer as the TUI starts it: a child process, its URLs read from its announcements."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.errors import ConnectionLost
from deployer_tui.core.local import LOG_FILE, LocalDeployer, LocalDeployerError

needs_serve = pytest.mark.skipif(
    importlib.util.find_spec("deployer_tui.server.serve") is None,
    reason="the local deployer (deployer_tui.server.serve, `deployer-tui serve`) is not in the tree yet",
)


@needs_serve
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
    assert (tmp_path / "data" / LOG_FILE).stat().st_mode & 0o777 == 0o600
    # The data dir holds keys: created private, whoever creates it first.
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    out, err = capfd.readouterr()
    assert local.url not in out + err  # the child's output went to its log, not to our terminal
    async with DeployerClient(local.url, local.api_key, retries=0) as client:
        with pytest.raises(ConnectionLost):
            await client.list_deployments()


def fake_python(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-python"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return str(script)


async def test_child_dying_early_is_reported_with_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", fake_python(tmp_path, "echo 'port already taken' >&2; exit 3"))
    with pytest.raises(LocalDeployerError) as info:
        await LocalDeployer.start(tmp_path / "data", demo=False, timeout=30)
    message = str(info.value)
    assert "code 3" in message and "port already taken" in message and LOG_FILE in message


async def test_child_never_announcing_times_out_and_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file = tmp_path / "pid"
    monkeypatch.setattr(sys, "executable", fake_python(tmp_path, f"echo $$ > {pid_file}; exec sleep 60"))
    with pytest.raises(LocalDeployerError, match="did not start within 2s"):
        await LocalDeployer.start(tmp_path / "data", demo=False, timeout=2)
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    script = (f"trap '' TERM; printf 'the-key\\n' > {data}/admin-api-key; "
              "echo 'apinode: http://127.0.0.1:2'; echo 'deployer: http://127.0.0.1:1'; exec sleep 60")
    monkeypatch.setattr(sys, "executable", fake_python(tmp_path, script))
    local = await LocalDeployer.start(data, demo=False, timeout=30)
    assert (local.url, local.node_urls, local.api_key) == ("http://127.0.0.1:1", ["http://127.0.0.1:2"], "the-key")
    assert local.running
    await local.stop(timeout=0.5)
    assert not local.running and local.process.returncode == -9


async def test_missing_key_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file = tmp_path / "pid"
    script = f"echo $$ > {pid_file}; echo 'deployer: http://127.0.0.1:1'; exec sleep 60"
    monkeypatch.setattr(sys, "executable", fake_python(tmp_path, script))
    with pytest.raises(LocalDeployerError, match="admin-api-key"):
        await LocalDeployer.start(tmp_path / "data", demo=False, timeout=30)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


@needs_serve
async def test_the_next_start_listens_where_the_last_one_did_unless_that_port_is_taken(tmp_path: Path) -> None:
    """The console keeps its journal, canary records and latency trends per deployer URL: the embedded deployer
    keeps its URL from one start to the next when it can."""
    import socket

    first = await LocalDeployer.start(tmp_path / "data", apinodes=1, demo=False, timeout=60)
    await first.stop()
    again = await LocalDeployer.start(tmp_path / "data", apinodes=1, demo=False, timeout=60)
    await again.stop()
    assert again.url == first.url
    port = int(first.url.rsplit(":", 1)[-1])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        moved = await LocalDeployer.start(tmp_path / "data", apinodes=1, demo=False, timeout=60)
        await moved.stop()
    assert moved.url != first.url and moved.url.startswith("http://127.0.0.1:")
