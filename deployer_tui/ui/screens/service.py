"""Service detail: versions with their endpoints and publish dates, and its deployments."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from deployer_tui.core import readers
from deployer_tui.core.readers import basic
from deployer_tui.ui.screens.deployment import versions_table
from deployer_tui.ui.screens.detail_base import DeploymentsDetailScreen, section
from deployer_tui.ui.view.rows import kv


class ServiceScreen(DeploymentsDetailScreen):
    kind = "service"

    async def fetch(self) -> dict:
        return await self.shell.client.get_service(self.resource_id)

    def render_body(self, light: dict) -> None:
        info = basic(light, "serviceBasicInfo")
        packages = light.get("packages") or []
        parts = [
            kv("service", readers.service_id(light), "bold"),
            kv("name", info.get("name") or "-"),
            kv("last modified", self.shell.presentation.timestamp(basic(info, "versionTag").get("lastModifiedOn"))),
            section(f"Versions ({len(packages)})"),
            versions_table(packages, self.shell.presentation) if packages else Text("none", style="dim"),
            section("Deployments"),
        ]
        self.query_one("#summary", Static).update(Group(*parts))
        self.fill_listed_deployments()

    def light_status(self) -> dict:
        return self.data

    def store_deployment_ids(self) -> list[str]:
        return self.shell.store.deployment_ids_of_service(self.resource_id)
