"""Documents of the local deployer: defaults for new ones, checks on saved ones, and the
"basic info" views that statuses embed (docs/protocol.md, "Light statuses and settings").

Checks refuse what would break later work (unknown versions in a mapping, probabilities that
do not sum to 1, an id that changes under its URL, a field the server reads holding the wrong type)
and keep every other key as sent. A refusal names the field's path, e.g.
``generationsMapping.entries[1].proba must be a number``; nothing is stored.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

from deployer_tui.core.package import PackageError, validate_id
from deployer_tui.server.http import bad_request

DEFAULT_STAGES = [
    {"id": "Development", "desc": "Development"},
    {"id": "Test", "desc": "Test / pre-production"},
    {"id": "Production", "desc": "Production"},
]
INFRA_TYPES = ("STATIC", "K8S", "AZURE_ML", "SAGEMAKER", "SNOWPARK", "VERTEX_AI", "DATABRICKS")
GOVERN_POLICIES = ("NO_CHECK", "WARN", "PREVENT")
MAPPING_MODES = ("SINGLE_GENERATION", "MULTI_GENERATION")
STRATEGIES = ("RANDOM", "HASH_BASED")
PROBA_TOLERANCE = 1e-6
# Marks an apiNodes[] entry as one of serve's own nodes: its url and key are rewritten at each start.
LOCAL_NODE_KEY = "localNode"


def check_id(value: Any, what: str) -> str:
    try:
        return validate_id(value, what)
    except PackageError as exc:
        raise bad_request(str(exc)) from None


def new_infra(infra_id: str, stage: str, type_: str, policy: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": infra_id, "type": type_, "stage": stage, "governCheckPolicy": policy, "permissions": [],
        "healthSettings": {"maxFailing": 0},
        "rollingUpdateSettings": {"waitLoadBalancerTimeout": False, "loadBalancerTimeoutMS": 10000},
        "defaultApiNodeLogging": {"auditLog": {"logQueries": True, "logInputs": True, "logOutputs": True}},
    }
    if type_ == "STATIC":
        doc.update({
            "apiNodes": [],
            "carbonAPISettings": {"carbonAPIURL": None},
            "graphiteConfig": {"graphiteCarbonServerURL": None, "graphiteCarbonCommonPrefix": None,
                               "graphiteCarbonIntervalMinutes": 1},
            "remappedConnections": {},
            "codeEnvsSettings": {"cranMirrorURL": None, "preventOverrideFromImportedEnvs": False},
        })
    return doc


def new_service(service_id: str, owner: str) -> dict[str, Any]:
    return {"id": service_id, "name": service_id, "owner": owner, "permissions": []}


def new_deployment(dep_id: str, service_id: str, infra_id: str, version: str,
                   endpoint_id: str | None, authorizations: list | None) -> dict[str, Any]:
    return {
        "id": dep_id, "type": "API_SERVICE", "publishedServiceId": service_id, "infraId": infra_id,
        "deployedServiceId": None, "enabled": True, "tags": [],
        "generationsMapping": {"mode": "SINGLE_GENERATION", "generation": version},
        "auth": {"authMode": "INHERIT_DEV", "apiKeys": []},
        "endpointsServerSideConfigs": [],
        "overrideSettings": {"healthSettings": False, "rollingUpdateSettings": False, "loggingSettings": False},
        "healthSettings": {"maxFailing": 0},
        "rollingUpdateSettings": {"waitLoadBalancerTimeout": False, "loadBalancerTimeoutMS": 10000},
        "apiNodeLogging": {"auditLog": {"logQueries": True, "logInputs": True, "logOutputs": True}},
        "endpointId": endpoint_id,
        "authorizationsToQueryThroughDeployer": authorizations or [],
    }


def _non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _list_of(kind: type) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and all(isinstance(x, kind) for x in value)


# What a field may hold, by the words a refusal uses ("<path> must be <kind>").
KINDS: dict[str, Callable[[Any], bool]] = {
    "a string": lambda v: isinstance(v, str),
    "true or false": lambda v: isinstance(v, bool),
    "a non-negative integer": _non_negative_int,
    "a number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "an object": lambda v: isinstance(v, dict),
    "a list of strings": _list_of(str),
    "a list of objects": _list_of(dict),
}


def check_fields(doc: dict[str, Any], path: str, fields: dict[str, str]) -> None:
    """Each key of `fields` present in `doc` and not null holds that kind (a key of KINDS); `path` prefixes
    the field in the refusal ("healthSettings." for a nested object, "" at the top)."""
    for key, kind in fields.items():
        value = doc.get(key)
        if value is not None and not KINDS[kind](value):
            raise bad_request(f"{path}{key} must be {kind} (got {type(value).__name__})")


def check_object(doc: dict[str, Any], key: str, fields: dict[str, str], path: str = "") -> dict[str, Any]:
    """`doc[key]`, when present and not null, is an object whose `fields` hold their kinds; {} when absent."""
    check_fields(doc, path, {key: "an object"})
    value = doc.get(key) or {}
    check_fields(value, f"{path}{key}.", fields)
    return value


def check_list_of_objects(doc: dict[str, Any], key: str, fields: dict[str, str], path: str = "") -> list[Any]:
    """`doc[key]`, when present and not null, is a list of objects whose `fields` hold their kinds."""
    check_fields(doc, path, {key: "a list of objects"})
    items = doc.get(key) or []
    for i, item in enumerate(items):
        check_fields(item, f"{path}{key}[{i}].", fields)
    return items


HEALTH_FIELDS = {"maxFailing": "a non-negative integer"}
ROLLING_FIELDS = {"waitLoadBalancerTimeout": "true or false", "loadBalancerTimeoutMS": "a non-negative integer"}


def _require_object(doc: Any, what: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise bad_request(f"The {what} must be a JSON object")
    return doc


def _same(doc: dict[str, Any], old: dict[str, Any], key: str, what: str) -> None:
    if doc.get(key) != old.get(key):
        raise bad_request(f"The {key} of a {what} cannot be changed (was {old.get(key)!r}, got {doc.get(key)!r})")


def check_permissions(perms: Any, levels: tuple[str, ...]) -> None:
    if perms is None:
        return
    if not isinstance(perms, list):
        raise bad_request("permissions must be a list of {group, " + ", ".join(levels) + "} objects")
    for i, perm in enumerate(perms):
        if not isinstance(perm, dict) or not isinstance(perm.get("group"), str) or not perm["group"]:
            raise bad_request(f"permissions[{i}] must be an object with a non-empty 'group'")
        for lv in levels:
            if lv in perm and not isinstance(perm[lv], bool):
                raise bad_request(f"permissions[{i}].{lv} must be true or false")


def check_infra_settings(doc: Any, old: dict[str, Any], stages: list[dict[str, Any]]) -> dict[str, Any]:
    doc = _require_object(doc, "infra settings")
    _same(doc, old, "id", "infra")
    _same(doc, old, "type", "infra")
    check_fields(doc, "", {"stage": "a string"})
    if doc.get("stage") not in {s["id"] for s in stages}:
        raise bad_request(f"Unknown stage {doc.get('stage')!r}; stages are: {', '.join(s['id'] for s in stages)}")
    if doc.get("governCheckPolicy", "NO_CHECK") not in GOVERN_POLICIES:
        raise bad_request(f"governCheckPolicy must be one of {', '.join(GOVERN_POLICIES)}")
    check_permissions(doc.get("permissions"), ("read", "deploy", "admin"))
    nodes = doc.get("apiNodes", [])
    if not isinstance(nodes, list):
        raise bad_request("apiNodes must be a list of {url, adminAPIKey} objects")
    seen: set[str] = set()
    for i, node in enumerate(nodes):
        url = node.get("url") if isinstance(node, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise bad_request(f"apiNodes[{i}].url must be an http:// or https:// URL")
        if url.rstrip("/") in seen:
            raise bad_request(f"API node {url} is listed twice")
        seen.add(url.rstrip("/"))
        check_fields(node, f"apiNodes[{i}].", {"adminAPIKey": "a string", LOCAL_NODE_KEY: "a non-negative integer"})
    check_object(doc, "healthSettings", HEALTH_FIELDS)
    check_object(doc, "rollingUpdateSettings", ROLLING_FIELDS)
    return doc


def check_service_settings(doc: Any, old: dict[str, Any]) -> dict[str, Any]:
    doc = _require_object(doc, "service settings")
    _same(doc, old, "id", "service")
    if not isinstance(doc.get("owner"), str) or not doc["owner"]:
        raise bad_request("owner must be a user login")
    check_fields(doc, "", {"name": "a string"})
    check_permissions(doc.get("permissions"), ("read", "write", "deploy", "admin"))
    return doc


def mapping_entries(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    """The mapping as weighted entries: a single generation is one entry with probability 1."""
    if mapping.get("mode", "MULTI_GENERATION" if "entries" in mapping else None) == "SINGLE_GENERATION":
        return [{"generation": mapping.get("generation"), "proba": 1.0}]
    return [{"generation": e.get("generation"), "proba": float(e.get("proba", 0))}
            for e in mapping.get("entries") or [] if isinstance(e, dict)]


def check_mapping(mapping: Any, known_versions: set[str]) -> None:
    if not isinstance(mapping, dict):
        raise bad_request("generationsMapping must be an object")
    mode = mapping.get("mode")
    if mode not in MAPPING_MODES:
        raise bad_request(f"generationsMapping.mode must be one of {', '.join(MAPPING_MODES)}")
    if mode == "SINGLE_GENERATION":
        gen = mapping.get("generation")
        if not isinstance(gen, str):
            raise bad_request(f"generationsMapping.generation must be a version id string (got {type(gen).__name__})")
        if gen not in known_versions:
            raise bad_request(f"Version {gen!r} does not exist in this service "
                              f"(known: {', '.join(sorted(known_versions)) or 'none'})")
        return
    entries = mapping.get("entries")
    if not isinstance(entries, list) or not entries:
        raise bad_request("A MULTI_GENERATION mapping needs a non-empty 'entries' list")
    total = 0.0
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise bad_request(f"generationsMapping.entries[{i}] must be an object")
        gen, proba = entry.get("generation"), entry.get("proba")
        if not isinstance(gen, str):
            raise bad_request(f"generationsMapping.entries[{i}].generation must be a version id string "
                              f"(got {type(gen).__name__})")
        if gen not in known_versions:
            raise bad_request(f"generationsMapping.entries[{i}]: version {gen!r} does not exist in this service")
        if gen in seen:
            raise bad_request(f"generationsMapping lists version {gen!r} twice")
        seen.add(gen)
        if not KINDS["a number"](proba) or not 0 <= proba <= 1:
            raise bad_request(f"generationsMapping.entries[{i}].proba must be a number between 0 and 1")
        total += proba
    if abs(total - 1.0) > PROBA_TOLERANCE:
        raise bad_request(f"The probabilities of a MULTI_GENERATION mapping must sum to 1 (they sum to {total:g})")
    if mapping.get("strategy", "RANDOM") not in STRATEGIES:
        raise bad_request(f"generationsMapping.strategy must be one of {', '.join(STRATEGIES)}")


def check_deployment_settings(doc: Any, old: dict[str, Any], known_versions: set[str]) -> dict[str, Any]:
    doc = _require_object(doc, "deployment settings")
    for key in ("id", "publishedServiceId", "infraId"):
        _same(doc, old, key, "deployment")
    if not isinstance(doc.get("enabled"), bool):
        raise bad_request("enabled must be true or false")
    check_mapping(doc.get("generationsMapping"), known_versions)
    dsid = doc.get("deployedServiceId")
    if dsid is not None:
        check_id(dsid, "deployedServiceId")
    check_fields(doc, "", {"tags": "a list of strings", "endpointId": "a string"})
    check_object(doc, "healthSettings", HEALTH_FIELDS)
    check_object(doc, "rollingUpdateSettings", ROLLING_FIELDS)
    check_object(doc, "overrideSettings", {k: "true or false" for k in
                                           ("healthSettings", "rollingUpdateSettings", "loggingSettings")})
    auth = check_object(doc, "auth", {"authMode": "a string", "apiKeys": "a list of objects"})
    for i, key in enumerate(auth.get("apiKeys") or []):
        check_fields(key, f"auth.apiKeys[{i}].", {"key": "a string"})
    check_list_of_objects(doc, "endpointsServerSideConfigs", {"endpointId": "a string", "config": "an object"})
    check_list_of_objects(doc, "authorizationsToQueryThroughDeployer",
                          {"group": "a string", "queryThroughDeployer": "true or false"})
    return doc


def service_id_on_nodes(dep: dict[str, Any]) -> str:
    return dep.get("deployedServiceId") or dep["publishedServiceId"]


def node_mapping(mapping: dict[str, Any]) -> dict[str, Any]:
    """What setMapping receives: the saved mapping as-is, plus explicit entries (docs/protocol.md, "Generations mapping and dispatch")."""
    out = copy.deepcopy(mapping)
    out["entries"] = mapping_entries(mapping)
    return out


def deployed_fingerprint(dep: dict[str, Any]) -> str:
    """The part of a deployment's settings that reaches the nodes; a change means OUT_OF_SYNC."""
    relevant = {
        "enabled": dep.get("enabled"),
        "service": service_id_on_nodes(dep),
        "entries": sorted((e["generation"], round(e["proba"], 9)) for e in mapping_entries(dep["generationsMapping"])),
        "strategy": dep["generationsMapping"].get("strategy", "RANDOM")
        if dep["generationsMapping"].get("mode") == "MULTI_GENERATION" else None,
        "tuning": dep.get("endpointsServerSideConfigs") or [],
    }
    auth = dep.get("auth")
    if isinstance(auth, dict) and (auth.get("authMode") or "INHERIT_DEV") != "INHERIT_DEV":
        # Only when overridden: deployments that inherit keep the fingerprint they were deployed with.
        relevant["auth"] = {"mode": auth.get("authMode"), "keys": sorted(
            str(k.get("key")) for k in auth.get("apiKeys") or [] if isinstance(k, dict))}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


def max_failing(dep: dict[str, Any], infra: dict[str, Any]) -> int:
    if (dep.get("overrideSettings") or {}).get("healthSettings"):
        source = dep.get("healthSettings") or {}
    else:
        source = infra.get("healthSettings") or {}
    value = source.get("maxFailing", 0)
    return value if isinstance(value, int) and value >= 0 else 0


def tag(login: str, ts: int) -> dict[str, Any]:
    return {"lastModifiedBy": {"login": login}, "lastModifiedOn": ts}


def infra_basic_info(row: dict[str, Any]) -> dict[str, Any]:
    doc = row["doc"]
    info = {"id": doc["id"], "stage": doc.get("stage"), "type": doc.get("type"), "carbonAPIEnabled": False,
            "governCheckPolicy": doc.get("governCheckPolicy", "NO_CHECK")}
    if doc.get("type") == "STATIC":
        info["apiNodeUrls"] = [n.get("url") for n in doc.get("apiNodes") or [] if isinstance(n, dict)]
    return info


def service_basic_info(row: dict[str, Any]) -> dict[str, Any]:
    doc = row["doc"]
    return {"id": doc["id"], "name": doc.get("name") or doc["id"],
            "versionTag": tag(row["modified_by"], row["modified_on"]),
            "creationTag": tag(row["created_by"], row["created_on"])}


def deployment_basic_info(row: dict[str, Any]) -> dict[str, Any]:
    doc = row["doc"]
    info = {"id": doc["id"], "type": "API_SERVICE", "publishedServiceId": doc["publishedServiceId"],
            "infraId": doc["infraId"], "enabled": doc.get("enabled", True), "tags": doc.get("tags") or [],
            "generationsMapping": doc["generationsMapping"],
            "creationTag": tag(row["created_by"], row["created_on"]),
            "versionTag": tag(row["modified_by"], row["modified_on"]),
            "createdByDisplayName": row["created_by"], "lastModifiedByDisplayName": row["modified_by"]}
    # The client takes deployedServiceId whenever the key is present, so a null must be omitted
    # (DSS's Gson drops nulls too).
    if doc.get("deployedServiceId"):
        info["deployedServiceId"] = doc["deployedServiceId"]
    return info


def package_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["version_id"], "publishedOn": row["published_on"], "publishedBy": row["published_by"],
            "createdOn": row["info"].get("createdOn"), "endpoints": row["info"].get("endpoints", [])}


def info_messages(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """InfoMessages; maxSeverity is always set when there are messages."""
    order = ["SUCCESS", "INFO", "WARNING", "ERROR"]
    full = [{"isFatal": False, "details": None, **m} for m in messages]
    body: dict[str, Any] = {"messages": full, "anyMessage": bool(full), "success": False, "warning": False,
                            "error": False, "fatal": any(m.get("isFatal") for m in full)}
    if full:
        worst = max((m["severity"] for m in full), key=order.index)
        body["maxSeverity"] = worst
        body["success"] = worst == "SUCCESS"
        body["warning"] = worst == "WARNING"
        body["error"] = worst == "ERROR"
    return body


AUTH_MODES = ("INHERIT_DEV", "PUBLIC", "API_KEYS")


def auth_override(dep: dict[str, Any]) -> dict[str, Any] | None:
    """How the deployment's `auth` changes who may query it on the nodes, as the node's auth-override
    document (`{"publicAccess", "queryKeys"}`); None when the version's own `config.json` decides
    (`INHERIT_DEV`, or no `auth`). Raises ValueError naming what the local nodes cannot apply.

    INFERRED (docs/deployer.md): DSS pushes this inside the package; our nodes take it through
    their own admin call, so that changing the keys needs no re-import of any version."""
    auth = dep.get("auth")
    if auth is None:
        return None
    if not isinstance(auth, dict):
        raise ValueError("auth must be an object {authMode, apiKeys}")
    mode = auth.get("authMode") or "INHERIT_DEV"
    if mode == "INHERIT_DEV":
        return None
    if mode == "PUBLIC":
        return {"publicAccess": True, "queryKeys": []}
    if mode != "API_KEYS":
        raise ValueError(f"auth mode {mode!r} is not supported by the local API nodes "
                         f"(they support {', '.join(AUTH_MODES)})")
    keys = auth.get("apiKeys") or []
    if not isinstance(keys, list) or any(not isinstance(k, dict) or not isinstance(k.get("key"), str) or not k["key"]
                                         for k in keys):
        raise ValueError("auth.apiKeys must be a list of objects each with a non-empty string \"key\"")
    if not keys:
        raise ValueError("auth mode API_KEYS needs at least one key in auth.apiKeys (or nobody could query it)")
    return {"publicAccess": False, "queryKeys": keys}


def effective_auth(dep: dict[str, Any], config: dict[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
    """(public, query keys) as the nodes apply them: the deployment's override, else the version's config."""
    try:
        override = auth_override(dep)
    except ValueError:
        override = None  # not applicable: the update refuses it, so the nodes keep the version's own
    source = override if override is not None else {
        "publicAccess": bool(config.get("publicAccess")),
        "queryKeys": (config.get("authRealm") or {}).get("queryKeys") or []}
    return bool(source["publicAccess"]), list(source["queryKeys"])
