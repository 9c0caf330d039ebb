"""Rows of the fleet table (pure functions): a deployment row of the main pane with its context in front,
the one row of a context that cannot be listed, and the row of a context still loading."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from deployer_tui.ui.view.rows import (
    DEPLOYMENT_COLUMNS,
    KEEP,
    Column,
    decorate_deployment_row,
    deployment_row,
)

FLEET_COLUMNS = [Column("context", "Context", priority=KEEP), *DEPLOYMENT_COLUMNS]
# The id first, as in the main pane: the table breaks sort ties by the first column shown, so sorting by
# context (the default, FLEET_SORT) keeps each context's deployments in id order.
FLEET_DISPLAY = ["id", "context", "health", "enabled", "service", "version", "infra", "stage"]
FLEET_SORT = FLEET_DISPLAY.index("context")

UNREACHABLE = "UNREACHABLE"
NOT_STARTED = "NOT STARTED"
# The reason in the row is cut to this many characters: the table's columns grow to their widest cell,
# and a whole sentence there would push the other columns out of sight. The status line below the
# table and `enter` on the row say it in full.
REASON_WIDTH = 36


def short_reason(reason: str) -> str:
    reason = reason.removeprefix("unreachable: ")
    return reason if len(reason) <= REASON_WIDTH else reason[:REASON_WIDTH - 1] + "…"


def fleet_row(context: str, light: dict, health: str, stage: str, *, marked: bool,
              update_state: str | None) -> tuple[Any, ...]:
    """A deployment of one context, decorated as in the main pane (mark, running update)."""
    row = decorate_deployment_row(deployment_row(light, health, stage), marked=marked, update_state=update_state)
    return (context, *row)


def unreachable_row(context: str, reason: str, *, started: bool = True) -> tuple[Any, ...]:
    """The one row of a context that cannot be listed: the reason (cut) sits in the version column, the
    widest. `started` False: a context the fleet does not start (the embedded deployer), not a failure."""
    if not started:
        return (context, Text("– not started", style="dim"), "-", short_reason(reason), "-", "-", "-",
                Text(NOT_STARTED, style="dim"))
    return (Text(context, style="bold red"), Text("✗ unreachable", style="bold red"), "-", short_reason(reason),
            "-", "-", "-", Text(UNREACHABLE, style="bold red"))


def loading_row(context: str) -> tuple[Any, ...]:
    """A context whose list has not arrived yet: one row, so that every context is on screen at once."""
    return (context, Text("…", style="dim"), "-", "-", "-", "-", "-", Text("loading…", style="dim italic"))
