"""`u` with marks: the bulk update of the main pane and of the fleet screen, one flow for both.

The items are grouped by context, each context's guard (core/production.py, through the fleet state)
decides what it asks: a read-only context's items are refused, a production context's need its name
typed once, or the deployment's id for one chosen without marks (ui/screens/bulk_confirm.py). This
flow asks for the typed confirmation itself, in its one dialog under the list, rather than letting
DeployerApp.run_action's guard ask first (ui/production_guard.py hands the marked `u` over to it): the
name must be typed once the list was seen, and the marks may span contexts the door does not guard.
The rule is still the one `Guard` of each context. Each item starts on its own context's tracker, so
an update in another deployer follows that deployer; the started ones are unmarked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from textual.screen import Screen

from deployer_tui.core.production import Guard
from deployer_tui.ui.screens.bulk_confirm import BulkConfirmScreen, BulkGroup
from deployer_tui.ui.shell import shell_of
from deployer_tui.ui.state.update_tracker import UpdateTracker


@dataclass
class BulkItem:
    context: str
    deployment_id: str
    line: str  # what it will deploy, in words
    tracker: UpdateTracker
    node_urls: list[str] = field(default_factory=list)


def bulk_groups(items: list[BulkItem], guards: Callable[[str], Guard], *, marked: bool = True
                ) -> tuple[list[BulkGroup], list[BulkItem]]:
    """The groups of the dialog (in the order of the items' contexts) and the items to start if confirmed
    (not already running, not in a read-only context). `marked` False: one deployment chosen without
    marks, whose id (not its context's name) is typed in production."""
    if not marked and len(items) != 1:
        raise ValueError("an update without marks is of one deployment")
    groups: dict[str, BulkGroup] = {}
    todo: list[BulkItem] = []
    for item in items:
        group = groups.get(item.context)
        if group is None:
            group = groups[item.context] = BulkGroup(item.context, [], guards(item.context),
                                                     object_id=None if marked else item.deployment_id)
        if item.tracker.is_running(item.deployment_id):
            group.running.append(item.deployment_id)
            continue
        group.lines.append(f"{item.deployment_id}: {item.line}")
        if group.refusal is None:
            todo.append(item)
    return [group for group in groups.values() if group.lines or group.running], todo


def start_bulk(screen: Screen, items: list[BulkItem], then: Callable[[list[BulkItem]], None], *,
               marked: bool = True) -> None:
    """Ask (grouped, typed in production), then start every confirmed item; `then(started)` after.
    `marked` False: the one highlighted deployment, no marks (see `bulk_groups`)."""
    shell = shell_of(screen)
    fleet = shell.fleet
    groups, todo = bulk_groups(items, fleet.guard, marked=marked)
    if not todo and not any(group.lines for group in groups):
        then([])  # everything is running already
        return
    if not todo:
        screen.notify("; ".join(f"{group.context}: {group.refusal}" for group in groups if group.refusal),
                      title="Refused", severity="warning")
        return

    def answered(yes: bool | None) -> None:
        if yes:
            screen.app.run_worker(start(), group="bulk-update", exit_on_error=False, name="bulk update")
        elif any(group.needs_typing for group in groups):
            screen.notify("Update deployment(s): cancelled, nothing changed", title="Production")

    async def start() -> None:
        # A context not opened yet is opened first: its tracker follows its updates with its session's
        # client (and its lists load, as when switching to it).
        failed: dict[str, str] = {}
        for name in dict.fromkeys(item.context for item in todo):
            if item_tracker_client(name) is None:
                state = await fleet.contexts.open(name)
                if state.session is None:
                    failed[name] = state.why or "could not connect"
        if failed:
            screen.app.notify("; ".join(f"{name}: {why}" for name, why in failed.items()),
                              title="Not updated", severity="error")
        started = [item for item in todo if item.context not in failed]
        trackers: list[UpdateTracker] = []
        for item in started:
            item.tracker.start(item.deployment_id, item.node_urls)
            item.tracker.marked.discard(item.deployment_id)
            if item.tracker not in trackers:
                trackers.append(item.tracker)
        for tracker in trackers:
            tracker.marks_changed()
        then(started)

    def item_tracker_client(name: str) -> object | None:
        return next(item.tracker.client for item in todo if item.context == name)

    screen.app.push_screen(BulkConfirmScreen(groups), answered)
