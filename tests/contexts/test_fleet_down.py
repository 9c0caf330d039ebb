"""fetch_fleet with a context whose port is closed: one row saying why, reported through on_rows."""

from __future__ import annotations

import asyncio
import socket

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.fleet import fetch_fleet


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_unreachable_context_is_one_row_saying_why() -> None:
    async def run() -> tuple[dict, list[str]]:
        seen: list[str] = []
        async with DeployerClient(f"http://127.0.0.1:{_closed_port()}", "k", retries=0) as client:
            rows = await fetch_fleet({"down": client}, on_rows=lambda name, got: seen.append(name))
        return rows, seen

    rows, seen = asyncio.run(run())
    assert seen == ["down"]
    [row] = rows["down"]
    assert row.deployment is None and row.error and "unreachable" in row.error and "refused" in row.error.lower()
