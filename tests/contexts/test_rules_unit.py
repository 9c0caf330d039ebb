"""The production naming rule, the config's context keys and the listing of contexts (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployer_tui.core.config import ConfigError, load_config
from deployer_tui.core.contexts import list_contexts
from deployer_tui.core.production import guard_for, is_production, stage_is_production


@pytest.mark.parametrize("stage", ["PROD", "Production", "prd", "live", "prod-eu", "EU_Prod"])
def test_stages_named_like_production(stage: str) -> None:
    assert stage_is_production(stage)


@pytest.mark.parametrize("stage", ["pre-prod", "preprod", "staging", "dev", "", None, "non-prod", "prod-test"])
def test_stages_not_production(stage: str | None) -> None:
    assert not stage_is_production(stage)


def _write(tmp: Path, toml: str, dataiku: dict | None = None) -> tuple[Path, Path]:
    (tmp / "c.toml").write_text(toml)
    (tmp / "d.json").write_text(json.dumps(dataiku or {"dss_instances": {}}))
    return tmp / "c.toml", tmp / "d.json"


def test_production_from_config_or_stages(tmp_path: Path) -> None:
    path, dku = _write(tmp_path, '[profiles.p]\nurl = "http://127.0.0.1:1"\napi_key = "k1"\nproduction = false\n'
                       '[contexts.d]\nproduction = true\ncolor = "#ff8800"\nread_only = true\n',
                       {"dss_instances": {"d": {"url": "http://127.0.0.1:2", "api_key": "k2"}}})
    contexts = {c.name: c for c in list_contexts(load_config(path, env={}), dataiku_config=dku, env={})}
    prod_infras = [{"id": "a", "stage": "Production"}, {"id": "b", "stage": "live"}]
    assert not is_production(contexts["p"], prod_infras)  # the config says no: the stages do not count
    guard = guard_for(contexts["d"], None)
    assert guard.production and guard.read_only and guard.color == "#ff8800"
    assert is_production(contexts["local"], prod_infras)
    assert not is_production(contexts["local"], prod_infras + [{"id": "c", "stage": "pre-prod"}])
    assert not is_production(contexts["local"], [])
    assert not is_production(contexts["local"], None)
    assert guard_for(contexts["local"], prod_infras).color == "red"
    assert guard_for(contexts["local"], None).refusal() is None


def test_names_unique_keys_hidden_and_initial_first(tmp_path: Path) -> None:
    from deployer_tui.core.profiles import resolve_connection

    path, dku = _write(tmp_path, '[profiles.prod]\nurl = "http://127.0.0.1:1"\napi_key = "secret-one"\n'
                       '[profiles.local]\nurl = "http://127.0.0.1:3"\napi_key = "secret-three"\n',
                       {"dss_instances": {"prod": {"url": "http://127.0.0.1:2", "api_key": "secret-two"}}})
    initial = resolve_connection(profile="prod", env={}, dataiku_config=dku)
    contexts = list_contexts(load_config(path, env={}), dataiku_config=dku, env={}, initial=initial)
    names = [c.name for c in contexts]
    assert names == ["prod@dataiku", "prod", "local@config", "local"]
    assert contexts[0].current and contexts[0].api_key == "secret-two"
    conn = contexts[0].connection()
    assert (conn.url, conn.api_key, conn.verify, conn.source) == (initial.url, initial.api_key, initial.verify,
                                                                   initial.source)
    text = repr(contexts) + str(contexts) + "".join(c.key_origin() for c in contexts)
    assert "secret" not in text


def test_context_table_errors_name_file_line_and_key(tmp_path: Path) -> None:
    path, dku = _write(tmp_path, 'theme = "x"\n\n[contexts.prdo]\nproduction = true\n')
    with pytest.raises(ConfigError, match=r"c\.toml \(line 3\): contexts\.prdo: no instance named 'prdo'"):
        list_contexts(load_config(path, env={}), dataiku_config=dku, env={})
    (tmp_path / "c.toml").write_text('[profiles.a]\nurl = "http://x"\n[profiles.b]\nurl = "http://y"\nproduction = "yes"\n')
    with pytest.raises(ConfigError, match=r"\(line 5\): profiles\.b\.production: must be true or false"):
        load_config(path, env={})
