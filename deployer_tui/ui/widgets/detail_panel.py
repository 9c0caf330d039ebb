"""The panel beside the lists: a short summary of the highlighted infra, service or deployment.

Its size is the layout's (a share of the top row), so new content needs a layout pass only when its
height changes (the scrollbar follows the height); otherwise repainting the panel alone is enough. A
layout pass repaints the whole screen: at 10,000 deployments that was half the CPU time of a `j`.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from deployer_tui.core import readers
from deployer_tui.ui.view.formatting import SEVERITY_STYLES, health_text
from deployer_tui.ui.view.rows import basic, kv, latest_version


class DetailPanel(Static):
    DEFAULT_CSS = """
    DetailPanel { border: round $panel-lighten-2; padding: 0 1; height: 1fr; width: 1fr; overflow-y: auto; }
    """

    _shown_height: tuple[int, int] | None = None  # (width, lines) of what is shown

    def on_mount(self) -> None:
        self.border_title = "detail"

    def on_resize(self) -> None:
        self._shown_height = None  # lines wrap anew: the next content gets a layout pass

    def show_nothing(self, hint: str = "") -> None:
        self._show([Text(hint, style="dim")])

    def _show(self, lines: list[Text]) -> None:
        width = self.content_region.width
        height = (width, sum(len(line.wrap(self.app.console, width)) for line in lines)) if width > 0 else None
        self.update(Group(*lines), layout=height is None or height != self._shown_height)
        self._shown_height = height

    def show_infra(self, light: dict, deployment_ids: list[str]) -> None:
        info = basic(light, "infraBasicInfo")
        lines = [
            kv("infra", readers.infra_id(light), "bold"),
            kv("type", info.get("type") or "-"),
            kv("stage", info.get("stage") or "-"),
            kv("deployments", len(deployment_ids)),
        ]
        urls = info.get("apiNodeUrls") or []
        present = self.app.presentation
        lines.append(kv("API nodes", ", ".join(present.url(u) for u in urls) if urls else "-"))
        self._show(lines)

    def show_service(self, light: dict, deployment_ids: list[str]) -> None:
        packages = light.get("packages") or []
        lines = [
            kv("service", readers.service_id(light), "bold"),
            kv("versions", ", ".join(str(p.get("id")) for p in packages) or "-"),
            kv("latest", latest_version(light)),
            kv("deployments", ", ".join(deployment_ids) or "-"),
        ]
        self._show(lines)

    def show_deployment(self, light: dict, heavy: object, health: str) -> None:
        info = basic(light, "deploymentBasicInfo")
        mapping = info.get("generationsMapping")
        lines = [
            kv("deployment", readers.deployment_id(light), "bold"),
            kv("service", info.get("publishedServiceId") or "-"),
            kv("infra", info.get("infraId") or "-"),
            kv("version", readers.mapping_summary(mapping) or "-"),
            kv("health", health_text(health)),
        ]
        if isinstance(heavy, dict):
            for group in readers.health_messages(heavy)[:3]:
                severity = str(group.get("severity", ""))
                line = Text(f"{severity}: ", style=SEVERITY_STYLES.get(severity, ""))
                line.append(str(group.get("title") or group.get("message") or ""))
                lines.append(line)
        elif heavy is not None:
            lines.append(Text(f"status failed: {heavy}", style="red"))
        lines.append(Text("enter: details", style="dim"))
        self._show(lines)
