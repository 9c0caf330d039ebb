"""The API Deployer actions on objects — create, delete, versions, test queries, OpenAPI, governance, copy —
registered in the app's action registry (so the palette, the help and the read-only check see them).

Each acts on "the object in focus": the highlighted row of the focused pane on the main screen, else the
object a detail screen shows (or the highlighted row of its deployments table). The screens themselves live
in `screens/` and take the client and ids in their constructors.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from deployer_tui.ui.actions import ActionRegistry, UIAction

PANE_KINDS = {"infras": "infra", "services": "service", "deployments": "deployment"}


def focused_object(screen: Any) -> tuple[str, str] | None:
    """(kind, id) of the object the user is on, or None."""
    from deployer_tui.ui.screens.detail_base import DetailScreen
    from deployer_tui.ui.screens.main import MainScreen

    if isinstance(screen, MainScreen):
        table = screen.focused_table()
        if table is None or table.current_key is None:
            return None
        return PANE_KINDS.get(table.id or "", "deployment"), str(table.current_key)
    if isinstance(screen, DetailScreen):
        deployment = screen.current_deployment()
        if deployment and screen.kind != "deployment":
            return "deployment", deployment
        return screen.kind, screen.resource_id
    return None


def focused_pane(screen: Any) -> str | None:
    from deployer_tui.ui.screens.main import MainScreen

    if isinstance(screen, MainScreen):
        table = screen.focused_table()
        return PANE_KINDS.get(table.id or "") if table is not None else None
    return None


def _focused(kind: str):
    def available(screen: Any) -> bool:
        found = focused_object(screen)
        return found is not None and found[0] == kind

    return available


def _service_of(app: Any, screen: Any) -> str | None:
    """The service in focus, or the service of the deployment in focus."""
    found = focused_object(screen)
    if found is None:
        return None
    kind, ident = found
    if kind == "service":
        return ident
    if kind == "deployment":
        light = app.store.deployments.get(ident) or {}
        basic = light.get("deploymentBasicInfo") or {}
        return basic.get("publishedServiceId")
    return None


def _after_change(app: Any, deleted: tuple[str, str] | None = None, created: str | None = None):
    """Refresh the lists (and the open detail) once a form succeeded; leave the detail of a deleted object;
    put the cursor on a `created` ("infra", "service", "deployment") object once it is listed."""

    def done(result: Any) -> None:
        if result is None or result is False:
            return
        from deployer_tui.ui.screens.detail_base import DetailScreen

        screen = app.screen
        if deleted and isinstance(screen, DetailScreen) and (screen.kind, screen.resource_id) == deleted:
            app.pop_screen()
        app.store.refresh()
        reload = getattr(app.screen, "reload", None)
        if reload is not None:
            reload()
        if created and isinstance(result, str):
            focused_then = _main_screen_focus(app)
            app.run_worker(_select_when_listed(app, created, result, focused_then), group="object.select-new",
                           exclusive=True, exit_on_error=False)

    return done


def _main_screen_focus(app: Any) -> Any:
    from deployer_tui.ui.screens.main import MainScreen

    main = next((s for s in app.screen_stack if isinstance(s, MainScreen)), None)
    return main.focused if main is not None else None


async def _select_when_listed(app: Any, kind: str, ident: str, focused_then: Any, timeout: float = 10.0) -> None:
    """The refresh runs in the store's worker; wait (bounded) until the new row is there, then select it.

    The pane takes the focus only if the person has not moved it meanwhile: a `2` typed while the list
    reloads must not be undone when the new row shows up."""
    from deployer_tui.ui.screens.main import MainScreen

    pane = {v: k for k, v in PANE_KINDS.items()}[kind]
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        screen = app.screen
        if isinstance(screen, MainScreen):
            table = screen.table(pane)
            if table.select_key(ident):
                if screen.focused is focused_then:
                    table.focus()
                return
        await asyncio.sleep(0.1)


def create(app: Any) -> None:
    """`n`: create what the focused pane lists; on a service/infra detail, a deployment of/on it."""
    from deployer_tui.ui.screens.create_forms import (
        CreateDeploymentScreen,
        CreateInfraScreen,
        CreateServiceScreen,
    )
    from deployer_tui.ui.screens.detail_base import DetailScreen

    screen = app.screen
    pane = focused_pane(screen)
    if pane == "infra":
        app.push_screen(CreateInfraScreen(app.client), _after_change(app, created="infra"))
    elif pane == "service":
        app.push_screen(CreateServiceScreen(app.client), _after_change(app, created="service"))
    elif isinstance(screen, DetailScreen) and screen.kind in ("service", "infra"):
        kwargs = {f"{screen.kind}_id": screen.resource_id}
        app.push_screen(CreateDeploymentScreen(app.client, **kwargs), _after_change(app, created="deployment"))
    else:
        create_deployment(app)


def create_infra(app: Any) -> None:
    from deployer_tui.ui.screens.create_forms import CreateInfraScreen

    app.push_screen(CreateInfraScreen(app.client), _after_change(app, created="infra"))


def create_service(app: Any) -> None:
    from deployer_tui.ui.screens.create_forms import CreateServiceScreen

    app.push_screen(CreateServiceScreen(app.client), _after_change(app, created="service"))


def create_deployment(app: Any) -> None:
    from deployer_tui.ui.screens.create_forms import CreateDeploymentScreen

    found = focused_object(app.screen)
    kwargs: dict[str, str] = {}
    if found and found[0] in ("service", "infra"):
        kwargs[f"{found[0]}_id"] = found[1]
    elif found and found[0] == "deployment":
        # Another deployment like the highlighted one: same service and infra, the id gets a -N.
        basic = (app.store.deployments.get(found[1]) or {}).get("deploymentBasicInfo") or {}
        kwargs = {k: str(basic[src]) for k, src in (("service_id", "publishedServiceId"), ("infra_id", "infraId"))
                  if basic.get(src)}
    app.push_screen(CreateDeploymentScreen(app.client, **kwargs), _after_change(app, created="deployment"))


def delete(app: Any) -> None:
    from deployer_tui.ui.screens.delete_confirm import DeleteScreen

    found = focused_object(app.screen)
    if found is None:
        app.notify("Highlight an infra, a service or a deployment to delete", severity="warning")
        return
    app.push_screen(DeleteScreen(app.client, *found), _after_change(app, deleted=found))


def import_version(app: Any) -> None:
    from deployer_tui.ui.screens.versions import ImportVersionScreen

    service = _service_of(app, app.screen)
    if not service:
        app.notify("Highlight a service to import a version into", severity="warning")
        return
    app.push_screen(ImportVersionScreen(app.client, service), _after_change(app))


def _pick_version(app: Any, then: Any) -> None:
    from deployer_tui.ui.screens.versions import VersionPickScreen

    service = _service_of(app, app.screen)
    if not service:
        app.notify("Highlight a service (or one of its deployments) first", severity="warning")
        return
    light = app.store.services.get(service) or {}
    versions = [str(p.get("id")) for p in light.get("packages") or [] if isinstance(p, dict) and p.get("id")]
    if not versions:
        app.notify(f"{service} has no version", severity="warning")
        return

    def picked(version: str | None) -> None:
        if version:
            then(service, version)

    app.push_screen(VersionPickScreen(service, versions), picked)


def download_version(app: Any) -> None:
    from deployer_tui.ui.screens.versions import DownloadVersionScreen

    _pick_version(app, lambda service, version: app.push_screen(DownloadVersionScreen(app.client, service, version)))


def delete_version(app: Any) -> None:
    from deployer_tui.ui.screens.versions import delete_version_screen

    _pick_version(app, lambda service, version: app.push_screen(
        delete_version_screen(app.client, service, version), _after_change(app)))


def _deployment_or_warn(app: Any) -> str | None:
    found = focused_object(app.screen)
    if found is None or found[0] != "deployment":
        app.notify("Highlight a deployment first", severity="warning")
        return None
    return found[1]


def open_test_queries(app: Any) -> None:
    from deployer_tui.ui.screens.query_runner import TestQueriesScreen

    deployment = _deployment_or_warn(app)
    if deployment:
        app.push_screen(TestQueriesScreen(app.client, deployment))


def open_api(app: Any) -> None:
    from deployer_tui.ui.screens.openapi import OpenAPIScreen

    deployment = _deployment_or_warn(app)
    if deployment:
        app.push_screen(OpenAPIScreen(app.client, deployment))


def governance(app: Any) -> None:
    from deployer_tui.ui.screens.openapi import GovernanceScreen

    deployment = _deployment_or_warn(app)
    if deployment:
        app.push_screen(GovernanceScreen(app.client, deployment))


def copy(app: Any) -> None:
    from deployer_tui.ui.screens.copy_menu import CopyMenuScreen, infra_entries, service_entries

    found = focused_object(app.screen)
    if found is None:
        app.notify("Highlight something to copy", severity="warning")
        return
    kind, ident = found
    if kind == "deployment":
        app.push_screen(CopyMenuScreen.for_deployment(app.client, ident))
        return
    source = app.store.infras if kind == "infra" else app.store.services
    light = source.get(ident) or {f"{kind}BasicInfo": {"id": ident}}
    entries = infra_entries(light) if kind == "infra" else service_entries(light)
    app.push_screen(CopyMenuScreen(f"Copy — {kind} {ident}", entries))


def _any_object(screen: Any) -> bool:
    return focused_object(screen) is not None


def _has_service(screen: Any) -> bool:
    found = focused_object(screen)
    return found is not None and found[0] in ("service", "deployment")


def _after_pending_focus(handler):
    """Run once already-queued callbacks have: a pane switch ("3") moves focus in a later callback, so
    a fast "3 n" would otherwise act on the pane that had focus before."""

    def deferred(app: Any) -> None:
        app.call_later(handler, app)

    deferred.__name__ = getattr(handler, "__name__", "action")
    return deferred


def register_object_actions(registry: ActionRegistry) -> None:
    for action in [
        UIAction("object.create", "Create…", "Create what the focused pane lists (infra, service, deployment)",
                 create, mutating=True),
        UIAction("infra.create", "Create infra", "A new infrastructure: id, stage, type, govern policy",
                 create_infra, mutating=True),
        UIAction("service.create", "Create service", "A new, empty API service", create_service, mutating=True),
        UIAction("deployment.create", "Create deployment",
                 "Deploy a service version on an infra (id suggested as <service>-on-<infra>)",
                 create_deployment, mutating=True),
        UIAction("object.delete", "Delete…", "Delete the highlighted infra, service or deployment (asks first)",
                 delete, mutating=True, available=_any_object),
        UIAction("version.import", "Import version", "Upload a version package zip into the highlighted service",
                 import_version, mutating=True, available=_has_service),
        UIAction("version.download", "Download version", "Save a version of the highlighted service to a file",
                 download_version, available=_has_service),
        UIAction("version.delete", "Delete version", "Delete a version of the highlighted service (asks first)",
                 delete_version, mutating=True, available=_has_service),
        UIAction("deployment.test_queries", "Test queries",
                 "Run stored or edited test queries against the highlighted deployment", open_test_queries,
                 available=_focused("deployment")),
        UIAction("deployment.openapi", "OpenAPI document", "Paths and methods of the deployment, raw JSON",
                 open_api, available=_focused("deployment")),
        UIAction("deployment.governance", "Governance status", "Govern sign-off messages of the deployment",
                 governance, available=_focused("deployment")),
        UIAction("object.copy", "Copy…", "Copy ids, URLs or a curl command of the highlighted object", copy,
                 available=_any_object),
    ]:
        registry.register(replace(action, handler=_after_pending_focus(action.handler)))
