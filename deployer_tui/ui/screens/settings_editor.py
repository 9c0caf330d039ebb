"""Edit an infra's, a service's or a deployment's settings as JSON, without ever losing the draft.

The flow of a save, in order (each step can stop it, and none touches the draft text):
1. the app's read-only check (ctrl+s is a `mutating` action);
2. the draft must parse (else: the position, and the cursor goes there);
3. re-read the server's copy; if it moved since the draft was loaded, the three-way conflict view
   decides: keep editing, overwrite theirs, or replay my changes on top of theirs;
4. the saved-vs-draft diff, confirmed;
5. PUT the whole document; governance warnings ask, then resend with ignoreWarnings; any other
   refusal is shown next to the draft;
6. for a deployment, offer to start its update (it is OUT_OF_SYNC until then).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from deployer_tui.core import settings_edit as se
from deployer_tui.core.errors import DeployerError
from deployer_tui.ui import external_editor
from deployer_tui.ui.actions import mutating
from deployer_tui.ui.screens.draft import DraftScreen
from deployer_tui.ui.screens.settings_diff import AskScreen, ConflictScreen, SettingsDiffScreen
from deployer_tui.ui.screens.settings_forms import (
    AddApiNodeForm,
    AuthForm,
    EnabledForm,
    HelperMenu,
    PermissionsForm,
    RemoveApiNodeForm,
    SingleVersionForm,
    TrafficSplitForm,
    helpers_for,
)
from deployer_tui.ui.widgets.json_editor import JsonEditor
from deployer_tui.ui.widgets.key_footer import KeyFooter

Kind = Literal["infra", "service", "deployment"]
KIND_LABELS = {"infra": "infrastructure", "service": "service", "deployment": "deployment"}

# The app's one read-only check: returns True when `what` may go ahead, else tells the user why not.
MutationCheck = Callable[[str], bool]
# Opens the update flow for a deployment (the updates screen) when the app has one.
UpdateStarter = Callable[[str], Awaitable[Any] | Any]


async def load_settings(client: Any, kind: Kind, object_id: str) -> dict:
    return await getattr(client, f"get_{kind}_settings")(object_id)


async def save_settings(client: Any, kind: Kind, object_id: str, settings: dict, ignore_warnings: bool) -> None:
    if kind == "deployment":
        await client.save_deployment_settings(object_id, settings, ignore_warnings=ignore_warnings)
    else:
        await getattr(client, f"save_{kind}_settings")(object_id, settings)


class SettingsEditorScreen(DraftScreen):
    """Inline JSON editor for one settings document. `open_external=True` starts in $EDITOR (`E`)."""

    DEFAULT_CSS = """
    SettingsEditorScreen #settings-title { height: 1; padding: 0 1; background: $primary-background; }
    SettingsEditorScreen #settings-error {
        display: none; height: auto; max-height: 8; border: round $error; padding: 0 1;
    }
    SettingsEditorScreen.-save-failed #settings-error { display: block; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="settings.save", priority=True, tooltip="Review the diff and save the draft"),
        Binding("escape", "leave", "Back", id="settings.leave", priority=True),
        Binding("f2", "helpers", "Helpers", id="settings.helpers",
                tooltip="Forms for common edits: enable, version, traffic split, API nodes, permissions"),
        Binding("f4", "external_editor", "$EDITOR", id="settings.external_editor"),
        Binding("f3", "toggle_secrets", "Show/hide keys", id="settings.toggle_secrets"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="settings.reload"),
    ]

    def __init__(
        self,
        client: Any,
        kind: Kind,
        object_id: str,
        *,
        check_mutation: MutationCheck | None = None,
        start_update: UpdateStarter | None = None,
        open_external: bool = False,
    ) -> None:
        super().__init__()
        self.client = client
        self.kind: Kind = kind
        self.object_id = object_id
        self._check_mutation = check_mutation
        self._start_update = start_update
        self._open_external = open_external
        self.loaded: dict | None = None  # the server's copy the draft is based on
        self.last_error: DeployerError | None = None
        # Credentials are shown as placeholders (never on screen, never in $EDITOR's temp file)
        # unless asked; `secrets` maps each placeholder back to its value.
        self.secrets: dict[str, str] = {}
        self.show_secrets = False
        self.saving = False  # one save at a time; leaving waits for it

    # -- layout ---------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return f"{KIND_LABELS[self.kind]} {self.object_id}"

    def compose(self) -> ComposeResult:
        yield Static(f"Settings of {self.label} · loading…", id="settings-title")
        with VerticalScroll(id="settings-error"):
            yield Static("", id="settings-error-text")
        yield JsonEditor("", id="settings-json")
        yield KeyFooter()

    @property
    def editor(self) -> JsonEditor:
        return self.query_one(JsonEditor)

    def on_mount(self) -> None:
        self.editor.text_area.read_only = True
        self._load(first=True)

    # -- state ----------------------------------------------------------------------------------

    @property
    def draft(self) -> Any | None:
        """The draft document with its credentials put back; None while the JSON is invalid."""
        value = self.editor.value
        return None if value is None else se.reveal_secrets(value, self.secrets)

    def _display_text(self, document: Any) -> str:
        if self.show_secrets:
            return se.dump(document)
        shown, self.secrets = se.conceal_secrets(document, self.secrets)
        return se.dump(shown)

    @property
    def dirty(self) -> bool:
        """Unsaved changes: the draft differs from what was loaded (an invalid draft always does)."""
        if self.loaded is None:
            return False
        return self.editor.error is not None or self.draft != self.loaded

    def action_toggle_secrets(self) -> None:
        draft = self.draft
        if draft is None:
            self.notify(f"Fix the JSON first: {self.editor.error}", severity="error")
            return
        self.show_secrets = not self.show_secrets
        self.editor.replace_all(self._display_text(draft))
        self.notify("Keys are shown" if self.show_secrets else "Keys are hidden")

    def _refresh_title(self) -> None:
        if self.loaded is None:
            return
        state = "unsaved changes" if self.dirty else "no changes"
        self.query_one("#settings-title", Static).update(
            f"Settings of {self.label} · {state}"
        )

    def on_json_editor_validated(self, event: JsonEditor.Validated) -> None:
        self._refresh_title()

    def _show_error(self, headline: str, err: DeployerError) -> None:
        self.last_error = err
        self.query_one("#settings-error-text", Static).update(Text(f"{headline}\n{err.describe()}"))
        self.add_class("-save-failed")

    def _clear_error(self) -> None:
        self.last_error = None
        self.remove_class("-save-failed")

    def _allowed(self, what: str) -> bool:
        # In the app, ctrl+s is refused before this (see `mutating`); a host without that door (a test
        # harness) passes its own check.
        check = self._check_mutation
        return True if check is None else bool(check(what))

    # -- loading --------------------------------------------------------------------------------

    @work(exclusive=True, group="settings-load")
    async def _load(self, first: bool = False) -> None:
        try:
            settings = await load_settings(self.client, self.kind, self.object_id)
        except DeployerError as err:
            self._show_error(f"Could not load the settings of {self.label}", err)
            self.query_one("#settings-title", Static).update(f"Settings of {self.label} · not loaded (ctrl+r retry)")
            return
        self._clear_error()
        self.loaded = settings
        self.editor.text_area.read_only = False
        self.editor.load(self._display_text(settings))
        self.editor.text_area.focus()
        self._refresh_title()
        if first and self._open_external:
            self.action_external_editor()

    def action_reload(self) -> None:
        if self.loaded is None:
            self._load()
            return
        self._reload_flow()

    @work(group="settings-ask")
    async def _reload_flow(self) -> None:
        if self.dirty:
            answer = await self.app.push_screen_wait(
                AskScreen(
                    "Reload from the server and throw away your unsaved changes?",
                    [("keep", "Keep my draft", "n"), ("reload", "Reload", "y")],
                )
            )
            if answer != "reload":
                return
        self._load()

    # -- leaving --------------------------------------------------------------------------------

    def action_leave(self) -> None:
        self._leave_flow()

    @work(group="settings-ask")
    async def _leave_flow(self) -> None:
        if self.saving:
            self.notify("Wait for the save to finish", severity="warning")
            return
        if self.dirty:
            answer = await self.app.push_screen_wait(
                AskScreen(
                    f"The settings of {self.label} have unsaved changes.",
                    [("stay", "Keep editing", "n"), ("discard", "Discard changes and leave", "d")],
                )
            )
            if answer != "discard":
                return
        self.dismiss()

    # -- $EDITOR --------------------------------------------------------------------------------

    def action_external_editor(self) -> None:
        if self.loaded is None:
            self.notify("The settings are not loaded yet", severity="warning")
            return
        result = external_editor.edit_text(self.app, self.editor.text, label=f"{self.kind}-{self.object_id}")
        if result.text is None:
            self.notify(result.message, severity="error", timeout=8)
            return
        if result.text != self.editor.text:
            self.editor.replace_all(result.text)
            if self.editor.error is not None:
                self.editor.action_jump_to_error()
        self.notify(result.message if self.editor.error is None else f"{result.message}: {self.editor.error}",
                    severity="information" if self.editor.error is None else "warning")

    # -- helpers --------------------------------------------------------------------------------

    def action_helpers(self) -> None:
        if self.loaded is None:
            self.notify("The settings are not loaded yet", severity="warning")
            return
        if not helpers_for(self.kind):
            self.notify(f"No helpers for {KIND_LABELS[self.kind]} settings", severity="warning")
            return
        self._helpers_flow()

    @work(group="settings-ask")
    async def _helpers_flow(self, helper: str | None = None) -> None:
        document = self.draft
        if document is None:
            self.notify(f"Fix the JSON first: {self.editor.error}", severity="error")
            self.editor.action_jump_to_error()
            return
        if helper is None:
            helper = await self.app.push_screen_wait(HelperMenu(self.kind))
            if helper is None:
                return
        form = await self._form(helper, document)
        if form is None:
            return
        result = await self.app.push_screen_wait(form)
        if result is not None and result != document:
            self.editor.replace_all(self._display_text(result))
            self.notify("Draft updated: review it, then ctrl+s to save")

    def open_helper(self, helper: str) -> None:
        """Open one helper form directly (palette entries and tests)."""
        self._helpers_flow(helper)

    async def _form(self, helper: str, document: dict) -> Any:
        if helper == "enabled":
            return EnabledForm(document)
        if helper == "auth":
            return AuthForm(document)
        if helper in ("single_version", "traffic_split"):
            versions = await self._service_versions(document)
            if versions is None:
                return None
            return (SingleVersionForm if helper == "single_version" else TrafficSplitForm)(document, versions)
        if helper in ("add_api_node", "remove_api_node"):
            if document.get("type") != "STATIC":
                self.notify(f"API nodes are listed by hand only on STATIC infrastructures "
                            f"(this one is {document.get('type')})", severity="warning")
                return None
            return AddApiNodeForm(document) if helper == "add_api_node" else RemoveApiNodeForm(document)
        if helper == "permissions":
            return PermissionsForm(document, self.kind)
        return None

    async def _service_versions(self, document: dict) -> list[str] | None:
        service_id = document.get("publishedServiceId")
        if not service_id:
            self.notify("The draft has no publishedServiceId", severity="error")
            return None
        try:
            service = await self.client.get_service(service_id)
        except DeployerError as err:
            self.notify(f"Could not list the versions of {service_id}: {err}", severity="error")
            return None
        return [str(p.get("id")) for p in service.get("packages") or [] if isinstance(p, dict) and p.get("id")]

    # -- saving ---------------------------------------------------------------------------------

    def guarded_object(self, action: str) -> str | None:
        """What a production context asks to type before a change here (ui/production_guard.py)."""
        return self.object_id

    @mutating("Save settings")
    def action_save(self) -> None:
        self.save()

    def save(self) -> None:
        """Start the save flow (read-only already checked by the caller or `check_mutation`)."""
        if self.saving:
            self.notify("A save is already in progress", severity="warning")
            return
        self.saving = True
        self._save_flow()

    @work(group="settings-save")
    async def _save_flow(self) -> None:
        try:
            await self._save_steps()
        finally:
            self.saving = False

    async def _save_steps(self) -> None:
        if self.loaded is None:
            self.notify("Nothing to save: the settings are not loaded", severity="warning")
            return
        if not self._allowed(f"save the settings of {self.label}"):
            return
        draft = self.draft
        if draft is None:
            self.notify(f"Not saved: the JSON is invalid ({self.editor.error})", severity="error", timeout=8)
            self.editor.action_jump_to_error()
            return
        stray = se.stray_placeholders(draft)
        if stray:
            self.notify(f"Not saved: a hidden key was edited at {', '.join(stray)}; put the placeholder back "
                        "or type the whole new key", severity="error", timeout=10)
            return
        try:
            server_now = await load_settings(self.client, self.kind, self.object_id)
        except DeployerError as err:
            self._show_error("Not saved: could not re-read the server's copy. Your draft is kept.", err)
            return
        if draft == server_now:
            self.loaded = server_now
            self._clear_error()
            self._refresh_title()
            self.notify("Nothing to save: the server already has this draft")
            return
        if server_now != self.loaded:
            choice = await self.app.push_screen_wait(
                ConflictScreen(self.loaded, server_now, draft, title=f"The settings of {self.label}")
            )
            if choice == "rebase":
                merged = se.rebase(self.loaded, server_now, draft)
                self.loaded = server_now
                self.editor.replace_all(self._display_text(merged))
                self.notify("Your changes are now on top of the server's copy: review, then ctrl+s")
                return
            if choice != "overwrite":
                return
        confirmed = await self.app.push_screen_wait(
            SettingsDiffScreen(server_now, draft, title=f"Settings of {self.label}")
        )
        if not confirmed:
            return
        if not await self._put(draft):
            return
        self._clear_error()
        await self._after_save(draft)
        self.notify(f"Saved the settings of {self.label}")
        if self.kind == "deployment":
            await self._offer_update()

    async def _put(self, draft: dict) -> bool:
        ignore_warnings = False
        while True:
            try:
                await save_settings(self.client, self.kind, self.object_id, draft, ignore_warnings)
                return True
            except DeployerError as err:
                if self.kind == "deployment" and not ignore_warnings and se.is_governance_warning(err):
                    answer = await self.app.push_screen_wait(
                        AskScreen(
                            "The deployer warns about this save (governance). Save anyway?",
                            [("cancel", "Back to editing", "n"), ("ignore", "Save anyway", "y")],
                            detail=err.describe(),
                        )
                    )
                    if answer == "ignore":
                        ignore_warnings = True
                        continue
                    return False
                if err.status is None:  # no answer: the PUT may or may not have landed
                    self._show_error("No answer from the deployer: the save may not have happened. Your draft is "
                                     "kept; ctrl+s again re-reads the server's copy first.", err)
                else:
                    self._show_error("Not saved: the deployer refused. Your draft is kept.", err)
                # Told once, in the box, which goes with the next good save: a toast saying the same
                # outlived the fix and read as if the fixed draft had been refused too.
                return False

    async def _after_save(self, draft: dict) -> None:
        """The server may normalise what it stores: base the next save on its copy, and show it
        unless the user typed meanwhile."""
        try:
            fresh = await load_settings(self.client, self.kind, self.object_id)
        except DeployerError:
            fresh = draft
        self.loaded = fresh
        if self.draft == draft and fresh != draft:
            self.editor.load(self._display_text(fresh))
        self._refresh_title()

    async def _offer_update(self) -> None:
        answer = await self.app.push_screen_wait(
            AskScreen(
                f"Saved. The deployment {self.object_id} is OUT_OF_SYNC until it is updated. Start the update now?",
                [("later", "Later", "n"), ("update", "Start the update", "u")],
            )
        )
        if answer != "update" or not self._allowed(f"update {self.object_id}"):
            return
        if self._start_update is not None:
            result = self._start_update(self.object_id)
            if isinstance(result, Awaitable):
                await result
            return
        try:
            future = await self.client.start_update(self.object_id)
        except DeployerError as err:
            self._show_error(f"Saved, but the update of {self.object_id} did not start.", err)
            return
        self.notify(f"Update of {self.object_id} started (job {future.get('jobId', '?')})")
