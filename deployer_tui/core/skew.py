"""Node by node: which versions each API node serves for each deployment, and version skew. Pure functions.

The heavy status of a deployment may list, per API node, whether it serves the service (`enabled`) and its
`activeMapping` (the local deployer does; DSS documents only each node's `url`, readers.nodes_reported).
A skew is nodes of one deployment serving different versions, or a node missing the service the others
serve. A node whose state is unknown (it could not be reached) is neither: it is shown as unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deployer_tui.core.readers import nodes_reported

NO_NODE_DATA = "this deployer does not report per-node data"
MISSING = "—"  # the node does not serve the deployment's service
UNKNOWN = "?"  # the node's state is not known (unreachable, or not said)


def mapping_versions(mapping: Any) -> tuple[str, ...]:
    """The versions a generations mapping (a deployment's, or a node's activeMapping) sends queries to, sorted."""
    if not isinstance(mapping, dict):
        return ()
    entries = mapping.get("entries")
    found = {str(e["generation"]) for e in entries if isinstance(e, dict) and e.get("generation")} \
        if isinstance(entries, list) else set()
    if not found and mapping.get("generation"):
        found = {str(mapping["generation"])}
    return tuple(sorted(found))


@dataclass(frozen=True)
class NodeServing:
    """What one node serves for one deployment: `versions` (empty when it does not serve the service),
    or `known=False` with the node's `error` when it could not say."""

    url: str
    versions: tuple[str, ...] = ()
    known: bool = True
    error: str | None = None

    @property
    def serves(self) -> bool:
        return self.known and bool(self.versions)

    @property
    def cell(self) -> str:
        if not self.known:
            return UNKNOWN
        return ", ".join(self.versions) if self.versions else MISSING


def node_versions(heavy: Any) -> dict[str, NodeServing] | None:
    """Per node URL, what it serves for the deployment of this heavy status; None when the deployer does
    not report per-node data (then say NO_NODE_DATA)."""
    if not isinstance(heavy, dict) or not nodes_reported(heavy):
        return None
    out: dict[str, NodeServing] = {}
    for node in heavy.get("apiNodes") or []:
        if not isinstance(node, dict) or not node.get("url"):
            continue
        url = str(node["url"]).rstrip("/")
        if "enabled" not in node and "activeMapping" not in node:
            out[url] = NodeServing(url, known=False, error=str(node.get("error") or "") or None)
        elif not node.get("enabled"):
            out[url] = NodeServing(url)
        else:
            out[url] = NodeServing(url, mapping_versions(node.get("activeMapping")))
    return out


def skew_of(nodes: Mapping[str, NodeServing]) -> str | None:
    """A sentence naming the nodes when they disagree, else None."""
    known = [n for n in nodes.values() if n.known]
    serving = [n for n in known if n.serves]
    if not serving:
        return None  # nobody serves it (disabled, never deployed): nothing to disagree on
    groups: dict[tuple[str, ...], list[str]] = {}
    for node in known:
        groups.setdefault(node.versions, []).append(node.url)
    if len(groups) < 2:
        return None
    parts = []
    for versions, urls in sorted(groups.items(), key=lambda kv: (not kv[0], -len(kv[1]), kv[0])):
        one = len(urls) == 1
        if versions:
            what = f"{'serves' if one else 'serve'} {', '.join(versions)}"
        else:
            what = f"{'does' if one else 'do'} not serve the service"
        parts.append(f"{', '.join(sorted(urls))} {what}")
    return "version skew: " + "; ".join(parts)


def skew(heavy: Any) -> str | None:
    """The skew a deployment's heavy status shows, as a sentence naming the nodes, or None (no skew, or no
    per-node data to tell: see node_versions)."""
    nodes = node_versions(heavy)
    return None if nodes is None else skew_of(nodes)


@dataclass
class MatrixRow:
    deployment_id: str
    cells: dict[str, NodeServing] = field(default_factory=dict)
    skew: str | None = None


@dataclass
class Matrix:
    """Deployments × nodes. `reported` False: the deployer reports no per-node data (show `note`, no grid)."""

    nodes: list[str]
    rows: list[MatrixRow]
    reported: bool = True

    @property
    def note(self) -> str:
        return "" if self.reported else NO_NODE_DATA

    @property
    def skewed(self) -> list[MatrixRow]:
        return [r for r in self.rows if r.skew]


def matrix(heavies: Iterable[tuple[str, Any]], node_urls: Iterable[str] = ()) -> Matrix:
    """The matrix of (deployment id, heavy status) pairs; `node_urls`: the infra's nodes, in its order
    (nodes only the statuses name are added after them). A status that failed (not a dict) is a row of
    unknowns."""
    order = [u.rstrip("/") for u in node_urls]
    seen = set(order)
    rows: list[MatrixRow] = []
    reported = False
    pending: list[tuple[str, Any]] = []
    for dep_id, heavy in heavies:
        nodes = node_versions(heavy)
        if nodes is None:
            pending.append((dep_id, heavy))
            continue
        reported = True
        for url in nodes:
            if url not in seen:
                seen.add(url)
                order.append(url)
        rows.append(MatrixRow(dep_id, nodes, skew_of(nodes)))
    if not reported:
        return Matrix(order, [MatrixRow(d) for d, _ in pending], reported=False)
    rows.extend(MatrixRow(d) for d, _ in pending)
    for row in rows:
        for url in order:
            row.cells.setdefault(url, NodeServing(url, known=False))
    return Matrix(order, rows)
