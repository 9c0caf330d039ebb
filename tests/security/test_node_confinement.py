"""Endpoint code is confined: a non-admin user with deploy rights on a local infra deploys code that
tries to read the deployer's and the node's secrets, and every read fails, while the version's own
files, Python's libraries and the worker's private temporary folder stay usable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.deployer.conftest import ADMIN_KEY, client
from tests.security.conftest import NODE_ADMIN_KEY, function_package, http, run
from tests.servers import serve

SNOOP = '''
import os, pathlib, tempfile

def snoop(paths):
    out = {}
    for name, path in paths.items():
        try:
            with open(path, "rb") as fh:
                out[name] = "read %d bytes" % len(fh.read())
        except OSError as exc:
            out[name] = "refused: " + type(exc).__name__
    with tempfile.NamedTemporaryFile(dir=None) as tmp:  # TMPDIR: the worker's private folder
        tmp.write(b"scratch")
        tmp.flush()
        out["tmp"] = "wrote " + tmp.name
    import numpy, pandas  # libraries of the node's Python still import
    out["pandas"] = str(pandas.DataFrame({"x": [1, 2]})["x"].sum())
    out["uid"] = os.getuid()
    return out
'''


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("confine")
    proc = serve(root / "data", ADMIN_KEY, apinodes=1)
    admin = client(proc.url())
    deployer = admin.get_apideployer()
    admin.create_user("mallory", "unused-password", groups=["devs"])
    key = admin.create_personal_api_key_for_user("mallory", as_type="dict")["key"]
    infra = deployer.create_infra("dev-infra", "Development", "STATIC")
    settings = infra.get_settings()
    node_key = (root / "data" / "apinodes" / "node-1.admin-key").read_text().strip()
    settings.add_apinode(proc.url("apinode"), node_key)
    settings.get_raw()["permissions"] = [{"group": "devs", "read": True, "deploy": True, "admin": False}]
    settings.save()
    for name in ("other", "snoop"):
        service = deployer.create_service(name)
        s = service.get_settings()
        s.get_raw()["permissions"] = [{"group": "devs", "read": True, "write": True, "deploy": True, "admin": False}]
        s.save()
    try:
        yield proc, root, key
    finally:
        proc.stop()


def deploy_as(proc, key: str, root: Path, service: str, code: str, function: str) -> None:
    deployer = client(proc.url(), key).get_apideployer()
    assert client(proc.url(), key).get_auth_info()["isAdmin"] is False  # really a non-admin user
    with open(function_package(root, "v1", code, function), "rb") as fh:
        deployer.get_service(service).import_version(fh)
    dep = deployer.create_deployment(f"{service}-dep", service, "dev-infra", "v1")
    assert dep.start_update().wait_for_result()["nbOKNodes"] == 1


def test_endpoint_code_cannot_read_deployer_or_node_secrets(env):
    proc, root, key = env
    data = root / "data"
    deploy_as(proc, key, root, "other", 'SECRET = "other service"\n\ndef other():\n    return SECRET\n', "other")
    deploy_as(proc, key, root, "snoop", SNOOP, "snoop")
    node_dir = data.with_name(data.name + "-apinodes") / "node-1"  # serve keeps node data beside its own
    other_code = next(node_dir.glob("services/other/gens/*/endpoint-other/code.py"))
    own_code = next(node_dir.glob("services/snoop/gens/*/endpoint-snoop/code.py"))
    paths = {
        "deployer admin key": data / "admin-api-key",
        "deployer database": data / "deployer.db",
        "node admin keys": node_dir / "config" / "adminkeys.json",
        "node key file": data / "apinodes" / "node-1.admin-key",
        "other service's package": other_code,
        "other service's version zip": next(data.glob("versions/other/*.zip")),
        "node command line": Path(f"/proc/{proc.popen.pid}/cmdline"),
        "node environment": Path(f"/proc/{proc.popen.pid}/environ"),
        "own code": own_code,
    }
    for name, path in paths.items():
        assert path.exists() and os.access(path, os.R_OK), f"{name}: {path} should exist for the test to mean anything"
    resp = run(proc.url("apinode"), "snoop", "snoop", {"paths": {k: str(v) for k, v in paths.items()}})
    assert resp.status_code == 200, resp.text
    got = resp.json()["response"]
    assert got["own code"].startswith("read "), got  # its own version stays readable
    for name in paths:
        if name != "own code":
            assert got[name].startswith("refused"), f"endpoint code read {name}: {got[name]}"
    assert got["tmp"].startswith("wrote "), got
    assert got["pandas"] == "3"
    if os.geteuid() == 0:
        assert got["uid"] != 0  # a root node runs endpoint code as an unprivileged user


def test_node_start_line_says_code_is_confined(env):
    proc, _, _ = env
    lines = [line for line in proc.output if "endpoint code" in line]
    assert lines and "confined" in lines[0] and "NOT" not in lines[0], proc.output[:20]
    assert http.get(proc.url("apinode") + "/isAlive").status_code == 200


def test_the_node_reports_its_confinement_on_its_admin_api(node_url: str) -> None:
    resp = http.get(node_url + "/admin/api/confinement", headers={"Authorization": f"Bearer {NODE_ADMIN_KEY}"})
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["filesystemConfined"] is True and doc["landlockAbi"] >= 1 and doc["warning"] is False
    assert doc["uidDropped"] is (os.geteuid() == 0)
    assert doc["limits"]["maxAnswerBytes"] == 300 * 1024 * 1024  # config/server.json of this node
    assert http.get(node_url + "/admin/api/confinement").status_code == 401
