"""Connection resolution: flags > env > ~/.dataiku/config.json > local, and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployer_tui.core.profiles import Connection, ProfileError, resolve_connection

CONFIG = {
    "dss_instances": {
        "prod": {"url": "https://dss.example:11200/", "api_key": "prod-key"},
        "dev": {"url": "http://dev:11200", "api_key": "dev-key", "no_check_certificate": True},
    },
    "default_instance": "prod",
}


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(CONFIG))
    return path


def test_flags_win_over_env_and_file(cfg: Path) -> None:
    env = {"DKU_DSS_URL": "http://env:1", "DKU_API_KEY": "env-key"}
    conn = resolve_connection("http://flag:2/", "flag-key", env=env, dataiku_config=cfg)
    assert conn == Connection("http://flag:2", "flag-key", True, "flags")


def test_env_wins_over_file(cfg: Path) -> None:
    conn = resolve_connection(env={"DKU_DSS_URL": "http://env:1", "DKU_API_KEY": "env-key"}, dataiku_config=cfg)
    assert (conn.url, conn.api_key, conn.source) == ("http://env:1", "env-key", "env")


def test_default_instance_and_profile_flag(cfg: Path) -> None:
    conn = resolve_connection(env={}, dataiku_config=cfg)
    assert (conn.url, conn.api_key, conn.verify, conn.source) == ("https://dss.example:11200", "prod-key", True,
                                                                  "profile:prod")
    dev = resolve_connection(profile="dev", env={"DKU_DSS_URL": "http://env:1", "DKU_API_KEY": "k"},
                             dataiku_config=cfg)
    assert (dev.url, dev.verify, dev.source) == ("http://dev:11200", False, "profile:dev")


def test_local_when_nothing_configured(tmp_path: Path) -> None:
    conn = resolve_connection(env={}, dataiku_config=tmp_path / "absent.json")
    assert conn.url is None and conn.api_key is None and conn.source == "local" and conn.is_local
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"dss_instances": {}}))
    assert resolve_connection(env={}, dataiku_config=empty).source == "local"


def test_no_default_instance(tmp_path: Path) -> None:
    several = tmp_path / "c.json"
    several.write_text(json.dumps({"dss_instances": CONFIG["dss_instances"]}))
    with pytest.raises(ProfileError, match=r"c\.json.*\"default_instance\" is not set.*dev, prod.*--profile"):
        resolve_connection(env={}, dataiku_config=several)
    only = tmp_path / "only.json"
    only.write_text(json.dumps({"dss_instances": {"dev": CONFIG["dss_instances"]["dev"]}}))
    conn = resolve_connection(env={}, dataiku_config=only)
    assert (conn.url, conn.source) == ("http://dev:11200", "profile:dev")
    assert conn.note == f"the only instance in {only}"


@pytest.mark.parametrize(("value", "verify"), [(True, False), ("true", False), ("1", False), ("yes", False),
                                                (False, True), ("false", True), ("0", True), ("no", True)])
def test_no_check_certificate_spellings(tmp_path: Path, value: object, verify: bool) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"dss_instances": {"p": {"url": "https://h", "api_key": "k",
                                                        "no_check_certificate": value}}}))
    assert resolve_connection(env={}, dataiku_config=path).verify is verify


def test_dku_no_check_certificate_env(cfg: Path) -> None:
    assert resolve_connection(env={"DKU_NO_CHECK_CERTIFICATE": "1"}, dataiku_config=cfg).verify is False
    env = {"DKU_DSS_URL": "https://h", "DKU_API_KEY": "k", "DKU_NO_CHECK_CERTIFICATE": "true"}
    assert resolve_connection(env=env, dataiku_config=cfg).verify is False
    assert resolve_connection(env={**env, "DKU_NO_CHECK_CERTIFICATE": "0"}, dataiku_config=cfg).verify is True
    with pytest.raises(ProfileError, match="DKU_NO_CHECK_CERTIFICATE"):
        resolve_connection(env={"DKU_NO_CHECK_CERTIFICATE": "perhaps"}, dataiku_config=cfg)


def test_tls_options(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert resolve_connection("https://h", "k", insecure=True, env={}).verify is False
    assert resolve_connection("https://h", "k", ca_bundle=bundle, env={}).verify == str(bundle)
    with pytest.raises(ProfileError, match="ca-bundle"):
        resolve_connection("https://h", "k", ca_bundle=tmp_path / "missing.pem", env={})


def test_key_never_in_repr(cfg: Path) -> None:
    conn = resolve_connection(env={}, dataiku_config=cfg)
    assert "prod-key" not in repr(conn) and "prod-key" not in str(conn)


@pytest.mark.parametrize(
    ("kwargs", "env", "match"),
    [
        ({"url": "http://h"}, {}, "--url given without --api-key"),
        ({"api_key": "k"}, {}, "--api-key given without --url"),
        ({"url": "http://h", "api_key": "k", "profile": "prod"}, {}, "not both"),
        ({}, {"DKU_DSS_URL": "http://h"}, "DKU_API_KEY is not"),
        ({}, {"DKU_API_KEY": "k"}, "DKU_DSS_URL is not"),
        ({"url": "dss:11200", "api_key": "k"}, {}, "http:// or https://"),
    ],
)
def test_partial_or_bad_flags_and_env(tmp_path: Path, kwargs: dict, env: dict, match: str) -> None:
    with pytest.raises(ProfileError, match=match):
        resolve_connection(**kwargs, env=env, dataiku_config=tmp_path / "absent.json")
    # The same mistake with a recognisable key: the message never echoes it.
    with pytest.raises(ProfileError) as info2:
        resolve_connection(**{**kwargs, **({"api_key": "S3CRET"} if "api_key" in kwargs else {})},
                           env={k: ("S3CRET" if k == "DKU_API_KEY" else v) for k, v in env.items()},
                           dataiku_config=tmp_path / "absent.json")
    assert "S3CRET" not in str(info2.value)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"dss_instances": {"prod": {"url": "http://h",}}}', r"not valid JSON \(line 1, column \d+"),
        ("[1, 2]", "top level"),
        ('{"dss_instances": []}', "dss_instances"),
        ('{"dss_instances": {"prod": {"api_key": "k"}}, "default_instance": "prod"}', "has no \"url\""),
        ('{"dss_instances": {"prod": {"url": "http://h"}}, "default_instance": "prod"}', "has no \"api_key\""),
        ('{"dss_instances": {"prod": "http://h"}, "default_instance": "prod"}', "must be an object"),
        ('{"dss_instances": {"a": {"url": "http://h", "api_key": "k"}, "b": {"url": "http://h", "api_key": "k"}},'
         ' "default_instance": "c"}', r"\"default_instance\" 'c'.*no instance named 'c'.*known: a, b"),
        ('{"dss_instances": {"p": {"url": "ftp://h", "api_key": "k"}}, "default_instance": "p"}', "http://"),
        ('{"dss_instances": {"p": {"url": "http://h", "api_key": "k", "no_check_certificate": "maybe"}},'
         ' "default_instance": "p"}', "no_check_certificate"),
        ('{"dss_instances": {}, "default_instance": 3}', "default_instance"),
    ],
)
def test_malformed_config_names_file_and_problem(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ProfileError, match=match) as info:
        resolve_connection(env={}, dataiku_config=path)
    assert str(path) in str(info.value)


def test_unknown_profile_lists_known_ones(cfg: Path, tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"'staging'.*known: dev, prod"):
        resolve_connection(profile="staging", env={}, dataiku_config=cfg)
    with pytest.raises(ProfileError, match="does not exist"):
        resolve_connection(profile="prod", env={}, dataiku_config=tmp_path / "absent.json")


def test_unreadable_config(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.mkdir()  # a directory where a file is expected
    with pytest.raises(ProfileError, match="cannot be read"):
        resolve_connection(env={}, dataiku_config=path)
