"""Two `serve` on one machine, the address-in-use error, and the files a deployer keeps: every folder
0700, the nodes' data outside the deployer's data dir and found again after a restart."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.deployer.conftest import ADMIN_KEY
from tests.security.deployer_env import DEPLOYMENT, SERVICE, start, update
from tests.servers import start as start_process


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(data: Path, port: int, *extra: str):
    return start_process(["serve", "--port", str(port), "--data-dir", str(data), "--api-key", ADMIN_KEY,
                          "--apinodes", "2", "--no-demo", *extra], {"deployer": 1, "apinode": 2})


def test_two_serves_with_default_node_ports_run_side_by_side(tmp_path):
    first = _serve(tmp_path / "a", _free_port())
    try:
        second = _serve(tmp_path / "b", _free_port())
        try:
            urls = first.urls["apinode"] + second.urls["apinode"]
            assert len(set(urls)) == 4
            for url in urls:
                assert httpx.get(f"{url}/isAlive", timeout=10).status_code == 200
        finally:
            second.stop()
    finally:
        first.stop()


def test_a_taken_node_port_is_named_with_the_option_to_change_it(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        failed = subprocess.run([sys.executable, "-m", "deployer_tui.cli", "serve", "--port", "0", "--data-dir",
                                 str(tmp_path / "data"), "--apinodes", "1", "--no-demo",
                                 "--apinode-port", str(port - 1)], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1
    assert f"port {port}" in failed.stderr and "--apinode-port" in failed.stderr, failed.stderr
    base = _free_port()
    proc = _serve(tmp_path / "data", 0, "--apinode-port", str(base))
    try:
        assert proc.urls["apinode"] == [f"http://127.0.0.1:{base + 1}", f"http://127.0.0.1:{base + 2}"]
    finally:
        proc.stop()


def _folders(root: Path) -> list[Path]:
    return [root, *(p for p in root.rglob("*") if p.is_dir())]


def test_data_dirs_are_private_and_node_data_lives_outside_the_data_dir(tmp_path):
    env = start(tmp_path)
    try:
        with env.http() as http:
            assert update(http)["result"]["nbOKNodes"] == 1
    finally:
        env.proc.stop()
    data, nodes = tmp_path / "data", tmp_path / "data-apinodes"
    assert (nodes / "node-1").is_dir() and not (data / "apinodes" / "node-1").exists()
    assert (data / "versions" / SERVICE).is_dir()
    for folder in [*_folders(data), nodes, nodes / "node-1"]:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder

    env = start(tmp_path, fresh=False)  # the restarted node finds its data: it serves with no new update
    try:
        node = env.proc.url("apinode")
        assert httpx.post(f"{node}/public/api/v1/{SERVICE}/echo/run", json={"x": 1}, timeout=30).status_code == 200
        with env.http() as http:
            assert http.get(f"/api-deployer/deployments/{DEPLOYMENT}/status").json()["health"] == "HEALTHY"
    finally:
        env.proc.stop()


def test_node_data_left_inside_the_data_dir_by_an_older_version_is_moved_out(tmp_path):
    env = start(tmp_path)
    try:
        with env.http() as http:
            assert update(http)["result"]["nbOKNodes"] == 1
    finally:
        env.proc.stop()
    old = tmp_path / "data" / "apinodes" / "node-1"
    (tmp_path / "data-apinodes" / "node-1").rename(old)  # where an older version kept it
    env = start(tmp_path, fresh=False)
    try:
        assert not old.exists() and (tmp_path / "data-apinodes" / "node-1").is_dir()
        node = env.proc.url("apinode")
        assert httpx.post(f"{node}/public/api/v1/{SERVICE}/echo/run", json={"x": 1}, timeout=30).status_code == 200
    finally:
        env.proc.stop()


def test_a_second_serve_on_the_same_data_dir_waits_for_the_first_then_refuses(tmp_path):
    from deployer_tui.server.serve import lock_data_dir

    data = tmp_path / "data"
    first = start_process(["serve", "--port", "0", "--data-dir", str(data), "--api-key", ADMIN_KEY,
                           "--apinodes", "0", "--no-demo"], {"deployer": 1})
    second = subprocess.Popen([sys.executable, "-m", "deployer_tui.cli", "serve", "--port", "0", "--data-dir",
                               str(data), "--api-key", ADMIN_KEY, "--apinodes", "0", "--no-demo"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert second.stdout is not None
        assert "waiting for the deployer-tui serve still using" in second.stdout.readline()
        assert first.stop() == 0
        assert second.stdout.readline().startswith("deployer: http://127.0.0.1:")  # it took over the data dir
        assert lock_data_dir(data, wait_s=0.2) is None  # held by the second one: a third one is refused
    finally:
        first.kill()
        second.kill()
        second.wait(15)
