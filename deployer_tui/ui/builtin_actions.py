"""The actions of this release, registered in the app's ActionRegistry.

Handlers receive the app and act on the active screen; bindings call them via
`app.dispatch('<id>')`, the palette lists them, the help shows their keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deployer_tui.core.errors import DeployerError
from deployer_tui.ui.actions import ActionRegistry, UIAction

if TYPE_CHECKING:
    from deployer_tui.ui.app import DeployerApp


def _main(app: Any):
    from deployer_tui.ui.screens.main import MainScreen

    return app.screen if isinstance(app.screen, MainScreen) else None


def _on_main(screen: Any) -> bool:
    from deployer_tui.ui.screens.main import MainScreen

    return isinstance(screen, MainScreen)


def _current_deployment(screen: Any) -> str | None:
    getter = getattr(screen, "current_deployment", None)
    return getter() if getter is not None else None


def _quit(app: DeployerApp) -> None:
    from deployer_tui.ui.screens.settings_editor import quit_unless_unsaved

    quit_unless_unsaved(app)


def back(app: DeployerApp) -> None:
    if _on_main(app.screen) or len(app.screen_stack) <= 2:
        app.exit()
    else:
        app.pop_screen()


def refresh(app: DeployerApp) -> None:
    if app.session is None:
        app.notify("Not connected yet", severity="warning")
        return
    app.store.refresh()
    reload = getattr(app.screen, "reload", None)
    if reload is not None:
        reload()


def show_help(app: DeployerApp) -> None:
    from deployer_tui.ui.screens.help import HelpScreen, help_rows

    title = getattr(app.screen, "kind", None) or "main"
    app.push_screen(HelpScreen(help_rows(app.screen), str(title)))


def goto(app: DeployerApp) -> None:
    from deployer_tui.ui.screens.modals import GotoScreen

    store = app.store
    completions = ([f"deploy {d}" for d in store.deployments] + [f"infra {i}" for i in store.infras]
                   + [f"service {s}" for s in store.services])

    def chosen(result: tuple[str, str] | None) -> None:
        if result is None:
            return
        kind, ident = result
        known = {"deployment": store.deployments, "infra": store.infras, "service": store.services}[kind]
        if store.loaded and ident not in known:
            app.notify(f"No {kind} {ident!r}", severity="warning")
            return
        app.open_resource(kind, ident)

    app.push_screen(GotoScreen(completions), chosen)


def error_details(app: DeployerApp) -> None:
    from deployer_tui.ui.screens.modals import ErrorScreen

    if app.last_error is None:
        app.notify("No error so far")
        return
    context, error = app.last_error
    describe = getattr(error, "describe", None)
    app.push_screen(ErrorScreen(f"Error {context}", describe() if describe else str(error)))


def toggle_enabled(app: DeployerApp) -> None:
    deployment = _current_deployment(app.screen)
    if deployment is None:
        return
    app.run_worker(_toggle_enabled(app, deployment), group="mutation", exit_on_error=False)


async def _toggle_enabled(app: DeployerApp, deployment: str) -> None:
    from deployer_tui.ui.screens.modals import ConfirmScreen

    light = app.store.deployments.get(deployment) or {}
    currently = (light.get("deploymentBasicInfo") or {}).get("enabled", True) is not False
    verb = "Disable" if currently else "Enable"
    question = (f"{verb} deployment {deployment}?\n\nThis saves its settings with enabled = "
                f"{str(not currently).lower()}. The API nodes change at the next update.")
    if not await app.push_screen_wait(ConfirmScreen(question)):
        return
    try:
        # Read-modify-write of the whole document: unknown keys go back as they came.
        settings = await app.client.get_deployment_settings(deployment)
        settings["enabled"] = not currently
        await app.client.save_deployment_settings(deployment, settings)
    except DeployerError as exc:
        app.report_error(exc, f"saving deployment {deployment}")
        return
    app.notify(f"Deployment {deployment} {'disabled' if currently else 'enabled'}", title="Saved")
    app.store.forget_heavy(deployment)
    refresh(app)


def _main_call(method: str, *args: Any):
    def handler(app: Any) -> None:
        screen = _main(app)
        if screen is not None:
            getattr(screen, method)(*args)

    return handler


def register_builtin_actions(registry: ActionRegistry) -> None:
    for action in [
        UIAction("app.quit", "Quit", "Leave deployer-tui (asks first if a settings draft is unsaved)", _quit),
        UIAction("app.back", "Back", "Back to the previous screen (quit on the main screen)", back),
        UIAction("app.refresh", "Refresh now", "Reload the lists, health and the open detail", refresh),
        UIAction("app.help", "Help: keys", "Show the keys of the current screen", show_help),
        UIAction("app.goto", "Go to…", "Open a deployment, infra or service by id (:deploy ID)", goto),
        UIAction("app.error_details", "Show last error details", "The full details of the last API error",
                 error_details),
        UIAction("main.pane_infras", "Focus infras pane", "Move to the infras pane",
                 _main_call("focus_pane", "infras"), available=_on_main),
        UIAction("main.pane_services", "Focus services pane", "Move to the services pane",
                 _main_call("focus_pane", "services"), available=_on_main),
        UIAction("main.pane_deployments", "Focus deployments pane", "Move to the deployments pane",
                 _main_call("focus_pane", "deployments"), available=_on_main),
        UIAction("main.narrow", "Narrow deployments to highlighted infra/service",
                 "Show only the deployments of the highlighted infra or service (again to undo)",
                 _main_call("toggle_narrow"), available=_on_main),
        UIAction("main.widen", "Widen deployments / clear filter", "Clear the filter, then the narrowing",
                 _main_call("widen"), available=_on_main),
        UIAction("main.filter", "Filter the focused pane", "Live filter: type to narrow the rows",
                 _main_call("open_filter"), available=_on_main),
        UIAction("main.sort", "Sort by next column", "Cycle the sort column of the focused pane",
                 lambda app: _sort(app, reverse=False), available=_on_main),
        UIAction("main.sort_reverse", "Reverse sort order", "Reverse the sort of the focused pane",
                 lambda app: _sort(app, reverse=True), available=_on_main),
        UIAction("deployment.toggle_enabled", "Enable/disable deployment",
                 "Flip `enabled` in the highlighted deployment's settings (asks first)", toggle_enabled,
                 mutating=True, available=lambda screen: _current_deployment(screen) is not None),
    ]:
        registry.register(action)
    from deployer_tui.ui.object_actions import register_object_actions

    register_object_actions(registry)
    def settings_actions(registry: ActionRegistry) -> None:
        from deployer_tui.ui.screens.settings_editor import register_settings_actions

        register_settings_actions(registry)

    registry.register_later(settings_actions)
    from deployer_tui.ui.update_actions import register_update_actions

    register_update_actions(registry)


def _sort(app: Any, reverse: bool) -> None:
    screen = _main(app)
    table = screen.focused_table() if screen is not None else None
    if table is None:
        return
    if reverse:
        table.reverse_sort()
    else:
        table.cycle_sort()
