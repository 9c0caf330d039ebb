"""How much the deployer's heavy status costs when many deployments are polled at once.

Starts `deployer-tui serve --apinodes 2`, creates N deployments (default 500) of one service on a
STATIC infra with both nodes and updates them all, then fetches every heavy status
(`GET .../deployments/{id}/status`, which asks the nodes) and, as the baseline in the same run,
every light status (`GET .../deployments/{id}`, no node involved), at the given concurrency.
Prints wall time, requests per second, p50/p99 latency of each and the heavy/light ratio.

    python bench/bench_heavy_status.py [--deployments 500] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.deployer.conftest import make_package  # noqa: E402
from tests.servers import serve  # noqa: E402

KEY = "bench-admin-key"


async def fetch_all(http: httpx.AsyncClient, paths: list[str], concurrency: int) -> tuple[float, list[float]]:
    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(path: str) -> None:
        async with sem:
            start = time.perf_counter()
            resp = await http.get(path)
            resp.raise_for_status()
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(one(p) for p in paths))
    return time.perf_counter() - start, latencies


def describe(name: str, wall: float, lat: list[float]) -> str:
    lat = sorted(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return (f"{name:6s} {len(lat)} requests in {wall:6.2f} s  {len(lat) / wall:8.1f} req/s  "
            f"p50 {statistics.median(lat) * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms")


async def main_async(url: str, n: int, concurrency: int) -> None:
    async with httpx.AsyncClient(base_url=url + "/public/api", auth=(KEY, ""), timeout=120,
                                 limits=httpx.Limits(max_connections=concurrency * 2)) as http:
        ids = [f"dep-{i:04d}" for i in range(n)]
        health = set()
        heavy_wall, heavy_lat = await fetch_all(http, [f"/api-deployer/deployments/{d}/status" for d in ids],
                                                concurrency)
        for d in ids[:5]:
            health.add((await http.get(f"/api-deployer/deployments/{d}/status")).json()["health"])
        light_wall, light_lat = await fetch_all(http, [f"/api-deployer/deployments/{d}" for d in ids], concurrency)
        print(describe("heavy", heavy_wall, heavy_lat))
        print(describe("light", light_wall, light_lat))
        print(f"heavy/light wall-time ratio: {heavy_wall / light_wall:.2f}  (health seen: {', '.join(sorted(health))})")


async def setup(url: str, node_urls: list[str], node_keys: list[str], package: Path, n: int) -> None:
    async with httpx.AsyncClient(base_url=url + "/public/api", auth=(KEY, ""), timeout=120) as http:
        (await http.post("/api-deployer/infras", json={"id": "bench", "stage": "Development",
                                                       "type": "STATIC"})).raise_for_status()
        settings = (await http.get("/api-deployer/infras/bench/settings")).json()
        settings["apiNodes"] = [{"url": u, "adminAPIKey": k} for u, k in zip(node_urls, node_keys, strict=True)]
        (await http.put("/api-deployer/infras/bench/settings", json=settings)).raise_for_status()
        (await http.post("/api-deployer/services", json={"publishedServiceId": "svc"})).raise_for_status()
        (await http.post("/api-deployer/services/svc/versions",
                         files={"file": ("p.zip", package.read_bytes())})).raise_for_status()
        sem = asyncio.Semaphore(8)

        async def deploy(i: int) -> None:
            async with sem:
                dep = f"dep-{i:04d}"
                (await http.post("/api-deployer/deployments", json={
                    "deploymentId": dep, "publishedServiceId": "svc", "infraId": "bench",
                    "version": "v1"})).raise_for_status()
                resp = await http.post(f"/api-deployer/deployments/{dep}/actions/update",
                                       json={"synchronous": True})
                resp.raise_for_status()
                assert resp.json()["result"]["nbNOKNodes"] == 0, resp.json()

        await asyncio.gather(*(deploy(i) for i in range(n)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deployments", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        proc = serve(root / "data", KEY, apinodes=2)
        try:
            keys = [(root / "data" / "apinodes" / f"node-{i}.admin-key").read_text().strip() for i in (1, 2)]
            start = time.perf_counter()
            asyncio.run(setup(proc.url(), proc.urls["apinode"], keys, make_package(root, "v1"), args.deployments))
            print(f"setup: {args.deployments} deployments created and updated on 2 nodes in "
                  f"{time.perf_counter() - start:.1f} s")
            asyncio.run(main_async(proc.url(), args.deployments, args.concurrency))
        finally:
            proc.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
