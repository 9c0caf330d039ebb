"""The TUI against a local deployer with many deployments, headless (Textual pilot).

Measures, in one run:
  * launch -> first painted deployment row, at N deployments (default 1,000);
  * launch -> every health cell filled (heavy statuses arrive in batches);
  * filter keystroke -> repaint in the deployments pane at M deployments (default 10,000);
  * cursor movement at M deployments: `j` held (one key after the other's repaint) and runs of
    `pagedown`, each key timed until its repaint: the longest of those is the longest stall;
  * peak RSS of this process (the app + its client; the deployer is another process) at M.
Baselines from the same run: the bare client fetching the same lists / heavy statuses with no UI, and a
plain Textual DataTable holding the same rows in an app of the same size (cursor keys on it, and a
naive filter that clears and refills it on every keystroke).

"Launch" starts at App construction in an already-imported process; the import time of the UI is
measured separately in a fresh interpreter and printed too.

Run:  python bench/bench_ui.py [--deployments 1000] [--filter-deployments 10000]
Targets: first row <= 1.5 s, all health <= 3 s at 1,000; filter <= 100 ms at 10,000; longest cursor
stall <= 50 ms at 10,000; peak RSS <= 150 MB at 10,000.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import DataTable, Input  # noqa: E402

from bench.fixtures import populate  # noqa: E402
from deployer_tui.core.bulk import iter_heavy_statuses  # noqa: E402
from deployer_tui.core.client import DeployerClient  # noqa: E402
from deployer_tui.core.config import Config  # noqa: E402
from deployer_tui.ui.app import DeployerApp  # noqa: E402
from deployer_tui.ui.view import rows  # noqa: E402
from deployer_tui.ui.widgets.resource_table import ResourceTable, plain  # noqa: E402
from tests import servers  # noqa: E402


async def baseline_fetch(client: DeployerClient) -> tuple[float, float]:
    started = time.perf_counter()
    lights = await client.list_deployments()
    await client.list_infras()
    await client.list_services()
    lists = time.perf_counter() - started
    ids = [d["deploymentBasicInfo"]["id"] for d in lights]
    async for _ in iter_heavy_statuses(client, ids, concurrency=8):
        pass
    return lists, time.perf_counter() - started


async def painted(app: DeployerApp) -> None:
    """Wait for the next screen refresh (the paint that shows what was just changed)."""
    done = asyncio.Event()
    app.call_after_refresh(done.set)
    await done.wait()


async def launch(client: DeployerClient, expected: int) -> tuple[float, float]:
    # Polling with plain sleeps: Pilot.pause() forces a full repaint each time, which would slow the
    # very thing being measured.
    started = time.perf_counter()
    app = DeployerApp(client=client, config=Config(refresh_interval=0))
    first_row = health = None
    async with app.run_test(size=(120, 40)):
        while first_row is None or health is None:
            await asyncio.sleep(0.01)
            table = app.screen.query_one("#deployments")
            if first_row is None and table.row_count > 0:
                await painted(app)
                first_row = time.perf_counter() - started
            # Checked from the last row up: rows on screen are filled first, so a row still loading is
            # found at once (scanning 1,000 filled rows first, 100 times a second, slowed the app down).
            if first_row is not None and table.row_count == expected and all(
                    plain(table.get_cell(k, "health")) != "loading…" for k in reversed(table.visible_keys)):
                await painted(app)
                health = time.perf_counter() - started
            if time.perf_counter() - started > 300:
                raise RuntimeError("the app did not load in 300 s")
    return first_row, health


class CollectorPauses:
    """Full (generation 2) garbage collections while active: when each started, and how long it took."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, float]] = []
        self._started = 0.0

    def __enter__(self) -> CollectorPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((self._started, time.perf_counter() - self._started))

    def within(self, spans: list[tuple[float, float]]) -> list[float]:
        return [d for t, d in self.pauses if any(a <= t <= b for a, b in spans)]


async def at_scale(client: DeployerClient, expected: int, text: str, args: argparse.Namespace
                   ) -> tuple[Typing, Cursor, dict[str, list[Any]], float]:
    """Each keystroke goes into the filter box as typing does (Input -> Changed -> the pane's filter);
    timed until the repaint that shows the filtered rows. Health is left to load meanwhile, as in use.
    Also returns the CPU time this process spent per keystroke: on a loaded machine the wall time also
    counts the time the process waited for a CPU. Then the cursor keys, the rows shown (for the
    baseline) and the peak RSS so far."""

    app = DeployerApp(client=client, config=Config(refresh_interval=0))
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one("#deployments")
        while table.row_count != expected:
            await asyncio.sleep(0.05)
        await pilot.press("slash")
        box = app.screen.query_one("#filter", Input)
        ours: list[float] = []
        cpu: list[float] = []
        spans: list[tuple[float, float]] = []
        for i, ch in enumerate(text, start=1):
            started, cpu_started = time.perf_counter(), time.process_time()
            box.insert_text_at_cursor(ch)
            while table.filter_text != text[:i].lower():
                await asyncio.sleep(0)
            await painted(app)
            ours.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            spans.append((started, time.perf_counter()))
        assert table.row_count < expected, "the filter did not narrow anything"
        await pilot.press("escape")
        while table.row_count != expected:
            await asyncio.sleep(0.05)
        table.focus()
        await painted(app)
        with CollectorPauses() as cursor_pauses:
            held = await cursor_keys(app, table, ["j"] * args.held_keys)
            pages = await cursor_keys(app, table, ["pagedown"] * args.page_keys)
        records = {key: table.get_row(key) for key in table.visible_keys}
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tracked = len(gc.get_objects())
    return Typing(ours, cpu, spans), Cursor(held, pages, cursor_pauses.pauses, tracked), records, rss


class Typing(NamedTuple):
    ours: list[float]
    cpu: list[float]
    spans: list[tuple[float, float]]


class Cursor(NamedTuple):
    held: list[tuple[float, float]]
    pages: list[tuple[float, float]]
    pauses: list[tuple[float, float]]
    tracked: int  # objects the cyclic collector walks in a full collection


async def cursor_keys(app: App, table: Any, keys: list[str]) -> list[tuple[float, float]]:
    """Each key as the terminal sends it (a Key event to the app), timed until the repaint that shows
    the cursor moved: (wall time, CPU time of this process)."""
    times = []
    for key in keys:
        before = table.cursor_row if isinstance(table, ResourceTable) else table.cursor_coordinate.row
        started, cpu_started = time.perf_counter(), time.process_time()
        app.post_message(events.Key(key, key if len(key) == 1 else None))
        deadline = started + 10
        while (table.cursor_row if isinstance(table, ResourceTable) else table.cursor_coordinate.row) == before:
            await asyncio.sleep(0)
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{key} did not move the cursor")
        await painted(app)
        times.append((time.perf_counter() - started, time.process_time() - cpu_started))
    return times


class BaselineApp(App):
    """A plain Textual DataTable with the rows of the deployments pane."""

    def __init__(self, records: dict[str, list[Any]]) -> None:
        super().__init__()
        self.records = records

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in rows.DEPLOYMENT_DISPLAY:
            table.add_column(column, key=column)
        for key, cells in self.records.items():
            table.add_row(*cells, key=key)
        table.focus()


async def datatable_baseline(records: dict[str, list[Any]], text: str, args: argparse.Namespace
                             ) -> tuple[list[float], Cursor]:
    app = BaselineApp(records)
    async with app.run_test(size=(120, 40)):
        table = app.query_one(DataTable)
        await painted(app)
        with CollectorPauses() as pauses:
            held = await cursor_keys(app, table, ["down"] * args.held_keys)  # DataTable has no `j`
            pages = await cursor_keys(app, table, ["pagedown"] * args.page_keys)
        # A naive filter: clear the table and refill the matches on every keystroke.
        naive: list[float] = []
        for i in range(1, len(text) + 1):
            needle = text[:i].lower()
            started = time.perf_counter()
            with app.batch_update():
                table.clear()
                for key, cells in records.items():
                    if needle in " ".join(plain(c) for c in cells).lower():
                        table.add_row(*cells, key=key)
            await painted(app)
            naive.append(time.perf_counter() - started)
        tracked = len(gc.get_objects())
    return naive, Cursor(held, pages, pauses.pauses, tracked)


def import_time() -> float:
    code = "import time; t=time.perf_counter(); import deployer_tui.ui.app; print(time.perf_counter()-t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                cwd=ROOT).stdout)


async def main_async(args: argparse.Namespace) -> None:
    key = "bench-" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="deployer-tui-bench-ui-") as tmp:
        work = Path(tmp)
        proc = servers.serve(work / "data", key, apinodes=1)
        try:
            node_key = key  # serve starts its nodes with the deployer's admin key
            async with DeployerClient(proc.url("deployer"), key, max_connections=32) as client:
                t = time.perf_counter()
                await populate(client, proc.url("apinode"), node_key, work, 0, args.deployments)
                print(f"setup: {args.deployments} deployments in {time.perf_counter() - t:.1f} s")
                base_lists, base_all = await baseline_fetch(client)
                first_row, health = await launch(client, args.deployments)
                rss_small = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

                more = args.filter_deployments - args.deployments
                t = time.perf_counter()
                if more > 0:
                    await populate(client, proc.url("apinode"), node_key, work, args.deployments, more)
                print(f"setup: {args.filter_deployments} deployments in total (+{time.perf_counter() - t:.1f} s)")
                with CollectorPauses() as pauses:
                    typing, cursor, records, rss = await at_scale(client, args.filter_deployments,
                                                                  args.filter_text, args)
        finally:
            proc.stop()
    naive, base_cursor = await datatable_baseline(records, args.filter_text, args)
    rss_after_baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ours, cpu, spans = typing
    imp = import_time()

    def ms(x: float) -> str:
        return f"{x * 1000:.0f} ms"

    print()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (the deployer shares these CPUs)")
    print(f"UI import (fresh interpreter):          {ms(imp)}")
    print(f"at {args.deployments} deployments:")
    print(f"  launch -> first painted row:          {ms(first_row)}   (target <= 1500 ms; "
          f"bare client lists: {ms(base_lists)}, x{first_row / base_lists:.1f})")
    print(f"  launch -> all health filled:          {ms(health)}   (target <= 3000 ms; "
          f"bare client lists + heavy: {ms(base_all)}, x{health / base_all:.1f})")
    print(f"  peak RSS after this phase:            {rss_small:.0f} MB")
    print(f"at {args.filter_deployments} deployments, filter {args.filter_text!r} one key at a time:")
    print(f"  keystroke -> repaint, ours:           median {ms(statistics.median(ours))}, max {ms(max(ours))}"
          f"   (target <= 100 ms)  per key: {', '.join(ms(x) for x in ours)}")
    print(f"  ... of which CPU time of this process: median {ms(statistics.median(cpu))}, max {ms(max(cpu))}")
    print(f"  baseline DataTable clear+refill:      median {ms(statistics.median(naive))}, max {ms(max(naive))}"
          f"   (ours x{statistics.median(ours) / statistics.median(naive):.2f} of it)")
    during = pauses.within(spans)
    print(f"  full GC pauses in that run:           {len(pauses.pauses)}, max {ms(max((d for _, d in pauses.pauses), default=0))}"
          f"; during keystrokes: {len(during)}{', max ' + ms(max(during)) if during else ''}")
    print(f"at {args.filter_deployments} deployments, cursor keys (each timed to its repaint):")
    for name, mine, theirs in (("j held", cursor.held, base_cursor.held),
                               ("pagedown run", cursor.pages, base_cursor.pages)):
        wall, cpu_ = [w for w, _ in mine], [c for _, c in mine]
        base_wall, base_cpu = [w for w, _ in theirs], [c for _, c in theirs]
        print(f"  {name + ' x' + str(len(mine)) + ':':<37} median {ms(statistics.median(wall))}, "
              f"longest stall {ms(max(wall))} (target <= 50 ms); CPU median {ms(statistics.median(cpu_))}, "
              f"max {ms(max(cpu_))}")
        print(f"  {'  baseline DataTable:':<37} median {ms(statistics.median(base_wall))}, "
              f"longest stall {ms(max(base_wall))}; CPU median {ms(statistics.median(base_cpu))}, "
              f"max {ms(max(base_cpu))}")
    print(f"  full GC pauses during cursor keys:    {len(cursor.pauses)}"
          f"{', max ' + ms(max(d for _, d in cursor.pauses)) if cursor.pauses else ''}"
          f"   (baseline DataTable: {len(base_cursor.pauses)}"
          f"{', max ' + ms(max(d for _, d in base_cursor.pauses)) if base_cursor.pauses else ''})")
    print(f"  gc-tracked objects at the end:        {cursor.tracked:,}   (baseline DataTable app: "
          f"{base_cursor.tracked:,}, the store and client gone by then)")
    print(f"peak RSS at {args.filter_deployments} (ours):            {rss:.0f} MB   (target <= 150 MB; "
          f"after the baseline DataTable app too: {rss_after_baseline:.0f} MB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--filter-deployments", type=int, default=10_000)
    parser.add_argument("--filter-text", default="bench-0123")
    parser.add_argument("--held-keys", type=int, default=200, help="`j` presses in the held-key run")
    parser.add_argument("--page-keys", type=int, default=40, help="`pagedown` presses in the page run")
    args = parser.parse_args()
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
