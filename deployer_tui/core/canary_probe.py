"""Probing the versions of a deployment during a canary's soak: the stored test queries, sent to each version.

Two ways to reach a version, the first that works (docs/canary.md, "Probing"):

* **Forced generation on the API nodes** (`DirectProber`): the query goes straight to a node's user API,
  `<node>/public/api/v1/<service on nodes>/<endpoint>/<verb>`, naming the version: `dispatch.forcedGeneration`
  in prediction and lookup bodies (as DSS clients send it), the header `X-DKU-Forced-Generation` for function
  and SQL endpoints (ours: server/apinode/user.py; a node that ignores it answers with whatever its split
  picks, which the answer's `apiContext.serviceGeneration` then shows).
* **The deployer's run-test-queries** (`DeployerProber`): when no node URL is known or reachable, or a node
  refuses. The deployer cannot pick a version, so the split does: each answer is attributed to the version
  it names, else to no version ("not reported").

A probe's latency is the round trip seen from the console. Answers are compared (match_answers) after
`normalise_answer` drops what differs on every call (`timing`, `apiContext`).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import socket
import ssl
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from deployer_tui.core import http1, readers
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.package import ENDPOINT_VERBS, PackageError, read_package
from deployer_tui.core.readers import deployment_basic

VIA_NODES = "forced generation on the API nodes"
VIA_DEPLOYER = "deployer test queries (the split picks the version)"
VOLATILE_KEYS = frozenset({"timing", "apiContext"})
BODY_DISPATCH_VERBS = ("predict", "predict-multi", "lookup", "lookup-multi", "predict-effect",
                       "predict-effect-multi", "forecast")
PROBE_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0
PROBE_TIMEOUT = httpx.Timeout(PROBE_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)


def normalise_answer(doc: Any) -> str:
    """A successful answer as canonical JSON text, without the keys that change on every call."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in VOLATILE_KEYS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return json.dumps(strip(doc), sort_keys=True, separators=(",", ":"), default=str)


def answering_version(doc: Any) -> str | None:
    """The version a node answer names (`apiContext.serviceGeneration`), None when it names none."""
    context = doc.get("apiContext") if isinstance(doc, dict) else None
    generation = context.get("serviceGeneration") if isinstance(context, dict) else None
    return str(generation) if generation else None


@dataclass(frozen=True)
class ProbeQuery:
    """One stored test query of one endpoint. `key` names it across versions (for comparing answers)."""

    endpoint_id: str
    endpoint_type: str
    index: int
    body: Any
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.endpoint_id}#{self.index}"

    @property
    def verb(self) -> str:
        verbs = ENDPOINT_VERBS.get(self.endpoint_type) or ("predict", "predict-multi")
        if len(verbs) > 1 and isinstance(self.body, dict) and "items" in self.body:
            return verbs[1]
        return verbs[0]

    @property
    def body_dispatch(self) -> bool:
        """Whether the version is named in the body (`dispatch`), as DSS documents, rather than by our header."""
        return self.verb in BODY_DISPATCH_VERBS


@dataclass
class ProbeAnswer:
    """One probe. `asked`: the version it was sent to (None through the deployer); `version`: the one it is
    attributed to, None when not reported; `answer`: the normalised answer when ok."""

    asked: str | None
    version: str | None
    ok: bool
    latency_ms: float
    query: ProbeQuery
    answer: str | None = None
    error: str | None = None
    refused: bool = False  # the node refused the deployer's key for it: no answer of the version at all


KeySource = Callable[[str], Awaitable["str | None"]]  # version -> a query key it accepts, None when none


class ProbeRefused(Exception):
    """This way of probing does not work here (node unreachable, refused, forcing not accepted): use another."""


@dataclass
class ProbeTarget:
    """What probes need, read from the deployer: the node URLs, the service id on the nodes, the stored
    test queries, the query key when the versions are not public, where each came from."""

    deployment_id: str
    service_on_nodes: str
    node_urls: list[str]
    queries: list[ProbeQuery]
    key: str | None = None  # what the light status gives: the deployment's override, else the served version's
    notes: list[str] = field(default_factory=list)
    admin_keys: dict[str, str] = field(default_factory=dict)  # node URL -> admin key, when the infra says
    endpoints: list[str] = field(default_factory=list)  # the deployed endpoints' ids
    service_id: str = ""  # the published service (where its versions' packages are)
    auth_override: bool = False  # the deployment's own auth decides for every version (settings `auth`)


def _queries_of(endpoints: list[dict], stored: dict[str, list] | None = None) -> list[ProbeQuery]:
    out = []
    for ep in endpoints:
        if not isinstance(ep, dict) or not ep.get("id"):
            continue
        ep_id = str(ep["id"])
        raw = (stored or {}).get(ep_id) if stored is not None else ep.get("testQueries")
        for i, item in enumerate(raw if isinstance(raw, list) else []):
            if not isinstance(item, dict) or "q" not in item:
                continue
            headers = tuple((str(h["key"]), str(h.get("value", ""))) for h in item.get("headers") or []
                            if isinstance(h, dict) and h.get("key"))
            out.append(ProbeQuery(ep_id, str(ep.get("type") or ""), i, item["q"], headers))
    return out


async def _package_queries(client: Any, service_id: str, version: str) -> list[ProbeQuery]:
    """The stored test queries of a version, from its package (a deployer whose statuses carry none)."""
    with tempfile.TemporaryDirectory(prefix="deployer-tui-canary-") as tmp:
        path = Path(tmp) / "version.zip"
        await client.download_version(service_id, version, path)
        try:
            info = read_package(path)
        except PackageError:
            return []
    return _queries_of(info.endpoints, info.test_queries)


async def discover(client: Any, deployment_id: str, versions: tuple[str, ...]) -> ProbeTarget:
    """Read where and what to probe. Raises DeployerError when the deployment cannot be read; a target
    without node URLs or queries is returned as is (the caller falls back, or says there is nothing)."""
    light = await client.get_deployment(deployment_id)
    basic = deployment_basic(light)
    service = str(basic.get("publishedServiceId") or "")
    on_nodes = str(basic.get("deployedServiceId") or service)
    notes: list[str] = []
    try:
        heavy = await client.get_deployment_status(deployment_id)
    except DeployerError as err:
        heavy = None
        notes.append(f"the heavy status could not be read ({err})")
    nodes = [str(n["url"]).rstrip("/") for n in (heavy or {}).get("apiNodes") or []
             if isinstance(n, dict) and n.get("url")]
    admin_keys: dict[str, str] = {}
    infra = light.get("infraBasicInfo") if isinstance(light, dict) else None
    infra_id = infra.get("id") if isinstance(infra, dict) else basic.get("infraId")
    if infra_id:
        try:
            infra_settings = await client.get_infra_settings(str(infra_id))
        except DeployerError:
            infra_settings = None  # a key that may not read infra settings: the heavy status is enough
        for entry in (infra_settings or {}).get("apiNodes") or []:
            if isinstance(entry, dict) and entry.get("url"):
                url = str(entry["url"]).rstrip("/")
                if url not in nodes:
                    nodes.append(url)
                if entry.get("adminAPIKey"):
                    admin_keys[url] = str(entry["adminAPIKey"])
    heavy_endpoints = (heavy or {}).get("endpoints") if isinstance(heavy, dict) else None
    queries = _queries_of(heavy_endpoints or [])
    endpoint_ids = [str(e["id"]) for e in heavy_endpoints or [] if isinstance(e, dict) and e.get("id")]
    if not queries and service:
        for version in versions:
            try:
                queries = await _package_queries(client, service, version)
            except DeployerError as err:
                notes.append(f"the test queries of {version} could not be read ({err})")
                continue
            if queries:
                notes.append(f"test queries read from the package of {version}")
                break
    key = None
    if isinstance(light, dict) and light.get("publicAccess") is not True:
        keys = [str(k.get("key")) for k in light.get("apiKeys") or [] if isinstance(k, dict) and k.get("key")]
        key = keys[0] if keys else None
    for query in queries:
        if query.endpoint_id not in endpoint_ids:
            endpoint_ids.append(query.endpoint_id)
    override = False
    try:
        settings = await client.get_deployment_settings(deployment_id)
        override = readers.deployment_auth_mode(settings) in ("API_KEYS", "PUBLIC")
    except DeployerError:
        pass
    return ProbeTarget(deployment_id, on_nodes, nodes, queries, key, notes, admin_keys, endpoint_ids, service,
                       override)


async def version_key(client: Any, service_id: str, version: str) -> str | None:
    """A query key the version's own `config.json` accepts, read from its package (the only place the public
    API gives it; the package goes to a private temporary folder removed at once). None when the version is
    public, has no key, or cannot be read."""
    with tempfile.TemporaryDirectory(prefix="deployer-tui-canary-") as tmp:  # 0700: the package holds keys
        path = Path(tmp) / "version.zip"
        try:
            await client.download_version(service_id, version, path)
            info = read_package(path)
        except (DeployerError, PackageError, OSError):
            return None
    public, keys = readers.version_access(info.config)
    return None if public or not keys else keys[0]


def _error_text(status: int, body: Any, text: str) -> str:
    if isinstance(body, dict) and (body.get("message") or body.get("detailedMessage")):
        kind = str(body.get("errorType") or f"HTTP {status}").rsplit(".", 1)[-1]
        return f"{status} {kind}: {body.get('message') or body.get('detailedMessage')}"
    return f"HTTP {status}: {text[:200]}"


class _Unreachable(Exception):
    """The node could not be connected to."""


class _Node:
    """Lean keep-alive connections to one node (core/http1.py: a fraction of httpx's CPU per request, which
    matters at 50 probes a second), one per probe in flight, reused."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        https = parts.scheme == "https"
        self.url = url
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if https else 80)
        self.path = quote(parts.path.rstrip("/"), safe="/%!$&'()*+,;=:@~")
        self.ssl = ssl.create_default_context() if https else None
        fields = {"Host": parts.netloc.rsplit("@", 1)[-1], "Accept": "*/*", "Accept-Encoding": "gzip, deflate",
                  "Connection": "keep-alive", "User-Agent": "deployer-tui canary"}
        self.head = "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode("latin-1")
        self.free: list[http1.Connection] = []
        self.all: list[http1.Connection] = []

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> http1.Reply:
        conn = self.free.pop() if self.free else None
        if conn is None:
            conn = http1.Connection(self.host, self.port, self.head, ssl_context=self.ssl,
                                    server_hostname=self.host, timeout=PROBE_TIMEOUT_S,
                                    connect_timeout=CONNECT_TIMEOUT_S)
            self.all.append(conn)
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode("latin-1")
        try:
            reply = await conn.post(self.path + path, body, extra, resend=True)
        except http1.Failure as exc:
            cause = exc.__cause__
            if isinstance(cause, (ConnectionRefusedError, socket.gaierror)) or str(exc).startswith("connect "):
                raise _Unreachable(str(exc) or type(cause).__name__) from None
            self.free.append(conn)
            raise
        except BaseException:
            self.free.append(conn)  # cancelled: the connection dropped itself, it reconnects on next use
            raise
        self.free.append(conn)
        return reply

    async def aclose(self) -> None:
        for conn in self.all:
            await conn.aclose()
        self.all, self.free = [], []


class DirectProber:
    """Probes sent to the API nodes themselves, naming the version. `confirmed` once an answer named the
    version it was forced to: from then on, an error of a forced probe is that version's."""

    via = VIA_NODES

    def __init__(self, target: ProbeTarget, key_of: KeySource | None = None) -> None:
        self.target = target
        self.nodes = [_Node(url) for url in target.node_urls]
        self.key_of = key_of
        self.keys: dict[str, str | None] = {}  # version -> the key its probes carry (when not target.key)
        self._looked_up: dict[str, asyncio.Task] = {}
        self.http: httpx.AsyncClient | None = None  # for an answer the lean connection does not speak
        self.confirmed = False
        self.ignored = False  # a node answered with another version than the one forced
        self._turn = 0

    async def aclose(self) -> None:
        for node in self.nodes:
            await node.aclose()
        if self.http is not None:
            await self.http.aclose()

    def trusted(self, query: ProbeQuery) -> bool:
        """Whether an answer that names no version is the forced one's: always for a body's `dispatch`
        (what DSS documents), for our header once a node showed it honours it."""
        return query.body_dispatch or (self.confirmed and not self.ignored)

    async def _send(self, node: _Node, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        try:
            reply = await node.post(path, body, headers)
            return reply.status_code, reply.content
        except http1.Unsupported:
            if self.http is None:
                self.http = httpx.AsyncClient(timeout=PROBE_TIMEOUT, trust_env=False, follow_redirects=False)
            try:
                response = await self.http.post(node.url + path, content=body, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise _Unreachable(type(exc).__name__) from None
            except httpx.HTTPError as exc:
                raise http1.Failure(f"{type(exc).__name__}: {exc}") from None
            return response.status_code, response.content

    def _key(self, version: str) -> str | None:
        return self.keys.get(version, self.target.key)

    async def _other_key(self, version: str) -> bool:
        """After a refusal for the key: look up the version's own key (once per version, shared by the
        probes in flight); True when there is a new one to try."""
        if self.key_of is None or self.target.auth_override:
            return False  # the deployment's auth applies to every version: its key was the right one
        task = self._looked_up.get(version)
        if task is None:
            task = self._looked_up[version] = asyncio.ensure_future(self.key_of(version))
        key = await asyncio.shield(task)
        if key is None or key == self._key(version):
            return False
        self.keys[version] = key
        return True

    async def probe(self, version: str, query: ProbeQuery, *, retried: bool = False) -> ProbeAnswer:
        if not self.nodes:
            raise ProbeRefused("no API node URL is known")
        node = self.nodes[self._turn % len(self.nodes)]
        self._turn += 1
        headers = {"Content-Type": "application/json", **dict(query.headers)}
        key = self._key(version)
        if key:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode("ascii")
        body = copy.deepcopy(query.body) if query.body is not None else {}
        if query.body_dispatch and isinstance(body, dict):
            dispatch = body.get("dispatch") if isinstance(body.get("dispatch"), dict) else {}
            body["dispatch"] = {**dispatch, "forcedGeneration": version}
        else:
            headers["X-DKU-Forced-Generation"] = version
        path = f"/public/api/v1/{quote(self.target.service_on_nodes, safe='')}/{quote(query.endpoint_id, safe='')}" \
               f"/{query.verb}"
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        began = time.perf_counter()
        try:
            status, content = await self._send(node, path, data, headers)
        except _Unreachable as exc:
            if node in self.nodes:
                self.nodes.remove(node)
                await node.aclose()
            if not self.nodes:
                raise ProbeRefused(f"{node.url} cannot be reached ({exc})") from None
            return await self.probe(version, query)
        except http1.Failure as exc:
            ms = (time.perf_counter() - began) * 1000
            who = version if self.trusted(query) else None
            return ProbeAnswer(version, who, False, ms, query, error=f"{type(exc).__name__}: {exc}")
        ms = (time.perf_counter() - began) * 1000
        try:
            doc = json.loads(content)
        except ValueError:
            doc = None
        message = str(doc.get("message") or "") if isinstance(doc, dict) else ""
        if status in (401, 403) and not retried and await self._other_key(version):
            return await self.probe(version, query, retried=True)  # with the version's own key
        if status in (401, 403) or (status == 400 and "generation" in message.lower()):
            # Not the version's fault: this node will not take our probes (key, or forcing refused).
            text = content.decode("utf-8", errors="replace")
            raise ProbeRefused(f"{node.url} refused the probe: {_error_text(status, doc, text)}")
        if status >= 400 or not isinstance(doc, dict):
            who = version if self.trusted(query) else None
            text = content.decode("utf-8", errors="replace")
            return ProbeAnswer(version, who, False, ms, query,
                               error=_error_text(status, doc, text) if status >= 400 else "not JSON")
        named = answering_version(doc)
        if named == version:
            self.confirmed = True
        elif named is not None:
            self.ignored = True
        who = named if named is not None else (version if self.trusted(query) else None)
        return ProbeAnswer(version, who, True, ms, query, normalise_answer(doc))


class DeployerProber:
    """Probes through the deployer's run-test-queries: the split picks the version, the answer names it
    (or not). A HASH_BASED split needs a dispatch key: each probe sends a new one, so that probes spread
    over the versions as users' queries would."""

    via = VIA_DEPLOYER

    def __init__(self, client: Any, deployment_id: str) -> None:
        self.client = client
        self.deployment_id = deployment_id

    async def aclose(self) -> None:
        return None

    async def probe(self, version: str | None, query: ProbeQuery) -> ProbeAnswer:
        dispatch_key = uuid.uuid4().hex
        body = copy.deepcopy(query.body) if query.body is not None else {}
        headers = [{"key": k, "value": v} for k, v in query.headers]
        if query.body_dispatch and isinstance(body, dict):
            dispatch = body.get("dispatch") if isinstance(body.get("dispatch"), dict) else {}
            body["dispatch"] = {**dispatch, "dispatchKey": dispatch_key}
        else:
            headers.append({"key": "X-DKU-Dispatch-Key", "value": dispatch_key})
        item: dict[str, Any] = {"q": body}
        if headers:
            item["headers"] = headers
        began = time.perf_counter()
        try:
            answer = await self.client.run_test_queries(self.deployment_id, endpoint_id=query.endpoint_id,
                                                        test_queries=[item])
        except DeployerError as err:
            ms = (time.perf_counter() - began) * 1000
            if err.status in (None, 401, 403, 404, 405):
                raise ProbeRefused(f"the deployer's test queries cannot run: {err}") from None
            return ProbeAnswer(None, None, False, ms, query, error=str(err))
        ms = (time.perf_counter() - began) * 1000
        responses = answer.get("responses") if isinstance(answer, dict) else None
        entry = responses[0] if isinstance(responses, list) and responses else None
        if not isinstance(entry, dict) or "error" in entry or not isinstance(entry.get("response"), dict):
            err = entry.get("error") if isinstance(entry, dict) else None
            kind = str(err.get("errorType") or "error").rsplit(".", 1)[-1] if isinstance(err, dict) else ""
            text = f"{kind}: {err.get('message')}" if isinstance(err, dict) else "no answer"
            # The deployer sends the served version's key: a version with other keys refuses it (401),
            # which says nothing of how that version answers.
            refused = kind == "NotAuthenticatedException" or "api key" in text.lower() and "401" in text
            return ProbeAnswer(None, answering_version(err), False, ms, query, error=text, refused=refused)
        doc = entry["response"]
        return ProbeAnswer(None, answering_version(doc), True, ms, query, normalise_answer(doc))


class NodeMetrics:
    """Live traffic per version, from the nodes' own admin metrics (`GET <node>/admin/api/metrics`, read
    with the admin keys the infra's settings give): the meters `dku.lambda.service.<service>.<endpoint>.
    generation.<version>.requests` and `.errorRequests` (server/apinode/metrics.py), summed over the
    deployment's endpoints and the nodes. Counts only: the node counts our probes too, the caller takes
    them away. A node without that route, or a key it refuses, is left out."""

    def __init__(self, target: ProbeTarget, http: httpx.AsyncClient | None = None) -> None:
        self.target = target
        self.nodes = [u for u in target.node_urls if u in target.admin_keys]
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(5.0), trust_env=False, follow_redirects=False)

    @property
    def available(self) -> bool:
        return bool(self.nodes) and bool(self.target.endpoints)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def read(self) -> dict[str, tuple[int, int]] | None:
        """Per version (requests, errors) counted by the nodes since they started; None when no node told."""
        totals: dict[str, list[int]] = {}
        told = False
        for node in list(self.nodes):
            try:
                response = await self.http.get(f"{node}/admin/api/metrics",
                                               auth=httpx.BasicAuth(self.target.admin_keys[node], ""))
                doc = response.json() if response.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                doc = None
            meters = doc.get("meters") if isinstance(doc, dict) else None
            if not isinstance(meters, dict):
                self.nodes.remove(node)  # not readable: never asked again during this canary
                continue
            told = True
            for endpoint in self.target.endpoints:
                prefix = f"dku.lambda.service.{self.target.service_on_nodes}.{endpoint}.generation."
                for name, meter in meters.items():
                    if not name.startswith(prefix) or not isinstance(meter, dict):
                        continue
                    rest = name[len(prefix):]
                    for suffix, slot in ((".requests", 0), (".errorRequests", 1)):
                        count = meter.get("count")
                        if rest.endswith(suffix) and isinstance(count, int):
                            totals.setdefault(rest[: -len(suffix)], [0, 0])[slot] += count
        return {v: (c[0], c[1]) for v, c in totals.items()} if told else None
