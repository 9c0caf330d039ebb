"""The actions on API Deployer objects — create, delete, versions, test queries, OpenAPI, governance, copy,
settings, updates, marks — as `action_*` methods of one mixin that the main screen and every detail screen
inherit (their bindings come from `actions.object_bindings`).

Each acts on "the object in focus", which the screen says through `focused_object()` (and, on the main
screen, `focused_pane()`): the highlighted row of the focused pane, else the object a detail screen shows
(or the highlighted row of its deployments table). The screens they open take the client and ids in their
constructors.

The screens with the heaviest imports (the TextArea of the copy menu, the test queries and the OpenAPI view, the update screens'
log view, the settings editor's JSON highlighting) are imported by the action that opens them, on first
use: the main screen imports this module, and they are not needed for its first paint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from textual.screen import Screen

from deployer_tui.core import readers
from deployer_tui.core.errors import DeployerError
from deployer_tui.ui.actions import PaletteCommand, mutating
from deployer_tui.ui.screens.create_forms import (
    CreateDeploymentScreen,
    CreateInfraScreen,
    CreateServiceScreen,
)
from deployer_tui.ui.screens.delete_confirm import DeleteScreen
from deployer_tui.ui.screens.modals import ConfirmScreen
from deployer_tui.ui.screens.versions import (
    DownloadVersionScreen,
    ImportVersionScreen,
    VersionPickScreen,
    delete_version_screen,
)
from deployer_tui.ui.shell import ContextToasts, Shell, shell_of

if TYPE_CHECKING:
    from deployer_tui.ui.screens.settings_editor import Kind

PANE_KINDS = {"infras": "infra", "services": "service", "deployments": "deployment"}

# Actions of these screens with no key of their own, offered in the command palette.
OBJECT_COMMANDS: tuple[PaletteCommand, ...] = (
    PaletteCommand("create_infra", "Create infra", "A new infrastructure: id, stage, type, govern policy"),
    PaletteCommand("create_service", "Create service", "A new, empty API service"),
    PaletteCommand("create_deployment", "Create deployment",
                   "Deploy a service version on an infra (id suggested as <service>-on-<infra>)"),
    PaletteCommand("delete_version", "Delete version", "Delete a version of the highlighted service (asks first)"),
    PaletteCommand("governance", "Governance status", "Govern sign-off messages of the deployment"),
    PaletteCommand("mark", "Mark/unmark deployment", "Mark the highlighted deployment for a bulk update"),
    PaletteCommand("clear_marks", "Clear marks", "Unmark every deployment"),
    PaletteCommand("show_updates", "Running updates", "The updates started in this session, each with its progress"),
)


def _after_pending_focus(method: Callable[[Any], None]) -> Callable[[Any], None]:
    """Run once already-queued callbacks have: a pane switch ("3") moves focus in a later callback, so
    a fast "3 n" would otherwise act on the pane that had focus before."""

    def deferred(self: Any) -> None:
        self.call_later(method, self)

    deferred.__name__ = method.__name__
    deferred.__doc__ = method.__doc__
    return deferred


class ObjectActions(ContextToasts, Screen):
    """Mixed into the main and detail screens: the object actions, on the object the screen says is in focus."""

    PALETTE_COMMANDS: tuple[PaletteCommand, ...] = OBJECT_COMMANDS

    # -- what the screen says is in focus --------------------------------------------------------
    def focused_object(self) -> tuple[str, str] | None:  # pragma: no cover - every screen says
        """(kind, id) of the object the user is on, or None."""
        raise NotImplementedError

    def focused_pane(self) -> str | None:
        """The kind the focused pane lists (main screen only)."""
        return None

    def create_defaults(self) -> dict[str, str]:
        """`n` on a detail screen: what a new deployment is of/on (service and infra screens say)."""
        return {}

    def pane_highlights(self) -> dict[str, str]:
        """The service and infra highlighted in their panes (main screen): a new deployment defaults to them."""
        return {}

    @property
    def shell(self) -> Shell:
        return shell_of(self)

    # -- helpers ---------------------------------------------------------------------------------
    def _deployment_or_warn(self) -> str | None:
        found = self.focused_object()
        if found is None or found[0] != "deployment":
            self.notify("Highlight a deployment first", severity="warning")
            return None
        return found[1]

    def _service_in_focus(self) -> str | None:
        """The service in focus, or the service of the deployment in focus."""
        found = self.focused_object()
        if found is None:
            return None
        kind, ident = found
        if kind == "service":
            return ident
        if kind == "deployment":
            return readers.basic(self.shell.store.deployments.get(ident), "deploymentBasicInfo").get("publishedServiceId")
        return None

    def _after_change(self, deleted: tuple[str, str] | None = None, created: str | None = None) -> Callable[[Any], None]:
        """Refresh the lists (and the open detail) once a form succeeded; leave the detail of a deleted object;
        put the cursor on a `created` ("infra", "service", "deployment") object once it is listed."""
        app = self.app
        shell = self.shell

        def done(result: Any) -> None:
            if result is None or result is False:
                return
            screen = app.screen
            if deleted and isinstance(screen, ObjectActions) and shell_of(screen) is shell and screen.shows(deleted):
                app.pop_screen()
            shell.store.refresh()
            screen = app.screen
            # The screen shown now may be another context's (the user switched meanwhile): only this
            # context's screen reads what changed.
            if isinstance(screen, ObjectActions) and shell_of(screen) is shell:
                screen.reload()
            if created and isinstance(result, str):
                for below in app.screen_stack:
                    if isinstance(below, ObjectActions):
                        below.select_when_listed(created, result)

        return done

    def guarded_object(self, action: str) -> str | None:
        """What a production context asks to type before `action` changes something (ui/production_guard.py):
        the object in focus; None (the context's name is typed) for a change of no one object: a create."""
        if action.startswith("create"):
            return None
        found = self.focused_object()
        return found[1] if found is not None else None

    def confirms_itself(self, action: str) -> bool:
        """Whether `action` asks for its production confirmation in its own dialog (ui/production_guard.py
        hands it over): the update of the marked deployments, whose list is seen before the name is
        typed, in that list's dialog (ui/bulk_update.py)."""
        return action == "update" and bool(self.marked_deployments())

    def shows(self, found: tuple[str, str]) -> bool:
        """Whether this screen is the detail of `found` (a detail screen says)."""
        return False

    def reload(self) -> None:
        """Reload what this screen shows from the server (detail screens do)."""

    def select_when_listed(self, kind: str, ident: str) -> None:
        """Put the cursor on a new object once the lists show it (the main screen does)."""

    # -- create, delete ----------------------------------------------------------------------------
    @mutating("Create…")
    @_after_pending_focus
    def action_create(self) -> None:
        """`n`: create what the focused pane lists; on a service/infra detail, a deployment of/on it."""
        pane = self.focused_pane()
        if pane == "infra":
            self.action_create_infra()
        elif pane == "service":
            self.action_create_service()
        elif self.create_defaults():
            self.app.push_screen(CreateDeploymentScreen(self.shell.client, **self.create_defaults()),
                                 self._after_change(created="deployment"))
        else:
            self.action_create_deployment()

    @mutating("Create infra")
    def action_create_infra(self) -> None:
        self.app.push_screen(CreateInfraScreen(self.shell.client), self._after_change(created="infra"))

    @mutating("Create service")
    def action_create_service(self) -> None:
        self.app.push_screen(CreateServiceScreen(self.shell.client), self._after_change(created="service"))

    @mutating("Create deployment")
    def action_create_deployment(self) -> None:
        found = self.focused_object()
        kwargs: dict[str, str] = {}
        if found and found[0] in ("service", "infra"):
            kwargs[f"{found[0]}_id"] = found[1]
        elif found and found[0] == "deployment":
            # Another deployment like the highlighted one: same service and infra, the id gets a -N.
            basic = readers.basic(self.shell.store.deployments.get(found[1]), "deploymentBasicInfo")
            kwargs = {k: str(basic[src]) for k, src in (("service_id", "publishedServiceId"), ("infra_id", "infraId"))
                      if basic.get(src)}
        # What the person picked in the services and infras panes beats the highlighted deployment's.
        kwargs.update(self.pane_highlights())
        self.app.push_screen(CreateDeploymentScreen(self.shell.client, **kwargs),
                             self._after_change(created="deployment"))

    @mutating("Delete…")
    @_after_pending_focus
    def action_delete(self) -> None:
        found = self.focused_object()
        if found is None:
            self.notify("Highlight an infra, a service or a deployment to delete", severity="warning")
            return
        self.app.push_screen(DeleteScreen(self.shell.client, *found), self._after_change(deleted=found))

    # -- versions ----------------------------------------------------------------------------------
    @mutating("Import version")
    @_after_pending_focus
    def action_import_version(self) -> None:
        service = self._service_in_focus()
        if not service:
            self.notify("Highlight a service to import a version into", severity="warning")
            return
        self.app.push_screen(ImportVersionScreen(self.shell.client, service), self._after_change())

    def _pick_version(self, then: Callable[[str, str], None]) -> None:
        service = self._service_in_focus()
        if not service:
            self.notify("Highlight a service (or one of its deployments) first", severity="warning")
            return
        light = self.shell.store.services.get(service) or {}
        versions = [str(p.get("id")) for p in light.get("packages") or [] if isinstance(p, dict) and p.get("id")]
        if not versions:
            self.notify(f"{service} has no version", severity="warning")
            return

        def picked(version: str | None) -> None:
            if version:
                then(service, version)

        self.app.push_screen(VersionPickScreen(service, versions), picked)

    @_after_pending_focus
    def action_download_version(self) -> None:
        client, app = self.shell.client, self.app
        self._pick_version(lambda service, version: app.push_screen(DownloadVersionScreen(client, service, version)))

    @mutating("Delete version")
    @_after_pending_focus
    def action_delete_version(self) -> None:
        client, app, done = self.shell.client, self.app, self._after_change()
        self._pick_version(lambda service, version: app.push_screen(delete_version_screen(client, service, version),
                                                                     done))

    # -- a deployment's screens --------------------------------------------------------------------
    @_after_pending_focus
    def action_test_queries(self) -> None:
        from deployer_tui.ui.screens.query_runner import TestQueriesScreen  # on first use (see the top)

        deployment = self._deployment_or_warn()
        if deployment:
            self.app.push_screen(TestQueriesScreen(self.shell.client, deployment))

    @_after_pending_focus
    def action_openapi(self) -> None:
        from deployer_tui.ui.screens.openapi import OpenAPIScreen  # on first use (see the top)

        deployment = self._deployment_or_warn()
        if deployment:
            self.app.push_screen(OpenAPIScreen(self.shell.client, deployment))

    @_after_pending_focus
    def action_governance(self) -> None:
        from deployer_tui.ui.screens.openapi import GovernanceScreen  # on first use (see the top)

        deployment = self._deployment_or_warn()
        if deployment:
            self.app.push_screen(GovernanceScreen(self.shell.client, deployment))

    @_after_pending_focus
    def action_copy(self) -> None:
        from deployer_tui.ui.screens.copy_menu import (  # first use
            CopyMenuScreen,
            infra_entries,
            service_entries,
        )

        found = self.focused_object()
        if found is None:
            self.notify("Highlight something to copy", severity="warning")
            return
        kind, ident = found
        if kind == "deployment":
            self.app.push_screen(CopyMenuScreen.for_deployment(self.shell.client, ident))
            return
        store = self.shell.store
        source = store.infras if kind == "infra" else store.services
        light = source.get(ident) or {f"{kind}BasicInfo": {"id": ident}}
        entries = infra_entries(light) if kind == "infra" else service_entries(light)
        self.app.push_screen(CopyMenuScreen(f"Copy — {kind} {ident}", entries))

    # -- settings ----------------------------------------------------------------------------------
    def action_edit_settings(self) -> None:
        self._open_editor(external=False)

    def action_edit_settings_external(self) -> None:
        self._open_editor(external=True)

    def _open_editor(self, external: bool) -> None:
        from deployer_tui.ui.screens.settings_editor import SettingsEditorScreen  # on first use (see the top)
        from deployer_tui.ui.screens.update_screen import UpdateScreen

        found = self.focused_object()
        if found is None or found[0] not in ("infra", "service", "deployment"):
            self.notify("Highlight an infra, a service or a deployment first", severity="warning")
            return
        kind, object_id = cast("Kind", found[0]), found[1]
        updates, app = self.shell.updates, self.app

        def start_update(deployment_id: str) -> None:
            updates.start(deployment_id)
            app.push_screen(UpdateScreen(deployment_id, updates))

        self.app.push_screen(SettingsEditorScreen(self.shell.client, kind, object_id, start_update=start_update,
                                                  open_external=external))

    @mutating("Enable/disable deployment")
    def action_toggle_enabled(self) -> None:
        found = self.focused_object()
        if found is None or found[0] != "deployment":
            return
        self.run_worker(self._toggle_enabled(found[1]), group="mutation", exit_on_error=False)

    async def _toggle_enabled(self, deployment: str) -> None:
        shell, app = self.shell, self.app
        currently = readers.is_enabled(shell.store.deployments.get(deployment) or {})
        verb = "Disable" if currently else "Enable"
        question = (f"{verb} deployment {deployment}?\n\nThis saves its settings with enabled = "
                    f"{str(not currently).lower()}. The API nodes change at the next update.")
        if not await app.push_screen_wait(ConfirmScreen(question)):
            return
        try:
            # Read-modify-write of the whole document: unknown keys go back as they came.
            settings = await shell.client.get_deployment_settings(deployment)
            settings["enabled"] = not currently
            await shell.client.save_deployment_settings(deployment, settings)
        except DeployerError as exc:
            shell.report_error(exc, f"saving deployment {deployment}")
            return
        self.notify(f"Deployment {deployment} {'disabled' if currently else 'enabled'}", title="Saved")
        shell.store.forget_heavy(deployment)
        shell.store.refresh()
        screen = app.screen
        if isinstance(screen, ObjectActions) and shell_of(screen) is shell:  # not another context's screen
            screen.reload()

    # -- updates -----------------------------------------------------------------------------------
    def marked_deployments(self) -> list[str]:
        """Marked deployments that still exist, in the store's order (only the main screen updates them)."""
        return []

    def _deployment_in_focus(self) -> str | None:
        found = self.focused_object()
        return found[1] if found is not None and found[0] == "deployment" else None

    @mutating("Update deployment(s)")
    def action_update(self) -> None:
        """`u`: the marked deployments (main screen), else the one in focus; a running one opens its progress."""
        from deployer_tui.ui.screens.update_screen import UpdateConfirmScreen, UpdateScreen  # on first use

        marked = self.marked_deployments()
        if marked:
            self._start_bulk(marked)
            return
        deployment = self._deployment_in_focus()
        if deployment is None:
            self.notify("Highlight a deployment (or mark some with space) to update it", severity="warning")
            return
        tracker, app = self.shell.updates, self.app
        if tracker.is_running(deployment):
            app.push_screen(UpdateScreen(deployment, tracker))
            return
        node_urls = self._node_urls(deployment)

        def answered(yes: bool | None) -> None:
            if yes:
                tracker.start(deployment, node_urls)
                if not isinstance(app.screen, UpdateScreen) or app.screen.deployment_id != deployment:
                    app.push_screen(UpdateScreen(deployment, tracker))

        app.push_screen(UpdateConfirmScreen(deployment, self.shell.client, self.shell.presentation), answered)

    def _node_urls(self, deployment_id: str) -> list[str]:
        """The API node URLs of the deployment's infra, from the light status (STATIC infras)."""
        urls = readers.basic(self.shell.store.deployments.get(deployment_id), "infraBasicInfo").get("apiNodeUrls")
        return [str(u) for u in urls] if isinstance(urls, list) else []

    def _bulk_line(self, deployment_id: str) -> str:
        """What one deployment of a bulk update will deploy, from the store: saved mapping (or disable), health."""
        store = self.shell.store
        light = store.deployments.get(deployment_id)
        if not isinstance(light, dict):
            return "?"
        basic = readers.deployment_basic(light)
        what = "disable" if basic.get("enabled") is False else (readers.mapping_summary(basic.get("generationsMapping")) or "?")
        return f"{what} (now {store.health(deployment_id)})"

    def _start_bulk(self, deployments: list[str]) -> None:
        """The marked deployments of this context, through the one bulk flow (ui/bulk_update.py: the list,
        and the context's name typed when it is production)."""
        from deployer_tui.ui.bulk_update import BulkItem, start_bulk
        from deployer_tui.ui.screens.update_screen import UpdatesScreen  # on first use (see the top)

        shell, app = self.shell, self.app
        context = shell.updates.context_name or shell.fleet.current
        items = [BulkItem(context, d, self._bulk_line(d), shell.updates, self._node_urls(d)) for d in deployments]
        # DeployerApp.run_action refused it in read-only but did not ask for the typed confirmation
        # (`confirms_itself`): the list's dialog asks for the context's name, under the list.
        start_bulk(self, items, lambda started: app.push_screen(UpdatesScreen(shell.updates)))

    def action_update_history(self) -> None:
        from deployer_tui.ui.screens.update_screen import UpdateHistoryScreen  # on first use (see the top)

        deployment = self._deployment_in_focus()
        if deployment is None:
            self.notify("Highlight a deployment to see its update history", severity="warning")
            return
        self.app.push_screen(UpdateHistoryScreen(deployment, self.shell.client, tracker=self.shell.updates))

    def action_show_updates(self) -> None:
        from deployer_tui.ui.screens.update_screen import UpdatesScreen  # on first use (see the top)

        self.app.push_screen(UpdatesScreen(self.shell.updates))

    def action_mark(self) -> None:
        deployment = self._deployment_in_focus()
        if deployment is not None:
            self.shell.updates.toggle_mark(deployment)

    def action_clear_marks(self) -> None:
        tracker = self.shell.updates
        tracker.marked.clear()
        tracker.marks_changed()
