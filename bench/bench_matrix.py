"""How long the node-by-node matrix takes to fill, against the bare fetch of the heavy statuses it reads.

Starts `deployer-tui serve --apinodes 4`, puts 200 deployments (default) of one service on one STATIC infra
with the four nodes and updates them all, then, in the same run and alternating, `--rounds` times:

* bare: every heavy status fetched with the client (bulk.iter_heavy_statuses), nothing else;
* matrix: the same fetch, each status read per node as it arrives, then core.skew.matrix over them all.

Prints the median of each, the ratio matrix/bare (the target is at most 1.5), and the skews found (none).

    python bench/bench_matrix.py [--deployments 200] [--concurrency 8] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fixtures import INFRA, SERVICE, deployment_id, make_package  # noqa: E402
from deployer_tui.core import bulk, job_follower, skew  # noqa: E402
from deployer_tui.core.client import DeployerClient  # noqa: E402
from tests.servers import serve  # noqa: E402

KEY = "bench-admin-key"
NODES = 4


async def setup(client: DeployerClient, node_urls: list[str], node_keys: list[str], work: Path, n: int) -> list[str]:
    stage = (await client.list_stages())[0]["id"]
    await client.create_infra(INFRA, stage)
    settings = await client.get_infra_settings(INFRA)
    settings["apiNodes"] = [{"url": u, "adminAPIKey": k, "graphitePrefix": None}
                            for u, k in zip(node_urls, node_keys, strict=True)]
    await client.save_infra_settings(INFRA, settings)
    await client.create_service(SERVICE)
    await client.import_version(SERVICE, make_package(work))
    ids = [deployment_id(i) for i in range(n)]
    gate = asyncio.Semaphore(8)

    async def one(dep_id: str) -> None:
        async with gate:
            await client.create_deployment(dep_id, SERVICE, INFRA, "v1")
            future = await client.start_update(dep_id)
            last = None
            async for event in job_follower.follow_future(client, future["jobId"], interval=0.1):
                last = event
            state = (await job_follower.settle(client, dep_id, last)).state if last else "LOST"
            if state != "SUCCESS":
                raise SystemExit(f"update of {dep_id}: {state}")

    await asyncio.gather(*(one(d) for d in ids))
    return ids


async def bare(client: DeployerClient, ids: list[str], concurrency: int) -> float:
    start = time.perf_counter()
    async for _dep_id, _status in bulk.iter_heavy_statuses(client, ids, concurrency=concurrency):
        pass
    return time.perf_counter() - start


async def with_matrix(client: DeployerClient, ids: list[str], nodes: list[str], concurrency: int
                      ) -> tuple[float, float, skew.Matrix]:
    start = time.perf_counter()
    got = [(dep_id, status) async for dep_id, status in bulk.iter_heavy_statuses(client, ids, concurrency=concurrency)]
    built = time.perf_counter()
    table = skew.matrix(got, nodes)
    end = time.perf_counter()
    return end - start, end - built, table


async def main_async(url: str, node_urls: list[str], node_keys: list[str], work: Path, args: argparse.Namespace) -> None:
    async with DeployerClient(url, KEY, max_connections=args.concurrency) as client:
        t0 = time.perf_counter()
        ids = await setup(client, node_urls, node_keys, work, args.deployments)
        print(f"setup: {len(ids)} deployments updated on {len(node_urls)} nodes in {time.perf_counter() - t0:.1f} s")
        await bare(client, ids, args.concurrency)  # warm-up: connections open, first statuses computed
        bares, matrices, builds = [], [], []
        table = None
        for _ in range(args.rounds):
            bares.append(await bare(client, ids, args.concurrency))
            took, build, table = await with_matrix(client, ids, node_urls, args.concurrency)
            matrices.append(took)
            builds.append(build)
        assert table is not None
        cells = sum(len(r.cells) for r in table.rows)
        b, m = statistics.median(bares), statistics.median(matrices)
        print(f"bare fetch of {len(ids)} heavy statuses: median {b * 1000:7.1f} ms  (rounds: "
              f"{', '.join(f'{x * 1000:.0f}' for x in bares)})")
        print(f"matrix ({len(table.rows)} x {len(table.nodes)} = {cells} cells): median {m * 1000:7.1f} ms  (rounds: "
              f"{', '.join(f'{x * 1000:.0f}' for x in matrices)})")
        print(f"of which core.skew.matrix alone: median {statistics.median(builds) * 1000:.2f} ms")
        print(f"ratio matrix/bare: {m / b:.2f}  (target <= 1.5); skewed deployments: {len(table.skewed)}; "
              f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc = serve(work / "data", KEY, apinodes=NODES)
        try:
            node_urls = proc.urls["apinode"]
            keys = [(work / "data" / "apinodes" / f"node-{i + 1}.admin-key").read_text().strip()
                    for i in range(len(node_urls))]
            asyncio.run(main_async(proc.url(), node_urls, keys, work, args))
        finally:
            proc.stop()


if __name__ == "__main__":
    main()
