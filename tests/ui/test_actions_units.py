"""Pure helpers behind the action screens: ids, groups, query parsing, result summaries, OpenAPI, copy entries."""

from __future__ import annotations

import pytest

from deployer_tui.core.readers import MASKED_KEY
from deployer_tui.ui.screens.copy_menu import deployment_entries, example_body, infra_entries, query_key
from deployer_tui.ui.screens.create_forms import parse_groups, suggest_deployment_id
from deployer_tui.ui.screens.delete_confirm import mapping_versions
from deployer_tui.ui.screens.openapi import governance_lines, openapi_operations
from deployer_tui.ui.screens.query_runner import latency_ms, parse_queries, result_entries, summarize
from deployer_tui.ui.screens.versions import complete_path


def test_suggested_deployment_id_skips_taken_ones() -> None:
    assert suggest_deployment_id("fraud", "dev", set()) == "fraud-on-dev"
    assert suggest_deployment_id("fraud", "dev", {"fraud-on-dev"}) == "fraud-on-dev-2"
    assert suggest_deployment_id("fraud", "dev", {"fraud-on-dev", "fraud-on-dev-2"}) == "fraud-on-dev-3"


def test_groups_parse_to_authorizations() -> None:
    assert parse_groups("  ") is None
    assert parse_groups("data_team, admins data_team") == [
        {"group": "data_team", "queryThroughDeployer": True},
        {"group": "admins", "queryThroughDeployer": True},
    ]


def test_parse_queries_accepts_lists_and_bare_bodies() -> None:
    assert parse_queries('[{"q": {"x": 1}, "headers": [{"key": "k", "value": "v"}]}]')[0]["q"] == {"x": 1}
    assert parse_queries('{"x": 1}') == [{"q": {"x": 1}}]


@pytest.mark.parametrize(("text", "fragment"), [
    ('[{"q": {"x": 1}', "line 1"),
    ("[]", "non-empty"),
    ('[{"query": {}}]', 'Query 1: expected an object with a "q"'),
    ('[{"q": {}, "headers": {"a": 1}}]', '"headers" must be a list'),
])
def test_parse_queries_refuses_with_a_position_or_reason(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        parse_queries(text)
    assert fragment in str(info.value)


def test_summaries_of_each_response_shape() -> None:
    fn = {"response": {"response": {"fare": 168.0}, "timing": {"wait": 500, "execution": 1500, "functionInternal": 900}}}
    assert summarize(fn) == ("OK", '{"fare":168.0}', 2.0)
    pred = {"response": {"result": {"prediction": "yes", "probas": {}}}}
    assert summarize(pred)[:2] == ("OK", 'prediction="yes"')
    ignored = {"response": {"result": {"ignored": True, "ignoreReason": "IGNORED_BY_MODEL"}}}
    assert summarize(ignored)[:2] == ("IGNORED", "IGNORED_BY_MODEL")
    sql = {"response": {"results": [{"columns": [], "rows": [[1], [2]]}]}}
    assert summarize(sql)[1].startswith("2 row(s)")
    err = {"error": {"errorType": "java.lang.IllegalArgumentException", "message": "'features' is required"}}
    assert summarize(err) == ("ERROR", "IllegalArgumentException: 'features' is required", None)
    long = {"response": {"response": "x" * 500}}
    assert len(summarize(long)[1]) == 70 and summarize(long)[1].endswith("…")
    assert latency_ms({"timing": {}}) is None
    assert result_entries({"responses": [1, 2]}) == [1, 2]


def test_openapi_operations_and_governance_order() -> None:
    doc = {"swagger": "2.0", "paths": {"/fare/run": {"post": {"summary": "Run fare\nmore"}, "parameters": []},
                                       "/x/lookup": {"get": {}, "post": {"operationId": "lk"}}}}
    assert openapi_operations(doc) == [("POST", "/fare/run", "Run fare"), ("GET", "/x/lookup", ""),
                                       ("POST", "/x/lookup", "lk")]
    assert openapi_operations({"paths": None}) == []
    info = {"messages": [{"severity": "INFO", "message": "i"}, {"severity": "ERROR", "title": "t", "message": "m"}]}
    assert governance_lines(info) == [("ERROR", "t — m"), ("INFO", "i")]


def test_mapping_versions() -> None:
    assert mapping_versions({"mode": "SINGLE_GENERATION", "generation": "v3"}) == {"v3"}
    assert mapping_versions({"entries": [{"generation": "v1", "proba": 0.5}, {"generation": "v2"}]}) == {"v1", "v2"}
    assert mapping_versions(None) == set()



LIGHT = {"deploymentBasicInfo": {"id": "tb-on-dev", "publishedServiceId": "tb", "infraId": "dev",
                                 "generationsMapping": {"mode": "SINGLE_GENERATION", "generation": "v1"}}}
HEAVY = {"apiNodes": [{"url": "http://n1:12000"}, {"url": "http://n2:12000/"}],
         "endpoints": [{"id": "fare", "type": "PY_FUNCTION", "testQueries": [{"q": {"pclass": 1}}]}]}


def test_deployment_copy_entries_mask_the_key_unless_asked() -> None:
    settings = {"auth": {"authMode": "API_KEYS", "apiKeys": [{"key": "s3cret-key"}]}}
    entries = deployment_entries(LIGHT, HEAVY, settings)
    texts = {e.what: e for e in entries}
    assert texts["deployment id"].text == "tb-on-dev"
    assert texts["version id"].text == "v1"
    assert [e.text for e in entries if e.what == "service URL"] == [
        "http://n1:12000/public/api/v1/tb", "http://n2:12000/public/api/v1/tb"]
    masked = texts["curl for fare/run"].text
    assert "s3cret-key" not in masked and MASKED_KEY in masked and '{"pclass":1}' in masked
    shown = texts["curl with API key for fare/run"]
    assert "s3cret-key" in shown.text and "s3cret-key" not in shown.preview
    # one curl per endpoint verb: only on the first node
    assert sum(1 for e in entries if e.what.startswith("curl for")) == 1


def test_copy_entries_without_key_or_heavy_status() -> None:
    assert query_key({"auth": {"authMode": "PUBLIC"}}) is None
    entries = deployment_entries(LIGHT, None, None)
    assert [e.what for e in entries] == ["deployment id", "service id", "infra id", "version id"]
    assert example_body({"type": "DATASETS_LOOKUP"}, "lookup-multi") == {"items": [{"data": {}}]}
    infra = infra_entries({"infraBasicInfo": {"id": "dev", "apiNodeUrls": ["http://n1:1"]}})
    assert [e.text for e in infra] == ["dev", "http://n1:1"]


def test_path_completion(tmp_path) -> None:
    (tmp_path / "pkgs").mkdir()
    (tmp_path / "pkgs" / "toolbox-v1.zip").write_bytes(b"")
    (tmp_path / "pkgs" / "toolbox-v2.zip").write_bytes(b"")
    (tmp_path / "pkgs" / "notes.txt").write_text("")
    assert complete_path(str(tmp_path / "pk")) == str(tmp_path / "pkgs") + "/"
    assert complete_path(str(tmp_path / "pkgs" / "t")) == str(tmp_path / "pkgs" / "toolbox-v")
    assert complete_path(str(tmp_path / "pkgs" / "n")) == str(tmp_path / "pkgs" / "n")  # not a zip
    assert complete_path(str(tmp_path / "nothing")) == str(tmp_path / "nothing")
