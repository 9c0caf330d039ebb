"""Delete an infra, a service, a version or a deployment — after a confirmation that names the object.

Before asking, the screen reads what depends on the object (deployments of a service, of an infra, using a
version) so the user learns *before* pressing Delete that the deployer will refuse, and why; when it does
refuse anyway, the server's own message is shown. A deployment on a Production stage needs its id typed.
An enabled deployment is disabled first (as `dataikuapi`'s `delete(disable_first=True)` does: read the
settings, save them with `enabled: false`, then delete), which is offered ticked.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Button, Checkbox, Input, Label, Static

from deployer_tui.core import readers
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.production import stage_is_production
from deployer_tui.ui.screens.create_forms import ActionModal, error_text
from deployer_tui.ui.shell import context_view

KINDS = ("infra", "service", "version", "deployment")


def mapping_versions(mapping: dict | None) -> set[str]:
    """Every version a generations mapping serves (single or multi-generation)."""
    if not isinstance(mapping, dict):
        return set()
    found = {str(mapping["generation"])} if mapping.get("generation") else set()
    for entry in mapping.get("entries") or []:
        if isinstance(entry, dict) and entry.get("generation"):
            found.add(str(entry["generation"]))
    return found


def node_cleanup_story(light: dict) -> str:
    """What deleting a deployment does on its API nodes, in words true of every deployer the console may
    speak to: no deployer reports through the API whether it cleans up on delete, so the sentence says
    what each does (docs/deployer.md, the delete of a deployment) rather than guess which one answers."""
    if readers.never_deployed(light) is True:
        return "It was never deployed: no API node serves it, so no node needs cleaning up."
    return ("Deleting cleans up first: the deployer removes what it serves from the infra's API nodes "
            "(the local deployer at once; DSS documents this clean-up from release 14 on, an older DSS "
            "leaves the service on the nodes). If a node cannot be cleaned the delete is refused, unless "
            "pre-delete errors are ignored.")


class DeleteScreen(ActionModal[bool]):
    """Confirm and delete one object. Dismisses True once deleted, None when cancelled.

    `y`/`n` answer, as in the app's other confirmations; focus starts on Cancel, and on the typed-id
    field for Production deployments (where `y` is just a letter of the id)."""

    BINDINGS = [
        Binding("y", "confirm", "Delete", id="delete.confirm"),
        Binding("n", "cancel", "Cancel", show=False, id="delete.cancel"),
    ]

    def __init__(self, client: Any, kind: str, object_id: str, *, service_id: str | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"cannot delete a {kind!r}")
        if kind == "version" and not service_id:
            raise ValueError("deleting a version needs its service id")
        super().__init__(client)
        self.kind = kind
        self.object_id = object_id
        self.service_id = service_id
        self.dependents: list[str] = []
        self.enabled = False
        self.stage: str | None = None
        self.must_type = False
        self.loaded = False
        self.disabled_now = False

    def form_title(self) -> str:
        what = f"version {self.object_id} of service {self.service_id}" if self.kind == "version" \
            else f"{self.kind} {self.object_id}"
        return f"Delete {what}?"

    def compose_body(self) -> ComposeResult:
        yield Static("Checking what depends on it…", id="context")
        yield Label(f"Type the deployment id ({self.object_id}) to confirm", classes="field-label",
                    id="type-label")
        yield Input(placeholder="type the id here", id="type-id")
        yield Checkbox("Disable it first (required to delete an enabled deployment)", True, id="disable-first")
        yield Checkbox("Ignore pre-delete errors (delete even if the node clean-up fails)", id="ignore-errors")

    def compose_buttons(self) -> ComposeResult:
        yield Button("Delete (y)", variant="error", id="submit", disabled=True)
        yield Button("Cancel (n)", id="cancel")

    def on_mount(self) -> None:
        for wid in ("#type-label", "#type-id", "#disable-first", "#ignore-errors"):
            self.query_one(wid).display = False
        self.query_one("#cancel", Button).focus()
        self.load_context()

    @work(exclusive=True, group="delete-context")
    async def load_context(self) -> None:
        context = self.query_one("#context", Static)
        try:
            text = await self._read_context()
        except DeployerError as exc:
            # Deleting may still work (or fail with a clearer message); do not block on the pre-check.
            text = f"Could not check what depends on it: {escape(error_text(exc))}"
        context.update(text)
        self.loaded = True
        self._refresh_submit()
        if self.must_type:
            self.query_one("#type-id", Input).focus()

    async def _read_context(self) -> str:
        if self.kind == "deployment":
            light = await self.client.get_deployment(self.object_id)
            infra = readers.basic(light, "infraBasicInfo")
            self.stage = str(infra.get("stage") or "") or None
            self.enabled = readers.is_enabled(light)
            # Not twice: an id typed for this change in a production context (ui/production_guard.py) counts.
            view = context_view(self)
            self.must_type = stage_is_production(self.stage) and not (view is not None and
                                                                view.typed_confirmation(self.object_id))
            self.query_one("#ignore-errors").display = True
            for wid in ("#type-label", "#type-id"):
                self.query_one(wid).display = self.must_type
            self.query_one("#disable-first").display = self.enabled
            basic = readers.deployment_basic(light)
            lines = [f"Deployment of {basic.get('publishedServiceId')} "
                     f"({readers.mapping_summary(basic.get('generationsMapping'))}) on infra {infra.get('id')}"
                     f" — stage {self.stage or '?'}, {'enabled' if self.enabled else 'disabled'}."]
            if self.must_type:
                lines.append("[b red]This is a Production deployment.[/b red]")
            lines.append(node_cleanup_story(light))
            return "\n".join(lines)
        if self.kind == "service":
            status = await self.client.get_service(self.object_id)
            self.dependents = sorted(str(d.get("id")) for d in status.get("deployments") or [] if isinstance(d, dict))
            versions = len(status.get("packages") or [])
            if self.dependents:
                return (f"[red]Still deployed by {', '.join(self.dependents)}[/red]: the deployer refuses to "
                        f"delete a service with deployments. Delete them first.")
            return f"{self.object_id} has {versions} version(s) and no deployment; they all go with it."
        if self.kind == "infra":
            deployments = await self.client.list_deployments()
            self.dependents = sorted(readers.deployment_id(d) for d in deployments
                                     if readers.deployment_basic(d).get("infraId") == self.object_id)
            if self.dependents:
                return (f"[red]Deployments still use it: {', '.join(self.dependents)}[/red]. The deployer "
                        "refuses to delete an infra with deployments. Delete or move them first.")
            return "No deployment uses this infra."
        status = await self.client.get_service(self.service_id)
        self.dependents = sorted(
            str(d.get("id")) for d in status.get("deployments") or []
            if isinstance(d, dict) and self.object_id in mapping_versions(d.get("generationsMapping"))
        )
        if self.dependents:
            return (f"[red]Used by {', '.join(self.dependents)}[/red]: the deployer refuses to delete a "
                    "version a deployment serves. Switch them to another version first.")
        return "No deployment serves this version."

    def action_confirm(self) -> None:
        if self.query_one("#submit", Button).disabled:
            return  # still checking, or the typed id does not match yet
        self.submit()

    @on(Input.Changed, "#type-id")
    def _typed(self) -> None:
        self._refresh_submit()

    def _refresh_submit(self) -> None:
        ok = self.loaded
        if self.must_type:
            ok = ok and self.query_one("#type-id", Input).value.strip() == self.object_id
        self.query_one("#submit", Button).disabled = not ok

    @on(Button.Pressed, "#submit")
    @on(Input.Submitted, "#type-id")
    def submit(self) -> None:
        if self.must_type and self.query_one("#type-id", Input).value.strip() != self.object_id:
            self.show_error(f"Type {self.object_id} exactly to delete this Production deployment")
            return
        if self.kind == "deployment" and self.enabled and not self.query_one("#disable-first", Checkbox).value:
            self.show_error(f"{self.object_id} is enabled: tick 'Disable it first' to delete it")
            return
        self.clear_error()
        self.delete()

    @work(exclusive=True, group="delete")
    async def delete(self) -> None:
        if not await self.submit_call(self._delete(), self._explain):
            return
        self.notify(f"Deleted {self.form_title()[7:-1]}")
        self.dismiss(True)

    async def _delete(self) -> None:
        if self.kind == "deployment":
            if self.enabled and self.query_one("#disable-first", Checkbox).value:
                settings = await self.client.get_deployment_settings(self.object_id)
                settings["enabled"] = False
                await self.client.save_deployment_settings(self.object_id, settings)
                self.enabled = False
                self.disabled_now = True
            ignore = self.query_one("#ignore-errors", Checkbox).value
            await self.client.delete_deployment(self.object_id, ignore_pre_delete_errors=ignore)
        elif self.kind == "service":
            await self.client.delete_service(self.object_id)
        elif self.kind == "infra":
            await self.client.delete_infra(self.object_id)
        else:
            await self.client.delete_version(self.service_id, self.object_id)

    def _explain(self, exc: DeployerError) -> str:
        text = f"The deployer refused: {error_text(exc)}"
        if exc.status == 404:
            text += "\nIt may have been deleted already: refresh the lists."
        elif self.dependents:
            text += f"\nStill in use by: {', '.join(self.dependents)}"
        if self.disabled_now:
            text += f"\n{self.object_id} was disabled before the delete failed: it stays disabled."
        return text
