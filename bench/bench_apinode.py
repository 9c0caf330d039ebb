"""Benchmark: a trivial PY_FUNCTION on a local API node vs a bare Starlette endpoint.

Both servers run as separate processes on loopback, in the same run, under the same load: C
concurrent asyncio keep-alive connections posting for D seconds each (after a warm-up). Prints requests
per second, p50 and p99 latency of each, and the node/bare throughput ratio.

    python bench/bench_apinode.py [--clients 16] [--seconds 3] [--rounds 3]

Target: ratio >= 0.5 and node p99 <= 20 ms at 16 clients. Also printed: the servers' CPU
time per request (the node's includes its worker processes), which other load on the machine
disturbs far less than throughput and latency do, and the load average during the run.

Both servers run through `runner.serve_all` on `runner.run`, so they share every server setting: the
uvloop event loop and uvicorn's httptools parser when installed (project dependencies), and the
runner's coalesced writes. The load generator runs on the same loop. With 16 connections in flight,
latency is about 16 / throughput plus whatever stalls the machine adds: on 2 shared CPUs, p99 moves
with the load average as much as with the code, so compare the two servers of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ADMIN_KEY = "bench-admin-key"
CODE = "def api_py_function(x=1):\n    return {\"x\": x, \"ok\": True}\n"


def bare_app():
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def run(request: Request) -> JSONResponse:
        body = json.loads(await request.body() or b"{}")
        return JSONResponse({"response": {"x": body.get("x", 1), "ok": True}})

    return Starlette(routes=[Route("/run", run, methods=["POST"])])


def serve_bare() -> None:
    from deployer_tui.server.runner import Listener, run, serve_all

    # The same event loop as the node's (runner.run: uvloop when installed), so the ratio compares servers.
    run(serve_all([Listener("bare", bare_app(), "127.0.0.1", 0)]))


def start(cmd: list[str], name: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(f"{name}: "):
            return proc, line.split(": ", 1)[1].strip()
    raise RuntimeError(f"{name} did not start")


def build_package(folder: Path) -> Path:
    from deployer_tui.core.package import build_package as build

    src = folder / "pkg"
    (src / "endpoint-fn").mkdir(parents=True)
    (src / "tag.json").write_text(json.dumps({"generationId": "v1"}))
    (src / "config.json").write_text(json.dumps({
        "publicAccess": True, "endpoints": [{"id": "fn", "type": "PY_FUNCTION", "userFunctionName": "api_py_function"}]}))
    (src / "endpoint-fn" / "code.py").write_text(CODE)
    out, _ = build(src, folder / "pkg.zip")
    return out


def deploy(node_url: str, package: Path, pool: dict | None = None) -> None:
    with httpx.Client(base_url=node_url + "/admin/api", auth=(ADMIN_KEY, ""), timeout=60) as admin:
        admin.post("/services", json={"serviceId": "bench"}).raise_for_status()
        if pool:
            admin.post("/services/bench/endpoints/fn/settings", json={"pool": pool}).raise_for_status()
        with open(package, "rb") as fh:
            admin.post("/services/bench/generations/actions/importFromStream",
                       files={"file": ("pkg.zip", fh)}).raise_for_status()
        admin.post("/services/bench/actions/switchTo/v1").raise_for_status()


class Connection:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams.

    httpx's async client costs several ms per request here, which would measure the load
    generator rather than the servers; this one costs tens of microseconds.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                          + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its descendants (the node's workers), from /proc."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


async def load(url: str, clients: int, seconds: float, warmup: float,
               server_pid: int) -> tuple[float, float, float, int, float]:
    parsed = httpx.URL(url)
    latencies: list[float] = []
    errors = 0
    body = b'{"x": 2}'
    connections = [await Connection.open(parsed.host, parsed.port) for _ in range(clients)]

    async def worker(conn: Connection, until: float, record: bool) -> None:
        nonlocal errors
        while (now := time.perf_counter()) < until:
            status, _ = await conn.post(parsed.raw_path.decode(), body)
            if status != 200:
                errors += 1
            if record:
                latencies.append(time.perf_counter() - now)

    end_warm = time.perf_counter() + warmup
    await asyncio.gather(*(worker(c, end_warm, False) for c in connections))
    cpu_before = cpu_seconds(server_pid)
    start = time.perf_counter()
    await asyncio.gather(*(worker(c, start + seconds, True) for c in connections))
    elapsed = time.perf_counter() - start
    cpu_us = (cpu_seconds(server_pid) - cpu_before) / max(len(latencies), 1) * 1e6
    for conn in connections:
        conn.close()
    latencies.sort()

    def q(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return len(latencies) / elapsed, q(0.5), q(0.99), errors, cpu_us


def main() -> int:
    # The load generator shares the CPUs with the servers: on the servers' event loop (uvloop when
    # installed) it takes less of them from either.
    from deployer_tui.server.runner import run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=1.5)
    parser.add_argument("--pool", help='endpoint pool settings as JSON, e.g. \'{"floor": 2, "cruise": 2, "ceil": 2}\' '
                                           "(default: the node's defaults)")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare()
        return 0
    procs = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            package = build_package(folder)
            node, node_url = start([sys.executable, "-m", "deployer_tui.cli", "apinode", "--port", "0",
                                    "--data-dir", str(folder / "node"), "--admin-key", ADMIN_KEY], "apinode")
            procs.append(node)
            bare, bare_url = start([sys.executable, __file__, "--serve-bare"], "bare")
            procs.append(bare)
            deploy(node_url, package, json.loads(args.pool) if args.pool else None)
            names = {"bare starlette": (bare_url + "/run", bare.pid),
                     "apinode PY_FUNCTION": (node_url + "/public/api/v1/bench/fn/run", node.pid)}
            rounds: dict[str, list[tuple[float, float, float, int, float]]] = {name: [] for name in names}
            # Alternate the two servers over several rounds so that load from other processes on the machine
            # weighs on both alike; report the median round of each.
            for _ in range(args.rounds):
                for name, (url, pid) in names.items():
                    rounds[name].append(run(load(url, args.clients, args.seconds, args.warmup, pid)))
            print(f"{args.clients} concurrent clients, {args.rounds} rounds of {args.seconds:g} s per server "
                  f"(each after {args.warmup:g} s warm-up), medians:")
            medians = {}
            for name, runs in rounds.items():
                rps = statistics.median(r[0] for r in runs)
                p50 = statistics.median(r[1] for r in runs)
                p99 = statistics.median(r[2] for r in runs)
                errors = sum(r[3] for r in runs)
                cpu = statistics.median(r[4] for r in runs)
                medians[name] = (rps, p50, p99, cpu)
                print(f"{name:22s} {rps:8.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   "
                      f"server CPU {cpu:5.0f} us/req   errors {errors}   "
                      f"(rounds: {', '.join(f'{r[0]:.0f}' for r in runs)} req/s)")
            node_m, bare_m = medians["apinode PY_FUNCTION"], medians["bare starlette"]
            print(f"ratio apinode/bare throughput: {node_m[0] / bare_m[0]:.2f} (target >= 0.5); "
                  f"apinode p99 {node_m[2]:.2f} ms (target <= 20 ms); bare p99 {bare_m[2]:.2f} ms")
            # Throughput depends on what else the machine runs; CPU per request much less so.
            print(f"ratio of server CPU per request, bare/apinode (node + its workers): {bare_m[3] / node_m[3]:.2f}; "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
