"""What the benchmarks share: a tiny version package and a deployer filled with N deployments of it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.package import build_package

INFRA = "bench-infra"
SERVICE = "bench-svc"


def make_package(work: Path) -> Path:
    """A one-endpoint PY_FUNCTION package, public, with a test query."""
    src = work / SERVICE
    (src / "endpoint-hello").mkdir(parents=True, exist_ok=True)
    (src / "tag.json").write_text(json.dumps({"generationId": "v1"}))
    (src / "config.json").write_text(json.dumps({
        "publicAccess": True,
        "endpoints": [{"id": "hello", "type": "PY_FUNCTION", "userFunctionName": "hello"}],
    }))
    (src / "endpoint-hello" / "code.py").write_text("def hello(name='world'):\n    return {'hello': name}\n")
    (src / "testqueries-hello.json").write_text(json.dumps([{"q": {"name": "bench"}}]))
    out, _ = build_package(src, work / f"{SERVICE}-v1.zip")
    return out


def deployment_id(i: int) -> str:
    return f"bench-{i:05d}"


async def populate(client: DeployerClient, node_url: str, node_key: str, work: Path, start: int, count: int,
                   *, concurrency: int = 16) -> list[str]:
    """Create deployments `start`..`start+count-1` (and, when `start` is 0, the infra and service they use)."""
    if start == 0:
        stage = (await client.list_stages())[0]["id"]
        await client.create_infra(INFRA, stage)
        settings = await client.get_infra_settings(INFRA)
        settings["apiNodes"] = [{"url": node_url, "adminAPIKey": node_key, "graphitePrefix": None}]
        await client.save_infra_settings(INFRA, settings)
        await client.create_service(SERVICE)
        await client.import_version(SERVICE, make_package(work))
    ids = [deployment_id(i) for i in range(start, start + count)]
    gate = asyncio.Semaphore(concurrency)

    async def create(dep_id: str) -> None:
        async with gate:
            await client.create_deployment(dep_id, SERVICE, INFRA, "v1")

    await asyncio.gather(*(create(d) for d in ids))
    return ids
