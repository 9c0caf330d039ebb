"""Light + heavy status of every deployment: DeployerClient (async, concurrent) vs dataikuapi (sequential).

Starts a local deployer (`--no-demo`), creates one STATIC infra on its local API node, one service with one
version and N deployments (default 500), then times in the same run:

  (a) DeployerClient: list_deployments() + every heavy status through bulk.iter_heavy_statuses;
  (b) dataikuapi:     list_deployments() then get_status() for each (light + heavy per deployment),
                      as a script using the official client would.

Prints both times and their ratio, once per simulated network round-trip time (`--rtt-ms`, default "0,10"):
0 is plain loopback, where both sides are CPU-bound on the same machine; a positive RTT puts a small
delaying TCP proxy (a child process) between the clients and the deployer, as when the TUI talks to a
DSS across a network — there the concurrent client hides the latency the sequential one pays per call.

Run:  python bench/bench_status.py [--deployments 500] [--concurrency 16] [--rtt-ms 0,10] [--repeat 1]
                                   [--deploy-all]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fixtures import populate  # noqa: E402
from deployer_tui.core.bulk import iter_heavy_statuses  # noqa: E402
from deployer_tui.core.client import DeployerClient  # noqa: E402
from deployer_tui.core.errors import DeployerError  # noqa: E402
from deployer_tui.core.job_follower import follow_future  # noqa: E402
from tests import servers  # noqa: E402


async def setup(url: str, key: str, node_url: str, node_key: str, work: Path, count: int,
                deploy_all: bool = False) -> list[str]:
    async with DeployerClient(url, key, max_connections=32) as client:
        ids = await populate(client, node_url, node_key, work, 0, count)
        # Deploy once so heavy statuses reflect a live service on the node (what an operator would look at);
        # with --deploy-all every deployment is live, so every heavy status weighs what the node serves.
        gate = asyncio.Semaphore(8)

        async def deploy(dep_id: str) -> None:
            async with gate:
                job = await client.start_update(dep_id)
                async for event in follow_future(client, job["jobId"]):
                    if event.error:
                        raise event.error

        await asyncio.gather(*(deploy(d) for d in (ids if deploy_all else ids[:1])))
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


async def _proxy(listen_port: int, upstream: str, delay_s: float) -> None:
    """Forward TCP to `upstream` (host:port); every server→client chunk is delivered `delay_s` later."""
    up_host, up_port = upstream.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
        if delay <= 0:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except ConnectionError:
                pass
            writer.close()
            return
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.create_task(deliver())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((time.monotonic() + delay, data))
        except ConnectionError:
            pass
        queue.put_nowait((0.0, b""))
        await sender

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(up_host, int(up_port))
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, server_w, 0.0), pipe(server_r, client_w, delay_s),
                             return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    print(f"proxy: http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def start_proxy(url: str, rtt_ms: float) -> tuple[subprocess.Popen, str]:
    parts = urlsplit(url)
    cmd = [sys.executable, __file__, "--proxy-to", parts.netloc, "--proxy-delay-ms", str(rtt_ms)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("proxy: "):
        proc.kill()
        raise RuntimeError(f"latency proxy did not start: {line!r}")
    return proc, line.removeprefix("proxy: ")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def compare(url: str, key: str, concurrency: int, repeat: int, label: str, server_pid: int) -> float:
    """Time both sides `repeat` times; also report the CPU each spent, client side and server side,
    since on a small shared machine the wall time depends on what else runs."""
    ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
    for _ in range(repeat):
        cpu0, srv0 = time.process_time(), cpu_seconds(server_pid)
        elapsed, ok, failed = asyncio.run(run_ours(url, key, concurrency))
        cpu1, srv1 = time.process_time(), cpu_seconds(server_pid)
        ours.append(elapsed)
        ours_cpu.append(cpu1 - cpu0 + srv1 - srv0)
        print(f"  DeployerClient: list + {ok} heavy statuses ({failed} errors) in {elapsed:.2f}s "
              f"(concurrency {concurrency}; CPU client {cpu1 - cpu0:.2f}s, server {srv1 - srv0:.2f}s)")
        elapsed, count = run_dataikuapi(url, key)
        cpu2, srv2 = time.process_time(), cpu_seconds(server_pid)
        theirs.append(elapsed)
        theirs_cpu.append(cpu2 - cpu1 + srv2 - srv1)
        print(f"  dataikuapi:     list + {count} get_status() in {elapsed:.2f}s "
              f"(CPU client {cpu2 - cpu1:.2f}s, server {srv2 - srv1:.2f}s)")
    ratio = statistics.median(theirs) / statistics.median(ours)
    print(f"  ratio dataikuapi / DeployerClient ({label}): {ratio:.1f}x  (median of {repeat}; "
          f"load average {os.getloadavg()[0]:.2f})")
    # What the wall-time ratio tends to when the two processes share one core (a loaded machine):
    # client + server CPU of each side (server CPU has a 10 ms resolution).
    if min(ours_cpu) > 0:
        cpu_ratio = statistics.median(theirs_cpu) / statistics.median(ours_cpu)
        print(f"  CPU (client + server) ratio ({label}): {cpu_ratio:.1f}x  (median of {repeat})")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rtt-ms", default="0,10", help="comma-separated simulated round-trip times, 0 = direct")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each side (the median is reported)")
    parser.add_argument("--deploy-all", action="store_true",
                        help="update every deployment in setup (default: only the first one)")
    parser.add_argument("--proxy-to", help=argparse.SUPPRESS)
    parser.add_argument("--proxy-delay-ms", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.proxy_to:
        asyncio.run(_proxy(0, args.proxy_to, args.proxy_delay_ms / 1000))
        return 0
    rtts = [float(x) for x in args.rtt_ms.split(",") if x.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-status-") as tmp:
        work = Path(tmp)
        key = secrets.token_hex(16)
        proc = servers.serve(work / "data", key, apinodes=1)
        try:
            url, node_url = proc.url("deployer"), proc.url("apinode")
            node_key = (work / "data" / "apinodes" / "node-1.admin-key").read_text().strip()
            t0 = time.perf_counter()
            asyncio.run(setup(url, key, node_url, node_key, work, args.deployments, args.deploy_all))
            print(f"setup: {args.deployments} deployments ({'all' if args.deploy_all else 'one'} deployed) "
                  f"in {time.perf_counter() - t0:.1f}s  (load average {os.getloadavg()[0]:.2f})")
            for rtt in rtts:
                if rtt <= 0:
                    print("direct loopback:")
                    compare(url, key, args.concurrency, args.repeat, "loopback", proc.popen.pid)
                    continue
                proxy, proxied = start_proxy(url, rtt)
                try:
                    print(f"through a proxy adding {rtt:g} ms per round trip:")
                    compare(proxied, key, args.concurrency, args.repeat, f"{rtt:g} ms RTT", proc.popen.pid)
                finally:
                    proxy.kill()
                    proxy.wait()
        finally:
            proc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
