"""Quitting the console on the embedded local deployer: the session's close asks the servers to stop and
returns at once; they finish their clean shutdown on their own, even once the console's event loop is
gone (an asyncio child would be killed with its loop)."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path

import pytest

from deployer_tui.core.local import LocalDeployer

pytestmark = pytest.mark.skipif(importlib.util.find_spec("deployer_tui.server.serve") is None,
                                reason="the local deployer is not in the tree yet")


def test_stop_soon_returns_at_once_and_the_servers_stop_cleanly_after_the_loop(tmp_path: Path) -> None:
    async def start_then_let_go() -> LocalDeployer:
        local = await LocalDeployer.start(tmp_path / "data", apinodes=1, demo=False, timeout=60)
        local.stop_soon()
        return local

    # The console's loop ends right after the close, as on quit.
    local = asyncio.run(start_then_let_go())
    deadline = time.monotonic() + 30
    while local.process.poll() is None:
        assert time.monotonic() < deadline, "the servers did not stop within 30s of SIGTERM"
        time.sleep(0.05)
    assert local.process.returncode == 0, "a clean shutdown (not killed with the loop)"
