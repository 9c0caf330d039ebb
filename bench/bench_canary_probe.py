"""Benchmark: what probing costs the console during a canary, beside what it costs the node it probes.

A real `deployer-tui serve` with one API node serves the demo's titanic v2 and v5; this process runs
core.canary.run_canary from v2 to v5 at the given probe rate (50 queries/s, the bound: each version at half
of it, so the 100 % step probes v5 alone at 25/s) in two steps that each soak SECONDS / 2, with the default
guards (v5 answers as v2 does: it must be PROMOTED, else exit 1). Over the soaks only (the updates between
them are not probing), it prints the console's CPU (time.process_time delta over wall time: this process,
every thread) beside the serve process's (the deployer, the node and its worker processes, from /proc), the
probes sent and their achieved rate.

    python bench/bench_canary_probe.py [--probe-rate 50] [--seconds 10]

Target: the console under 10 % of one core at 50 probes/s. Both figures come from the same run, so load
from other processes on the machine shows in both; the node's is the yardstick of what the probes ask.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dataikuapi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deployer_tui.core.canary import Guards, plan_canary, run_canary  # noqa: E402
from deployer_tui.core.canary_state import CanaryStore  # noqa: E402
from deployer_tui.core.client import DeployerClient  # noqa: E402
from deployer_tui.core.latency_log import LatencyLog  # noqa: E402
from deployer_tui.core.package import build_package  # noqa: E402
from deployer_tui.server.demo import PACKAGES_DIR  # noqa: E402
from tests import servers  # noqa: E402

ADMIN_KEY = "bench-admin-key"
DEPLOYMENT = "bench-canary"


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its descendants (the node's workers), from /proc. Workers
    that ended count too (their time moves to their parent's cutime/cstime once reaped): an update between
    two readings replaces the workers of a version."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def setup(work: Path, url: str, node_url: str, node_key: str) -> None:
    deployer = dataikuapi.DSSClient(url, ADMIN_KEY).get_apideployer()
    service = deployer.create_service("titanic")
    for version in ("v2", "v5"):
        out, _ = build_package(PACKAGES_DIR / f"titanic-{version}", work / f"titanic-{version}.zip")
        with out.open("rb") as fh:
            service.import_version(fh)
    infra = deployer.create_infra("bench-live", "Development", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(node_url, node_key)
    settings.save()
    dep = deployer.create_deployment(DEPLOYMENT, "titanic", "bench-live", "v2")
    dep.start_update().wait_for_result()


class SoakMeter:
    """Adds up wall time, this process's CPU and the server's CPU over the soak phases of a run."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.wall = self.console = self.server = 0.0
        self.requests: dict[int, int] = {}
        self._since: tuple[float, float, float] | None = None
        self._soaking_step = -1
        self.via = ""
        self.soaks = 0

    def __call__(self, progress: Any) -> None:
        soaking = progress.phase == "soak"
        if soaking and self._since is None:
            self._since = (time.perf_counter(), time.process_time(), cpu_seconds(self.server_pid))
            self._soaking_step = progress.step_index
        elif not soaking and self._since is not None:
            self._stop()
        if soaking:
            self.requests[progress.step_index] = sum(s.requests for s in progress.stats.values())
            self.via = progress.probe_via

    def _stop(self) -> None:
        assert self._since is not None
        wall, cpu, server = self._since
        self.wall += time.perf_counter() - wall
        self.console += time.process_time() - cpu
        self.server += cpu_seconds(self.server_pid) - server
        self._since = None
        self.soaks += 1


async def canary(url: str, rate: float, seconds: float, server_pid: int, state: Path) -> tuple[Any, SoakMeter]:
    meter = SoakMeter(server_pid)
    async with DeployerClient(url, ADMIN_KEY) as client:
        # The default guards: v5 answers as v2 does, so it must be promoted (and both soaks then run to
        # their end, which is what is measured).
        plan = await plan_canary(client, DEPLOYMENT, "v5", steps=(50, 100), soak_s=seconds / 2,
                                 guards=Guards(), probe_rate=rate)
        result = await run_canary(client, plan, meter, store=CanaryStore(state / "canary"),
                                  latency_log=LatencyLog(url, root=state / "latency"))
    return result, meter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe-rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0, help="soak time over both steps")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-canary-") as tmp:
        work = Path(tmp)
        proc = servers.serve(work / "data", ADMIN_KEY, apinodes=1)
        try:
            node_key = (work / "data" / "apinodes" / "node-1.admin-key").read_text().strip()
            setup(work, proc.url(), proc.url("apinode"), node_key)
            started = time.perf_counter()
            result, meter = asyncio.run(canary(proc.url(), args.probe_rate, args.seconds, proc.popen.pid,
                                               work / "state"))
            total = time.perf_counter() - started
        finally:
            proc.stop()
    probes = sum(meter.requests.values())
    wall = max(meter.wall, 1e-9)
    console, server = meter.console / wall * 100, meter.server / wall * 100
    print(f"canary v2 → v5 at {args.probe_rate:g} probes/s: {result.outcome} in {total:.1f} s; "
          f"{meter.soaks} soaks, {meter.wall:.1f} s, {probes} probes ({probes / wall:.1f}/s) via {meter.via}")
    if result.message:
        print(f"  {result.message}")
    print(f"CPU over the soaks, % of one core: console {console:.1f} % (target < 10 %), "
          f"serve (deployer + node + workers) {server:.1f} %; console/serve {console / max(server, 1e-9):.2f}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0 if result.outcome == "PROMOTED" else 1


if __name__ == "__main__":
    sys.exit(main())
