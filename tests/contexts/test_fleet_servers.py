"""fetch_fleet over two real local deployers (different admin keys) and one closed port: every context's
rows arrive, health fills in, a refused key is one row saying so, and no context waits for another."""

from __future__ import annotations

import asyncio
import secrets
import socket

import pytest

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.fleet import fetch_fleet
from deployer_tui.core.readers import is_enabled
from tests import servers


@pytest.fixture(scope="module")
def two_deployers(tmp_path_factory):
    keys = ["admin-" + secrets.token_hex(8) for _ in range(2)]
    procs = [servers.serve(tmp_path_factory.mktemp(f"d{i}"), key, demo=True) for i, key in enumerate(keys)]
    try:
        yield [(proc.url(), key) for proc, key in zip(procs, keys, strict=True)]
    finally:
        for proc in procs:
            proc.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_every_context_reports_rows_and_health_and_a_refused_key_is_one_row(two_deployers) -> None:
    (url_a, key_a), (url_b, key_b) = two_deployers

    async def run():
        order: list[str] = []
        health: dict[str, int] = {}
        clients = {
            "a": DeployerClient(url_a, key_a, retries=0),
            "b": DeployerClient(url_b, key_b, retries=0),
            "b-wrong-key": DeployerClient(url_b, key_a, retries=0),  # a's key sent to b: refused, not used
            "down": DeployerClient(f"http://127.0.0.1:{_closed_port()}", "k", retries=0),
        }
        try:
            rows = await fetch_fleet(
                clients, per_context_limit=2, on_rows=lambda name, got: order.append(name),
                on_health=lambda name, dep, status: health.__setitem__(name, health.get(name, 0) + 1))
        finally:
            for client in clients.values():
                await client.aclose()
        return rows, order, health

    rows, order, health = asyncio.run(run())
    assert sorted(order) == ["a", "b", "b-wrong-key", "down"]
    for name in ("a", "b"):
        assert rows[name] and all(row.error is None and row.deployment_id for row in rows[name])
        enabled = [row for row in rows[name] if is_enabled(row.deployment)]
        assert health.get(name, 0) == len(enabled) > 0
        assert all(row.health is not None for row in enabled)
    [refused] = rows["b-wrong-key"]
    assert refused.deployment is None and "refused this context's API key" in (refused.error or "")
    [down] = rows["down"]
    assert down.deployment is None and "unreachable" in (down.error or "")
    assert key_a not in (refused.error or "") and key_b not in (refused.error or "")
