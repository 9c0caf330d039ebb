"""Deployment detail: light + heavy status — health, messages by severity, per-node state, service
URLs, the current mapping, the versions available to it."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Sparkline, Static

from deployer_tui.core import readers
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.readers import basic
from deployer_tui.core.skew import skew
from deployer_tui.ui.actions import mutating
from deployer_tui.ui.screens.detail_base import DetailScreen, light_and, section
from deployer_tui.ui.state.latency_trends import LatencyTrends, Trend
from deployer_tui.ui.view.formatting import HEALTH_STYLES, SEVERITY_STYLES, health_text, yes_no
from deployer_tui.ui.view.rows import kv


class DeploymentScreen(DetailScreen):
    kind = "deployment"
    DEFAULT_CSS = """
    DeploymentScreen #latency-spark { height: 2; max-width: 100; }
    """
    BINDINGS = [
        Binding("t", "toggle_enabled", "Enable/disable", id="deployment.toggle_enabled",
                tooltip="Flip `enabled` in this deployment's settings (asks first)"),
        Binding("R", "rollback", "Roll back", id="deployment.rollback",
                tooltip="Back to the last mapping that deployed successfully: preview, confirm, follow, test"),
        Binding("C", "canary", "Canary", id="deployment.canary",
                tooltip="Roll a new version out in steps, with guards and an automatic revert"),
    ]

    def compose_extra(self) -> ComposeResult:
        # Recent latencies of the console's own test queries and canary probes (ui/state/latency_trends.py).
        yield Static("", id="latency-head")
        yield Sparkline([], summary_function=max, id="latency-spark")
        yield Static("", id="latency-versions")

    async def fetch(self) -> tuple[dict, dict | DeployerError]:
        # A failed heavy status shows as LOADING_FAILED, like the DSS UI does.
        client = self.shell.client
        data = await light_and(client.get_deployment(self.resource_id),
                               client.get_deployment_status(self.resource_id))
        trends = LatencyTrends.of(client)
        try:
            self.trend = await trends.trend_async(self.resource_id) if trends is not None else None
        except OSError:
            self.trend = None
        return data

    def focused_object(self) -> tuple[str, str] | None:
        return "deployment", self.resource_id

    @mutating("Roll back")
    def action_rollback(self) -> None:
        from deployer_tui.ui.screens.rollback import open_rollback  # on first use

        open_rollback(self, self.resource_id)

    @mutating("Canary")
    def action_canary(self) -> None:
        from deployer_tui.ui.screens.canary import open_canary  # on first use

        open_canary(self, self.resource_id)

    trend: Trend | None = None

    def render_body(self, data: tuple[dict, dict | DeployerError]) -> None:
        light, heavy = data
        self.query_one("#summary", Static).update(Group(*deployment_sections(light, heavy, self.shell.presentation,
                                                                             trend=self.trend)))
        head, versions = latency_parts(self.trend)
        self.query_one("#latency-head", Static).update(head)
        self.query_one("#latency-versions", Static).update(versions)
        spark = self.query_one("#latency-spark", Sparkline)
        latencies = self.trend.latencies if self.trend is not None else []
        spark.display = bool(latencies)
        if list(spark.data or []) != latencies:
            # One column per answer while they fit (a few answers stretched over the width read as steps).
            spark.styles.width = min(max(len(latencies), 8), 100)
            spark.data = latencies


def latency_parts(trend: Trend | None) -> tuple[Group, Any]:
    """The latency section's title and sentence, and its per-version table (under the sparkline)."""
    if trend is None or not trend.latencies:
        return Group(section("Latency"), Text("No test query or canary probe recorded yet for this deployment "
                                              "(T runs the stored test queries).", style="dim")), ""
    low, high = min(trend.latencies), max(trend.latencies)
    head = Group(section("Latency"), Text(f"the last {len(trend.latencies)} answers (test queries and canary "
                                          f"probes), oldest left: {low:.1f} – {high:.1f} ms", style="dim"))
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    for column in ("version", "answers", "errors", "error rate", "p50", "p95", ""):
        table.add_column(column, justify="left" if column in ("version", "") else "right")
    for version, summary in sorted(trend.versions.items()):
        worse = version == trend.worse
        rate = summary.error_rate
        table.add_row(Text(version, style="bold dark_orange" if worse else ""), str(summary.count),
                      str(summary.errors), f"{rate * 100:.1f} %" if rate is not None else "-",
                      f"{summary.p50:.1f} ms" if summary.p50 is not None else "-",
                      f"{summary.p95:.1f} ms" if summary.p95 is not None else "-",
                      Text(f"▲ {trend.worse_how}: {trend.why}", style="dark_orange") if worse else "")
    return head, table


def deployment_sections(light: dict, heavy: dict | DeployerError, present: Any, *,
                        trend: Trend | None = None) -> list[Any]:
    info = basic(light, "deploymentBasicInfo")
    infra = basic(light, "infraBasicInfo")
    mapping = info.get("generationsMapping")
    health = readers.display_health(light, heavy)
    parts: list[Any] = [
        kv("deployment", readers.deployment_id(light), "bold"),
        kv("service", info.get("publishedServiceId") or "-"),
        kv("infra", f"{info.get('infraId') or '-'} ({infra.get('stage') or '-'}, {infra.get('type') or '-'})"),
        kv("enabled", yes_no(info.get("enabled"))),
        kv("health", health_text(health)),
        kv("mapping", readers.mapping_summary(mapping) or "-"),
        kv("last modified", present.timestamp(basic(info, "versionTag").get("lastModifiedOn"))),
    ]
    if info.get("deployedServiceId"):
        parts.append(kv("deployed as", info["deployedServiceId"]))

    parts.append(section("Health messages"))
    if isinstance(heavy, DeployerError):
        parts.append(Text(f"ERROR  Failed loading the deployment status: {heavy}", style="red"))
    else:
        messages = readers.health_messages(heavy)
        found = skew(heavy)
        if found:
            # The console's own finding (core/skew.py), named with the nodes concerned, before the deployer's.
            parts.append(Text("SKEW", style=HEALTH_STYLES["SKEW"]))
            for node in heavy.get("apiNodes") or []:
                if isinstance(node, dict) and node.get("url"):
                    found = found.replace(str(node["url"]).rstrip("/"), present.url(str(node["url"]).rstrip("/")))
            parts.append(Text.assemble("  ", ("Version skew", "bold"), f" — {found.removeprefix('version skew: ')}"))
        if not messages and not found:
            parts.append(Text("none", style="dim"))
        current = None
        for message in messages:
            severity = str(message.get("severity", ""))
            if severity != current:
                parts.append(Text(severity, style=SEVERITY_STYLES.get(severity, "bold")))
                current = severity
            line = Text("  ")
            line.append(str(message.get("title") or ""), style="bold")
            if message.get("message"):
                line.append(f" — {message['message']}")
            if message.get("details"):
                line.append(f" ({message['details']})", style="dim")
            parts.append(line)

    if isinstance(heavy, dict):
        nodes = heavy.get("apiNodes") or []
        parts.append(section(f"API nodes ({len(nodes)})"))
        if nodes and readers.nodes_reported(heavy):
            table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
            for column in ("url", "health", "serving", "error"):
                table.add_column(column)
            for node in nodes:
                active = node.get("mapping") or node.get("generationsMapping") or node.get("activeMapping")
                said = readers.node_health(heavy, str(node.get("url") or ""))
                table.add_row(present.url(str(node.get("url", "-"))),
                              health_text(said) if said else Text("-", style="dim"),
                              readers.mapping_summary(active) if isinstance(active, dict) else "-",
                              Text(str(node.get("error") or ""), style="red"))
            parts.append(table)
        elif nodes:
            # Only URLs (what DSS documents per node): no column of UNKNOWN that would look like a fault.
            parts.append(Text(", ".join(present.url(str(n.get("url") or "?")) for n in nodes if isinstance(n, dict))))
            parts.append(Text(readers.NO_NODE_STATE, style="dim"))
        elif heavy.get("publicURL"):
            parts.append(kv("public URL", present.url(str(heavy["publicURL"]))))
        else:
            parts.append(Text("none", style="dim"))

        parts.append(section("Service URLs"))
        try:
            urls = readers.service_urls(light, heavy)
        except (ValueError, KeyError):
            urls = []
        parts.extend(Text(present.url(u)) for u in urls) if urls else parts.append(Text("none", style="dim"))
        try:
            endpoint_urls = readers.endpoint_urls(light, heavy)
        except (ValueError, KeyError):
            endpoint_urls = []
        if endpoint_urls:
            parts.append(section("Endpoints"))
            table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
            for column in ("endpoint", "type", "verb", "url"):
                table.add_column(column)
            for ep in endpoint_urls:
                table.add_row(ep.endpoint_id, ep.type, ep.verb, present.url(ep.url))
            parts.append(table)

    packages = light.get("packages") or []
    parts.append(section(f"Available versions ({len(packages)})"))
    if packages:
        parts.append(versions_table(packages, present, mapping if isinstance(mapping, dict) else None,
                                    worse=(trend.worse, trend.worse_how) if trend is not None and trend.worse
                                    else None))
    else:
        parts.append(Text("none", style="dim"))
    return parts


def versions_table(packages: list[dict], present: Any, mapping: dict | None = None, *,
                   worse: tuple[str, str] | None = None) -> Table:
    """`worse`: (version, how) of the version that answered slower or with more errors (the latency log)."""
    serving = _mapped_versions(mapping) if mapping else set()
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("version")
    table.add_column("published")
    table.add_column("endpoints")
    ordered = sorted(packages, key=lambda p: p.get("publishedOn") or 0, reverse=True)
    for package in ordered:
        version = str(package.get("id", "-"))
        endpoints = ", ".join(f"{e.get('id')} ({e.get('type')})" for e in package.get("endpoints") or [])
        label = Text(version, style="bold green" if version in serving else "")
        if version in serving:
            label.append(" ●", style="green")
        if worse is not None and version == worse[0]:
            label.append(f" ▲ answered {worse[1]}", style="bold dark_orange")
        table.add_row(label, present.timestamp(package.get("publishedOn")), endpoints or "-")
    return table


def _mapped_versions(mapping: dict) -> set[str]:
    if mapping.get("generation"):
        return {str(mapping["generation"])}
    return {str(e.get("generation")) for e in mapping.get("entries") or []}
