"""Endpoint code that raises, hangs past its execution timeout or kills its worker: the caller gets a
DSS-shaped error, the worker is replaced, and the node keeps serving everything else."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dataikuapi
import httpx
import pytest

from tests.apinode.conftest import QUERY_KEY, deploy, http


@pytest.fixture(scope="module")
def service(admin: dataikuapi.APINodeAdminClient, packages: dict) -> str:
    deploy(admin, "faulty", [packages["f1"]])
    # Settings before the mapping, as the deployer's FULL update does: the pools start with them.
    admin._perform_empty("POST", "services/faulty/endpoints/hang/settings", body={"executionTimeoutMs": 1000})
    admin.service("faulty").switch_to_single_generation("f1")
    return "faulty"


def call(url: str, endpoint: str, body: dict | None = None, service: str = "faulty") -> httpx.Response:
    return http.post(f"{url}/public/api/v1/{service}/{endpoint}/run", json=body or {}, auth=(QUERY_KEY, ""),
                      timeout=60)


def test_endpoint_that_raises_gives_500_with_the_python_error(url: str, service: str) -> None:
    response = call(url, "boom")
    assert response.status_code == 500
    body = response.json()
    assert body["message"] == "ValueError: the endpoint failed on purpose"
    assert "errorType" in body and "detailedMessage" in body
    assert "raise ValueError" in body["stackTraceStr"]
    assert call(url, "boom").status_code == 500  # the same worker answers again: raising does not kill it


def test_official_client_sees_the_python_error(url: str, service: str) -> None:
    client = dataikuapi.APINodeClient(url, service, api_key=QUERY_KEY)
    with pytest.raises(dataikuapi.utils.DataikuException, match="the endpoint failed on purpose"):
        client.run_function("boom")


def test_result_that_is_not_json_gives_500_saying_so(url: str, service: str) -> None:
    response = call(url, "unserialisable")
    assert response.status_code == 500
    assert "not JSON-serialisable" in response.json()["message"]


def test_custom_status_from_endpoint_code(url: str, service: str) -> None:
    response = call(url, "custom_status")
    assert response.status_code == 404
    assert response.json()["message"] == "no such customer"


def test_endpoint_that_kills_its_worker_gives_500_and_is_replaced(url: str, service: str) -> None:
    response = call(url, "die")
    assert response.status_code == 500
    assert "died" in response.json()["message"] and "exit code 3" in response.json()["message"]
    again = call(url, "die", {"really": False})
    assert again.status_code == 200 and again.json()["response"] == "alive"


def test_endpoint_that_hangs_past_its_timeout_gives_503_and_is_replaced(url: str, service: str) -> None:
    outcome: dict[str, httpx.Response] = {}
    hanging = threading.Thread(target=lambda: outcome.setdefault("hang", call(url, "hang", {"seconds": 60})))
    hanging.start()
    try:
        # While the hung query runs, the node answers other endpoints.
        other = call(url, "hello", {"name": "meanwhile"})
        assert other.status_code == 200
        assert hanging.is_alive() or outcome["hang"].status_code == 503
    finally:
        hanging.join(30)
    response = outcome["hang"]
    assert response.status_code == 503
    assert "did not answer within 1000 ms" in response.json()["message"]
    assert response.json()["errorType"] == "com.dataiku.lambda.EndpointUnavailableException"
    quick = call(url, "hang", {"seconds": 0})
    assert quick.status_code == 200 and quick.json()["response"] == "woke up"


def test_full_queue_is_refused_with_503(url: str, admin: dataikuapi.APINodeAdminClient, packages: dict,
                                       exchange: Path) -> None:
    deploy(admin, "narrow", [packages["f1"]])
    admin._perform_empty("POST", "services/narrow/endpoints/slow_version/settings", body={
        "pool": {"floor": 1, "ceil": 1, "cruise": 1, "queue": 0, "timeout": 100}, "executionTimeoutMs": 5000})
    admin.service("narrow").switch_to_single_generation("f1")
    marker, release = exchange / "started", exchange / "release"
    outcome: dict[str, httpx.Response] = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("slow", call(
        url, "slow_version", {"marker": str(marker), "release": str(release)}, service="narrow")))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert marker.exists(), "the slow query never started"
        # The only worker is busy and nothing may queue: a second query is refused at once.
        refused = call(url, "slow_version", {"marker": str(exchange / "second"), "seconds": 0}, service="narrow")
    finally:
        release.write_text("go")
        thread.join(30)
    assert refused.status_code == 503
    assert "overloaded" in refused.json()["message"]
    assert not (exchange / "second").exists()
    assert outcome["slow"].status_code == 200


@pytest.mark.parametrize("settings, fragment", [
    ({"pool": {"floor": 3, "cruise": 2, "ceil": 4}}, "floor <= cruise <= ceil"),
    ({"pool": {"ceil": "many"}}, "pool.ceil must be a non-negative integer"),
    ({"executionTimeoutMs": 0}, "executionTimeoutMs must be a positive integer"),
    ([1, 2], "must be a JSON object"),
])
def test_bad_endpoint_settings_are_refused(admin: dataikuapi.APINodeAdminClient, service: str, settings,
                                           fragment: str) -> None:
    with pytest.raises(dataikuapi.utils.DataikuException, match=fragment):
        admin._perform_empty("POST", "services/faulty/endpoints/hello/settings", body=settings)
    assert admin._perform_json("GET", "services/faulty/endpoints/hello/settings") == {}
