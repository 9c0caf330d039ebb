"""Answers cannot be crossed or stall the node: a fork inside endpoint code never answers another
caller, and a big answer is served while small queries keep being answered (or refused past the cap)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dataikuapi
import pytest

from tests.security.conftest import deploy_function, function_package, run

FORKY = '''
import os

def forky(n):
    os.fork()  # both processes return: only one may answer
    return {"n": n}
'''

BIG = '''
def big(size):
    return "x" * size
'''

SMALL = '''
def small(n):
    return n
'''


@pytest.fixture(scope="module")
def services(node_admin: dataikuapi.APINodeAdminClient, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("answers")
    for name, code in (("forky", FORKY), ("big", BIG), ("small", SMALL)):
        deploy_function(node_admin, name, function_package(root, "v1", code, name), "v1")


def test_a_fork_in_endpoint_code_never_answers_another_caller(node_url: str, services) -> None:
    answers = []
    for n in range(30):
        resp = run(node_url, "forky", "forky", {"n": n})
        answers.append(resp.json()["response"]["n"] if resp.status_code == 200 else resp.status_code)
    assert answers == list(range(30))


def test_an_answer_over_the_cap_is_refused_and_the_worker_serves_on(node_url: str, services) -> None:
    resp = run(node_url, "big", "big", {"size": 301 * 1024 * 1024})
    assert resp.status_code == 500
    assert "limit of 314572800 bytes" in resp.json()["message"] and "maxAnswerBytes" in resp.json()["message"]
    assert run(node_url, "big", "big", {"size": 3}).json()["response"] == "xxx"


def test_a_big_answer_does_not_stall_other_queries(node_url: str, services) -> None:
    size = 250 * 1000 * 1000
    run(node_url, "small", "small", {"n": 0})  # its worker is up
    done = threading.Event()
    big: dict = {}

    def fetch_big() -> None:
        resp = run(node_url, "big", "big", {"size": size})
        big["status"], big["length"] = resp.status_code, len(resp.content)
        done.set()

    thread = threading.Thread(target=fetch_big)
    started = time.monotonic()
    thread.start()
    gaps, last = [], time.monotonic()
    while not done.is_set() and time.monotonic() - started < 120:
        assert run(node_url, "small", "small", {"n": 1}).json()["response"] == 1
        now = time.monotonic()
        gaps.append(now - last)
        last = now
    thread.join(120)
    assert big["status"] == 200 and big["length"] > size
    # Small queries kept being answered while the big one was produced, moved and sent: none waited
    # for the big answer to be decoded and re-encoded by the node (seconds for 250 MB).
    assert len(gaps) > 3 and max(gaps) < 1.5, (len(gaps), max(gaps))


def test_answers_of_every_size_arrive_whole(node_url: str, services, tmp_path: Path) -> None:
    for size in (0, 10, 300 * 1024, 5 * 1024 * 1024):
        body = run(node_url, "big", "big", {"size": size}).json()
        assert body["response"] == "x" * size and body["responseIsEmpty"] is False
        assert body["apiContext"]["serviceId"] == "big"
