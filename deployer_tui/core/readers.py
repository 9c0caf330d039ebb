"""Small typed accessors over the deployer's raw JSON. Pure functions, no I/O.

The raw documents stay the source of truth (unknown fields are kept and shown); these helpers only read
what the UI needs, tolerating missing keys, since real DSS versions differ in what they send.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from deployer_tui.core.errors import DeployerError
from deployer_tui.core.package import ENDPOINT_VERBS

SEVERITY_ORDER = ("FATAL", "ERROR", "WARNING", "INFO", "SUCCESS")
# Health values the server may return (docs/protocol.md, "Heavy status and health"); the set is open, anything else is shown as is.
SERVER_HEALTH = ("HEALTHY", "WARNING", "OUT_OF_SYNC", "UNKNOWN", "UNHEALTHY", "ERROR")
UI_HEALTH = ("DISABLED", "LOADING", "LOADING_FAILED")
MASKED_KEY = "********"


def basic(doc: object, key: str, *, or_self: bool = False) -> dict:
    """The `key` part of a document (a `*BasicInfo`, a `versionTag`…), {} when it is missing or not an
    object. With `or_self`, the document itself then: the id readers also take a basic info directly."""
    if not isinstance(doc, dict):
        return {}
    inner = doc.get(key)
    if isinstance(inner, dict):
        return inner
    return doc if or_self else {}


def deployment_basic(light: dict) -> dict:
    return basic(light, "deploymentBasicInfo", or_self=True)


def deployment_id(light: dict) -> str:
    return str(deployment_basic(light).get("id", ""))


def infra_id(light: dict) -> str:
    return str(basic(light, "infraBasicInfo", or_self=True).get("id", ""))


def service_id(light: dict) -> str:
    return str(basic(light, "serviceBasicInfo", or_self=True).get("id", ""))


def is_enabled(light: dict) -> bool:
    return deployment_basic(light).get("enabled") is not False


def display_health(light: dict, heavy: dict | DeployerError | None) -> str:
    """Health as the UI shows it: the server's value (open set) or DISABLED / LOADING / LOADING_FAILED.

    As in the DSS UI, a disabled deployment shows DISABLED whatever its heavy status says.
    """
    if not is_enabled(light):
        return "DISABLED"
    if heavy is None:
        return "LOADING"
    if isinstance(heavy, DeployerError):
        return "LOADING_FAILED"
    health = heavy.get("health") if isinstance(heavy, dict) else None
    return str(health) if health else "UNKNOWN"


def _severity_rank(message: dict) -> int:
    severity = str(message.get("severity", "")).upper()
    if message.get("isFatal"):
        return 0
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def health_messages(heavy: dict | DeployerError | None) -> list[dict]:
    """The heavy status' health messages, most severe first (stable within a severity).

    A failed heavy-status call gets the message the DSS UI fabricates for LOADING_FAILED.
    """
    if isinstance(heavy, DeployerError):
        return [{"severity": "ERROR", "title": "Failed loading the deployment status", "message": str(heavy),
                 "details": heavy.detail}]
    if not isinstance(heavy, dict):
        return []
    container = heavy.get("healthMessages")
    messages = container.get("messages") if isinstance(container, dict) else None
    if not isinstance(messages, list):
        return []
    return sorted((m for m in messages if isinstance(m, dict)), key=_severity_rank)


def _percent(proba: Any) -> str:
    try:
        value = float(proba) * 100
    except (TypeError, ValueError):
        return "?%"
    return f"{value:.0f}%" if abs(value - round(value)) < 0.05 else f"{value:.1f}%"


def mapping_summary(generations_mapping: dict | None) -> str:
    """One line for a generations mapping: "v3", or "v2 80% / v3 20% (RANDOM)"; "" when there is none."""
    if not isinstance(generations_mapping, dict):
        return ""
    mode = generations_mapping.get("mode")
    entries = generations_mapping.get("entries")
    if mode == "SINGLE_GENERATION" or (mode is None and generations_mapping.get("generation") and not entries):
        return str(generations_mapping.get("generation") or "")
    if not isinstance(entries, list) or not entries:
        return ""
    parts = [f"{e.get('generation', '?')} {_percent(e.get('proba'))}" for e in entries if isinstance(e, dict)]
    strategy = generations_mapping.get("strategy") or "RANDOM"
    return f"{' / '.join(parts)} ({strategy})"


def _published_service_id(light: dict) -> str:
    basic = deployment_basic(light)
    # dataikuapi uses deployedServiceId whenever the key is present; a null one would give ".../None",
    # so a null (or empty) override falls back to the published service id.
    return str(basic.get("deployedServiceId") or basic.get("publishedServiceId") or "")


def service_urls(light: dict, heavy: dict | None) -> list[str]:
    """Service-level URLs, built like dataikuapi's get_service_urls (node URLs, else the public URL)."""
    if not isinstance(heavy, dict):
        return []
    sid = _published_service_id(light)
    nodes = heavy.get("apiNodes")
    if isinstance(nodes, list):
        return [f"{n['url'].rstrip('/')}/public/api/v1/{sid}" for n in nodes if isinstance(n, dict) and n.get("url")]
    if heavy.get("publicURL"):
        return [f"{str(heavy['publicURL']).rstrip('/')}/public/api/v1/{sid}"]
    return []


@dataclass(frozen=True)
class EndpointURL:
    endpoint_id: str
    type: str
    verb: str
    url: str


def deployed_endpoints(light: dict, heavy: dict | None) -> list[dict]:
    """Endpoints `{id, type}` of the deployed version: the heavy status' list, else the light status' packages."""
    if isinstance(heavy, dict) and isinstance(heavy.get("endpoints"), list):
        return [e for e in heavy["endpoints"] if isinstance(e, dict) and e.get("id")]
    mapping = deployment_basic(light).get("generationsMapping") or {}
    wanted = {mapping.get("generation")} | {e.get("generation") for e in mapping.get("entries") or []
                                            if isinstance(e, dict)}
    found: dict[str, dict] = {}
    for package in (light.get("packages") or []) if isinstance(light, dict) else []:
        if isinstance(package, dict) and package.get("id") in wanted:
            for ep in package.get("endpoints") or []:
                if isinstance(ep, dict) and ep.get("id"):
                    found.setdefault(ep["id"], ep)
    return list(found.values())


def endpoint_urls(light: dict, heavy: dict | None) -> list[EndpointURL]:
    """Every (endpoint, verb) URL on every service URL. An endpoint type we know no verb of gets one
    entry with an empty verb and the endpoint's base URL."""
    urls: list[EndpointURL] = []
    endpoints = deployed_endpoints(light, heavy)
    for base in service_urls(light, heavy):
        for ep in endpoints:
            ep_id, ep_type = str(ep["id"]), str(ep.get("type") or "")
            verbs = ENDPOINT_VERBS.get(ep_type) or ("",)
            for verb in verbs:
                url = f"{base}/{ep_id}/{verb}" if verb else f"{base}/{ep_id}"
                urls.append(EndpointURL(ep_id, ep_type, verb, url))
    return urls


def curl_command(url: str, body: Any, api_key: str | None, *, show_key: bool = False) -> str:
    """A copy-pasteable curl for a query; the key is masked unless `show_key`."""
    parts = ["curl", "-X", "POST", shlex.quote(url), "-H", shlex.quote("Content-Type: application/json")]
    if api_key:
        parts += ["-u", shlex.quote(f"{api_key if show_key else MASKED_KEY}:")]
    parts += ["--data-binary", shlex.quote(json.dumps(body, separators=(",", ":")))]
    return " ".join(parts)


# ---- what a deployer reports, and what it does not ------------------------------------------------------


def never_deployed(light: dict) -> bool | None:
    """Whether the deployment was never deployed, from the light status' `neverEverDeployed` (what DSS
    documents); None when the deployer does not say."""
    value = light.get("neverEverDeployed") if isinstance(light, dict) else None
    return value if isinstance(value, bool) else None


NO_NODE_STATE = "this deployer does not report per-node state"


def nodes_reported(heavy: dict | None) -> bool:
    """Whether a heavy status says anything per API node beyond its URL (DSS documents only `url`): when not,
    the screen shows one line (NO_NODE_STATE) in place of per-node columns."""
    nodes = heavy.get("apiNodes") if isinstance(heavy, dict) else None
    return isinstance(nodes, list) and any(isinstance(n, dict) and set(n) - {"url"} for n in nodes)


def node_health(heavy: dict | None, url: str) -> str | None:
    """The health a heavy status gives one API node, or None when it gives none (not UNKNOWN: not said)."""
    nodes = heavy.get("apiNodes") if isinstance(heavy, dict) else None
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, dict) and str(node.get("url") or "").rstrip("/") == url.rstrip("/"):
            health = node.get("health")
            return str(health) if health else None
    return None


# ---- which API key a copied query needs ---------------------------------------------------------------


def version_access(config: dict | None) -> tuple[bool, list[str]]:
    """(public, query keys) a version's `config.json` gives its queries (docs/protocol.md: `publicAccess`,
    `authRealm.queryKeys[{key}]`). A public version accepts a query whatever key it carries."""
    if not isinstance(config, dict):
        return False, []
    realm = config.get("authRealm")
    entries = realm.get("queryKeys") if isinstance(realm, dict) else None
    keys = [str(e["key"]) for e in entries or [] if isinstance(e, dict) and e.get("key")]
    return bool(config.get("publicAccess")), keys


def deployment_auth_mode(settings: dict | None) -> str:
    """The `authMode` of a deployment's settings; INHERIT_DEV (the versions decide) when it has none."""
    auth = settings.get("auth") if isinstance(settings, dict) else None
    mode = auth.get("authMode") if isinstance(auth, dict) else None
    return str(mode) if mode else "INHERIT_DEV"


@dataclass(frozen=True)
class QueryKeyChoice:
    """Which key a query of a deployment needs. `key`: one every version of the mapping accepts (None when
    no key is needed, or when none is common). `needed`: some version (or the deployment's auth) asks for a
    key. `per_version`: when none is common, a key each keyed version accepts. `origin`: where `key` comes
    from, in words. `unknown`: versions whose keys could not be read."""

    key: str | None
    needed: bool
    origin: str = ""
    per_version: dict[str, str] = field(default_factory=dict)
    unknown: tuple[str, ...] = ()


def query_key_choice(settings: dict | None, versions: dict[str, tuple[bool, list[str]] | None]) -> QueryKeyChoice:
    """The key for a query of a deployment: its own `auth` when it overrides (API_KEYS, PUBLIC), else the
    query keys of the versions its mapping serves (`versions`: version id -> `version_access`, None when
    unread). For a split, a key accepted by every mapped version: public ones accept any key."""
    mode = deployment_auth_mode(settings)
    if mode == "API_KEYS":
        auth = settings.get("auth") if isinstance(settings, dict) else {}
        keys = [str(e["key"]) for e in (auth or {}).get("apiKeys") or [] if isinstance(e, dict) and e.get("key")]
        return QueryKeyChoice(keys[0] if keys else None, True, "the deployment's auth (API_KEYS)")
    if mode == "PUBLIC":
        return QueryKeyChoice(None, False, "the deployment's auth (PUBLIC)")
    unknown = tuple(sorted(v for v, access in versions.items() if access is None))
    keyed = {v: access[1] for v, access in sorted(versions.items()) if access is not None and not access[0]}
    if not keyed:
        return QueryKeyChoice(None, False, unknown=unknown)
    first = next(iter(keyed.values()))
    common = [k for k in first if all(k in keys for keys in keyed.values())]
    names = ", ".join(keyed)
    if common:
        return QueryKeyChoice(common[0], True, f"the query keys of {names} (config.json)", unknown=unknown)
    return QueryKeyChoice(None, True, "", {v: keys[0] for v, keys in keyed.items() if keys}, unknown)
