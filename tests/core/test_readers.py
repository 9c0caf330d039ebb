"""Pure accessors over raw deployer JSON (no servers)."""

from __future__ import annotations

import shlex

from deployer_tui.core.errors import DeployerError
from deployer_tui.core.readers import (
    EndpointURL,
    curl_command,
    deployment_id,
    display_health,
    endpoint_urls,
    health_messages,
    infra_id,
    mapping_summary,
    service_id,
    service_urls,
)

LIGHT = {
    "deploymentBasicInfo": {"id": "fraud-on-dev", "publishedServiceId": "fraud", "infraId": "dev",
                            "enabled": True, "generationsMapping": {"mode": "SINGLE_GENERATION", "generation": "v3"}},
    "packages": [{"id": "v3", "endpoints": [{"id": "score", "type": "CUSTOM_PREDICTION"}]},
                 {"id": "v2", "endpoints": [{"id": "old", "type": "PY_FUNCTION"}]}],
}
HEAVY = {"health": "HEALTHY", "apiNodes": [{"url": "http://n1:12000"}, {"url": "http://n2:12000/"}],
         "endpoints": [{"id": "score", "type": "CUSTOM_PREDICTION"}, {"id": "look", "type": "DATASETS_LOOKUP"}]}


def test_ids_from_light_statuses_and_basic_infos() -> None:
    assert deployment_id(LIGHT) == "fraud-on-dev"
    assert deployment_id({"id": "bare"}) == "bare"
    assert infra_id({"infraBasicInfo": {"id": "dev"}}) == "dev"
    assert service_id({"serviceBasicInfo": {"id": "fraud"}}) == "fraud"
    assert deployment_id({}) == ""


def test_display_health_open_set_and_ui_states() -> None:
    assert display_health(LIGHT, HEAVY) == "HEALTHY"
    assert display_health(LIGHT, {"health": "SOMETHING_NEW"}) == "SOMETHING_NEW"
    assert display_health(LIGHT, None) == "LOADING"
    assert display_health(LIGHT, DeployerError("boom", status=500)) == "LOADING_FAILED"
    disabled = {"deploymentBasicInfo": {**LIGHT["deploymentBasicInfo"], "enabled": False}}
    assert display_health(disabled, HEAVY) == "DISABLED"
    assert display_health(disabled, None) == "DISABLED"
    assert display_health(LIGHT, {}) == "UNKNOWN"


def test_health_messages_sorted_by_severity_and_fabricated_on_error() -> None:
    heavy = {"healthMessages": {"messages": [
        {"severity": "INFO", "title": "i"}, {"severity": "ERROR", "title": "e1"},
        {"severity": "WARNING", "title": "w"}, {"severity": "ERROR", "title": "e2"}, {"severity": "ODD", "title": "o"},
    ]}}
    assert [m["title"] for m in health_messages(heavy)] == ["e1", "e2", "w", "i", "o"]
    assert health_messages(None) == []
    assert health_messages({"healthMessages": None}) == []
    err = DeployerError("node down", status=500, error_type="java.lang.RuntimeException")
    (fake,) = health_messages(err)
    assert fake["severity"] == "ERROR" and "node down" in fake["message"]


def test_mapping_summary() -> None:
    assert mapping_summary({"mode": "SINGLE_GENERATION", "generation": "v3"}) == "v3"
    multi = {"mode": "MULTI_GENERATION", "strategy": "RANDOM",
             "entries": [{"generation": "v2", "proba": 0.8}, {"generation": "v3", "proba": 0.2}]}
    assert mapping_summary(multi) == "v2 80% / v3 20% (RANDOM)"
    assert mapping_summary({"entries": [{"generation": "a", "proba": 1 / 3}, {"generation": "b", "proba": 2 / 3}]}) \
        == "a 33.3% / b 66.7% (RANDOM)"
    hashed = {**multi, "strategy": "HASH_BASED"}
    assert mapping_summary(hashed).endswith("(HASH_BASED)")
    assert mapping_summary(None) == "" and mapping_summary({}) == ""


def test_service_urls_like_dataikuapi() -> None:
    assert service_urls(LIGHT, HEAVY) == ["http://n1:12000/public/api/v1/fraud", "http://n2:12000/public/api/v1/fraud"]
    override = {"deploymentBasicInfo": {**LIGHT["deploymentBasicInfo"], "deployedServiceId": "fraud2"}}
    assert service_urls(override, HEAVY)[0] == "http://n1:12000/public/api/v1/fraud2"
    null_override = {"deploymentBasicInfo": {**LIGHT["deploymentBasicInfo"], "deployedServiceId": None}}
    assert service_urls(null_override, HEAVY)[0].endswith("/v1/fraud")
    assert service_urls(LIGHT, {"publicURL": "http://k8s:31201"}) == ["http://k8s:31201/public/api/v1/fraud"]
    assert service_urls(LIGHT, {"health": "UNKNOWN"}) == []
    assert service_urls(LIGHT, None) == []


def test_endpoint_urls_with_verbs() -> None:
    urls = endpoint_urls(LIGHT, HEAVY)
    assert EndpointURL("score", "CUSTOM_PREDICTION", "predict", "http://n1:12000/public/api/v1/fraud/score/predict") in urls
    assert {u.verb for u in urls if u.endpoint_id == "look"} == {"lookup", "lookup-multi"}
    assert len(urls) == 2 * (2 + 2)  # two nodes × (two verbs of each endpoint)
    # Without endpoints in the heavy status, the mapped version's package tells them.
    urls = endpoint_urls(LIGHT, {"apiNodes": [{"url": "http://n1:12000"}]})
    assert [(u.endpoint_id, u.verb) for u in urls] == [("score", "predict"), ("score", "predict-multi")]
    odd = endpoint_urls(LIGHT, {"apiNodes": [{"url": "http://n"}], "endpoints": [{"id": "x", "type": "NEW_KIND"}]})
    assert odd == [EndpointURL("x", "NEW_KIND", "", "http://n/public/api/v1/fraud/x")]


def test_curl_command_masks_the_key_unless_asked() -> None:
    masked = curl_command("http://n/public/api/v1/s/e/run", {"a": "it's"}, "SECRET-KEY")
    assert "SECRET-KEY" not in masked
    shown = curl_command("http://n/public/api/v1/s/e/run", {"a": "it's"}, "SECRET-KEY", show_key=True)
    argv = shlex.split(shown)
    assert argv[argv.index("-u") + 1] == "SECRET-KEY:"
    assert argv[argv.index("--data-binary") + 1] == '{"a":"it\'s"}'
    assert "-u" not in shlex.split(curl_command("http://n/x", {}, None))


def test_what_a_deployer_reports() -> None:
    from deployer_tui.core import readers

    assert readers.never_deployed({"neverEverDeployed": True}) is True
    assert readers.never_deployed({"neverEverDeployed": False}) is False
    assert readers.never_deployed({"deploymentBasicInfo": {}}) is None  # not said: not "never deployed"
    dss = {"health": "HEALTHY", "apiNodes": [{"url": "http://n:1"}, {"url": "http://n:2"}]}
    ours = {"health": "HEALTHY", "apiNodes": [{"url": "http://n:1", "health": "HEALTHY"}]}
    assert not readers.nodes_reported(dss) and readers.nodes_reported(ours)
    assert not readers.nodes_reported(None) and not readers.nodes_reported({"publicURL": "http://k"})
    assert readers.node_health(dss, "http://n:1") is None
    assert readers.node_health(ours, "http://n:1/") == "HEALTHY"
