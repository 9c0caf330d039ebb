"""Infra detail: a settings summary (API node URLs — never their admin keys), and its deployments."""

from __future__ import annotations

import asyncio

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from deployer_tui.core import models
from deployer_tui.core.errors import ConnectionLost, DeployerError
from deployer_tui.ui import rows
from deployer_tui.ui.messages import DataChanged
from deployer_tui.ui.rows import basic, kv
from deployer_tui.ui.screens.detail_base import DetailScreen, section
from deployer_tui.ui.widgets.resource_table import ResourceTable


class InfraScreen(DetailScreen):
    kind = "infra"

    def compose_extra(self) -> ComposeResult:
        yield ResourceTable(rows.DEPLOYMENT_COLUMNS, title="deployments", id="deployments",
                            display=rows.DEPLOYMENT_DISPLAY)

    async def fetch(self) -> tuple[dict, dict | DeployerError]:
        client = self.app.client
        light_task = asyncio.ensure_future(client.get_infra(self.resource_id))
        try:
            settings: dict | DeployerError = await client.get_infra_settings(self.resource_id)
        except ConnectionLost:
            light_task.cancel()
            raise
        except DeployerError as exc:  # settings need admin rights on a real DSS: show the light status anyway
            settings = exc
        return await light_task, settings

    def render_body(self, data: tuple[dict, dict | DeployerError]) -> None:
        light, settings = data
        self.query_one("#summary", Static).update(Group(*infra_sections(light, settings, self.app.presentation)))
        self._fill(light)

    def _fill(self, light: dict) -> None:
        ids = [str(d.get("id")) for d in light.get("deployments") or [] if d.get("id")]
        store_ids = self.app.store.deployment_ids_of_infra(self.resource_id)
        self.fill_deployments(sorted(set(ids) | set(store_ids)))

    def on_store_changed(self, message: DataChanged) -> None:
        if self.data is not None:
            self._fill(self.data[0])


def infra_sections(light: dict, settings: dict | DeployerError, present) -> list:
    info = basic(light, "infraBasicInfo")
    parts: list = [
        kv("infra", models.infra_id(light), "bold"),
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
