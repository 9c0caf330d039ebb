"""Service detail: versions with their endpoints and publish dates, and its deployments."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from deployer_tui.core import models
from deployer_tui.ui import rows
from deployer_tui.ui.messages import DataChanged
from deployer_tui.ui.rows import basic, kv
from deployer_tui.ui.screens.deployment import versions_table
from deployer_tui.ui.screens.detail_base import DetailScreen, section
from deployer_tui.ui.widgets.resource_table import ResourceTable


class ServiceScreen(DetailScreen):
    kind = "service"

    def compose_extra(self) -> ComposeResult:
        yield ResourceTable(rows.DEPLOYMENT_COLUMNS, title="deployments", id="deployments",
                            display=rows.DEPLOYMENT_DISPLAY)

    async def fetch(self) -> dict:
        return await self.app.client.get_service(self.resource_id)

    def render_body(self, light: dict) -> None:
        info = basic(light, "serviceBasicInfo")
        packages = light.get("packages") or []
        parts = [
            kv("service", models.service_id(light), "bold"),
            kv("name", info.get("name") or "-"),
            kv("last modified", self.app.presentation.timestamp(basic(info, "versionTag").get("lastModifiedOn"))),
            section(f"Versions ({len(packages)})"),
            versions_table(packages, self.app.presentation) if packages else Text("none", style="dim"),
            section("Deployments"),
        ]
        self.query_one("#summary", Static).update(Group(*parts))
        self._fill(light)

    def _fill(self, light: dict) -> None:
        ids = [str(d.get("id")) for d in light.get("deployments") or [] if d.get("id")]
        # The store's list is fresher once loaded; the service's own list covers a cold store.
        store_ids = self.app.store.deployment_ids_of_service(self.resource_id)
        self.fill_deployments(sorted(set(ids) | set(store_ids)))

    def on_store_changed(self, message: DataChanged) -> None:
        if self.data is not None:
            self._fill(self.data)
