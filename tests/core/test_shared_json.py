"""SharedDecoding: documents decoded with their alike parts kept once read exactly as decoded alone."""

from __future__ import annotations

import json

from deployer_tui.core.shared_json import SharedDecoding


def info(dep: str, **extra: object) -> dict:
    return {"id": dep, "infraId": "dev", "enabled": True, "tags": [],
            "creationTag": {"lastModifiedBy": {"login": "admin"}, "lastModifiedOn": 1700000000000}, **extra}


DEPLOYMENTS = [{"deploymentBasicInfo": info(d), "infraBasicInfo": {"id": "dev", "stage": "Development"},
                "packages": [{"id": "v1", "publishedOn": 1}]} for d in ("a", "b", "c")]
INFRAS = [{"infraBasicInfo": {"id": "dev", "stage": "Development"}, "deployments": [info("a"), info("b", extra=1)]}]


def decoded(shared: SharedDecoding, documents: object) -> object:
    return json.loads(json.dumps(documents), object_pairs_hook=shared.hook)


def test_alike_parts_are_one_object_and_everything_reads_as_decoded_alone():
    shared = SharedDecoding()
    deployments, infras = decoded(shared, DEPLOYMENTS), decoded(shared, INFRAS)
    assert deployments == DEPLOYMENTS and infras == INFRAS
    a, b, c = deployments
    assert b["infraBasicInfo"] is a["infraBasicInfo"] and c["packages"][0] is a["packages"][0]
    # The infra's copy of a deployment's basic info is the deployment's own, across the two lists.
    assert infras[0]["deployments"][0] is a["deploymentBasicInfo"]
    assert infras[0]["infraBasicInfo"] is a["infraBasicInfo"]
    # Same id, other content: kept apart.
    assert infras[0]["deployments"][1] is not b["deploymentBasicInfo"]
    assert infras[0]["deployments"][1]["extra"] == 1
    # Small dicts of plain values, and strings, are kept once too.
    logins = [d["deploymentBasicInfo"]["creationTag"]["lastModifiedBy"] for d in deployments]
    assert logins[0] is logins[1] is logins[2]
    assert a["deploymentBasicInfo"]["infraId"] is c["deploymentBasicInfo"]["infraId"]


def test_values_of_other_types_are_never_one():
    shared = SharedDecoding()
    one, true, real = decoded(shared, [{"n": 1}, {"n": True}, {"n": 1.0}])
    assert type(one["n"]) is int and type(true["n"]) is bool and type(real["n"]) is float
    assert one is not true and one is not real


def test_each_load_starts_afresh():
    first, second = decoded(SharedDecoding(), DEPLOYMENTS), decoded(SharedDecoding(), DEPLOYMENTS)
    assert first == second and first[0]["infraBasicInfo"] is not second[0]["infraBasicInfo"]
