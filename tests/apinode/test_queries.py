"""The user API through the official dataikuapi.APINodeClient: every served endpoint type, auth, bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import dataikuapi
import pytest

from tests.apinode.conftest import ADMIN_KEY, QUERY_KEY, deploy, http, write_package


@pytest.fixture(scope="module")
def service(admin: dataikuapi.APINodeAdminClient, packages: dict) -> str:
    deploy(admin, "shop", [packages["v1"]], {"mode": "SINGLE_GENERATION", "generation": "v1"})
    deploy(admin, "open", [packages["public"]], {"entries": [{"generation": "p1", "proba": 1.0}]})
    return "shop"


@pytest.fixture(scope="module")
def client(url: str, service: str) -> dataikuapi.APINodeClient:
    return dataikuapi.APINodeClient(url, service, api_key=QUERY_KEY)


def test_run_function(client: dataikuapi.APINodeClient) -> None:
    answer = client.run_function("hello", name="ada")
    assert answer["response"] == {"greeting": "hello ada", "version": "v1"}
    assert answer["responseIsEmpty"] is False
    assert answer["apiContext"] == {"serviceId": "shop", "endpointId": "hello", "serviceGeneration": "v1"}
    assert set(answer["timing"]) == {"wait", "execution", "functionInternal"}
    assert answer["timing"]["execution"] >= answer["timing"]["functionInternal"] >= 0


def test_run_function_without_arguments_sends_no_body(client: dataikuapi.APINodeClient) -> None:
    assert client.run_function("hello")["response"]["greeting"] == "hello world"


def test_run_with_get_takes_query_parameters(url: str, service: str) -> None:
    response = http.get(f"{url}/public/api/v1/{service}/hello/run", params={"name": "bob"}, auth=(QUERY_KEY, ""))
    assert response.status_code == 200
    assert response.json()["response"]["greeting"] == "hello bob"


def test_predict_record_classification(client: dataikuapi.APINodeClient) -> None:
    answer = client.predict_record("classify", {"x": 15})
    result = answer["result"]
    assert result["prediction"] == "big"
    assert result["probas"] == pytest.approx({"big": 0.75, "small": 0.25})
    assert result["customKeys"] == {"version": "v1"}
    assert result["ignored"] is False
    assert answer["apiContext"]["serviceGeneration"] == "v1"
    assert {"preparation", "wait", "prediction", "postProcessing"} <= set(answer["timing"])


def test_predict_records_keeps_order_and_ignores_unpredicted_rows(client: dataikuapi.APINodeClient) -> None:
    answer = client.predict_records("classify", [{"features": {"x": 1}}, {"features": {"x": None}},
                                                 {"features": {"x": 30}, "context": {"id": 3}}])
    results = answer["results"]
    assert [r.get("prediction") for r in results] == ["small", None, "big"]
    assert results[1] == {"ignored": True, "ignoreReason": "IGNORED_BY_MODEL"}


def test_predict_regression(client: dataikuapi.APINodeClient) -> None:
    assert client.predict_record("double", {"x": 21})["result"]["prediction"] == 42
    assert [r["prediction"] for r in client.predict_records("double", [{"features": {"x": 1.5}},
                                                                       {"features": {"x": -2}}])["results"]] == [3.0, -4]


def test_lookup_record(client: dataikuapi.APINodeClient) -> None:
    found = client.lookup_record("customer", {"email": "a@b.c"})
    assert found == {"data": {"email": "a@b.c", "segment": "gold", "lifetime_value": 1520.5}, "ignored": False}


def test_lookup_records_not_found_and_multiple_matches(client: dataikuapi.APINodeClient) -> None:
    answer = client.lookup_records("customer", [{"data": {"email": "nobody@x.y"}}, {"data": {"email": "d@e.f"}}])
    missing, first = answer["results"]
    assert missing["ignored"] is True and missing["ignoreReason"] == "NO_LOOKUP_MATCH"
    assert first["data"]["segment"] == "silver"  # KEEP_FIRST of two matches


def test_sql_query(client: dataikuapi.APINodeClient) -> None:
    answer = client.sql_query("orders", {"customer": "ada"})
    (result,) = answer["results"]
    assert [c["name"] for c in result["columns"]] == ["id", "item", "price"]
    assert result["rows"] == [[1, "book", 12.5], [2, "pen", 1.0]]
    assert answer["apiContext"]["serviceGeneration"] == "v1"


def test_sql_query_missing_parameter(client: dataikuapi.APINodeClient) -> None:
    with pytest.raises(dataikuapi.utils.DataikuException, match="Missing parameter 'customer'"):
        client.sql_query("orders", {"someone": "ada"})


def test_public_service_needs_no_key(url: str, service: str) -> None:
    answer = dataikuapi.APINodeClient(url, "open").run_function("hello", name="x")
    assert answer["apiContext"]["serviceGeneration"] == "p1"


@pytest.mark.parametrize("auth", [None, ("wrong-key", ""), ("", QUERY_KEY + "x")])
def test_no_key_or_wrong_key_is_401(url: str, service: str, auth: tuple | None) -> None:
    response = http.post(f"{url}/public/api/v1/{service}/hello/run", json={}, auth=auth)
    assert response.status_code == 401
    body = response.json()
    assert body["errorType"] == "com.dataiku.dip.exceptions.NotAuthenticatedException"
    assert body["message"] in ("API Key not provided", "Unknown API key")


@pytest.mark.parametrize("header", [f"Bearer {QUERY_KEY}", "Basic " + __import__("base64").b64encode(
    f":{QUERY_KEY}".encode()).decode()])
def test_key_as_bearer_or_basic_password(url: str, service: str, header: str) -> None:
    response = http.post(f"{url}/public/api/v1/{service}/hello/run", json={}, headers={"Authorization": header})
    assert response.status_code == 200


def test_official_client_with_wrong_key_raises(url: str, service: str) -> None:
    with pytest.raises(dataikuapi.utils.DataikuException, match="Unknown API key"):
        dataikuapi.APINodeClient(url, service, api_key="nope").run_function("hello")


@pytest.mark.parametrize(("path", "fragment"), [
    ("nosuch/hello/run", "Service not found: nosuch"),
    ("shop/nosuch/run", "Endpoint not found: nosuch"),
    ("shop/hello/predict", "has no verb 'predict'"),
])
def test_unknown_service_endpoint_or_verb_is_404(url: str, service: str, path: str, fragment: str) -> None:
    response = http.post(f"{url}/public/api/v1/{path}", json={}, auth=(QUERY_KEY, ""))
    assert response.status_code == 404
    assert fragment in response.json()["message"]


@pytest.mark.parametrize(("endpoint", "verb", "content", "fragment"), [
    ("classify", "predict", b'{"explanations": {}}', "'features' is required"),
    ("classify", "predict", b"{not json", "Could not parse"),
    ("classify", "predict-multi", b"{}", "'items' is required"),
    ("classify", "predict-multi", b'{"items": [{"context": {}}]}', "items[0] must be an object with a 'features'"),
    ("customer", "lookup", b"{}", "'data' is required"),
    ("hello", "run", b"[1, 2]", "must be a JSON object"),
    ("hello", "run", b'{"unknown_arg": 1}', "unexpected keyword argument"),
])
def test_bad_bodies_are_400(url: str, service: str, endpoint: str, verb: str, content: bytes, fragment: str) -> None:
    response = http.post(f"{url}/public/api/v1/{service}/{endpoint}/{verb}", content=content, auth=(QUERY_KEY, ""))
    assert response.status_code == 400, response.text
    assert fragment in response.json()["message"]


def test_ping_and_is_alive(url: str) -> None:
    assert http.get(f"{url}/public/api/v1/ping").json() == {}
    assert http.get(f"{url}/isAlive").json()["alive"] is True


def test_stats_count_requests_and_errors_per_version(admin: dataikuapi.APINodeAdminClient, client) -> None:
    client.run_function("hello", name="stats")
    with pytest.raises(dataikuapi.utils.DataikuException):
        client.run_function("hello", bogus=1)
    stats = admin._perform_json("GET", "services/shop/stats")
    hello = next(e for e in stats["endpoints"] if e["enpdointId"] == "hello")
    assert hello["requests"]["count"] >= 2
    assert hello["errors"] >= 1
    assert hello["successRequests"]["count"] == hello["requests"]["count"] - hello["errors"]
    (version,) = hello["versions"]
    assert version["version"] == "v1" and version["requests"]["count"] == hello["requests"]["count"]
    assert hello["processingTime"]["max"] >= hello["processingTime"]["p50"] > 0
    registry = admin.get_metrics()
    assert registry["meters"]["dku.lambda.service.shop.hello.requests"]["count"] == hello["requests"]["count"]


def test_get_shortcuts_predict_simple_and_lookup_simple(url: str, service: str) -> None:
    predicted = http.get(f"{url}/public/api/v1/{service}/classify/predict-simple", params={"x": "12"},
                         auth=(QUERY_KEY, ""))
    assert predicted.status_code == 200 and predicted.json()["result"]["prediction"] == "big"
    found = http.get(f"{url}/public/api/v1/{service}/customer/lookup-simple", params={"email": "a@b.c"},
                     auth=(QUERY_KEY, ""))
    assert found.json()["results"][0]["data"]["segment"] == "gold"


def test_prometheus_metrics(url: str, client: dataikuapi.APINodeClient) -> None:
    client.run_function("hello", name="prom")
    text = http.get(f"{url}/admin/api/metrics-prometheus", auth=(ADMIN_KEY, "")).text
    line = next(ln for ln in text.splitlines()
                if ln.startswith('dku_lambda_service_requests_total{service="shop",endpoint="hello"'))
    assert 'generation="v1"' in line and int(line.rsplit(" ", 1)[1]) >= 1


def test_code_env_routes_say_they_are_not_managed(admin: dataikuapi.APINodeAdminClient) -> None:
    with pytest.raises(dataikuapi.utils.DataikuException, match="not managed by the local API node"):
        admin.import_code_env_in_cache("/somewhere", "python")


def test_function_reads_its_bundled_managed_folder(client: dataikuapi.APINodeClient) -> None:
    assert client.run_function("read_folder")["response"] == "bundled with v1"


def test_endpoint_prints_go_to_the_service_log_not_the_node_output(node, client) -> None:
    client.run_function("hello", name="printer")
    data_dir = Path(node.popen.args[node.popen.args.index("--data-dir") + 1])
    log = data_dir / "logs" / "shop.log"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "hello called for printer" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.02)
    assert "hello called for printer" in log.read_text()
    assert not any("hello called for" in line for line in node.output)


def test_prediction_enrichment_from_a_bundled_dataset(client: dataikuapi.APINodeClient) -> None:
    answer = client.predict_records("double", [{"features": {"email": "a@b.c"}}, {"features": {"email": "no@o.ne"}},
                                               {"features": {"x": 4}}])
    enriched, unknown, plain = answer["results"]
    assert enriched["prediction"] == 3041.0
    assert enriched["postEnrich"] == {"email": "a@b.c", "x": 1520.5}
    assert unknown == {"ignored": True, "ignoreReason": "NO_LOOKUP_MATCH"}
    assert plain["prediction"] == 8


def test_the_worked_example_answers_its_own_test_queries(admin, url: str, tmp_path: Path) -> None:
    from deployer_tui.core.package import build_package

    example = Path(__file__).resolve().parents[2] / "examples" / "hello-service"
    zipped, info = build_package(example, tmp_path / "hello.zip")
    deploy(admin, "hello", [zipped], {"generation": "v1"})
    verbs = {"PY_FUNCTION": "run", "CUSTOM_PREDICTION": "predict", "DATASETS_LOOKUP": "lookup"}
    answered = 0
    for endpoint in info.endpoints:
        for query in info.test_queries[endpoint["id"]]:
            response = http.post(f"{url}/public/api/v1/hello/{endpoint['id']}/{verbs[endpoint['type']]}",
                                 json=query["q"], auth=("hello-query-key", ""))
            assert response.status_code == 200, response.text
            answered += 1
    assert answered == 6
    client = dataikuapi.APINodeClient(url, "hello", api_key="hello-query-key")
    assert client.predict_record("score", {"amount": 900, "payment_type": "card"})["result"]["prediction"] == \
        "suspicious"
    assert client.lookup_record("customer", {"customer_id": 42})["ignoreReason"] == "NO_LOOKUP_MATCH"


def test_base_url_with_a_trailing_slash_works(url: str, service: str) -> None:
    # The official clients then ask for //public/api/... and //admin/api/...
    client = dataikuapi.APINodeClient(url + "/", service, api_key=QUERY_KEY)
    assert client.run_function("hello")["response"]["greeting"] == "hello world"
    assert any(s["serviceId"] == service
               for s in dataikuapi.APINodeAdminClient(url + "/", ADMIN_KEY).list_services())


def test_responses_carry_the_api_node_headers(url: str, service: str) -> None:
    response = http.post(f"{url}/public/api/v1/{service}/hello/run", json={}, auth=(QUERY_KEY, ""))
    assert response.headers["DSS-APINode-API-Version"] == "1"
    assert response.headers["DSS-Version"]
    wrong_method = http.delete(f"{url}/public/api/v1/{service}/hello/run", auth=(QUERY_KEY, ""))
    assert wrong_method.status_code == 405 and "errorType" in wrong_method.json()


def test_function_from_a_bundled_library(admin, url: str, tmp_path: Path) -> None:
    from deployer_tui.core.package import build_package

    src = write_package(tmp_path / "lib-src", "l1", only_functions=True, functions=("hello",), public=True,
                        extra_endpoints=[{"id": "scored", "type": "PY_FUNCTION", "userFunctionName": "score"}])
    lib = src / "endpoint-scored" / "lib" / "000-project"
    lib.mkdir(parents=True)
    (lib / "scoring.py").write_text("def score(x):\n    return x * 10\n\ndef unrelated():\n    pass\n")
    (src / "endpoint-scored" / "code.py").write_text("from scoring import score, unrelated  # noqa\n")
    zipped, _ = build_package(src, tmp_path / "l1.zip")
    deploy(admin, "libs", [zipped], {"generation": "l1"})
    assert dataikuapi.APINodeClient(url, "libs").run_function("scored", x=4)["response"] == 40


def test_query_log_says_which_version_answered(node, client: dataikuapi.APINodeClient) -> None:
    client.run_function("hello", name="audited")
    data_dir = Path(node.popen.args[node.popen.args.index("--data-dir") + 1])
    lines = [json.loads(line) for line in (data_dir / "logs" / "queries.log").read_text().splitlines()]
    mine = [r for r in lines if r.get("input") == {"name": "audited"}]
    assert len(mine) == 1
    assert mine[0]["serviceId"] == "shop" and mine[0]["generation"] == "v1" and mine[0]["status"] == 200
    assert QUERY_KEY not in (data_dir / "logs" / "queries.log").read_text()


def test_big_answers_of_every_verb_arrive_whole(client: dataikuapi.APINodeClient) -> None:
    # Answers over 256 KiB travel from the worker as encoded bytes, spliced into the answer (user.Spliced).
    rows = 4000
    predicted = client.predict_records("classify", [{"features": {"x": i % 20}} for i in range(rows)])
    assert len(predicted["results"]) == rows and predicted["results"][11]["prediction"] == "big"
    assert predicted["apiContext"]["endpointId"] == "classify" and "timing" in predicted
    looked_up = client.lookup_records("customer", [{"data": {"email": "a@b.c"}} for _ in range(rows)])
    assert len(looked_up["results"]) == rows and looked_up["results"][-1]["data"]["segment"] == "gold"
    greeting = client.run_function("hello", name="n" * 400_000)["response"]["greeting"]
    assert greeting == "hello " + "n" * 400_000
