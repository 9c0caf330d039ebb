"""Authentication and permissions (issue point 5): 401 with WWW-Authenticate for no or unknown
keys, 403 for what a key's user may not do; infra and service permissions for non-admin keys."""

from __future__ import annotations

import base64

import httpx
import pytest
from dataikuapi.utils import DataikuException

from tests.deployer.conftest import ADMIN_KEY, client, make_package
from tests.servers import serve


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("auth")
    proc = serve(root / "data", ADMIN_KEY, apinodes=1)
    admin = client(proc.url())
    deployer = admin.get_apideployer()
    # The same two admin calls a DSS admin would make: a user in a group, then a key for that user.
    admin.create_user("alice", "unused-password", groups=["data_team"])
    admin.create_user("bob", "unused-password", groups=["others"])
    keys = {login: admin.create_personal_api_key_for_user(login, as_type="dict")["key"] for login in ("alice", "bob")}
    infra = deployer.create_infra("team-infra", "Development", "STATIC")
    settings = infra.get_settings()
    node_key = (root / "data" / "apinodes" / "node-1.admin-key").read_text().strip()
    settings.add_apinode(proc.url("apinode"), node_key)
    settings.get_raw()["permissions"] = [{"group": "data_team", "read": True, "deploy": True, "admin": False}]
    settings.save()
    deployer.create_infra("admin-infra", "Production", "STATIC")
    service = deployer.create_service("shared")
    with open(make_package(root, "v1"), "rb") as fh:
        service.import_version(fh)
    s = service.get_settings()
    s.get_raw()["permissions"] = [{"group": "data_team", "read": True, "write": True, "deploy": True, "admin": False}]
    s.save()
    deployer.create_service("private")
    try:
        yield proc, root, keys
    finally:
        proc.stop()


def raw(proc, path: str, headers: dict | None = None, method: str = "GET") -> httpx.Response:
    return httpx.request(method, proc.url() + "/public/api" + path, headers=headers or {}, timeout=30)


def basic(user: str, password: str = "") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_no_key_and_unknown_key_are_401(env):
    proc, _, _ = env
    for headers in ({}, basic("not-a-key"), {"Authorization": "Bearer not-a-key"}, {"Authorization": "Basic !!!"}):
        resp = raw(proc, "/api-deployer/infras", headers)
        assert resp.status_code == 401, headers
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="DSS API"'
        assert resp.json()["errorType"].endswith("NotAuthenticatedException")
    with pytest.raises(DataikuException, match="Unknown API key"):
        client(proc.url(), "not-a-key").get_apideployer().list_infras()


def test_key_forms_accepted(env):
    proc, _, _ = env
    for headers in (basic(ADMIN_KEY), basic("", ADMIN_KEY), {"Authorization": f"Bearer {ADMIN_KEY}"}):
        resp = raw(proc, "/api-deployer/stages", headers)
        assert resp.status_code == 200 and resp.json()[0]["id"] == "Development"


def test_auth_info_names_the_user(env):
    proc, _, keys = env
    info = client(proc.url(), keys["alice"]).get_auth_info()
    assert info["authIdentifier"] == "alice" and info["groups"] == ["data_team"]
    assert client(proc.url()).get_auth_info()["authIdentifier"] == "admin"


def test_non_admin_sees_only_permitted_objects(env):
    proc, _, keys = env
    alice = client(proc.url(), keys["alice"]).get_apideployer()
    bob = client(proc.url(), keys["bob"]).get_apideployer()
    assert [i.id for i in alice.list_infras()] == ["team-infra"]
    assert [s.id for s in alice.list_services()] == ["shared"]
    assert bob.list_infras() == [] and bob.list_services() == []
    status = alice.get_infra("team-infra").get_status().get_raw()
    assert status["canDeploy"] is True and status["isAdmin"] is False
    for call in (lambda: alice.get_infra("admin-infra").get_status(),
                 lambda: alice.get_infra("team-infra").get_settings(),  # holds node keys: admins only
                 lambda: alice.get_service("private").get_status(),
                 lambda: bob.get_service("shared").get_settings()):
        with pytest.raises(DataikuException, match="UnauthorizedException"):
            call()


def test_forbidden_actions_are_403(env):
    proc, root, keys = env
    headers = basic(keys["alice"])
    resp = httpx.post(proc.url() + "/public/api/api-deployer/infras", headers=headers, timeout=30,
                      json={"id": "mine", "stage": "Test", "type": "STATIC"})
    assert resp.status_code == 403 and resp.json()["errorType"].endswith("UnauthorizedException")
    alice_client = client(proc.url(), keys["alice"])
    with pytest.raises(DataikuException, match="administrators"):
        alice_client.create_user("carol", "x")
    alice = alice_client.get_apideployer()
    settings = alice.get_service("shared").get_settings()
    with pytest.raises(DataikuException, match="not an administrator of service"):
        settings.save()
    with pytest.raises(DataikuException, match="may not deploy to infra"):
        alice.create_deployment("nope", "shared", "admin-infra", "v1")
    bob = client(proc.url(), keys["bob"]).get_apideployer()
    with pytest.raises(DataikuException, match="may not deploy"):
        bob.create_deployment("nope", "shared", "team-infra", "v1")
    with pytest.raises(DataikuException, match="may not publish"), open(make_package(root, "v9"), "rb") as fh:
        bob.get_service("shared").import_version(fh)
    assert [d.id for d in client(proc.url()).get_apideployer().list_deployments()] == []


def test_team_member_deploys_and_queries_within_rights(env):
    proc, root, keys = env
    alice = client(proc.url(), keys["alice"]).get_apideployer()
    with open(make_package(root, "v2"), "rb") as fh:
        alice.get_service("shared").import_version(fh)  # write permission
    dep = alice.create_deployment("shared-on-team", "shared", "team-infra", "v2",
                                  authorizations_to_query_through_deployer=None)
    future = dep.start_update()
    # Futures belong to their owner.
    bob = client(proc.url(), keys["bob"])
    resp = httpx.get(f"{proc.url()}/public/api/futures/{future.job_id}", headers=basic(keys["bob"]),
                     params={"peek": "True"}, timeout=30)
    assert resp.status_code == 403 and "Insufficient rights" in resp.json()["message"]
    assert future.wait_for_result()["nbOKNodes"] == 1
    assert dep.get_status().get_health() == "HEALTHY"
    assert dep.get_update().requester == "alice"
    assert dep.run_test_queries()["responses"][0]["response"]["response"]["version"] == "v2"
    # run-queries needs a group authorisation on the deployment.
    with pytest.raises(DataikuException, match="authorizationsToQueryThroughDeployer"):
        dep.run_queries([{"q": {"a": 1}}])
    settings = dep.get_settings()
    settings.get_raw()["authorizationsToQueryThroughDeployer"] = [{"group": "data_team", "queryThroughDeployer": True}]
    settings.save()
    assert dep.run_queries([{"q": {"a": 1}}])["responses"][0]["response"]["response"]["args"] == {"a": 1}
    with pytest.raises(DataikuException, match="UnauthorizedException"):
        bob.get_apideployer().get_deployment("shared-on-team").get_status()
    dep.delete(disable_first=True)
