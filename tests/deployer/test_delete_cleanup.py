"""Deleting a deployment removes its service from the API nodes, and a node that cannot
be cleaned refuses the delete unless `ignorePreDeleteErrors` — driven with the official client."""

from __future__ import annotations

import socket

import dataikuapi
import pytest
from dataikuapi.utils import DataikuException

from tests.deployer.conftest import make_package, serve_with_node


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("delete-cleanup")
    proc, deployer, node_key = serve_with_node(root)
    for service_id in ("gone", "kept", "shared"):
        with open(make_package(root, "v1"), "rb") as fh:
            deployer.create_service(service_id).import_version(fh)
    infra = deployer.create_infra("clean-dev", "Development", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(proc.url("apinode"), node_key)
    settings.save()
    try:
        yield proc, deployer, node_key
    finally:
        proc.stop()


def node_services(proc, node_key: str) -> set[str]:
    admin = dataikuapi.APINodeAdminClient(proc.url("apinode"), node_key)
    return {s["serviceId"] for s in admin.list_services()}


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_deleted_deployment_stops_serving(env):
    proc, deployer, node_key = env
    dep = deployer.create_deployment("gone-on-dev", "gone", "clean-dev", "v1")
    dep.start_update().wait_for_result()
    api = dataikuapi.APINodeClient(proc.url("apinode"), "gone")
    assert api.run_function("echo", x=1)["response"]["version"] == "v1"
    assert "gone" in node_services(proc, node_key)

    dep.delete(disable_first=True)  # disables in the settings, no update in between: still served until now
    assert "gone" not in node_services(proc, node_key)
    with pytest.raises(DataikuException):
        api.run_function("echo", x=1)
    assert "gone-on-dev" not in [d.id for d in deployer.list_deployments()]


def test_a_never_deployed_deployment_touches_no_node(env):
    proc, deployer, node_key = env
    before = node_services(proc, node_key)
    dep = deployer.create_deployment("kept-on-dev", "kept", "clean-dev", "v1")
    dep.delete(disable_first=True)
    assert node_services(proc, node_key) == before


def test_an_unreachable_node_refuses_the_delete_unless_told_to_ignore_it(env):
    proc, deployer, node_key = env
    dep = deployer.create_deployment("shared-on-dev", "shared", "clean-dev", "v1")
    dep.start_update().wait_for_result()
    infra = deployer.get_infra("clean-dev")
    settings = infra.get_settings()
    settings.add_apinode(dead_url(), "any")
    settings.save()
    try:
        with pytest.raises(DataikuException) as info:
            dep.delete(disable_first=True)
        assert "ignorePreDeleteErrors" in str(info.value) and "cannot connect" in str(info.value)
        assert "shared-on-dev" in [d.id for d in deployer.list_deployments()]  # nothing deleted
        dep.delete(disable_first=True, ignore_pre_delete_errors=True)
        assert "shared-on-dev" not in [d.id for d in deployer.list_deployments()]
        assert "shared" not in node_services(proc, node_key)  # the reachable node was cleaned all the same
    finally:
        settings = infra.get_settings()
        settings.get_raw()["apiNodes"] = settings.get_raw()["apiNodes"][:1]
        settings.save()
