"""Helper forms over the raw settings JSON.

Each form starts from the editor's current draft, builds a new document with one of the pure
functions of `core.settings_edit`, and dismisses with it (or None when cancelled). The editor then
puts that document in its text area: a helper never saves, so its result goes through the same
review diff and save as a hand edit. Refusals (probabilities not summing to 1, unknown version, a
node that is already listed…) are shown in the form, which stays open with what was typed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Select, Static, Switch
from textual.widgets.option_list import Option

from deployer_tui.core import settings_edit as se
from deployer_tui.ui.shell import shell_of

# (helper id, label, kinds it applies to)
HELPERS: list[tuple[str, str, tuple[str, ...]]] = [
    ("enabled", "Enable / disable the deployment", ("deployment",)),
    ("single_version", "Serve a single version", ("deployment",)),
    ("traffic_split", "Split traffic between versions", ("deployment",)),
    ("auth", "Who may query it: auth mode and API keys", ("deployment",)),
    ("add_api_node", "Add an API node", ("infra",)),
    ("remove_api_node", "Remove an API node", ("infra",)),
    ("permissions", "Set a group's permissions", ("infra", "service")),
]


def helpers_for(kind: str) -> list[tuple[str, str]]:
    return [(helper_id, label) for helper_id, label, kinds in HELPERS if kind in kinds]


class HelperMenu(ModalScreen[str | None]):
    """Pick a helper for this kind of settings."""

    DEFAULT_CSS = """
    HelperMenu { align: center middle; }
    HelperMenu > Vertical { width: 50; height: auto; border: thick $primary; background: $surface; padding: 0 1; }
    HelperMenu OptionList { height: auto; max-height: 12; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="settings_helpers.cancel")]

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Helpers for {self.kind} settings")
            yield OptionList(*[Option(label, id=helper_id) for helper_id, label in helpers_for(self.kind)])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelperForm(ModalScreen[dict | None]):
    """Base: a title, the fields, an error line, Apply / Cancel. Subclasses implement `fields`
    and `build`, which raises `SettingsEditError` to refuse."""

    DEFAULT_CSS = """
    HelperForm { align: center middle; }
    HelperForm > Vertical {
        width: 76; max-width: 95%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    HelperForm .form-title { text-style: bold; padding-bottom: 1; }
    HelperForm .form-body { height: auto; max-height: 24; }
    HelperForm .row { height: auto; }
    HelperForm .row > Label { width: 22; padding-top: 1; }
    HelperForm .row > Input, HelperForm .row > Select { width: 1fr; }
    HelperForm .hint { color: $text-muted; }
    HelperForm #form-error { color: $error; height: auto; }
    HelperForm .buttons { height: auto; align-horizontal: right; }
    HelperForm .buttons Button { margin-left: 1; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="settings_form.cancel"),
        Binding("ctrl+s", "apply", "Apply", id="settings_form.apply"),
    ]
    TITLE_TEXT = ""

    def __init__(self, document: dict) -> None:
        super().__init__()
        self.document = document

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.TITLE_TEXT, classes="form-title")
            with VerticalScroll(classes="form-body"):
                yield from self.fields()
            yield Static("", id="form-error")
            with Horizontal(classes="buttons"):
                yield from self.extra_buttons()
                yield Button("Cancel (esc)", id="cancel")
                yield Button("Apply to draft (ctrl+s)", id="apply", variant="primary")

    def on_mount(self) -> None:
        # Typing starts in the first field: a key typed into nowhere (or the wrong box) is a leak.
        for widget in self.query_one(".form-body").query("*"):
            if widget.focusable:
                widget.focus()
                break

    def fields(self) -> ComposeResult:
        raise NotImplementedError

    def extra_buttons(self) -> ComposeResult:
        return iter(())

    def build(self) -> dict:
        raise NotImplementedError

    def refuse(self, message: str) -> None:
        self.query_one("#form-error", Static).update(f"✗ {message}")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "cancel":
            self.action_cancel()
        elif event.button.id == "apply":
            self.action_apply()
        else:
            self.on_extra_button(event.button.id or "")

    def on_extra_button(self, button_id: str) -> None:
        pass

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def action_apply(self) -> None:
        try:
            self.dismiss(self.build())
        except se.SettingsEditError as err:
            self.refuse(str(err))

    def action_cancel(self) -> None:
        self.dismiss(None)


def _row(label: str, widget: Any) -> Horizontal:
    return Horizontal(Label(label), widget, classes="row")


class EnabledForm(HelperForm):
    TITLE_TEXT = "Enable or disable the deployment"

    def fields(self) -> ComposeResult:
        yield _row("Enabled", Switch(value=bool(self.document.get("enabled", True)), id="enabled"))
        yield Static("A disabled deployment is removed from the API nodes at the next update.", classes="hint")

    def build(self) -> dict:
        return se.set_enabled(self.document, self.query_one("#enabled", Switch).value)


class SingleVersionForm(HelperForm):
    TITLE_TEXT = "Serve a single version"

    def __init__(self, document: dict, versions: Sequence[str]) -> None:
        super().__init__(document)
        self.versions = list(versions)

    def fields(self) -> ComposeResult:
        current = se.mapping_versions(self.document)
        value = current[0][0] if len(current) == 1 and current[0][0] in self.versions else Select.NULL
        yield _row("Version", Select([(v, v) for v in self.versions], value=value, id="version",
                                     prompt="pick a version", allow_blank=True))
        if not self.versions:
            yield Static("The service has no versions: import one first.", classes="hint")

    def build(self) -> dict:
        value = self.query_one("#version", Select).value
        version = "" if value is Select.NULL else str(value)
        return se.set_single_version(self.document, version, self.versions)


def parse_probability(text: str) -> float:
    """'0.25', '.25' or '25%' -> 0.25; '' -> 0."""
    text = text.strip()
    if not text:
        return 0.0
    try:
        if text.endswith("%"):
            return float(text[:-1]) / 100
        return float(text)
    except ValueError:
        raise se.SettingsEditError(f"{text!r} is not a probability (try 0.25 or 25%)") from None


class TrafficSplitForm(HelperForm):
    TITLE_TEXT = "Split traffic between versions"

    def __init__(self, document: dict, versions: Sequence[str]) -> None:
        super().__init__(document)
        self.versions = list(versions)

    def fields(self) -> ComposeResult:
        current = dict(se.mapping_versions(self.document))
        mapping = self.document.get("generationsMapping") or {}
        strategy = mapping.get("strategy") if mapping.get("strategy") in se.STRATEGIES else "RANDOM"
        yield Static("Probability per version (0.25 or 25%); blank means not served. They must sum to 1.",
                     classes="hint")
        for index, version in enumerate(self.versions):
            proba = current.get(version)
            yield _row(version, Input(f"{proba:g}" if proba else "", placeholder="0", id=f"proba-{index}"))
        yield _row("Strategy", Select([(s, s) for s in se.STRATEGIES], value=strategy, allow_blank=False,
                                      id="strategy"))
        yield Static("", id="split-sum", classes="hint")

    def on_mount(self) -> None:
        self._show_sum()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show_sum()

    def _entries(self) -> list[tuple[str, float]]:
        entries = []
        for index, version in enumerate(self.versions):
            proba = parse_probability(self.query_one(f"#proba-{index}", Input).value)
            if proba:
                entries.append((version, proba))
        return entries

    def _show_sum(self) -> None:
        try:
            total = sum(p for _, p in self._entries())
            self.query_one("#split-sum", Static).update(f"Sum: {total:g}")
        except se.SettingsEditError as err:
            self.query_one("#split-sum", Static).update(str(err))

    def build(self) -> dict:
        strategy = str(self.query_one("#strategy", Select).value)
        return se.set_traffic_split(self.document, self._entries(), strategy, self.versions)


def _node_lines(document: dict) -> str:
    nodes = document.get("apiNodes") or []
    if not nodes:
        return "No API nodes yet."
    return "\n".join(
        f"• {n.get('url')}  key {se.mask_secret(n.get('adminAPIKey'))}" for n in nodes if isinstance(n, dict)
    )


class AddApiNodeForm(HelperForm):
    TITLE_TEXT = "Add an API node (STATIC infrastructure)"

    def fields(self) -> ComposeResult:
        yield Static(_node_lines(self.document), classes="hint")
        yield _row("URL", Input(placeholder="http://host:12000", id="url"))
        yield _row("Admin API key", Input(password=True, placeholder="the node's admin key", id="key"))
        yield _row("Graphite prefix", Input(placeholder="optional", id="prefix"))

    def build(self) -> dict:
        return se.add_api_node(
            self.document,
            self.query_one("#url", Input).value,
            self.query_one("#key", Input).value,
            self.query_one("#prefix", Input).value.strip() or None,
        )


class RemoveApiNodeForm(HelperForm):
    TITLE_TEXT = "Remove an API node (STATIC infrastructure)"

    def fields(self) -> ComposeResult:
        nodes = [n for n in self.document.get("apiNodes") or [] if isinstance(n, dict) and n.get("url")]
        options = [(f"{n['url']}  (key {se.mask_secret(n.get('adminAPIKey'))})", n["url"]) for n in nodes]
        yield _row("Node", Select(options, prompt="pick a node", id="node"))

    def build(self) -> dict:
        value = self.query_one("#node", Select).value
        if value is Select.NULL:
            raise se.SettingsEditError("Pick the node to remove")
        return se.remove_api_node(self.document, str(value))


class PermissionsForm(HelperForm):
    TITLE_TEXT = "Set a group's permissions"

    def __init__(self, document: dict, kind: str) -> None:
        super().__init__(document)
        self.kind = kind
        self.flags = se.permission_flags(kind)

    def _entries(self) -> list[dict]:
        return [p for p in self.document.get("permissions") or [] if isinstance(p, dict)]

    def fields(self) -> ComposeResult:
        lines = [
            f"• {p.get('group')}: " + (", ".join(f for f in self.flags if p.get(f)) or "none")
            for p in self._entries()
        ]
        yield Static("\n".join(lines) or "No group has permissions yet.", classes="hint")
        first = self._entries()[0] if self._entries() else {}
        yield _row("Group", Input(str(first.get("group") or ""), placeholder="group name", id="group"))
        with Horizontal(classes="row"):
            for flag in self.flags:
                yield Checkbox(flag, value=bool(first.get(flag)), id=f"flag-{flag}")

    def extra_buttons(self) -> ComposeResult:
        yield Button("Remove group", id="remove", variant="error")

    def on_input_changed(self, event: Input.Changed) -> None:
        # Typing an existing group's name shows what it has now.
        if event.input.id != "group":
            return
        entry = next((p for p in self._entries() if p.get("group") == event.value.strip()), None)
        if entry is not None:
            for flag in self.flags:
                self.query_one(f"#flag-{flag}", Checkbox).value = bool(entry.get(flag))

    def build(self) -> dict:
        flags = {flag: self.query_one(f"#flag-{flag}", Checkbox).value for flag in self.flags}
        return se.set_permission(self.document, self.kind, self.query_one("#group", Input).value, flags)

    def on_extra_button(self, button_id: str) -> None:
        if button_id == "remove":
            try:
                self.dismiss(se.remove_permission(self.document, self.query_one("#group", Input).value.strip()))
            except se.SettingsEditError as err:
                self.refuse(str(err))


AUTH_MODE_LABELS = {
    "INHERIT_DEV": "the version's config.json",
    "PUBLIC": "public, no key",
    "API_KEYS": "the deployment's keys",
}


class AuthForm(HelperForm):
    """The deployment's `auth`: its mode, a new generated key, a key removed. Keys are shown masked;
    a new one is generated here (never typed), and `f3` in the editor or the copy menu's
    "curl + API key" shows it once saved."""

    TITLE_TEXT = "Who may query the deployment"

    def _keys(self) -> list[dict]:
        return se.query_keys(self.document)

    def fields(self) -> ComposeResult:
        auth = self.document.get("auth") if isinstance(self.document.get("auth"), dict) else {}
        mode = auth.get("authMode") or "INHERIT_DEV"
        keys = self._keys()
        lines = [f"• {k.get('label') or '(no label)'}  {se.mask_secret(k.get('key'))}" for k in keys]
        yield Static("Keys of the deployment:\n" + "\n".join(lines) if lines else "The deployment has no key yet.",
                     classes="hint")
        options = [(f"{label} ({m})", m) for m, label in AUTH_MODE_LABELS.items()]
        if mode not in AUTH_MODE_LABELS:
            options.append((f"{mode} (kept as it is)", mode))
        yield _row("Mode", Select(options, value=mode, allow_blank=False, id="mode"))
        yield _row("New key", Checkbox("generate a new key", value=False, id="add-key"))
        yield _row("Its label", Input(placeholder="who will use it (optional)", id="label"))
        removable = [(f"{k.get('label') or '(no label)'}  {se.mask_secret(k.get('key'))}", str(k.get("key")))
                     for k in keys if k.get("key")]
        yield _row("Remove key", Select(removable, prompt="none", id="remove-key"))
        yield Static("The nodes apply it at the deployment's next update.", classes="hint")

    def on_input_changed(self, event: Input.Changed) -> None:
        # A label typed means a key is wanted.
        if event.input.id == "label" and event.value.strip():
            self.query_one("#add-key", Checkbox).value = True

    def build(self) -> dict:
        doc = self.document
        mode = str(self.query_one("#mode", Select).value)
        if self.query_one("#add-key", Checkbox).value:
            doc = se.add_query_key(doc, self.query_one("#label", Input).value, secrets.token_urlsafe(24),
                                   int(time.time() * 1000), shell_of(self).user)
        removed = self.query_one("#remove-key", Select).value
        if mode in se.AUTH_MODES and mode != "API_KEYS":
            doc = se.set_auth_mode(doc, mode)  # first, so that the last key of API_KEYS may then go
        if removed is not Select.NULL:
            doc = se.remove_query_key(doc, str(removed))
        if mode == "API_KEYS":
            doc = se.set_auth_mode(doc, mode)
        return doc
