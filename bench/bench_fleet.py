"""The fleet screen over several local deployers with many deployments each, headless (Textual pilot).

Measures, in one run, for C contexts × N deployments (default 3 × 1,000), each context its own
`deployer-tui serve` process:
  * the bare client: core/fleet.fetch_fleet with no UI, from the call to the first context's rows and
    to the last heavy status;
  * the fleet screen: from `F` (the screen pushed, the app started and its own context loaded already)
    to the first painted deployment row, and to every health cell of every context filled and painted.

Run:  python bench/bench_fleet.py [--contexts 3] [--deployments 1000]
Targets: first rows <= 1.5 s, all health <= 3 s at 3 × 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fixtures import populate  # noqa: E402
from deployer_tui.core.client import DeployerClient  # noqa: E402
from deployer_tui.core.config import Config  # noqa: E402
from deployer_tui.core.contexts import Context  # noqa: E402
from deployer_tui.core.fleet import fetch_fleet  # noqa: E402
from deployer_tui.ui.app import DeployerApp  # noqa: E402
from deployer_tui.ui.screens.fleet import FleetScreen  # noqa: E402
from deployer_tui.ui.state.session import Session  # noqa: E402
from deployer_tui.ui.widgets.resource_table import ResourceTable, plain  # noqa: E402
from tests import servers  # noqa: E402


async def bare(contexts: dict[str, tuple[str, str]]) -> tuple[float, float]:
    clients = {name: DeployerClient(url, key) for name, (url, key) in contexts.items()}
    first: list[float] = []
    started = time.perf_counter()
    try:
        await fetch_fleet(clients, on_rows=lambda name, rows: first.append(time.perf_counter() - started)
                          if not first else None)
        done = time.perf_counter() - started
    finally:
        for client in clients.values():
            await client.aclose()
    return first[0], done


async def painted(app: DeployerApp) -> None:
    done = asyncio.Event()
    app.call_after_refresh(done.set)
    await done.wait()


async def screen(contexts: dict[str, tuple[str, str]], expected: int) -> tuple[float, float]:
    listed = [Context(name, url, key, source=f"config:profiles.{name}", where="bench")
              for name, (url, key) in contexts.items()]

    async def open_context(context: Context) -> Session:
        client = DeployerClient(context.url or "", context.api_key or "")
        return Session(client, context.url or "", client.aclose)

    app = DeployerApp(contexts=listed, open_context=open_context, config=Config(refresh_interval=0))
    first = health = None
    async with app.run_test(size=(120, 40)):
        # The app's own context first, as a person sees it before pressing F.
        while not (app.store.loaded and not app.store.health_loading):
            await asyncio.sleep(0.05)
        # Polling with plain sleeps: Pilot.pause() forces a full repaint each time, which would slow the
        # very thing being measured.
        started = time.perf_counter()
        app.push_screen(FleetScreen())
        while first is None or health is None:
            await asyncio.sleep(0.01)
            if not isinstance(app.screen, FleetScreen):
                continue
            table = app.screen.query_one("#fleet", ResourceTable)
            if first is None and any("\x1f" in key and not key.endswith("\x1f") for key in table.visible_keys):
                await painted(app)
                first = time.perf_counter() - started
            # From the last row up: a row still loading is found at once.
            if first is not None and table.row_count == expected and all(
                    plain(table.get_cell(k, "health")) not in ("loading…", "") for k in reversed(table.visible_keys)):
                await painted(app)
                health = time.perf_counter() - started
            if time.perf_counter() - started > 300:
                raise RuntimeError("the fleet did not load in 300 s")
    return first, health


async def fill(procs: dict[str, servers.Proc], keys: dict[str, str], work: Path, count: int) -> None:
    async def one(name: str) -> None:
        proc = procs[name]
        async with DeployerClient(proc.url("deployer"), keys[name], max_connections=32) as client:
            # serve starts its nodes with the deployer's admin key
            await populate(client, proc.url("apinode"), keys[name], work / name, 0, count)

    for name in procs:
        (work / name).mkdir(parents=True, exist_ok=True)
    await asyncio.gather(*(one(name) for name in procs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, default=3)
    parser.add_argument("--deployments", type=int, default=1000, help="per context")
    args = parser.parse_args()
    names = [f"ctx{i}" for i in range(args.contexts)]
    keys = {name: "bench-" + secrets.token_hex(8) for name in names}
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        work = Path(tmp)
        procs: dict[str, servers.Proc] = {}
        try:
            for name in names:
                procs[name] = servers.serve(work / f"data-{name}", keys[name], apinodes=1)
            t0 = time.perf_counter()
            asyncio.run(fill(procs, keys, work, args.deployments))
            print(f"populated {args.contexts} × {args.deployments} deployments in {time.perf_counter() - t0:.1f} s")
            contexts = {name: (procs[name].url("deployer"), keys[name]) for name in names}
            bare_first, bare_all = asyncio.run(bare(contexts))
            first, health = asyncio.run(screen(contexts, args.contexts * args.deployments))
        finally:
            for proc in procs.values():
                proc.stop()
    print(f"fleet of {args.contexts} contexts × {args.deployments} deployments:")
    print(f"  bare client (core/fleet.fetch_fleet): first rows {bare_first:.2f} s, all health {bare_all:.2f} s")
    print(f"  fleet screen (F):                     first rows {first:.2f} s, all health {health:.2f} s"
          "   (targets <= 1.5 s, <= 3 s)")
    print(f"  ratio screen / bare:                  first rows {first / bare_first:.2f}×, "
          f"all health {health / bare_all:.2f}×")


if __name__ == "__main__":
    main()
