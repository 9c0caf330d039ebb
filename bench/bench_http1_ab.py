"""The console's status load through the lean lane (core/http1.py) against httpx alone, in one run.

What the console asks of a deployer (ui/state/data_store.py): at start-up, and again at every automatic refresh
(every 10 s by default), the three lists (infras, services, deployments: the light statuses) at once, then the
heavy status of every enabled deployment through bulk.iter_heavy_statuses with 8 workers, on one DeployerClient
kept for the session. Between two refreshes the deployer's keep-alive timeout (uvicorn's 5 s) has closed the
idle connections, so every refresh opens them again, as in the console.

Starts a local deployer (`--no-demo`, one API node), fills it with N deployments (bench/fixtures.py) and runs
interleaved rounds; each round opens one client per variant, runs the start-up pass of each (the order
alternating between rounds), waits out the refresh interval, then runs the refresh passes the same way:

  lean:    DeployerClient as shipped: heavy statuses through lean http1.Connection lanes;
  httpx:   the same client with lanes as one-connection httpx pools (what it does when a proxy applies);
  pool:    the same client with no lanes: every request through its one shared httpx pool.

Prints, per deployment count and pass kind, the median wall time and client CPU of each variant and the
ratios httpx / lean and pool / lean (> 1: the lean lane is cheaper).

Run:  python bench/bench_http1_ab.py [--deployments 500,1000] [--rounds 3] [--refreshes 2] [--interval 10]

Measured with `python bench/bench_http1_ab.py` (the defaults: 500 then 1,000 deployments, 3 rounds, 2 refreshes
each, 10 s apart) on 2 cores shared with other work (load average 4.9 at 500, 7.3 at 1,000); medians, wall time
and the client's CPU:

  deployments  pass       lean (wall / CPU)   httpx lanes (wall / CPU)   shared pool (wall / CPU)
  500          start-up   0.73 s / 0.15 s     4.31 s / 1.13 s            3.70 s / 1.18 s
  500          refresh    1.19 s / 0.17 s     4.13 s / 1.01 s            2.97 s / 1.12 s
  1,000        start-up   1.82 s / 0.31 s     5.16 s / 1.99 s            6.05 s / 2.40 s
  1,000        refresh    1.54 s / 0.30 s     10.64 s / 2.24 s           15.39 s / 2.79 s

  httpx / lean: 6.0-7.8x the client CPU and 2.8-6.9x the wall time; the shared pool is no better.

Decision: the lean lane stays. At the console's real load it takes a sixth to an eighth of httpx's client CPU
per status, far past the 1.5x that would justify its ~300 lines; on a loaded machine that CPU is wall time the
console's event loop is busy (the wall ratios above). It stays confined to GETs without a body through no proxy,
with httpx behind it for everything else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fixtures import populate  # noqa: E402
from deployer_tui.core.bulk import iter_heavy_statuses  # noqa: E402
from deployer_tui.core.client import DeployerClient  # noqa: E402
from deployer_tui.core.errors import DeployerError  # noqa: E402
from deployer_tui.core.job_follower import follow_future  # noqa: E402
from deployer_tui.core.readers import deployment_id, is_enabled  # noqa: E402
from tests import servers  # noqa: E402

VARIANTS = ("lean", "httpx", "pool")
HEAVY_CONCURRENCY = 8  # the data store's default


def new_client(variant: str, url: str, key: str) -> DeployerClient:
    """A DeployerClient as the console opens it, with the bulk fetch going the variant's way."""
    client = DeployerClient(url, key)
    if variant == "httpx":
        client._lean_lanes = False  # lanes become one-connection httpx pools, as behind a proxy
    elif variant == "pool":
        client.supports_lanes = False  # type: ignore[misc]  # bulk then sends everything through the shared pool
    return client


async def console_pass(client: DeployerClient) -> tuple[int, int]:
    """One start-up or refresh pass of the data store: the three lists, then every enabled heavy status."""
    _infras, _services, lights = await asyncio.gather(
        client.list_infras(), client.list_services(), client.list_deployments())
    ids = [deployment_id(light) for light in lights if is_enabled(light)]
    ok = failed = 0
    async for _dep_id, heavy in iter_heavy_statuses(client, ids, concurrency=HEAVY_CONCURRENCY):
        if isinstance(heavy, DeployerError):
            failed += 1
        else:
            ok += 1
    return ok, failed


async def timed(client: DeployerClient) -> tuple[float, float, int, int]:
    cpu0, t0 = time.process_time(), time.perf_counter()
    ok, failed = await console_pass(client)
    return time.perf_counter() - t0, time.process_time() - cpu0, ok, failed


async def rounds(url: str, key: str, count: int, n_rounds: int, refreshes: int, interval: float,
                 results: dict[tuple[str, str], list[tuple[float, float]]]) -> None:
    for r in range(n_rounds):
        order = VARIANTS if r % 2 == 0 else tuple(reversed(VARIANTS))
        clients = {variant: new_client(variant, url, key) for variant in order}
        try:
            for kind in ("start-up", *(["refresh"] * refreshes)):
                started = time.monotonic()
                for variant in order:
                    wall, cpu, ok, failed = await timed(clients[variant])
                    if ok != count or failed:
                        raise RuntimeError(f"{variant} {kind}: {ok} heavy statuses, {failed} errors (want {count})")
                    results.setdefault((kind, variant), []).append((wall, cpu))
                    print(f"  round {r + 1} {kind:8} {variant:5}: wall {wall:.3f}s  client CPU {cpu:.3f}s",
                          flush=True)
                # The console's next tick; the deployer closed the idle keep-alive connections meanwhile.
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
        finally:
            for client in clients.values():
                await client.aclose()


def report(count: int, results: dict[tuple[str, str], list[tuple[float, float]]]) -> None:
    load = os.getloadavg()[0]
    for kind in ("start-up", "refresh"):
        med = {v: (statistics.median(w for w, _ in results[(kind, v)]),
                   statistics.median(c for _, c in results[(kind, v)])) for v in VARIANTS if (kind, v) in results}
        if not med:
            continue
        lean_wall, lean_cpu = med["lean"]
        line = "  ".join(f"{v} wall {w:.3f}s CPU {c:.3f}s" for v, (w, c) in med.items())
        print(f"{count} deployments, {kind} (median of {len(results[(kind, 'lean')])}): {line}")
        for other in ("httpx", "pool"):
            wall, cpu = med[other]
            print(f"    {other} / lean: wall {wall / lean_wall:.2f}x, client CPU {cpu / lean_cpu:.2f}x"
                  f"  (load average {load:.2f})")


async def setup(url: str, key: str, node_url: str, node_key: str, work: Path, start: int, count: int) -> None:
    async with DeployerClient(url, key, max_connections=32) as client:
        ids = await populate(client, node_url, node_key, work, start, count)
        if start == 0:
            # One live deployment, so that heavy statuses include one that the node answers for.
            job = await client.start_update(ids[0])
            async for event in follow_future(client, job["jobId"]):
                if event.error:
                    raise event.error


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", default="500,1000", help="comma-separated counts, ascending")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--refreshes", type=int, default=2, help="refresh passes per round after the start-up one")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between passes (the refresh interval)")
    args = parser.parse_args()
    counts = sorted(int(x) for x in args.deployments.split(",") if x.strip())
    with tempfile.TemporaryDirectory(prefix="bench-http1-") as tmp:
        work = Path(tmp)
        key = secrets.token_hex(16)
        proc = servers.serve(work / "data", key, apinodes=1)
        try:
            url, node_url = proc.url("deployer"), proc.url("apinode")
            node_key = (work / "data" / "apinodes" / "node-1.admin-key").read_text().strip()
            have = 0
            for count in counts:
                t0 = time.perf_counter()
                asyncio.run(setup(url, key, node_url, node_key, work, have, count - have))
                have = count
                print(f"setup: {count} deployments in {time.perf_counter() - t0:.1f}s "
                      f"(load average {os.getloadavg()[0]:.2f})", flush=True)
                results: dict[tuple[str, str], list[tuple[float, float]]] = {}
                asyncio.run(rounds(url, key, count, args.rounds, args.refreshes, args.interval, results))
                report(count, results)
        finally:
            proc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
