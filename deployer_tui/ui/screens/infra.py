"""Infra detail: a settings summary (API node URLs — never their admin keys), and its deployments."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from deployer_tui.core import readers
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.readers import basic
from deployer_tui.ui.screens.detail_base import DeploymentsDetailScreen, light_and, section
from deployer_tui.ui.view.rows import kv


class InfraScreen(DeploymentsDetailScreen):
    kind = "infra"

    async def fetch(self) -> tuple[dict, dict | DeployerError]:
        # Settings need admin rights on a real DSS: the light status shows anyway.
        client = self.shell.client
        return await light_and(client.get_infra(self.resource_id), client.get_infra_settings(self.resource_id))

    def render_body(self, data: tuple[dict, dict | DeployerError]) -> None:
        light, settings = data
        self.query_one("#summary", Static).update(Group(*infra_sections(light, settings, self.shell.presentation)))
        self.fill_listed_deployments()

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
