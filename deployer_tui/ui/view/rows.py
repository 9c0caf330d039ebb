"""Table rows and one-line summaries built from the raw JSON of the store (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text

from deployer_tui.core import readers
from deployer_tui.core.readers import basic  # (the detail panel imports it from here too)
from deployer_tui.ui.view.formatting import health_text, yes_no


@dataclass(frozen=True)
class Column:
    """A table column: `key` names it in records, `label` heads it, `width` fixes it (None: fits the cells).

    `priority` says which columns go first when the pane is too narrow for all of them: the lowest goes
    first; KEEP is never dropped (the id, and health, which must never be cut)."""

    key: str
    label: str
    width: int | None = None
    priority: int = 50


KEEP = 100


# Priorities on a narrow terminal: a stage tells production apart and the latest version is what one
# deploys next; a count is one keypress away in the detail panel. In the deployments pane the version
# (the mapping) is what the id does not already say, the stage follows from the infra, and "On" is
# repeated by a DISABLED health.
INFRA_COLUMNS = [
    Column("id", "Infra", priority=KEEP), Column("type", "Type", priority=20), Column("stage", "Stage", priority=70),
    Column("deployments", "Deps", priority=40),
]
SERVICE_COLUMNS = [
    Column("id", "Service", priority=KEEP), Column("versions", "Vers", priority=20),
    Column("latest", "Latest", priority=70), Column("deployments", "Deps", priority=40),
]
DEPLOYMENT_COLUMNS = [
    Column("id", "Deployment", priority=KEEP), Column("service", "Service", priority=50),
    Column("version", "Version", priority=90), Column("infra", "Infra", priority=60),
    Column("stage", "Stage", priority=55), Column("enabled", "On", priority=20),
    Column("health", "Health", priority=KEEP),
]
# On screen, health comes right after the id: on an 80-column terminal the wide version column
# must not push it out of sight. (Records keep the order above.)
DEPLOYMENT_DISPLAY = ["id", "health", "enabled", "service", "version", "infra", "stage"]


def decorate_deployment_row(row: tuple, *, marked: bool, update_state: str | None,
                            canary: str | None = None) -> tuple:
    """A deployments-pane row with the update state shown: a mark after the id, and UPDATING (in place of
    the health, which is stale while nodes change) while an update of this session runs (`update_state` is
    its state then, else None); `canary` (`⟳ CANARY 10 %`) while a canary of this session runs."""
    if not row or (not marked and update_state is None and canary is None):
        return row
    keys = [column.key for column in DEPLOYMENT_COLUMNS]
    id_at, health_at = keys.index("id"), keys.index("health")
    cells = list(row)
    if marked:
        # A suffix, not a prefix: the pane sorts by this cell and a mark must not move the row.
        cells[id_at] = Text.assemble((str(cells[id_at]), "bold magenta"), (" ✓", "bold magenta"))
    if update_state is not None:
        cells[health_at] = Text("⟳ UPDATING" if update_state != "ABORTING" else "⟳ ABORTING", style="bold cyan")
    if canary is not None:
        # The canary runs its own updates: its step says more than UPDATING would.
        cells[health_at] = Text(canary, style="bold yellow")
    return tuple(cells)


def infra_row(light: dict, deployment_count: int) -> tuple[Any, ...]:
    info = basic(light, "infraBasicInfo")
    return (readers.infra_id(light), info.get("type") or "-", info.get("stage") or "-", deployment_count)


def latest_version(light: dict) -> str:
    packages = light.get("packages") or []
    if not packages:
        return "-"
    # The deployer lists versions newest first, but the order of a foreign server is not trusted.
    newest = max(packages, key=lambda p: p.get("publishedOn") or 0)
    return str(newest.get("id", "-"))


def service_row(light: dict, deployment_count: int) -> tuple[Any, ...]:
    return (readers.service_id(light), len(light.get("packages") or []), latest_version(light), deployment_count)


def deployment_row(light: dict, health: str, stage: str) -> tuple[Any, ...]:
    info = basic(light, "deploymentBasicInfo")
    mapping = info.get("generationsMapping")
    version = readers.mapping_summary(mapping) or "-"
    return (
        readers.deployment_id(light),
        info.get("publishedServiceId") or "-",
        version,
        info.get("infraId") or "-",
        stage or "-",
        yes_no(info.get("enabled")),
        health_text(health),
    )


def infra_stage(infras: dict[str, dict], light: dict) -> str:
    """A deployment's stage: from its own infraBasicInfo if the server sent one, else from the infra list."""
    own = basic(light, "infraBasicInfo").get("stage")
    if own:
        return str(own)
    infra = infras.get(basic(light, "deploymentBasicInfo").get("infraId") or "")
    return str(basic(infra, "infraBasicInfo").get("stage") or "-") if infra else "-"


def kv(label: str, value: Any, style: str = "") -> Text:
    text = Text()
    text.append(f"{label}: ", style="bold")
    if isinstance(value, Text):
        text.append_text(value)
    else:
        text.append(str(value), style=style)
    return text
