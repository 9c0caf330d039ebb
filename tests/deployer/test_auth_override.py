"""A deployment's `auth` (PUBLIC, API_KEYS, INHERIT_DEV) reaches its API nodes with the update, and is what
the status, run-test-queries and the nodes themselves apply — driven with the official client."""

from __future__ import annotations

import os
import stat

import dataikuapi
import httpx
import pytest
from dataikuapi.utils import DataikuException

from tests.deployer.conftest import make_package, serve_with_node
from tests.servers import apinode

PACKAGE_KEY = "package-key-1"
DEPLOYMENT_KEY = "deployment-key-9"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("auth-override")
    proc, deployer, node_key = serve_with_node(root)
    service = deployer.create_service("guarded")
    with open(make_package(root, "v1", public=False, query_key=PACKAGE_KEY), "rb") as fh:
        service.import_version(fh)
    infra = deployer.create_infra("auth-dev", "Development", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(proc.url("apinode"), node_key)
    settings.save()
    dep = deployer.create_deployment("guarded-on-dev", "guarded", "auth-dev", "v1")
    try:
        yield proc, dep, root
    finally:
        proc.stop()


def set_auth(dep, auth: dict) -> None:
    settings = dep.get_settings()
    settings.get_raw()["auth"] = auth
    settings.save()


def answers(node_url: str, key: str | None) -> bool:
    """True if the node runs the query with this key; False if it refuses it (no key / unknown key)."""
    api = dataikuapi.APINodeClient(node_url, "guarded", api_key=key)
    try:
        return api.run_function("echo", x=1)["response"]["version"] == "v1"
    except DataikuException as exc:
        if "NotAuthenticatedException" in str(exc):
            return False
        raise


def test_deployment_keys_replace_the_versions_keys_on_the_node(env):
    proc, dep, _root = env
    node = proc.url("apinode")
    assert dep.start_update().wait_for_result()["nbOKNodes"] == 1
    assert answers(node, PACKAGE_KEY) and not answers(node, DEPLOYMENT_KEY)
    assert dep.get_status().get_health() == "HEALTHY"
    set_auth(dep, {"authMode": "API_KEYS", "apiKeys": [{"key": DEPLOYMENT_KEY, "label": "ops"}]})
    assert dep.get_status().get_health() == "OUT_OF_SYNC"  # the saved auth is not on the node yet
    result = dep.start_update().wait_for_result()
    assert result["nbOKNodes"] == 1, result
    log = "\n".join(line["text"] if isinstance(line, dict) else str(line) for line in dep.get_update().get_raw()
                    .get("logs", {}).get("lines", []))
    assert "query keys of the deployment's auth (1 key(s))" in log
    assert DEPLOYMENT_KEY not in log  # keys never in the update log

    assert answers(node, DEPLOYMENT_KEY)
    assert not answers(node, PACKAGE_KEY)
    assert not answers(node, None)
    status = dep.get_status()
    light = status.get_light()
    assert light["publicAccess"] is False and [k["key"] for k in light["apiKeys"]] == [DEPLOYMENT_KEY]
    assert status.get_health() == "HEALTHY"
    # The deployer queries through the node with the key the node now wants.
    responses = dep.run_test_queries()["responses"]
    assert [r["response"]["response"]["version"] for r in responses] == ["v1", "v1"]


def test_public_then_back_to_the_versions_own_keys(env):
    proc, dep, _root = env
    node = proc.url("apinode")
    set_auth(dep, {"authMode": "PUBLIC", "apiKeys": []})
    dep.start_update().wait_for_result()
    assert answers(node, None)
    assert dep.get_status().get_light()["publicAccess"] is True

    set_auth(dep, {"authMode": "INHERIT_DEV", "apiKeys": []})
    dep.start_update().wait_for_result()
    assert answers(node, PACKAGE_KEY)
    assert not answers(node, None)
    assert not answers(node, DEPLOYMENT_KEY)
    light = dep.get_status().get_light()
    assert light["publicAccess"] is False and [k["key"] for k in light["apiKeys"]] == [PACKAGE_KEY]


def test_an_auth_the_nodes_cannot_apply_fails_the_update_before_touching_them(env):
    proc, dep, _root = env
    node = proc.url("apinode")
    set_auth(dep, {"authMode": "PUBLIC", "apiKeys": []})
    dep.start_update().wait_for_result()
    assert answers(node, None)

    for auth, needle in (({"authMode": "OAUTH2"}, "'OAUTH2' is not supported"),
                         ({"authMode": "API_KEYS", "apiKeys": []}, "needs at least one key")):
        set_auth(dep, auth)
        with pytest.raises(Exception) as info:
            dep.start_update().wait_for_result()
        assert needle in str(info.value)
        assert dep.get_update().status == "FAILED"
        assert answers(node, None)  # the node still applies what the last good update set


def test_a_restarted_node_keeps_the_override_in_a_private_file(tmp_path):
    data = tmp_path / "node"
    key = "node-admin-key"
    first = apinode(data, key)
    try:
        url = first.url("apinode")
        admin = dataikuapi.APINodeAdminClient(url, key)
        admin.create_service("guarded")
        service = admin.service("guarded")
        service.import_generation_from_archive(str(make_package(tmp_path, "v1", public=False,
                                                                 query_key=PACKAGE_KEY)))
        service.set_generations_mapping({"mode": "SINGLE_GENERATION", "generation": "v1"})
        service.enable()
        assert answers(url, PACKAGE_KEY)
        # The override is our nodes' own admin call (the deployer's update makes it).
        override_url = f"{url}/admin/api/services/guarded/auth-override"
        auth = httpx.BasicAuth(key, "")
        assert httpx.get(override_url, auth=auth).json() is None
        refused = httpx.put(override_url, auth=auth, json={"publicAccess": False})
        assert refused.status_code == 400 and "at least one query key" in refused.json()["message"]
        assert httpx.put(override_url, json={"publicAccess": True}).status_code == 401  # admin key needed
        assert answers(url, PACKAGE_KEY)  # nothing applied by the refused calls
        done = httpx.put(override_url, auth=auth, json={"publicAccess": False, "queryKeys": [{"key": DEPLOYMENT_KEY}]})
        assert done.status_code == 200
        assert httpx.get(override_url, auth=auth).json() == {"publicAccess": False,
                                                              "queryKeys": [{"key": DEPLOYMENT_KEY}]}
        assert answers(url, DEPLOYMENT_KEY) and not answers(url, PACKAGE_KEY)
    finally:
        first.stop()
    path = data / "services" / "guarded" / "auth-override.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = apinode(data, key)
    try:
        assert answers(second.url("apinode"), DEPLOYMENT_KEY)
        assert not answers(second.url("apinode"), PACKAGE_KEY)
        override_url = f"{second.url('apinode')}/admin/api/services/guarded/auth-override"
        assert httpx.delete(override_url, auth=httpx.BasicAuth(key, "")).status_code == 200
        assert answers(second.url("apinode"), PACKAGE_KEY) and not path.exists()
    finally:
        second.stop()
