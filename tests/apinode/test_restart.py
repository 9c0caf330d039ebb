"""A restarted node serves what it served before: mappings, enabled flags, settings and keys live on disk."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import dataikuapi
import pytest

from tests.apinode.conftest import ADMIN_KEY, QUERY_KEY, deploy, http, node_dir
from tests.servers import apinode


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue  # a thread of the node ended between the listing and the read

    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited; only its parent's wait is missing


MULTI = {"mode": "MULTI_GENERATION", "strategy": "HASH_BASED",
         "entries": [{"generation": "m1", "proba": 0.25}, {"generation": "m2", "proba": 0.75}]}


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_restarted_node_keeps_its_mappings(tmp_path, packages: dict, how: signal.Signals) -> None:
    data_dir = node_dir(tmp_path / "node")
    first = apinode(data_dir, ADMIN_KEY)
    try:
        admin = dataikuapi.APINodeAdminClient(first.url("apinode"), ADMIN_KEY)
        deploy(admin, "kept", [packages["m1"], packages["m2"]], MULTI)
        deploy(admin, "off", [packages["m1"]], {"mode": "SINGLE_GENERATION", "generation": "m1"})
        admin.service("off").disable()
        admin._perform_empty("POST", "services/kept/endpoints/hello/settings", body={"executionTimeoutMs": 4321})
        extra = admin.auth().add_key(label="kept")
        before = {s["serviceId"]: s for s in admin.list_services()}
    finally:
        workers = children(first.popen.pid)
        first.stop(how)
    assert workers, "the node had no worker processes to check"
    # Even a node killed with SIGKILL leaves no worker behind (they die with their parent).
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if alive(pid)]
    second = apinode(data_dir, ADMIN_KEY)
    try:
        url = second.url("apinode")
        admin = dataikuapi.APINodeAdminClient(url, extra["key"])  # an API-added key survives too
        after = {s["serviceId"]: s for s in admin.list_services()}
        assert after == before
        assert after["kept"]["activeMapping"]["entries"] == MULTI["entries"]
        assert after["off"]["enabled"] is False
        client = dataikuapi.APINodeClient(url, "kept", api_key=QUERY_KEY)
        versions = {http.post(f"{url}/public/api/v1/kept/hello/run", json={}, auth=(QUERY_KEY, ""),
                               headers={"X-DKU-Dispatch-Key": f"k{i}"}).json()["apiContext"]["serviceGeneration"]
                    for i in range(16)}
        assert versions == {"m1", "m2"}
        again = http.post(f"{url}/public/api/v1/kept/hello/run", json={"name": "again"}, auth=(QUERY_KEY, ""),
                           headers={"X-DKU-Dispatch-Key": "k0"})
        assert again.json()["response"]["greeting"] == "hello again"
        with pytest.raises(dataikuapi.utils.DataikuException, match="dispatch key is mandatory"):
            client.run_function("hello")
        settings = admin._perform_json("GET", "services/kept/endpoints/hello/settings")
        assert settings == {"executionTimeoutMs": 4321}
        off = http.post(f"{url}/public/api/v1/off/hello/run", json={}, auth=(QUERY_KEY, ""))
        assert off.status_code == 503
    finally:
        second.stop()


def test_generated_admin_key_is_kept_and_private(tmp_path) -> None:
    from tests.servers import start

    data_dir = tmp_path / "keyless"
    proc = start(["apinode", "--port", "0", "--data-dir", str(data_dir)], {"apinode": 1})
    try:
        key_file = data_dir / "admin-api-key"
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        key = key_file.read_text().strip()
        assert key and all(key not in line for line in proc.output)  # never printed
        assert isinstance(dataikuapi.APINodeAdminClient(proc.url("apinode"), key).list_services(), list)
    finally:
        proc.stop()
    proc = start(["apinode", "--port", "0", "--data-dir", str(data_dir)], {"apinode": 1})
    try:
        assert (data_dir / "admin-api-key").read_text().strip() == key
        assert isinstance(dataikuapi.APINodeAdminClient(proc.url("apinode"), key).list_services(), list)
    finally:
        proc.stop()


def test_a_corrupt_state_file_aborts_that_service_only(tmp_path, packages: dict) -> None:
    data_dir = node_dir(tmp_path / "node")
    first = apinode(data_dir, ADMIN_KEY)
    try:
        admin = dataikuapi.APINodeAdminClient(first.url("apinode"), ADMIN_KEY)
        deploy(admin, "good", [packages["m1"]], {"generation": "m1"})
        deploy(admin, "bad", [packages["m1"]], {"generation": "m1"})
    finally:
        first.stop()
    state = data_dir / "services" / "bad" / "state.json"
    state.write_text('{"enabled": true, "activeMapping": ')  # a torn write by something else
    second = apinode(data_dir, ADMIN_KEY)
    try:
        url = second.url("apinode")
        listed = {s["serviceId"]: s for s in dataikuapi.APINodeAdminClient(url, ADMIN_KEY).list_services()}
        assert listed["bad"]["enabled"] is False
        assert "state.json is not valid JSON" in listed["bad"]["startAbortedReason"]
        assert http.post(f"{url}/public/api/v1/good/hello/run", json={}, auth=(QUERY_KEY, "")).status_code == 200
        assert state.read_text() == '{"enabled": true, "activeMapping": '  # left for the operator to see
    finally:
        second.stop()


def test_a_corrupt_admin_keys_file_stops_the_node_with_a_clear_message(tmp_path) -> None:
    from tests.servers import start

    data_dir = tmp_path / "node"
    (data_dir / "config").mkdir(parents=True)
    (data_dir / "config" / "adminkeys.json").write_text("{not json")
    with pytest.raises(RuntimeError, match="adminkeys.json is not valid JSON"):
        start(["apinode", "--port", "0", "--data-dir", str(data_dir), "--admin-key", ADMIN_KEY], {"apinode": 1})
    assert (data_dir / "config" / "adminkeys.json").read_text() == "{not json"


def test_a_busy_port_is_a_clear_error(tmp_path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "deployer_tui.cli", "apinode", "--port", str(port),
                               "--data-dir", str(tmp_path / "node"), "--admin-key", ADMIN_KEY],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_a_malformed_server_config_stops_the_node_with_its_name(tmp_path) -> None:
    from tests.servers import start

    data_dir = tmp_path / "node"
    (data_dir / "config").mkdir(parents=True)
    (data_dir / "config" / "server.json").write_text('["not", "an", "object"]')
    with pytest.raises(RuntimeError, match="server.json must hold a JSON object"):
        start(["apinode", "--port", "0", "--data-dir", str(data_dir), "--admin-key", ADMIN_KEY], {"apinode": 1})
