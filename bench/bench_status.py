"""Light + heavy status of every deployment: DeployerClient (async, concurrent) vs dataikuapi (sequential).

Starts a local deployer (`--no-demo`), creates one STATIC infra on its local API node, one service with one
version and N deployments (default 500), then times in the same run:

  (a) DeployerClient: list_deployments() + every heavy status through bulk.iter_heavy_statuses;
  (b) dataikuapi:     list_deployments() then get_status() for each (light + heavy per deployment),
                      as a script using the official client would.

Prints both times and their ratio. Run:  python bench/bench_status.py [--deployments 500] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deployer_tui.core.bulk import iter_heavy_statuses  # noqa: E402
from deployer_tui.core.client import DeployerClient  # noqa: E402
from deployer_tui.core.errors import DeployerError  # noqa: E402
from deployer_tui.core.futures import follow_future  # noqa: E402
from deployer_tui.core.package import build_package  # noqa: E402
from tests import servers  # noqa: E402


def make_package(work: Path) -> Path:
    src = work / "bench-svc"
    (src / "endpoint-hello").mkdir(parents=True)
    (src / "tag.json").write_text(json.dumps({"generationId": "v1"}))
    (src / "config.json").write_text(json.dumps({
        "publicAccess": True,
        "endpoints": [{"id": "hello", "type": "PY_FUNCTION", "userFunctionName": "hello"}],
    }))
    (src / "endpoint-hello" / "code.py").write_text("def hello(name='world'):\n    return {'hello': name}\n")
    (src / "testqueries-hello.json").write_text(json.dumps([{"q": {"name": "bench"}}]))
    out, _ = build_package(src, work / "bench-svc-v1.zip")
    return out


async def setup(url: str, key: str, node_url: str, node_key: str, work: Path, count: int) -> list[str]:
    async with DeployerClient(url, key, max_connections=32) as client:
        stage = (await client.list_stages())[0]["id"]
        await client.create_infra("bench-infra", stage)
        settings = await client.get_infra_settings("bench-infra")
        settings["apiNodes"] = [{"url": node_url, "adminAPIKey": node_key, "graphitePrefix": None}]
        await client.save_infra_settings("bench-infra", settings)
        await client.create_service("bench-svc")
        await client.import_version("bench-svc", make_package(work))
        ids = [f"bench-{i:04d}" for i in range(count)]
        gate = asyncio.Semaphore(16)

        async def create(dep_id: str) -> None:
            async with gate:
                await client.create_deployment(dep_id, "bench-svc", "bench-infra", "v1")

        await asyncio.gather(*(create(i) for i in ids))
        # Deploy once so heavy statuses reflect a live service on the node (what an operator would look at).
        first = await client.start_update(ids[0])
        async for event in follow_future(client, first["jobId"]):
            if event.error:
                raise event.error
        return ids


async def run_ours(url: str, key: str, concurrency: int) -> tuple[float, int, int]:
    started = time.perf_counter()
    async with DeployerClient(url, key, max_connections=concurrency) as client:
        lights = await client.list_deployments()
        ids = [light["deploymentBasicInfo"]["id"] for light in lights]
        ok = failed = 0
        async for _dep_id, heavy in iter_heavy_statuses(client, ids, concurrency=concurrency):
            if isinstance(heavy, DeployerError):
                failed += 1
            else:
                ok += 1
    return time.perf_counter() - started, ok, failed


def run_dataikuapi(url: str, key: str) -> tuple[float, int]:
    import dataikuapi

    started = time.perf_counter()
    deployer = dataikuapi.DSSClient(url, key).get_apideployer()
    count = 0
    for deployment in deployer.list_deployments():
        status = deployment.get_status()
        status.get_health()
        count += 1
    return time.perf_counter() - started, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each side (the median is reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-status-") as tmp:
        work = Path(tmp)
        key = secrets.token_hex(16)
        proc = servers.serve(work / "data", key, apinodes=1)
        try:
            url, node_url = proc.url("deployer"), proc.url("apinode")
            node_key = (work / "data" / "admin-api-key").read_text().strip()
            t0 = time.perf_counter()
            asyncio.run(setup(url, key, node_url, node_key, work, args.deployments))
            print(f"setup: {args.deployments} deployments in {time.perf_counter() - t0:.1f}s")
            ours, theirs = [], []
            for _ in range(args.repeat):
                elapsed, ok, failed = asyncio.run(run_ours(url, key, args.concurrency))
                ours.append(elapsed)
                print(f"DeployerClient: {ok} heavy statuses ({failed} errors) in {elapsed:.2f}s "
                      f"(concurrency {args.concurrency})")
                elapsed, count = run_dataikuapi(url, key)
                theirs.append(elapsed)
                print(f"dataikuapi:     {count} get_status() in {elapsed:.2f}s")
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"ratio dataikuapi / DeployerClient: {b / a:.1f}x  (median of {args.repeat})")
        finally:
            proc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
