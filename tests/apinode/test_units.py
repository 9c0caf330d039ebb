"""Pure pieces of the node: mapping normalization and dispatch, pool settings checks, the store's paths."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from deployer_tui.server.apinode import mapping
from deployer_tui.server.apinode.confine import read_rules
from deployer_tui.server.apinode.endpoint_code import cell, match_key, to_json
from deployer_tui.server.apinode.node_files import Store, StoreError
from deployer_tui.server.apinode.pool import PoolSettings, check_settings
from deployer_tui.server.apinode.runtime import check_endpoint_access, check_limits


def test_single_generation_forms_normalize_alike() -> None:
    single = mapping.normalize({"mode": "SINGLE_GENERATION", "generation": "v3"})
    assert single["entries"] == [{"generation": "v3", "proba": 1.0}]
    assert mapping.same_mapping(single, {"entries": [{"generation": "v3", "proba": 1}]})
    assert mapping.same_mapping(single, {"generation": "v3"})
    assert not mapping.same_mapping(single, {"generation": "v4"})


def test_unknown_keys_are_kept_and_strategy_defaults_to_random() -> None:
    out = mapping.normalize({"entries": [{"generation": "a", "proba": 0.3}, {"generation": "b", "proba": 0.7}],
                             "auditRoutingKey": "abtest"})
    assert out["strategy"] == "RANDOM" and out["mode"] == "MULTI_GENERATION" and out["auditRoutingKey"] == "abtest"
    hashed = {**out, "strategy": "HASH_BASED"}
    assert not mapping.same_mapping(out, hashed)
    assert not mapping.same_mapping(out, {**out, "entries": list(reversed(out["entries"]))})


@pytest.mark.parametrize("doc, fragment", [
    ({"entries": [{"generation": "a", "proba": 0.3}]}, "sum to 1"),
    ({"entries": [{"generation": "a", "proba": 0.5}, {"generation": "a", "proba": 0.5}]}, "twice"),
    ({"entries": [{"generation": "a", "proba": True}]}, "proba must be a number"),
    ({"mode": "SINGLE_GENERATION"}, "Invalid generation id"),
    ({"mode": "SOMETIMES", "generation": "a"}, "Unknown mapping mode"),
    ("v1", "must be a JSON object"),
])
def test_bad_mappings_say_why(doc, fragment: str) -> None:
    with pytest.raises(mapping.MappingError, match=fragment):
        mapping.normalize(doc)


def test_hash_dispatch_follows_sha256_and_cumulative_bounds() -> None:
    m = mapping.normalize({"strategy": "HASH_BASED",
                           "entries": [{"generation": "a", "proba": 0.25}, {"generation": "b", "proba": 0.75}]})
    for key in (f"user-{i}" for i in range(200)):
        fraction = (int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 10000) / 10000
        assert mapping.hash_fraction(key) == fraction
        assert mapping.select(m, None, key) == ("a" if fraction < 0.25 else "b")
    with pytest.raises(mapping.DispatchError, match="dispatch key is mandatory"):
        mapping.select(m, None, None)
    assert mapping.select(m, "zzz", None) == "zzz"  # forced: the caller checks it is mounted


def test_random_dispatch_respects_probabilities() -> None:
    m = mapping.normalize({"entries": [{"generation": "a", "proba": 0.2}, {"generation": "b", "proba": 0.8}]})
    rng = random.Random(7)
    picks = [mapping.select(m, None, None, rng) for _ in range(5000)]
    assert 0.15 < picks.count("a") / len(picks) < 0.25


def test_pool_settings_merge_and_checks() -> None:
    settings = PoolSettings.from_config({"pool": {"ceil": 4}, "executionTimeoutMs": 2000}, {"pool": {"floor": 2}})
    assert (settings.floor, settings.cruise, settings.ceil, settings.queue) == (2, 2, 4, 16)
    assert settings.execution_timeout_ms == 2000
    assert check_settings({"pool": {"floor": 0, "cruise": 0, "ceil": 1}}) is not None
    with pytest.raises(ValueError, match="ceil must be at least 1"):
        check_settings({"pool": {"floor": 0, "cruise": 0, "ceil": 0}})


def test_store_root_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Workers run inside their generation folder: a relative data dir would point elsewhere from there.
    monkeypatch.chdir(tmp_path)
    store = Store(Path("node"))
    assert store.root == tmp_path / "node"
    assert store.generation_dir("s", "v1").is_absolute()


def test_csv_cells_and_lookup_keys() -> None:
    assert [cell(t) for t in ("", "12", "1.5", "nan", "abc")] == [None, 12, 1.5, "nan", "abc"]
    assert match_key(2) == match_key(2.0) == match_key("2")
    assert to_json({"a": float("nan"), "b": (1, 2.5)}) == {"a": None, "b": [1, 2.5]}


def test_meter_rates_decay_after_a_long_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    from deployer_tui.server.apinode import metrics

    now = [1000.0]
    monkeypatch.setattr(metrics, "_now", lambda: now[0])
    meter = metrics.Meter()
    for _ in range(50):
        meter.mark()
    now[0] += metrics.TICK_S
    busy = meter.to_json()
    assert busy["count"] == 50 and busy["m1_rate"] == pytest.approx(50 / metrics.TICK_S)
    now[0] += 24 * 3600  # a day without a query: one step, not 17280
    idle = meter.to_json()
    assert idle["m1_rate"] < 1e-6 < busy["m1_rate"] and idle["count"] == 50


def test_function_arguments_are_the_callers_error_a_type_error_inside_is_the_codes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from deployer_tui.server.apinode.endpoint_code import QueryError, python_function

    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setitem(sys.modules, "endpoint_code_module", None)
    (tmp_path / "endpoint-fn").mkdir()
    (tmp_path / "endpoint-fn" / "code.py").write_text(
        "calls = []\n"
        "def f(x, y=1):\n"
        "    calls.append(x)\n"
        "    return x + y\n")
    run = python_function({"id": "fn", "userFunctionName": "f"}, tmp_path, {})
    calls = sys.modules["endpoint_code_module"].calls
    assert run({"args": {"x": 2}}) == 3
    with pytest.raises(QueryError, match="unexpected keyword argument 'z'"):
        run({"args": {"x": 2, "z": 0}})
    with pytest.raises(QueryError, match="missing a required argument: 'x'"):
        run({"args": {}})
    with pytest.raises(TypeError, match="can only concatenate") as raised:
        run({"args": {"x": "a"}})
    assert not isinstance(raised.value, QueryError)
    assert calls == [2, "a"]  # arguments that do not bind never reach the function


def test_confinement_rules_never_cover_the_node_state(tmp_path: Path) -> None:
    data = tmp_path / "srv" / "data"
    data.mkdir(parents=True)
    (tmp_path / "python").mkdir()
    kept = read_rules(["/", str(tmp_path), str(tmp_path / "python"), str(data / "services")], [data])
    assert kept == [str((tmp_path / "python").resolve()), str((data / "services").resolve())]


@pytest.mark.parametrize(("config", "fragment"), [
    ({"limits": {"maxAnswerByte": 5}}, "limits.maxAnswerByte is unknown"),
    ({"limits": {"maxAnswerBytes": 0}}, "must be a positive integer"),
    ({"limits": []}, "'limits' must be an object"),
])
def test_malformed_limits_are_refused(config: dict, fragment: str) -> None:
    with pytest.raises(StoreError, match=fragment):
        check_limits(config)


def test_endpoint_access_may_not_reach_the_node_state(tmp_path: Path) -> None:
    root = tmp_path / "data"
    check_endpoint_access({"endpointAccess": {"readWrite": [str(tmp_path / "exchange")]}}, root)
    for path in (tmp_path, root, root / "config"):
        with pytest.raises(StoreError, match="overlaps the node's data dir"):
            check_endpoint_access({"endpointAccess": {"read": [str(path)]}}, root)
    with pytest.raises(StoreError, match="absolute paths"):
        check_endpoint_access({"endpointAccess": {"read": ["relative"]}}, root)
