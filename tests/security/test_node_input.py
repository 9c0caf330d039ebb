"""Hostile input to an API node: bodies that used to cost a worker, oversize and deeply nested
bodies, node-side failures that were logged nowhere, and zip bombs made of many small entries."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from pathlib import Path

import dataikuapi
import pytest
from dataikuapi.utils import DataikuException

from tests.security.conftest import (
    NODE_ADMIN_KEY,
    deploy_function,
    function_package,
    http,
    run,
    wait_for_output,
)
from tests.servers import apinode

PID = '''
import os

def pid(**kwargs):
    return {"pid": os.getpid(), "args": kwargs}
'''

FAIL = '''
def fail():
    raise RuntimeError("broken on purpose")
'''


@pytest.fixture(scope="module")
def services(node_admin: dataikuapi.APINodeAdminClient, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("input")
    deploy_function(node_admin, "pid", function_package(root, "v1", PID, "pid"), "v1")
    deploy_function(node_admin, "fail", function_package(root, "v7", FAIL, "fail"), "v7")


@pytest.mark.parametrize("text", ['{"x": NaN}', '{"x": Infinity}', '{"x": [-Infinity]}'])
def test_nan_in_a_body_is_400_and_costs_no_worker(node_url: str, services, text: str) -> None:
    before = run(node_url, "pid", "pid").json()["response"]["pid"]
    resp = run(node_url, "pid", "pid", content=text.encode())
    assert resp.status_code == 400, resp.text
    assert "is not a JSON number" in resp.json()["message"]
    assert resp.json()["errorType"] == "com.dataiku.dip.server.MalformedRequestException"
    assert run(node_url, "pid", "pid").json()["response"]["pid"] == before  # the same worker answers


def test_nan_in_a_query_string_stays_text(node_url: str, services) -> None:
    resp = http.get(f"{node_url}/public/api/v1/pid/pid/run", params={"x": "NaN", "y": "2.5"})
    assert resp.status_code == 200 and resp.json()["response"]["args"] == {"x": "NaN", "y": 2.5}


def test_a_deeply_nested_body_is_400(node_url: str, services) -> None:
    resp = run(node_url, "pid", "pid", content=('{"x": ' + "[" * 40 + "]" * 40 + "}").encode())
    assert resp.status_code == 400 and "deeper than 32 levels" in resp.json()["message"]
    resp = run(node_url, "pid", "pid", content=('{"x": ' + "[" * 100000 + "]" * 100000 + "}").encode())
    assert resp.status_code == 400 and "deeper than" in resp.json()["message"]
    assert run(node_url, "pid", "pid", {"x": [[1], {"a": [2]}]}).status_code == 200


def test_an_oversize_body_is_400(node_url: str, services) -> None:
    resp = run(node_url, "pid", "pid", content=b'{"x": "' + b"y" * (1024 * 1024) + b'"}')
    assert resp.status_code == 400 and "maxQueryBodyBytes" in resp.json()["message"]


def test_node_side_500s_are_logged_with_service_endpoint_and_version(node, node_url: str, node_root: Path,
                                                                     services) -> None:
    resp = run(node_url, "fail", "fail")
    assert resp.status_code == 500 and "broken on purpose" in resp.json()["message"]
    line = wait_for_output(node, "query failed with 500")
    assert "service fail" in line and "endpoint fail" in line and "version v7" in line and "RuntimeError" in line
    worker_log = (node_root / "logs" / "fail.log").read_text()
    assert "[node]" in worker_log and "version v7" in worker_log


def test_data_dirs_are_private(node_root: Path, tmp_path: Path, services) -> None:
    for folder in (node_root, node_root / "services", node_root / "logs", node_root / "tmp",
                   node_root / "services" / "pid", node_root / "services" / "pid" / "gens"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for path in (node_root / "config" / "adminkeys.json", node_root / "logs" / "pid.log"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # A data dir the node creates itself, and one an older node left world-readable.
    fresh, loose = tmp_path / "fresh" / "data", tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    for folder in (fresh, loose):
        proc = apinode(folder, NODE_ADMIN_KEY)
        proc.stop()
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def bomb(entries: int, size: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("tag.json", json.dumps({"generationId": "b1"}))
        zf.writestr("config.json", json.dumps({"publicAccess": True, "endpoints": [
            {"id": "e", "type": "PY_FUNCTION", "userFunctionName": "e"}]}))
        zf.writestr("endpoint-e/code.py", "def e():\n    return 1\n")
        for i in range(entries):
            zf.writestr(f"datasets/pad/{i}.bin", b"\0" * size)
    return out.getvalue()


def test_many_small_entries_that_expand_hugely_are_refused(node_admin: dataikuapi.APINodeAdminClient,
                                                           node_root: Path, tmp_path: Path) -> None:
    data = bomb(450, 1024 * 1024)
    assert len(data) < 1024 * 1024  # well under a megabyte, 450 MiB once expanded
    path = tmp_path / "bomb.zip"
    path.write_bytes(data)
    node_admin.create_service("bombed")
    with pytest.raises(DataikuException, match="compressed suspiciously well as a whole"):
        node_admin.service("bombed").import_generation_from_archive(str(path))
    assert not any((node_root / "services" / "bombed" / "gens").iterdir())
    assert not any((node_root / "tmp").iterdir())  # nothing was left half-written
    assert os.path.getsize(path) == len(data)
