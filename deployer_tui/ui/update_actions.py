"""The update actions (u, U, H, x, marks for a bulk update), registered in the app's action registry.

They open the update screens and start runs in the app's `UpdateTracker` (ui/state/update_tracker.py), which
itself draws nothing."""

from __future__ import annotations

from typing import Any

from deployer_tui.core import readers
from deployer_tui.ui.actions import UIAction
from deployer_tui.ui.state.update_tracker import UpdateTracker


def tracker_for(app: Any) -> UpdateTracker:
    """The app's tracker (every screen shares the one the app made)."""
    return app.updates


def deployment_in_focus(screen: Any) -> str | None:
    """The deployment the user is on: the highlighted row / detail, or the one an update screen shows."""
    from deployer_tui.ui.object_actions import focused_object

    found = focused_object(screen)
    if found is not None:
        return found[1] if found[0] == "deployment" else None
    own = getattr(screen, "deployment_id", None)
    return own if isinstance(own, str) else None


def _on_main(screen: Any) -> bool:
    from deployer_tui.ui.screens.main import MainScreen

    return isinstance(screen, MainScreen)


def node_urls(app: Any, deployment_id: str) -> list[str]:
    """The API node URLs of the deployment's infra, from the light status (STATIC infras)."""
    store = getattr(app, "store", None)
    light = store.deployments.get(deployment_id) if store is not None else None
    info = (light or {}).get("infraBasicInfo") if isinstance(light, dict) else None
    urls = info.get("apiNodeUrls") if isinstance(info, dict) else None
    return [str(u) for u in urls] if isinstance(urls, list) else []


def marked_deployments(app: Any) -> list[str]:
    """Marked deployments that still exist, in the store's order."""
    tracker = tracker_for(app)
    store = getattr(app, "store", None)
    known = list(store.deployments) if store is not None else sorted(tracker.marked)
    return [d for d in known if d in tracker.marked]


def start_update(app: Any) -> None:
    """`u`: the marked deployments (main screen), else the one in focus; a running one opens its progress."""
    from deployer_tui.ui.screens.update_screen import UpdateConfirmScreen, UpdateScreen

    tracker = tracker_for(app)
    marked = marked_deployments(app) if _on_main(app.screen) else []
    if marked:
        start_bulk(app, marked)
        return
    deployment = deployment_in_focus(app.screen)
    if deployment is None:
        app.notify("Highlight a deployment (or mark some with space) to update it", severity="warning")
        return
    if tracker.is_running(deployment):
        app.push_screen(UpdateScreen(deployment, tracker))
        return

    def answered(yes: bool | None) -> None:
        if yes:
            tracker.start(deployment, node_urls(app, deployment))
            if not isinstance(app.screen, UpdateScreen) or app.screen.deployment_id != deployment:
                app.push_screen(UpdateScreen(deployment, tracker))

    app.push_screen(UpdateConfirmScreen(deployment, app.client, getattr(app, "presentation", None)), answered)


def start_bulk(app: Any, deployments: list[str]) -> None:
    from deployer_tui.ui.screens.modals import ConfirmScreen
    from deployer_tui.ui.screens.update_screen import UpdatesScreen

    tracker = tracker_for(app)
    running = [d for d in deployments if tracker.is_running(d)]
    todo = [d for d in deployments if d not in running]
    if not todo:
        app.push_screen(UpdatesScreen(tracker))
        return
    question = f"Update {len(todo)} marked deployment{'s' if len(todo) != 1 else ''}?\n"
    for deployment in todo[:12]:
        question += f"\n  {deployment}: {bulk_line(app, deployment)}"
    if len(todo) > 12:
        question += f"\n  … and {len(todo) - 12} more"
    if running:
        question += f"\n\n(already running: {', '.join(running)})"

    def answered(yes: bool | None) -> None:
        if not yes:
            return
        for deployment in todo:
            tracker.start(deployment, node_urls(app, deployment))
        tracker.marked.clear()
        tracker.marks_changed()
        app.push_screen(UpdatesScreen(tracker))

    app.push_screen(ConfirmScreen(question), answered)


def bulk_line(app: Any, deployment_id: str) -> str:
    """What one deployment of a bulk update will deploy, from the store: saved mapping (or disable), health."""
    store = getattr(app, "store", None)
    light = store.deployments.get(deployment_id) if store is not None else None
    if not isinstance(light, dict):
        return "?"
    basic = readers.deployment_basic(light)
    what = "disable" if basic.get("enabled") is False else (readers.mapping_summary(basic.get("generationsMapping")) or "?")
    return f"{what} (now {store.health(deployment_id)})"


def toggle_mark(app: Any) -> None:
    deployment = deployment_in_focus(app.screen)
    if deployment is None:
        return
    tracker_for(app).toggle_mark(deployment)


def mark_out_of_sync(app: Any) -> None:
    store = app.store
    ids = [d for d in store.deployments if store.health(d) == "OUT_OF_SYNC"]
    tracker = tracker_for(app)
    tracker.marked.update(ids)
    tracker.marks_changed()
    app.notify(f"Marked {len(ids)} OUT_OF_SYNC deployment{'s' if len(ids) != 1 else ''}; u updates them"
               if ids else "No deployment is OUT_OF_SYNC")


def clear_marks(app: Any) -> None:
    tracker = tracker_for(app)
    tracker.marked.clear()
    tracker.marks_changed()


def show_updates(app: Any) -> None:
    from deployer_tui.ui.screens.update_screen import UpdatesScreen

    app.push_screen(UpdatesScreen(tracker_for(app)))


def show_history(app: Any) -> None:
    from deployer_tui.ui.screens.update_history import UpdateHistoryScreen

    deployment = deployment_in_focus(app.screen)
    if deployment is None:
        app.notify("Highlight a deployment to see its update history", severity="warning")
        return
    app.push_screen(UpdateHistoryScreen(deployment, app.client, tracker=tracker_for(app)))


def abort_update(app: Any) -> None:
    ask = getattr(app.screen, "ask_abort", None)
    if ask is None:
        app.notify("Open the update (u, or U for all) to abort it", severity="warning")
        return
    ask()


def register_update_actions(registry: Any) -> None:
    def has_deployment(screen: Any) -> bool:
        return deployment_in_focus(screen) is not None

    for action in [
        UIAction("deployment.update", "Update deployment(s)",
                 "Deploy the saved settings to the API nodes (asks first); the marked deployments if any",
                 start_update, mutating=True,
                 available=lambda s: has_deployment(s) or (_on_main(s) and bool(marked_deployments(s.app)))),
        UIAction("deployment.mark", "Mark/unmark deployment", "Mark the highlighted deployment for a bulk update",
                 toggle_mark, available=has_deployment),
        UIAction("deployment.mark_out_of_sync", "Mark every OUT_OF_SYNC deployment",
                 "Mark all deployments whose health is OUT_OF_SYNC, then u updates them", mark_out_of_sync,
                 available=_on_main),
        UIAction("deployment.clear_marks", "Clear marks", "Unmark every deployment", clear_marks),
        UIAction("deployment.update_history", "Update history",
                 "Past updates of the deployment: start, end, duration, requester, status; enter opens the log",
                 show_history, available=has_deployment),
        UIAction("updates.show", "Running updates", "The updates started in this session, each with its progress",
                 show_updates),
        UIAction("update.abort", "Abort update", "Abort the running update shown (asks first)", abort_update,
                 mutating=True, available=lambda s: getattr(s, "ask_abort", None) is not None),
    ]:
        registry.register(action)
