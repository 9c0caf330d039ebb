"""Infra detail: a settings summary (API node URLs — never their admin keys), its deployments, and the
matrix of which version each API node serves for each deployment (core/skew.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import HorizontalScroll
from textual.widgets import Static

from deployer_tui.core import readers
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.readers import basic, node_health
from deployer_tui.core.skew import NO_NODE_DATA, Matrix, matrix
from deployer_tui.ui.screens.detail_base import DeploymentsDetailScreen, light_and, section
from deployer_tui.ui.state.data_store import heavy_summary
from deployer_tui.ui.view.formatting import HEALTH_STYLES
from deployer_tui.ui.view.rows import kv

MATRIX_TITLE = "Nodes × deployments"


class InfraScreen(DeploymentsDetailScreen):
    """The infra, its deployments and the node-by-node matrix: which version each API node serves for each
    deployment, read from the heavy statuses (fetched concurrently, as the store fetches them, and handed
    to the store so the other panes gain them too), a version skew highlighted."""

    kind = "infra"
    DEFAULT_CSS = """
    InfraScreen #matrix { height: auto; }
    InfraScreen #matrix-grid { width: auto; height: auto; }
    """

    def __init__(self, resource_id: str) -> None:
        super().__init__(resource_id)
        self.matrix: Matrix | None = None
        self.heavies: dict[str, dict | DeployerError] = {}

    def compose_extra(self) -> ComposeResult:
        yield from super().compose_extra()
        yield Static(section(MATRIX_TITLE), id="matrix-title")
        with HorizontalScroll(id="matrix"):
            yield Static(Text("reading the deployments' statuses…", style="dim"), id="matrix-grid")

    async def fetch(self) -> tuple[dict, dict | DeployerError]:
        # Settings need admin rights on a real DSS: the light status shows anyway.
        client = self.shell.client
        return await light_and(client.get_infra(self.resource_id), client.get_infra_settings(self.resource_id))

    def render_body(self, data: tuple[dict, dict | DeployerError]) -> None:
        light, settings = data
        self.query_one("#summary", Static).update(Group(*infra_sections(light, settings, self.shell.presentation)))
        self.fill_listed_deployments()
        self._load_matrix(light, settings)

    @work(group="infra-matrix", exclusive=True, exit_on_error=False)
    async def _load_matrix(self, light: dict, settings: dict | DeployerError) -> None:
        from deployer_tui.core.bulk import iter_heavy_statuses  # the HTTP stack, on first use

        store = self.shell.store
        listed = [str(d.get("id")) for d in light.get("deployments") or [] if isinstance(d, dict) and d.get("id")]
        ids = sorted(set(listed) | set(store.deployment_ids_of_infra(self.resource_id)))
        disabled = {d for d in ids if d in store.deployments and not readers.is_enabled(store.deployments[d])}
        heavies: dict[str, dict | DeployerError] = {}
        async for dep, result in iter_heavy_statuses(self.shell.client, [d for d in ids if d not in disabled],
                                                     concurrency=store.heavy_concurrency):
            heavies[dep] = result
            if dep in store.deployments:
                store.heavy[dep] = heavy_summary(result)
        store.rows_changed(set(heavies) & set(store.deployments))
        self.heavies = heavies
        self.matrix = matrix(((d, heavies.get(d)) for d in ids if d not in disabled), infra_node_urls(light, settings))
        self.query_one("#matrix-grid", Static).update(
            matrix_view(self.matrix, heavies, sorted(disabled), self.shell.presentation.url))

    def light_status(self) -> dict:
        return self.data[0]

    def store_deployment_ids(self) -> list[str]:
        return self.shell.store.deployment_ids_of_infra(self.resource_id)


def infra_sections(light: dict, settings: dict | DeployerError, present) -> list:
    info = basic(light, "infraBasicInfo")
    parts: list = [
        kv("infra", readers.infra_id(light), "bold"),
        kv("type", info.get("type") or "-"),
        kv("stage", info.get("stage") or "-"),
    ]
    if isinstance(settings, DeployerError):
        parts.append(Text(f"settings not readable: {settings}", style="dark_orange"))
        nodes = [{"url": u} for u in info.get("apiNodeUrls") or []]
    else:
        parts.append(kv("govern check policy", settings.get("governCheckPolicy") or "-"))
        logging = basic(basic(settings, "defaultApiNodeLogging"), "auditLog")
        if logging:
            flags = [name for name in ("logQueries", "logInputs", "logOutputs") if logging.get(name)]
            parts.append(kv("audit log", ", ".join(flags) or "off"))
        permissions = settings.get("permissions") or []
        if permissions:
            perms = []
            for perm in permissions:
                rights = [r for r in ("read", "deploy", "admin") if perm.get(r)]
                perms.append(f"{perm.get('group', '?')} ({'/'.join(rights) or 'none'})")
            parts.append(kv("permissions", ", ".join(perms)))
        nodes = settings.get("apiNodes") or []
    parts.append(section(f"API nodes ({len(nodes)})"))
    if nodes:
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        table.add_column("url")
        table.add_column("graphite prefix")
        table.add_column("admin key")
        for node in nodes:
            # Never show adminAPIKey values: only whether one is set.
            has_key = "set" if node.get("adminAPIKey") else ("-" if "adminAPIKey" not in node else "empty")
            table.add_row(present.url(str(node.get("url", "-"))), str(node.get("graphitePrefix") or "-"), has_key)
        parts.append(table)
    else:
        parts.append(Text("none", style="dim"))
    parts.append(section("Deployments"))
    return parts


def infra_node_urls(light: dict, settings: dict | DeployerError) -> list[str]:
    """The infra's API node URLs in its own order: the settings', else the light status's."""
    if isinstance(settings, dict) and isinstance(settings.get("apiNodes"), list):
        return [str(n["url"]) for n in settings["apiNodes"] if isinstance(n, dict) and n.get("url")]
    return [str(u) for u in basic(light, "infraBasicInfo").get("apiNodeUrls") or []]


def matrix_view(table: Matrix, heavies: dict[str, Any], disabled: list[str], url: Callable[[str], str]) -> Any:
    """API nodes as rows, deployments as columns, each cell the version(s) served coloured by the node's
    health; a skewed deployment's column in SKEW's colour with its sentence below. One line when the
    deployer reports no per-node data."""
    if not table.reported:
        return Text(NO_NODE_DATA + (f" ({len(table.rows)} deployments)" if table.rows else ""), style="dim")
    if not table.rows:
        return Text("no enabled deployment on this infra" if disabled else "no deployment on this infra",
                    style="dim")
    skew_style = HEALTH_STYLES["SKEW"]
    # Laid out by hand, not as a rich Table: measuring 200 columns × 4 rows took ~20 times the fetch's
    # own parsing (hundreds of ms), and the matrix must fill about as fast as the statuses arrive.
    columns: list[list[Text]] = [[Text("API node", style="bold"), *(Text(url(n)) for n in table.nodes)]]
    for row in table.rows:
        column = [Text(row.deployment_id + (" ⚠" if row.skew else ""), style=skew_style if row.skew else "bold")]
        for node_url in table.nodes:
            serving = row.cells.get(node_url)
            if serving is None:
                column.append(Text("?", style="yellow"))
                continue
            health = node_health(heavies.get(row.deployment_id), node_url) or ("UNKNOWN" if not serving.known else "")
            column.append(Text(serving.cell, style=skew_style if row.skew else HEALTH_STYLES.get(health, "")))
        columns.append(column)
    widths = [max(cell.cell_len for cell in column) for column in columns]
    grid = Text(no_wrap=True, overflow="crop")
    for line in range(len(table.nodes) + 1):
        if line:
            grid.append("\n")
        for column, width in zip(columns, widths, strict=True):
            grid.append_text(column[line])
            grid.append(" " * (width - column[line].cell_len + 2))
        grid.rstrip()
    parts: list[Any] = [grid]
    for row in table.skewed:
        sentence = str(row.skew)
        for node_url in table.nodes:
            sentence = sentence.replace(node_url, url(node_url))
        parts.append(Text.assemble(("SKEW ", skew_style), (row.deployment_id, "bold"), f": {sentence}"))
    if disabled:
        parts.append(Text(f"disabled (not asked): {', '.join(disabled)}", style="dim"))
    return Group(*parts)
