"""Multi-version mappings (docs/protocol.md, "Generations mapping and dispatch"): forcedGeneration, RANDOM, HASH_BASED agreeing across two nodes,
and a version switch that lets in-flight queries finish on the version they started on."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dataikuapi
import httpx
import pytest

from tests.apinode.conftest import ADMIN_KEY, QUERY_KEY, deploy, http, node_dir
from tests.servers import Proc, apinode

HALF_HALF = {"entries": [{"generation": "h1", "proba": 0.5}, {"generation": "h2", "proba": 0.5}]}
KEYS = [f"user-{i}" for i in range(24)]


@pytest.fixture(scope="module")
def ab(admin: dataikuapi.APINodeAdminClient, packages: dict, url: str) -> dataikuapi.APINodeClient:
    deploy(admin, "ab", [packages["h1"], packages["h2"]], {"mode": "MULTI_GENERATION", "strategy": "RANDOM",
                                                            **HALF_HALF})
    return dataikuapi.APINodeClient(url, "ab", api_key=QUERY_KEY)


def version_of(answer: dict) -> str:
    return answer["apiContext"]["serviceGeneration"]


def test_forced_generation_picks_the_version(ab: dataikuapi.APINodeClient) -> None:
    for generation in ("h1", "h2", "h1"):
        answer = ab.predict_record("classify", {"x": 3}, forced_generation=generation)
        assert version_of(answer) == generation
        assert answer["result"]["customKeys"] == {"version": generation}
    many = ab.predict_records("classify", [{"features": {"x": 1}}, {"features": {"x": 12}}], forced_generation="h2")
    assert version_of(many) == "h2" and [r["customKeys"]["version"] for r in many["results"]] == ["h2", "h2"]


def test_forced_generation_through_headers_for_functions(url: str, ab) -> None:
    for generation in ("h2", "h1"):
        response = http.post(f"{url}/public/api/v1/ab/hello/run", json={"name": "x"}, auth=(QUERY_KEY, ""),
                              headers={"X-DKU-Forced-Generation": generation})
        assert response.json()["response"]["version"] == generation


def test_forced_generation_must_be_mounted(ab: dataikuapi.APINodeClient) -> None:
    with pytest.raises(dataikuapi.utils.DataikuException, match="Invalid selected generation: v9"):
        ab.predict_record("classify", {"x": 3}, forced_generation="v9")


def test_random_strategy_uses_both_versions(ab: dataikuapi.APINodeClient, admin) -> None:
    admin.service("ab").set_generations_mapping({"mode": "MULTI_GENERATION", "strategy": "RANDOM", **HALF_HALF})
    seen = {version_of(ab.predict_record("classify", {"x": i})) for i in range(40)}
    assert seen == {"h1", "h2"}  # each of 40 draws is 50/50: missing one has probability 2**-39


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory, packages: dict, node: Proc, ab,
              admin: dataikuapi.APINodeAdminClient) -> Iterator[list[str]]:
    """Service `ab` with a HASH_BASED mapping on the module's node (its versions stay mounted) and on a second one."""
    hashed = {"mode": "MULTI_GENERATION", "strategy": "HASH_BASED", **HALF_HALF}
    second = apinode(node_dir(tmp_path_factory.mktemp("second-node")), ADMIN_KEY)
    try:
        admin.service("ab").set_generations_mapping(hashed)
        deploy(dataikuapi.APINodeAdminClient(second.url("apinode"), ADMIN_KEY), "ab",
               [packages["h1"], packages["h2"]], hashed)
        yield [node.url("apinode"), second.url("apinode")]
    finally:
        admin.service("ab").set_generations_mapping({"mode": "MULTI_GENERATION", "strategy": "RANDOM", **HALF_HALF})
        second.stop()


def test_hash_based_sends_a_key_to_the_same_version_on_every_node(two_nodes: list[str]) -> None:
    per_node = []
    for url in two_nodes:
        client = dataikuapi.APINodeClient(url, "ab", api_key=QUERY_KEY)
        per_node.append({key: version_of(client.predict_record("classify", {"x": 1}, dispatch_key=key))
                         for key in KEYS})
    assert per_node[0] == per_node[1]
    assert set(per_node[0].values()) == {"h1", "h2"}
    client = dataikuapi.APINodeClient(two_nodes[0], "ab", api_key=QUERY_KEY)
    again = {key: version_of(client.predict_record("classify", {"x": 2}, dispatch_key=key)) for key in KEYS}
    assert again == per_node[0]


def test_hash_based_without_a_key_is_400(two_nodes: list[str]) -> None:
    client = dataikuapi.APINodeClient(two_nodes[0], "ab", api_key=QUERY_KEY)
    with pytest.raises(dataikuapi.utils.DataikuException, match="dispatch key is mandatory"):
        client.predict_record("classify", {"x": 1})


def test_switch_lets_in_flight_queries_finish_on_their_version(
        admin: dataikuapi.APINodeAdminClient, packages: dict, url: str, exchange: Path) -> None:
    deploy(admin, "switch", [packages["f1"], packages["f2"]], {"mode": "SINGLE_GENERATION", "generation": "f1"})
    # Preloaded, f2's workers are up before the slow query starts: the switch below is immediate.
    admin.service("switch").preload_generation("f2")
    assert {g["generationId"]: g["mounted"] for g in admin.service("switch").list_generations()} == \
        {"f1": True, "f2": True}
    marker, release = exchange / "started", exchange / "release"
    outcome: dict[str, httpx.Response] = {}

    def slow() -> None:
        outcome["slow"] = http.post(f"{url}/public/api/v1/switch/slow_version/run", auth=(QUERY_KEY, ""),
                                     json={"marker": str(marker), "release": str(release)}, timeout=30)

    thread = threading.Thread(target=slow)
    thread.start()
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marker.exists(), "the slow query never started"
    admin.service("switch").switch_to_single_generation("f2")
    fresh = http.post(f"{url}/public/api/v1/switch/hello/run", auth=(QUERY_KEY, ""), json={})
    assert fresh.json()["apiContext"]["serviceGeneration"] == "f2"
    assert thread.is_alive()  # it waits for `release`
    release.write_text("go")
    thread.join(30)
    slow_answer = outcome["slow"]
    assert slow_answer.status_code == 200
    assert slow_answer.json()["response"] == "f1"
    assert slow_answer.json()["apiContext"]["serviceGeneration"] == "f1"
    # Once idle, the old generation is unmounted.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        mounted = {g["generationId"]: g["mounted"] for g in admin.service("switch").list_generations()}
        if mounted == {"f1": False, "f2": True}:
            break
        time.sleep(0.05)
    assert mounted == {"f1": False, "f2": True}
