"""Fixtures for the TUI tests: one real local deployer with demo data per module, and an app factory
that hands the app a ready DeployerClient (no LocalDeployer in tests)."""

from __future__ import annotations

import asyncio
import importlib.util
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests import servers
from tests.ui.helpers import settle

SERVE_MISSING = importlib.util.find_spec("deployer_tui.server.serve") is None
needs_server = pytest.mark.skipif(
    SERVE_MISSING, reason="the local deployer (deployer_tui.server.serve) is not in the tree yet")


@pytest.fixture(autouse=True)
def keys_are_processed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `pilot.press` and `pilot.click` returns only once the app processed what it sent (see
    `settle`), one key at a time, and `pilot.pause()` once nothing is pending, so a test never reads
    the state from before its key, even on a loaded machine."""
    press, click, pause = Pilot.press, Pilot.click, Pilot.pause

    async def press_settled(self: Pilot, *keys: str) -> None:
        for key in keys:
            await press(self, key)
            await settle(self)

    async def click_settled(self: Pilot, *args, **kwargs) -> bool:
        hit = await click(self, *args, **kwargs)
        await settle(self)
        return hit

    async def pause_settled(self: Pilot, delay: float | None = None) -> None:
        await pause(self, delay)
        if delay is None:  # "until idle"; a given delay is a poll interval and stays one
            await settle(self)

    monkeypatch.setattr(Pilot, "press", press_settled)
    monkeypatch.setattr(Pilot, "pause", pause_settled)
    monkeypatch.setattr(Pilot, "click", click_settled)


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own XDG state home: the console's update journal (core/journal.py) goes there."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture(scope="module")
def ui_api_key() -> str:
    return "admin-" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory, ui_api_key: str) -> Iterator[servers.Proc]:
    if SERVE_MISSING:
        pytest.skip("the local deployer is not in the tree yet")
    proc = servers.serve(tmp_path_factory.mktemp("ui-deployer"), ui_api_key, apinodes=1, demo=True)
    try:
        asyncio.run(wait_for_demo(proc.url("deployer"), ui_api_key))
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[servers.Proc, str]]:
    """A local deployer with no demo content (fast to start), and its admin key."""
    if SERVE_MISSING:
        pytest.skip("the local deployer is not in the tree yet")
    key = "admin-" + secrets.token_hex(8)
    proc = servers.serve(tmp_path_factory.mktemp("plain-deployer"), key, apinodes=1)
    try:
        yield proc, key
    finally:
        proc.stop()


async def wait_for_demo(url: str, key: str, timeout: float = 60, *, alive_only: bool = False) -> None:
    """`serve` fills the demo after it announces itself; its last step disables the canary and runs an
    update. Wait for that, so every test (and snapshot) sees the same settled data. `alive_only`: only a
    running future counts (a strict deployer keeps finished, unclaimed futures listed)."""
    from deployer_tui.core.client import DeployerClient

    deadline = time.monotonic() + timeout
    async with DeployerClient(url, key) as client:
        while True:
            deployments = {d["deploymentBasicInfo"]["id"]: d for d in await client.list_deployments()}
            canary = deployments.get("titanic-canary-on-dev")
            if canary is not None and canary["deploymentBasicInfo"].get("enabled") is False:
                updates = await client.list_updates("titanic-canary-on-dev")
                if len(updates) >= 2 and all(u.get("status") != "RUNNING" for u in updates) \
                        and not [f for f in await client.list_futures() if f.get("alive") or not alive_only]:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the demo content did not settle in {timeout}s")
            await asyncio.sleep(0.2)


@pytest.fixture(scope="module", params=["normal", "strict"])
def either_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  ui_api_key: str) -> Iterator[tuple[servers.Proc, bool]]:
    """A demo-filled local deployer, once as it is and once as `serve --dss-strict` (answers only in shapes
    the official client reads or DSS documents, see server/deployer/strict.py), and whether it is strict:
    the console's journeys must hold on both."""
    if SERVE_MISSING:
        pytest.skip("the local deployer is not in the tree yet")
    strict = request.param == "strict"
    proc = servers.serve(tmp_path_factory.mktemp(f"ui-{request.param}"), ui_api_key, apinodes=1, demo=True,
                         extra=["--dss-strict"] if strict else [])
    try:
        asyncio.run(wait_for_demo(proc.url("deployer"), ui_api_key, alive_only=strict))
        yield proc, strict
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def blackhole() -> Iterator[str]:
    """A loopback port that accepts connections and never answers: a node that hangs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
